//! Admission: how many requests run at once, per lane, and how long each may take.
//!
//! Requests are sorted into lanes after routing (by route template and method): **writes**
//! (POST/PUT/PATCH/DELETE under `/api`), **coverage** (`/api/v1/coverage…`, which may queue for
//! the one computation slot and then compute for seconds) and **reads** (everything else,
//! the web app's files included). Each lane has its own budget of requests in flight; a request
//! that finds its lane full is refused at once with 503 `busy` and `Retry-After` instead of
//! queueing, so latency and memory stay bounded under a flood and a flood of readers cannot
//! take the slots staff edits need. `/healthz` and `/metrics` are never refused: a load
//! balancer or an operator must see the service under load. Logins have a lane of their own
//! without slots here: the queue in front of the password hashing (`crate::auth::hashing`)
//! bounds them and sheds past it, and a flood of logins must not take the writes' slots.
//!
//! Writes also run on a thread of their own (a second Tokio runtime): when readers keep every
//! worker of the main runtime busy, a write — which waits for the store several times — no
//! longer waits behind all of them at each step (BENCHMARKS.md, issue 9).
//!
//! Every admitted request also gets a time budget (coverage a longer one): past it the
//! client gets 503 `timeout`. A write runs in a task of its own, so neither a timeout nor a
//! client hanging up stops it between its commit and its index update; the client is told
//! the outcome is unknown.

use crate::error::Error;
use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Seconds a refused client is told to wait (`Retry-After`).
pub const RETRY_AFTER_S: u64 = 1;

/// The kind of work a request is, for budgeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// Reads: nearest, boxes, stations, regions, the web app's files…
    Read,
    /// State-changing API requests.
    Write,
    /// Coverage computations (GET and the what-if POST).
    Coverage,
    /// `POST /api/v1/auth/login`: bounded by the password-hashing queue, not here.
    Login,
    /// Health and metrics: never refused.
    Exempt,
}

impl Lane {
    /// The lane's name in messages and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Lane::Read => "read",
            Lane::Write => "write",
            Lane::Coverage => "coverage",
            Lane::Login => "login",
            Lane::Exempt => "exempt",
        }
    }

    /// The lane of a request, from its method and the route template it matched (`None`
    /// for the web app's files).
    pub fn of(method: &Method, route: Option<&str>) -> Lane {
        let Some(route) = route else {
            return Lane::Read;
        };
        if route == "/healthz" || route == "/metrics" {
            return Lane::Exempt;
        }
        if route.starts_with("/api/v1/coverage") {
            return Lane::Coverage;
        }
        if route == "/api/v1/auth/login" {
            return Lane::Login;
        }
        // The catch-alls only answer 404: no write slot for them.
        let catch_all = matches!(route, "/api/{*rest}" | "/api" | "/api/");
        let changes_state = matches!(
            *method,
            Method::POST | Method::PUT | Method::PATCH | Method::DELETE
        );
        if changes_state && route.starts_with("/api/") && !catch_all {
            Lane::Write
        } else {
            Lane::Read
        }
    }
}

/// The budgets of requests in flight and of time.
#[derive(Debug, Clone, Copy)]
pub struct Budgets {
    /// Reads in flight at once.
    pub reads: usize,
    /// Writes in flight at once.
    pub writes: usize,
    /// Coverage requests in flight (computing or queued for the slot) at once.
    pub coverage: usize,
    /// Time a request may take, coverage excepted.
    pub request_timeout: Duration,
    /// Time a coverage request may take.
    pub coverage_timeout: Duration,
}

struct Slots {
    budget: usize,
    free: Arc<Semaphore>,
    shed: AtomicU64,
    timed_out: AtomicU64,
}

impl Slots {
    fn new(budget: usize) -> Self {
        Self {
            budget,
            free: Arc::new(Semaphore::new(budget)),
            shed: AtomicU64::new(0),
            timed_out: AtomicU64::new(0),
        }
    }

    fn in_flight(&self) -> usize {
        self.budget.saturating_sub(self.free.available_permits())
    }
}

/// A thread with a Tokio runtime of its own that runs the writes. On a busy server every
/// connection's task waits its turn on the main runtime's workers, so a write, which waits for
/// the store several times, waited behind all the readers each time; here its turns come from
/// the operating system's scheduler, shared fairly with the main workers.
struct WriteThread {
    handle: tokio::runtime::Handle,
    /// Dropped with the admission: the thread then ends its runtime.
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl WriteThread {
    fn start() -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("yizhan-writes".into())
            .spawn(move || {
                runtime.block_on(async {
                    let _ = stopped.await;
                });
            })?;
        Ok(Self {
            handle,
            _stop: stop,
        })
    }
}

/// The lanes' budgets and counters, shared by every request.
pub struct Admission {
    write_thread: WriteThread,
    reads: Slots,
    writes: Slots,
    coverage: Slots,
    request_timeout: Duration,
    coverage_timeout: Duration,
}

impl Admission {
    /// Lanes with these budgets, and the thread writes run on.
    pub fn new(b: Budgets) -> std::io::Result<Self> {
        Ok(Self {
            write_thread: WriteThread::start()?,
            reads: Slots::new(b.reads),
            writes: Slots::new(b.writes),
            coverage: Slots::new(b.coverage),
            request_timeout: b.request_timeout,
            coverage_timeout: b.coverage_timeout,
        })
    }

    fn slots(&self, lane: Lane) -> Option<&Slots> {
        match lane {
            Lane::Read => Some(&self.reads),
            Lane::Write => Some(&self.writes),
            Lane::Coverage => Some(&self.coverage),
            Lane::Login | Lane::Exempt => None,
        }
    }

    fn timeout(&self, lane: Lane) -> Duration {
        match lane {
            Lane::Coverage => self.coverage_timeout,
            _ => self.request_timeout,
        }
    }

    /// Requests in flight in the budgeted lanes (logins, health and metrics not counted).
    pub fn in_flight(&self) -> usize {
        self.reads.in_flight() + self.writes.in_flight() + self.coverage.in_flight()
    }

    /// Prometheus text: requests in flight, budgets, refusals and timeouts per lane.
    pub fn render(&self) -> String {
        let lanes = [Lane::Read, Lane::Write, Lane::Coverage];
        let mut out = String::new();
        let mut family = |name: &str, kind: &str, help: &str, value: &dyn Fn(&Slots) -> u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for lane in lanes {
                if let Some(s) = self.slots(lane) {
                    let _ = writeln!(out, "{name}{{lane=\"{}\"}} {}", lane.as_str(), value(s));
                }
            }
        };
        family(
            "yizhan_http_in_flight",
            "gauge",
            "Requests in progress by lane.",
            &|s| s.in_flight() as u64,
        );
        family(
            "yizhan_http_in_flight_limit",
            "gauge",
            "Requests allowed in progress at once by lane.",
            &|s| s.budget as u64,
        );
        family(
            "yizhan_http_shed_total",
            "counter",
            "Requests refused with 503 because their lane was full.",
            &|s| s.shed.load(Ordering::Relaxed),
        );
        family(
            "yizhan_http_timeouts_total",
            "counter",
            "Requests answered 503 because they ran out of time.",
            &|s| s.timed_out.load(Ordering::Relaxed),
        );
        out
    }
}

/// Middleware (a route layer, so the route is known): admits the request into its lane or
/// refuses it, and bounds its time.
pub async fn admit(State(admission): State<Arc<Admission>>, req: Request, next: Next) -> Response {
    let lane = Lane::of(
        req.method(),
        req.extensions()
            .get::<MatchedPath>()
            .map(MatchedPath::as_str),
    );
    let budget = admission.timeout(lane);
    let slots = admission.slots(lane);
    let permit = match slots.map(|s| s.free.clone().try_acquire_owned()) {
        None => None,
        Some(Ok(permit)) => Some(permit),
        Some(Err(_)) => {
            if let Some(s) = slots {
                s.shed.fetch_add(1, Ordering::Relaxed);
            }
            return Error::Busy {
                message: format!(
                    "too many {} requests in progress; retry after {RETRY_AFTER_S} s",
                    lane.as_str()
                ),
                retry_after_s: RETRY_AFTER_S,
            }
            .into_response();
        }
    };
    let outcome = if lane == Lane::Write {
        // A task of its own on the write thread, holding the slot until it ends: the write
        // runs to its end even when the client stops waiting.
        let task = admission.write_thread.handle.spawn(async move {
            let _permit = permit;
            next.run(req).await
        });
        match tokio::time::timeout(budget, task).await {
            Ok(Ok(res)) => Ok(res),
            Ok(Err(e)) => {
                Ok(Error::Internal(anyhow::anyhow!("write request task: {e}")).into_response())
            }
            Err(_) => Err(format!(
                "the write was not confirmed within {} s; it may still complete: reload \
                 before trying again",
                budget.as_secs()
            )),
        }
    } else {
        let _permit = permit;
        tokio::time::timeout(budget, next.run(req))
            .await
            .map_err(|_| {
                format!(
                    "the request took longer than {} s and was stopped",
                    budget.as_secs()
                )
            })
    };
    outcome.unwrap_or_else(|message| {
        if let Some(s) = slots {
            s.timed_out.fetch_add(1, Ordering::Relaxed);
        }
        tracing::warn!(lane = lane.as_str(), "{message}");
        Error::Timeout(message).into_response()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes_follow_route_and_method() {
        let lane = |m: Method, r: Option<&str>| Lane::of(&m, r);
        assert_eq!(
            lane(Method::GET, Some("/api/v1/stations/nearest")),
            Lane::Read
        );
        assert_eq!(
            lane(Method::PATCH, Some("/api/v1/stations/{id}")),
            Lane::Write
        );
        assert_eq!(
            lane(Method::POST, Some("/api/v1/stations/{id}/reports")),
            Lane::Write
        );
        assert_eq!(
            lane(Method::POST, Some("/api/v1/coverage/what-if")),
            Lane::Coverage
        );
        assert_eq!(lane(Method::GET, Some("/api/v1/coverage")), Lane::Coverage);
        assert_eq!(lane(Method::POST, Some("/api/v1/auth/login")), Lane::Login);
        assert_eq!(lane(Method::POST, Some("/api/v1/auth/logout")), Lane::Write);
        assert_eq!(lane(Method::POST, Some("/api/{*rest}")), Lane::Read);
        assert_eq!(lane(Method::GET, Some("/healthz")), Lane::Exempt);
        assert_eq!(lane(Method::GET, Some("/metrics")), Lane::Exempt);
        assert_eq!(lane(Method::GET, None), Lane::Read);
        assert_eq!(lane(Method::POST, None), Lane::Read);
    }
}
