//! The dashboard in a real browser (Debian's chromium, driven over WebDriver by chromedriver):
//! after a scripted run, the page loads without a script error, shows the numbers the log
//! holds, draws one mark per error kind that occurred, picks up a new request by itself, and
//! the API behind it refuses a request without the admin token. A screenshot is saved as
//! `target/dashboard.png`.

use crate::common::*;
use fantoccini::{ClientBuilder, Locator};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use steadfast_relay::{Config, LogConfig, Relay};

const ADMIN: &str = "admin-token-not-real-000000001";

/// chromedriver on a free port, killed when dropped.
struct Driver(Child, u16);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn chromedriver() -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot start chromedriver ({e}): install Debian's chromium and chromium-driver \
                 (scripts/test does when they are missing)"
            )
        });
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "chromedriver did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Driver(child, port)
}

fn logged(path: &std::path::Path) -> (i64, i64, Vec<String>) {
    let c = rusqlite::Connection::open(path).unwrap();
    let (n, errors) = c
        .query_row(
            "SELECT COUNT(*), COUNT(error_kind) FROM requests",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let kinds = c
        .prepare("SELECT DISTINCT error_kind FROM requests WHERE error_kind IS NOT NULL ORDER BY 1")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    (n, errors, kinds)
}

async fn wait_rows(path: &std::path::Path, n: i64) {
    let started = std::time::Instant::now();
    while !path.exists() || logged(path).0 < n {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the log has fewer than {n} rows"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_dashboard_shows_what_the_log_holds_in_a_real_browser() {
    let dir = temp("dashboard");
    let log = dir.join("log.sqlite");
    let sim = sim_with_daily(2).await;
    let relay = Relay::start(Config {
        log: Some(LogConfig::new(&log)),
        admin_token: Some(ADMIN.into()),
        ..config_for(&sim)
    })
    .await
    .unwrap();
    let base = relay.base_url();
    let generate = format!("{base}/v1beta/models/gemini-2.5-flash:generateContent");
    let count = format!("{base}/v1beta/models/gemini-2.0-flash:countTokens");
    // Two answers, two per-day refusals, one unknown relay key, one token count.
    for _ in 0..4 {
        let _ = post(generate.clone(), Some(RELAY_KEY), PROMPT_PLAIN).await;
    }
    let _ = post(
        generate.clone(),
        Some("not-a-relay-key-dashboard"),
        PROMPT_PLAIN,
    )
    .await;
    assert_eq!(
        post(count.clone(), Some(RELAY_KEY), PROMPT_PLAIN)
            .await
            .status(),
        200
    );
    wait_rows(&log, 6).await;
    let (rows, errors, kinds) = logged(&log);
    assert_eq!((rows, errors), (6, 3));
    assert_eq!(kinds, ["rate_limited_per_day", "relay_key_unknown"]);

    // The API behind the page refuses a request without the token, or with another one.
    let http = reqwest::Client::new();
    for token in [None, Some("not-the-admin-token-00000")] {
        let mut request = http.get(format!("{base}/admin/stats"));
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        let refused = request.send().await.unwrap();
        assert_eq!(refused.status(), 401);
        assert!(!refused.text().await.unwrap().contains("rate_limited"));
    }

    let driver = chromedriver();
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({"args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1200,1500"]}),
    );
    let browser = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{}", driver.1))
        .await
        .unwrap();
    browser.goto(&format!("{base}/dashboard")).await.unwrap();
    // Signed out, the page shows no number.
    assert!(browser.find(Locator::Css("#requests")).await.is_err());
    browser
        .find(Locator::Css("#token"))
        .await
        .unwrap()
        .send_keys(ADMIN)
        .await
        .unwrap();
    browser
        .find(Locator::Css("#signin button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let shown = |id: &'static str| {
        let browser = browser.clone();
        async move {
            browser
                .wait()
                .at_most(Duration::from_secs(10))
                .for_element(Locator::Css(id))
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    assert_eq!(shown("#requests").await, rows.to_string());
    assert_eq!(shown("#errors").await, errors.to_string());
    // One mark per kind that occurred, named by it.
    let marks = browser
        .find_all(Locator::Css("#chart svg g.mark"))
        .await
        .unwrap();
    let mut drawn = Vec::new();
    for mark in &marks {
        drawn.push(mark.attr("data-kind").await.unwrap().unwrap_or_default());
    }
    drawn.sort();
    assert_eq!(drawn, kinds);
    // Each kind is listed with what to do about it.
    let advice = shown("#kinds tr[data-kind=rate_limited_per_day] td:last-child").await;
    assert!(advice.contains("daily quota"), "{advice}");
    // A quota bar for the per-day limit the pool learned.
    let bars = browser
        .find_all(Locator::Css(
            ".quota[data-model='gemini-2.5-flash'][data-metric='requests_per_day']",
        ))
        .await
        .unwrap();
    assert_eq!(bars.len(), 1);
    // A new request shows up by itself.
    assert_eq!(
        post(count.clone(), Some(RELAY_KEY), PROMPT_PLAIN)
            .await
            .status(),
        200
    );
    wait_rows(&log, rows + 1).await;
    let want = (rows + 1).to_string();
    browser
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::XPath(&format!(
            "//span[@id='requests' and text()='{want}']"
        )))
        .await
        .expect("the page refreshed by itself");
    // No script error.
    let problems = browser
        .execute("return window.__dashboardErrors;", vec![])
        .await
        .unwrap();
    assert_eq!(problems, serde_json::json!([]), "script errors");
    let png = browser.screenshot().await.unwrap();
    let target = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target");
    std::fs::create_dir_all(&target).unwrap();
    std::fs::write(target.join("dashboard.png"), png).unwrap();
    browser.close().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
