//! Search tokens: how a group's name and tags are indexed, and how a query is read.
//!
//! Text is first normalised: Unicode NFKC (full-width "ＡＢＣ" becomes "abc", compatibility
//! ideographs become their unified form) and then lowercased. It is then cut into runs:
//! * a run of text written without spaces between words gives every unit and every pair of
//!   neighbouring units (bigram). For CJK (Han, kana, Hangul) a unit is a character:
//!   "深圳摄影" → 深 圳 摄 影 深圳 圳摄 摄影, so a Chinese name is found by any two-character
//!   part of it, and by any single character. Thai, Lao, Khmer and Myanmar are written
//!   without spaces too, with vowel signs and tone marks that are characters of their own:
//!   there a unit is a grapheme cluster (UAX #29), so a mark stays with its letter and
//!   "ภาพ" finds "ชมรมถ่ายภาพ";
//! * a run of other letters and digits is a word; it gives itself (if at least 2
//!   characters) and its prefixes from 3 characters up to [`MAX_PREFIX_CHARS`]:
//!   "photography" → pho phot photo ... photography (cut at 12 characters);
//! * everything else separates runs.
//!
//! A tag is indexed like a name, and also whole (normalised), so a multi-word tag is found
//! as typed. A group is indexed under at most [`MAX_INDEX_TOKENS`] tokens.
//!
//! A query is read the same way, but it asks only for what must match: the bigrams of a
//! CJK run (or the character, for a run of one), and each word (cut to
//! [`MAX_PREFIX_CHARS`]; words of one character are dropped). Each token becomes a DHT
//! provider key with [`provider_key`]: the SHA-256 multihash (`0x12 0x20 ‖ digest`) of a
//! domain-separated token, the key form other libp2p implementations also store.

use std::collections::BTreeSet;

use sha2::{Digest, Sha256};
use unicode_normalization::UnicodeNormalization;
use unicode_segmentation::UnicodeSegmentation;

use crate::limits::{MAX_INDEX_TOKENS, MAX_PREFIX_CHARS, MAX_QUERY_TOKENS};

/// Domain prefix hashed before a token.
const DOMAIN_KEYWORD: &[u8] = b"qun/v1/keyword\0";

/// Length of a provider key (2-byte multihash header + 32-byte SHA-256).
pub const PROVIDER_KEY_LEN: usize = 34;

/// NFKC, lowercase, and NFKC again (lowercasing can leave text that is not NFKC, e.g.
/// "İ" followed by a combining mark), so that normalising twice changes nothing.
pub fn normalize(text: &str) -> String {
    text.nfkc()
        .collect::<String>()
        .to_lowercase()
        .nfkc()
        .collect()
}

/// Whether `c` is written without spaces between words (Han, kana, Hangul).
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x3098        // Hiragana (not the voiced sound marks after it)
        | 0x309D..=0x30FA      // Hiragana iteration marks, Katakana (not the middle dot)
        | 0x30FC..=0x30FF      // prolonged sound mark, Katakana iteration marks
        | 0x3400..=0x4DBF      // CJK Extension A
        | 0x4E00..=0x9FFF      // CJK Unified Ideographs
        | 0xAC00..=0xD7AF      // Hangul syllables
        | 0xF900..=0xFAFF      // CJK Compatibility Ideographs
        | 0x20000..=0x2FA1F    // Extensions B-F, compatibility supplement
    )
}

/// Whether `c` is of a script written without spaces whose units are grapheme clusters:
/// Thai, Lao, Myanmar (with its extensions A and B) and Khmer (with its symbols), marks
/// included.
pub fn is_spaceless(c: char) -> bool {
    matches!(c as u32,
        0x0E00..=0x0E7F        // Thai
        | 0x0E80..=0x0EFF      // Lao
        | 0x1000..=0x109F      // Myanmar
        | 0x1780..=0x17FF      // Khmer
        | 0x19E0..=0x19FF      // Khmer symbols
        | 0xA9E0..=0xA9FF      // Myanmar extended B
        | 0xAA60..=0xAA7F      // Myanmar extended A
    )
}

/// A run of normalised text.
#[derive(Debug, PartialEq, Eq)]
enum Run {
    /// Text without spaces, cut into units (characters, or grapheme clusters).
    Cjk(Vec<String>),
    /// A word of letters and digits.
    Word(Vec<char>),
}

/// Which run a character belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Spaceless,
    Word,
    Separator,
}

fn class(c: char) -> Class {
    if is_cjk(c) || is_spaceless(c) {
        Class::Spaceless
    } else if c.is_alphanumeric() {
        Class::Word
    } else {
        Class::Separator
    }
}

fn runs(normalized: &str) -> Vec<Run> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut cur = Class::Separator;
    let mut push = |class: Class, s: &str| match class {
        Class::Spaceless => out.push(Run::Cjk(s.graphemes(true).map(str::to_owned).collect())),
        Class::Word => out.push(Run::Word(s.chars().collect())),
        Class::Separator => {}
    };
    for (i, c) in normalized.char_indices() {
        let k = class(c);
        if k != cur {
            push(cur, &normalized[start..i]);
            (start, cur) = (i, k);
        }
    }
    push(cur, &normalized[start..]);
    out
}

fn bigrams(units: &[String]) -> impl Iterator<Item = String> + '_ {
    units.windows(2).map(|w| w.concat())
}

/// Pushes tokens in order, once each, up to the cap.
struct Tokens {
    seen: BTreeSet<String>,
    order: Vec<String>,
    cap: usize,
}

impl Tokens {
    fn new(cap: usize) -> Self {
        Self {
            seen: BTreeSet::new(),
            order: Vec::new(),
            cap,
        }
    }

    fn push(&mut self, t: String) {
        if self.order.len() < self.cap && !t.is_empty() && self.seen.insert(t.clone()) {
            self.order.push(t);
        }
    }
}

fn index_text(text: &str, out: &mut Tokens) {
    for run in runs(&normalize(text)) {
        match run {
            Run::Cjk(units) => {
                bigrams(&units).for_each(|b| out.push(b));
                units.into_iter().for_each(|u| out.push(u));
            }
            Run::Word(chars) => {
                if chars.len() >= 2 {
                    out.push(chars.iter().take(MAX_PREFIX_CHARS).collect());
                }
                for n in 3..=chars.len().min(MAX_PREFIX_CHARS) {
                    out.push(chars[..n].iter().collect());
                }
            }
        }
    }
}

/// The tokens a group is indexed under, most specific first (whole tags, then name
/// bigrams and words, then the rest), at most [`MAX_INDEX_TOKENS`].
pub fn index_tokens(name: &str, tags: &[String]) -> Vec<String> {
    let mut out = Tokens::new(MAX_INDEX_TOKENS);
    for tag in tags {
        out.push(normalize(tag.trim()));
    }
    index_text(name, &mut out);
    for tag in tags {
        index_text(tag, &mut out);
    }
    out.order
}

/// The tokens a query asks for, each of which a matching group must be indexed under, at
/// most [`MAX_QUERY_TOKENS`].
pub fn query_tokens(query: &str) -> Vec<String> {
    let mut out = Tokens::new(MAX_QUERY_TOKENS);
    for run in runs(&normalize(query)) {
        match run {
            Run::Cjk(mut units) if units.len() == 1 => out.push(units.remove(0)),
            Run::Cjk(units) => bigrams(&units).for_each(|b| out.push(b)),
            Run::Word(chars) if chars.len() >= 2 => {
                out.push(chars.iter().take(MAX_PREFIX_CHARS).collect())
            }
            Run::Word(_) => {}
        }
    }
    out.order
}

/// How many of `query` tokens a group indexed under `indexed` matches.
pub fn matched(query: &[String], indexed: &[String]) -> usize {
    query.iter().filter(|t| indexed.contains(t)).count()
}

/// The DHT provider key of a token: a SHA-256 multihash of the domain-separated token.
pub fn provider_key(token: &str) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(DOMAIN_KEYWORD);
    h.update(token.as_bytes());
    let mut key = vec![0x12, 0x20];
    key.extend_from_slice(&h.finalize());
    key
}

/// Whether `key` has the shape of a provider key (the DHT refuses provider records under
/// anything else).
pub fn is_provider_key(key: &[u8]) -> bool {
    key.len() == PROVIDER_KEY_LEN && key[0] == 0x12 && key[1] == 0x20
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn chinese_name_by_any_two_characters() {
        let idx = index_tokens("深圳摄影爱好者", &[]);
        for part in ["深圳", "摄影", "爱好", "好者", "影爱"] {
            let q = query_tokens(part);
            assert_eq!(q, s(&[part]));
            assert_eq!(matched(&q, &idx), 1, "{part}");
        }
        assert_eq!(matched(&query_tokens("摄影爱好"), &idx), 3);
        assert_eq!(matched(&query_tokens("影"), &idx), 1);
        assert_eq!(matched(&query_tokens("北京"), &idx), 0);
    }

    #[test]
    fn latin_words_and_prefixes() {
        let idx = index_tokens("Shenzhen Photo Club", &s(&["Photography", "night sky"]));
        assert!(idx.contains(&"photography".to_string()));
        assert!(idx.contains(&"night sky".to_string()));
        for q in [
            "photo",
            "PHOTOG",
            "shen",
            "club",
            "night",
            "sky",
            "Photography",
        ] {
            assert_eq!(matched(&query_tokens(q), &idx), 1, "{q}");
        }
        assert_eq!(matched(&query_tokens("photon"), &idx), 0);
        // A one-letter word asks for nothing.
        assert!(query_tokens("a").is_empty());
    }

    #[test]
    fn nfkc_and_case() {
        // Full-width Latin letters and the compatibility ideograph U+F9D1 (六).
        assert_eq!(normalize("ＰＨＯＴＯ"), "photo");
        assert_eq!(normalize("\u{F9D1}"), "\u{516D}");
        let idx = index_tokens("ＰＨＯＴＯ 俱乐部", &[]);
        assert_eq!(matched(&query_tokens("photo"), &idx), 1);
        assert_eq!(matched(&query_tokens("俱乐"), &idx), 1);
    }

    #[test]
    fn mixed_runs() {
        assert_eq!(query_tokens("深圳photo摄影"), s(&["深圳", "photo", "摄影"]));
        assert_eq!(query_tokens("  ,,, "), Vec::<String>::new());
    }

    #[test]
    fn caps() {
        let long: String = "字".repeat(40) + &"甲乙丙丁戊己庚辛壬癸".repeat(3);
        assert!(index_tokens(&long, &[]).len() <= MAX_INDEX_TOKENS);
        let q: String = "子丑寅卯辰巳午未申酉戌亥".repeat(3);
        assert_eq!(query_tokens(&q).len(), MAX_QUERY_TOKENS);
        let word = "a".repeat(100);
        assert!(
            index_tokens(&word, &[])
                .iter()
                .all(|t| t.chars().count() <= MAX_PREFIX_CHARS)
        );
    }

    #[test]
    fn thai_lao_khmer_myanmar_by_grapheme_clusters() {
        let idx = index_tokens("ชมรมถ่ายภาพ", &[]);
        // The tone mark stays with its letter: ถ่ is one unit, never ่ alone.
        assert!(idx.contains(&"ถ่".to_string()), "{idx:?}");
        assert!(!idx.contains(&"\u{e48}".to_string()), "{idx:?}");
        assert_eq!(query_tokens("ภาพ"), s(&["ภา", "าพ"]));
        assert_eq!(matched(&query_tokens("ภาพ"), &idx), 2);
        assert_eq!(matched(&query_tokens("ถ่าย"), &idx), 2);
        assert_eq!(matched(&query_tokens("ชมรม"), &idx), 3);
        assert_eq!(matched(&query_tokens("อาหาร"), &idx), 0);
        // Lao, Khmer and Myanmar are cut the same way.
        for (name, part) in [
            ("ສະມາຄົມຖ່າຍຮູບ", "ຖ່າຍ"),
            ("ក្លឹបថតរូប", "ថតរូប"),
            ("ဓာတ်ပုံအသင်း", "အသင်း"),
        ] {
            let q = query_tokens(part);
            assert!(!q.is_empty(), "{part}");
            assert_eq!(
                matched(&q, &index_tokens(name, &[])),
                q.len(),
                "{part} in {name}"
            );
        }
        // Mixed with Latin and CJK, runs still split where the script changes.
        assert_eq!(
            query_tokens("photo ภาพ 摄影"),
            s(&["photo", "ภา", "าพ", "摄影"])
        );
    }

    #[test]
    fn provider_keys() {
        let k = provider_key("摄影");
        assert!(is_provider_key(&k));
        assert_ne!(k, provider_key("摄"));
        assert!(!is_provider_key(b"/qun/card/x"));
    }
}
