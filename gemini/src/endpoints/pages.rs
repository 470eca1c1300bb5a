//! Listing endpoints that answer page by page (`files`, `cachedContents`), read as one stream.

use super::encode;
use crate::{Client, Error};
use futures_util::{Stream, stream};
use serde::de::DeserializeOwned;
use std::collections::VecDeque;

impl Client {
    /// Every item of `GET {path}`, `page_size` a page, each page under the client policy;
    /// `split` takes a page apart into its items and the next page's token. An error ends the
    /// stream.
    pub(crate) fn pages<P, T>(
        &self,
        path: &'static str,
        page_size: u32,
        split: fn(P) -> (Vec<T>, Option<String>),
    ) -> impl Stream<Item = Result<T, Error>> + Send + '_
    where
        P: DeserializeOwned + Send + 'static,
        T: Send + 'static,
    {
        struct Pages<T> {
            buffered: VecDeque<T>,
            next: Option<String>,
            done: bool,
        }
        let start = Pages {
            buffered: VecDeque::new(),
            next: None,
            done: false,
        };
        stream::unfold(start, move |mut pages| async move {
            loop {
                if let Some(item) = pages.buffered.pop_front() {
                    return Some((Ok(item), pages));
                }
                if pages.done {
                    return None;
                }
                let url = match &pages.next {
                    Some(token) => {
                        format!("{path}?pageSize={page_size}&pageToken={}", encode(token))
                    }
                    None => format!("{path}?pageSize={page_size}"),
                };
                let page = self
                    .execute(&[String::new()], None, |key, _| {
                        let url = url.clone();
                        async move {
                            self.request::<(), P>(&key, reqwest::Method::GET, &url, None)
                                .await
                        }
                    })
                    .await;
                match page {
                    Ok(page) => {
                        let (items, next) = split(page);
                        pages.buffered.extend(items);
                        pages.next = next.filter(|t| !t.is_empty());
                        pages.done = pages.next.is_none();
                    }
                    Err(e) => {
                        pages.done = true;
                        return Some((Err(e), pages));
                    }
                }
            }
        })
    }
}
