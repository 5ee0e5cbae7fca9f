//! Group names on real nodes: invisible, control and bidi names are refused, also in a
//! genesis crafted outside qun; names are trimmed and put in NFC at creation and lookup.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use qun_node::CreateGroup;
use qun_protocol::group::Genesis;
use qun_protocol::identity::DOMAIN_GENESIS;
use qun_protocol::{Identity, SignedGenesis, Visibility, codec};
use tempfile::TempDir;

/// The names of issue 11 that were accepted: nothing visible, a bidi override, a newline,
/// a control byte.
const BAD_NAMES: [&str; 10] = [
    "\u{200b}",
    "official\u{202e}gnp.exe",
    "line1\nline2",
    "\u{200d}",
    "\u{2060}",
    "\u{feff}",
    "\u{3164}",
    "\u{2800}",
    "a\u{1}b",
    "   ",
];

fn req(name: &str, tags: &[&str]) -> CreateGroup {
    CreateGroup {
        name: name.to_owned(),
        description: String::new(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        visibility: Visibility::Private,
    }
}

/// A genesis signed by hand, skipping every check of `SignedGenesis::create`: what a
/// hostile member's admission (which carries the genesis: an invite no longer does) would
/// hold. Every node checks a genesis with `SignedGenesis::verify` before it enters a group.
fn crafted_genesis(owner: &Identity, name: &str) -> SignedGenesis {
    let genesis = Genesis {
        owner: owner.author(),
        name: name.to_owned(),
        created_ms: now_ms(),
        visibility: Visibility::Private,
        nonce: [7; 16],
    };
    let signature = owner.sign(DOMAIN_GENESIS, &codec::encode(&genesis).unwrap());
    SignedGenesis { genesis, signature }
}

#[tokio::test]
async fn invisible_control_and_bidi_names_are_refused() {
    let dir = TempDir::new().unwrap();
    let node = start(dir.path()).await;
    let rogue = Identity::from_seed([3; 32]);
    for name in BAD_NAMES {
        let err = node.create_group(req(name, &[])).await.unwrap_err();
        assert!(
            matches!(err, qun_node::Error::Message(_)),
            "{name:?}: {err}"
        );
        // The same name in a genesis signed by hand is refused.
        assert!(
            crafted_genesis(&rogue, name).verify().is_err(),
            "accepted a genesis named {name:?}"
        );
        // A tag is held to the same rule.
        let err = node.create_group(req("ok", &[name])).await.unwrap_err();
        assert!(
            matches!(err, qun_node::Error::Message(_)),
            "tag {name:?}: {err}"
        );
    }
    assert!(node.groups().await.unwrap().is_empty());
    // The control: the same crafted genesis with a fine name verifies.
    assert!(crafted_genesis(&rogue, "fine").verify().is_ok());
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn names_are_trimmed_and_nfc_at_creation_and_lookup() {
    let dir = TempDir::new().unwrap();
    let node = start(dir.path()).await;
    let hiking = node
        .create_group(req("hiking ", &[" trail "]))
        .await
        .unwrap();
    let hiking: qun_protocol::GroupId = hiking.group.parse().unwrap();
    let info = node.group_info(hiking).await.unwrap();
    assert_eq!(info.name, "hiking");
    for q in ["hiking", "hiking ", " hiking\n"] {
        assert_eq!(node.resolve(q).await.unwrap(), hiking, "{q:?}");
    }
    // Café typed with a combining accent (NFD) is stored, and found, as NFC.
    let cafe = node.create_group(req("Cafe\u{301}", &[])).await.unwrap();
    let cafe: qun_protocol::GroupId = cafe.group.parse().unwrap();
    assert_eq!(node.group_info(cafe).await.unwrap().name, "Caf\u{e9}");
    assert_eq!(node.resolve("Caf\u{e9}").await.unwrap(), cafe);
    assert_eq!(node.resolve("Cafe\u{301}").await.unwrap(), cafe);
    // A message sent by name reaches the right group.
    node.send(hiking, "hi", None).await.unwrap();
    let by_name = node.resolve("hiking ").await.unwrap();
    assert!(texts(&history(&node, by_name).await).contains("hi"));
    node.shutdown().await.unwrap();
}
