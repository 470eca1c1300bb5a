//! `Classify` for the standard library, `http`, and (feature `reqwest`) reqwest.

use super::{Classify, Failure, Transport};
use std::io;

/// The transport kind of an I/O error kind, as the built-in classes see it.
pub(crate) fn io_transport(kind: io::ErrorKind) -> Transport {
    use io::ErrorKind as K;
    match kind {
        K::TimedOut | K::WouldBlock => Transport::Timeout,
        K::ConnectionRefused
        | K::NotConnected
        | K::AddrNotAvailable
        | K::HostUnreachable
        | K::NetworkUnreachable
        | K::NetworkDown => Transport::Connect,
        K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof => {
            Transport::Reset
        }
        _ => Transport::Other,
    }
}

impl Classify for io::Error {
    fn failure(&self) -> Option<Failure> {
        Some(Failure::transport(io_transport(self.kind())))
    }
}

impl Classify for http::StatusCode {
    /// `None` for 1xx, 2xx and 3xx; a failure with the status otherwise.
    fn failure(&self) -> Option<Failure> {
        (self.is_client_error() || self.is_server_error()).then(|| Failure::status(self.as_u16()))
    }
}

impl<B> Classify for http::Response<B> {
    /// `None` for 1xx, 2xx and 3xx; otherwise the status with any `Retry-After` /
    /// `retry-after-ms` hint from the headers (so a tower service's `Ok(503)` is retried).
    fn failure(&self) -> Option<Failure> {
        let status = self.status();
        if !(status.is_client_error() || status.is_server_error()) {
            return None;
        }
        let hint = crate::hint::from_headers(self.headers(), std::time::SystemTime::now());
        Some(Failure::status(status.as_u16()).with_optional_hint(hint))
    }
}

#[cfg(feature = "reqwest")]
mod reqwest_impls {
    use super::*;
    use crate::hint;

    /// Finds an `io::Error` anywhere in an error's source chain.
    fn io_kind_in_chain(err: &(dyn std::error::Error + 'static)) -> Option<io::ErrorKind> {
        let mut cur = Some(err);
        while let Some(e) = cur {
            if let Some(io) = e.downcast_ref::<io::Error>() {
                return Some(io.kind());
            }
            cur = e.source();
        }
        None
    }

    impl Classify for reqwest::Error {
        fn failure(&self) -> Option<Failure> {
            if let Some(status) = self.status() {
                return Some(Failure::status(status.as_u16()));
            }
            let transport = if self.is_timeout() {
                Transport::Timeout
            } else if self.is_connect() {
                Transport::Connect
            } else {
                match io_kind_in_chain(self) {
                    Some(kind) => io_transport(kind),
                    // Hyper reports a connection closed before the answer as a request or body
                    // error without an io::Error; those are lost connections too.
                    None if self.is_request() || self.is_body() => Transport::Reset,
                    None => Transport::Other,
                }
            };
            Some(Failure::transport(transport))
        }
    }

    impl Classify for reqwest::Response {
        /// `None` for success statuses; otherwise the status with any `Retry-After` /
        /// `retry-after-ms` hint from the headers.
        fn failure(&self) -> Option<Failure> {
            let status = self.status();
            if !(status.is_client_error() || status.is_server_error()) {
                return None;
            }
            let hint = hint::from_headers(self.headers(), std::time::SystemTime::now());
            Some(Failure::status(status.as_u16()).with_optional_hint(hint))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_map_to_transport_classes() {
        let f = |k: io::ErrorKind| io::Error::from(k).failure().unwrap().transport_kind();
        assert_eq!(f(io::ErrorKind::TimedOut), Some(Transport::Timeout));
        assert_eq!(
            f(io::ErrorKind::ConnectionRefused),
            Some(Transport::Connect)
        );
        assert_eq!(f(io::ErrorKind::ConnectionReset), Some(Transport::Reset));
        assert_eq!(f(io::ErrorKind::PermissionDenied), Some(Transport::Other));
    }

    #[test]
    fn status_codes_are_failures_only_from_400() {
        assert_eq!(http::StatusCode::OK.failure(), None);
        assert_eq!(http::StatusCode::MOVED_PERMANENTLY.failure(), None);
        assert_eq!(
            http::StatusCode::SERVICE_UNAVAILABLE
                .failure()
                .and_then(|f| f.status_code()),
            Some(503)
        );
    }
}
