//! The Files API: resumable uploads, files kept for [`FileLimits::ttl`], and what a prompt's
//! `fileData` part counts for.
//!
//! An upload starts with `POST /upload/v1beta/files`, `X-Goog-Upload-Protocol: resumable`,
//! `X-Goog-Upload-Command: start`, the size in `X-Goog-Upload-Header-Content-Length`, the MIME
//! type in `X-Goog-Upload-Header-Content-Type` (or `file.mimeType` in the body), and
//! optionally `{"file": {"displayName": …}}`. The answer's `X-Goog-Upload-URL` names the
//! session; the bytes go there with `X-Goog-Upload-Command: upload` (then `upload, finalize`
//! for the last chunk, or `finalize` alone) and `X-Goog-Upload-Offset` (the bytes received so
//! far, else 400). `query` tells the bytes received, `cancel` drops the session. The final
//! answer is `{"file": File}`.
//!
//! State is bounded ([`FileLimits`]): a declared size over `max_file_bytes`, more than
//! `max_files` files (open sessions included) or more than `max_total_bytes` in all (sessions
//! counted at their declared size) is a 400 that says which limit and how to get under it;
//! more bytes than declared is a 400 that ends the session. Sessions expire after an hour;
//! files after `ttl` (48 hours, as the real service keeps them).
//!
//! In a prompt, a `fileData.fileUri` of the simulator's own host (its address, a loopback name
//! with its port, or the origin of a URI it handed out) with the path `/v1beta/files/{id}` or
//! `/v1/files/{id}` must name a live file of the key's project, else 403 "You do not have
//! permission to access the File {id} or it may not exist."; an empty `fileUri` is a 400.
//! A text file (`text/*`, JSON, XML) counts its words as tokens; any other file 258 tokens (what
//! the real service counts for an image). URIs of other kinds (`gs://`, YouTube, `files/…` on
//! another host) count 258 tokens and are not checked. `sha256Hash` is not computed.

use super::request::RequestHeaders;
use super::store::{Session, Stored, StoredFile, empty, new_id, page_token, paging, project_of};
use super::validate::{self, Message, get};
use super::{Reply, State, errors};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::time::Instant;

/// Limits on what the simulator stores for the Files API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileLimits {
    /// Files stored at once, open upload sessions included (100 by default).
    pub max_files: usize,
    /// The largest file, in bytes (16 MiB by default; each upload request is also bounded by
    /// [`ServerLimits::max_body`](super::ServerLimits::max_body)).
    pub max_file_bytes: u64,
    /// Bytes stored in all, open sessions counted at their declared size (64 MiB by default).
    pub max_total_bytes: u64,
    /// How long a file is kept (48 hours, as the real service keeps them).
    pub ttl: Duration,
}

impl Default for FileLimits {
    fn default() -> Self {
        FileLimits {
            max_files: 100,
            max_file_bytes: 16 * 1024 * 1024,
            max_total_bytes: 64 * 1024 * 1024,
            ttl: Duration::from_secs(48 * 3600),
        }
    }
}

/// How long an upload session stays open.
const SESSION_TTL: Duration = Duration::from_secs(3600);

/// The chunk granularity announced in `X-Goog-Upload-Chunk-Granularity` (the real one).
const GRANULARITY: usize = 8 * 1024 * 1024;

/// What a file counts for in a prompt when it is not text: an image's tokens.
pub(super) const MEDIA_TOKENS: usize = 258;

fn not_found(id: &str) -> Reply {
    errors::status(
        403,
        "PERMISSION_DENIED",
        &format!("You do not have permission to access the File {id} or it may not exist."),
        vec![],
    )
}

fn bad(message: &str) -> Reply {
    errors::status(400, "INVALID_ARGUMENT", message, vec![])
}

/// The 200 a session step answers with, and its status header.
fn session_reply(
    status: &'static str,
    extra: Vec<(&'static str, String)>,
    body: Option<Value>,
) -> Reply {
    let mut headers = vec![("x-goog-upload-status", status.to_owned())];
    headers.extend(extra);
    let reply = match body {
        Some(v) => Reply::Json(200, v),
        None => Reply::Raw(200, "text/plain; charset=utf-8", Vec::new()),
    };
    Reply::Headers(headers, Box::new(reply))
}

impl State {
    /// `POST /upload/v1beta/files` with `X-Goog-Upload-Command: start`.
    pub(super) fn upload_start(&self, key: &str, headers: &RequestHeaders, body: &[u8]) -> Reply {
        if !headers
            .upload("x-goog-upload-protocol")
            .is_some_and(|p| p.eq_ignore_ascii_case("resumable"))
        {
            return bad(
                "The simulator takes uploads with the resumable protocol only: send X-Goog-Upload-Protocol: resumable and X-Goog-Upload-Command: start.",
            );
        }
        if !headers
            .upload("x-goog-upload-command")
            .is_some_and(|c| c.eq_ignore_ascii_case("start"))
        {
            return bad("A resumable upload starts with X-Goog-Upload-Command: start.");
        }
        let request: Value = if body.iter().all(u8::is_ascii_whitespace) {
            json!({})
        } else {
            match serde_json::from_slice(body) {
                Ok(v) => v,
                Err(e) => {
                    return errors::invalid_payload(&format!("Invalid JSON payload received. {e}"));
                }
            }
        };
        if let Err(message) = validate::check(Message::CreateFileRequest, &request) {
            return errors::invalid_payload(&message);
        }
        let file = get(&request, "file").cloned().unwrap_or(json!({}));
        let text = |name: &str| get(&file, name).and_then(Value::as_str).map(str::to_owned);
        let display_name = text("displayName");
        if display_name
            .as_ref()
            .is_some_and(|n| n.chars().count() > 512)
        {
            return errors::invalid_field(
                "File.display_name",
                "display_name must be at most 512 characters",
            );
        }
        let Some(mime_type) = headers
            .upload("x-goog-upload-header-content-type")
            .map(str::to_owned)
            .or_else(|| text("mimeType"))
            .filter(|m| !m.is_empty())
        else {
            return bad(
                "The upload has no MIME type: send X-Goog-Upload-Header-Content-Type (or file.mimeType).",
            );
        };
        let Some(size) = headers
            .upload("x-goog-upload-header-content-length")
            .and_then(|n| n.parse::<u64>().ok())
        else {
            return bad(
                "The upload has no size: send X-Goog-Upload-Header-Content-Length with the file's bytes.",
            );
        };
        let limits = &self.config.files;
        if size > limits.max_file_bytes {
            return bad(&format!(
                "The file has {size} bytes, more than the simulator's limit of {} bytes per file (SimulatorConfig::files.max_file_bytes).",
                limits.max_file_bytes
            ));
        }
        let project = project_of(&self.config, key);
        let storage = &self.storage;
        let mut stored = storage.lock();
        let held = stored.files.len() + stored.sessions.len();
        if held >= limits.max_files {
            return bad(&format!(
                "The simulator already holds {held} files and uploads, its limit (SimulatorConfig::files.max_files): delete files or wait for them to expire."
            ));
        }
        let total: u64 = stored
            .files
            .values()
            .map(|f| f.bytes.len() as u64)
            .sum::<u64>()
            + stored.sessions.values().map(|s| s.size).sum::<u64>();
        if total.saturating_add(size) > limits.max_total_bytes {
            return bad(&format!(
                "The simulator holds {total} bytes of files; {size} more would pass its limit of {} (SimulatorConfig::files.max_total_bytes): delete files first.",
                limits.max_total_bytes
            ));
        }
        let name = match text("name") {
            Some(name) => {
                let id = name.strip_prefix("files/").unwrap_or(&name).to_owned();
                let valid = !id.is_empty()
                    && id.len() <= 40
                    && !id.starts_with('-')
                    && !id.ends_with('-')
                    && id
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
                if !valid {
                    return errors::invalid_field(
                        "File.name",
                        "the id may have up to 40 lowercase letters, digits and dashes, and may not start or end with a dash",
                    );
                }
                let taken = stored
                    .files
                    .values()
                    .any(|f| f.name == format!("files/{id}"))
                    || stored
                        .sessions
                        .values()
                        .any(|s| s.name == format!("files/{id}"));
                if taken {
                    return errors::status(
                        409,
                        "ALREADY_EXISTS",
                        &format!("File files/{id} already exists."),
                        vec![],
                    );
                }
                format!("files/{id}")
            }
            None => {
                stored.serial += 1;
                format!("files/{}", new_id(self.config.seed, stored.serial, 12))
            }
        };
        stored.serial += 1;
        let upload_id = format!(
            "sim-{}",
            new_id(self.config.seed ^ 0x5e55, stored.serial, 24)
        );
        let origin = headers.origin();
        stored.sessions.insert(
            upload_id.clone(),
            Session {
                project,
                name,
                display_name,
                mime_type,
                size,
                received: Vec::new(),
                origin: origin.clone(),
                expires: Instant::now()
                    .checked_add(SESSION_TTL)
                    .unwrap_or_else(Instant::now),
            },
        );
        let url =
            format!("{origin}/upload/v1beta/files?upload_id={upload_id}&upload_protocol=resumable");
        session_reply(
            "active",
            vec![
                ("x-goog-upload-url", url.clone()),
                ("x-goog-upload-control-url", url),
                ("x-goog-upload-chunk-granularity", GRANULARITY.to_string()),
            ],
            None,
        )
    }

    /// A request to an upload session's URL: `upload`, `finalize`, `query` or `cancel`.
    pub(super) fn upload_session(&self, id: &str, headers: &RequestHeaders, body: &[u8]) -> Reply {
        let command = headers
            .upload("x-goog-upload-command")
            .unwrap_or("")
            .to_ascii_lowercase();
        let commands: Vec<&str> = command
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect();
        let known = ["upload", "finalize", "query", "cancel"];
        if commands.is_empty() || !commands.iter().all(|c| known.contains(c)) {
            return bad(
                "X-Goog-Upload-Command must be upload, finalize, \"upload, finalize\", query or cancel.",
            );
        }
        let mut stored = self.storage.lock();
        let Some(session) = stored.sessions.get_mut(id) else {
            return errors::status(
                404,
                "NOT_FOUND",
                "No such upload session: it expired, was finalized or cancelled. Start a new upload.",
                vec![],
            );
        };
        if commands.contains(&"cancel") {
            stored.sessions.remove(id);
            return session_reply("cancelled", vec![], None);
        }
        if commands.contains(&"query") {
            let received = session.received.len().to_string();
            return session_reply(
                "active",
                vec![("x-goog-upload-size-received", received)],
                None,
            );
        }
        if commands.contains(&"upload") {
            let offset = headers
                .upload("x-goog-upload-offset")
                .and_then(|o| o.parse::<usize>().ok());
            if offset != Some(session.received.len()) {
                return bad(&format!(
                    "X-Goog-Upload-Offset must be the bytes received so far ({}).",
                    session.received.len()
                ));
            }
            if (session.received.len() + body.len()) as u64 > session.size {
                let size = session.size;
                stored.sessions.remove(id);
                return bad(&format!(
                    "The upload sent more bytes than the {size} it declared in X-Goog-Upload-Header-Content-Length; the session is closed."
                ));
            }
            session.received.extend_from_slice(body);
        }
        if !commands.contains(&"finalize") {
            let received = session.received.len().to_string();
            return session_reply(
                "active",
                vec![("x-goog-upload-size-received", received)],
                None,
            );
        }
        if session.received.len() as u64 != session.size {
            return bad(&format!(
                "The upload has {} bytes of the {} it declared; send the rest before finalizing.",
                session.received.len(),
                session.size
            ));
        }
        let Some(session) = stored.sessions.remove(id) else {
            return errors::internal();
        };
        let now = Instant::now();
        let id = session.name.trim_start_matches("files/").to_owned();
        let file = StoredFile {
            uri: format!("{}/v1beta/files/{id}", session.origin),
            project: session.project,
            name: session.name,
            display_name: session.display_name,
            mime_type: session.mime_type,
            bytes: session.received,
            created: now,
            // A `ttl` too long for the clock: kept until the simulator stops.
            expires: now
                .checked_add(self.config.files.ttl)
                .unwrap_or_else(|| far_future(now)),
            generated: false,
        };
        let answer = json!({ "file": file.json(&self.storage) });
        stored.serial += 1;
        let serial = stored.serial;
        stored.files.insert(serial, file);
        self.bump(|s| s.answered += 1);
        session_reply("final", vec![], Some(answer))
    }

    pub(super) fn get_file(&self, key: &str, id: &str) -> Reply {
        let stored = self.storage.lock();
        match key_file(&stored, &project_of(&self.config, key), id) {
            Some(f) => Reply::Json(200, f.json(&self.storage)),
            None => not_found(id),
        }
    }

    /// A generated file's bytes (`alt=media`); an uploaded file cannot be downloaded, as the
    /// real service answers.
    pub(super) fn download_file(&self, key: &str, id: &str, query: &str) -> Reply {
        if super::request::query_param(query, "alt").as_deref() != Some("media") {
            return bad("Download a file's bytes with alt=media.");
        }
        let stored = self.storage.lock();
        match key_file(&stored, &project_of(&self.config, key), id) {
            Some(f) if f.generated => Reply::Raw(200, "application/octet-stream", f.bytes.clone()),
            Some(_) => bad("Only generated files can be downloaded; uploaded files cannot."),
            None => not_found(id),
        }
    }

    pub(super) fn delete_file(&self, key: &str, id: &str) -> Reply {
        let project = project_of(&self.config, key);
        let mut stored = self.storage.lock();
        let name = format!("files/{id}");
        let found = stored
            .files
            .iter()
            .find(|(_, f)| f.name == name && f.project == project)
            .map(|(serial, _)| *serial);
        match found {
            Some(serial) => {
                stored.files.remove(&serial);
                empty()
            }
            None => not_found(id),
        }
    }

    pub(super) fn list_files(&self, key: &str, query: &str) -> Reply {
        let (size, start) = match paging(query, 10, 100) {
            Ok(p) => p,
            Err(reply) => return reply,
        };
        let project = project_of(&self.config, key);
        let stored = self.storage.lock();
        let mine: Vec<(&u64, &StoredFile)> = stored
            .files
            .range(start..)
            .filter(|(_, f)| f.project == project)
            .take(size + 1)
            .collect();
        let files: Vec<Value> = mine
            .iter()
            .take(size)
            .map(|(_, f)| f.json(&self.storage))
            .collect();
        let mut page = json!({});
        if !files.is_empty() {
            page["files"] = json!(files);
        }
        if let Some((next, _)) = mine.get(size) {
            page["nextPageToken"] = json!(page_token(**next));
        }
        Reply::Json(200, page)
    }

    /// Checks every `fileData` of a request (contents and system instruction) and gives it what
    /// it counts for: a hidden `text` inside the `fileData` object, which the token count sees
    /// and the generated answer does not echo.
    pub(super) fn expand_files(&self, project: &str, body: &mut Value) -> Result<(), Reply> {
        let stored = self.storage.lock();
        let mut result = Ok(());
        visit_file_data(body, &mut |file_data| {
            if result.is_err() {
                return;
            }
            let uri = get(file_data, "fileUri")
                .and_then(Value::as_str)
                .unwrap_or("");
            if uri.trim().is_empty() {
                result = Err(errors::invalid_field(
                    "contents.parts.file_data.file_uri",
                    "file_uri must not be empty",
                ));
                return;
            }
            let Some(id) = self.uploaded_file_id(&stored, uri) else {
                file_data["text"] = json!(filler());
                return;
            };
            let name = format!("files/{id}");
            match stored
                .files
                .values()
                .find(|f| f.name == name && f.project == project)
            {
                Some(f) if f.is_text() => {
                    file_data["text"] = json!(String::from_utf8_lossy(&f.bytes));
                }
                Some(_) => file_data["text"] = json!(filler()),
                None => result = Err(not_found(&id)),
            }
        });
        result
    }
}

impl State {
    /// The id of the uploaded file `uri` names, when it names one: `http(s)://{host}` then
    /// `/v1beta/files/{id}` or `/v1/files/{id}`, where the host is the simulator's own (its
    /// address, or a loopback name with its port, or the origin of a file or upload it handed
    /// out). Anything else (`gs://`, YouTube, another host) is not an uploaded file.
    fn uploaded_file_id(&self, stored: &Stored, uri: &str) -> Option<String> {
        let rest = uri
            .strip_prefix("http://")
            .or_else(|| uri.strip_prefix("https://"))?;
        let (authority, path) = rest.split_once('/')?;
        let id = path
            .strip_prefix("v1beta/files/")
            .or_else(|| path.strip_prefix("v1/files/"))?;
        let port = self.addr.port();
        let ip = self.addr.ip();
        let own = authority.eq_ignore_ascii_case(&self.addr.to_string())
            || ((ip.is_loopback() || ip.is_unspecified())
                && ["127.0.0.1", "localhost", "[::1]"]
                    .iter()
                    .any(|h| authority.eq_ignore_ascii_case(&format!("{h}:{port}"))))
            || stored
                .files
                .values()
                .map(|f| f.uri.as_str())
                .chain(stored.sessions.values().map(|s| s.origin.as_str()))
                .any(|known| {
                    known
                        .strip_prefix("http://")
                        .and_then(|k| k.split('/').next())
                        .is_some_and(|k| k.eq_ignore_ascii_case(authority))
                });
        own.then(|| id.to_owned())
    }
}

/// `project`'s file `files/{id}`.
fn key_file<'a>(stored: &'a Stored, project: &str, id: &str) -> Option<&'a StoredFile> {
    let name = format!("files/{id}");
    stored
        .files
        .values()
        .find(|f| f.name == name && f.project == project)
}

/// A time far enough ahead to mean "never" for a file the simulator keeps.
pub(super) fn far_future(now: Instant) -> Instant {
    now.checked_add(Duration::from_secs(100 * 365 * 86_400))
        .unwrap_or(now)
}

/// [`MEDIA_TOKENS`] words.
fn filler() -> String {
    "media ".repeat(MEDIA_TOKENS)
}

/// Calls `f` on every `fileData` object under `value`.
fn visit_file_data(value: &mut Value, f: &mut dyn FnMut(&mut Value)) {
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if (k == "fileData" || k == "file_data") && v.is_object() {
                    f(v);
                } else {
                    visit_file_data(v, f);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| visit_file_data(v, f)),
        _ => {}
    }
}
