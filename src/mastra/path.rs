//! Ids in upstream URLs. Every id a client sends is hostile until proven to be one path segment:
//! a [`PathId`] is the only way an id gets into an upstream path, and it can only be made from a
//! string that cannot be valid as anything else than one segment's content.
//!
//! The checks refuse what percent-encoding cannot make safe: `.` and `..` (URL parsers resolve
//! them, encoded or not: WHATWG treats `%2e%2e` as `..`), the empty string, control characters
//! and ids longer than [`MAX_ID_BYTES`]. Everything else is encoded so that only RFC 3986's
//! unreserved characters (`A–Z a–z 0–9 - . _ ~`) go out as they are: `/`, `\` (a path separator
//! to WHATWG parsers), `%`, `?`, `#` and the rest cannot end the segment.

use std::fmt;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Longest id accepted, in bytes. OpenAI's ids are ~50 characters and Mastra's uuids 36; 256
/// leaves room for any sane client-chosen thread id.
pub const MAX_ID_BYTES: usize = 256;

/// Everything but RFC 3986's unreserved characters is escaped.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// An id proven fit to be exactly one upstream path segment. `Display` writes it encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathId<'a>(&'a str);

impl<'a> PathId<'a> {
    /// `raw` when it can be an id at all; `None` for what no valid id looks like.
    pub fn new(raw: &'a str) -> Option<Self> {
        is_plausible_id(raw).then_some(Self(raw))
    }

    pub fn as_str(&self) -> &'a str {
        self.0
    }
}

impl fmt::Display for PathId<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&utf8_percent_encode(self.0, SEGMENT), f)
    }
}

/// Whether `raw` could be the id of anything: not empty, at most [`MAX_ID_BYTES`], no control
/// character, and not a dot segment. Used for ids that never reach a path (cursors, item ids)
/// too, so that every id is judged by one rule.
pub fn is_plausible_id(raw: &str) -> bool {
    !raw.is_empty()
        && raw.len() <= MAX_ID_BYTES
        && raw != "."
        && raw != ".."
        && !raw.chars().any(char::is_control)
}

/// An id as it may be quoted back in an error message: control characters replaced and at most
/// 64 characters, so that a hostile id cannot make the answer (or a log line) huge or garbled.
pub fn quoted(raw: &str) -> String {
    let mut out: String = raw
        .chars()
        .take(64)
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect();
    if raw.chars().nth(64).is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_cannot_be_an_id() {
        for bad in [
            "",
            ".",
            "..",
            "a\0b",
            "a\nb",
            "\u{7f}",
            "\u{85}",
            &"x".repeat(MAX_ID_BYTES + 1),
        ] {
            assert!(PathId::new(bad).is_none(), "{bad:?}");
        }
        for good in [
            "resp_abc",
            "msg_e69b8ba3-a0c2-443b-9988-a6adc6afac5c",
            "...",
            "a..b",
            "x\\..\\..\\conversations\\y",
            "%2e%2e",
            "a/b",
            "ünïcødé 🙂",
            &"x".repeat(MAX_ID_BYTES),
        ] {
            assert!(PathId::new(good).is_some(), "{good:?}");
        }
    }

    #[test]
    fn encodes_into_one_segment() {
        let enc = |s: &str| PathId::new(s).expect("plausible").to_string();
        assert_eq!(enc("msg_A-b.c~d"), "msg_A-b.c~d");
        assert_eq!(enc("a/b"), "a%2Fb");
        assert_eq!(enc("x\\..\\y"), "x%5C..%5Cy");
        assert_eq!(enc("%2e%2e"), "%252e%252e");
        assert_eq!(enc("a?b#c d"), "a%3Fb%23c%20d");
        assert_eq!(enc("é"), "%C3%A9");
        for s in ["a/b", "x\\..\\..\\conversations\\y", "?#%", "é/ü"] {
            let e = enc(s);
            assert!(
                e.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)),
                "{e}"
            );
            let back = percent_encoding::percent_decode_str(&e)
                .decode_utf8()
                .unwrap();
            assert_eq!(back, s);
        }
    }

    #[test]
    fn quoting_bounds_and_cleans() {
        assert_eq!(quoted("abc"), "abc");
        assert_eq!(quoted("a\nb"), "a\u{FFFD}b");
        let long = "x".repeat(100);
        assert_eq!(quoted(&long).chars().count(), 65);
    }
}
