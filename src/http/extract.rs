use crate::error::Error;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// `Query` whose rejections are our JSON 400s.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(Error))]
pub struct ApiQuery<T>(pub T);

impl From<QueryRejection> for Error {
    fn from(r: QueryRejection) -> Self {
        Error::bad_request("invalid_query", r.body_text())
    }
}

/// `Json` whose rejections are our JSON 4xx (unknown fields, wrong types, too large).
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(Error))]
pub struct ApiJson<T>(pub T);

impl From<JsonRejection> for Error {
    fn from(r: JsonRejection) -> Self {
        if r.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            return Error::PayloadTooLarge {
                limit: super::MAX_BODY_BYTES,
            };
        }
        let code = match r {
            JsonRejection::MissingJsonContentType(_) => "unsupported_media_type",
            JsonRejection::JsonSyntaxError(_) => "invalid_json",
            _ => "invalid_body",
        };
        Error::bad_request(code, r.body_text())
    }
}

/// The client's address: the peer, or — when the peer is a trusted proxy — the right-most
/// `X-Forwarded-For` entry that is not itself a trusted proxy.
pub fn client_ip(parts: &Parts, trusted: &[IpNet]) -> Option<IpAddr> {
    // A dual-stack listener (`[::]`) sees IPv4 peers as `::ffff:a.b.c.d`, which an IPv4
    // `--trusted-proxy` never contains: compare (and report) the plain IPv4 address.
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()?
        .0
        .ip()
        .to_canonical();
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let forwarded: Vec<IpAddr> = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse::<IpAddr>().ok())
        .map(|ip| ip.to_canonical())
        .collect();
    Some(
        forwarded
            .into_iter()
            .rev()
            .find(|ip| !is_trusted(ip))
            .unwrap_or(peer),
    )
}

/// The client address as an extractor (see [`client_ip`]).
pub struct ClientIp(pub Option<IpAddr>);

impl<S> FromRequestParts<S> for ClientIp
where
    S: Send + Sync,
    std::sync::Arc<super::ApiConfig>: axum::extract::FromRef<S>,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let config: std::sync::Arc<super::ApiConfig> = axum::extract::FromRef::from_ref(state);
        Ok(ClientIp(client_ip(parts, &config.trusted_proxies)))
    }
}

/// Headers a reverse proxy adds to say who its client was.
const FORWARDING_HEADERS: [&str; 3] = ["x-forwarded-for", "forwarded", "x-real-ip"];

/// Watches for a reverse proxy nobody declared: with no `--trusted-proxy`, every rider behind
/// a proxy has the proxy's address, so they all share one rate-limit bucket and one IP
/// position. The first request that arrives with forwarding headers is reported, once.
#[derive(Debug, Default)]
pub struct UndeclaredProxyWatch {
    warned: AtomicBool,
}

impl UndeclaredProxyWatch {
    /// Warns (once) when a request from `peer` carries a forwarding header; true if it did.
    pub fn observe(&self, headers: &HeaderMap, peer: Option<IpAddr>) -> bool {
        if self.warned.load(Ordering::Relaxed) {
            return false;
        }
        let Some(header) = FORWARDING_HEADERS
            .into_iter()
            .find(|h| headers.contains_key(*h))
        else {
            return false;
        };
        let Some(peer) = peer.map(|p| p.to_canonical()) else {
            return false;
        };
        if self.warned.swap(true, Ordering::Relaxed) {
            return false;
        }
        let host_net = if peer.is_ipv4() { 32 } else { 128 };
        tracing::warn!(
            %peer,
            header,
            "a request from {peer} carries {header}, as a reverse proxy's do, but no \
             --trusted-proxy is set: every client behind that proxy counts as {peer} (one \
             rate-limit bucket, one IP position). If {peer} is your proxy, start with \
             --trusted-proxy {peer}/{host_net} (YIZHAN_TRUSTED_PROXIES); if clients reach \
             yizhan directly, this is harmless. Said once."
        );
        true
    }
}

/// Middleware feeding every request to an [`UndeclaredProxyWatch`] (installed only when no
/// `--trusted-proxy` is set).
pub async fn watch_for_undeclared_proxy(
    State(watch): State<Arc<UndeclaredProxyWatch>>,
    req: Request,
    next: Next,
) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    watch.observe(req.headers(), peer);
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;

    fn parts(peer: &str, xff: Option<&str>) -> Parts {
        let mut b = Request::builder().uri("/");
        if let Some(x) = xff {
            b = b.header("x-forwarded-for", x);
        }
        let (mut p, _) = b.body(()).unwrap().into_parts();
        p.extensions
            .insert(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
        p
    }

    #[test]
    fn forwarded_for_is_honoured_only_from_trusted_proxies() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let spoof = parts("203.0.113.9:1234", Some("1.2.3.4"));
        assert_eq!(
            client_ip(&spoof, &trusted),
            Some("203.0.113.9".parse().unwrap())
        );
        let via_proxy = parts("10.0.0.2:1234", Some("1.2.3.4, 8.8.8.8, 10.0.0.3"));
        assert_eq!(
            client_ip(&via_proxy, &trusted),
            Some("8.8.8.8".parse().unwrap())
        );
        let no_header = parts("10.0.0.2:1234", None);
        assert_eq!(
            client_ip(&no_header, &trusted),
            Some("10.0.0.2".parse().unwrap())
        );
    }

    #[test]
    fn an_undeclared_proxy_is_reported_once() {
        let watch = UndeclaredProxyWatch::default();
        let peer = Some("10.0.0.2".parse().unwrap());
        assert!(
            !watch.observe(&HeaderMap::new(), peer),
            "no forwarding header"
        );
        let mut forwarded = HeaderMap::new();
        forwarded.insert("x-real-ip", "1.2.3.4".parse().unwrap());
        assert!(watch.observe(&forwarded, peer));
        assert!(!watch.observe(&forwarded, peer), "said once");
        let other = UndeclaredProxyWatch::default();
        let mut standard = HeaderMap::new();
        standard.insert("forwarded", "for=1.2.3.4".parse().unwrap());
        assert!(other.observe(&standard, peer));
    }
}
