//! A Server-Sent Events parser for `GET /v1/events`, sans-IO: bytes in, each event's data
//! out. Both clients feed it what they read.
//!
//! The format (the WHATWG HTML "server-sent events" section, the part a client needs):
//! lines end in `\n`, `\r\n` or `\r` (a `\r\n` split across two reads is one line end); a
//! line `field: value` (one space after the colon is dropped) adds to the event being
//! built; `data` lines are joined with `\n`; a blank line ends the event; lines starting
//! with `:` are comments (the daemon's keep-alives); other fields (`event`, `id`, `retry`)
//! are ignored, as the daemon sends none. An event of more than [`MAX_EVENT_BYTES`] is an
//! error rather than unbounded memory.

/// Most bytes of one event (its data lines and the line being read).
pub const MAX_EVENT_BYTES: usize = 1 << 20;

/// An event went past [`MAX_EVENT_BYTES`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an event of more than {MAX_EVENT_BYTES} bytes")]
pub struct TooLong;

/// The parser's state between reads.
#[derive(Debug, Default)]
pub struct Parser {
    /// The line read so far.
    line: Vec<u8>,
    /// The data of the event being built, lines joined with `\n`.
    data: String,
    /// Whether the event has a `data` field (an empty one counts).
    has_data: bool,
    /// The last line ended with `\r`: a `\n` next is part of that line end.
    after_cr: bool,
}

impl Parser {
    /// A parser at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads `bytes`, appending the data of each event they complete to `out`.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<String>) -> Result<(), TooLong> {
        for &b in bytes {
            let after_cr = std::mem::take(&mut self.after_cr);
            match b {
                b'\n' if after_cr => {}
                b'\n' => self.end_line(out),
                b'\r' => {
                    self.end_line(out);
                    self.after_cr = true;
                }
                _ => {
                    if self.line.len() + self.data.len() >= MAX_EVENT_BYTES {
                        return Err(TooLong);
                    }
                    self.line.push(b);
                }
            }
        }
        Ok(())
    }

    fn end_line(&mut self, out: &mut Vec<String>) {
        let line = std::mem::take(&mut self.line);
        if line.is_empty() {
            if std::mem::take(&mut self.has_data) {
                out.push(std::mem::take(&mut self.data));
            }
            return;
        }
        if line[0] == b':' {
            return;
        }
        let line = String::from_utf8_lossy(&line);
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line.as_ref(), ""),
        };
        if field == "data" {
            if self.has_data {
                self.data.push('\n');
            }
            self.data.push_str(value);
            self.has_data = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_in_pieces(text: &[u8], piece: usize) -> Vec<String> {
        let mut p = Parser::new();
        let mut out = Vec::new();
        for chunk in text.chunks(piece) {
            p.feed(chunk, &mut out).unwrap();
        }
        out
    }

    #[test]
    fn events_comments_and_line_ends() {
        let text = b":\n\ndata: {\"a\":1}\n\nevent: x\r\ndata:two\r\ndata: lines\r\n\r\n\
            id: 7\rdata: cr\r\r: keep-alive\n\ndata\n\nretry: 5\n\n";
        let want = ["{\"a\":1}", "two\nlines", "cr", ""];
        for piece in 1..=text.len() {
            assert_eq!(parse_in_pieces(text, piece), want, "pieces of {piece}");
        }
    }

    #[test]
    fn an_unfinished_event_is_not_given() {
        assert!(parse_in_pieces(b"data: half", 4).is_empty());
        assert!(parse_in_pieces(b"data: half\n", 4).is_empty());
    }

    #[test]
    fn utf8_split_across_reads() {
        let text = "data: 周末爬山\n\n".as_bytes();
        assert_eq!(parse_in_pieces(text, 1), ["周末爬山"]);
    }

    #[test]
    fn a_huge_event_is_refused() {
        let mut p = Parser::new();
        let mut out = Vec::new();
        let line = vec![b'x'; 64 * 1024];
        p.feed(b"data: ", &mut out).unwrap();
        let mut res = Ok(());
        for _ in 0..=(MAX_EVENT_BYTES / line.len()) {
            res = p.feed(&line, &mut out);
            if res.is_err() {
                break;
            }
        }
        assert_eq!(res, Err(TooLong));
        // Many small data lines count too.
        let mut p = Parser::new();
        let mut res = Ok(());
        for _ in 0..MAX_EVENT_BYTES {
            res = p.feed(b"data: 12\n", &mut out);
            if res.is_err() {
                break;
            }
        }
        assert_eq!(res, Err(TooLong));
        assert!(out.is_empty());
    }
}
