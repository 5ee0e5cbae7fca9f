//! Text written by other people: how it is shown safely, and which names are acceptable.
//!
//! ## Showing text: [`escape`]
//! Every byte of a message, a note, a group name or a profile may come from an attacker.
//! Printed raw to a terminal, control characters rewrite the screen (`ESC ] 0 ;` sets the
//! window title, `ESC [ 2 J` clears it, `CR` moves back over what is printed), and format
//! characters lie about what is there (U+202E RIGHT-TO-LEFT OVERRIDE shows `official\u{202e}gnp.exe`
//! as `officialexe.png`; zero-width characters hide text). [`escape`] turns each character of
//! the general categories Cc (controls, DEL and the C1 range included), Cf (format: bidi
//! controls and isolates, zero-width space and joiners, soft hyphen, BOM, tag characters),
//! Zl and Zp (line and paragraph separators) into a visible escape: `\e`, `\n`, `\r`, `\t`,
//! `\a`, `\b`, `\0`, and `\u{202e}` for the rest. Printable text is returned unchanged (a
//! backslash is not doubled: the output is for people, not for parsing). The one exception is
//! U+200D ZERO WIDTH JOINER between two emoji, where it joins a sequence such as man, ZWJ, laptop (one emoji) and
//! hides nothing.
//!
//! ## Names: [`validate_name`]
//! Group names, tags and display names are shown in lists and searched for, so they must say
//! what they look like. Every node checks them where they enter (a genesis, a meta message,
//! a card, a profile), so a name crafted outside qun is refused everywhere. A name is refused
//! when it is empty or too long, when nothing in it is visible (only spaces, zero-width
//! characters, Hangul fillers U+115F, U+1160, U+3164, U+FFA0, the blank braille pattern
//! U+2800, combining marks...), and when it holds a control character, a line or paragraph
//! separator, or a format character. U+200C ZERO WIDTH NON-JOINER and U+200D ZERO WIDTH
//! JOINER are allowed between two letters, marks or emoji that are not ASCII (Persian and
//! Indic words and emoji sequences need them), a simplified form of the CONTEXTJ rule of
//! IDNA (RFC 5892, appendix A.1 and A.2).
//!
//! [`normalize_name`] (trim, then NFC) is applied to names when they are created and when
//! they are looked up, so `"hiking "` and `"hiking"`, or `Café` typed with a precomposed or
//! a combining accent, name the same group.

use std::borrow::Cow;
use std::fmt::Write as _;

use unicode_normalization::UnicodeNormalization;
use unicode_properties::{
    GeneralCategory, GeneralCategoryGroup, UnicodeEmoji, UnicodeGeneralCategory,
};

/// Which kind of name is checked (it names the field in errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    /// A group's name (genesis, card, a group shown on a profile).
    Group,
    /// A search tag of a group.
    Tag,
    /// A person's display name (profile).
    Display,
}

impl std::fmt::Display for NameKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NameKind::Group => "group name",
            NameKind::Tag => "tag",
            NameKind::Display => "display name",
        })
    }
}

/// Why a name is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Nothing at all.
    #[error("the {kind} is empty")]
    Empty {
        /// Which name.
        kind: NameKind,
    },
    /// Longer than its limit.
    #[error("the {kind} is {len} bytes; at most {max}")]
    TooLong {
        /// Which name.
        kind: NameKind,
        /// Its length, bytes of UTF-8.
        len: usize,
        /// The limit, bytes.
        max: usize,
    },
    /// Only spaces and characters that show nothing.
    #[error("the {kind} shows nothing: it has only spaces, invisible or blank characters")]
    NothingVisible {
        /// Which name.
        kind: NameKind,
    },
    /// A control character (category Cc: C0, DEL, C1; newline and tab included).
    #[error("the {kind} has the control character {} at character {at}", escape_char(*ch))]
    Control {
        /// Which name.
        kind: NameKind,
        /// The character.
        ch: char,
        /// Its index, in characters.
        at: usize,
    },
    /// A line or paragraph separator (U+2028, U+2029).
    #[error("the {kind} has the line break {} at character {at}", escape_char(*ch))]
    LineBreak {
        /// Which name.
        kind: NameKind,
        /// The character.
        ch: char,
        /// Its index, in characters.
        at: usize,
    },
    /// A format character (category Cf): bidi override, embedding or isolate, zero-width
    /// space, a joiner out of place, soft hyphen, BOM, tag character...
    #[error(
        "the {kind} has the invisible format or text-direction character {} at character {at}",
        escape_char(*ch)
    )]
    Format {
        /// Which name.
        kind: NameKind,
        /// The character.
        ch: char,
        /// Its index, in characters.
        at: usize,
    },
}

/// Whether `c` must be escaped before it reaches a terminal: categories Cc, Cf, Zl, Zp.
pub fn is_unsafe(c: char) -> bool {
    matches!(
        c.general_category(),
        GeneralCategory::Control
            | GeneralCategory::Format
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
    )
}

/// The visible escape of one unsafe character: `\e`, `\n`... or `\u{202e}`.
fn escape_char(c: char) -> String {
    match c {
        '\0' => "\\0".into(),
        '\u{7}' => "\\a".into(),
        '\u{8}' => "\\b".into(),
        '\t' => "\\t".into(),
        '\n' => "\\n".into(),
        '\u{b}' => "\\v".into(),
        '\u{c}' => "\\f".into(),
        '\r' => "\\r".into(),
        '\u{1b}' => "\\e".into(),
        c => format!("\\u{{{:x}}}", c as u32),
    }
}

/// Whether `c` is an emoji (not an ASCII digit, `#` or `*`, which Unicode also counts).
fn is_emoji(c: char) -> bool {
    !c.is_ascii() && c.is_emoji_char_or_emoji_component() && c != '\u{200d}'
}

/// A ZWJ between two emoji: part of one emoji sequence.
fn joins_emoji(prev: Option<char>, next: Option<char>) -> bool {
    prev.is_some_and(is_emoji) && next.is_some_and(is_emoji)
}

/// Latest time [`utc`] writes as a date: 9999-12-31T23:59:59Z, in ms since the Unix epoch
/// (the HTTP date format has four-digit years).
const LAST_DATE_MS: u64 = 253_402_300_799_000;

/// A time in ms since the Unix epoch as people read it, in UTC, in the HTTP date format of
/// RFC 9110, section 5.6.7 (`Sat, 05 Dec 2026 01:05:33 GMT`). Beyond year 9999 (only a
/// hostile stamp gets there) it says `<ms> ms after 1970`.
pub fn utc(ms: u64) -> String {
    if ms > LAST_DATE_MS {
        return format!("{ms} ms after 1970");
    }
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
    httpdate::fmt_http_date(t)
}

/// `text` with every control, format, line and paragraph separator character replaced by a
/// visible escape (see the module docs); borrowed when there is nothing to escape. The one
/// function every human-readable printer uses for text that came from someone else.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len() + 16);
    for (i, &c) in chars.iter().enumerate() {
        let keep = !is_unsafe(c)
            || (c == '\u{200d}'
                && joins_emoji(
                    i.checked_sub(1).map(|p| chars[p]),
                    chars.get(i + 1).copied(),
                ));
        if keep {
            out.push(c);
        } else {
            let _ = write!(out, "{}", escape_char(c));
        }
    }
    Cow::Owned(out)
}

/// Trims surrounding whitespace and puts `name` in Unicode NFC, as names are created and
/// looked up.
pub fn normalize_name(name: &str) -> String {
    name.trim().nfc().collect()
}

/// Whether `text` shows nothing at all: empty, or only spaces, marks, controls, format
/// characters and blank fillers (a message of `" "` or `"\u{200b}"`). A user's blank post
/// or announcement is refused before it is signed.
pub fn is_blank(text: &str) -> bool {
    !text.chars().any(is_visible)
}

/// Characters of the letter, number, punctuation or symbol categories that show nothing:
/// the Hangul fillers and the blank braille pattern.
const BLANK_GRAPHIC: [char; 5] = ['\u{115F}', '\u{1160}', '\u{3164}', '\u{FFA0}', '\u{2800}'];

/// Whether `c` shows something on its own: a letter, number, punctuation mark or symbol
/// that is not a blank filler. Spaces, marks, controls and format characters do not.
fn is_visible(c: char) -> bool {
    matches!(
        c.general_category_group(),
        GeneralCategoryGroup::Letter
            | GeneralCategoryGroup::Number
            | GeneralCategoryGroup::Punctuation
            | GeneralCategoryGroup::Symbol
    ) && !BLANK_GRAPHIC.contains(&c)
}

/// A letter, mark or emoji outside ASCII: what a ZWNJ or ZWJ may stand between.
fn joinable(c: char) -> bool {
    !c.is_ascii()
        && (matches!(
            c.general_category_group(),
            GeneralCategoryGroup::Letter | GeneralCategoryGroup::Mark
        ) || is_emoji(c))
}

/// Checks a name of `kind` against the rules of the module docs and the limit of `max`
/// bytes.
pub fn validate_name(kind: NameKind, name: &str, max: usize) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty { kind });
    }
    if name.len() > max {
        return Err(NameError::TooLong {
            kind,
            len: name.len(),
            max,
        });
    }
    if !name.chars().any(is_visible) {
        return Err(NameError::NothingVisible { kind });
    }
    let chars: Vec<char> = name.chars().collect();
    for (at, &ch) in chars.iter().enumerate() {
        match ch.general_category() {
            GeneralCategory::Control => return Err(NameError::Control { kind, ch, at }),
            GeneralCategory::LineSeparator | GeneralCategory::ParagraphSeparator => {
                return Err(NameError::LineBreak { kind, ch, at });
            }
            GeneralCategory::Format => {
                let joiner = matches!(ch, '\u{200C}' | '\u{200D}');
                let prev = at.checked_sub(1).map(|p| chars[p]);
                let next = chars.get(at + 1).copied();
                if !(joiner && prev.is_some_and(joinable) && next.is_some_and(joinable)) {
                    return Err(NameError::Format { kind, ch, at });
                }
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MAX: usize = 96;

    #[test]
    fn blank_text_is_what_shows_nothing() {
        for blank in [
            "",
            " ",
            "\t\n",
            "\u{200b}\u{200d}",
            "\u{3164}",
            "\u{3000}",
            "\u{301}",
        ] {
            assert!(is_blank(blank), "{blank:?}");
        }
        for shown in ["a", " .", "🏔", "周", "\u{200b}x"] {
            assert!(!is_blank(shown), "{shown:?}");
        }
    }

    #[test]
    fn escapes_the_terminal_attack() {
        let attack = "hi\u{1b}]0;PWNED\u{7}\u{1b}[2J\u{1b}[31mfake\u{1b}[0m\rX";
        assert_eq!(
            escape(attack),
            "hi\\e]0;PWNED\\a\\e[2J\\e[31mfake\\e[0m\\rX"
        );
        assert_eq!(
            escape("official\u{202e}gnp.exe"),
            "official\\u{202e}gnp.exe"
        );
        assert_eq!(
            escape("a\nb\u{2028}c\u{85}d\u{7f}"),
            "a\\nb\\u{2028}c\\u{85}d\\u{7f}"
        );
        assert_eq!(
            escape("soft\u{ad}hyphen\u{feff}"),
            "soft\\u{ad}hyphen\\u{feff}"
        );
        assert_eq!(escape("x\u{200d}y"), "x\\u{200d}y");
        assert_eq!(escape("\u{200d}👩"), "\\u{200d}👩");
        // An emoji sequence keeps its joiner; printable text is untouched and borrowed.
        assert_eq!(escape("👨\u{200d}💻"), "👨\u{200d}💻");
        assert!(matches!(escape("小林: 周末爬山 🏔 \\e"), Cow::Borrowed(_)));
    }

    #[test]
    fn refuses_names_that_show_nothing_or_lie() {
        let k = NameKind::Group;
        for blank in [
            "\u{200b}",
            "\u{200d}",
            "\u{2060}",
            "\u{feff}",
            "\u{3164}",
            "\u{2800}",
            "\u{115f}\u{1160}",
            "\u{ffa0}",
            " \u{3000}\u{a0} ",
            "\u{301}\u{301}",
            "\u{200b} \u{200d}",
        ] {
            assert_eq!(
                validate_name(k, blank, MAX),
                Err(NameError::NothingVisible { kind: k }),
                "{blank:?}"
            );
        }
        assert_eq!(
            validate_name(k, "official\u{202e}gnp.exe", MAX),
            Err(NameError::Format {
                kind: k,
                ch: '\u{202e}',
                at: 8
            })
        );
        assert_eq!(
            validate_name(k, "line1\nline2", MAX),
            Err(NameError::Control {
                kind: k,
                ch: '\n',
                at: 5
            })
        );
        assert_eq!(
            validate_name(k, "a\u{1}b", MAX),
            Err(NameError::Control {
                kind: k,
                ch: '\u{1}',
                at: 1
            })
        );
        assert_eq!(
            validate_name(k, "a\u{2029}b", MAX),
            Err(NameError::LineBreak {
                kind: k,
                ch: '\u{2029}',
                at: 1
            })
        );
        for bad in [
            "admin\u{200b}",
            "ad\u{200d}min",
            "\u{2066}x\u{2069}",
            "x\u{ad}y",
            "a\u{e0041}",
        ] {
            assert!(
                matches!(validate_name(k, bad, MAX), Err(NameError::Format { .. })),
                "{bad:?}"
            );
        }
        assert_eq!(validate_name(k, "", MAX), Err(NameError::Empty { kind: k }));
        assert_eq!(
            validate_name(k, &"x".repeat(MAX + 1), MAX),
            Err(NameError::TooLong {
                kind: k,
                len: MAX + 1,
                max: MAX
            })
        );
        let err = validate_name(k, "official\u{202e}gnp.exe", MAX).unwrap_err();
        assert!(!err.to_string().chars().any(is_unsafe), "{err}");
    }

    #[test]
    fn accepts_real_names() {
        for good in [
            "周末爬山群",
            "Café",
            "ชมรมถ่ายภาพ",
            "می\u{200c}خواهم",
            "👨\u{200d}👩\u{200d}👧 family",
            "hiking club",
            "小林",
            "C++ & Rust",
            "x",
        ] {
            assert_eq!(
                validate_name(NameKind::Group, good, MAX),
                Ok(()),
                "{good:?}"
            );
        }
    }

    #[test]
    fn names_normalise_to_one_form() {
        assert_eq!(normalize_name("hiking "), "hiking");
        assert_eq!(normalize_name(" Cafe\u{301}\n"), "Caf\u{e9}");
        assert_eq!(normalize_name("Caf\u{e9}"), normalize_name("Cafe\u{301}"));
    }

    proptest! {
        #[test]
        fn escaped_text_is_safe(s in any::<String>()) {
            let e = escape(&s);
            let chars: Vec<char> = e.chars().collect();
            for (i, c) in chars.iter().enumerate() {
                let emoji_joiner = *c == '\u{200d}'
                    && i > 0
                    && is_emoji(chars[i - 1])
                    && chars.get(i + 1).is_some_and(|n| is_emoji(*n));
                prop_assert!(!is_unsafe(*c) || emoji_joiner, "{:?} in {:?}", c, e);
            }
        }

        #[test]
        fn printable_text_is_unchanged(s in any::<String>()) {
            let printable: String = s.chars().filter(|c| !is_unsafe(*c)).collect();
            prop_assert_eq!(escape(&printable), printable.as_str());
        }

        #[test]
        fn validate_never_panics(s in any::<String>()) {
            let _ = validate_name(NameKind::Display, &s, 64);
        }
    }
}
