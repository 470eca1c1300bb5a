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

use crate::types::{CachedContent, ListCachedContentsResponse, duration_string};
use crate::{Client, Error};
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

impl Client {
    /// `cachedContents.create`: stores `cache` (its model, contents, system instruction, tools,
    /// and `ttl` or `expire_time`; one hour by default) and returns its name, expiry and size.
    /// Refer to it with [`GenerateContentRequest::cached_content`](crate::types::GenerateContentRequest::cached_content).
    pub async fn create_cached_content(
        &self,
        cache: &CachedContent,
    ) -> Result<CachedContent, Error> {
        self.execute(&[String::new()], None, |key, _| async move {
            self.request(&key, reqwest::Method::POST, "cachedContents", Some(cache))
                .await
        })
        .await
    }

    /// `cachedContents.get`: a cache's metadata.
    pub async fn get_cached_content(&self, name: &str) -> Result<CachedContent, Error> {
        let path = cache_path(name)?;
        self.execute(&[String::new()], None, |key, _| {
            let path = path.clone();
            async move {
                self.request::<(), CachedContent>(&key, reqwest::Method::GET, &path, None)
                    .await
            }
        })
        .await
    }

    /// `cachedContents.list`: every live cache of the key's project, page after page, as a
    /// stream. An error ends the stream.
    pub fn list_cached_contents(
        &self,
    ) -> impl Stream<Item = Result<CachedContent, Error>> + Send + '_ {
        self.pages("cachedContents", 100, |page: ListCachedContentsResponse| {
            (page.cached_contents, page.next_page_token)
        })
    }

    /// `cachedContents.patch` with `updateMask=ttl`: the cache now expires `ttl` from now.
    /// Returns the cache with its new `expire_time`.
    pub async fn update_cached_content_ttl(
        &self,
        name: &str,
        ttl: Duration,
    ) -> Result<CachedContent, Error> {
        let path = format!("{}?updateMask=ttl", cache_path(name)?);
        let body = CachedContent {
            ttl: Some(duration_string(ttl)),
            ..CachedContent::default()
        };
        self.execute(&[String::new()], None, |key, _| {
            let (path, body) = (path.clone(), &body);
            async move {
                self.request(&key, reqwest::Method::PATCH, &path, Some(body))
                    .await
            }
        })
        .await
    }

    /// `cachedContents.delete`.
    pub async fn delete_cached_content(&self, name: &str) -> Result<(), Error> {
        let path = cache_path(name)?;
        self.execute(&[String::new()], None, |key, _| {
            let path = path.clone();
            async move {
                self.request::<(), serde_json::Value>(&key, reqwest::Method::DELETE, &path, None)
                    .await
                    .map(drop)
            }
        })
        .await
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
}
