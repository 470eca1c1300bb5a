//! Paused-clock tests of the client's routing and quotas, against [`MockGemini`]: a server that
//! counts per project and model like Gemini and answers with Gemini's own error bodies, called
//! in-process through the client's one request hook (`Client::execute`). No sockets: with
//! tokio's paused clock, time jumps whenever the runtime is idle, including while it waits for a
//! socket, so loopback tests run on the real clock instead (`tests/client_policy.rs`).

use super::quota::{LimitSource, Metric};
use super::{ApiKey, Client};
use crate::{ClientPolicy, Error, ErrorKind, ModelLimits};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

const MODEL: &str = "gemini-2.5-flash";
const MINUTE: Duration = Duration::from_secs(60);

/// What a refused request's body says about the quota.
#[derive(Debug, Clone)]
enum Says {
    /// A QuotaFailure with this `quotaValue` (the real limit, or garbage), and RetryInfo.
    QuotaValue(String),
    /// RESOURCE_EXHAUSTED with RetryInfo and no QuotaFailure.
    Nothing,
}

/// A Gemini that counts generate requests per project (per key, unless keys are mapped to a
/// project) in a sliding minute, and fails requests it is told to fail.
#[derive(Debug)]
struct MockGemini {
    /// Requests per minute per project.
    rpm: u32,
    says: Says,
    /// Key → project; a key not here is its own project.
    projects: HashMap<String, String>,
    /// Every `n`th request (1-based) answers 503; 0 for none.
    overloaded_every: u32,
    seen: AtomicU32,
    /// Every request: when, which project, and whether it was refused for quota.
    log: Mutex<Vec<(Instant, String, bool)>>,
}

impl MockGemini {
    fn new(rpm: u32, says: Says) -> Self {
        MockGemini {
            rpm,
            says,
            projects: HashMap::new(),
            overloaded_every: 0,
            seen: AtomicU32::new(0),
            log: Mutex::new(Vec::new()),
        }
    }

    fn project_of(&self, key: &ApiKey) -> String {
        let key = key.expose();
        self.projects
            .get(key)
            .cloned()
            .unwrap_or_else(|| key.to_owned())
    }

    /// One `generateContent`.
    fn generate(&self, key: &ApiKey, model: &str) -> Result<String, Error> {
        let n = self.seen.fetch_add(1, Ordering::Relaxed) + 1;
        let now = Instant::now();
        let project = self.project_of(key);
        let mut log = self.log.lock().unwrap();
        if self.overloaded_every > 0 && n % self.overloaded_every == 0 {
            log.push((now, project, false));
            return Err(Error::from_body(
                503,
                br#"{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}"#,
            ));
        }
        let counted: Vec<Instant> = log
            .iter()
            .filter(|(t, p, refused)| *p == project && !refused && now - *t < MINUTE)
            .map(|(t, _, _)| *t)
            .collect();
        if counted.len() >= self.rpm as usize {
            let frees = counted[counted.len() - self.rpm as usize] + MINUTE - now;
            // Whole seconds, as the real API sends them.
            let retry = frees.as_secs() + u64::from(frees.subsec_nanos() > 0);
            log.push((now, project, true));
            let body = match &self.says {
                Says::QuotaValue(value) => format!(
                    r#"{{"error":{{"code":429,"status":"RESOURCE_EXHAUSTED","message":"You exceeded your current quota. Please retry in {retry}s.","details":[{{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{{"quotaMetric":"generativelanguage.googleapis.com/generate_content_free_tier_requests","quotaId":"GenerateRequestsPerMinutePerProjectPerModel-FreeTier","quotaDimensions":{{"location":"global","model":"{model}"}},"quotaValue":"{value}"}}]}},{{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"{retry}s"}}]}}}}"#
                ),
                Says::Nothing => format!(
                    r#"{{"error":{{"code":429,"status":"RESOURCE_EXHAUSTED","message":"Resource has been exhausted (e.g. check quota).","details":[{{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"{retry}s"}}]}}}}"#
                ),
            };
            return Err(Error::from_body(429, body.as_bytes()));
        }
        log.push((now, project, false));
        Ok(format!("answer {n}"))
    }

    fn requests(&self) -> usize {
        self.log.lock().unwrap().len()
    }

    fn refused(&self) -> usize {
        self.log.lock().unwrap().iter().filter(|r| r.2).count()
    }

    /// The most requests (refused ones included) that any 60 s window holds.
    fn busiest_minute(&self) -> usize {
        let log = self.log.lock().unwrap();
        (0..log.len())
            .map(|i| log[i..].iter().filter(|r| r.0 - log[i].0 < MINUTE).count())
            .max()
            .unwrap_or(0)
    }
}

fn client(keys: &[&str], policy: ClientPolicy) -> Client {
    let mut builder = Client::builder()
        .base_url("http://127.0.0.1:9")
        .policy(policy);
    for key in keys {
        builder = builder.key(key);
    }
    builder.build().unwrap()
}

/// A call through the client's policy, sent to `mock` (the pre-flight guard has no request to
/// look at, so it sends nothing).
async fn call(client: &Client, mock: &MockGemini) -> Result<String, Error> {
    client
        .execute(&client.chain(MODEL), None, |key, model| async move {
            mock.generate(&key, &model)
        })
        .await
}

/// Sends `total` calls from `total` concurrent tasks; returns the virtual time it took.
async fn drain(client: &Client, mock: &Arc<MockGemini>, total: usize) -> Duration {
    let start = Instant::now();
    let tasks: Vec<_> = (0..total)
        .map(|_| {
            let (client, mock) = (client.clone(), Arc::clone(mock));
            tokio::spawn(async move { call(&client, &mock).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    start.elapsed()
}

thread_local! {
    /// Where the events of this thread's test go, while it captures them.
    static CAPTURE: std::cell::RefCell<Option<Captured>> = const { std::cell::RefCell::new(None) };
}

/// Collects every event the client logs on this thread (paused-clock tests run on one).
///
/// One global subscriber serves every test: per-thread (scoped) subscribers in tests that run
/// in parallel let `tracing` cache a call site as uninteresting for all of them.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

/// The global subscriber's writer: to the capture of the current thread, if any.
struct ToCapture;

impl std::io::Write for ToCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        CAPTURE.with(|c| {
            if let Some(c) = &*c.borrow() {
                c.0.lock().unwrap().extend_from_slice(buf);
            }
        });
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Stops capturing when dropped.
struct Capturing;

impl Drop for Capturing {
    fn drop(&mut self) {
        CAPTURE.with(|c| *c.borrow_mut() = None);
    }
}

impl Captured {
    fn start(&self) -> Capturing {
        static GLOBAL: std::sync::Once = std::sync::Once::new();
        GLOBAL.call_once(|| {
            let subscriber = tracing_subscriber::fmt()
                .with_max_level(tracing::Level::DEBUG)
                .with_ansi(false)
                .with_writer(|| ToCapture)
                .finish();
            tracing::subscriber::set_global_default(subscriber).unwrap();
        });
        CAPTURE.with(|c| *c.borrow_mut() = Some(self.clone()));
        Capturing
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

mod one_layer {
    use super::*;

    static ATTEMPTS: AtomicU32 = AtomicU32::new(0);

    /// The README's headline function, over a client with its default policy.
    #[steadfast::resilient(retry = "exp", on = [429, 500, 503], rpm = 25)]
    async fn ask(client: &Client, mock: &MockGemini) -> Result<String, Error> {
        ATTEMPTS.fetch_add(1, Ordering::Relaxed);
        call(client, mock).await
    }

    #[tokio::test(start_paused = true)]
    async fn the_headline_function_sends_one_generate_per_attribute_attempt() {
        // The server allows 20 a minute (the attribute's 25 is more) and overloads on every
        // 7th request: the calls meet 503s and 429s with RetryInfo.
        let mock = MockGemini {
            overloaded_every: 7,
            ..MockGemini::new(20, Says::QuotaValue("20".into()))
        };
        let client = client(&["test-key-not-real-000001"], ClientPolicy::default());
        for _ in 0..60 {
            ask(&client, &mock).await.unwrap();
        }
        let attempts = ATTEMPTS.load(Ordering::Relaxed) as usize;
        assert!(mock.refused() >= 1, "a 429 with RetryInfo was met");
        assert!(attempts > 60, "some attempts failed and were retried");
        assert_eq!(
            mock.requests(),
            attempts,
            "exactly one generateContent per attribute attempt"
        );
        assert!(mock.busiest_minute() <= 25, "{}", mock.busiest_minute());
        // The client made no retry of its own: the attribute did.
        let stats = client.stats().total();
        assert_eq!(stats.retries, 0);
        assert_eq!(stats.requests as usize, attempts);
    }

    #[tokio::test(start_paused = true)]
    async fn alone_the_client_retries_itself() {
        let mock = MockGemini {
            overloaded_every: 2,
            ..MockGemini::new(100, Says::Nothing)
        };
        let client = client(
            &["test-key-not-real-000001"],
            ClientPolicy::default().breaker(None),
        );
        call(&client, &mock).await.unwrap();
        call(&client, &mock).await.unwrap();
        // The second call's first request was the 2nd: a 503, retried by the client.
        assert_eq!(mock.requests(), 3);
        assert_eq!(client.stats().total().retries, 1);
    }
}

mod spreading {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn three_projects_at_10_a_minute_drain_300_in_about_10_minutes() {
        let mock = Arc::new(MockGemini::new(10, Says::QuotaValue("10".into())));
        let client = client(
            &[
                "test-key-project-a-0001",
                "test-key-project-b-0002",
                "test-key-project-c-0003",
            ],
            ClientPolicy::default(),
        );
        let took = drain(&client, &mock, 300).await;
        // 30 a minute: the last 30 go out at the start of the 10th minute.
        assert!(
            took >= Duration::from_secs(9 * 60) && took <= Duration::from_secs(10 * 60),
            "{took:?}"
        );
        // One 429 per project, which taught its limit; none after.
        assert_eq!(mock.refused(), 3);
        let quotas = client.quotas();
        for project in &quotas.projects {
            let m = &project.models[0];
            assert!(
                m.limits.iter().any(|l| l.metric == Metric::Requests
                    && l.value == 10
                    && l.source == LimitSource::Learned),
                "{m:?}"
            );
        }
        let log = mock.log.lock().unwrap();
        for project in ["-a-", "-b-", "-c-"] {
            let per_project: Vec<_> = log.iter().filter(|r| r.1.contains(project)).collect();
            assert_eq!(per_project.iter().filter(|r| !r.2).count(), 100);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn one_project_at_10_a_minute_drains_100_in_10_minutes() {
        let mock = Arc::new(MockGemini::new(10, Says::QuotaValue("10".into())));
        let client = client(&["test-key-project-a-0001"], ClientPolicy::default());
        let took = drain(&client, &mock, 100).await;
        assert!(
            took >= Duration::from_secs(9 * 60) && took <= Duration::from_secs(10 * 60),
            "{took:?}"
        );
        assert_eq!(mock.refused(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_per_minute_429_sends_the_request_through_another_project_at_once() {
        let mock = MockGemini::new(2, Says::QuotaValue("2".into()));
        let client = client(
            &["test-key-project-a-0001", "test-key-project-b-0002"],
            ClientPolicy::default(),
        );
        // Two on each project, spread: a, b, a, b.
        for _ in 0..4 {
            call(&client, &mock).await.unwrap();
        }
        let start = Instant::now();
        // The fifth goes to a, is refused, and goes to b at once, refused too: the call waits
        // for the earliest slot (a minute), then is answered.
        call(&client, &mock).await.unwrap();
        let log = mock.log.lock().unwrap();
        let projects: Vec<_> = log.iter().map(|r| (r.1.contains("-a-"), r.2)).collect();
        assert_eq!(
            projects,
            [
                (true, false),
                (false, false),
                (true, false),
                (false, false),
                (true, true),
                (false, true),
                (true, false)
            ]
        );
        assert_eq!(log[5].0, log[4].0, "rerouted at once, without a backoff");
        assert!(
            start.elapsed() >= Duration::from_secs(59),
            "{:?}",
            start.elapsed()
        );
        assert_eq!(client.stats().total().rerouted, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn keys_of_one_declared_project_share_its_quota() {
        let mut mock = MockGemini::new(10, Says::QuotaValue("10".into()));
        for key in ["test-key-shared-00001", "test-key-shared-00002"] {
            mock.projects.insert(key.into(), "shared".into());
        }
        let mock = Arc::new(mock);
        let client = Client::builder()
            .base_url("http://127.0.0.1:9")
            .project("shared", ["test-key-shared-00001", "test-key-shared-00002"])
            .build()
            .unwrap();
        let took = drain(&client, &mock, 40).await;
        // One quota of 10 a minute: 40 take three more minutes, with one 429 (the lesson).
        assert!(took >= Duration::from_secs(180), "{took:?}");
        assert_eq!(mock.refused(), 1);
        let quotas = client.quotas();
        assert_eq!(quotas.projects.len(), 1);
        assert_eq!(quotas.projects[0].keys, ["****0001", "****0002"]);
    }
}

mod learning {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_quota_failure_teaches_the_limit_once_and_the_snapshot_shows_it() {
        let captured = Captured::default();
        let _guard = captured.start();
        let mock = MockGemini::new(10, Says::QuotaValue("10".into()));
        let key = "test-key-not-real-0000abcd";
        let client = client(&["test-key-other-00000001", key], ClientPolicy::default());
        for _ in 0..60 {
            call(&client, &mock).await.unwrap();
        }
        let text = captured.text();
        let lesson = "gemini-2.5-flash allows 10 requests per minute on project 2 (key ****abcd)";
        assert_eq!(text.matches(lesson).count(), 1, "{text}");
        assert!(!text.contains(key), "a key in a log line");
        let q = client.quotas();
        let m = q.get("2", MODEL).unwrap();
        let learned = m
            .limits
            .iter()
            .find(|l| l.source == LimitSource::Learned)
            .unwrap();
        assert_eq!(
            (learned.metric, learned.value, learned.window),
            (Metric::Requests, 10, MINUTE)
        );
        assert!(learned.used <= 10);
        assert!(
            !format!("{q:?}").contains("not-real"),
            "a key in the snapshot"
        );
        // Two lessons (one per project), then no 429 again.
        assert_eq!(mock.refused(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_learned_limit_never_raises_a_configured_one() {
        let mock = MockGemini::new(10, Says::QuotaValue("10".into()));
        let policy = ClientPolicy::default().limits(
            MODEL,
            ModelLimits {
                rpm: Some(5),
                ..ModelLimits::default()
            },
        );
        let client = client(&["test-key-not-real-000001"], policy);
        let start = Instant::now();
        for _ in 0..11 {
            call(&client, &mock).await.unwrap();
        }
        // Paced at 5 a minute (every 12 s) from the start: the server's 10 is never reached.
        assert!(
            start.elapsed() >= Duration::from_secs(120),
            "{:?}",
            start.elapsed()
        );
        assert_eq!(mock.refused(), 0);
        // A server that says 10 where the user said 5: the lower binds, both are shown.
        let lower = MockGemini::new(3, Says::QuotaValue("3".into()));
        for _ in 0..5 {
            call(&client, &lower).await.unwrap();
        }
        let q = client.quotas();
        let m = q.get("1", MODEL).unwrap();
        let sources: Vec<_> = m.limits.iter().map(|l| (l.source, l.value)).collect();
        assert!(
            sources.contains(&(LimitSource::Configured, 5)),
            "{sources:?}"
        );
        assert!(sources.contains(&(LimitSource::Learned, 3)), "{sources:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn bad_quota_values_teach_nothing_and_say_so_at_debug() {
        for bad in ["-1", "abc", "99999999999"] {
            let captured = Captured::default();
            let _guard = captured.start();
            let mock = MockGemini::new(3, Says::QuotaValue(bad.into()));
            let client = client(
                &["test-key-not-real-000001"],
                ClientPolicy::default().learn(true),
            );
            for _ in 0..6 {
                call(&client, &mock).await.unwrap();
            }
            let q = client.quotas();
            let m = q.get("1", MODEL).unwrap();
            assert!(
                m.limits.iter().all(|l| l.source != LimitSource::Learned),
                "{bad}: {m:?}"
            );
            let text = captured.text();
            assert!(text.contains("DEBUG"), "{text}");
            assert!(text.contains("is not a usable limit"), "{bad}: {text}");
            assert!(!text.contains("allows"), "{bad}: {text}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_project_refused_for_the_minute_is_shown_until_its_retry_info() {
        let mock = MockGemini::new(1, Says::QuotaValue("1".into()));
        let client = client(
            &["test-key-not-real-000001"],
            ClientPolicy::default().retry_with(|r| r.attempts(1)),
        );
        call(&client, &mock).await.unwrap();
        let e = call(&client, &mock).await.unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::RateLimited { .. }), "{e}");
        let q = client.quotas();
        let m = q.get("1", MODEL).unwrap();
        assert_eq!(m.refused_for, Some(MINUTE));
        assert_eq!(m.refused_because, Some("rate_limited_per_minute"));
        assert_eq!(
            m.requests_this_minute, 1,
            "the refused request is not counted"
        );
        tokio::time::advance(MINUTE).await;
        assert_eq!(client.quotas().get("1", MODEL).unwrap().refused_for, None);
    }
}

mod adaptive {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_quota_nobody_states_is_learned_by_the_adaptive_limiter() {
        // The server allows 10 a minute and says only RESOURCE_EXHAUSTED with RetryInfo.
        let mock = Arc::new(MockGemini::new(10, Says::Nothing));
        let client = client(&["test-key-not-real-000001"], ClientPolicy::default());
        let took = drain(&client, &mock, 100).await;
        // One refusal teaches the limit; each probe upwards (after four quiet minutes) may
        // cost one more.
        let refused = mock.refused();
        assert!(refused <= 3, "{refused} refused of {}", mock.requests());
        assert!(took <= Duration::from_secs(11 * 60), "{took:?}");
        let q = client.quotas();
        let m = q.get("1", MODEL).unwrap();
        let adaptive = m
            .limits
            .iter()
            .find(|l| l.source == LimitSource::Adaptive)
            .unwrap();
        assert_eq!((adaptive.value, adaptive.window), (10, MINUTE));
    }

    #[tokio::test(start_paused = true)]
    async fn without_learning_every_minute_meets_a_429() {
        // Only the RetryInfo of each refusal holds the project back: after it, the client
        // sends until the next refusal.
        let mock = Arc::new(MockGemini::new(10, Says::Nothing));
        let client = client(
            &["test-key-not-real-000001"],
            ClientPolicy::default().learn(false),
        );
        drain(&client, &mock, 100).await;
        assert!(mock.refused() >= 9, "{}", mock.refused());
    }
}

mod bad_input {
    use super::*;

    fn build(b: super::super::ClientBuilder) -> Error {
        b.build().unwrap_err()
    }

    #[test]
    fn a_key_given_twice_is_an_error_that_names_its_fingerprint_only() {
        let key = "test-key-not-real-0000abcd";
        for builder in [
            Client::builder().key(key).key(key),
            Client::builder().key(key).project("p", [key]),
            Client::builder().project("p", [key, key]),
            Client::builder()
                .project("p", [key])
                .project("q", ["test-key-not-real-0000other", key]),
        ] {
            let e = build(builder);
            assert_eq!(*e.kind(), ErrorKind::Configuration);
            let text = e.to_string();
            assert!(text.contains("****abcd is given twice"), "{text}");
            assert!(!text.contains("not-real"), "{text}");
        }
    }

    #[test]
    fn empty_projects_and_empty_names_are_errors() {
        let e = build(Client::builder().project("empty", Vec::<String>::new()));
        assert!(e.to_string().contains("`empty` has no key"), "{e}");
        let e = build(
            Client::builder()
                .key("test-key-not-real-000001")
                .project("blank", ["", "  "]),
        );
        assert!(e.to_string().contains("`blank` has no key"), "{e}");
        let e = build(Client::builder().project(" ", ["test-key-not-real-000001"]));
        assert!(e.to_string().contains("empty name"), "{e}");
        let e = build(
            Client::builder()
                .project("p", ["test-key-not-real-000001"])
                .project("p", ["test-key-not-real-000002"]),
        );
        assert!(e.to_string().contains("`p` is declared twice"), "{e}");
    }

    #[test]
    fn undeclared_keys_are_projects_of_their_own_after_declared_ones_in_order() {
        let client = Client::builder()
            .key("test-key-not-real-000001")
            .project(
                "team",
                ["test-key-not-real-000002", "test-key-not-real-000003"],
            )
            .key("test-key-not-real-000004")
            .build()
            .unwrap();
        let q = client.quotas();
        let names: Vec<_> = q
            .projects
            .iter()
            .map(|p| (p.name.as_str(), p.declared, p.keys.len()))
            .collect();
        assert_eq!(names, [("1", false, 1), ("team", true, 2), ("3", false, 1)]);
    }

    #[test]
    fn a_zero_limit_in_the_policy_is_an_error() {
        let e = build(Client::builder().key("test-key-not-real-000001").policy(
            ClientPolicy::default().limits(
                MODEL,
                ModelLimits {
                    rpm: Some(0),
                    ..ModelLimits::default()
                },
            ),
        ));
        assert!(e.to_string().contains("a limit of 0"), "{e}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_zero_quota_skips_the_project_for_an_hour_and_the_next_one_answers() {
        let zero = br#"{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","message":"Quota exceeded","details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaId":"GenerateRequestsPerDayPerProjectPerModel-FreeTier","quotaValue":"0"}]}]}}"#;
        let sent = Mutex::new(Vec::new());
        let client = client(
            &["test-key-no-quota-0001", "test-key-has-quota-002"],
            ClientPolicy::default(),
        );
        for _ in 0..3 {
            client
                .execute(&client.chain(MODEL), None, |key, _| {
                    let sent = &sent;
                    async move {
                        let no_quota = key.expose().contains("no-quota");
                        sent.lock().unwrap().push(no_quota);
                        if no_quota {
                            Err(Error::from_body(429, zero))
                        } else {
                            Ok(())
                        }
                    }
                })
                .await
                .unwrap();
        }
        // Refused once, then passed over; the other project answered all three.
        assert_eq!(*sent.lock().unwrap(), [true, false, false, false]);
        let q = client.quotas();
        let m = q.get("1", MODEL).unwrap();
        assert_eq!(m.refused_because, Some("no_quota"));
        assert_eq!(m.refused_for, Some(super::super::quota::REFUSAL_TTL));
        assert!(
            m.limits.is_empty(),
            "a quotaValue of 0 is not a limit: {m:?}"
        );
    }
}

mod one_description {
    use super::*;
    use steadfast::policy::PolicyConfig;

    fn built(policy: ClientPolicy) -> Result<Client, Error> {
        Client::builder()
            .key("test-key-not-real-000001")
            .policy(policy)
            .build()
    }

    #[test]
    fn the_retry_part_is_checked_by_the_core_validation() {
        // The same messages as the attribute and the builder give.
        let core = steadfast::Policy::builder()
            .attempts(0)
            .build()
            .unwrap_err();
        let e = built(ClientPolicy::default().retry_with(|r| r.attempts(0))).unwrap_err();
        assert!(e.to_string().contains(&core.to_string()), "{e}");
        let e = built(ClientPolicy::default().retry_with(|r| {
            r.base(Duration::from_secs(5))
                .max_delay(Duration::from_secs(1))
        }))
        .unwrap_err();
        assert_eq!(*e.kind(), ErrorKind::Configuration);
        // A cap alone, below the default first delay, still works.
        built(ClientPolicy::default().retry_with(|r| r.max_delay(Duration::from_millis(100))))
            .unwrap();
    }

    #[test]
    fn settings_the_client_owns_are_refused_with_where_they_belong() {
        for (json, belongs) in [
            (r#"{"rpm": 10}"#, "ClientPolicy::limits"),
            (r#"{"adapt": true}"#, "ClientPolicy::limits"),
            (r#"{"limiter": "shared"}"#, "ClientPolicy::limits"),
        ] {
            let config: PolicyConfig = serde_json::from_str(json).unwrap();
            let e = built(ClientPolicy::default().retry(config)).unwrap_err();
            assert!(e.to_string().contains(belongs), "{json}: {e}");
        }
    }

    #[test]
    fn a_breaker_in_the_retry_settings_is_the_breaker_of_each_model() {
        let config: PolicyConfig =
            serde_json::from_str(r#"{"breaker": {"open_for": "10s"}}"#).unwrap();
        let policy = ClientPolicy::default().retry(config);
        assert_eq!(
            policy.breaker_config().map(|b| b.open_for),
            Some(Duration::from_secs(10))
        );
        built(policy).unwrap();
        let off: PolicyConfig = serde_json::from_str(r#"{"breaker": false}"#).unwrap();
        assert_eq!(ClientPolicy::default().retry(off).breaker_config(), None);
        // On by default; a breaker set before `retry` is kept when the settings name none.
        assert!(ClientPolicy::default().breaker_config().is_some());
        let kept = ClientPolicy::default()
            .breaker(None)
            .retry(PolicyConfig::default().attempts(2));
        assert_eq!(kept.breaker_config(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_retry_config_read_from_a_file_drives_the_client() {
        let config: PolicyConfig = serde_json::from_str(
            r#"{"attempts": 3, "retry": "fixed", "base": "2s", "jitter": "none", "max_hint": "5s"}"#,
        )
        .unwrap();
        let policy = ClientPolicy::default().breaker(None).retry(config);
        assert_eq!(policy.retry_config().attempts, Some(3));
        let mock = MockGemini {
            overloaded_every: 1,
            ..MockGemini::new(100, Says::Nothing)
        };
        let client = client(&["test-key-not-real-000001"], policy);
        let start = Instant::now();
        let e = call(&client, &mock).await.unwrap_err();
        assert_eq!(*e.kind(), ErrorKind::Unavailable);
        // Three attempts, two fixed waits of 2 s.
        assert_eq!(mock.requests(), 3);
        assert_eq!(start.elapsed(), Duration::from_secs(4));
    }
}

mod per_day {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_learned_daily_limit_stops_the_next_day_at_the_limit_without_a_429() {
        let per_day = br#"{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","message":"Quota exceeded","details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaId":"GenerateRequestsPerDayPerProjectPerModel-FreeTier","quotaValue":"1","quotaDimensions":{"model":"gemini-2.5-flash"}}]},{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"17s"}]}}"#;
        let answered_today = AtomicU32::new(0);
        let sent = AtomicU32::new(0);
        let client = client(&["test-key-not-real-000001"], ClientPolicy::default());
        let chain = client.chain(MODEL);
        let go = || {
            client.execute(&chain, None, |_, _| {
                let (answered_today, sent) = (&answered_today, &sent);
                async move {
                    sent.fetch_add(1, Ordering::Relaxed);
                    if answered_today.fetch_add(1, Ordering::Relaxed) >= 1 {
                        Err(Error::from_body(429, per_day))
                    } else {
                        Ok(())
                    }
                }
            })
        };
        go().await.unwrap();
        let e = go().await.unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::RateLimited { .. }), "{e}");
        assert_eq!(sent.load(Ordering::Relaxed), 2);
        // Until the reset, nothing is sent.
        go().await.unwrap_err();
        assert_eq!(sent.load(Ordering::Relaxed), 2);
        // The next day: one request, as learned; the second is refused locally.
        tokio::time::advance(crate::until_daily_reset(std::time::SystemTime::now())).await;
        tokio::time::advance(Duration::from_secs(1)).await;
        answered_today.store(0, Ordering::Relaxed);
        go().await.unwrap();
        let e = go().await.unwrap_err();
        assert!(
            e.to_string()
                .contains("has used its daily limit of 1 requests"),
            "{e}"
        );
        assert_eq!(
            sent.load(Ordering::Relaxed),
            3,
            "the limit held without a 429"
        );
        let q = client.quotas();
        let m = q.get("1", MODEL).unwrap();
        assert_eq!(m.requests_today, 1);
        assert!(m.limits.iter().any(|l| l.metric == Metric::RequestsPerDay
            && l.value == 1
            && l.source == LimitSource::Learned));
    }
}

mod tokens {
    use super::*;
    use crate::types::GenerateContentRequest;

    #[tokio::test(start_paused = true)]
    async fn a_learned_tokens_per_minute_limit_paces_by_the_tokens_of_each_request() {
        // 30 words a request; the server allows 100 input tokens a minute.
        let request = GenerateContentRequest::prompt(["word"; 30].join(" "));
        let log: Mutex<Vec<(Instant, bool)>> = Mutex::new(Vec::new());
        let client = client(
            &["test-key-not-real-000001"],
            ClientPolicy::default().preflight(false),
        );
        let chain = client.chain(MODEL);
        let start = Instant::now();
        for _ in 0..9 {
            client
                .execute(&chain, Some(&request), |_, _| {
                    let log = &log;
                    async move {
                        let now = Instant::now();
                        let mut log = log.lock().unwrap();
                        let used = 30 * log
                            .iter()
                            .filter(|(t, ok)| *ok && now - *t < MINUTE)
                            .count();
                        if used + 30 > 100 {
                            log.push((now, false));
                            let body = br#"{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","message":"Quota exceeded","details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaId":"GenerateContentInputTokensPerModelPerMinute-FreeTier","quotaValue":"100","quotaDimensions":{"model":"gemini-2.5-flash"}}]},{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"60s"}]}}"#;
                            return Err(Error::from_body(429, body));
                        }
                        log.push((now, true));
                        Ok(())
                    }
                })
                .await
                .unwrap();
        }
        let refused = log.lock().unwrap().iter().filter(|r| !r.1).count();
        assert_eq!(refused, 1, "one lesson, then paced");
        // Three requests (90 tokens) a minute.
        assert!(
            start.elapsed() >= Duration::from_secs(120),
            "{:?}",
            start.elapsed()
        );
        let q = client.quotas();
        let m = q.get("1", MODEL).unwrap();
        let learned = m
            .limits
            .iter()
            .find(|l| l.metric == Metric::InputTokens)
            .unwrap();
        assert_eq!((learned.value, learned.source), (100, LimitSource::Learned));
        assert_eq!(m.tokens_this_minute, learned.used);
        assert!(learned.used <= 100);
    }
}

/// Regression (review of the hint change): once the core parsers read a hint over a year as a
/// year and a day instead of as none, a proxy's `Retry-After: 99999999999` beside a 17 s
/// RetryInfo would have closed the project for a year (in every process, through Redis). A
/// Gemini quota clears by the next daily reset: such a hint is not credible and is ignored.
#[test]
fn hints_over_a_year_are_not_credible_for_gemini() {
    let now = std::time::SystemTime::now();
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("retry-after", "99999999999".parse().unwrap());
    assert_eq!(super::header_hint(&headers, now), None);
    headers.insert("retry-after-ms", "250".parse().unwrap());
    assert_eq!(
        super::header_hint(&headers, now),
        Some(Duration::from_millis(250))
    );
    headers.insert("retry-after", "7".parse().unwrap());
    assert_eq!(
        super::header_hint(&headers, now),
        Some(Duration::from_secs(7))
    );

    let body = br#"{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","message":"Quota exceeded. Please retry in 99999999999s.","details":[
        {"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"99999999999s"}]}}"#;
    let error = Error::from_body(429, body);
    assert_eq!(error.retry_after(), None);
    let bogus_header = Error::from_body(
        429,
        br#"{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","message":"Quota exceeded","details":[
        {"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"17s"}]}}"#,
    )
    .with_header_hint(super::header_hint(
        &{
            let mut h = reqwest::header::HeaderMap::new();
            h.insert("retry-after", "99999999999".parse().unwrap());
            h
        },
        now,
    ));
    assert_eq!(bogus_header.retry_after(), Some(Duration::from_secs(17)));
}

/// Regression (review of probe D5, same defect in the client): a wait for a project's quota was
/// put in the statistics as expected before sleeping, so a call cancelled during it was
/// charged the whole wait. It is now the time actually waited.
#[tokio::test(start_paused = true)]
async fn quota_waited_is_the_time_actually_waited() {
    let mock = MockGemini::new(2, Says::QuotaValue("2".into()));
    let client = client(&["test-key-project-a-0001"], ClientPolicy::default());
    // Two fill the minute, the third is refused (the client learns the limit), the fourth
    // and fifth wait for a slot and are cancelled after 10 ms.
    for _ in 0..5 {
        let _ = tokio::time::timeout(Duration::from_millis(10), call(&client, &mock)).await;
    }
    let total = client.stats().total();
    assert!(total.quota_waits >= 1, "{total:?}");
    assert_eq!(
        total.quota_waited,
        Duration::from_millis(10) * u32::try_from(total.quota_waits).unwrap(),
        "{total:?}"
    );
}
