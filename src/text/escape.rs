//! How CONSUME prints keys and values on one line, and how PRODUCE reads an escaped key.
//!
//! Values are printed as UTF-8 with `\` → `\\`, newline → `\n`, carriage return → `\r`,
//! tab → `\t`, and every byte that is not part of valid UTF-8 → `\xHH` (two lowercase hex
//! digits). The other ASCII control characters (0x00-0x1f, 0x7f) are `\xHH` too, so a
//! reply never carries terminal escape sequences. Spaces in values are kept: the value is
//! the rest of the line.
//!
//! Keys are space-delimited, so they also escape space → `\s`; a null key prints as `-`,
//! and a key that is literally `-` prints as `\-` so the two stay distinct. An empty
//! (non-null) key prints as nothing, leaving two spaces between offset and value.
//!
//! Invariant: `unescape_key(&escape_key(Some(k))) == Some(k)` for every non-empty `k`.

use std::fmt::Write;

/// Appends `bytes` escaped as a value.
pub fn push_value(out: &mut String, bytes: &[u8]) {
    push_escaped(out, bytes, false);
}

/// Appends a key: `-` for null, `\-` for the one-character key `-`, else escaped.
pub fn push_key(out: &mut String, key: Option<&[u8]>) {
    match key {
        None => out.push('-'),
        Some(b"-") => out.push_str("\\-"),
        Some(k) => push_escaped(out, k, true),
    }
}

fn push_escaped(out: &mut String, bytes: &[u8], key: bool) {
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                ' ' if key => out.push_str("\\s"),
                c if c.is_ascii_control() => {
                    let _ = write!(out, "\\x{:02x}", c as u32);
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
}

/// Why an escaped key could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnescapeError {
    /// A backslash followed by something that is not one of the escapes above.
    #[error("unknown escape '\\{0}' in key")]
    Unknown(char),
    /// `\x` not followed by two hex digits.
    #[error("'\\x' must be followed by two hex digits")]
    BadHex,
    /// A backslash at the end of the key.
    #[error("key ends with a lone backslash")]
    Trailing,
}

/// Reads a PRODUCE key token: `-` is null; otherwise the escapes [`push_key`] writes
/// (`\\ \s \- \n \r \t \xHH`) are decoded. Pure; never panics.
pub fn unescape_key(token: &str) -> Result<Option<Vec<u8>>, UnescapeError> {
    if token == "-" {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(token.len());
    let mut chars = token.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        match chars.next() {
            None => return Err(UnescapeError::Trailing),
            Some('\\') => out.push(b'\\'),
            Some('s') => out.push(b' '),
            Some('-') => out.push(b'-'),
            Some('n') => out.push(b'\n'),
            Some('r') => out.push(b'\r'),
            Some('t') => out.push(b'\t'),
            Some('x') => {
                let hi = chars.next().and_then(|c| c.to_digit(16));
                let lo = chars.next().and_then(|c| c.to_digit(16));
                match (hi, lo) {
                    (Some(hi), Some(lo)) => out.push((hi * 16 + lo) as u8),
                    _ => return Err(UnescapeError::BadHex),
                }
            }
            Some(other) => return Err(UnescapeError::Unknown(other)),
        }
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(b: &[u8]) -> String {
        let mut s = String::new();
        push_value(&mut s, b);
        s
    }

    fn key(k: Option<&[u8]>) -> String {
        let mut s = String::new();
        push_key(&mut s, k);
        s
    }

    #[test]
    fn values_escape_line_breaks_backslashes_and_bad_utf8() {
        assert_eq!(value(b"hello world"), "hello world");
        assert_eq!(value(b"a\\b"), "a\\\\b");
        assert_eq!(value(b"l1\nl2\r\n\tx"), "l1\\nl2\\r\\n\\tx");
        assert_eq!(value(b"\xff\xfe ok \xc3"), "\\xff\\xfe ok \\xc3");
        assert_eq!(value("grüße ✓".as_bytes()), "grüße ✓");
        assert_eq!(value(b""), "");
        assert_eq!(value(b"\x00\x1b[31m\x7f"), "\\x00\\x1b[31m\\x7f");
    }

    #[test]
    fn keys_escape_spaces_and_the_null_marker() {
        assert_eq!(key(None), "-");
        assert_eq!(key(Some(b"-")), "\\-");
        assert_eq!(key(Some(b"--")), "--");
        assert_eq!(key(Some(b"a b")), "a\\sb");
        assert_eq!(key(Some(b"k\\1\n")), "k\\\\1\\n");
        assert_eq!(key(Some(b"\x80")), "\\x80");
        assert_eq!(key(Some(b"")), "");
    }

    #[test]
    fn keys_round_trip() {
        for k in [
            &b"-"[..],
            b"a b",
            b"\\",
            b"\x00\x80\xff",
            b"tab\there",
            "ünï".as_bytes(),
            b"-x-",
        ] {
            assert_eq!(
                unescape_key(&key(Some(k))).expect("valid"),
                Some(k.to_vec())
            );
        }
        assert_eq!(unescape_key("-").expect("null"), None);
    }

    #[test]
    fn bad_escapes_are_errors() {
        assert_eq!(unescape_key("a\\"), Err(UnescapeError::Trailing));
        assert_eq!(unescape_key("\\q"), Err(UnescapeError::Unknown('q')));
        assert_eq!(unescape_key("\\x4"), Err(UnescapeError::BadHex));
        assert_eq!(unescape_key("\\xzz"), Err(UnescapeError::BadHex));
        assert_eq!(unescape_key("\\xé1"), Err(UnescapeError::BadHex));
    }
}
