//! The client's quotas kept in Redis (`SharedQuotas`, feature `redis`) against a real
//! `redis-server` and the simulator on a socket: clients that share nothing but Redis behave as
//! one (a configured limit, a limit learned from a 429, a refusal), and every Redis fault ends
//! as documented. Each `Client` here stands for a process: they share no memory, only Redis
//! (the multi-process run is `examples/tests/distributed.rs`). Real time is unavoidable: the
//! simulated minute is short, and assertions are on counts.

#![cfg(feature = "redis")]
#![allow(clippy::unwrap_used)]

use std::time::Duration;
use steadfast::limit::Unavailable;
use steadfast_gemini::{
    Client, ClientPolicy, ErrorKind, LimitSource, Metric, ModelLimits, SharedQuotas,
};
use steadfast_sim::{SimModel, Simulator, SimulatorConfig};
use steadfast_testkit::redis::RedisServer;

const MODEL: &str = "gemini-2.5-flash";
/// A made-up key shaped like Google's, spelled in two pieces so that no key-shaped literal
/// sits in the source.
const KEY: &str = concat!("AIza", "SyA-made-up-shared-quota-key-000000");
const MINUTE: Duration = Duration::from_secs(1);

/// The simulator with one key and a server-side quota of `rpm` per one-second minute.
async fn simulator(rpm: u32) -> Simulator {
    simulator_with(MINUTE, Some(rpm), None).await
}

async fn simulator_with(minute: Duration, rpm: Option<u32>, tpm: Option<u32>) -> Simulator {
    let mut model = SimModel::new(MODEL);
    model.rpm = rpm;
    model.tpm = tpm;
    Simulator::start(SimulatorConfig {
        keys: vec![KEY.to_owned()],
        models: vec![model],
        minute,
        ..SimulatorConfig::default()
    })
    .await
    .unwrap()
}

fn rpm(n: u32) -> ModelLimits {
    ModelLimits {
        rpm: Some(n),
        ..ModelLimits::default()
    }
}

fn policy() -> ClientPolicy {
    ClientPolicy::default()
        .quota_minute(MINUTE)
        .preflight(false)
        .retry_with(|r| {
            r.attempts(6)
                .base(Duration::from_millis(20))
                .max_delay(Duration::from_millis(200))
        })
}

/// A client of the simulator, sharing `shared` when given.
fn client(sim: &Simulator, policy: ClientPolicy, shared: Option<SharedQuotas>) -> Client {
    let mut builder = Client::builder()
        .base_url(sim.base_url())
        .key(KEY)
        .policy(policy);
    if let Some(shared) = shared {
        builder = builder.shared_quotas(shared);
    }
    builder.build().unwrap()
}

async fn shared(redis: &RedisServer, mode: Unavailable) -> SharedQuotas {
    SharedQuotas::redis(&redis.url(), "tests")
        .on_unavailable(mode)
        .timeout(Duration::from_millis(200))
        .connect()
        .await
        .unwrap()
}

/// `calls` calls from each client, 6 at a time per client; the number that failed.
async fn run(clients: &[Client], calls: usize) -> usize {
    let mut tasks = Vec::new();
    for c in clients {
        for t in 0..6 {
            let c = c.clone();
            tasks.push(tokio::spawn(async move {
                let mut failed = 0;
                for _ in (t..calls).step_by(6) {
                    if c.generate(MODEL, "hello").await.is_err() {
                        failed += 1;
                    }
                }
                failed
            }));
        }
    }
    let mut failed = 0;
    for t in tasks {
        failed += t.await.unwrap();
    }
    failed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_with_one_configured_limit_stay_under_it_together() {
    let redis = RedisServer::start();
    let limited = || policy().limits(MODEL, rpm(20));
    // Without sharing, each client keeps its own count: together they send twice the quota.
    let sim = simulator(20).await;
    let alone = [client(&sim, limited(), None), client(&sim, limited(), None)];
    assert_eq!(run(&alone, 30).await, 0);
    assert!(
        sim.stats().rate_limited > 0,
        "the control run must overrun the server's quota: {:?}",
        sim.stats()
    );
    // Sharing Redis, they are one client: the server refuses nothing.
    let sim = simulator(20).await;
    let together = [
        client(
            &sim,
            limited(),
            Some(shared(&redis, Unavailable::Wait).await),
        ),
        client(
            &sim,
            limited(),
            Some(shared(&redis, Unavailable::Wait).await),
        ),
    ];
    assert_eq!(run(&together, 30).await, 0);
    let stats = sim.stats();
    assert_eq!(stats.rate_limited, 0, "{stats:?}");
    assert_eq!(stats.answered, 60);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limit_one_client_learns_binds_the_other() {
    let redis = RedisServer::start();
    let sim = simulator(10).await;
    // No configured limit: the first client learns the quota from its first 429.
    let first = client(
        &sim,
        policy(),
        Some(shared(&redis, Unavailable::Wait).await),
    );
    let mut calls = 0;
    while sim.stats().rate_limited == 0 {
        first.generate(MODEL, "hello").await.unwrap();
        calls += 1;
        assert!(calls < 50, "the server never refused: {:?}", sim.stats());
    }
    let refused_before = sim.stats().rate_limited;
    // A second client, which never saw a 429, paces itself by what the first learned.
    let second = client(
        &sim,
        policy(),
        Some(shared(&redis, Unavailable::Wait).await),
    );
    assert_eq!(run(std::slice::from_ref(&second), 30).await, 0);
    let stats = sim.stats();
    assert_eq!(
        stats.rate_limited, refused_before,
        "the second client was refused: {stats:?}"
    );
    let quota = second.quotas();
    let learned = quota
        .projects
        .iter()
        .flat_map(|p| &p.models)
        .flat_map(|m| &m.limits)
        .find(|l| l.source == LimitSource::Learned && l.metric == Metric::Requests)
        .cloned();
    assert_eq!(learned.map(|l| l.value), Some(10), "{quota:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_key_is_written_to_redis() {
    let redis = RedisServer::start();
    let sim = simulator(5).await;
    let c = client(
        &sim,
        policy(),
        Some(shared(&redis, Unavailable::Wait).await),
    );
    assert_eq!(run(std::slice::from_ref(&c), 12).await, 0);
    assert!(sim.stats().rate_limited > 0, "a 429 writes learned limits");
    let connection = redis::Client::open(redis.url()).unwrap();
    let mut connection = connection.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut connection)
        .await
        .unwrap();
    assert!(keys.iter().any(|k| k.ends_with(":learned")), "{keys:?}");
    for k in &keys {
        assert!(!k.contains(KEY) && !k.contains("AIza"), "{k}");
        let dump: Vec<u8> = redis::cmd("DUMP")
            .arg(k)
            .query_async(&mut connection)
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&dump);
        assert!(!text.contains(KEY) && !text.contains("AIza"), "{k}: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_redis_at_start_is_an_error_naming_the_url_without_its_password() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("redis://:hunter2@127.0.0.1:{port}/0");
    let e = SharedQuotas::redis(&url, "tests")
        .connect()
        .await
        .unwrap_err();
    let text = e.to_string();
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
    assert!(matches!(e.kind(), ErrorKind::Configuration), "{e:?}");
    let e = SharedQuotas::redis("redis://127.0.0.1:1", "two words")
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("namespace"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_mid_run_fails_falls_back_or_waits_as_chosen() {
    let mut redis = RedisServer::start();
    let port = redis.port;
    let sim = simulator(100).await;
    let limited = || policy().limits(MODEL, rpm(100));
    let fail = client(
        &sim,
        limited(),
        Some(shared(&redis, Unavailable::Fail).await),
    );
    let local = client(
        &sim,
        limited(),
        Some(shared(&redis, Unavailable::Local { share: 0.5 }).await),
    );
    let wait = client(
        &sim,
        limited().retry_with(|r| r.deadline(Duration::from_millis(600))),
        Some(shared(&redis, Unavailable::Wait).await),
    );
    for c in [&fail, &local, &wait] {
        c.generate(MODEL, "hello").await.unwrap();
    }
    redis.kill();
    let sent = sim.stats().generate_requests;

    // Fail: at once, with the typed error, nothing sent.
    let e = fail.generate(MODEL, "hello").await.unwrap_err();
    assert!(
        matches!(
            e.kind(),
            ErrorKind::Policy(steadfast::Error::LimiterUnavailable)
        ),
        "{e:?}"
    );
    assert_eq!(sim.stats().generate_requests, sent);

    // Wait: nothing sent while Redis is down; the deadline ends the call.
    let e = wait.generate(MODEL, "hello").await.unwrap_err();
    assert!(
        matches!(
            e.kind(),
            ErrorKind::Policy(steadfast::Error::DeadlineExceeded { .. })
        ),
        "{e:?}"
    );
    assert_eq!(sim.stats().generate_requests, sent);

    // Local: calls go on, under half the configured rate (50 a minute for this client).
    let mut ok = 0;
    for _ in 0..5 {
        if local.generate(MODEL, "hello").await.is_ok() {
            ok += 1;
        }
    }
    assert_eq!(ok, 5);
    assert_eq!(sim.stats().generate_requests, sent + 5);

    // Redis back (empty, on the same port): the waiting client goes on.
    let redis = RedisServer::start_on(port);
    let back = tokio::spawn(async move { wait.generate(MODEL, "hello").await });
    back.await.unwrap().unwrap();
    drop(redis);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_that_empties_redis_lets_at_most_one_more_minute_through() {
    let redis = RedisServer::start();
    let sim = simulator(1000).await;
    // A long minute, so that the run stays inside one window.
    let slow_minute = || {
        policy()
            .quota_minute(Duration::from_secs(30))
            .limits(MODEL, rpm(5))
            .retry_with(|r| r.deadline(Duration::from_millis(250)))
    };
    let a = client(
        &sim,
        slow_minute(),
        Some(shared(&redis, Unavailable::Wait).await),
    );
    let b = client(
        &sim,
        slow_minute(),
        Some(shared(&redis, Unavailable::Wait).await),
    );
    async fn answered(clients: &[&Client], rounds: usize) -> usize {
        let mut ok = 0;
        for _ in 0..rounds {
            for c in clients {
                if c.generate(MODEL, "hello").await.is_ok() {
                    ok += 1;
                }
            }
        }
        ok
    }
    assert_eq!(
        answered(&[&a, &b], 4).await,
        5,
        "the shared minute holds 5 between both clients"
    );
    // Redis restarted empty: it forgets the window. The clients that were told to wait keep
    // waiting; processes that start now (or whose wait ends) get one more minute's quota,
    // never more.
    assert_eq!(redis.command(&["FLUSHALL"]), "+OK");
    let c = client(
        &sim,
        slow_minute(),
        Some(shared(&redis, Unavailable::Wait).await),
    );
    let d = client(
        &sim,
        slow_minute(),
        Some(shared(&redis, Unavailable::Wait).await),
    );
    assert_eq!(answered(&[&a, &b, &c, &d], 3).await, 5);
    assert_eq!(
        sim.stats().answered,
        10,
        "at most twice the limit in one window"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_redis_is_unavailable_after_the_timeout() {
    let redis = RedisServer::start();
    let sim = simulator(100).await;
    let c = client(
        &sim,
        policy(),
        Some(shared(&redis, Unavailable::Fail).await),
    );
    c.generate(MODEL, "hello").await.unwrap();
    assert_eq!(redis.command(&["CLIENT", "PAUSE", "1500", "ALL"]), "+OK");
    let e = c.generate(MODEL, "hello").await.unwrap_err();
    assert!(
        matches!(
            e.kind(),
            ErrorKind::Policy(steadfast::Error::LimiterUnavailable)
        ),
        "{e:?}"
    );
}

/// Found in review: the local fallback kept a share of the per-minute and per-day request
/// limits but dropped the tokens-per-minute limit, so while Redis was down a configured `tpm`
/// did not hold at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_fallback_keeps_its_share_of_the_tokens_per_minute_limit() {
    let mut redis = RedisServer::start();
    let minute = Duration::from_secs(30);
    let sim = simulator_with(minute, Some(1000), Some(100)).await;
    let policy = ClientPolicy::default()
        .quota_minute(minute)
        .preflight(false)
        .learn(false)
        .retry_with(|r| r.attempts(1).deadline(Duration::from_millis(800)))
        .limits(
            MODEL,
            ModelLimits {
                tpm: Some(100),
                ..ModelLimits::default()
            },
        );
    let c = client(
        &sim,
        policy,
        Some(shared(&redis, Unavailable::Local { share: 0.5 }).await),
    );
    let fifty_words = vec!["w"; 50].join(" ");
    c.generate(MODEL, &fifty_words).await.unwrap();
    redis.kill();
    let before = sim.stats().generate_requests;
    for _ in 0..3 {
        let _ = c.generate(MODEL, &fifty_words).await;
    }
    // Half of 100 tokens a minute: one request of 50 tokens while Redis is down.
    assert_eq!(
        sim.stats().generate_requests - before,
        1,
        "{:?}",
        sim.stats()
    );
    assert_eq!(sim.stats().rate_limited, 0);
}

/// Found in review: a round trip that timed out was reported as "not sent", yet the script
/// queued in Redis ran later and recorded the request: with a tight limit, the phantom entry
/// kept every process out for a whole window. Its entry is now forgotten once Redis answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_admission_is_forgotten_once_redis_answers() {
    let redis = RedisServer::start();
    let minute = Duration::from_secs(30);
    let sim = simulator_with(minute, Some(1000), None).await;
    let limited = || {
        policy()
            .quota_minute(minute)
            .retry_with(|r| r.attempts(1))
            .limits(MODEL, rpm(2))
    };
    let fail = client(
        &sim,
        limited(),
        Some(shared(&redis, Unavailable::Fail).await),
    );
    fail.generate(MODEL, "hello").await.unwrap();
    // A slow Redis: another application's script holds it for about 800 ms.
    let mut busy = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let blocker = tokio::spawn(async move {
        let _: redis::RedisResult<i64> = redis::cmd("EVAL")
            .arg(
                "local t = redis.call('TIME') local s = t[1] * 1000000 + t[2] \
                 for i = 1, 400000000 do \
                   if i % 10000 == 0 then local n = redis.call('TIME') \
                     if n[1] * 1000000 + n[2] - s > 800000 then break end end \
                 end return 1",
            )
            .arg(0)
            .query_async(&mut busy)
            .await;
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let e = fail.generate(MODEL, "hello").await.unwrap_err();
    assert!(
        matches!(
            e.kind(),
            ErrorKind::Policy(steadfast::Error::LimiterUnavailable)
        ),
        "{e:?}"
    );
    blocker.await.unwrap();
    // The first forget is tried a second after the timeout.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(sim.stats().generate_requests, 1);
    // Another process finds one of the two slots of the shared minute free.
    let other = client(
        &sim,
        limited().retry_with(|r| r.deadline(Duration::from_millis(500))),
        Some(shared(&redis, Unavailable::Wait).await),
    );
    other.generate(MODEL, "hello").await.unwrap();
    assert_eq!(sim.stats().generate_requests, 2);
}

/// Found in review: with the default policy (no deadline) a call in `Wait` mode waited for
/// Redis forever. It now gives up after `max_wait`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_for_redis_ends_after_max_wait_even_without_a_deadline() {
    let mut redis = RedisServer::start();
    let sim = simulator(100).await;
    let shared = SharedQuotas::redis(&redis.url(), "tests")
        .timeout(Duration::from_millis(100))
        .max_wait(Duration::from_millis(600))
        .connect()
        .await
        .unwrap();
    let c = client(&sim, ClientPolicy::default().preflight(false), Some(shared));
    c.generate(MODEL, "hello").await.unwrap();
    redis.kill();
    let e = tokio::time::timeout(Duration::from_secs(10), c.generate(MODEL, "hello"))
        .await
        .expect("the call ends")
        .unwrap_err();
    assert!(
        matches!(
            e.kind(),
            ErrorKind::Policy(steadfast::Error::LimiterUnavailable)
        ),
        "{e:?}"
    );
    assert_eq!(sim.stats().generate_requests, 1);
}
