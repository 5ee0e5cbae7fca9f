//! Invite codes: they round-trip, find their way out of pasted text (CJK punctuation,
//! quotes, upper case), and say exactly what is wrong with them: a typo is a checksum
//! error, then expiry, a bad signature, an unknown version or an overlong code.

// Test helpers outside `#[test]` functions unwrap too (clippy.toml only exempts the tests).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use qun_protocol::codec;
use qun_protocol::invite::{self, Invite};

mod common;
use common::*;

fn content(expires_ms: u64) -> invite::Content {
    let group = genesis().id().unwrap();
    invite::Content {
        version: invite::VERSION,
        group,
        inviter: owner().author(),
        epoch: 1,
        check: secret().invite_check(&group, 1),
        key: owner().author(),
        // /ip4/127.0.0.1/tcp/4001
        addrs: vec![vec![0x04, 127, 0, 0, 1, 0x06, 0x0f, 0xa1]],
        expires_ms,
    }
}

fn invite(expires_ms: u64) -> Invite {
    Invite::create(&owner(), content(expires_ms), [5; 16]).unwrap()
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
    assert_eq!(parsed.group(), genesis().id().unwrap());
    assert_eq!(parsed.key().author(), parsed.ticket.content.key);
}

/// Issue 11, reproduction 3: an invite carried the group secret, so its holder decrypted
/// all history without joining, expired or not. The code now holds no secret, nor anything
/// the message key can be derived from.
#[test]
fn an_invite_code_carries_no_group_secret() {
    let inv = invite(NOW_MS + 1);
    let bytes = codec::encode(&inv).unwrap();
    let group = genesis().id().unwrap();
    let key = secret().message_key(&group, 1);
    for needle in [&secret().as_bytes()[..], &key.as_bytes()[..]] {
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle),
            "the code holds a secret"
        );
    }
    // The check value tells the real secret from another, and is not the secret.
    assert_ne!(
        secret().invite_check(&group, 1),
        qun_protocol::GroupSecret::from_bytes([8; 32]).invite_check(&group, 1)
    );
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
    use qun_protocol::limits::MAX_INVITE_EXPIRY_SKEW_MS as SKEW;
    let expires = NOW_MS + 1000;
    let code = invite(expires).to_text().unwrap();
    assert!(Invite::parse(&code, expires - 1).is_ok());
    // The inviter's clock may be behind ours by up to the allowed skew.
    assert!(Invite::parse(&code, expires + SKEW - 1).is_ok());
    assert_eq!(
        Invite::parse(&code, expires + SKEW),
        Err(invite::Error::Expired {
            expires_ms: expires,
            now_ms: expires + SKEW
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
    bad_sig.ticket.signature.0[3] ^= 0x40;
    let code = bad_sig.to_text().unwrap();
    assert_eq!(Invite::parse(&code, NOW_MS), Err(invite::Error::Signature));

    // Content changed after signing (a longer expiry).
    let mut later = inv.clone();
    later.ticket.content.expires_ms = u64::MAX;
    assert_eq!(
        Invite::parse(&later.to_text().unwrap(), NOW_MS),
        Err(invite::Error::Signature)
    );

    // Another inviter's key under the owner's signature.
    let mut other = inv.clone();
    other.ticket.content.inviter = member().author();
    assert_eq!(
        Invite::parse(&other.to_text().unwrap(), NOW_MS),
        Err(invite::Error::Signature)
    );

    // Another seed than the one whose key was signed.
    let mut reseeded = inv.clone();
    reseeded.seed[0] ^= 1;
    assert!(matches!(
        Invite::parse(&reseeded.to_text().unwrap(), NOW_MS),
        Err(invite::Error::Malformed(_))
    ));
}

#[test]
fn unknown_invite_version() {
    let mut inv = invite(NOW_MS + 1);
    inv.ticket.content.version = 3;
    let code = inv.to_text().unwrap();
    assert_eq!(
        Invite::parse(&code, NOW_MS),
        Err(invite::Error::UnknownVersion { version: 3 })
    );
    // Version 1 codes carried the group secret: they are refused, by name.
    let mut old = codec::encode(&invite(NOW_MS + 1)).unwrap();
    old[0] = 1;
    assert_eq!(
        Invite::from_bytes(&old, NOW_MS),
        Err(invite::Error::UnknownVersion { version: 1 })
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

/// Issue 11, reproduction 8: each way a paste mangles a code, as seen in the wild.
#[test]
fn pasted_and_mangled_codes_still_parse() {
    let inv = invite(NOW_MS + 1);
    let code = inv.to_text().unwrap();
    let folded = |sep: &str| {
        code.as_bytes()
            .chunks(76)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join(sep)
    };
    let insert_at = |i: usize, s: &str| format!("{}{s}{}", &code[..i], &code[i..]);
    let mut first_capital = code.clone();
    first_capital.replace_range(0..1, "Q");
    let full_width: String = code
        .chars()
        .map(|c| char::from_u32(c as u32 - 0x21 + 0xFF01).unwrap())
        .collect();
    for (what, text) in [
        ("folded at 76 columns (LF)", folded("\n")),
        ("folded at 76 columns (CRLF)", folded("\r\n")),
        (
            "folded with indentation",
            format!("join:\n  {}", folded("\n  ")),
        ),
        ("a zero-width space", insert_at(30, "\u{200B}")),
        (
            "a zero-width joiner and non-joiner",
            insert_at(7, "\u{200D}\u{200C}"),
        ),
        ("a word joiner", insert_at(50, "\u{2060}")),
        (
            "a byte order mark",
            format!("\u{FEFF}{}", insert_at(90, "\u{FEFF}")),
        ),
        ("a soft hyphen", insert_at(40, "\u{00AD}")),
        ("a CRLF", insert_at(60, "\r\n")),
        ("a space", insert_at(20, " ")),
        ("a non-breaking space", insert_at(20, "\u{00A0}")),
        ("a phone's capital first letter", first_capital),
        ("full-width forms", full_width.clone()),
        (
            "full-width with an ideographic space",
            format!("邀请码：{full_width}\u{3000}谢谢"),
        ),
        (
            "mixed case",
            code.char_indices()
                .map(|(i, c)| {
                    if i % 3 == 0 {
                        c.to_ascii_uppercase()
                    } else {
                        c
                    }
                })
                .collect(),
        ),
        ("a word after it", format!("{code} yes")),
        (
            "folded, with words of code letters after it",
            format!("{}\n\nsee you 2day", folded("\r\n")),
        ),
    ] {
        assert_eq!(Invite::parse(&text, NOW_MS).as_ref(), Ok(&inv), "{what}");
    }
}

/// The checks stay precise through the cleaning: a typo in a folded code is a checksum
/// error, an expired folded code says expired, and a huge paste is refused by its size.
#[test]
fn errors_stay_precise_after_cleaning() {
    let code = invite(NOW_MS + 1).to_text().unwrap();
    let mut typo = code.clone();
    let c = if &code[100..101] == "q" { "p" } else { "q" };
    typo.replace_range(100..101, c);
    let folded = format!("{}\r\n{}", &typo[..76], &typo[76..]);
    assert_eq!(Invite::parse(&folded, NOW_MS), Err(invite::Error::Checksum));
    assert_eq!(
        Invite::parse(&format!("{typo} yes"), NOW_MS),
        Err(invite::Error::Checksum)
    );
    let expired = format!("{}\u{200B}{}", &code[..40], &code[40..]);
    assert!(matches!(
        Invite::parse(
            &expired,
            NOW_MS + 1 + qun_protocol::limits::MAX_INVITE_EXPIRY_SKEW_MS
        ),
        Err(invite::Error::Expired { .. })
    ));
    let huge = format!(
        "{code}{}",
        " ".repeat(qun_protocol::limits::MAX_PASTE_BYTES)
    );
    assert!(matches!(
        Invite::parse(&huge, NOW_MS),
        Err(invite::Error::PasteTooLong { .. })
    ));
    // Full-width text with no code in it is still "not found".
    assert_eq!(
        Invite::parse("ｊｏｉｎ ｕｓ", NOW_MS),
        Err(invite::Error::NotFound)
    );
}

mod mangling {
    use super::*;
    use proptest::prelude::*;

    /// What a paste may insert between two characters of a code (after its `qun1` head).
    fn noise() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            " ", "\n", "\r\n", "\n  ", "\t", "\u{00A0}", "\u{3000}", "\u{200B}", "\u{200C}",
            "\u{200D}", "\u{2060}", "\u{FEFF}", "\u{00AD}",
        ])
    }

    /// One mangling: noise at some positions, some letters upper-cased, maybe full-width.
    fn mangle(code: &str, inserts: &[(usize, &str)], upper: &[bool], full_width: bool) -> String {
        let mut out = String::new();
        for (i, c) in code.chars().enumerate() {
            for (at, s) in inserts {
                if *at == i && i >= 4 {
                    out.push_str(s);
                }
            }
            let c = if upper[i % upper.len()] {
                c.to_ascii_uppercase()
            } else {
                c
            };
            if full_width {
                out.push(char::from_u32(c as u32 - 0x21 + 0xFF01).unwrap_or(c));
            } else {
                out.push(c);
            }
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn any_paste_mangling_parses_to_the_same_invite(
            inserts in prop::collection::vec((0usize..400, noise()), 0..12),
            upper in prop::collection::vec(any::<bool>(), 1..8),
            full_width in any::<bool>(),
            typo_at in 4usize..300,
            typo_by in 1usize..32,
        ) {
            let inv = invite(NOW_MS + 1);
            let code = inv.to_text().unwrap();
            let inserts: Vec<(usize, &str)> =
                inserts.into_iter().map(|(i, s)| (i % code.len(), s)).collect();
            let text = mangle(&code, &inserts, &upper, full_width);
            prop_assert_eq!(Invite::parse(&text, NOW_MS), Ok(inv));

            // The same mangling of a code with one real typo is still caught.
            let i = typo_at % (code.len() - 4) + 4;
            let pos = CHARSET.find(&code[i..=i]).unwrap();
            let other = CHARSET.as_bytes()[(pos + typo_by) % CHARSET.len()] as char;
            let mut typo = code.clone();
            typo.replace_range(i..=i, &other.to_string());
            let text = mangle(&typo, &inserts, &upper, full_width);
            prop_assert_eq!(Invite::parse(&text, NOW_MS), Err(invite::Error::Checksum));
        }
    }
}
