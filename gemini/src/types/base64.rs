//! Base64 for inline data, written here (about fifty lines) rather than taken as a dependency.
//!
//! The API writes `bytes` fields in standard base64 with padding; proto JSON parsers also accept
//! the URL-safe alphabet and missing padding, so decoding does too.

use std::fmt;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub(crate) fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Why a string is not base64.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Base64Error {
    /// The byte offset of the first character that does not fit.
    pub offset: usize,
}

impl fmt::Display for Base64Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "not base64: unexpected character or length at byte {}",
            self.offset
        )
    }
}

impl std::error::Error for Base64Error {}

fn value_of(c: u8) -> Option<u32> {
    Some(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' | b'-' => 62,
        b'/' | b'_' => 63,
        _ => return None,
    } as u32)
}

/// Decodes standard or URL-safe base64, with or without padding.
pub(crate) fn decode(text: &str) -> Result<Vec<u8>, Base64Error> {
    let bytes = text.as_bytes();
    let data = text.trim_end_matches('=');
    let padding = bytes.len() - data.len();
    if padding > 2 || (padding > 0 && bytes.len() % 4 != 0) {
        return Err(Base64Error { offset: data.len() });
    }
    let data = data.as_bytes();
    if data.len() % 4 == 1 {
        return Err(Base64Error { offset: data.len() });
    }
    let mut out = Vec::with_capacity(data.len() * 3 / 4);
    for (index, chunk) in data.chunks(4).enumerate() {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            let v = value_of(c).ok_or(Base64Error {
                offset: index * 4 + i,
            })?;
            n |= v << (18 - 6 * i);
        }
        let whole = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&whole[..chunk.len() - 1]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_rfc_4648_test_vectors() {
        for (plain, coded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(encode(plain.as_bytes()), coded);
            assert_eq!(decode(coded).unwrap(), plain.as_bytes());
            assert_eq!(
                decode(coded.trim_end_matches('=')).unwrap(),
                plain.as_bytes()
            );
        }
    }

    #[test]
    fn every_byte_round_trips_and_url_safe_is_accepted() {
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(decode(&encode(&all)).unwrap(), all);
        assert_eq!(decode("-_8").unwrap(), decode("+/8").unwrap());
    }

    #[test]
    fn garbage_is_refused_with_its_offset() {
        assert_eq!(decode("Zm9v!A").unwrap_err().offset, 4);
        assert!(decode("Z").is_err());
        assert!(decode("Zg===").is_err());
        assert!(decode("Zg=").is_err());
    }
}
