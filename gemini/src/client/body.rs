//! Reading answers: bounded in size, and bounded in silence rather than in total time.
//!
//! A body is read as a stream of network chunks. Two limits apply to it:
//!
//! - **idle**: the time allowed between two chunks ([`ClientBuilder::idle_timeout`], 30 s by
//!   default). A healthy stream that sends a chunk every half second lives as long as it keeps
//!   talking; a server that goes silent is cut after `idle`. There is no total limit, unless the
//!   user sets one (the retry settings' `deadline` ([`ClientPolicy::retry_with`](crate::ClientPolicy::retry_with)) for everything up
//!   to the first chunk, [`ClientBuilder::request_timeout`] for the whole exchange).
//! - **size**: an error body is read up to [`ERROR_BODY_CAP`] (64 KiB; a real Gemini error is
//!   under 4 KiB) and the rest is dropped; a success body larger than
//!   [`ClientBuilder::max_response_bytes`] (32 MiB by default) is an
//!   [`Undecodable`](crate::ErrorKind::Undecodable) error, not an allocation the server decides.
//!
//! [`ClientBuilder::idle_timeout`]: super::ClientBuilder::idle_timeout
//! [`ClientBuilder::request_timeout`]: super::ClientBuilder::request_timeout
//! [`ClientBuilder::max_response_bytes`]: super::ClientBuilder::max_response_bytes

use crate::Error;
use bytes_crate::Bytes;
use futures_util::{Stream, StreamExt, stream};
use std::time::Duration;
use steadfast::classify::Transport;

/// How much of an error body is read.
pub(crate) const ERROR_BODY_CAP: usize = 64 * 1024;

/// The default cap on a success body (and on one event of a stream).
pub(crate) const DEFAULT_MAX_RESPONSE_BYTES: usize = 32 * 1024 * 1024;

/// The error for a body that stayed silent for `idle`.
pub(crate) fn idle_error(idle: Duration) -> Error {
    Error::transport(
        Transport::Timeout,
        format!(
            "timed out: the server sent nothing for {idle:?} in the middle of its answer (idle timeout)"
        ),
    )
}

/// `bytes` with an idle timeout between chunks: an item that does not come within `idle` ends the
/// stream with a timeout error. Errors of the underlying stream go through `to_error`; nothing
/// follows an error.
pub(crate) fn with_idle_timeout<S, E>(
    bytes: S,
    idle: Duration,
    to_error: fn(E) -> Error,
) -> impl Stream<Item = Result<Bytes, Error>> + Send
where
    S: Stream<Item = Result<Bytes, E>> + Send + Unpin,
    E: Send,
{
    stream::unfold(Some(bytes), move |state| async move {
        let mut bytes = state?;
        match tokio::time::timeout(idle, bytes.next()).await {
            Ok(Some(Ok(chunk))) => Some((Ok(chunk), Some(bytes))),
            Ok(Some(Err(e))) => Some((Err(to_error(e)), None)),
            Ok(None) => None,
            Err(_) => Some((Err(idle_error(idle)), None)),
        }
    })
}

/// Reads at most `cap` bytes of `body`; `true` when there was more (the rest is not read).
pub(crate) async fn read_capped<S>(body: S, cap: usize) -> Result<(Vec<u8>, bool), Error>
where
    S: Stream<Item = Result<Bytes, Error>>,
{
    let mut body = std::pin::pin!(body);
    let mut out = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        let room = cap - out.len();
        if chunk.len() > room {
            out.extend_from_slice(&chunk[..room]);
            return Ok((out, true));
        }
        out.extend_from_slice(&chunk);
    }
    Ok((out, false))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use std::convert::Infallible;

    /// A body that yields `chunk` every `every`, `n` times.
    fn ticking(
        chunk: &'static [u8],
        every: Duration,
        n: usize,
    ) -> impl Stream<Item = Result<Bytes, Infallible>> + Send + Unpin {
        Box::pin(stream::iter(0..n).then(move |_| async move {
            tokio::time::sleep(every).await;
            Ok(Bytes::from_static(chunk))
        }))
    }

    fn never(e: Infallible) -> Error {
        match e {}
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_but_steady_body_is_never_cut() {
        // A chunk every 29 s for an hour, under a 30 s idle timeout.
        let body = with_idle_timeout(
            ticking(b"x", Duration::from_secs(29), 125),
            Duration::from_secs(30),
            never,
        );
        let start = tokio::time::Instant::now();
        let (bytes, more) = read_capped(body, 1000).await.unwrap();
        assert_eq!((bytes.len(), more), (125, false));
        assert_eq!(start.elapsed(), Duration::from_secs(29 * 125));
    }

    #[tokio::test(start_paused = true)]
    async fn silence_longer_than_idle_is_a_timeout() {
        let body = with_idle_timeout(
            ticking(b"x", Duration::from_secs(31), 3),
            Duration::from_secs(30),
            never,
        );
        let e = read_capped(body, 1000).await.unwrap_err();
        assert_eq!(*e.kind(), ErrorKind::Transport(Transport::Timeout));
        assert!(e.to_string().contains("idle timeout"), "{e}");
    }

    #[tokio::test(start_paused = true)]
    async fn reading_stops_at_the_cap() {
        let body = with_idle_timeout(
            ticking(b"0123456789", Duration::from_millis(1), 1000),
            Duration::from_secs(30),
            never,
        );
        let (bytes, more) = read_capped(body, 25).await.unwrap();
        assert_eq!(
            (bytes.as_slice(), more),
            (&b"0123456789012345678901234"[..], true)
        );
    }
}
