//! The one error type handlers return, and its mapping to HTTP statuses and JSON bodies.

use crate::domain::Invalid;
use crate::store::StoreError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Seconds a client is told to wait when the store is unavailable: about how long a pool needs
/// to notice a restarted server and connect again.
pub const STORE_RETRY_AFTER_S: u64 = 2;

/// Everything a request can fail with; 5xx are logged and never leak internals.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Input that failed validation (400 with the validation's code).
    #[error("{0}")]
    Invalid(#[from] Invalid),
    /// A request that is malformed as a whole (bad JSON, bad query string…).
    #[error("{message}")]
    BadRequest {
        /// Stable code.
        code: &'static str,
        /// What was wrong.
        message: String,
    },
    /// No such resource.
    #[error("{0}")]
    NotFound(String),
    /// Not logged in, or the session ended.
    #[error("{0}")]
    Unauthorized(String),
    /// Logged in but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// A state-changing request that rides on the session cookie (or a login) sent from
    /// another site's page (403 `cross_site`).
    #[error("{0}")]
    CrossSite(String),
    /// A conflicting write (e.g. duplicate code).
    #[error("{message}")]
    Conflict {
        /// Stable code.
        code: &'static str,
        /// What conflicted.
        message: String,
    },
    /// `If-Match` no longer matches: the body carries the current version.
    #[error("the station changed since you loaded it (current version {current_version})")]
    PreconditionFailed {
        /// The version now stored.
        current_version: i64,
    },
    /// A write without `If-Match`.
    #[error("this request needs an If-Match header with the ETag from GET")]
    PreconditionRequired,
    /// Too many attempts; try again after `retry_after_s`.
    #[error("too many requests; retry after {retry_after_s} s")]
    TooManyRequests {
        /// Seconds to wait.
        retry_after_s: u64,
    },
    /// The request body is larger than allowed.
    #[error("request body too large (limit {limit} bytes)")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// Too much work in progress; try again after `retry_after_s` (503).
    #[error("{message}")]
    Busy {
        /// What is busy.
        message: String,
        /// Seconds to wait.
        retry_after_s: u64,
    },
    /// The request ran out of its time budget (503; the message says what became of it).
    #[error("{0}")]
    Timeout(String),
    /// The store cannot be reached right now (down, restarting, out of connections): 503 with
    /// `Retry-After`, so clients and proxies retry instead of treating it as a bug.
    #[error("the database is unavailable; retry in {STORE_RETRY_AFTER_S} s")]
    StoreUnavailable(StoreError),
    /// A store failure.
    #[error(transparent)]
    Store(StoreError),
    /// Anything else unexpected.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl Error {
    /// A 400 with a code and message.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Error::BadRequest {
            code,
            message: message.into(),
        }
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Error::Invalid(i) => (StatusCode::BAD_REQUEST, i.code),
            Error::BadRequest { code, .. } => (StatusCode::BAD_REQUEST, code),
            Error::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Error::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Error::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            Error::CrossSite(_) => (StatusCode::FORBIDDEN, "cross_site"),
            Error::Conflict { code, .. } => (StatusCode::CONFLICT, code),
            Error::PreconditionFailed { .. } => {
                (StatusCode::PRECONDITION_FAILED, "version_mismatch")
            }
            Error::PreconditionRequired => (StatusCode::PRECONDITION_REQUIRED, "if_match_required"),
            Error::TooManyRequests { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            Error::PayloadTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"),
            Error::Busy { .. } => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
            Error::Timeout(_) => (StatusCode::SERVICE_UNAVAILABLE, "timeout"),
            Error::StoreUnavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "store_unavailable"),
            Error::Store(StoreError::DuplicateCode { .. }) => {
                (StatusCode::CONFLICT, "duplicate_code")
            }
            Error::Store(StoreError::DuplicateLogin(_)) => {
                (StatusCode::CONFLICT, "duplicate_login")
            }
            Error::Store(StoreError::UnknownLogin(_)) => (StatusCode::NOT_FOUND, "unknown_login"),
            Error::Store(StoreError::UnknownStationCode(_)) => {
                (StatusCode::BAD_REQUEST, "unknown_station_code")
            }
            Error::Store(_) | Error::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = match &self {
            // Expected while the database restarts: worth a warning, and the message names
            // nothing internal.
            Error::StoreUnavailable(e) => {
                tracing::warn!(error = %e, "store unavailable");
                self.to_string()
            }
            Error::Busy { .. } | Error::Timeout(_) => self.to_string(),
            _ if status.is_server_error() => {
                tracing::error!(error = ?self, "request failed");
                "internal error; the details are in the server log".to_string()
            }
            _ => self.to_string(),
        };
        let mut body = json!({ "error": { "code": code, "message": message } });
        if let Error::PreconditionFailed { current_version } = &self {
            body["error"]["current_version"] = json!(current_version);
        }
        let mut res = (status, axum::Json(body)).into_response();
        if let Error::Unauthorized(_) = &self {
            // RFC 9110: a 401 names the scheme that would work.
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"yizhan\""),
            );
        }
        let retry_after_s = match &self {
            Error::TooManyRequests { retry_after_s } | Error::Busy { retry_after_s, .. } => {
                Some(*retry_after_s)
            }
            Error::StoreUnavailable(_) => Some(STORE_RETRY_AFTER_S),
            _ => None,
        };
        if let Some(v) = retry_after_s.and_then(|s| HeaderValue::from_str(&s.to_string()).ok()) {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
        res
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::VersionMismatch { current } => Error::PreconditionFailed {
                current_version: current,
            },
            StoreError::NotFound(id) => Error::NotFound(format!("no station with id {id}")),
            StoreError::DuplicateCode { code, .. } => Error::Conflict {
                code: "duplicate_code",
                message: format!("a station with code {code:?} already exists"),
            },
            e @ StoreError::ReportNotFound { .. } => Error::NotFound(e.to_string()),
            e @ StoreError::ReportAlreadyResolved(_) => Error::Conflict {
                code: "already_resolved",
                message: e.to_string(),
            },
            e if e.is_unavailable() => Error::StoreUnavailable(e),
            other => Error::Store(other),
        }
    }
}

/// Shorthand for handler results.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_of(res: Response) -> serde_json::Value {
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 16)
            .await
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn unreachable_store_is_503_with_retry_after_and_no_internals() {
        let refused = std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "connect to 10.1.2.3:5432 refused",
        );
        let res = Error::from(StoreError::Db(sqlx::Error::Io(refused))).into_response();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            res.headers()[header::RETRY_AFTER],
            STORE_RETRY_AFTER_S.to_string().as_str()
        );
        let body = body_of(res).await;
        assert_eq!(body["error"]["code"], "store_unavailable");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(!message.contains("10.1.2.3"), "{message}");

        let res = Error::from(StoreError::Db(sqlx::Error::PoolTimedOut)).into_response();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    }

    #[tokio::test]
    async fn other_store_failures_stay_500() {
        let res = Error::from(StoreError::Corrupt {
            id: 7,
            reason: "bad geometry".into(),
        })
        .into_response();
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(res.headers().get(header::RETRY_AFTER).is_none());
        assert_eq!(body_of(res).await["error"]["code"], "internal");
    }
}
