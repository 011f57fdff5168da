//! Security headers on every response: API JSON, errors, the OpenAPI document, `/metrics`,
//! `/healthz`, the web app's files and its 404s alike, so no route kind is forgotten.

use super::auth::came_over_https;
use super::ApiConfig;
use crate::config::Hsts;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use std::net::SocketAddr;
use std::sync::Arc;

/// The web app's own policy (`web/index.html` repeats it in a `<meta>` tag): everything from
/// this origin, no inline script or style, images also as `data:` URLs (Leaflet's), no plugins,
/// no external origin at all (no CDN, tile server or web font), and no framing (clickjacking).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; \
     base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

/// No page of ours has anything in its address another site needs to know: the navigation
/// hand-off links to Amap, Baidu and Tencent carry the destination in their own URL (and the
/// web app opens them with `rel="noreferrer"` too), same-origin `fetch` keeps its `Origin`
/// header under this policy, and the server never reads `Referer`.
pub const REFERRER_POLICY: &str = "no-referrer";

/// One year, the usual minimum for preload lists; no `includeSubDomains`, since other hosts
/// under the same domain are not ours to decide for.
pub const STRICT_TRANSPORT_SECURITY: &str = "max-age=31536000";

/// The headers every response carries (unless a handler set its own).
const ALWAYS: [(HeaderName, &str); 4] = [
    (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::REFERRER_POLICY, REFERRER_POLICY),
    // `frame-ancestors` for browsers too old to read it from the policy.
    (header::X_FRAME_OPTIONS, "DENY"),
];

/// Middleware adding the security headers; HSTS as `--hsts` says (see [`Hsts`]).
pub async fn set_security_headers(
    State(config): State<Arc<ApiConfig>>,
    req: Request,
    next: Next,
) -> Response {
    let hsts = match config.hsts {
        Hsts::Always => true,
        Hsts::Never => false,
        Hsts::Auto => {
            let peer = req
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip());
            came_over_https(req.headers(), peer, &config.trusted_proxies)
        }
    };
    let mut res = next.run(req).await;
    let headers = res.headers_mut();
    for (name, value) in ALWAYS {
        headers
            .entry(name)
            .or_insert(HeaderValue::from_static(value));
    }
    if hsts {
        headers
            .entry(header::STRICT_TRANSPORT_SECURITY)
            .or_insert(HeaderValue::from_static(STRICT_TRANSPORT_SECURITY));
    }
    res
}
