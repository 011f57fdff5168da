//! The web app's text files compressed once at the best settings (brotli 11, gzip 9) instead of
//! per request at the fast level the compression layer uses: a phone's first visit is ~16 KB
//! lighter (Leaflet alone 44 → 37 KB). Kept in memory per file and encoding, keyed by the file's
//! size and modification time, so an edited file is seen at once. The first request for a
//! version waits for its compression (Leaflet ~0.4 s of CPU; a few milliseconds for the app's
//! own files), so every client, the first after a start or a deploy included, gets the same bytes.
//! The file's own bytes are kept too, for clients that take no encoding: a text file is then read
//! from disk once per version, not per request (only its metadata is checked, for edits).

use super::super::encoding::{accepted, best_compressed, Accepted};
use super::MIN_COMPRESS_BYTES;
use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

/// Files larger than this are left to the compression layer (none of the app's are).
const MAX_FILE_BYTES: u64 = 4 << 20;

/// File types compressed ahead of time (by extension), with their media type.
const TYPES: &[(&str, &str)] = &[
    ("js", "text/javascript"),
    ("mjs", "text/javascript"),
    ("css", "text/css"),
    ("html", "text/html"),
    ("json", "application/json"),
    ("webmanifest", "application/manifest+json"),
    ("svg", "image/svg+xml"),
];

/// One file's compressed forms and the validators of the version they were made from.
struct Entry {
    len: u64,
    modified: SystemTime,
    content_type: &'static str,
    identity: Bytes,
    gzip: Bytes,
    br: Bytes,
}

/// The cache of compressed files of one web folder.
pub struct Precompressed {
    dir: PathBuf,
    entries: Mutex<HashMap<PathBuf, Arc<Entry>>>,
    /// One compression at a time per file: the requests that arrive meanwhile (a deploy meeting
    /// a crowd) wait for it instead of each spending the same CPU.
    making: Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>,
}

/// The file a public URL path names inside the folder (`/` is `index.html`); `None` for anything
/// unusual (percent-escapes, `..`, empty segments), which is left to `ServeDir` to judge.
fn relative_path(path: &str) -> Option<PathBuf> {
    let rest = path.strip_prefix('/')?;
    let rest = if rest.is_empty() { "index.html" } else { rest };
    let ok = rest.split('/').all(|seg| {
        !seg.is_empty()
            && seg != "."
            && seg != ".."
            && !seg.contains(['%', '\\', '\0'])
            && !seg.starts_with('.')
    });
    ok.then(|| PathBuf::from(rest))
}

fn content_type(file: &Path) -> Option<&'static str> {
    let ext = file.extension()?.to_str()?;
    TYPES.iter().find(|(e, _)| *e == ext).map(|(_, ct)| *ct)
}

/// The weak validator shared by every encoding of a version of a file: `W/"secs.nanos-len"`
/// in hex (nanoseconds in 8 digits), the strong tag `ServeDir` gives the file itself, weakened.
fn etag(modified: SystemTime, len: u64) -> String {
    let d = modified.duration_since(UNIX_EPOCH).unwrap_or_default();
    format!("W/\"{:x}.{:08x}-{:x}\"", d.as_secs(), d.subsec_nanos(), len)
}

impl Precompressed {
    /// An empty cache for the files of `dir`.
    pub fn new(dir: PathBuf) -> Arc<Self> {
        Arc::new(Self {
            dir,
            entries: Mutex::new(HashMap::new()),
            making: Mutex::new(HashMap::new()),
        })
    }

    /// The reply to a GET or HEAD of `path` in its best-compressed form, or as it is when no
    /// encoding is accepted (made now if this version of the file has none yet): `None` when it
    /// does not apply (not a text file, a `Range`, a file it cannot read) and the caller serves
    /// the file as usual.
    pub async fn respond(
        self: &Arc<Self>,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
    ) -> Option<Response> {
        if !matches!(*method, Method::GET | Method::HEAD) || headers.contains_key(header::RANGE) {
            return None;
        }
        let encoding = accepted(headers);
        let rel = relative_path(path)?;
        let content_type = content_type(&rel)?;
        let meta = tokio::fs::metadata(self.dir.join(&rel)).await.ok()?;
        let (len, modified) = (meta.len(), meta.modified().ok()?);
        if !meta.is_file() || !(MIN_COMPRESS_BYTES..=MAX_FILE_BYTES).contains(&len) {
            return None;
        }
        let current = |e: &Arc<Entry>| e.len == len && e.modified == modified;
        let cached = self.entries.lock().ok()?.get(&rel).cloned();
        let entry = match cached.filter(current) {
            Some(entry) => entry,
            None => {
                let turn = self
                    .making
                    .lock()
                    .ok()?
                    .entry(rel.clone())
                    .or_default()
                    .clone();
                let _turn = turn.lock().await;
                // Made by the request this one waited for?
                let cached = self.entries.lock().ok()?.get(&rel).cloned();
                match cached.filter(current) {
                    Some(entry) => entry,
                    None => self.make(rel, content_type).await?,
                }
            }
        };
        let token = encoding.token();
        let tag = etag(entry.modified, entry.len);
        // The file's own bytes carry `ServeDir`'s strong tag; an encoded form its weak twin.
        let tag = match token {
            Some(_) => tag,
            None => tag.trim_start_matches("W/").to_string(),
        };
        let last_modified = httpdate::fmt_http_date(entry.modified);
        if not_modified(headers, &tag, entry.modified) {
            return Some(
                (
                    StatusCode::NOT_MODIFIED,
                    [
                        (header::ETAG, tag),
                        (header::VARY, "accept-encoding".to_string()),
                    ],
                )
                    .into_response(),
            );
        }
        let body = match encoding {
            Accepted::Br => entry.br.clone(),
            Accepted::Gzip => entry.gzip.clone(),
            Accepted::Identity => entry.identity.clone(),
        };
        let mut res = Response::new(if *method == Method::HEAD {
            Body::empty()
        } else {
            Body::from(body.clone())
        });
        let h = res.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(entry.content_type),
        );
        if let Some(token) = token {
            h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(token));
        }
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        h.insert(header::ETAG, HeaderValue::from_str(&tag).ok()?);
        h.insert(
            header::LAST_MODIFIED,
            HeaderValue::from_str(&last_modified).ok()?,
        );
        Some(res)
    }

    /// Compresses `rel` off the runtime and keeps it; `None` if it cannot be read, or changed
    /// while being read (the next request tries again).
    async fn make(
        self: &Arc<Self>,
        rel: PathBuf,
        content_type: &'static str,
    ) -> Option<Arc<Entry>> {
        let path = self.dir.join(&rel);
        let made = tokio::task::spawn_blocking(move || -> std::io::Result<Entry> {
            let before = std::fs::metadata(&path)?;
            let bytes = std::fs::read(&path)?;
            let (gzip, br) = best_compressed(&bytes)?;
            let after = std::fs::metadata(&path)?;
            if before.modified()? != after.modified()? || after.len() != bytes.len() as u64 {
                return Err(std::io::Error::other("changed while compressing"));
            }
            Ok(Entry {
                len: bytes.len() as u64,
                modified: after.modified()?,
                content_type,
                identity: bytes.into(),
                gzip: gzip.into(),
                br: br.into(),
            })
        })
        .await
        .ok()?;
        match made {
            Ok(entry) => {
                let entry = Arc::new(entry);
                if let Ok(mut e) = self.entries.lock() {
                    e.insert(rel, entry.clone());
                }
                Some(entry)
            }
            Err(e) => {
                tracing::debug!(file = %rel.display(), error = %e, "not precompressed");
                None
            }
        }
    }
}

/// Whether the client's copy is current: `If-None-Match` (weak comparison) when present, else
/// `If-Modified-Since` at one-second resolution.
fn not_modified(headers: &HeaderMap, tag: &str, modified: SystemTime) -> bool {
    let bare = tag.trim_start_matches("W/");
    if headers.contains_key(header::IF_NONE_MATCH) {
        return headers
            .get_all(header::IF_NONE_MATCH)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|t| t.trim())
            .any(|t| t == "*" || t.trim_start_matches("W/") == bare);
    }
    let since = headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok());
    let secs = |t: SystemTime| t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    since.is_some_and(|s| secs(modified) <= secs(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_paths_map_to_files() {
        assert_eq!(relative_path("/"), Some(PathBuf::from("index.html")));
        assert_eq!(
            relative_path("/js/app.js"),
            Some(PathBuf::from("js/app.js"))
        );
        for bad in [
            "js/app.js",
            "/js/../x.js",
            "/js//app.js",
            "/js/%2e%2e/x",
            "/.env",
            "/js/./a.js",
        ] {
            assert_eq!(relative_path(bad), None, "{bad}");
        }
    }

    #[test]
    fn validators_compare_weakly_and_by_date() {
        let t = UNIX_EPOCH + std::time::Duration::new(1_700_000_000, 5);
        let tag = etag(t, 1234);
        let mut h = HeaderMap::new();
        h.insert(
            header::IF_NONE_MATCH,
            tag.trim_start_matches("W/").parse().unwrap(),
        );
        assert!(not_modified(&h, &tag, t));
        h.insert(header::IF_NONE_MATCH, "\"other\"".parse().unwrap());
        assert!(!not_modified(&h, &tag, t));
        let mut h = HeaderMap::new();
        h.insert(
            header::IF_MODIFIED_SINCE,
            httpdate::fmt_http_date(t).parse().unwrap(),
        );
        assert!(not_modified(&h, &tag, t));
        assert!(!not_modified(
            &h,
            &tag,
            t + std::time::Duration::from_secs(2)
        ));
    }
}
