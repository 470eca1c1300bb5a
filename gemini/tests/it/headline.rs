//! The README's headline function over a default client, against the local simulator on a
//! socket (real clock, about 70 s, so it is opt-in: `cargo test -p steadfast-gemini --test
//! it headline -- --ignored`; `.ci/run` runs it): the simulator sees exactly one generate request per attribute
//! attempt, and no 60-second window holds more than the attribute's `rpm = 25`, although the
//! server allows only 20 a minute and overloads now and then.

#![allow(clippy::unwrap_used)]

use crate::common::SimClient;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use steadfast::resilient;
use steadfast_gemini::Client;
use steadfast_sim::{Faults, SimModel, Simulator, SimulatorConfig};

static STARTS: Mutex<Vec<Instant>> = Mutex::new(Vec::new());

#[resilient(retry = "exp", on = [429, 500, 503], rpm = 25)]
async fn ask(client: &Client, prompt: &str) -> Result<String, steadfast_gemini::Error> {
    STARTS.lock().unwrap().push(Instant::now());
    client.generate("gemini-2.5-flash", prompt).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "70 s of real time (rpm = 25 needs more than a minute for 27 calls); .ci/run runs it"]
async fn the_headline_function_sends_one_request_per_attempt_and_keeps_its_rpm() {
    let mut model = SimModel::new("gemini-2.5-flash");
    model.rpm = Some(20);
    let sim = Simulator::start(SimulatorConfig {
        models: vec![model],
        faults: Faults {
            overloaded: 0.1,
            ..Faults::default()
        },
        seed: 11,
        ..SimulatorConfig::default()
    })
    .await
    .unwrap();
    let client = sim.client().unwrap();
    for i in 0..27 {
        ask(&client, &format!("question {i}")).await.unwrap();
    }
    let attempts = steadfast::stats!(ask).unwrap().attempts;
    let stats = sim.stats();
    assert!(
        attempts > 27,
        "some attempts met a 503 or a 429: {attempts}"
    );
    assert!(
        stats.rate_limited >= 1,
        "the server's 20 a minute was met: {stats:?}"
    );
    assert_eq!(
        stats.generate_requests, attempts,
        "exactly one generate request per attribute attempt"
    );
    let mut starts = STARTS.lock().unwrap().clone();
    starts.sort();
    let mut first = 0;
    let mut busiest = 0;
    for (last, t) in starts.iter().enumerate() {
        while *t - starts[first] >= Duration::from_secs(60) {
            first += 1;
        }
        busiest = busiest.max(last + 1 - first);
    }
    assert!(busiest <= 25, "{busiest} attempts in one minute");
}
