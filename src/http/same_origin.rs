//! Refuses cross-site forgeries: a state-changing request (anything but GET, HEAD, OPTIONS,
//! TRACE) that rides on the session cookie, and every login (a forged login would sign the
//! victim into the attacker's account), must come from our own pages.
//!
//! Browsers say where a request comes from. `Sec-Fetch-Site` (every current browser) must be
//! `same-origin`, or `none` (typed by the user); any other value is refused. Without it, an
//! `Origin` header must name this service's own origin: the `Host` the request was sent to,
//! over https when a trusted proxy says so in `X-Forwarded-Proto` (see
//! [`super::auth::came_over_https`]). A request with neither header comes from no browser
//! (curl, scripts) and cannot have been forged by a page. Bearer-token requests are not
//! checked: no other site can make a browser attach our token.

use super::auth::{came_over_https, rides_on_session_cookie};
use super::ApiConfig;
use crate::error::Error;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::uri::{Authority, Scheme};
use axum::http::{header, HeaderMap, Method, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// The login route, checked even without a cookie.
const LOGIN_PATH: &str = "/api/v1/auth/login";

/// Middleware: answers 403 `cross_site` to a forged request, passes everything else on.
pub async fn refuse_cross_site(
    State(config): State<Arc<ApiConfig>>,
    req: Request,
    next: Next,
) -> Response {
    if needs_check(req.method(), req.uri().path(), req.headers()) {
        let peer = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        if let Err(e) = check(req.headers(), req.uri(), peer, &config.trusted_proxies) {
            tracing::info!(method = %req.method(), path = req.uri().path(), error = %e,
                "cross-site request refused");
            return e.into_response();
        }
    }
    next.run(req).await
}

/// Whether a request could be a forgery that matters: it changes state, and it is a login or
/// carries the session cookie as its credentials.
fn needs_check(method: &Method, path: &str, headers: &HeaderMap) -> bool {
    !method.is_safe() && (path == LOGIN_PATH || rides_on_session_cookie(headers))
}

/// `Ok` when the request comes from our own pages or from no browser at all.
fn check(
    headers: &HeaderMap,
    uri: &Uri,
    peer: Option<IpAddr>,
    trusted: &[IpNet],
) -> Result<(), Error> {
    if let Some(site) = headers.get("sec-fetch-site") {
        return match site.to_str().map(str::trim) {
            Ok("same-origin" | "none") => Ok(()),
            Ok(other) => Err(Error::CrossSite(format!(
                "refused: this request came from another site (Sec-Fetch-Site: {})",
                printable(other)
            ))),
            Err(_) => Err(Error::CrossSite(
                "refused: unreadable Sec-Fetch-Site header".into(),
            )),
        };
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or("");
    let https = came_over_https(headers, peer, trusted);
    match own_origin(headers, uri, https) {
        Some(own) if parse_origin(origin).as_ref() == Some(&own) => Ok(()),
        _ => Err(Error::CrossSite(format!(
            "refused: this request came from another site (Origin: {})",
            printable(origin)
        ))),
    }
}

/// An origin as compared: scheme, lower-case host, port (the scheme's default when absent).
#[derive(Debug, PartialEq, Eq)]
struct Origin {
    scheme: String,
    host: String,
    port: u16,
}

fn origin_of(scheme: &str, authority: &Authority) -> Option<Origin> {
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    // Userinfo has no place in an origin or a Host header.
    if authority.as_str().contains('@') {
        return None;
    }
    Some(Origin {
        host: authority.host().to_ascii_lowercase(),
        port: authority.port_u16().unwrap_or(default_port),
        scheme,
    })
}

/// The `Origin` header's value, if it is a plain http(s) origin (`null` and paths are not).
fn parse_origin(value: &str) -> Option<Origin> {
    let uri: Uri = value.parse().ok()?;
    if uri
        .path_and_query()
        .is_some_and(|p| !p.as_str().is_empty() && p.as_str() != "/")
    {
        return None;
    }
    origin_of(uri.scheme_str()?, uri.authority()?)
}

/// The origin the client addressed: its `Host` (or the HTTP/2 authority), over https when a
/// trusted proxy says so.
fn own_origin(headers: &HeaderMap, uri: &Uri, https: bool) -> Option<Origin> {
    let authority = match headers.get(header::HOST) {
        Some(h) => h.to_str().ok()?.parse::<Authority>().ok()?,
        None => uri.authority()?.clone(),
    };
    let scheme = if https { Scheme::HTTPS } else { Scheme::HTTP };
    origin_of(scheme.as_str(), &authority)
}

/// A header value fit to quote in a reply: bounded, printable ASCII.
fn printable(s: &str) -> String {
    s.chars()
        .take(100)
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn verdict(pairs: &[(&str, &str)]) -> bool {
        let uri: Uri = "/api/v1/auth/logout".parse().unwrap();
        check(&headers(pairs), &uri, None, &[]).is_ok()
    }

    #[test]
    fn fetch_metadata_decides_when_present() {
        assert!(verdict(&[("sec-fetch-site", "same-origin")]));
        assert!(verdict(&[("sec-fetch-site", "none")]));
        assert!(!verdict(&[("sec-fetch-site", "cross-site")]));
        assert!(!verdict(&[("sec-fetch-site", "same-site")]));
        assert!(!verdict(&[("sec-fetch-site", "garbage")]));
        // It wins over a matching Origin.
        assert!(!verdict(&[
            ("sec-fetch-site", "cross-site"),
            ("host", "yizhan.example"),
            ("origin", "http://yizhan.example"),
        ]));
    }

    #[test]
    fn origin_must_be_our_own() {
        let host = ("host", "Yizhan.Example:8080");
        assert!(verdict(&[host, ("origin", "http://yizhan.example:8080")]));
        assert!(!verdict(&[host, ("origin", "https://evil.example")]));
        assert!(!verdict(&[host, ("origin", "http://yizhan.example")]));
        assert!(!verdict(&[host, ("origin", "https://yizhan.example:8080")]));
        assert!(!verdict(&[host, ("origin", "null")]));
        assert!(!verdict(&[
            host,
            ("origin", "http://yizhan.example:8080/path")
        ]));
        assert!(!verdict(&[
            host,
            ("origin", "http://a@yizhan.example:8080")
        ]));
        // Default ports are the same origin written either way.
        assert!(verdict(&[
            ("host", "yizhan.example"),
            ("origin", "http://yizhan.example:80")
        ]));
        // No browser headers at all: curl or a script.
        assert!(verdict(&[host]));
        assert!(verdict(&[]));
    }

    #[test]
    fn https_comes_from_a_trusted_proxy_only() {
        let uri: Uri = "/api/v1/auth/login".parse().unwrap();
        let h = headers(&[
            ("host", "yizhan.example"),
            ("origin", "https://yizhan.example"),
            ("x-forwarded-proto", "https"),
        ]);
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let proxy = Some("10.0.0.2".parse().unwrap());
        assert!(check(&h, &uri, proxy, &trusted).is_ok());
        let stranger = Some("203.0.113.5".parse().unwrap());
        assert!(check(&h, &uri, stranger, &trusted).is_err());
    }

    #[test]
    fn only_cookie_writes_and_logins_are_checked() {
        let cookie = headers(&[("cookie", "yizhan_session=abcdefghijklmnopqrstuvwxyz")]);
        let both = headers(&[
            ("cookie", "yizhan_session=abcdefghijklmnopqrstuvwxyz"),
            ("authorization", "Bearer abcdefghijklmnopqrstuvwxyz"),
        ]);
        let none = HeaderMap::new();
        let path = "/api/v1/stations/1/verify";
        assert!(needs_check(&Method::POST, path, &cookie));
        assert!(needs_check(&Method::DELETE, path, &cookie));
        assert!(!needs_check(&Method::GET, path, &cookie));
        assert!(!needs_check(&Method::POST, path, &both));
        assert!(!needs_check(&Method::POST, path, &none));
        assert!(needs_check(&Method::POST, LOGIN_PATH, &none));
    }
}
