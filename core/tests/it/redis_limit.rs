//! `RedisRateLimit` against a real `redis-server` (started by each test on a free port): exact
//! windows across tasks and OS processes, and every fault the module documentation promises to
//! handle. Real time is unavoidable here; runs are short and assertions are on counts and windows
//! with margins, never on durations.

#![cfg(feature = "redis")]
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use steadfast::Policy;
use steadfast::limit::{Denied, RateLimiter, RedisRateLimit, Unavailable};
use steadfast_testkit::redis::RedisServer;

use crate::common::{PACED_20, busiest, hammer, utilisation};

fn micros(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

/// Taken by the tests whose assertions are on timing (utilisation, spacing), so that they do not
/// run while another one loads both cores (`lock().await` in async tests, `blocking_lock()` in
/// the others).
static TIMING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_process_many_tasks_never_exceed_the_limit_in_any_window() {
    let _timing = TIMING.lock().await;
    let redis = RedisServer::start();
    let limit = Arc::new(
        RedisRateLimit::builder(&redis.url(), "tasks")
            .per_second(20)
            .connect()
            .await
            .unwrap(),
    );
    let mut times = hammer(limit, 50, Duration::from_secs(2)).await;
    assert!(times.len() >= 30, "{} grants", times.len());
    assert!(busiest(&mut times, Duration::from_secs(1)) <= 20);
    let u = utilisation(&mut times, PACED_20);
    assert!(u >= 0.97, "utilisation {u:.3}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weighted_quotas_and_several_windows_hold_together() {
    let redis = RedisServer::start();
    // 600 tokens per second in bursts of up to 200, and at most 10 requests per second.
    let tokens = Arc::new(
        RedisRateLimit::builder(&redis.url(), "tpm")
            .per_second(600)
            .burst(200)
            .connect()
            .await
            .unwrap(),
    );
    let requests = Arc::new(
        RedisRateLimit::builder(&redis.url(), "rps")
            .per_second(10)
            .per_minute(15)
            .burst(5)
            .connect()
            .await
            .unwrap(),
    );
    assert_eq!(
        tokens.try_acquire(201).await,
        Err(Denied::never()),
        "above burst"
    );
    let log = Arc::new(Mutex::new(Vec::new()));
    let asked = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let until = tokio::time::Instant::now() + Duration::from_millis(2500);
    let mut handles = Vec::new();
    for i in 0..8u32 {
        let (tokens, requests, log) = (tokens.clone(), requests.clone(), log.clone());
        let asked = asked.clone();
        handles.push(tokio::spawn(async move {
            let weight = 50 + 20 * i;
            while tokio::time::Instant::now() < until {
                let Ok(Ok(g)) = tokio::time::timeout_at(until, tokens.grant(weight)).await else {
                    break;
                };
                log.lock().unwrap().push((micros(g.at), weight));
                if let Ok(Ok(_)) = tokio::time::timeout_at(until, requests.grant(1)).await {
                    asked.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    let mut log = log.lock().unwrap().clone();
    log.sort_unstable();
    let mut first = 0;
    let mut in_window = 0u32;
    for last in 0..log.len() {
        in_window += log[last].1;
        while log[last].0 - log[first].0 >= 1_000_000 {
            in_window -= log[first].1;
            first += 1;
        }
        assert!(in_window <= 600, "{in_window} tokens in one second");
    }
    assert!(log.len() > 10);
    // The request limiter's minute quota (15) holds: the run took at most 15, and once the rest
    // is taken (paced at 10 a second), the next is refused until the minute's window moves, not
    // for the pace. (How many the run took depends on the machine's speed: a loaded machine
    // made fewer token grants and so fewer requests, which is why the rest is topped up here.)
    let asked = asked.load(std::sync::atomic::Ordering::Relaxed);
    assert!(asked <= 15, "{asked} requests within one minute");
    for _ in asked..15 {
        requests.grant(1).await.expect("under the minute quota");
    }
    let refused = requests
        .try_acquire(1)
        .await
        .expect_err("the minute quota is used up");
    let wait = refused.retry_after().expect("a wait, not never");
    assert!(wait > Duration::from_secs(50), "refused for {wait:?}");
}

#[tokio::test]
async fn unreachable_redis_at_start_is_a_clear_error_without_the_password() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let err = RedisRateLimit::builder(&format!("redis://:s3cret@127.0.0.1:{port}"), "x")
        .per_second(1)
        .connect()
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
    assert!(!message.contains("s3cret"), "{message}");
}

/// Regression (second probe): a Redis that needs a password the URL does not give accepted
/// the connection at `connect()`, then refused every acquisition ("unavailable": `Wait` until
/// the deadline, or for ever without one), saying why only in a log line. `connect()` now
/// sends a PING and fails with Redis's own reason.
#[tokio::test]
async fn a_redis_that_needs_a_password_is_an_error_at_connect() {
    let redis = RedisServer::start_with_password("pa55word");
    let err = RedisRateLimit::builder(&redis.url(), "needs-auth")
        .per_second(1)
        .connect()
        .await
        .map(|_| ())
        .expect_err("connect without the password fails");
    let message = err.to_string();
    assert!(
        message.contains("NOAUTH") || message.to_lowercase().contains("auth"),
        "{message}"
    );
    let with_password = format!("redis://:pa55word@127.0.0.1:{}", redis.port);
    let limit = RedisRateLimit::builder(&with_password, "needs-auth")
        .per_second(1)
        .connect()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(limit.try_grant(1).await.is_ok());
    // The wrong password is refused at connect too, and never shown.
    let err = RedisRateLimit::builder(
        &format!("redis://:wrong-one@127.0.0.1:{}", redis.port),
        "needs-auth",
    )
    .per_second(1)
    .connect()
    .await
    .map(|_| ())
    .expect_err("a wrong password fails");
    assert!(!err.to_string().contains("wrong-one"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_mid_run_wait_mode_waits_and_resumes() {
    let mut redis = RedisServer::start();
    let port = redis.port;
    let limit = Arc::new(
        RedisRateLimit::builder(&redis.url(), "wait")
            .per_second(50)
            .timeout(Duration::from_millis(100))
            .connect()
            .await
            .unwrap(),
    );
    limit.acquire(1).await.unwrap();
    redis.kill();
    let waiting = tokio::spawn({
        let limit = limit.clone();
        async move { limit.grant(1).await }
    });
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(
        !waiting.is_finished(),
        "nothing is granted while Redis is down"
    );
    let _redis = RedisServer::start_on(port);
    let grant = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("granted once Redis is back")
        .unwrap()
        .unwrap();
    assert!(!grant.local);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_mid_run_local_mode_grants_only_its_share() {
    let mut redis = RedisServer::start();
    let limit = RedisRateLimit::builder(&redis.url(), "local")
        .per_minute(40)
        .burst(40)
        .on_unavailable(Unavailable::Local { share: 0.25 })
        .timeout(Duration::from_millis(100))
        .connect()
        .await
        .unwrap();
    assert!(!limit.try_grant(1).await.unwrap().local);
    redis.kill();
    let mut local = 0;
    for _ in 0..30 {
        match limit.try_grant(1).await {
            Ok(g) => {
                assert!(g.local);
                local += 1;
            }
            Err(d) => assert!(d.retry_after().is_some()),
        }
    }
    assert_eq!(local, 10, "a quarter of 40 per minute while Redis is down");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_mid_run_fail_mode_fails_the_call_with_a_typed_error() {
    let mut redis = RedisServer::start();
    let limit = RedisRateLimit::builder(&redis.url(), "fail")
        .per_second(5)
        .on_unavailable(Unavailable::Fail)
        .timeout(Duration::from_millis(100))
        .connect()
        .await
        .unwrap();
    let policy = Policy::builder().limiter(Arc::new(limit)).build().unwrap();
    let ok: Result<(), std::io::Error> = policy.call(|| async { Ok(()) }).await;
    assert!(ok.is_ok());
    redis.kill();
    let sent = std::sync::atomic::AtomicU32::new(0);
    let err: std::io::Error = policy
        .call(|| async {
            sent.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok::<(), std::io::Error>(())
        })
        .await
        .unwrap_err();
    let inner = err
        .get_ref()
        .unwrap()
        .downcast_ref::<steadfast::Error>()
        .unwrap();
    assert_eq!(*inner, steadfast::Error::LimiterUnavailable);
    assert_eq!(
        sent.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "nothing sent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restarted_empty_allows_at_most_one_more_quota_in_the_window() {
    let mut redis = RedisServer::start();
    let port = redis.port;
    let limit = RedisRateLimit::builder(&redis.url(), "restart")
        .per_minute(5)
        .burst(5)
        .timeout(Duration::from_millis(200))
        .connect()
        .await
        .unwrap();
    let mut granted = 0;
    for _ in 0..8 {
        if limit.try_grant(1).await.is_ok() {
            granted += 1;
        }
    }
    assert_eq!(granted, 5);
    redis.kill();
    let _redis = RedisServer::start_on(port);
    let mut after = 0;
    for _ in 0..40 {
        match limit.try_grant(1).await {
            Ok(_) => after += 1,
            Err(_) if after == 0 => tokio::time::sleep(Duration::from_millis(50)).await,
            Err(_) => {}
        }
    }
    assert_eq!(
        after, 5,
        "the empty Redis grants one more quota, and no more"
    );
    assert!(granted + after <= 2 * 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_redis_costs_at_most_the_timeout() {
    let redis = RedisServer::start();
    let limit = RedisRateLimit::builder(&redis.url(), "slow")
        .per_second(5)
        .on_unavailable(Unavailable::Fail)
        .timeout(Duration::from_millis(100))
        .connect()
        .await
        .unwrap();
    assert!(limit.try_grant(1).await.is_ok());
    // Every client waits 1.5 s for its next command.
    assert_eq!(redis.command(&["CLIENT", "PAUSE", "1500", "ALL"]), "+OK");
    let denied = limit.try_grant(1).await.unwrap_err();
    assert!(denied.is_unavailable(), "{denied}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_acquisition_leaves_at_most_the_slot_it_reserved() {
    let redis = RedisServer::start();
    let limit = Arc::new(
        RedisRateLimit::builder(&redis.url(), "cancel")
            .per_second(1)
            .connect()
            .await
            .unwrap(),
    );
    let first = limit.grant(1).await.unwrap();
    // Five waiters for the next slot (1 s away), each cancelled after 40 ms. A slot is reserved
    // only when it is at most one interval away, so the first waiter reserves the next slot and
    // leaves it unused; the other four find it taken more than an interval ahead and reserve
    // nothing. The documented bound: one slot per cancelled reservation, never more.
    for _ in 0..5 {
        let _ = tokio::time::timeout(Duration::from_millis(40), limit.grant(1)).await;
    }
    let next = limit.grant(1).await.unwrap();
    let gap = next.at.duration_since(first.at).unwrap();
    // Two intervals of 1 s and their 2 ms guards.
    assert!(
        gap <= Duration::from_millis(2 * 1002),
        "at most the one reserved slot is lost to five cancelled waiters: {gap:?}"
    );
    assert!(gap >= Duration::from_millis(1000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_and_only_the_name_in_redis_keys() {
    let redis = RedisServer::start();
    let limit = RedisRateLimit::builder(&redis.url(), "fp-1a2b3c")
        .per_second(5)
        .per_day(100)
        .connect()
        .await
        .unwrap();
    limit.acquire(1).await.unwrap();
    let keys = redis.command(&["KEYS", "*"]);
    assert!(keys.starts_with('*'), "{keys}");
    let count: usize = keys[1..].parse().unwrap();
    assert!(count >= 3, "pace, sequence, day log and its sum: {keys}");
    assert!(format!("{limit:?}").contains("fp-1a2b3c"));
}

static ATTRIBUTE_URL: std::sync::OnceLock<String> = std::sync::OnceLock::new();

fn attribute_limiter() -> Arc<RedisRateLimit> {
    Arc::new(
        RedisRateLimit::builder(ATTRIBUTE_URL.get().unwrap(), "attribute")
            .per_second(5)
            .build()
            .unwrap(),
    )
}

#[steadfast::resilient(limiter = attribute_limiter(), attempts = 1)]
async fn through_the_attribute(
    starts: &Mutex<Vec<std::time::Instant>>,
) -> Result<(), std::io::Error> {
    starts.lock().unwrap().push(std::time::Instant::now());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_attribute_takes_a_redis_limiter_value() {
    let redis = RedisServer::start();
    ATTRIBUTE_URL.set(redis.url()).unwrap();
    let starts = Mutex::new(Vec::new());
    for _ in 0..6 {
        through_the_attribute(&starts).await.unwrap();
    }
    let starts = starts.lock().unwrap();
    for pair in starts.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap >= Duration::from_millis(150),
            "5 per second: 200 ms apart, got {gap:?}"
        );
    }
    assert!(
        redis
            .command(&["EXISTS", "steadfast:{attribute}:pace"])
            .ends_with('1')
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_file_limiter_table_shares_the_quota_through_redis() {
    let redis = RedisServer::start();
    let text = format!(
        "rps = 4\nattempts = 1\n[limiter]\nredis = \"{}\"\nname = \"from-config\"\ntimeout = \"200ms\"\n",
        redis.url()
    );
    let config: steadfast::policy::PolicyConfig = toml::from_str(&text).unwrap();
    let a = config.clone().build().unwrap();
    let b = config.build().unwrap();
    // Two policies built from the same file (two processes, in effect) share one pace.
    let mut starts = Vec::new();
    for policy in [&a, &b, &a, &b, &a] {
        let r: Result<(), std::io::Error> = policy
            .call(|| {
                starts.push(std::time::Instant::now());
                async { Ok(()) }
            })
            .await;
        r.unwrap();
    }
    for pair in starts.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap >= Duration::from_millis(200),
            "4 per second, shared: 250 ms apart, got {gap:?}"
        );
    }
    assert!(
        redis
            .command(&["EXISTS", "steadfast:{from-config}:pace"])
            .ends_with('1')
    );
    let bad: steadfast::policy::PolicyConfig = toml::from_str(
        "rps = 4\n[limiter]\nredis = \"redis://127.0.0.1:1\"\nname = \"has space\"\n",
    )
    .unwrap();
    assert_eq!(bad.build().unwrap_err().field(), "name");
}

/// A server that refuses any request closer than `spacing` to the one before (the strictest
/// reading of "N per second"): one byte per request on each connection, counted as it arrives.
struct StrictEnforcer {
    addr: std::net::SocketAddr,
    arrivals: Arc<Mutex<Vec<std::time::Instant>>>,
}

impl StrictEnforcer {
    fn start(connections: usize) -> StrictEnforcer {
        use std::io::Read;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let arrivals = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&arrivals);
        std::thread::spawn(move || {
            for _ in 0..connections {
                let (mut socket, _) = listener.accept().unwrap();
                socket.set_nodelay(true).unwrap();
                let log = Arc::clone(&log);
                std::thread::spawn(move || {
                    let mut byte = [0u8; 1];
                    while socket.read_exact(&mut byte).is_ok() {
                        log.lock().unwrap().push(std::time::Instant::now());
                    }
                });
            }
        });
        StrictEnforcer { addr, arrivals }
    }

    /// `(refused, first to last arrival)`: a request is refused when it arrived less than
    /// `spacing` after the previous accepted one.
    fn verdict(&self, spacing: Duration) -> (usize, usize, Duration) {
        let mut times = self.arrivals.lock().unwrap().clone();
        times.sort();
        let mut refused = 0;
        let mut last: Option<std::time::Instant> = None;
        for t in &times {
            match last {
                Some(l) if *t - l < spacing => refused += 1,
                _ => last = Some(*t),
            }
        }
        (refused, times.len(), times[times.len() - 1] - times[0])
    }
}

/// Two workers (each with its own runtime thread and Redis connection, as two processes would
/// have) share `per_second(20)` and send each granted request to a strict enforcer.
fn two_workers_against_a_strict_enforcer(
    guard: Option<Duration>,
    each: usize,
) -> (usize, usize, Duration) {
    let _timing = TIMING.blocking_lock();
    let redis = RedisServer::start();
    let enforcer = StrictEnforcer::start(2);
    let name = format!("strict-{}", guard.map_or(-1, |g| g.as_micros() as i64));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (url, name, addr) = (redis.url(), name.clone(), enforcer.addr);
            std::thread::spawn(move || {
                use std::io::Write;
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async move {
                    let mut builder = RedisRateLimit::builder(&url, &name).per_second(20);
                    if let Some(guard) = guard {
                        builder = builder.guard(guard);
                    }
                    let limit = builder.connect().await.unwrap();
                    let mut socket = std::net::TcpStream::connect(addr).unwrap();
                    socket.set_nodelay(true).unwrap();
                    for _ in 0..each {
                        limit.grant(1).await.unwrap();
                        socket.write_all(b"x").unwrap();
                    }
                });
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    // The last bytes may still be on their way to the enforcer's threads.
    let started = std::time::Instant::now();
    while enforcer.arrivals.lock().unwrap().len() < 2 * each
        && started.elapsed() < Duration::from_secs(5)
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    enforcer.verdict(Duration::from_millis(50))
}

/// Issue 24, item 7 (found by a probe): two processes sharing `per_second(20)` against a server
/// that refuses requests closer than 50 ms had 19-25 % refused, because each sends a little
/// after its slot, by a varying amount. The default guard absorbs it: at most 1 % refused, at
/// most 1.05x the ideal time (99 intervals of 50 ms for 100 requests).
#[test]
fn a_strict_enforcer_refuses_almost_nothing_with_the_default_guard() {
    let (refused, seen, span) = two_workers_against_a_strict_enforcer(None, 50);
    eprintln!("default guard: {refused} of {seen} refused, {span:?}");
    assert_eq!(seen, 100);
    assert!(refused <= 1, "{refused} of 100 refused");
    let ideal = Duration::from_millis(50) * 99;
    let ratio = span.as_secs_f64() / ideal.as_secs_f64();
    assert!(ratio <= 1.05, "{ratio:.3}x the ideal time ({span:?})");
}

/// What the guard is for: without it, the same run has requests refused (measured: 19-25 %).
#[test]
#[ignore = "measures the defect the guard fixes (5 s of real time): run with --ignored"]
fn without_a_guard_a_strict_enforcer_refuses_some() {
    let (refused, seen, span) = two_workers_against_a_strict_enforcer(Some(Duration::ZERO), 50);
    eprintln!("no guard: {refused} of {seen} refused, {span:?}");
    assert!(refused > 0);
}
