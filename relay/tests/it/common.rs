//! What the relay's tests share: a relay key, a prompt, a relay in front of an upstream.

use steadfast_relay::{Config, Relay, RelayKeyConfig};

/// The relay key of the tests (made up).
pub(crate) const RELAY_KEY: &str = "relay-secret-not-real-0001";
/// A prompt with a field no version of ours knows.
pub(crate) const PROMPT: &str =
    r#"{"contents":[{"parts":[{"text":"hello there"}]}],"fieldOfTomorrow":{"kept":true}}"#;

/// The relay key `tests`.
pub(crate) fn relay_key() -> RelayKeyConfig {
    RelayKeyConfig::new("tests", RELAY_KEY)
}

/// A relay on a free port in front of `upstream` with `keys`, each a project of its own.
pub(crate) async fn relay_in_front_of(upstream: String, keys: Vec<String>) -> Relay {
    Relay::start(Config {
        port: 0,
        upstream,
        keys,
        relay_keys: vec![relay_key()],
        ..Config::default()
    })
    .await
    .unwrap()
}

/// A POST of `body` with `key` in `x-goog-api-key`.
pub(crate) async fn post(url: String, key: Option<&str>, body: &str) -> reqwest::Response {
    let mut request = reqwest::Client::new().post(url).body(body.to_owned());
    if let Some(key) = key {
        request = request.header("x-goog-api-key", key);
    }
    request.send().await.unwrap()
}

/// A plain prompt.
pub(crate) const PROMPT_PLAIN: &str = r#"{"contents":[{"parts":[{"text":"hello there"}]}]}"#;
