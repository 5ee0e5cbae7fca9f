//! Invite codes: they round-trip, find their way out of pasted text (CJK punctuation,
//! quotes, upper case), and say exactly what is wrong with them: a typo is a checksum
//! error, then expiry, a bad signature, an unknown version or an overlong code.

// Test helpers outside `#[test]` functions unwrap too (clippy.toml only exempts the tests).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use qun_protocol::codec;
use qun_protocol::invite::{self, Invite};

mod common;
use common::*;

fn invite(expires_ms: u64) -> Invite {
    let content = invite::Content {
        version: invite::VERSION,
        genesis: genesis(),
        epoch: 1,
        secret: secret(),
        // /ip4/127.0.0.1/tcp/4001
        addrs: vec![vec![0x04, 127, 0, 0, 1, 0x06, 0x0f, 0xa1]],
        expires_ms,
        inviter: owner().author(),
    };
    Invite::create(&owner(), content).unwrap()
}

const CHARSET: &str = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

#[test]
fn invite_round_trips_and_names_its_group() {
    let inv = invite(NOW_MS + 1);
    let code = inv.to_text().unwrap();
    assert!(code.starts_with("qun1"), "{code}");
    assert!(
        code.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    );
    let parsed = Invite::parse(&code, NOW_MS).unwrap();
    assert_eq!(parsed, inv);
    assert_eq!(parsed.group().unwrap(), genesis().id().unwrap());
    assert_eq!(parsed.content.secret, secret());
}

#[test]
fn every_single_typo_is_a_checksum_error() {
    let code = invite(NOW_MS + 1).to_text().unwrap();
    for (i, c) in code.char_indices().skip(4) {
        let pos = CHARSET.find(c).unwrap();
        let other = CHARSET.as_bytes()[(pos + 1) % CHARSET.len()] as char;
        let mut typo = code.clone();
        typo.replace_range(i..i + 1, &other.to_string());
        assert_eq!(
            Invite::parse(&typo, NOW_MS),
            Err(invite::Error::Checksum),
            "typo at {i}"
        );
    }
    // Cut short or with a character lost: also a checksum error.
    assert_eq!(
        Invite::parse(&code[..code.len() - 1], NOW_MS),
        Err(invite::Error::Checksum)
    );
    let mut lost = code.clone();
    lost.remove(20);
    assert_eq!(Invite::parse(&lost, NOW_MS), Err(invite::Error::Checksum));
}

#[test]
fn expired_invites_are_refused() {
    let expires = NOW_MS + 1000;
    let code = invite(expires).to_text().unwrap();
    assert!(Invite::parse(&code, expires - 1).is_ok());
    assert_eq!(
        Invite::parse(&code, expires),
        Err(invite::Error::Expired {
            expires_ms: expires,
            now_ms: expires
        })
    );
    assert!(matches!(
        Invite::parse(&code, u64::MAX),
        Err(invite::Error::Expired { .. })
    ));
}

#[test]
fn tampered_invites_are_refused() {
    let inv = invite(NOW_MS + 1);

    // A flipped signature bit, re-encoded with a valid checksum.
    let mut bad_sig = inv.clone();
    bad_sig.signature.0[3] ^= 0x40;
    let code = bad_sig.to_text().unwrap();
    assert_eq!(Invite::parse(&code, NOW_MS), Err(invite::Error::Signature));

    // Content changed after signing (a longer expiry).
    let mut later = inv.clone();
    later.content.expires_ms = u64::MAX;
    assert_eq!(
        Invite::parse(&later.to_text().unwrap(), NOW_MS),
        Err(invite::Error::Signature)
    );

    // Another inviter's key under the owner's signature.
    let mut other = inv.clone();
    other.content.inviter = member().author();
    assert_eq!(
        Invite::parse(&other.to_text().unwrap(), NOW_MS),
        Err(invite::Error::Signature)
    );

    // A genesis whose owner signature no longer matches (renamed group).
    let mut renamed = inv.clone();
    renamed.content.genesis.genesis.name = "另一个群".into();
    let signed = codec::encode(&renamed.content).unwrap();
    renamed.signature = owner().sign(qun_protocol::identity::DOMAIN_INVITE, &signed);
    assert_eq!(
        Invite::parse(&renamed.to_text().unwrap(), NOW_MS),
        Err(invite::Error::Signature)
    );
}

#[test]
fn unknown_invite_version() {
    let mut inv = invite(NOW_MS + 1);
    inv.content.version = 2;
    let code = inv.to_text().unwrap();
    assert_eq!(
        Invite::parse(&code, NOW_MS),
        Err(invite::Error::UnknownVersion { version: 2 })
    );
}

#[test]
fn overlong_and_missing_codes() {
    let long = format!("qun1{}", "q".repeat(1996));
    assert_eq!(long.len(), 2000);
    assert_eq!(
        Invite::parse(&long, NOW_MS),
        Err(invite::Error::TooLong {
            len: 2000,
            max: qun_protocol::limits::MAX_INVITE_CHARS
        })
    );
    for text in [
        "",
        "hello",
        "join us at qun dot chat",
        "qun2abc",
        "xqun1abc",
    ] {
        assert_eq!(
            Invite::parse(text, NOW_MS),
            Err(invite::Error::NotFound),
            "{text}"
        );
    }
    assert!(matches!(
        Invite::parse("qun1", NOW_MS),
        Err(invite::Error::Checksum | invite::Error::Format(_))
    ));
}

#[test]
fn code_is_found_in_pasted_text() {
    let inv = invite(NOW_MS + 1);
    let code = inv.to_text().unwrap();
    let upper = code.to_uppercase();
    for text in [
        format!("join us: {code}"),
        format!("join us:\n\n  {code}  \n(valid for a week)"),
        format!("\"{code}\""),
        format!("<{code}>"),
        format!("({code})."),
        format!("快来加入我们的读书会：{code}。"),
        format!("【qun】邀请码「{code}」，复制后打开 qun"),
        upper.clone(),
        format!("INVITE: {upper}"),
    ] {
        assert_eq!(Invite::parse(&text, NOW_MS).as_ref(), Ok(&inv), "{text}");
    }
}
