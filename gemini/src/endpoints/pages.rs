//! Listing endpoints that answer page by page (`files`, `cachedContents`), read as one stream.

use super::encode;
use crate::{Client, Error, ErrorKind, RawRequest};
use futures_util::{Stream, stream};
use serde::de::DeserializeOwned;
use std::collections::{HashSet, VecDeque};

/// Takes a page apart into its items and the next page's token, given the label of the project
/// that answered.
type Split<P, T> = fn(P, &str) -> (Vec<T>, Option<String>);

impl Client {
    /// Every item of `GET {path}`, `page_size` a page, each page under the client policy;
    /// `split` takes a page apart into its items and the next page's token, given the label of
    /// the project that answered. The pages after the first go to that project (a page token
    /// is one project's, and so are the items listed). An error ends the stream.
    ///
    /// A page token the server already gave ends the stream with an
    /// [`Undecodable`](ErrorKind::Undecodable) error: following it would list the same pages
    /// again, forever (a server that answers empty pages with the same token would otherwise
    /// keep the stream polling without yielding anything).
    pub(crate) fn pages<P, T>(
        &self,
        path: &'static str,
        page_size: u32,
        split: Split<P, T>,
    ) -> impl Stream<Item = Result<T, Error>> + Send + '_
    where
        P: DeserializeOwned + Send + 'static,
        T: Send + 'static,
    {
        struct Pages<T> {
            buffered: VecDeque<T>,
            next: Option<String>,
            /// Every token followed so far.
            seen: HashSet<String>,
            /// An error to yield once the buffered items are out.
            buffered_error: Option<Error>,
            /// The project that answered the first page.
            project: Option<String>,
            done: bool,
        }
        let start = Pages {
            buffered: VecDeque::new(),
            next: None,
            seen: HashSet::new(),
            buffered_error: None,
            project: None,
            done: false,
        };
        stream::unfold(start, move |mut pages| async move {
            loop {
                if let Some(item) = pages.buffered.pop_front() {
                    return Some((Ok(item), pages));
                }
                if let Some(e) = pages.buffered_error.take() {
                    return Some((Err(e), pages));
                }
                if pages.done {
                    return None;
                }
                let query = match &pages.next {
                    Some(token) => format!("pageSize={page_size}&pageToken={}", encode(token)),
                    None => format!("pageSize={page_size}"),
                };
                let page = match RawRequest::path(reqwest::Method::GET, &format!("v1beta/{path}")) {
                    Ok(raw) => {
                        let raw = match &pages.project {
                            Some(project) => raw.project(project.clone()),
                            None => raw,
                        };
                        self.call_json_routed::<P>(&raw.query(&query)).await
                    }
                    Err(e) => Err(e),
                };
                match page {
                    Ok((page, answered)) => {
                        let project = pages.project.get_or_insert(answered);
                        let (items, next) = split(page, project);
                        pages.buffered.extend(items);
                        pages.next = next.filter(|t| !t.is_empty());
                        pages.done = pages.next.is_none();
                        if let Some(token) = &pages.next
                            && !pages.seen.insert(token.clone())
                        {
                            // What the page held is yielded first, then the error.
                            pages.done = true;
                            pages.buffered_error = Some(Error::with_kind(
                                ErrorKind::Undecodable,
                                // The token is not quoted: it is the server's, and could
                                // hold anything.
                                format!(
                                    "the server repeated a page token of GET {path}: listing stopped, since following it would list the same pages forever"
                                ),
                            ));
                        }
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
