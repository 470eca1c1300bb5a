//! Helpers shared by the Gemini client's integration tests (`mod common;` in each file).

#![allow(dead_code, unreachable_pub)]

use std::time::Duration;
use steadfast_gemini::{Client, ClientPolicy, Error};
use steadfast_sim::Simulator;

/// The default client policy with millisecond backoff, so that retries cost no test time.
pub fn fast() -> ClientPolicy {
    ClientPolicy::default().retry_with(|r| {
        r.base(Duration::from_millis(2))
            .max_delay(Duration::from_millis(20))
    })
}

/// A client of a running simulator: its base URL and every key it accepts.
pub trait SimClient {
    /// With the default client policy.
    fn client(&self) -> Result<Client, Error> {
        self.client_with(ClientPolicy::default())
    }

    /// With `policy`.
    fn client_with(&self, policy: ClientPolicy) -> Result<Client, Error>;
}

impl SimClient for Simulator {
    fn client_with(&self, policy: ClientPolicy) -> Result<Client, Error> {
        Client::builder()
            .base_url(self.base_url())
            .keys(self.keys())
            .policy(policy)
            .build()
    }
}

pub use steadfast_testkit::sink::global_log;
