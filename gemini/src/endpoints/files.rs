//! The Files API: upload a file once (resumable protocol), refer to it in prompts and caches by
//! its URI, list, inspect and delete it.
//!
//! An upload is two kinds of request. The first, `POST /upload/v1beta/files` with
//! `X-Goog-Upload-Protocol: resumable` and `X-Goog-Upload-Command: start`, carries the key (in
//! `x-goog-api-key`, as always), the size, the MIME type and the display name, and is answered
//! with an upload URL in `X-Goog-Upload-URL`. The bytes then go to that URL in chunks of
//! [`UPLOAD_CHUNK`] (`X-Goog-Upload-Command: upload`, the last one `upload, finalize`, each with
//! its `X-Goog-Upload-Offset`), and the last answer is the [`File`].
//!
//! The upload URL is the server's: before anything is sent to it, the client checks that it
//! points to the base URL's scheme, host and port (else the upload stops with a
//! [`Redirect`](crate::ErrorKind::Redirect) error: the file's bytes stay here), and removes any
//! `key` parameter from it (Google's front end echoes a key given in the query string). The
//! key itself is not sent to the upload URL at all: the session it names is the authorisation.
//!
//! The whole exchange is one attempt of the client policy: a transient failure anywhere starts
//! a new upload session on the next attempt (so a lost final answer can leave a duplicate file
//! behind, as with any non-idempotent call that is retried).

use crate::client::{ApiKey, body};
use crate::types::{File, ListFilesResponse};
use crate::{Client, Error, ErrorKind, RawRequest};
use bytes_crate::Bytes;
use futures_util::Stream;
use serde::Deserialize;

/// The size of each upload request: the real service's chunk granularity (8 MiB). Each chunk
/// is sent within the client's first-byte timeout, so a large file over a slow link needs no
/// larger timeout than a small one.
pub const UPLOAD_CHUNK: usize = 8 * 1024 * 1024;

/// The largest file the Files API takes (2 GB); a larger one is refused before anything is
/// sent.
pub const MAX_FILE_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// `abc-123`, `files/abc-123` → `files/abc-123`, refusing names that would change the path.
pub(crate) fn file_path(name: &str) -> Result<String, Error> {
    let id = name.strip_prefix("files/").unwrap_or(name);
    let valid = !id.is_empty()
        && id.len() <= 40
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid {
        return Err(Error::configuration(format!(
            "`{name}` is not a file name: `files/` and up to 40 lowercase letters, digits and '-' (for example \"files/abc-123\")"
        )));
    }
    Ok(format!("files/{id}"))
}

/// The answer to the last upload request.
#[derive(Deserialize)]
struct Uploaded {
    file: File,
}

impl Client {
    /// Uploads `bytes` of type `mime_type` with the resumable protocol (see the module) and
    /// returns the file; put it in a prompt with [`File::part`]. Files are kept for 48 hours.
    ///
    /// Refused before sending: an empty or unprintable MIME type, a file over
    /// [`MAX_FILE_BYTES`].
    pub async fn upload_file(
        &self,
        mime_type: &str,
        bytes: impl Into<Vec<u8>>,
        display_name: Option<&str>,
    ) -> Result<File, Error> {
        let bytes = Bytes::from(bytes.into());
        let mime = mime_type.trim();
        if mime.is_empty() || !mime.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            return Err(Error::configuration(format!(
                "`{mime_type}` is not a MIME type (for example \"text/plain\", \"application/pdf\")"
            )));
        }
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(Error::configuration(format!(
                "the file has {} bytes, more than the Files API's limit of {MAX_FILE_BYTES}",
                bytes.len()
            )));
        }
        let mut file = serde_json::Map::new();
        if let Some(name) = display_name {
            file.insert("displayName".into(), name.into());
        }
        let start = serde_json::json!({ "file": file }).to_string();
        let start = Bytes::from(start.into_bytes());
        let (file, route) = self
            .execute_routed(|key, _| {
                let (bytes, start) = (bytes.clone(), start.clone());
                async move { self.upload_once(&key, mime, bytes, start).await }
            })
            .await?;
        Ok(File {
            project: route.project,
            ..file
        })
    }

    /// One whole upload: a session, then its chunks.
    async fn upload_once(
        &self,
        key: &ApiKey,
        mime: &str,
        bytes: Bytes,
        start: Bytes,
    ) -> Result<File, Error> {
        let url = format!("{}/upload/v1beta/files", self.base_url());
        let headers = [
            ("x-goog-upload-protocol", "resumable".to_owned()),
            ("x-goog-upload-command", "start".to_owned()),
            (
                "x-goog-upload-header-content-length",
                bytes.len().to_string(),
            ),
            ("x-goog-upload-header-content-type", mime.to_owned()),
        ];
        let response = self
            .send_with(
                Some(key),
                reqwest::Method::POST,
                &url,
                Some(("application/json", start)),
                &headers,
            )
            .await?;
        let given = response
            .headers()
            .get("x-goog-upload-url")
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        // The start answer has no body worth reading; drain a little of it so the connection
        // can be reused.
        let _ = body::read_capped(self.body_of(response), body::ERROR_BODY_CAP).await;
        let Some(given) = given else {
            return Err(Error::undecodable(
                200,
                b"",
                "the upload's start answer has no X-Goog-Upload-URL header",
            ));
        };
        let session = self.upload_url(&given)?;
        let mut offset = 0;
        loop {
            let end = (offset + UPLOAD_CHUNK).min(bytes.len());
            let last = end == bytes.len();
            let command = if last { "upload, finalize" } else { "upload" };
            let headers = [
                ("x-goog-upload-command", command.to_owned()),
                ("x-goog-upload-offset", offset.to_string()),
            ];
            let chunk = bytes.slice(offset..end);
            let response = self
                .send_with(
                    None,
                    reqwest::Method::POST,
                    &session,
                    Some(("application/octet-stream", chunk)),
                    &headers,
                )
                .await?;
            if !last {
                let _ = body::read_capped(self.body_of(response), body::ERROR_BODY_CAP).await;
                offset = end;
                continue;
            }
            let status = response.status().as_u16();
            let body = self.success_body(response).await?;
            return serde_json::from_slice::<Uploaded>(&body)
                .map(|u| u.file)
                .map_err(|e| Error::undecodable(status, &body, e));
        }
    }

    /// The server's upload URL, checked to point where the base URL does, without a `key`
    /// parameter.
    fn upload_url(&self, given: &str) -> Result<String, Error> {
        let refuse = |why: &str| {
            Error::with_kind(
                ErrorKind::Redirect,
                format!(
                    "the upload URL the server returned {why}; not followed: the file stays here"
                ),
            )
        };
        let base = reqwest::Url::parse(self.base_url())
            .map_err(|_| Error::configuration("the base URL does not parse"))?;
        let mut url = reqwest::Url::parse(given).map_err(|_| refuse("does not parse as a URL"))?;
        let origin = |u: &reqwest::Url| {
            (
                u.scheme().to_owned(),
                u.host_str().map(str::to_ascii_lowercase),
                u.port_or_known_default(),
            )
        };
        if origin(&url) != origin(&base) {
            return Err(refuse(&format!(
                "points to another host ({}://{})",
                url.scheme(),
                url.host_str().unwrap_or("")
            )));
        }
        let kept: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("key"))
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if kept.is_empty() {
            url.set_query(None);
        } else {
            url.query_pairs_mut().clear().extend_pairs(kept);
        }
        url.set_fragment(None);
        Ok(url.into())
    }

    /// `files.get`: a file's metadata (`files/abc-123` or `abc-123`).
    pub async fn get_file(&self, name: &str) -> Result<File, Error> {
        let raw = RawRequest::path(
            reqwest::Method::GET,
            &format!("v1beta/{}", file_path(name)?),
        )?;
        let (file, project) = self.call_json_routed::<File>(&raw).await?;
        Ok(File { project, ..file })
    }

    /// `files.list`: every file of the key's project, page after page (100 a page), as a
    /// stream. An error ends the stream (a page token the server repeats is one, an
    /// [`Undecodable`](ErrorKind::Undecodable) error, rather than a list that never ends).
    ///
    /// The stream is not `Unpin`: pin it (`Box::pin`, or `std::pin::pin!`) to call `next` on
    /// it, or collect it. [`Client::list_cached_contents`] is read the same way.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use futures_util::StreamExt;
    /// use steadfast_gemini::Client;
    /// use steadfast_sim::{Simulator, SimulatorConfig};
    ///
    /// let sim = Simulator::start(SimulatorConfig::default()).await?;
    /// let client = Client::builder().base_url(sim.base_url()).keys(sim.keys()).build()?;
    /// client.upload_file("text/plain", b"notes".to_vec(), Some("notes")).await?;
    ///
    /// // One at a time, stopping at the first error.
    /// let mut files = std::pin::pin!(client.list_files());
    /// while let Some(file) = files.next().await {
    ///     let file = file?;
    ///     println!("{} {:?}", file.name, file.display_name);
    /// }
    ///
    /// // Or all at once.
    /// let caches: Vec<_> = client.list_cached_contents().collect().await;
    /// assert!(caches.is_empty());
    /// # Ok(()) }
    /// ```
    pub fn list_files(&self) -> impl Stream<Item = Result<File, Error>> + Send + '_ {
        self.pages("files", 100, |page: ListFilesResponse, project| {
            let files = page
                .files
                .into_iter()
                .map(|f| File {
                    project: project.to_owned(),
                    ..f
                })
                .collect();
            (files, page.next_page_token)
        })
    }

    /// `files.delete`.
    pub async fn delete_file(&self, name: &str) -> Result<(), Error> {
        self.delete_resource(file_path(name)?).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> Client {
        Client::builder()
            .base_url("http://127.0.0.1:8080")
            .key("test-key-not-real-0000000")
            .build()
            .unwrap()
    }

    #[test]
    fn file_names_are_normalised_and_checked() {
        assert_eq!(file_path("abc-123").unwrap(), "files/abc-123");
        assert_eq!(file_path("files/abc-123").unwrap(), "files/abc-123");
        for bad in [
            "",
            "files/",
            "a/b",
            "../x",
            "ABC",
            "x?key=1",
            &"a".repeat(41),
        ] {
            assert!(file_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_upload_url_loses_its_key_and_must_stay_on_the_base_host() {
        let c = client();
        assert_eq!(
            c.upload_url("http://127.0.0.1:8080/upload/v1beta/files?key=secret-value&upload_id=u1&upload_protocol=resumable")
                .unwrap(),
            "http://127.0.0.1:8080/upload/v1beta/files?upload_id=u1&upload_protocol=resumable"
        );
        assert_eq!(
            c.upload_url("http://127.0.0.1:8080/upload?KEY=x").unwrap(),
            "http://127.0.0.1:8080/upload"
        );
        for elsewhere in [
            "http://127.0.0.2:8080/upload?upload_id=1",
            "https://127.0.0.1:8080/upload",
            "http://127.0.0.1:8081/upload",
            "not a url",
        ] {
            let e = c.upload_url(elsewhere).unwrap_err();
            assert_eq!(*e.kind(), ErrorKind::Redirect, "{elsewhere}");
        }
    }
}
