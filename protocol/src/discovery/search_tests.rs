//! A search driven by hand, no runtime: providers, answers, the deadline.

use super::*;
use crate::discovery::card::Card;
use crate::discovery::{Signed, VERSION};
use crate::group::{SignedGenesis, Visibility};
use crate::identity::{DOMAIN_CARD, Identity};
use crate::message::Meta;

const NOW_MS: u64 = 1_800_000_000_000;
const TIMEOUT: Duration = Duration::from_secs(10);
const ME: u8 = 0;

fn value(name: &str, tags: &[&str], members: u32, issued_ms: u64) -> Card {
    let owner = Identity::from_seed([1; 32]);
    let nonce = [name.len() as u8; 16];
    let genesis =
        SignedGenesis::create(&owner, name, NOW_MS - 60_000, Visibility::Listed, nonce).unwrap();
    Card {
        version: VERSION,
        genesis,
        meta: Meta {
            description: String::new(),
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        },
        members,
        addrs: Vec::new(),
        secret: None,
        issued_ms,
    }
}

fn card(name: &str, members: u32, issued_ms: u64) -> SignedCard {
    SignedCard::create(
        &Identity::from_seed([1; 32]),
        value(name, &[], members, issued_ms),
    )
    .unwrap()
}

fn start(query: &str) -> (Search<u8>, Instant, Vec<Action<u8>>) {
    let now = Instant::now();
    let mut s = Search::new(now, ME, query, TIMEOUT).unwrap();
    let first = drain(&mut s);
    (s, now, first)
}

fn drain(s: &mut Search<u8>) -> Vec<Action<u8>> {
    std::iter::from_fn(|| s.poll_action()).collect()
}

fn asked(actions: &[Action<u8>]) -> Vec<u8> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Ask { peer, .. } => Some(*peer),
            _ => None,
        })
        .collect()
}

fn outcome(actions: Vec<Action<u8>>) -> Outcome {
    let mut done = actions.into_iter().filter_map(|a| match a {
        Action::Done(o) => Some(o),
        _ => None,
    });
    let o = done.next().expect("the search ended");
    assert!(done.next().is_none());
    o
}

#[test]
fn a_query_without_tokens_does_not_start() {
    let e = Search::new(Instant::now(), ME, " a ! ", TIMEOUT).unwrap_err();
    assert_eq!(
        e,
        Error::NoTokens {
            query: " a ! ".into()
        }
    );
}

#[test]
fn it_starts_with_one_lookup_per_token_and_the_deadline() {
    let (s, now, first) = start("alpha beta");
    let lookups: Vec<&str> = first
        .iter()
        .filter_map(|a| match a {
            Action::LookupProviders { token, key } => {
                assert_eq!(key, &keywords::provider_key(token));
                Some(token.as_str())
            }
            _ => None,
        })
        .collect();
    assert_eq!(lookups, s.tokens());
    assert!(matches!(first.last(), Some(Action::SetTimer { at }) if *at == now + TIMEOUT));
}

#[test]
fn results_are_ranked_by_match_then_members_then_freshness() {
    let (mut s, now, _) = start("alpha beta");
    s.add_local([card("alpha club", 50, NOW_MS - 5)]);
    s.providers([1]);
    s.lookup_done(now, 3);
    s.lookup_done(now, 4);
    let answer = vec![
        card("alpha beta", 2, NOW_MS - 9),
        card("alpha team", 10, NOW_MS - 1),
        card("alpha crew", 50, NOW_MS - 1),
    ];
    s.cards(now, NOW_MS, &1, answer);
    let o = outcome(drain(&mut s));
    let names: Vec<&str> = o.hits.iter().map(|h| h.card.value.name()).collect();
    assert_eq!(
        names,
        ["alpha beta", "alpha crew", "alpha club", "alpha team"]
    );
    assert_eq!(o.hits[0].matched, 2);
    assert_eq!((o.providers, o.peers_asked, o.dht_requests), (1, 1, 7));
    assert!(!o.timed_out);
}

#[test]
fn each_provider_is_asked_once_and_never_ourselves() {
    let (mut s, now, _) = start("alpha");
    s.providers([ME, 1, 2, 1]);
    s.providers([2, 3]);
    assert_eq!(asked(&drain(&mut s)), [1, 2, 3]);
    s.lookup_done(now, 1);
    for p in [1, 2] {
        s.no_answer(now, &p);
    }
    assert!(drain(&mut s).is_empty(), "3 has not answered");
    s.cards(now, NOW_MS, &3, Vec::<SignedCard>::new());
    let o = outcome(drain(&mut s));
    assert_eq!((o.providers, o.peers_asked), (4, 3));
}

#[test]
fn at_most_24_providers_are_asked() {
    let (mut s, _, _) = start("alpha");
    s.providers(1..=40);
    assert_eq!(asked(&drain(&mut s)).len(), MAX_PEERS_ASKED);
}

#[test]
fn the_deadline_ends_it_and_nothing_comes_after() {
    let (mut s, now, _) = start("alpha");
    s.providers([1]);
    drain(&mut s);
    s.tick(now + TIMEOUT - Duration::from_millis(1));
    assert!(drain(&mut s).is_empty());
    s.tick(now + TIMEOUT);
    let o = outcome(drain(&mut s));
    assert!(o.timed_out && s.is_done());
    assert_eq!(o.elapsed, TIMEOUT);
    // A late answer or lookup changes nothing.
    s.cards(now + TIMEOUT, NOW_MS, &1, vec![card("alpha", 1, NOW_MS)]);
    s.lookup_done(now + TIMEOUT, 1);
    s.providers([2]);
    s.tick(now + TIMEOUT * 2);
    assert!(drain(&mut s).is_empty());
}

#[test]
fn answers_from_peers_not_asked_and_repeated_answers_are_ignored() {
    let (mut s, now, _) = start("alpha");
    s.providers([1, 2]);
    drain(&mut s);
    s.cards(now, NOW_MS, &9, vec![card("alpha stranger", 1, NOW_MS)]);
    s.cards(now, NOW_MS, &1, vec![card("alpha one", 1, NOW_MS)]);
    s.cards(now, NOW_MS, &1, vec![card("alpha again", 1, NOW_MS)]);
    s.lookup_done(now, 1);
    assert!(drain(&mut s).is_empty(), "2 has not answered");
    s.no_answer(now, &2);
    let o = outcome(drain(&mut s));
    let names: Vec<&str> = o.hits.iter().map(|h| h.card.value.name()).collect();
    assert_eq!(names, ["alpha one"]);
}

#[test]
fn forged_and_unrelated_cards_are_refused_and_penalised() {
    let (mut s, now, _) = start("alpha");
    s.providers([1, 2]);
    drain(&mut s);
    // Signed by someone other than the group's owner.
    let forged = Signed::sign(
        &Identity::from_seed([2; 32]),
        DOMAIN_CARD,
        value("alpha forged", &[], 1, NOW_MS),
    )
    .unwrap();
    s.cards(now, NOW_MS, &1, vec![forged, card("alpha ok", 1, NOW_MS)]);
    s.cards(now, NOW_MS, &2, vec![card("gamma", 1, NOW_MS)]);
    s.lookup_done(now, 1);
    let actions = drain(&mut s);
    let penalised: Vec<(u8, &Refused)> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Penalise { peer, refused } => Some((*peer, refused)),
            _ => None,
        })
        .collect();
    assert!(matches!(
        penalised[..],
        [
            (1, Refused::Card(CardError::NotAllowed { .. })),
            (2, Refused::NoMatch)
        ]
    ));
    let o = outcome(actions);
    assert_eq!(o.cards_refused, 2);
    assert_eq!(o.hits.len(), 1);
}

#[test]
fn the_newest_card_of_a_group_is_kept() {
    let (mut s, now, _) = start("alpha");
    s.providers([1]);
    s.add_local([card("alpha", 3, NOW_MS - 10)]);
    s.cards(
        now,
        NOW_MS,
        &1,
        vec![card("alpha", 4, NOW_MS - 5), card("alpha", 9, NOW_MS - 20)],
    );
    s.lookup_done(now, 1);
    let o = outcome(drain(&mut s));
    assert_eq!(o.hits.len(), 1);
    assert_eq!(o.hits[0].card.value.members, 4);
}
