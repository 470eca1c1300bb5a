//! Helpers shared by the Gemini client's integration tests (`mod common;` in each file).

#![allow(dead_code, unreachable_pub)]

use std::sync::OnceLock;
use std::time::Duration;
use steadfast_gemini::{Client, ClientPolicy, Error};
use steadfast_sim::Simulator;
use steadfast_testkit::sink::Sink;

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

/// The log of every test in this binary: one global subscriber at TRACE, without colours,
/// writing to one sink, installed on first use. Tests that search the log for what must never
/// be there (a key) read it; it holds the events of every test running meanwhile too, which
/// only widens what is searched.
pub fn global_log() -> &'static Sink {
    static LOG: OnceLock<Sink> = OnceLock::new();
    LOG.get_or_init(|| {
        let sink = Sink::default();
        let writer = sink.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        if tracing::subscriber::set_global_default(subscriber).is_err() {
            panic!("another global tracing subscriber was installed in this test binary");
        }
        sink
    })
}
