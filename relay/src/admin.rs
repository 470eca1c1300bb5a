//! The dashboard and the admin API, behind the admin token (`Authorization: Bearer TOKEN`).
//!
//! - `GET /dashboard` (and its script and style): a page compiled into the binary that asks for
//!   the token, then reads the API below every few seconds and draws what it says (SVG drawn by
//!   its own code; nothing from a CDN). The page itself holds no data, so it is served to
//!   anyone; every number comes from the API.
//! - `GET /admin/quotas`: per project and model, each limit, its use and when a refusal ends;
//!   the keys out of the pool, by fingerprint.
//! - `GET /admin/stats?hours=N`: the request log's analytics ([`crate::stats`]) for the last N
//!   hours (default 6, at most 720).
//! - `GET /admin/keys`: the relay keys by name, with their limits and models.
//! - `POST /admin/reload`: reads the configuration again, as SIGHUP does.
//!
//! Without a configured token these routes answer 404; with a wrong or missing one, 401.

use crate::{Live, Shared};
use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::sync::Arc;

const PAGE: &str = include_str!("dashboard/index.html");
const SCRIPT: &str = include_str!("dashboard/app.js");
const STYLE: &str = include_str!("dashboard/style.css");

/// The routes, merged into the relay's router.
pub(crate) fn routes() -> Router<Arc<Live>> {
    Router::new()
        .route(
            "/dashboard",
            get(|| async { asset("text/html; charset=utf-8", PAGE) }),
        )
        .route(
            "/dashboard/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }),
        )
        .route(
            "/dashboard/style.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE) }),
        )
        // Browsers ask for it with the page: answered here, not forwarded (and logged) as a
        // request without a relay key.
        .route(
            "/favicon.ico",
            get(|| async { http::StatusCode::NO_CONTENT }),
        )
        .route("/admin/quotas", get(quotas))
        .route("/admin/stats", get(stats))
        .route("/admin/keys", get(keys))
        .route("/admin/reload", post(reload))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (http::header::CONTENT_TYPE, content_type),
            (
                http::header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; style-src 'self'; img-src 'self' data:",
            ),
            (http::header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

fn answer(status: http::StatusCode, value: Value) -> Response {
    let mut response = (status, axum::Json(value)).into_response();
    response.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    response
}

/// The current configuration, when the request carries the admin token; else the refusal.
fn admitted(live: &Live, headers: &http::HeaderMap) -> Result<Arc<Shared>, Box<Response>> {
    let shared = live.current();
    let Some(token) = shared.admin.as_ref() else {
        return Err(Box::new(answer(
            http::StatusCode::NOT_FOUND,
            json!({"error": "the admin API is off: set admin_token (or admin_token_sha256) in the config"}),
        )));
    };
    if !crate::auth::is_admin(headers, Some(token)) {
        let mut refused = answer(
            http::StatusCode::UNAUTHORIZED,
            json!({"error": "send the admin token as Authorization: Bearer TOKEN"}),
        );
        refused.headers_mut().insert(
            http::header::WWW_AUTHENTICATE,
            http::HeaderValue::from_static("Bearer"),
        );
        return Err(Box::new(refused));
    }
    Ok(shared)
}

async fn quotas(State(live): State<Arc<Live>>, headers: http::HeaderMap) -> Response {
    let shared = match admitted(&live, &headers) {
        Ok(s) => s,
        Err(refused) => return *refused,
    };
    let projects: Vec<Value> = shared
        .client
        .quotas()
        .projects
        .into_iter()
        .map(|p| {
            let models: Vec<Value> = p
                .models
                .iter()
                .filter(|m| crate::metrics::shown(&shared, &m.model))
                .map(|m| {
                    let limits: Vec<Value> = m
                        .limits
                        .iter()
                        .map(|l| {
                            json!({
                                "metric": crate::metrics::metric_name(l.metric),
                                "value": l.value,
                                "used": l.used,
                                "window_s": l.window.as_secs_f64(),
                                "source": format!("{:?}", l.source).to_ascii_lowercase(),
                            })
                        })
                        .collect();
                    json!({
                        "model": m.model,
                        "limits": limits,
                        "requests_this_minute": m.requests_this_minute,
                        "requests_today": m.requests_today,
                        "refused_for_s": m.refused_for.map(|d| d.as_secs_f64()),
                        "refused_because": m.refused_because,
                        "day_resets_in_s": steadfast::calendar::until_daily_reset(std::time::SystemTime::now()).as_secs(),
                    })
                })
                .collect();
            let rejected: Vec<Value> = p
                .rejected
                .iter()
                .map(|(key, reason)| json!({"key": key, "reason": reason}))
                .collect();
            json!({"name": p.name, "keys": p.keys, "rejected": rejected, "models": models})
        })
        .collect();
    answer(http::StatusCode::OK, json!({ "projects": projects }))
}

#[derive(serde::Deserialize)]
struct Hours {
    hours: Option<u64>,
}

async fn stats(
    State(live): State<Arc<Live>>,
    headers: http::HeaderMap,
    Query(hours): Query<Hours>,
) -> Response {
    let shared = match admitted(&live, &headers) {
        Ok(s) => s,
        Err(refused) => return *refused,
    };
    let hours = hours.hours.unwrap_or(6).clamp(1, 720);
    let Some(log) = shared.log.clone() else {
        return answer(
            http::StatusCode::OK,
            json!({"log": null, "hours": hours, "note": "the request log is off: set [log] in the config"}),
        );
    };
    // One read at a time, and an answer less than a second old is given again: dashboards
    // left open cost one read a second at most, whatever their number.
    let mut cache = shared.stats_cache.lock().await;
    if let Some((at, h, value)) = cache.as_ref()
        && *h == hours
        && at.elapsed() < std::time::Duration::from_secs(1)
    {
        return answer(http::StatusCode::OK, value.clone());
    }
    let since = crate::log::now_ms() - i64::try_from(hours * 3_600_000).unwrap_or(i64::MAX);
    let path = log.path.clone();
    let read = tokio::task::spawn_blocking(move || {
        let connection = rusqlite::Connection::open_with_flags(
            &path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )?;
        connection.busy_timeout(std::time::Duration::from_millis(500))?;
        crate::stats::read(&connection, since)
    })
    .await;
    match read {
        Ok(Ok(stats)) => {
            let value = json!({
                "hours": hours,
                "stats": stats,
                "log": {
                    "written": log.counts.written.load(std::sync::atomic::Ordering::Relaxed),
                    "dropped": log.counts.dropped.load(std::sync::atomic::Ordering::Relaxed),
                },
            });
            *cache = Some((std::time::Instant::now(), hours, value.clone()));
            answer(http::StatusCode::OK, value)
        }
        Ok(Err(e)) => answer(
            http::StatusCode::SERVICE_UNAVAILABLE,
            json!({"error": format!("the request log cannot be read now: {e}")}),
        ),
        Err(_) => answer(
            http::StatusCode::INTERNAL_SERVER_ERROR,
            json!({"error": "the request log's reader stopped"}),
        ),
    }
}

async fn keys(State(live): State<Arc<Live>>, headers: http::HeaderMap) -> Response {
    let shared = match admitted(&live, &headers) {
        Ok(s) => s,
        Err(refused) => return *refused,
    };
    let keys: Vec<Value> = shared
        .config
        .relay_keys
        .iter()
        .map(|k| {
            json!({
                "name": k.name,
                "rpm": k.rpm,
                "rpd": k.rpd,
                "tpm": k.tpm,
                "models": k.models,
            })
        })
        .collect();
    answer(http::StatusCode::OK, json!({ "relay_keys": keys }))
}

async fn reload(State(live): State<Arc<Live>>, headers: http::HeaderMap) -> Response {
    if let Err(refused) = admitted(&live, &headers) {
        return *refused;
    }
    let source = live
        .source
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let Some(source) = source else {
        return answer(
            http::StatusCode::CONFLICT,
            json!({"error": "this relay has no configuration file to read again"}),
        );
    };
    // Read and built on the blocking threads, in turn with other reloads (see
    // `Relay::reload_in_background`).
    let reloaded = live
        .reload_in_background(move || source())
        .await
        .map_err(|e| e.to_string());
    match reloaded {
        Ok(()) => answer(http::StatusCode::OK, json!({"reloaded": true})),
        Err(e) => answer(
            http::StatusCode::UNPROCESSABLE_ENTITY,
            json!({"reloaded": false, "error": e}),
        ),
    }
}
