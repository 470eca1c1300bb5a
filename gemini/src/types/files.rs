//! The Files API's resource: a file uploaded once and referred to by prompts and caches.

use super::enums::{FileSource, FileState};
use super::json;
use super::{FileData, Part};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A file uploaded with [`Client::upload_file`](crate::Client::upload_file), as `files.get`
/// and `files.list` describe it. Uploaded files are deleted by the service after 48 hours.
///
/// ```
/// use steadfast_gemini::types::{File, FileState};
/// let file: File = serde_json::from_str(r#"{"name": "files/abc-123", "mimeType": "text/plain",
///     "sizeBytes": "11", "uri": "https://example.invalid/v1beta/files/abc-123", "state": "ACTIVE"}"#)?;
/// assert_eq!(file.size_bytes, Some(11));
/// assert_eq!(file.state, Some(FileState::Active));
/// let part = file.part(); // use it in a prompt
/// assert_eq!(part.file_data.unwrap().file_uri, "https://example.invalid/v1beta/files/abc-123");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct File {
    /// `files/{id}`.
    #[serde(deserialize_with = "json::null_as_default")]
    pub name: String,
    /// A human name (up to 512 characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// The MIME type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// The size in bytes (an int64 written as a string, as proto JSON does).
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "int64_string",
        default
    )]
    pub size_bytes: Option<u64>,
    /// When it was created (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub create_time: Option<String>,
    /// When it was last updated (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update_time: Option<String>,
    /// When the service deletes it (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiration_time: Option<String>,
    /// The SHA-256 of its bytes, base64.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256_hash: Option<String>,
    /// The URI to put in a prompt's [`FileData`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// Where to download it (generated files only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub download_uri: Option<String>,
    /// Its processing state: only an `ACTIVE` file can be used in a prompt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<FileState>,
    /// Where it comes from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<FileSource>,
    /// Why processing failed (a `google.rpc.Status`), when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
    /// A video's metadata (its duration).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub video_metadata: Option<Value>,
    /// Fields this crate does not name, kept as sent.
    #[serde(flatten, serialize_with = "json::without_typed::<File, _>")]
    pub extra: Map<String, Value>,
    /// The label of the project that holds it ([`Route::project`](crate::Route::project)), as
    /// the client's `upload_file`, `get_file` and `list_files` set it: only that project's keys
    /// can use it (for a batch's input, [`BatchInput::file`](super::BatchInput::file)). Empty
    /// when not known; never sent.
    #[serde(skip)]
    pub project: String,
}

impl File {
    /// A prompt part that refers to this file (its `uri` and MIME type).
    pub fn part(&self) -> Part {
        Part {
            file_data: Some(FileData {
                mime_type: self.mime_type.clone(),
                file_uri: self.uri.clone().unwrap_or_default(),
                extra: Map::new(),
            }),
            ..Part::default()
        }
    }
}

/// One page of `files.list`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ListFilesResponse {
    /// The files on this page (absent when there is none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[serde(deserialize_with = "json::null_as_default")]
    pub files: Vec<File>,
    /// The token of the next page; absent or empty on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
    /// Fields this crate does not name, kept as sent.
    #[serde(
        flatten,
        serialize_with = "json::without_typed::<ListFilesResponse, _>"
    )]
    pub extra: Map<String, Value>,
}

/// An int64 as proto JSON writes it: a string (a number is accepted too).
pub(crate) mod int64_string {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(value: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(n) => s.serialize_str(&n.to_string()),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Number(u64),
            Text(String),
        }
        match Option::<Either>::deserialize(d)? {
            None => Ok(None),
            Some(Either::Number(n)) => Ok(Some(n)),
            Some(Either::Text(t)) => t
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| serde::de::Error::custom(format!("`{t}` is not an int64"))),
        }
    }
}

json::impl_extra!(File, ListFilesResponse,);
