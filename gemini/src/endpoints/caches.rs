//! Cached content: a long prefix of prompts (contents, system instruction, tools) stored once,
//! then referred to by name from requests, which pay the cached tokens at a lower rate.
//!
//! | method | endpoint |
//! | --- | --- |
//! | [`Client::create_cached_content`] | `POST cachedContents` |
//! | [`Client::get_cached_content`] | `GET cachedContents/{id}` |
//! | [`Client::list_cached_contents`] | `GET cachedContents` (every page, as a stream) |
//! | [`Client::update_cached_content_ttl`] | `PATCH cachedContents/{id}?updateMask=ttl` |
//! | [`Client::delete_cached_content`] | `DELETE cachedContents/{id}` |
//!
//! A cache that expired or was deleted answers 403 PERMISSION_DENIED ("CachedContent not found
//! (or permission denied)"), like the real service, whether it is read or used in a request:
//! [`ErrorKind::PermissionDenied`](crate::ErrorKind::PermissionDenied).

use crate::types::{
    CachedContent, ListCachedContentsResponse, MAX_PROTO_DURATION, duration_string,
};
use crate::{Client, Error, RawRequest};
use futures_util::Stream;
use std::time::Duration;

/// `abc`, `cachedContents/abc` → `cachedContents/abc`, refusing names that would change the
/// path.
pub(crate) fn cache_path(name: &str) -> Result<String, Error> {
    let id = name.strip_prefix("cachedContents/").unwrap_or(name);
    let valid = !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        return Err(Error::configuration(format!(
            "`{name}` is not a cached content name: `cachedContents/` and letters, digits, '-' or '_'"
        )));
    }
    Ok(format!("cachedContents/{id}"))
}

/// Refuses a `ttl` past `google.protobuf.Duration`'s range, which the API cannot take. Only
/// the range is checked here: a malformed `ttl` goes to the service, whose 400 says what is
/// wrong with it.
fn check_ttl(ttl: &str) -> Result<(), Error> {
    let seconds = ttl.strip_suffix('s').unwrap_or(ttl);
    let whole = seconds.split_once('.').map_or(seconds, |(w, _)| w);
    let too_long = !whole.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && !matches!(whole.parse::<u64>(), Ok(s) if s <= MAX_PROTO_DURATION.as_secs());
    if too_long {
        return Err(Error::configuration(format!(
            "a cache's ttl may be at most {}s (the range of google.protobuf.Duration); `{}` is longer",
            MAX_PROTO_DURATION.as_secs(),
            ttl.chars().take(40).collect::<String>()
        )));
    }
    Ok(())
}

impl Client {
    /// `cachedContents.create`: stores `cache` (its model, contents, system instruction, tools,
    /// and `ttl` or `expire_time`; one hour by default) and returns its name, expiry and size.
    /// Refer to it with [`GenerateContentRequest::cached_content`](crate::types::GenerateContentRequest::cached_content).
    ///
    /// Refused before sending: a `ttl` past [`MAX_PROTO_DURATION`].
    pub async fn create_cached_content(
        &self,
        cache: &CachedContent,
    ) -> Result<CachedContent, Error> {
        if let Some(ttl) = &cache.ttl {
            check_ttl(ttl)?;
        }
        let raw = RawRequest::path(reqwest::Method::POST, "v1beta/cachedContents")?
            .body("application/json", super::json(cache)?);
        self.call_json(&raw, None).await
    }

    /// `cachedContents.get`: a cache's metadata.
    pub async fn get_cached_content(&self, name: &str) -> Result<CachedContent, Error> {
        let raw = RawRequest::path(
            reqwest::Method::GET,
            &format!("v1beta/{}", cache_path(name)?),
        )?;
        self.call_json(&raw, None).await
    }

    /// `cachedContents.list`: every live cache of the key's project, page after page, as a
    /// stream. An error ends the stream (a page token the server repeats is one). Pin it to
    /// read it item by item: see [`Client::list_files`] for an example.
    pub fn list_cached_contents(
        &self,
    ) -> impl Stream<Item = Result<CachedContent, Error>> + Send + '_ {
        self.pages(
            "cachedContents",
            100,
            |page: ListCachedContentsResponse, _| (page.cached_contents, page.next_page_token),
        )
    }

    /// `cachedContents.patch` with `updateMask=ttl`: the cache now expires `ttl` from now.
    /// Returns the cache with its new `expire_time`.
    ///
    /// Refused before sending: a `ttl` past [`MAX_PROTO_DURATION`].
    pub async fn update_cached_content_ttl(
        &self,
        name: &str,
        ttl: Duration,
    ) -> Result<CachedContent, Error> {
        let path = format!("v1beta/{}", cache_path(name)?);
        let ttl = duration_string(ttl);
        check_ttl(&ttl)?;
        let body = CachedContent {
            ttl: Some(ttl),
            ..CachedContent::default()
        };
        let raw = RawRequest::path(reqwest::Method::PATCH, &path)?
            .query("updateMask=ttl")
            .body("application/json", super::json(&body)?);
        self.call_json(&raw, None).await
    }

    /// `cachedContents.delete`.
    pub async fn delete_cached_content(&self, name: &str) -> Result<(), Error> {
        self.delete_resource(cache_path(name)?).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_names_are_normalised_and_checked() {
        assert_eq!(cache_path("abc").unwrap(), "cachedContents/abc");
        assert_eq!(
            cache_path("cachedContents/abc").unwrap(),
            "cachedContents/abc"
        );
        for bad in ["", "cachedContents/", "a/b", "../x", "x?key=1", "a b"] {
            assert!(cache_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ttls_past_the_proto_duration_range_are_refused_and_malformed_ones_left_to_the_service() {
        for fine in [
            "1s",
            "315576000000s",
            "315576000000.999999999s",
            "",
            "s",
            "abc",
            "-1s",
        ] {
            assert!(check_ttl(fine).is_ok(), "{fine}");
        }
        for long in [
            "315576000001s",
            "18446744073709551615.999999999s",
            "99999999999999999999999s",
            &duration_string(Duration::MAX),
        ] {
            let e = check_ttl(long).unwrap_err();
            assert_eq!(*e.kind(), crate::ErrorKind::Configuration, "{long}");
        }
    }
}
