//! Several relay processes, one Redis: the upstream's quota, the relay keys' limits and the
//! owners of files are shared; Redis down is handled as each mode says; no secret is ever
//! written to Redis.

use crate::common::*;
use serde_json::json;
use std::time::Duration;
use steadfast_relay::{Config, OnUnavailable, ProjectConfig, RedisConfig, Relay, RelayKeyConfig};
use steadfast_sim::{SimModel, Simulator, SimulatorConfig};
use steadfast_testkit::redis::RedisServer;

fn url(relay: &Relay) -> String {
    format!(
        "{}/v1beta/models/gemini-2.5-flash:generateContent",
        relay.base_url()
    )
}

/// A simulator whose `gemini-2.5-flash` allows `rpm` requests in a minute of one second.
async fn sim_with_rpm(rpm: u32, keys: Vec<String>) -> Simulator {
    let mut model = SimModel::new("gemini-2.5-flash");
    model.rpm = Some(rpm);
    Simulator::start(SimulatorConfig {
        keys,
        models: vec![model],
        minute: Duration::from_secs(1),
        ..SimulatorConfig::default()
    })
    .await
    .unwrap()
}

fn shared_config(sim: &Simulator, redis: &RedisServer, rpm: u32) -> Config {
    Config {
        quota_minute: Duration::from_secs(1),
        limits: flash_rpm(rpm),
        redis: Some(RedisConfig::new(&redis.url())),
        ..config_for(sim)
    }
}

/// Every key and value in Redis, as text.
async fn redis_contents(redis: &RedisServer) -> String {
    let client = redis::Client::open(redis.url()).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut c)
        .await
        .unwrap();
    let mut out = String::new();
    for key in keys {
        let kind: String = redis::cmd("TYPE")
            .arg(&key)
            .query_async(&mut c)
            .await
            .unwrap();
        let value: Vec<String> = match kind.as_str() {
            "string" => vec![
                redis::cmd("GET")
                    .arg(&key)
                    .query_async(&mut c)
                    .await
                    .unwrap(),
            ],
            "hash" => redis::cmd("HGETALL")
                .arg(&key)
                .query_async(&mut c)
                .await
                .unwrap(),
            "zset" => redis::cmd("ZRANGE")
                .arg(&key)
                .arg(0)
                .arg(-1)
                .arg("WITHSCORES")
                .query_async(&mut c)
                .await
                .unwrap(),
            "list" => redis::cmd("LRANGE")
                .arg(&key)
                .arg(0)
                .arg(-1)
                .query_async(&mut c)
                .await
                .unwrap(),
            other => vec![format!("({other})")],
        };
        out.push_str(&format!("{key} = {value:?}\n"));
    }
    out
}

#[tokio::test]
async fn two_relays_share_one_upstream_quota_through_redis_and_lose_no_call() {
    let redis = RedisServer::start();
    let sim = sim_with_rpm(5, vec!["sim-key-shared-00000001".into()]).await;
    let a = Relay::start(shared_config(&sim, &redis, 5)).await.unwrap();
    let b = Relay::start(shared_config(&sim, &redis, 5)).await.unwrap();
    // Three minutes' worth at once, half through each relay.
    let calls: Vec<_> = (0..15)
        .map(|i| {
            let url = if i % 2 == 0 { url(&a) } else { url(&b) };
            tokio::spawn(async move { post(url, Some(RELAY_KEY), PROMPT_PLAIN).await.status() })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap(), 200);
    }
    let stats = sim.stats();
    assert_eq!(stats.generate_requests, 15, "no call lost, none sent twice");
    assert_eq!(stats.rate_limited, 0, "the upstream refused nothing");
    // No secret in Redis: neither the upstream key nor the relay key, in a key or a value.
    let contents = redis_contents(&redis).await;
    assert!(!contents.is_empty());
    for secret in [sim.keys()[0].as_str(), RELAY_KEY] {
        assert!(!contents.contains(secret), "{secret} in Redis:\n{contents}");
    }
}

#[tokio::test]
async fn a_relay_keys_limit_is_shared_by_every_relay() {
    let redis = RedisServer::start();
    let sim = Simulator::start(SimulatorConfig::default()).await.unwrap();
    let config = Config {
        relay_keys: vec![RelayKeyConfig {
            rpm: Some(3),
            ..relay_key()
        }],
        ..shared_config(&sim, &redis, 1000)
    };
    let a = Relay::start(config.clone()).await.unwrap();
    let b = Relay::start(config).await.unwrap();
    for relay in [&a, &b, &a] {
        assert_eq!(
            post(url(relay), Some(RELAY_KEY), PROMPT_PLAIN)
                .await
                .status(),
            200
        );
    }
    let over = post(url(&b), Some(RELAY_KEY), PROMPT_PLAIN).await;
    assert_eq!(over.status(), 429);
    assert!(
        over.text()
            .await
            .unwrap()
            .contains("RelayKeyRequestsPerMinute")
    );
    assert_eq!(sim.stats().generate_requests, 3);
}

#[tokio::test]
async fn a_file_uploaded_through_one_relay_is_used_through_its_project_by_another() {
    let redis = RedisServer::start();
    let keys = vec![
        "sim-key-alpha-00000000001".to_owned(),
        "sim-key-beta-000000000001".to_owned(),
    ];
    let sim = Simulator::start(SimulatorConfig {
        keys: keys.clone(),
        ..SimulatorConfig::default()
    })
    .await
    .unwrap();
    let config = Config {
        keys: Vec::new(),
        projects: vec![
            ProjectConfig {
                name: "alpha".into(),
                keys: vec![keys[0].clone()],
            },
            ProjectConfig {
                name: "beta".into(),
                keys: vec![keys[1].clone()],
            },
        ],
        ..shared_config(&sim, &redis, 1000)
    };
    let a = Relay::start(config.clone()).await.unwrap();
    let b = Relay::start(config).await.unwrap();
    let http = reqwest::Client::new();
    // A file's metadata-only upload through relay A (a one-request upload: start, then the
    // bytes, as the SDKs do).
    let (project, session) = start_upload(&a.base_url(), 5).await;
    // The session's bytes go through relay B: it knows the session's project from Redis.
    let session = session.replace(&a.base_url(), &b.base_url());
    let done = http
        .post(session)
        .header("x-goog-api-key", RELAY_KEY)
        .header("x-goog-upload-command", "upload, finalize")
        .header("x-goog-upload-offset", "0")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200);
    assert_eq!(done.headers()["x-steadfast-project"], project.as_str());
    let file: serde_json::Value = serde_json::from_str(&done.text().await.unwrap()).unwrap();
    let prompt = json!({"contents":[{"parts":[
        {"fileData":{"fileUri": file["file"]["uri"], "mimeType":"text/plain"}},
        {"text":"summarise"}
    ]}]})
    .to_string();
    for relay in [&a, &b, &b, &a, &b] {
        let answer = post(url(relay), Some(RELAY_KEY), &prompt).await;
        assert_eq!(answer.status(), 200);
        assert_eq!(answer.headers()["x-steadfast-project"], project.as_str());
    }
}

#[tokio::test]
async fn redis_down_is_handled_as_each_mode_says() {
    let mut redis = RedisServer::start();
    let sim = Simulator::start(SimulatorConfig::default()).await.unwrap();
    let relay_in = |mode: OnUnavailable| {
        let mut config = shared_config(&sim, &redis, 1000);
        if let Some(r) = config.redis.as_mut() {
            r.on_unavailable = mode;
        }
        Relay::start(config)
    };
    let fail = relay_in(OnUnavailable::Fail).await.unwrap();
    let local = relay_in(OnUnavailable::Local).await.unwrap();
    let wait = relay_in(OnUnavailable::Wait).await.unwrap();
    for relay in [&fail, &local, &wait] {
        assert_eq!(
            post(url(relay), Some(RELAY_KEY), PROMPT_PLAIN)
                .await
                .status(),
            200
        );
        let ready = reqwest::get(format!("{}/readyz", relay.base_url()))
            .await
            .unwrap();
        assert_eq!(ready.status(), 200);
    }
    redis.kill();
    let before = sim.stats().generate_requests;
    // Fail: a 503 at once, in the API's shape, nothing sent upstream.
    let failed = post(url(&fail), Some(RELAY_KEY), PROMPT_PLAIN).await;
    assert_eq!(failed.status(), 503);
    assert!(failed.text().await.unwrap().contains("UNAVAILABLE"));
    // Local: served with this process's share.
    assert_eq!(
        post(url(&local), Some(RELAY_KEY), PROMPT_PLAIN)
            .await
            .status(),
        200
    );
    // Wait: within the request's deadline, then the API's 504; nothing sent upstream.
    let waited = reqwest::Client::new()
        .post(url(&wait))
        .header("x-goog-api-key", RELAY_KEY)
        .header("x-server-timeout", "1")
        .body(PROMPT_PLAIN)
        .send()
        .await
        .unwrap();
    assert!(
        matches!(waited.status().as_u16(), 503 | 504),
        "{}",
        waited.status()
    );
    assert_eq!(
        sim.stats().generate_requests,
        before + 1,
        "only the local one went"
    );
    // Readiness says Redis is gone.
    let ready = reqwest::get(format!("{}/readyz", wait.base_url()))
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    assert!(ready.text().await.unwrap().contains("Redis"));
}

/// The same as two relays in one test process, with two `gemini-relay` processes: the quota is
/// shared through Redis alone.
#[tokio::test]
async fn two_relay_processes_share_one_upstream_quota_through_redis() {
    let redis = RedisServer::start();
    let sim = sim_with_rpm(4, vec!["sim-key-processes-000001".into()]).await;
    let dir = std::env::temp_dir().join(format!("relay-two-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("relay.toml");
    std::fs::write(
        &file,
        format!(
            "port = 0\nupstream = \"{}\"\nkeys = [\"{}\"]\nquota_minute = \"1s\"\n[[relay_keys]]\nname = \"tests\"\nsecret = \"{RELAY_KEY}\"\n[limits.\"gemini-2.5-flash\"]\nrpm = 4\n[redis]\nurl = \"{}\"\n",
            sim.base_url(),
            sim.keys()[0],
            redis.url()
        ),
    )
    .unwrap();
    let (_a, a, _) = start_command(&["--config", file.to_str().unwrap()]);
    let (_b, b, _) = start_command(&["--config", file.to_str().unwrap()]);
    let calls: Vec<_> = (0..12)
        .map(|i| {
            let base = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move {
                let url = format!("{base}/v1beta/models/gemini-2.5-flash:generateContent");
                post(url, Some(RELAY_KEY), PROMPT_PLAIN).await.status()
            })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap(), 200);
    }
    let stats = sim.stats();
    assert_eq!(stats.generate_requests, 12, "no call lost, none sent twice");
    assert_eq!(stats.rate_limited, 0, "the upstream refused nothing");
    let _ = std::fs::remove_dir_all(&dir);
}
