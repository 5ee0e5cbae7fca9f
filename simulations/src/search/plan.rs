//! What a search run does, drawn from the seed: which groups exist, who is in them, and
//! which node searches for what.
//!
//! Groups come from [`CATALOGUE`] in order (Chinese and English names alternate), so a
//! run of `g` groups always has the same ones. A query is only ever one that names its
//! group and no other group of the run: every token it asks for (see
//! `qun_protocol::discovery::keywords`) is in the expected group's index and in no other
//! group's. So the right answer is known, and a search succeeds when its hits hold it.

use std::collections::BTreeSet;

use qun_protocol::discovery::keywords;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::Spec;

/// The groups a search run may create: `(name, tags)`, Chinese and English alternating.
pub const CATALOGUE: &[(&str, &[&str])] = &[
    ("深圳摄影俱乐部", &["photography"]),
    ("Berlin Jazz Collective", &["jazz", "saxophone"]),
    ("北京徒步群", &["trekking"]),
    ("Lisbon Surf Crew", &["surfing", "waves"]),
    ("上海咖啡爱好者", &["espresso"]),
    ("Oslo Chess Night", &["chess"]),
    ("成都美食地图", &["sichuan"]),
    ("Montreal Bakers", &["sourdough"]),
    ("杭州读书会", &["bookclub"]),
    ("Kyoto Film Society", &["cinema"]),
    ("广州粤语交流", &["cantonese"]),
    ("Denver Climbing Gym", &["bouldering"]),
    ("武汉考研互助", &["exams"]),
    ("Dublin Poetry Circle", &["poetry"]),
    ("西安历史文化", &["dynasty"]),
    ("Austin Synth Makers", &["modular"]),
    ("南京跑步团", &["marathon"]),
    ("Cairo Astronomy", &["telescopes"]),
    ("重庆火锅联盟", &["hotpot"]),
    ("Sydney Sailing", &["regatta"]),
    ("厦门海边露营", &["camping"]),
    ("Vienna Opera Fans", &["soprano"]),
    ("苏州园林游", &["gardens"]),
    ("Seattle Cyclists", &["cycling"]),
    ("青岛啤酒节", &["brewing"]),
    ("Nairobi Startups", &["founders"]),
    ("天津相声迷", &["comedy"]),
    ("Prague Board Games", &["meeples"]),
    ("昆明花卉市场", &["flowers"]),
    ("Lima Ceviche Lovers", &["seafood"]),
    ("长沙电竞战队", &["esports"]),
    ("Toronto Knitting", &["yarn"]),
    ("大连足球之家", &["football"]),
    ("Zurich Watchmakers", &["horology"]),
    ("哈尔滨冰雪节", &["skiing"]),
    ("Helsinki Sauna Club", &["sauna"]),
    ("郑州程序员", &["rustlang"]),
    ("Madrid Flamenco", &["guitar"]),
    ("沈阳二手交易", &["secondhand"]),
    ("Boston Robotics", &["robots"]),
    ("宁波围棋社", &["weiqi"]),
    ("Reykjavik Birders", &["birdwatching"]),
    ("合肥科幻小说", &["scifi"]),
    ("Mumbai Cricket", &["cricket"]),
    ("福州茶艺", &["oolong"]),
    ("Warsaw Linux Users", &["kernel"]),
    ("济南书法", &["calligraphy"]),
    ("Quito Volcano Hikers", &["volcanoes"]),
];

/// What a query is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QueryKind {
    /// Two neighbouring characters of a Chinese name.
    Bigram,
    /// One of the group's English tags, whole.
    Tag,
    /// The first three or more letters of a Latin word of the name (not the whole word).
    Prefix,
}

impl QueryKind {
    /// Every kind, in report order.
    pub const ALL: [QueryKind; 3] = [Self::Bigram, Self::Tag, Self::Prefix];

    /// How the report names it.
    pub fn label(self) -> &'static str {
        match self {
            Self::Bigram => "two characters of a Chinese name",
            Self::Tag => "an English tag",
            Self::Prefix => "a prefix (3+ letters) of a name's word",
        }
    }
}

/// One group of the run.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// Name.
    pub name: &'static str,
    /// Tags.
    pub tags: Vec<String>,
    /// Member node indices; the first creates the group.
    pub members: Vec<usize>,
}

/// One search.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// The text typed.
    pub text: String,
    /// What it is made of.
    pub kind: QueryKind,
    /// The group it must find (index into [`Plan::groups`]).
    pub group: usize,
    /// The node that searches.
    pub searcher: usize,
}

/// The seeded plan of a search run.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The groups, in catalogue order.
    pub groups: Vec<Group>,
    /// Nodes that may search (in no group, not node 0).
    pub searchers: Vec<usize>,
    /// The searches, in the order they are started.
    pub queries: Vec<Query>,
}

impl Plan {
    /// The plan for `nodes` nodes (`spec` validated against them).
    pub fn new(nodes: usize, spec: &Spec, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        // Stream 0 makes the node keys and the links (runner): keep out of its way.
        rng.set_stream(1);
        let mut pool: Vec<usize> = (1..nodes).collect();
        pool.shuffle(&mut rng);
        let groups: Vec<Group> = CATALOGUE
            .iter()
            .take(spec.groups)
            .enumerate()
            .map(|(g, (name, tags))| Group {
                name,
                tags: tags.iter().map(|t| (*t).to_owned()).collect(),
                members: pool[g * spec.members..(g + 1) * spec.members].to_vec(),
            })
            .collect();
        let mut searchers = pool[spec.groups * spec.members..].to_vec();
        if spec.searchers > 0 {
            searchers.truncate(spec.searchers);
        }
        searchers.sort_unstable();
        let answers = answerable(&groups);
        let queries = (0..spec.searches)
            .filter_map(|_| {
                let group = rng.random_range(0..groups.len());
                let (kind, text) = pick(&answers[group], &mut rng)?;
                Some(Query {
                    text,
                    kind,
                    group,
                    searcher: *searchers.choose(&mut rng)?,
                })
            })
            .collect();
        Self {
            groups,
            searchers,
            queries,
        }
    }
}

/// A kind at random among those the group has, then a query of that kind at random.
fn pick(answers: &[(QueryKind, String)], rng: &mut ChaCha8Rng) -> Option<(QueryKind, String)> {
    let kinds: Vec<QueryKind> = answers
        .iter()
        .map(|(k, _)| *k)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let kind = *kinds.choose(rng)?;
    let of_kind: Vec<&(QueryKind, String)> = answers.iter().filter(|(k, _)| *k == kind).collect();
    of_kind.choose(rng).map(|q| (*q).clone())
}

/// For each group, the queries that name it and no other group of `groups`.
pub fn answerable(groups: &[Group]) -> Vec<Vec<(QueryKind, String)>> {
    let indexed: Vec<Vec<String>> = groups
        .iter()
        .map(|g| keywords::index_tokens(g.name, &g.tags))
        .collect();
    groups
        .iter()
        .enumerate()
        .map(|(own, g)| {
            candidates(g.name, &g.tags)
                .into_iter()
                .filter(|(_, q)| names_only(q, own, &indexed))
                .collect()
        })
        .collect()
}

/// Every query a user might type for a group: its name's bigrams, its tags, and the
/// prefixes of its name's Latin words.
fn candidates(name: &str, tags: &[String]) -> Vec<(QueryKind, String)> {
    let mut out = Vec::new();
    let chars: Vec<char> = name.chars().collect();
    for w in chars.windows(2) {
        if w.iter().all(|c| keywords::is_cjk(*c)) {
            out.push((QueryKind::Bigram, w.iter().collect()));
        }
    }
    out.extend(tags.iter().map(|t| (QueryKind::Tag, t.clone())));
    for word in name.split(|c: char| !c.is_ascii_alphabetic()) {
        let word = word.to_lowercase();
        for n in 3..word.len() {
            out.push((QueryKind::Prefix, word[..n].to_owned()));
        }
    }
    out
}

/// Whether every token of `query` is indexed for group `own` and none for any other.
fn names_only(query: &str, own: usize, indexed: &[Vec<String>]) -> bool {
    let tokens = keywords::query_tokens(query);
    !tokens.is_empty()
        && indexed.iter().enumerate().all(|(g, idx)| {
            let m = keywords::matched(&tokens, idx);
            if g == own { m == tokens.len() } else { m == 0 }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(groups: usize, members: usize, searches: usize) -> Spec {
        Spec {
            groups,
            members,
            searches,
            ..Spec::default()
        }
    }

    #[test]
    fn every_catalogue_group_has_answers_of_its_kinds() {
        let all = Plan::new(CATALOGUE.len() + 2, &spec(CATALOGUE.len(), 1, 1), 1);
        for (g, answers) in all.groups.iter().zip(answerable(&all.groups)) {
            let kinds: BTreeSet<QueryKind> = answers.iter().map(|(k, _)| *k).collect();
            let chinese = g.name.chars().any(keywords::is_cjk);
            let want: &[QueryKind] = if chinese {
                &[QueryKind::Bigram, QueryKind::Tag]
            } else {
                &[QueryKind::Tag, QueryKind::Prefix]
            };
            for k in want {
                assert!(
                    kinds.contains(k),
                    "{}: no {k:?} query names it alone",
                    g.name
                );
            }
        }
    }

    #[test]
    fn queries_name_their_group_only() {
        let plan = Plan::new(300, &spec(30, 5, 500), 7);
        let indexed: Vec<Vec<String>> = plan
            .groups
            .iter()
            .map(|g| keywords::index_tokens(g.name, &g.tags))
            .collect();
        assert_eq!(plan.queries.len(), 500);
        for q in &plan.queries {
            assert!(names_only(&q.text, q.group, &indexed), "{q:?}");
        }
        let kinds: BTreeSet<QueryKind> = plan.queries.iter().map(|q| q.kind).collect();
        assert_eq!(kinds.len(), 3, "all three kinds are asked");
    }

    #[test]
    fn members_are_distinct_and_searchers_are_in_no_group() {
        let plan = Plan::new(100, &spec(10, 5, 200), 3);
        let members: Vec<usize> = plan.groups.iter().flat_map(|g| g.members.clone()).collect();
        let set: BTreeSet<usize> = members.iter().copied().collect();
        assert_eq!(set.len(), 50);
        assert!(!set.contains(&0));
        assert_eq!(plan.searchers.len(), 49);
        for q in &plan.queries {
            assert!(!set.contains(&q.searcher) && q.searcher != 0);
        }
    }

    #[test]
    fn same_seed_same_plan() {
        let s = spec(10, 5, 100);
        assert_eq!(Plan::new(100, &s, 1), Plan::new(100, &s, 1));
        assert_ne!(Plan::new(100, &s, 1), Plan::new(100, &s, 2));
    }

    #[test]
    fn searchers_can_be_fewer() {
        let s = Spec {
            searchers: 3,
            ..spec(2, 2, 50)
        };
        let plan = Plan::new(30, &s, 1);
        assert_eq!(plan.searchers.len(), 3);
        assert!(
            plan.queries
                .iter()
                .all(|q| plan.searchers.contains(&q.searcher))
        );
    }
}
