//! Bytes on the wire: the web app's files with validators and a cache policy that survives a
//! deploy, and gzip/brotli for every textual reply (API JSON, errors, the web app, `/metrics`).
//!
//! Cache policy. The app's files keep their names across deploys (`index.html` and the service
//! worker name `js/app.js` etc. directly, and ES modules import each other by plain relative
//! URLs), so a versioned, immutable URL scheme would mean a build step this project does not
//! have. Instead every file carries a strong `ETag` (size + mtime, from `ServeDir`) and a
//! `Last-Modified`, and code and pages are `no-cache`: always revalidated, so a deploy is seen
//! at once and never half (a new `app.js` importing an old `map.js` would break), and a repeat
//! visit costs a 304 of a few hundred bytes per file. Images, whose staleness is harmless and
//! which are never half of a pair, may be reused for a day without asking.

mod precompressed;

use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::path::PathBuf;
use tower_http::compression::predicate::Predicate;
use tower_http::compression::{CompressionLayer, CompressionLevel};
use tower_http::services::ServeDir;

/// Bodies smaller than this go uncompressed: the encoding's framing would eat the gain (a JSON
/// error is ~100 bytes), and small bodies fit one packet either way.
pub const MIN_COMPRESS_BYTES: u64 = 512;

/// Media types worth compressing (prefixes of `Content-Type`, parameters ignored): text,
/// JSON and GeoJSON, JavaScript, the web manifest, SVG, Prometheus text, and vector tiles
/// (protobuf, which compresses well). Everything else — PNG, JPEG, WebP, woff2, archives — is
/// already compressed and passes through untouched.
const COMPRESSIBLE: &[&str] = &[
    "text/",
    "application/json",
    "application/geo+json",
    "application/problem+json",
    "application/javascript",
    "application/manifest+json",
    "application/xml",
    "image/svg+xml",
    "application/vnd.mapbox-vector-tile",
    "application/x-protobuf",
];

/// Compresses a response when its type is in [`COMPRESSIBLE`] and it is not tiny.
#[derive(Debug, Clone, Copy, Default)]
pub struct Compressible;

impl Predicate for Compressible {
    fn should_compress<B: axum::body::HttpBody>(&self, res: &axum::http::Response<B>) -> bool {
        let textual = res
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|ct| {
                let ct = ct.trim_start().to_ascii_lowercase();
                COMPRESSIBLE.iter().any(|p| ct.starts_with(p))
            })
            .unwrap_or(false);
        // The declared length first: a HEAD reply has an empty body but the GET's length, and
        // must carry the same Content-Encoding the GET would.
        let size = res
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
            .or_else(|| axum::body::HttpBody::size_hint(res.body()).exact());
        textual && size.is_none_or(|n| n >= MIN_COMPRESS_BYTES)
    }
}

/// gzip and brotli (whichever the client prefers) for what [`Compressible`] picks. Brotli's
/// level 4 and gzip's default: replies are compressed per request, so the level is a CPU cost
/// on every one; level 4 keeps brotli about as fast as gzip -6 while ~10 % smaller.
pub fn compression() -> CompressionLayer<Compressible> {
    compression_at(4)
}

/// The same at level 1 (brotli and gzip), for the station replies (`stations.rs`): a
/// nearest reply is ~2.3 KB, asked per rider query, and level 4 made it only ~90 B smaller
/// (770 against 857 B brotli) for twice the CPU (measured: ~100 against ~55 µs of server CPU per
/// request with `Accept-Encoding: br`, 36 µs without; BENCHMARKS.md). nginx's on-the-fly gzip
/// defaults to level 1 for the same reason. Inside [`compression`], which then leaves the reply
/// alone (it never compresses a reply twice).
pub fn compression_fast() -> CompressionLayer<Compressible> {
    compression_at(1)
}

fn compression_at(level: i32) -> CompressionLayer<Compressible> {
    CompressionLayer::new()
        .no_deflate()
        .no_zstd()
        .quality(CompressionLevel::Precise(level))
        .compress_when(Compressible)
}

/// Outside the compression layer: a strong `ETag` names exact bytes, so a compressed variant
/// of a file gets the weak form (as nginx does). `If-None-Match` compares weakly, so the
/// client's `W/"…"` still earns a 304; `If-Range` (strong only) then falls back to a full reply.
/// API tags are left alone: a station's `ETag` is its version, which `If-Match` must compare
/// strongly on edits (a weak tag never matches there), whatever encoding carried it.
pub async fn weaken_etag_when_encoded(req: Request, next: Next) -> Response {
    let api = req.uri().path().starts_with("/api/");
    let mut res = next.run(req).await;
    if !api && res.headers().contains_key(header::CONTENT_ENCODING) {
        if let Some(tag) = res.headers().get(header::ETAG) {
            if !tag.as_bytes().starts_with(b"W/") {
                let mut weak = b"W/".to_vec();
                weak.extend_from_slice(tag.as_bytes());
                if let Ok(v) = HeaderValue::from_bytes(&weak) {
                    res.headers_mut().insert(header::ETAG, v);
                }
            }
        }
    }
    res
}

/// `Cache-Control` for a file of the web app (see the module's note).
pub fn cache_control(path: &str) -> &'static str {
    const IMAGE: &[&str] = &[".png", ".jpg", ".jpeg", ".webp", ".gif", ".ico"];
    if IMAGE.iter().any(|ext| path.ends_with(ext)) {
        "public, max-age=86400"
    } else {
        "no-cache"
    }
}

/// Only what the web app ships is served from its folder: not its tests, scripts, npm packages,
/// package files or README.
pub fn is_public_web_path(path: &str) -> bool {
    const FILES: &[&str] = &["/", "/index.html", "/manifest.webmanifest", "/sw.js"];
    const DIRS: &[&str] = &["/css/", "/js/", "/vendor/", "/icons/"];
    FILES.contains(&path) || DIRS.iter().any(|d| path.starts_with(d))
}

/// The web app's folder as a handler: public paths only, with `ETag`, `Last-Modified`,
/// conditional GET/HEAD (304), `Range` (from `ServeDir`) and [`cache_control`]; text files in
/// their best-compressed form once made (see [`precompressed`]).
pub fn web_app(
    web_dir: PathBuf,
) -> impl Fn(Request) -> std::pin::Pin<Box<dyn std::future::Future<Output = Response> + Send>>
       + Clone
       + Send
       + Sync
       + 'static {
    let best = precompressed::Precompressed::new(web_dir.clone());
    let web = ServeDir::new(web_dir).append_index_html_on_directories(true);
    move |req: Request| {
        let web = web.clone();
        let best = best.clone();
        Box::pin(async move {
            let path = req.uri().path().to_owned();
            if !is_public_web_path(&path) {
                return StatusCode::NOT_FOUND.into_response();
            }
            let is_read = matches!(*req.method(), Method::GET | Method::HEAD);
            let kept = best.respond(req.method(), &path, req.headers()).await;
            let mut res = match kept {
                Some(res) => res,
                None => match tower::ServiceExt::oneshot(web, req).await {
                    Ok(res) => res.into_response(),
                    Err(never) => match never {},
                },
            };
            let status = res.status();
            if is_read && (status.is_success() || status == StatusCode::NOT_MODIFIED) {
                res.headers_mut().insert(
                    header::CACHE_CONTROL,
                    HeaderValue::from_static(cache_control(&path)),
                );
            }
            res
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(
        ct: Option<&'static str>,
        body: &'static str,
        length: Option<u64>,
    ) -> Response<String> {
        let mut res = Response::new(body.to_string());
        if let Some(ct) = ct {
            res.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
        }
        if let Some(n) = length {
            res.headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(n));
        }
        res
    }

    #[test]
    fn text_types_above_the_floor_compress_and_images_never_do() {
        let big = "x".repeat(2000).leak() as &'static str;
        for ct in [
            "text/html; charset=utf-8",
            "text/css",
            "text/javascript",
            "application/json",
            "application/geo+json",
            "application/manifest+json",
            "image/svg+xml",
            "text/plain; version=0.0.4; charset=utf-8",
            "application/vnd.mapbox-vector-tile",
        ] {
            assert!(
                Compressible.should_compress(&reply(Some(ct), big, None)),
                "{ct}"
            );
        }
        for ct in ["image/png", "image/jpeg", "image/webp", "font/woff2"] {
            assert!(
                !Compressible.should_compress(&reply(Some(ct), big, None)),
                "{ct}"
            );
        }
        assert!(!Compressible.should_compress(&reply(None, big, None)));
        assert!(!Compressible.should_compress(&reply(Some("application/json"), "{}", None)));
        // HEAD: empty body, the GET's length.
        assert!(Compressible.should_compress(&reply(Some("text/css"), "", Some(5000))));
    }

    #[test]
    fn code_revalidates_and_images_may_be_reused() {
        for p in [
            "/",
            "/index.html",
            "/sw.js",
            "/manifest.webmanifest",
            "/js/app.js",
            "/css/app.css",
            "/vendor/leaflet/leaflet.js",
            "/icons/icon.svg",
        ] {
            assert_eq!(cache_control(p), "no-cache", "{p}");
        }
        assert_eq!(
            cache_control("/icons/icon-192.png"),
            "public, max-age=86400"
        );
    }
}
