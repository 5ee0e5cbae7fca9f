//! Who dials whom: seeded graphs over node indices.
//!
//! An edge `(a, b)` means node `a` dials node `b` at start and keeps re-dialling it while
//! they are apart (it is one of `a`'s bootstrap peers). Edges always point from the higher
//! index to the lower one, so nodes can be started in index order and each finds its
//! bootstrap peers already listening.

use std::collections::HashSet;

use rand::Rng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::scenario::{Topology, TopologyKind};

/// Random swaps tried to repair one bad pair of a random regular graph.
const REPAIR_TRIES: usize = 1000;

/// The edges of `topology` over `n` nodes, each `(dialer, listener)` with dialer > listener.
pub fn edges(topology: &Topology, n: usize, rng: &mut ChaCha8Rng) -> Vec<(usize, usize)> {
    let set = match topology.kind {
        TopologyKind::Bootstrap => (1..n).map(|i| (i, 0)).collect(),
        TopologyKind::RandomRegular => {
            random_regular(&(0..n).collect::<Vec<_>>(), topology.degree, rng)
        }
        TopologyKind::Clusters => clusters(n, topology, rng),
    };
    let mut v: Vec<(usize, usize)> = set.into_iter().collect();
    v.sort_unstable();
    v
}

fn ordered(a: usize, b: usize) -> (usize, usize) {
    if a > b { (a, b) } else { (b, a) }
}

/// A random `k`-regular graph on `nodes`: pair shuffled stubs (configuration model), then
/// repair each self-loop or repeated pair `(a, b)` by swapping it with a random good edge
/// `(c, d)` into `(a, c)` and `(b, d)`, which keeps every degree. A pair that finds no swap
/// after many tries is dropped (two nodes end one link short).
fn random_regular(nodes: &[usize], k: usize, rng: &mut ChaCha8Rng) -> HashSet<(usize, usize)> {
    if k + 1 >= nodes.len() {
        // Everyone with everyone (pairing stubs cannot always find it on tiny graphs).
        return nodes
            .iter()
            .flat_map(|a| nodes.iter().filter(move |b| a > b).map(move |b| (*a, *b)))
            .collect();
    }
    let mut stubs: Vec<usize> = nodes
        .iter()
        .flat_map(|n| std::iter::repeat_n(*n, k))
        .collect();
    stubs.shuffle(rng);
    let mut set: HashSet<(usize, usize)> = HashSet::new();
    let mut good: Vec<(usize, usize)> = Vec::new();
    let mut bad = Vec::new();
    for pair in stubs.chunks_exact(2) {
        let (a, b) = (pair[0], pair[1]);
        if a != b && set.insert(ordered(a, b)) {
            good.push(ordered(a, b));
        } else {
            bad.push((a, b));
        }
    }
    for (a, b) in bad {
        for _ in 0..REPAIR_TRIES {
            if good.is_empty() {
                break;
            }
            let i = rng.random_range(0..good.len());
            let (c, d) = good[i];
            let (x, y) = (ordered(a, c), ordered(b, d));
            if a == c || b == d || x == y || set.contains(&x) || set.contains(&y) {
                continue;
            }
            set.remove(&(c, d));
            set.insert(x);
            set.insert(y);
            good[i] = x;
            good.push(y);
            break;
        }
    }
    set
}

fn clusters(n: usize, t: &Topology, rng: &mut ChaCha8Rng) -> HashSet<(usize, usize)> {
    let c = t.clusters;
    let members = |i: usize| -> Vec<usize> { (i * n / c..(i + 1) * n / c).collect() };
    let mut set = HashSet::new();
    for i in 0..c {
        set.extend(random_regular(&members(i), t.degree, rng));
    }
    for i in 0..c {
        let (here, next) = (members(i), members((i + 1) % c));
        for _ in 0..t.bridges {
            let a = here[rng.random_range(0..here.len())];
            let b = next[rng.random_range(0..next.len())];
            set.insert(ordered(a, b));
        }
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn degree_of(edges: &[(usize, usize)], n: usize) -> Vec<usize> {
        let mut d = vec![0; n];
        for (a, b) in edges {
            d[*a] += 1;
            d[*b] += 1;
        }
        d
    }

    #[test]
    fn random_regular_is_simple_and_nearly_regular() {
        let t = Topology::default();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let e = edges(&t, 200, &mut rng);
        assert!(e.iter().all(|(a, b)| a > b));
        let d = degree_of(&e, 200);
        assert!(d.iter().all(|x| *x == 6), "degrees {d:?}");
        let same = edges(&t, 200, &mut ChaCha8Rng::seed_from_u64(3));
        assert_eq!(e, same, "same seed, same graph");
    }

    #[test]
    fn clusters_are_linked_by_bridges_only() {
        let t = Topology {
            kind: TopologyKind::Clusters,
            degree: 4,
            clusters: 2,
            bridges: 2,
        };
        let e = edges(&t, 40, &mut ChaCha8Rng::seed_from_u64(1));
        let across = e.iter().filter(|(a, b)| (*a < 20) != (*b < 20)).count();
        assert!((1..=4).contains(&across), "{across} links across");
    }

    #[test]
    fn tiny_graphs_are_complete() {
        for seed in 0..20 {
            let t = Topology {
                degree: 2,
                ..Topology::default()
            };
            let e = edges(&t, 3, &mut ChaCha8Rng::seed_from_u64(seed));
            assert_eq!(e, vec![(1, 0), (2, 0), (2, 1)]);
        }
    }

    #[test]
    fn bootstrap_is_a_star() {
        let t = Topology {
            kind: TopologyKind::Bootstrap,
            ..Topology::default()
        };
        let e = edges(&t, 10, &mut ChaCha8Rng::seed_from_u64(1));
        assert_eq!(e.len(), 9);
        assert!(e.iter().all(|(_, b)| *b == 0));
    }
}
