//! Test vectors pinning the wire format.
//!
//! Fixed seeds, nonces, secrets and timestamps go in; ids, derived keys and encodings come
//! out, and must equal `tests/vectors.txt` (`name = value` lines). Any change to an
//! encoding, a hash domain, a key derivation or a text form shows up here. Ed25519
//! signatures are deterministic, so everything is reproducible. After a deliberate change,
//! regenerate the file with `QUN_UPDATE_VECTORS=1 cargo test -p qun-protocol --test vectors`.

// Test helpers outside `#[test]` functions unwrap too (clippy.toml only exempts the tests).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write as _;
use std::path::PathBuf;

use qun_protocol::codec;
use qun_protocol::frame::{self, Frame};
use qun_protocol::group::{SignedGenesis, Visibility};
use qun_protocol::id::{GroupId, MsgId};
use qun_protocol::identity::Identity;
use qun_protocol::invite::{self, Invite};
use qun_protocol::message::{Announcement, Body, Envelope, Join, Kind, Text, Verified};
use qun_protocol::order::Stamp;
use qun_protocol::secret::GroupSecret;

const CHANGED: &str = "wire format changed: if deliberate, run \
                       QUN_UPDATE_VECTORS=1 cargo test -p qun-protocol --test vectors";

const OWNER_SEED: [u8; 32] = [1; 32];
const MEMBER_SEED: [u8; 32] = [2; 32];
const SECRET: [u8; 32] = [7; 32];
const GENESIS_NONCE: [u8; 16] = [3; 16];
const FRAME_NONCE: [u8; 24] = [9; 24];
const CREATED_MS: u64 = 1_700_000_000_000;
/// 2100-01-01T00:00:00Z.
const INVITE_EXPIRES_MS: u64 = 4_102_444_800_000;
/// `/ip4/127.0.0.1/tcp/4001` as a binary multiaddr.
const ADDR: [u8; 8] = [0x04, 127, 0, 0, 1, 0x06, 0x0f, 0xa1];

fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors.txt")
}

/// A message body stamped `minutes` after the genesis time, with a hybrid clock counter.
fn body(group: GroupId, epoch: u64, counter: u64, minutes: u64, kind: Kind) -> Body {
    Body {
        group,
        epoch,
        stamp: Stamp::new(CREATED_MS + minutes * 60_000, counter),
        kind,
    }
}

/// Signs `body`, records its envelope as `envelope` and, if named, its id as `id`.
fn push_signed(
    v: &mut Vec<(&'static str, String)>,
    who: &Identity,
    body: &Body,
    envelope: &'static str,
    id: Option<&'static str>,
) -> Verified {
    let msg = Envelope::sign(who, body).unwrap();
    v.push((envelope, hex::encode(&msg.encoded)));
    if let Some(name) = id {
        v.push((name, msg.id.to_string()));
    }
    msg
}

/// Computes every vector, in file order.
fn compute() -> Vec<(&'static str, String)> {
    let owner = Identity::from_seed(OWNER_SEED);
    let member = Identity::from_seed(MEMBER_SEED);
    let secret = GroupSecret::from_bytes(SECRET);
    let mut v = Vec::new();

    v.push(("owner_author", owner.author().to_string()));
    v.push(("owner_public_key", hex::encode(owner.author().as_bytes())));
    v.push(("member_author", member.author().to_string()));

    let genesis = SignedGenesis::create(
        &owner,
        "qun 测试群",
        CREATED_MS,
        Visibility::Private,
        GENESIS_NONCE,
    )
    .unwrap();
    let group = genesis.id().unwrap();
    v.push((
        "signed_genesis",
        hex::encode(codec::encode(&genesis).unwrap()),
    ));
    v.push(("group_id", group.to_string()));
    v.push(("group_id_hex", hex::encode(group.as_bytes())));

    let names = [
        ("topic_epoch_0", "message_key_epoch_0"),
        ("topic_epoch_1", "message_key_epoch_1"),
    ];
    for (epoch, (topic, key)) in (0u64..).zip(names) {
        v.push((topic, secret.topic(&group, epoch)));
        v.push((
            key,
            hex::encode(secret.message_key(&group, epoch).as_bytes()),
        ));
    }

    let text = body(
        group,
        0,
        7,
        1,
        Kind::Text(Text {
            text: "你好, qun!".into(),
            reply_to: Some(MsgId::from_bytes([4; 32])),
            mentions: vec![owner.author()],
        }),
    );
    v.push(("text_body", hex::encode(codec::encode(&text).unwrap())));
    let text_msg = push_signed(&mut v, &member, &text, "text_envelope", Some("text_msg_id"));
    let key0 = secret.message_key(&group, 0);
    let sealed = frame::seal_verified(&text_msg, &key0, FRAME_NONCE).unwrap();
    v.push(("text_frame", hex::encode(sealed.encode().unwrap())));

    let announcement = Kind::Announcement(Announcement {
        text: "群公告: 每周五读书".into(),
    });
    let ann = body(group, 0, 8, 2, announcement);
    push_signed(
        &mut v,
        &owner,
        &ann,
        "announcement_envelope",
        Some("announcement_msg_id"),
    );
    let join = Kind::Join(Join {
        inviter: Some(owner.author()),
    });
    push_signed(
        &mut v,
        &member,
        &body(group, 1, 9, 3, join),
        "join_envelope",
        Some("join_msg_id"),
    );
    let unknown = Kind::Unknown {
        tag: 100,
        payload: b"from the future".to_vec(),
    };
    push_signed(
        &mut v,
        &member,
        &body(group, 1, 10, 4, unknown),
        "unknown_kind_envelope",
        None,
    );

    let group = genesis.id().unwrap();
    let content = invite::Content {
        version: invite::VERSION,
        group,
        inviter: owner.author(),
        epoch: 1,
        check: secret.invite_check(&group, 1),
        key: owner.author(),
        addrs: vec![ADDR.to_vec()],
        expires_ms: INVITE_EXPIRES_MS,
    };
    let inv = Invite::create(&owner, content, [0x5e; 16]).unwrap();
    v.push(("invite_code", inv.to_text().unwrap()));
    v
}

fn render(vectors: &[(&str, String)]) -> String {
    let mut out = String::from(
        "# qun-protocol wire format test vectors (tests/vectors.rs).\n\
         # Regenerate after a deliberate change: \
         QUN_UPDATE_VECTORS=1 cargo test -p qun-protocol --test vectors\n",
    );
    for (name, value) in vectors {
        writeln!(out, "{name} = {value}").unwrap();
    }
    out
}

fn parse(file: &str) -> Vec<(String, String)> {
    file.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (name, value) = l.split_once(" = ").unwrap_or((l, ""));
            (name.trim().to_owned(), value.trim().to_owned())
        })
        .collect()
}

fn updating() -> bool {
    std::env::var("QUN_UPDATE_VECTORS").as_deref() == Ok("1")
}

#[test]
fn wire_format_matches_vectors() {
    let computed = compute();
    if updating() {
        std::fs::write(path(), render(&computed)).unwrap();
        return;
    }
    let file = std::fs::read_to_string(path())
        .unwrap_or_else(|e| panic!("reading {}: {e}\n{CHANGED}", path().display()));
    let stored = parse(&file);
    let names: Vec<&str> = stored.iter().map(|(n, _)| n.as_str()).collect();
    let expected: Vec<&str> = computed.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, expected, "the set of vectors differs\n{CHANGED}");
    for ((name, want), (_, got)) in stored.iter().zip(&computed) {
        assert_eq!(got, want, "vector `{name}` differs\n{CHANGED}");
    }
}

/// The stored vectors are not just stable but valid: they decode, verify and open.
#[test]
fn stored_vectors_decode() {
    if updating() {
        // The other test is rewriting the file.
        return;
    }
    let file = std::fs::read_to_string(path()).unwrap();
    let stored: std::collections::HashMap<String, String> = parse(&file).into_iter().collect();
    let get = |name: &str| {
        stored
            .get(name)
            .unwrap_or_else(|| panic!("no `{name}`\n{CHANGED}"))
    };
    let bytes = |name: &str| hex::decode(get(name)).unwrap();

    let genesis = SignedGenesis::decode(&bytes("signed_genesis")).unwrap();
    let group = genesis.id().unwrap();
    assert_eq!(&group.to_string(), get("group_id"));
    assert_eq!(&genesis.genesis.owner.to_string(), get("owner_author"));

    let secret = GroupSecret::from_bytes(SECRET);
    let frame_bytes = bytes("text_frame");
    assert_eq!(Frame::decode(&frame_bytes).unwrap().nonce, FRAME_NONCE);
    let opened = frame::open(&frame_bytes, &group, |e| {
        Some(secret.message_key(&group, e))
    })
    .unwrap();
    assert_eq!(&opened.id.to_string(), get("text_msg_id"));
    assert_eq!(&opened.author().to_string(), get("member_author"));
    assert_eq!(opened.envelope.encode().unwrap(), bytes("text_envelope"));

    for (env, id) in [
        ("announcement_envelope", "announcement_msg_id"),
        ("join_envelope", "join_msg_id"),
    ] {
        let msg = Envelope::decode_verified(&bytes(env)).unwrap();
        assert_eq!(&msg.id.to_string(), get(id));
        assert_eq!(msg.body.group, group);
    }
    let unknown = Envelope::decode_verified(&bytes("unknown_kind_envelope")).unwrap();
    assert_eq!(unknown.body.kind.tag(), 100);

    let inv = Invite::parse(get("invite_code"), CREATED_MS).unwrap();
    assert_eq!(inv.group(), group);
    assert_eq!(inv.ticket.content.addrs, vec![ADDR.to_vec()]);
    assert_eq!(inv.ticket.content.check, secret.invite_check(&group, 1));
}
