//! Unit tests of the store: history pages, day counts, groups across a reopen, refused
//! schemas and damaged stores.

use qun_protocol::group::{SignedGenesis, Visibility};
use qun_protocol::message::{Kind, Text};
use qun_protocol::{Body, Envelope, GroupId, GroupSecret, Identity, Verified};

use super::*;

const BASE_MS: u64 = 1_700_000_000_000;

/// A message stamped `n` ms after `BASE_MS`.
fn msg(id: &Identity, group: GroupId, n: u64, text: &str) -> Verified {
    let kind = Kind::Text(Text {
        text: text.into(),
        reply_to: None,
        mentions: vec![],
    });
    let body = Body {
        group,
        epoch: 0,
        stamp: qun_protocol::Stamp::new(BASE_MS + n, 0),
        kind,
    };
    Envelope::sign(id, &body).unwrap()
}

#[test]
fn history_pages_and_dedup() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), 1 << 20).unwrap();
    let id = Identity::from_seed([3; 32]);
    let g = GroupId::from_bytes([1; 32]);
    let other = GroupId::from_bytes([2; 32]);
    // Inserted out of order; read back in group order.
    for l in [5u64, 1, 3, 2, 4] {
        assert!(store.insert(&msg(&id, g, l, &format!("m{l}"))).unwrap());
    }
    assert!(store.insert(&msg(&id, other, 9, "other")).unwrap());
    assert!(
        !store.insert(&msg(&id, g, 3, "m3")).unwrap(),
        "duplicate stored twice"
    );
    let all = store.history(&g, 100, None).unwrap();
    let ms = |page: &[Verified]| -> Vec<u64> {
        page.iter().map(|m| m.body.stamp.ms - BASE_MS).collect()
    };
    assert_eq!(ms(&all), vec![1, 2, 3, 4, 5]);
    let before = store.history(&g, 2, Some(&all[3].id)).unwrap();
    assert_eq!(ms(&before), vec![2, 3]);
    let page = store.page_after(&g, Some(&all[1].order_key()), 2).unwrap();
    assert_eq!(ms(&page), vec![3, 4]);
    assert_eq!(store.count(&g), 5);
    assert_eq!(store.count(&other), 1);
}

#[test]
fn posts_are_counted_in_their_day() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), 1 << 20).unwrap();
    let id = Identity::from_seed([5; 32]);
    let g = GroupId::from_bytes([1; 32]);
    // Days of 1,000 ms from BASE_MS + 100, three of them, up to BASE_MS + 2,900: a post
    // before the first day and two after `until` are left out.
    for n in [50u64, 100, 1099, 1100, 2600, 2950, 5000] {
        store.insert(&msg(&id, g, n, "x")).unwrap();
    }
    let days = store
        .posts_per_day(&g, BASE_MS + 100, 1000, 3, BASE_MS + 2900)
        .unwrap();
    assert_eq!(days, vec![2, 1, 1]);
}

#[test]
fn groups_survive_reopen_and_remove_clears_history() {
    let dir = tempfile::tempdir().unwrap();
    let owner = Identity::from_seed([4; 32]);
    let genesis = SignedGenesis::create(&owner, "群", 1, Visibility::Private, [0; 16]).unwrap();
    let g = genesis.id().unwrap();
    let rec = GroupRecord {
        genesis,
        epochs: vec![EpochSecret {
            epoch: 0,
            secret: GroupSecret::from_bytes([7; 32]),
        }],
        joined_ms: 5,
    };
    {
        // No background flusher: its thread keeps the database (and its file lock)
        // alive a moment after the drop, and the reopen below would race it.
        let store = Store::open_with(dir.path(), 1 << 20, None, 0).unwrap();
        store.put_group(&g, &rec).unwrap();
        store.insert(&msg(&owner, g, 1, "hi")).unwrap();
        store.flush_blocking().unwrap();
    }
    let store = Store::open(dir.path(), 1 << 20).unwrap();
    assert_eq!(store.groups().unwrap(), vec![(g, rec)]);
    assert_eq!(store.count(&g), 1);
    store.remove_group(&g).unwrap();
    assert!(store.groups().unwrap().is_empty());
    assert_eq!(store.count(&g), 0);
}

#[test]
fn store_of_another_schema_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = sled::open(dir.path()).unwrap();
        db.open_tree("meta")
            .unwrap()
            .insert("schema", &999u32.to_be_bytes())
            .unwrap();
        db.flush().unwrap();
    }
    let err = Store::open(dir.path(), 1 << 20).err().expect("must refuse");
    assert!(matches!(
        err,
        Error::Schema {
            found: 999,
            expected: SCHEMA_VERSION,
            ..
        }
    ));
    assert!(err.to_string().contains("schema version 999"));
}

#[test]
fn a_damaged_store_names_its_dir_and_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open_with(dir.path(), 1 << 20, None, 0).unwrap();
        let owner = Identity::from_seed([4; 32]);
        let genesis = SignedGenesis::create(&owner, "群", 1, Visibility::Private, [0; 16]).unwrap();
        let g = genesis.id().unwrap();
        for i in 0..50 {
            store.insert(&msg(&owner, g, i, "hi")).unwrap();
        }
        store.flush_blocking().unwrap();
    }
    // Flip the bytes of sled's config file (checksummed: sled says it is corrupt; a
    // damaged log tail is cut by sled's recovery instead, as after a crash).
    let conf = dir.path().join("conf");
    let bytes: Vec<u8> = std::fs::read(&conf)
        .unwrap()
        .iter()
        .map(|b| b ^ 0x5a)
        .collect();
    std::fs::write(&conf, bytes).unwrap();
    let err = Store::open_with(dir.path(), 1 << 20, None, 0)
        .err()
        .expect("a damaged store must not open");
    assert!(matches!(err, Error::Damaged { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains(&dir.path().display().to_string()), "{text}");
    assert!(text.contains("backup"), "{text}");
}
