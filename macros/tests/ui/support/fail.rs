//! Shared by the `fail/` UI tests: an error type that classifies but has no
//! `From<steadfast::Error>`.

#[derive(Debug)]
pub struct ApiError;

impl steadfast::classify::Classify for ApiError {
    fn failure(&self) -> Option<steadfast::classify::Failure> {
        None
    }
}
