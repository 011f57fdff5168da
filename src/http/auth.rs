//! Sessions: log in, log out, who am I; and the extractors that tell handlers who is asking.
//!
//! A session token is 256 random bits handed out once, at login, both in an HttpOnly cookie
//! (the web app) and in the reply body (API clients send it as `Authorization: Bearer`).
//! The store keeps only its SHA-256. Cookie requests are guarded against cross-site forgery
//! twice: the cookie is `SameSite=Strict`, and [`super::same_origin`] refuses state-changing
//! requests that carry it from another site.

use super::extract::{ApiJson, ClientIp};
use super::{ApiConfig, AppState};
use crate::auth::hashing::{HashingQueue, Shed};
use crate::auth::throttle::{login_key, LoginThrottle};
use crate::auth::{
    dummy_hash, ip_rate_key, log_tag, new_session_token, token_hash, verify_password,
};
use crate::config::CookieSecure;
use crate::domain::{Account, Login, Role};
use crate::error::{Error, Result};
use crate::store::Store;
use axum::extract::{ConnectInfo, FromRef, FromRequestParts, OptionalFromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "yizhan_session";
/// The one message for a wrong password, an unknown login and a disabled account alike.
const BAD_CREDENTIALS: &str = "wrong login or password";
/// The address key of a request without a peer address (never one over a socket).
const NO_ADDRESS: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);

/// Session policy, the login limits and the password-check queue, shared by the auth routes.
pub struct AuthState {
    /// How long a session lasts.
    pub session_ttl: chrono::Duration,
    /// When the cookie is `Secure`.
    pub cookie_secure: CookieSecure,
    /// Brute-force protection (per login and address, per address, paced per login).
    pub throttle: LoginThrottle,
    /// Bounds the argon2 work and the logins waiting for it; the excess is shed with 503.
    pub hashing: HashingQueue,
}

impl AuthState {
    /// The policy from the configuration, with the default login limits.
    pub fn new(session_ttl_hours: u32, cookie_secure: CookieSecure) -> Self {
        // Computed now so the first unknown-login attempt is not slower than the others.
        let _ = dummy_hash();
        Self {
            session_ttl: chrono::Duration::hours(i64::from(session_ttl_hours)),
            cookie_secure,
            throttle: LoginThrottle::default(),
            hashing: HashingQueue::per_core(),
        }
    }

    /// Whether the cookie gets `Secure` for a request that did (`https`) or did not come over https.
    fn secure(&self, https: bool) -> bool {
        match self.cookie_secure {
            CookieSecure::Always => true,
            CookieSecure::Never => false,
            CookieSecure::Auto => https,
        }
    }

    /// The `Set-Cookie` value carrying a session.
    fn session_cookie(&self, token: &str, https: bool) -> String {
        let mut c = format!(
            "{SESSION_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}",
            self.session_ttl.num_seconds()
        );
        if self.secure(https) {
            c.push_str("; Secure");
        }
        c
    }

    /// The `Set-Cookie` value that makes the browser drop the session cookie.
    fn clearing_cookie(&self, https: bool) -> String {
        let mut c = format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
        if self.secure(https) {
            c.push_str("; Secure");
        }
        c
    }
}

/// The auth routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(me))
}

/// Adds the bearer and cookie security schemes to the OpenAPI document.
pub struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(utoipa::openapi::security::ApiKey::Cookie(
                utoipa::openapi::security::ApiKeyValue::new(SESSION_COOKIE),
            )),
        );
    }
}

// ---- who is asking -------------------------------------------------------------------------

/// The logged-in account; rejects with 401 when the request has no valid, unexpired session.
/// Reads `Authorization: Bearer <token>` first, then the `yizhan_session` cookie.
#[derive(Debug, Clone)]
pub struct CurrentUser(pub Account);

/// The logged-in account if any: a missing, unknown or expired session is just `None`.
#[derive(Debug, Clone)]
pub struct MaybeUser(pub Option<Account>);

/// What a request's credentials resolved to, kept in its extensions so that several
/// extractors in one request hit the store once.
#[derive(Clone)]
enum Resolved {
    NoCredentials,
    Invalid,
    User(Account),
}

/// The session token a request carries: bearer first, then cookie.
pub fn request_token(headers: &HeaderMap) -> Option<String> {
    bearer_token(headers).or_else(|| cookie_token(headers))
}

/// Whether the request's credentials are the session cookie: it carries one and no bearer
/// token (which would win). Only such requests can be forged by another site.
pub fn rides_on_session_cookie(headers: &HeaderMap) -> bool {
    bearer_token(headers).is_none() && cookie_token(headers).is_some()
}

fn bearer_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            let (scheme, rest) = v.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| rest.trim().to_string())
        })
}

fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == SESSION_COOKIE && !value.is_empty())
        .map(|(_, value)| value.to_string())
}

/// Whether a string could be one of our tokens (saves a store round trip on junk).
fn plausible_token(t: &str) -> bool {
    (20..=128).contains(&t.len())
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

async fn resolve<S>(parts: &mut Parts, state: &S) -> Result<Resolved>
where
    Arc<dyn Store>: FromRef<S>,
{
    if let Some(r) = parts.extensions.get::<Resolved>() {
        return Ok(r.clone());
    }
    let resolved = match request_token(&parts.headers) {
        None => Resolved::NoCredentials,
        Some(t) if !plausible_token(&t) => Resolved::Invalid,
        Some(t) => {
            let store: Arc<dyn Store> = FromRef::from_ref(state);
            match store.session_account(&token_hash(&t), Utc::now()).await? {
                Some(a) => Resolved::User(a),
                None => Resolved::Invalid,
            }
        }
    };
    parts.extensions.insert(resolved.clone());
    Ok(resolved)
}

impl<S> FromRequestParts<S> for CurrentUser
where
    S: Send + Sync,
    Arc<dyn Store>: FromRef<S>,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match resolve(parts, state).await? {
            Resolved::User(a) => Ok(CurrentUser(a)),
            Resolved::NoCredentials => Err(Error::Unauthorized(
                "log in first (POST /api/v1/auth/login)".into(),
            )),
            Resolved::Invalid => Err(Error::Unauthorized(
                "the session is unknown or has expired; log in again".into(),
            )),
        }
    }
}

impl<S> FromRequestParts<S> for MaybeUser
where
    S: Send + Sync,
    Arc<dyn Store>: FromRef<S>,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match resolve(parts, state).await? {
            Resolved::User(a) => Ok(MaybeUser(Some(a))),
            Resolved::NoCredentials | Resolved::Invalid => Ok(MaybeUser(None)),
        }
    }
}

impl<S> OptionalFromRequestParts<S> for CurrentUser
where
    S: Send + Sync,
    Arc<dyn Store>: FromRef<S>,
{
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        let MaybeUser(a) =
            <MaybeUser as FromRequestParts<S>>::from_request_parts(parts, state).await?;
        Ok(a.map(CurrentUser))
    }
}

/// Authorization checks handlers call after extracting [`CurrentUser`]. They live here, not in
/// the domain, because they answer in HTTP errors.
impl Account {
    /// `Ok` for admins, 403 otherwise.
    pub fn require_admin(&self) -> Result<()> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(Error::Forbidden(format!(
                "{} is a {}; this needs an admin",
                self.login, self.role
            )))
        }
    }

    /// `Ok` for admins and the station's managers, 403 otherwise.
    pub fn require_manager_of(&self, station_id: i64) -> Result<()> {
        if self.can_manage(station_id) {
            Ok(())
        } else {
            Err(Error::Forbidden(format!(
                "{} does not manage station {station_id}",
                self.login
            )))
        }
    }
}

/// Whether the request reached us over https: only a trusted proxy's `X-Forwarded-Proto`
/// (its first entry, the client-facing hop) is believed; the service itself speaks plain http.
pub fn came_over_https(headers: &HeaderMap, peer: Option<IpAddr>, trusted: &[IpNet]) -> bool {
    let Some(peer) = peer else { return false };
    // An IPv4 proxy on a dual-stack listener shows up as ::ffff:a.b.c.d.
    let peer = peer.to_canonical();
    if !trusted.iter().any(|n| n.contains(&peer)) {
        return false;
    }
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
}

/// Whether the request came over https (see [`came_over_https`]).
pub struct Https(pub bool);

impl<S> FromRequestParts<S> for Https
where
    S: Send + Sync,
    Arc<ApiConfig>: FromRef<S>,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let config: Arc<ApiConfig> = FromRef::from_ref(state);
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        Ok(Https(came_over_https(
            &parts.headers,
            peer,
            &config.trusted_proxies,
        )))
    }
}

// ---- routes --------------------------------------------------------------------------------

/// Body of `POST /api/v1/auth/login`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Login name (case-insensitive).
    pub login: String,
    /// Password.
    pub password: String,
}

/// An account as the API shows it (never with its password hash).
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountView {
    /// Account id.
    pub id: i64,
    /// Login name.
    pub login: String,
    /// `admin`, `manager` or `planner`.
    #[schema(value_type = super::openapi::RoleSchema, example = "manager")]
    pub role: Role,
    /// Ids of the stations a manager edits (admins edit all, planners none).
    pub stations: Vec<i64>,
}

impl From<Account> for AccountView {
    fn from(a: Account) -> Self {
        Self {
            id: a.id,
            login: a.login,
            role: a.role,
            stations: a.stations,
        }
    }
}

/// Reply of a successful login.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginReply {
    /// The session token, for `Authorization: Bearer` (also set as an HttpOnly cookie).
    pub token: String,
    /// When the session ends.
    pub expires_at: DateTime<Utc>,
    /// Who logged in.
    pub account: AccountView,
}

/// Opens a session.
#[utoipa::path(
    post, path = "/api/v1/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in; the token is also set as the HttpOnly `yizhan_session` cookie",
         body = LoginReply, headers(("Set-Cookie" = String))),
        (status = 400, description = "Malformed body or unknown field"),
        (status = 401, description = "Wrong login or password, or a disabled account (the same reply for all)"),
        (status = 413, description = "Body larger than 64 KiB"),
        (status = 403, description = "`cross_site`: sent from another site's page (`Sec-Fetch-Site` or `Origin`)"),
        (status = 429, description = "Too many failed attempts from this address, or this login is being tried \
         from many addresses and is paced: retry after `Retry-After` seconds", headers(("Retry-After" = u64))),
        (status = 503, description = "`busy`: too many logins are being checked; retry after `Retry-After` seconds",
         headers(("Retry-After" = u64))),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn login(
    State(store): State<Arc<dyn Store>>,
    State(auth): State<Arc<AuthState>>,
    ClientIp(ip): ClientIp,
    Https(https): Https,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Response> {
    let key = login_key(&req.login);
    let addr = ip.map_or(NO_ADDRESS, ip_rate_key);
    // Counted as a failure up front, so parallel guesses cannot exceed a quota; given back
    // on success, or when the request ends before a verdict.
    let attempt = auth.throttle.begin(&key, addr).map_err(|refused| {
        tracing::info!(limit = refused.limit.as_str(), ip = %addr, "login refused: rate limited");
        Error::TooManyRequests {
            retry_after_s: refused.retry_after_s,
        }
    })?;
    let place = auth.hashing.admit(addr).map_err(|shed| Error::Busy {
        message: match shed {
            Shed::Full => "too many logins are being checked; try again in a second".into(),
            Shed::AddressBusy => "a login from this address is still being checked".into(),
        },
        retry_after_s: 1,
    })?;

    let found = match Login::new(req.login.trim()) {
        Ok(login) => store.account_by_login(&login).await?,
        Err(_) => None,
    };
    // An unknown login is checked against a dummy hash, so both failures take the same time;
    // a disabled account is checked against its own hash for the same reason.
    let phc = found
        .as_ref()
        .map_or_else(|| dummy_hash().to_string(), |r| r.password_hash.clone());
    let password = req.password;
    let matches = place.run(move || verify_password(&password, &phc)).await?;
    drop(place);

    let account = match found {
        Some(r) if matches && r.disabled_at.is_none() => r.account,
        Some(r) if matches => {
            attempt.failed();
            tracing::warn!(account_id = r.account.id, login = %r.account.login, ip = %addr,
                "login refused: the account is disabled");
            return Err(Error::Unauthorized(BAD_CREDENTIALS.into()));
        }
        other => {
            attempt.failed();
            // Never the attempted name: it is sometimes a password typed into the wrong field.
            tracing::info!(login_tag = %log_tag(&key), account_id = other.map(|r| r.account.id),
                ip = %addr, "failed login");
            return Err(Error::Unauthorized(BAD_CREDENTIALS.into()));
        }
    };
    attempt.succeeded();

    let token = new_session_token();
    let now = Utc::now();
    let expires_at = now + auth.session_ttl;
    store
        .create_session(&token_hash(&token), account.id, expires_at)
        .await?;
    // Housekeeping rides on logins: they are rare, and expired rows are never honoured anyway.
    if let Err(e) = store.delete_expired_sessions(now).await {
        tracing::warn!(error = %e, "could not delete expired sessions");
    }
    tracing::info!(login = %account.login, role = %account.role, "logged in");
    let cookie = auth.session_cookie(&token, https);
    let body = LoginReply {
        token,
        expires_at,
        account: account.into(),
    };
    Ok((
        [
            (header::SET_COOKIE, header_value(cookie)?),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        Json(body),
    )
        .into_response())
}

fn header_value(s: String) -> Result<HeaderValue> {
    HeaderValue::try_from(s).map_err(|e| Error::Internal(anyhow::anyhow!("bad header value: {e}")))
}

/// Ends the session the request carries (cookie or bearer) and clears the cookie.
/// Idempotent: without a live session it still answers 204.
#[utoipa::path(
    post, path = "/api/v1/auth/logout", tag = "auth",
    responses(
        (status = 204, description = "Session ended; the cookie is cleared", headers(("Set-Cookie" = String))),
        (status = 403, description = "`cross_site`: a cookie logout sent from another site's page"),
    ),
    security((), ("bearer" = []), ("cookie" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn logout(
    State(store): State<Arc<dyn Store>>,
    State(auth): State<Arc<AuthState>>,
    Https(https): Https,
    headers: HeaderMap,
) -> Result<Response> {
    if let Some(t) = request_token(&headers) {
        store.delete_session(&token_hash(&t)).await?;
    }
    Ok((
        StatusCode::NO_CONTENT,
        [(
            header::SET_COOKIE,
            header_value(auth.clearing_cookie(https))?,
        )],
    )
        .into_response())
}

/// The logged-in account.
#[utoipa::path(
    get, path = "/api/v1/auth/me", tag = "auth",
    responses(
        (status = 200, description = "The account of the session", body = AccountView),
        (status = 401, description = "No valid session"),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn me(CurrentUser(user): CurrentUser) -> Response {
    (
        [(header::CACHE_CONTROL, "no-store")],
        Json(AccountView::from(user)),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn bearer_wins_over_cookie_and_cookie_is_found_among_others() {
        let h = headers(&[
            ("cookie", "a=1; yizhan_session=fromcookie; b=2"),
            ("authorization", "Bearer frombearer"),
        ]);
        assert_eq!(request_token(&h).as_deref(), Some("frombearer"));
        let h = headers(&[("cookie", "a=1"), ("cookie", "yizhan_session=c")]);
        assert_eq!(request_token(&h).as_deref(), Some("c"));
        let h = headers(&[("authorization", "Basic dXNlcjpwdw==")]);
        assert_eq!(request_token(&h), None);
        assert!(!plausible_token("a;b"));
    }

    #[test]
    fn cookie_is_secure_when_policy_or_https_says_so() {
        let mut a = AuthState::new(12, CookieSecure::Auto);
        let c = a.session_cookie("tok", false);
        assert_eq!(
            c,
            "yizhan_session=tok; HttpOnly; SameSite=Strict; Path=/; Max-Age=43200"
        );
        assert!(a.session_cookie("tok", true).ends_with("; Secure"));
        a.cookie_secure = CookieSecure::Always;
        assert!(a.clearing_cookie(false).ends_with("Max-Age=0; Secure"));
        a.cookie_secure = CookieSecure::Never;
        assert!(!a.session_cookie("tok", true).contains("Secure"));
    }

    #[test]
    fn forwarded_proto_counts_only_from_trusted_proxies() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let proxy = Some("10.1.2.3".parse().unwrap());
        let h = headers(&[("x-forwarded-proto", "https")]);
        assert!(came_over_https(&h, proxy, &trusted));
        assert!(!came_over_https(
            &h,
            Some("203.0.113.1".parse().unwrap()),
            &trusted
        ));
        assert!(!came_over_https(&HeaderMap::new(), proxy, &trusted));
    }

    #[test]
    fn helpers_answer_403() {
        let m = Account {
            id: 1,
            login: "m".into(),
            role: Role::Manager,
            stations: vec![7],
        };
        assert!(m.require_manager_of(7).is_ok());
        assert!(matches!(m.require_manager_of(8), Err(Error::Forbidden(_))));
        assert!(matches!(m.require_admin(), Err(Error::Forbidden(_))));
    }
}
