//! Security headers on every response: API JSON, errors, the OpenAPI document, `/metrics`,
//! `/healthz`, the web app's files and its 404s alike, so no route kind is forgotten.

use super::auth::came_over_https;
use super::ApiConfig;
use crate::config::Hsts;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use std::net::SocketAddr;
use std::sync::Arc;

/// The web app's own policy (`web/index.html` repeats it in a `<meta>` tag): everything from
/// this origin, no inline script or style, images also as `data:` URLs (Leaflet's), no plugins,
/// no external origin at all (no CDN, tile server or web font), and no framing (clickjacking).
/// A configured basemap adds its tile hosts to `img-src` ([`content_security_policy`]).
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

/// [`CONTENT_SECURITY_POLICY`] with `img_origins` (a configured basemap's tile hosts) let into
/// `img-src` and nothing else changed; the same policy when there are none.
pub fn content_security_policy(img_origins: &[String]) -> String {
    CONTENT_SECURITY_POLICY.replacen(IMG_SRC, &img_src(img_origins), 1)
}

/// The page's `<meta>` policy: the header's less `frame-ancestors`, which a `<meta>` tag
/// cannot carry (browsers ignore it there and warn).
pub fn meta_content_security_policy(img_origins: &[String]) -> String {
    META_CONTENT_SECURITY_POLICY.replacen(IMG_SRC, &img_src(img_origins), 1)
}

/// `web/index.html` with its `<meta>` policy widened to `img_origins`; `None` when the page
/// does not carry the policy this server expects (then it is served unchanged, tiles blocked).
pub fn page_with_policy(html: &str, img_origins: &[String]) -> Option<String> {
    let today = format!("content=\"{META_CONTENT_SECURITY_POLICY}\"");
    html.contains(&today).then(|| {
        html.replacen(
            &today,
            &format!("content=\"{}\"", meta_content_security_policy(img_origins)),
            1,
        )
    })
}

const IMG_SRC: &str = "img-src 'self' data:;";

const META_CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; \
     base-uri 'self'; form-action 'self'";

fn img_src(img_origins: &[String]) -> String {
    let mut s = String::from("img-src 'self' data:");
    for o in img_origins {
        s.push(' ');
        s.push_str(o);
    }
    s.push(';');
    s
}

/// The headers every response carries (unless a handler set its own); the policy is the
/// configured one, [`ApiConfig::content_security_policy`].
const ALWAYS: [(HeaderName, &str); 3] = [
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
    if res.status() == StatusCode::NOT_MODIFIED {
        // A 304 only refreshes a stored response, which keeps its own security headers
        // (RFC 9111 §4.3.4 updates the fields a 304 carries, and drops none): repeating ~300
        // bytes of them on every revalidation is most of what a phone's repeat visit costs.
        return res;
    }
    let headers = res.headers_mut();
    headers
        .entry(header::CONTENT_SECURITY_POLICY)
        .or_insert_with(|| config.content_security_policy.clone());
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
