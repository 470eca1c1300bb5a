//! Every extension trait can stand behind a trait object, so policies can hold user values.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use steadfast::breaker::{CircuitBreaker, SlidingWindowBreaker};
use steadfast::limit::{RateLimit, RateLimiter};
use steadfast::observe::{FnHook, Hook};
use steadfast::retry::{Backoff, Schedule};

#[test]
fn traits_are_object_safe_and_built_ins_implement_them() {
    let _: Arc<dyn RateLimiter> = Arc::new(RateLimit::builder().per_second(1).build().unwrap());
    let _: Arc<dyn CircuitBreaker> =
        Arc::new(SlidingWindowBreaker::new(Default::default()).unwrap());
    let _: Arc<dyn Backoff> = Arc::new(Schedule::fixed(std::time::Duration::from_secs(1)));
    let _: Arc<dyn Hook> = Arc::new(FnHook::new(|_: &steadfast::observe::Event| {}));
    let _: &dyn steadfast::classify::Classify = &std::io::Error::other("x");
}

#[test]
fn policies_are_send_and_sync_for_statics() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<steadfast::Policy>();
}
