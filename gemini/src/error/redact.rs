//! Secrets out of text we did not write.
//!
//! A server may echo a key in its message ("API key AIza… not valid"), a front end may put one in
//! an HTML page, a `Location` header may carry one in a query string. Every string an [`Error`]
//! keeps from outside passes through here when the error is built, so that `Display`, `Debug`,
//! [`Error::message`](crate::Error::message), [`Error::status`](crate::Error::status) and any
//! log line built from them are clean:
//!
//! - anything shaped like a Google API key (`AIza` and then at least 35 of `[0-9A-Za-z_-]`) is
//!   replaced wherever it appears, whoever's key it is;
//! - the client's own keys, whatever their shape, are replaced in every error the client
//!   returns ([`Error::redact_keys`](crate::Error::redact_keys)). Keys shorter than
//!   [`MIN_OWN_KEY`] characters are not searched for: replacing every `ab` of a message would
//!   destroy it, and such a key is a test value, not a credential.

use crate::key::ApiKey;

/// What a secret is replaced with.
pub(crate) const REDACTED: &str = "[redacted key]";

/// The shortest own key that is searched for in text.
pub(crate) const MIN_OWN_KEY: usize = 8;

/// The characters of a Google API key after its `AIza` prefix, and how many there are.
fn is_key_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}
const GOOGLE_KEY_TAIL: usize = 35;

/// `text` with every Google-shaped API key replaced; `None` when there was none (no copy).
pub(crate) fn google_keys(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut from = 0;
    while let Some(pos) = text[from..].find("AIza") {
        let start = from + pos;
        let tail = bytes[start + 4..]
            .iter()
            .take_while(|b| is_key_char(**b))
            .count();
        if tail >= GOOGLE_KEY_TAIL {
            let end = start + 4 + tail;
            let o = out.get_or_insert_with(|| String::with_capacity(text.len()));
            o.push_str(&text[copied..start]);
            o.push_str(REDACTED);
            copied = end;
            from = end;
        } else {
            from = start + 4;
        }
    }
    out.map(|mut o| {
        o.push_str(&text[copied..]);
        o
    })
}

/// `text` with each of `keys` (long enough to search for) replaced; `None` when there was none.
pub(crate) fn own_keys(text: &str, keys: &[ApiKey]) -> Option<String> {
    let mut out: Option<String> = None;
    for key in keys {
        let key = key.expose();
        if key.chars().count() < MIN_OWN_KEY {
            continue;
        }
        let current = out.as_deref().unwrap_or(text);
        if current.contains(key) {
            out = Some(current.replace(key, REDACTED));
        }
    }
    out
}

/// Redacts Google-shaped keys in place.
pub(crate) fn in_place(text: &mut String) {
    if let Some(clean) = google_keys(text) {
        *text = clean;
    }
    cut_tail(text, &[]);
}

/// Redacts Google-shaped keys and `keys` in place.
pub(crate) fn in_place_with(text: &mut String, keys: &[ApiKey]) {
    in_place(text);
    if let Some(clean) = own_keys(text, keys) {
        *text = clean;
    }
    cut_tail(text, keys);
}

/// A text truncated with `…` may end in the first part of a key that the cut made too short to
/// recognise: `AIza` and some key characters, or four or more leading characters of an own key.
/// That part goes too.
fn cut_tail(text: &mut String, keys: &[ApiKey]) {
    let Some(body) = text.strip_suffix('…') else {
        return;
    };
    let run = body
        .bytes()
        .rev()
        .take_while(|b| is_key_char(*b) || b".:/+=".contains(b))
        .count();
    let tail = &body[body.len() - run..];
    let google = tail.find("AIza");
    let own = keys
        .iter()
        .map(ApiKey::expose)
        .filter(|k| k.chars().count() >= MIN_OWN_KEY)
        .filter_map(|k| {
            (0..tail.len())
                .filter(|i| tail.is_char_boundary(*i))
                .find(|i| tail.len() - i >= 4 && k.starts_with(&tail[*i..]))
        })
        .min();
    if let Some(at) = google.into_iter().chain(own).min() {
        let keep = body.len() - run + at;
        text.truncate(keep);
        text.push_str(REDACTED);
        text.push('…');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Shaped like a Google key, but made up: `AIza` and 35 filler characters.
    // Spelled in two pieces so that no key-shaped literal sits in the source.
    const FAKE: &str = concat!("AIza", "FAKEFAKEFAKEFAKEFAKEFAKEFAKE_test-0");

    #[test]
    fn google_shaped_keys_are_replaced_anywhere() {
        assert_eq!(FAKE.len(), 39);
        let text = format!("API key {FAKE} not valid; also ({FAKE}).");
        assert_eq!(
            google_keys(&text).unwrap(),
            format!("API key {REDACTED} not valid; also ({REDACTED}).")
        );
        assert_eq!(google_keys("AIza is a prefix, AIzaShort"), None);
        assert_eq!(google_keys(""), None);
        // Multi-byte text around it is kept intact.
        let text = format!("é{FAKE}ü");
        assert_eq!(google_keys(&text).unwrap(), format!("é{REDACTED}ü"));
    }

    #[test]
    fn a_key_cut_by_truncation_is_redacted_too() {
        let mut text = format!("message {}…", &FAKE[..20]);
        in_place(&mut text);
        assert_eq!(text, format!("message {REDACTED}…"));
        let keys = [ApiKey::new("test-own-key-1234")];
        let mut text = "echo: test-own…".to_owned();
        in_place_with(&mut text, &keys);
        assert_eq!(text, format!("echo: {REDACTED}…"));
        let mut text = "nothing to see…".to_owned();
        in_place_with(&mut text, &keys);
        assert_eq!(text, "nothing to see…");
    }

    #[test]
    fn own_keys_are_replaced_when_long_enough() {
        let keys = [ApiKey::new("test-own-key-1234"), ApiKey::new("ab")];
        assert_eq!(
            own_keys("echo test-own-key-1234 and ab", &keys).unwrap(),
            format!("echo {REDACTED} and ab")
        );
        assert_eq!(own_keys("nothing here", &keys), None);
    }
}
