//! The client's 429s by quota scope and model, through the `metrics` facade (feature
//! `metrics`), checked with the facade's debugging recorder against the local simulator.

#![cfg(feature = "metrics")]
#![allow(clippy::unwrap_used)]

use crate::common::SimClient;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use steadfast_gemini::ClientPolicy;
use steadfast_sim::{SimModel, Simulator, SimulatorConfig};

/// A counter's name, labels and value.
type Series = (String, Vec<(String, String)>, u64);

#[test]
fn a_per_minute_429_is_counted_by_model_and_scope_without_the_key() {
    let recorder = DebuggingRecorder::new();
    metrics::with_local_recorder(&recorder, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut model = SimModel::new("gemini-2.5-flash");
            model.rpm = Some(1);
            let sim = Simulator::start(SimulatorConfig {
                models: vec![model],
                ..SimulatorConfig::default()
            })
            .await
            .unwrap();
            // Sent as they are: the first is answered, the second refused for the minute.
            let client = sim.client_with(ClientPolicy::off()).unwrap();
            client.generate("gemini-2.5-flash", "one").await.unwrap();
            let err = client
                .generate("gemini-2.5-flash", "two")
                .await
                .unwrap_err();
            assert!(
                matches!(err.kind(), steadfast_gemini::ErrorKind::RateLimited { .. }),
                "{err}"
            );
        });
    });
    let series: Vec<Series> = recorder
        .snapshotter()
        .snapshot()
        .into_vec()
        .into_iter()
        .filter_map(|(key, _, _, value)| {
            let key = key.key();
            let labels = key
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect();
            match value {
                DebugValue::Counter(n) => Some((key.name().to_owned(), labels, n)),
                _ => None,
            }
        })
        .collect();
    let rate_limited: Vec<_> = series
        .iter()
        .filter(|(name, _, _)| name == "steadfast_gemini_rate_limited_total")
        .collect();
    assert_eq!(rate_limited.len(), 1, "{series:?}");
    let (_, labels, count) = rate_limited[0];
    assert_eq!(*count, 1);
    assert!(
        labels.contains(&("model".into(), "gemini-2.5-flash".into())),
        "{labels:?}"
    );
    assert!(
        labels.contains(&("scope".into(), "per_minute".into())),
        "{labels:?}"
    );
    let everything = format!("{series:?}");
    assert!(
        !everything.contains("sim-key"),
        "no key in any label: {everything}"
    );
}
