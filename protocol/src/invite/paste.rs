//! Finding a code in pasted text, whatever the paste did to it.
//!
//! Chat apps, mail clients and phone keyboards change what they carry: a mail client folds
//! long lines at 76 columns (with CRLF), a chat app inserts zero-width spaces or soft
//! hyphens where it may break a line, a phone capitalises the first letter, and an input
//! method in full-width mode types `ｑｕｎ１…`. None of these can be a character of a code
//! (bech32 uses 32 lowercase ASCII letters and digits), so the text is cleaned first:
//!
//! 1. NFKC (full-width forms become ASCII; compatibility spaces become spaces);
//! 2. zero-width characters (U+200B–U+200D, U+2060, U+FEFF) and soft hyphens (U+00AD) are
//!    dropped wherever they are;
//! 3. everything is lower-cased (bech32 forbids mixed case, so case carries nothing).
//!
//! A code starts at `<prefix>1` at the start of a word; it runs over bech32 characters and
//! the whitespace between them (a fold or a stray space inside the code). Where the code
//! ends and the text goes on ("qun1… see you"), the run may have taken the next word too:
//! the candidates are the whole run, then the run cut at each whitespace from the last
//! backwards, and the checksum picks the right one (a wrong cut passes the BCH checksum with
//! odds of about 2^-30, and a code's signature is checked after it).

use unicode_normalization::UnicodeNormalization;

use super::Error;
use crate::limits::{MAX_INVITE_CHARS, MAX_PASTE_BYTES};

/// The 32 characters of bech32's data part.
const CHARSET: &str = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

/// Most cut candidates tried for one code (a fold every 76 columns of a maximal code
/// makes 14 lines; stray spaces add a few).
const MAX_CANDIDATES: usize = 64;

/// Whether `c` is an invisible character a paste may put inside a code: zero-width space,
/// non-joiner and joiner (U+200B–U+200D), word joiner (U+2060), byte order mark / zero-width
/// no-break space (U+FEFF), soft hyphen (U+00AD).
pub fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{00AD}'
    )
}

/// Cleans pasted text: NFKC, invisible characters dropped, lower case.
fn clean(text: &str) -> Vec<char> {
    text.nfkc()
        .filter(|c| !is_invisible(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

/// The payload of the code for `prefix` in `text`: the first candidate whose checksum
/// passes. When none does, the error is the one of the first code's longest candidate (the
/// whole run: what the user most likely meant).
pub fn decode(text: &str, prefix: &str) -> Result<Vec<u8>, Error> {
    let mut first_error = None;
    for cuts in candidates(text, prefix)? {
        for code in cuts {
            match super::checked_bytes(&code, prefix) {
                Ok(bytes) => return Ok(bytes),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
    }
    Err(first_error.unwrap_or(Error::NotFound))
}

/// The candidate codes for `prefix` (e.g. `qun`) found in `text`, by start position; each
/// start's candidates are longest first, without whitespace, all ASCII lower case.
pub fn candidates(text: &str, prefix: &str) -> Result<Vec<Vec<String>>, Error> {
    if text.len() > MAX_PASTE_BYTES {
        return Err(Error::PasteTooLong {
            len: text.len(),
            max: MAX_PASTE_BYTES,
        });
    }
    let chars = clean(text);
    let head: Vec<char> = prefix.chars().chain(std::iter::once('1')).collect();
    let mut found = Vec::new();
    for start in 0..chars.len() {
        let at_word_start = start == 0 || !chars[start - 1].is_ascii_alphanumeric();
        if at_word_start && chars[start..].starts_with(&head) {
            found.push(cuts(&chars[start + head.len()..], &head)?);
        }
    }
    if found.is_empty() {
        return Err(Error::NotFound);
    }
    Ok(found)
}

/// The run of data characters after a code's head, whole and cut at each whitespace.
fn cuts(rest: &[char], head: &[char]) -> Result<Vec<String>, Error> {
    let mut data = String::new();
    let mut boundaries = Vec::new();
    for &c in rest {
        if CHARSET.contains(c) {
            data.push(c);
        } else if c.is_whitespace() {
            if boundaries.last() != Some(&data.len()) {
                boundaries.push(data.len());
            }
        } else {
            break;
        }
        if head.len() + data.len() > MAX_INVITE_CHARS && boundaries.is_empty() {
            // One unbroken run longer than any code: nothing to cut, say so.
            let len = head.len() + rest.iter().take_while(|c| CHARSET.contains(**c)).count();
            return Err(Error::TooLong {
                len,
                max: MAX_INVITE_CHARS,
            });
        }
        if data.len() > 2 * MAX_INVITE_CHARS {
            break;
        }
    }
    let head: String = head.iter().collect();
    let mut out = vec![format!("{head}{data}")];
    for &b in boundaries.iter().rev() {
        if b > 0 && b < data.len() && out.len() < MAX_CANDIDATES {
            out.push(format!("{head}{}", &data[..b]));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleaning_undoes_what_pastes_do() {
        let c: String = clean("Ｑｕｎ１ab\u{200B}c\u{00AD}d\u{FEFF}")
            .into_iter()
            .collect();
        assert_eq!(c, "qun1abcd");
    }

    #[test]
    fn a_run_is_cut_at_each_whitespace_longest_first() {
        let found = candidates("see: qun1qq pp\r\nzz yes", "qun").unwrap();
        assert_eq!(
            found,
            vec![vec![
                "qun1qqppzzyes".to_owned(),
                "qun1qqppzz".to_owned(),
                "qun1qqpp".to_owned(),
                "qun1qq".to_owned(),
            ]]
        );
    }

    #[test]
    fn a_code_starts_a_word() {
        assert_eq!(candidates("xqun1qq", "qun"), Err(Error::NotFound));
        assert_eq!(candidates("quns1qq", "qun"), Err(Error::NotFound));
    }
}
