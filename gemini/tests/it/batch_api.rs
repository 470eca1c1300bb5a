//! The Batch API end to end against the simulator: states in order, results matched to their
//! requests by key (inlined and through a file), partial failures, outside the model's
//! per-minute quota, cancel, delete, list, the per-project limit, and a pool of two projects
//! whose every poll goes to the batch's own project. Real sockets, millisecond pacing.

use crate::common::{SimClient, fast};
use std::time::Duration;
use steadfast_gemini::types::{
    BatchInput, BatchOutput, BatchRequest, BatchState, GenerateContentRequest,
};
use steadfast_gemini::{Client, ErrorKind};
use steadfast_sim::{BatchLimits, SimModel, Simulator, SimulatorConfig};

fn paced(queued: u64, per_request: u64) -> BatchLimits {
    BatchLimits {
        queued: Duration::from_millis(queued),
        per_request: Duration::from_millis(per_request),
        ..BatchLimits::default()
    }
}

fn requests(n: usize) -> Vec<BatchRequest> {
    (0..n)
        .map(|i| {
            let text = match i {
                3 => "[sim:invalid] question 3".to_owned(),
                7 => "[sim:permission] question 7".to_owned(),
                _ => format!("question {i}"),
            };
            BatchRequest::new(format!("q{i}"), GenerateContentRequest::prompt(text))
        })
        .collect()
}

#[tokio::test]
async fn a_batch_moves_through_its_states_and_its_results_match_its_requests() {
    // One request a minute for interactive calls: the batch's ten are not held to it.
    let mut flash = SimModel::new("gemini-2.5-flash");
    flash.rpm = Some(1);
    let sim = Simulator::start(SimulatorConfig {
        models: vec![flash],
        batches: paced(60, 15),
        ..SimulatorConfig::default()
    })
    .await
    .unwrap();
    let client = sim.client_with(fast()).unwrap();
    let batch = client
        .create_batch("gemini-2.5-flash", "ten", BatchInput::Inlined(requests(10)))
        .await
        .unwrap();
    assert!(batch.name.starts_with("batches/"), "{batch:?}");
    assert_eq!(batch.state, BatchState::Pending);
    assert_eq!(batch.display_name.as_deref(), Some("ten"));
    assert_eq!(batch.project, "1");
    let mut seen: Vec<BatchState> = Vec::new();
    let mut pending: Vec<u64> = Vec::new();
    let done = client
        .wait_for_batch(&batch, Duration::from_millis(5), |b| {
            if seen.last() != Some(&b.state) {
                seen.push(b.state.clone());
            }
            if b.state == BatchState::Running {
                pending.push(b.stats.pending);
            }
        })
        .await
        .unwrap();
    assert_eq!(
        seen,
        [
            BatchState::Pending,
            BatchState::Running,
            BatchState::Succeeded
        ],
        "in order"
    );
    assert!(pending.windows(2).all(|w| w[0] >= w[1]), "{pending:?}");
    assert_eq!(done.stats.requests, 10);
    assert_eq!((done.stats.succeeded, done.stats.failed), (8, 2));
    assert!(done.end_time.is_some());
    let results = client.batch_results(&done).await.unwrap();
    assert_eq!(results.len(), 10);
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r.key.as_deref(), Some(format!("q{i}").as_str()));
        match i {
            // RPC codes, as the service writes them inside a batch.
            3 => {
                let e = r.outcome.as_ref().unwrap_err();
                assert_eq!(
                    (e.code, e.status.as_deref()),
                    (Some(3), Some("INVALID_ARGUMENT"))
                );
            }
            7 => {
                let e = r.outcome.as_ref().unwrap_err();
                assert_eq!(
                    (e.code, e.status.as_deref()),
                    (Some(7), Some("PERMISSION_DENIED"))
                );
            }
            _ => assert_eq!(
                r.outcome.as_ref().unwrap().text(),
                format!("Simulated answer to: question {i}")
            ),
        }
    }
    let stats = sim.stats();
    assert_eq!(stats.rate_limited, 0);
    assert_eq!(
        stats.generate_requests, 0,
        "not counted as interactive calls"
    );
}

#[tokio::test]
async fn a_batch_from_a_file_gives_its_results_in_a_file() {
    let sim = Simulator::start(SimulatorConfig {
        batches: paced(10, 1),
        ..SimulatorConfig::default()
    })
    .await
    .unwrap();
    let client = sim.client_with(fast()).unwrap();
    let input = BatchRequest::jsonl(&requests(5)).unwrap();
    let file = client
        .upload_file("application/jsonl", input, Some("batch input"))
        .await
        .unwrap();
    let batch = client
        .create_batch("gemini-2.5-flash", "from a file", BatchInput::file(&file))
        .await
        .unwrap();
    let done = client
        .wait_for_batch(&batch, Duration::from_millis(5), |_| {})
        .await
        .unwrap();
    assert!(
        matches!(&done.output, Some(BatchOutput::File(name)) if name.starts_with("files/")),
        "{:?}",
        done.output
    );
    let results = client.batch_results(&done).await.unwrap();
    let keys: Vec<_> = results.iter().map(|r| r.key.clone().unwrap()).collect();
    assert_eq!(keys, ["q0", "q1", "q2", "q3", "q4"]);
    assert!(results[3].outcome.is_err());
    assert!(results[4].outcome.is_ok());
}

#[tokio::test]
async fn a_batch_is_cancelled_deleted_and_listed() {
    let sim = Simulator::start(SimulatorConfig {
        batches: paced(60_000, 1),
        ..SimulatorConfig::default()
    })
    .await
    .unwrap();
    let client = sim.client_with(fast()).unwrap();
    let first = client
        .create_batch("gemini-2.5-flash", "a", BatchInput::Inlined(requests(2)))
        .await
        .unwrap();
    let second = client
        .create_batch("gemini-2.5-flash", "b", BatchInput::Inlined(requests(2)))
        .await
        .unwrap();
    let listed: Vec<String> = futures_util::StreamExt::collect::<Vec<_>>(client.list_batches())
        .await
        .into_iter()
        .map(|b| b.unwrap().name)
        .collect();
    assert_eq!(listed, [first.name.clone(), second.name.clone()]);
    client.cancel_batch(&first).await.unwrap();
    let cancelled = client.get_batch(&first).await.unwrap();
    assert_eq!(cancelled.state, BatchState::Cancelled);
    let e = client.batch_results(&cancelled).await.unwrap_err();
    assert!(e.to_string().contains("no results"), "{e}");
    // Done already: the service refuses.
    let e = client.cancel_batch(&first).await.unwrap_err();
    assert_eq!(e.code(), Some(400));
    client.delete_batch(second.name.as_str()).await.unwrap();
    let e = client.get_batch(second.name.as_str()).await.unwrap_err();
    assert_eq!(e.code(), Some(404));
    // Refused before sending.
    for bad in ["", "a/b", "../x", "x:cancel"] {
        let e = client.get_batch(bad).await.unwrap_err();
        assert_eq!(*e.kind(), ErrorKind::Configuration, "{bad}");
    }
    let e = client
        .create_batch("gemini-2.5-flash", "empty", BatchInput::Inlined(vec![]))
        .await
        .unwrap_err();
    assert_eq!(*e.kind(), ErrorKind::Configuration);
    let twice = vec![
        BatchRequest::new("k", GenerateContentRequest::prompt("a")),
        BatchRequest::new("k", GenerateContentRequest::prompt("b")),
    ];
    let e = client
        .create_batch("gemini-2.5-flash", "twice", BatchInput::Inlined(twice))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("twice"), "{e}");
}

#[tokio::test]
async fn a_project_over_its_batch_limit_gets_a_429_with_the_quota_named() {
    let sim = Simulator::start(SimulatorConfig {
        batches: BatchLimits {
            max_running: 1,
            ..paced(60_000, 1)
        },
        ..SimulatorConfig::default()
    })
    .await
    .unwrap();
    let client = sim
        .client_with(fast().retry_with(|r| r.attempts(1)))
        .unwrap();
    client
        .create_batch("gemini-2.5-flash", "a", BatchInput::Inlined(requests(1)))
        .await
        .unwrap();
    let e = client
        .create_batch("gemini-2.5-flash", "b", BatchInput::Inlined(requests(1)))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(429));
    let status = e.status().unwrap();
    assert_eq!(
        status.details.quota_violations[0].quota_id.as_deref(),
        Some("ConcurrentBatchesPerProject")
    );
}

#[tokio::test]
async fn every_call_about_a_batch_goes_to_the_project_that_holds_it() {
    let sim = Simulator::start(SimulatorConfig {
        keys: vec![
            "batch-project-a-000001".into(),
            "batch-project-b-000002".into(),
        ],
        batches: paced(20, 1),
        ..SimulatorConfig::default()
    })
    .await
    .unwrap();
    let client: Client = sim.client_with(fast()).unwrap();
    let mut batches = Vec::new();
    for i in 0..4 {
        batches.push(
            client
                .create_batch(
                    "gemini-2.5-flash",
                    &format!("b{i}"),
                    BatchInput::Inlined(requests(2)),
                )
                .await
                .unwrap(),
        );
    }
    let projects: std::collections::BTreeSet<_> =
        batches.iter().map(|b| b.project.clone()).collect();
    assert_eq!(projects.len(), 2, "the pool spread them: {projects:?}");
    // Listed through one project, which each listed batch names.
    let listed: Vec<_> = futures_util::StreamExt::collect::<Vec<_>>(client.list_batches()).await;
    let listed: Vec<_> = listed.into_iter().map(Result::unwrap).collect();
    assert_eq!(listed.len(), 2);
    for b in &listed {
        assert_eq!(client.get_batch(b).await.unwrap().name, b.name);
    }
    // A batch from a file runs in the file's project (the other one cannot read the file).
    for i in 0..2 {
        let input = BatchRequest::jsonl(&requests(2)).unwrap();
        let file = client
            .upload_file("application/jsonl", input, Some(&format!("in-{i}")))
            .await
            .unwrap();
        assert!(!file.project.is_empty());
        let batch = client
            .create_batch("gemini-2.5-flash", "from a file", BatchInput::file(&file))
            .await
            .unwrap();
        assert_eq!(batch.project, file.project);
        let done = client
            .wait_for_batch(&batch, Duration::from_millis(5), |_| {})
            .await
            .unwrap();
        assert_eq!(client.batch_results(&done).await.unwrap().len(), 2);
    }
    for batch in &batches {
        // Without the pin, every other poll would ask the other project, which answers 404.
        for _ in 0..3 {
            let now = client.get_batch(batch).await.unwrap();
            assert_eq!(now.project, batch.project);
        }
        let done = client
            .wait_for_batch(batch, Duration::from_millis(5), |_| {})
            .await
            .unwrap();
        assert_eq!(client.batch_results(&done).await.unwrap().len(), 2);
    }
}

#[tokio::test]
async fn hostile_batches_are_refused_or_fail_cleanly() {
    let sim = Simulator::start(SimulatorConfig {
        batches: BatchLimits {
            max_requests: 5,
            // A batch that never starts: no clock overflow, no panic.
            queued: Duration::MAX,
            ..BatchLimits::default()
        },
        ..SimulatorConfig::default()
    })
    .await
    .unwrap();
    let client = sim
        .client_with(fast().retry_with(|r| r.attempts(1)))
        .unwrap();
    // Many junk lines: refused after reading one more than the limit, not all of them.
    let junk = "0\n".repeat(200_000);
    let file = client
        .upload_file("application/jsonl", junk.into_bytes(), None)
        .await
        .unwrap();
    let e = client
        .create_batch("gemini-2.5-flash", "junk", BatchInput::file(&file))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(400));
    assert!(e.to_string().contains("at most 5"), "{e}");
    let e = client
        .create_batch("gemini-2.5-flash", "six", BatchInput::Inlined(requests(6)))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(400));
    let waiting = client
        .create_batch("gemini-2.5-flash", "two", BatchInput::Inlined(requests(2)))
        .await
        .unwrap();
    assert_eq!(
        client.get_batch(&waiting).await.unwrap().state,
        BatchState::Pending
    );

    // An output file that does not fit in the simulator's storage fails the batch, with why.
    let input = BatchRequest::jsonl(&requests(3)).unwrap();
    let sim = Simulator::start(SimulatorConfig {
        batches: paced(5, 1),
        files: steadfast_sim::FileLimits {
            max_total_bytes: input.len() as u64 + 64,
            ..steadfast_sim::FileLimits::default()
        },
        ..SimulatorConfig::default()
    })
    .await
    .unwrap();
    let client = sim.client_with(fast()).unwrap();
    let file = client
        .upload_file("application/jsonl", input, None)
        .await
        .unwrap();
    let batch = client
        .create_batch("gemini-2.5-flash", "too big", BatchInput::file(&file))
        .await
        .unwrap();
    let done = client
        .wait_for_batch(&batch, Duration::from_millis(5), |_| {})
        .await
        .unwrap();
    assert_eq!(done.state, BatchState::Failed);
    assert!(
        done.error
            .as_ref()
            .is_some_and(|e| e.message.contains("does not fit")),
        "{done:?}"
    );
    assert!(client.batch_results(&done).await.is_err());
}
