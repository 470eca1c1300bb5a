//! The API key, and its redaction: a key never reaches `Debug`, `Display`, an error or a log.

use std::fmt;
use std::sync::Arc;

/// An API key. Its `Debug` and `Display` print `ApiKey(****)` and the last four characters at
/// most, so a key never reaches a log line by accident.
///
/// ```
/// let key = steadfast_gemini::ApiKey::new("example-not-a-real-key-1234");
/// assert_eq!(format!("{key:?}"), "ApiKey(****1234)");
/// assert!(!format!("{key}").contains("not-a-real"));
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ApiKey(Arc<str>);

impl ApiKey {
    /// Wraps a key.
    pub fn new(key: impl AsRef<str>) -> Self {
        ApiKey(Arc::from(key.as_ref().trim()))
    }

    /// The key itself, for the request header only.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// A label safe to log: the last four characters, when the key is long enough that they do
    /// not give it away.
    pub fn label(&self) -> String {
        let chars: Vec<char> = self.0.chars().collect();
        if chars.len() >= 16 {
            format!(
                "****{}",
                chars[chars.len() - 4..].iter().collect::<String>()
            )
        } else {
            "****".to_owned()
        }
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({})", self.label())
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}
