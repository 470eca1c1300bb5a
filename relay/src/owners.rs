//! Owners: the project that created each file, cached content, batch and upload session; for a
//! batch, also the relay key that queued it (`creator:batches/…`, the key's name), so that a key
//! limited to some models sees only its own batches.
//!
//! Gemini keeps these objects in the project that created them; another project's key gets a
//! 403 for them. So the relay remembers, for each object created through it, its project
//! (`files/abc`, `cachedContents/xyz`, `batches/b1`, and `upload/ID` for a resumable upload's
//! session; a batch's output file once an answer names it), and sends every request that names
//! the object, in its path or in its body (`fileData.fileUri`, `cachedContent`, a batch's
//! input `fileName`), through that project only ([`RawRequest::project`]). When that project
//! is out of quota the client gets that 429, never another project's 403.
//!
//! Owners are kept in this process and, when Redis is configured, in Redis too, so that every
//! relay process of a deployment routes an object the same way (`{namespace}:owner:{name}`;
//! the name of an object, never a key). An entry lives as long as its object can: 48 hours
//! for files and upload sessions, 30 days for cached contents (whose expiry a client may
//! extend) and batches; deleting the object through the relay forgets it.
//!
//! [`RawRequest::project`]: steadfast_gemini::RawRequest::project

use crate::config::RedisConfig;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use steadfast::limit::redis::RedisConnection;
use tokio::time::Instant;

/// How long a file or an upload session is remembered: the life of a file in the Files API.
const FILE_LIFE: Duration = Duration::from_secs(48 * 60 * 60);

/// How long a cached content is remembered.
const CACHE_LIFE: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// How long one Redis round trip may take before the relay goes on with what it knows.
const REDIS_TIMEOUT: Duration = Duration::from_millis(250);

/// The owners of objects created through the relay.
pub(crate) struct Owners {
    local: Mutex<Local>,
    redis: Option<(RedisConnection, String)>,
}

impl std::fmt::Debug for Owners {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Owners")
            .field("known", &lock(&self.local).map.len())
            .field("redis", &self.redis.as_ref().map(|(c, _)| c.url()))
            .finish()
    }
}

#[derive(Default)]
struct Local {
    map: HashMap<String, (String, Instant)>,
    /// The size at which expired entries are swept next.
    sweep_at: usize,
}

fn lock(local: &Mutex<Local>) -> std::sync::MutexGuard<'_, Local> {
    local
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// How long an object of this name lives.
fn life(name: &str) -> Duration {
    if name.starts_with("cachedContents/")
        || name.starts_with("batches/")
        || name.starts_with("creator:batches/")
    {
        CACHE_LIFE
    } else {
        FILE_LIFE
    }
}

impl Owners {
    /// Owners kept here, and in `redis` when it is given.
    pub(crate) fn new(redis: Option<&RedisConfig>) -> Result<Owners, String> {
        let redis = match redis {
            Some(r) => Some((
                RedisConnection::open(&r.url, REDIS_TIMEOUT)?,
                r.namespace.clone(),
            )),
            None => None,
        };
        Ok(Owners {
            local: Mutex::new(Local {
                sweep_at: 1024,
                ..Local::default()
            }),
            redis,
        })
    }

    /// These owners, knowing what `previous` knew in this process (on a reload that changes
    /// Redis).
    pub(crate) fn knowing(self, previous: Option<&Owners>) -> Owners {
        if let Some(previous) = previous {
            let known = lock(&previous.local).map.clone();
            lock(&self.local).map.extend(known);
        }
        self
    }

    fn redis_key(namespace: &str, name: &str) -> String {
        format!("{namespace}:owner:{name}")
    }

    /// The project that owns `name`, when one is known.
    pub(crate) async fn owner(&self, name: &str) -> Option<String> {
        {
            let local = lock(&self.local);
            if let Some((project, until)) = local.map.get(name)
                && *until > Instant::now()
            {
                return Some(project.clone());
            }
        }
        let (redis, namespace) = self.redis.as_ref()?;
        let ask = async {
            let mut connection = redis.get().await.ok()?;
            redis::cmd("GET")
                .arg(Self::redis_key(namespace, name))
                .query_async::<Option<String>>(&mut connection)
                .await
                .ok()
                .flatten()
        };
        let found = tokio::time::timeout(REDIS_TIMEOUT, ask)
            .await
            .ok()
            .flatten()?;
        self.remember(name, &found);
        Some(found)
    }

    fn remember(&self, name: &str, project: &str) {
        let mut local = lock(&self.local);
        let now = Instant::now();
        local
            .map
            .insert(name.to_owned(), (project.to_owned(), now + life(name)));
        if local.map.len() >= local.sweep_at {
            local.map.retain(|_, (_, until)| *until > now);
            local.sweep_at = (local.map.len() * 2).max(1024);
        }
    }

    /// `name` was created by `project`.
    pub(crate) async fn pin(&self, name: &str, project: &str) {
        self.remember(name, project);
        if let Some((redis, namespace)) = &self.redis {
            let set = async {
                let mut connection = redis.get().await?;
                redis::cmd("SET")
                    .arg(Self::redis_key(namespace, name))
                    .arg(project)
                    .arg("EX")
                    .arg(life(name).as_secs())
                    .query_async::<()>(&mut connection)
                    .await
            };
            if !matches!(tokio::time::timeout(REDIS_TIMEOUT, set).await, Ok(Ok(()))) {
                tracing::warn!(target: "steadfast_relay", object = name, project, "could not record the object's project in Redis: other relay processes will not know it");
            }
        }
    }

    /// `name` was deleted.
    pub(crate) async fn forget(&self, name: &str) {
        lock(&self.local).map.remove(name);
        if let Some((redis, namespace)) = &self.redis {
            let del = async {
                let mut connection = redis.get().await?;
                redis::cmd("DEL")
                    .arg(Self::redis_key(namespace, name))
                    .query_async::<()>(&mut connection)
                    .await
            };
            let _ = tokio::time::timeout(REDIS_TIMEOUT, del).await;
        }
    }
}

/// An object id as the API writes them: letters, digits, `-` and `_`.
fn id_len(text: &str) -> usize {
    text.bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
        .count()
}

/// `files/{id}`, `cachedContents/{id}` or `batches/{id}` at the start of `text`, without what
/// follows the id.
fn object_at(text: &str) -> Option<String> {
    for collection in ["files/", "cachedContents/", "batches/"] {
        if let Some(rest) = text.strip_prefix(collection) {
            let n = id_len(rest);
            if n > 0 {
                return Some(format!("{collection}{}", &rest[..n]));
            }
        }
    }
    None
}

/// The object a request path names: `{v}/files/{id}`, `{v}/files/{id}:download`,
/// `download/{v}/files/{id}:download`, `{v}/cachedContents/{id}`, `{v}/batches/{id}` (and
/// `:cancel`), or a resumable upload's
/// session (`upload/{v}/files?upload_id=…`, as `upload/{id}`).
pub(crate) fn named_in_path(path: &str, query: Option<&str>) -> Option<String> {
    let mut parts = [""; 4];
    let mut count = 0;
    for part in path.split('/') {
        if count == parts.len() {
            return None;
        }
        parts[count] = part;
        count += 1;
    }
    match &parts[..count] {
        ["upload", _, "files"] => {
            let id = query?
                .split('&')
                .find_map(|p| p.strip_prefix("upload_id="))?;
            let n = id_len(id);
            (n > 0).then(|| format!("upload/{}", &id[..n]))
        }
        // Only these collections hold objects pinned to a project: a model's path (every
        // generation request) is answered without building a string.
        [_, collection @ ("files" | "cachedContents" | "batches"), id]
        | ["download", _, collection, id] => {
            let id = id.split(':').next().unwrap_or_default();
            object_at(&format!("{collection}/{id}"))
        }
        _ => None,
    }
}

/// The objects a request body names (`fileData.fileUri`, `file_uri`, `cachedContent`): read
/// only when the bytes mention `files/` or `cachedContents/`, so that other bodies are not
/// parsed.
pub(crate) fn named_in_body(body: &[u8]) -> Vec<String> {
    let mentions = |needle: &[u8]| memchr::memmem::find(body, needle).is_some();
    if !mentions(b"files/") && !mentions(b"cachedContents/") {
        return Vec::new();
    }
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    walk(&value, &mut found);
    found.sort();
    found.dedup();
    found
}

fn walk(value: &serde_json::Value, found: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("fileUri" | "file_uri", serde_json::Value::String(uri)) => {
                        if let Some(at) = uri.find("files/")
                            && let Some(name) = object_at(&uri[at..])
                        {
                            found.push(name);
                        }
                    }
                    (
                        "cachedContent" | "cached_content" | "fileName" | "file_name",
                        serde_json::Value::String(name),
                    ) => {
                        if let Some(name) = object_at(name) {
                            found.push(name);
                        }
                    }
                    _ => walk(v, found),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| walk(v, found)),
        _ => {}
    }
}

/// What an answer created: the object named by a create call's body (`{"file":{"name":…}}`
/// for an upload or a file's metadata, `{"name":"cachedContents/…"}` for a cache,
/// `{"name":"batches/…"}` for a batch), a batch's output file (`responsesFile`), and a new
/// upload session (`upload_id` in `X-Goog-Upload-URL`).
pub(crate) fn created(headers: &http::HeaderMap, body: Option<&[u8]>) -> Vec<String> {
    let mut names = Vec::new();
    if let Some(url) = headers
        .get("x-goog-upload-url")
        .and_then(|v| v.to_str().ok())
        && let Some((_, query)) = url.split_once('?')
        && let Some(session) = named_in_path("upload/v1beta/files", Some(query))
    {
        names.push(session);
    }
    if let Some(body) = body
        && let Ok(value) = serde_json::from_slice::<serde_json::Value>(body)
    {
        for name in [
            &value["file"]["name"],
            &value["name"],
            &value["metadata"]["output"]["responsesFile"],
            &value["response"]["responsesFile"],
        ] {
            if let Some(name) = name.as_str().and_then(object_at) {
                names.push(name);
            }
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_are_found_where_the_api_names_them() {
        assert_eq!(
            named_in_path("v1beta/files/abc-1", None).as_deref(),
            Some("files/abc-1")
        );
        assert_eq!(
            named_in_path("download/v1beta/files/abc:download", Some("alt=media")).as_deref(),
            Some("files/abc")
        );
        assert_eq!(
            named_in_path("v1/cachedContents/x_2", None).as_deref(),
            Some("cachedContents/x_2")
        );
        assert_eq!(
            named_in_path(
                "upload/v1beta/files",
                Some("upload_id=U-1&upload_protocol=resumable")
            )
            .as_deref(),
            Some("upload/U-1")
        );
        assert_eq!(named_in_path("upload/v1beta/files", None), None);
        assert_eq!(named_in_path("v1beta/files", None), None);
        assert_eq!(named_in_path("v1beta/models/gemini-2.5-flash", None), None);
        let body = br#"{"cachedContent":"cachedContents/c1","contents":[{"parts":[{"fileData":{"fileUri":"https://generativelanguage.googleapis.com/v1beta/files/f1","mimeType":"text/plain"}},{"text":"files/ in text is not a file"}]}]}"#;
        assert_eq!(named_in_body(body), ["cachedContents/c1", "files/f1"]);
        assert!(named_in_body(br#"{"contents":[{"parts":[{"text":"hi"}]}]}"#).is_empty());
        assert!(named_in_body(b"files/ but not JSON").is_empty());
        // Batches, and a batch's input file.
        assert_eq!(
            named_in_path("v1beta/batches/b-1:cancel", None).as_deref(),
            Some("batches/b-1")
        );
        let create = br#"{"batch":{"inputConfig":{"fileName":"files/in-1"}}}"#;
        assert_eq!(named_in_body(create), ["files/in-1"]);
        let done = br#"{"name":"batches/b-1","metadata":{"output":{"responsesFile":"files/out-1"}},"response":{"responsesFile":"files/out-1"}}"#;
        assert_eq!(
            created(&http::HeaderMap::new(), Some(done)),
            ["batches/b-1", "files/out-1", "files/out-1"]
        );
    }

    #[test]
    fn created_objects_are_read_from_the_answer() {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "x-goog-upload-url",
            "http://up/upload/v1beta/files?upload_id=S9&upload_protocol=resumable"
                .parse()
                .unwrap_or_else(|_| unreachable!()),
        );
        assert_eq!(created(&headers, None), ["upload/S9"]);
        let none = http::HeaderMap::new();
        assert_eq!(
            created(
                &none,
                Some(br#"{"file":{"name":"files/f2","sizeBytes":"3"}}"#)
            ),
            ["files/f2"]
        );
        assert_eq!(
            created(
                &none,
                Some(br#"{"name":"cachedContents/c3","model":"models/m"}"#)
            ),
            ["cachedContents/c3"]
        );
    }

    #[tokio::test]
    async fn an_owner_is_remembered_and_forgotten() {
        let owners = Owners::new(None).unwrap_or_else(|_| unreachable!());
        assert_eq!(owners.owner("files/a").await, None);
        owners.pin("files/a", "beta").await;
        assert_eq!(owners.owner("files/a").await.as_deref(), Some("beta"));
        owners.forget("files/a").await;
        assert_eq!(owners.owner("files/a").await, None);
    }
}
