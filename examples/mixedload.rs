//! Mixed-traffic load generator for `scripts/loadtest.sh mixed` (loopback, bounded in time).
//!
//!     cargo run --release --example mixedload -- --base http://127.0.0.1:8080 \
//!         --connections 128 --duration 10 --warmup 2 --token TOKEN \
//!         --station-ids 1,2,3 --edit-ids 1,2
//!
//! CLOSED loop: each of `--connections` clients has its own keep-alive connection and sends
//! its next request as soon as the last one is answered, so latencies are those of a system
//! kept exactly this busy (no coordinated-omission correction: a slow answer delays the
//! client's next request instead of being counted against it). A 503 is answered at once
//! by default (a flood ignores `Retry-After`); `--honor-retry-after` makes clients wait.
//!
//! Operations, drawn at random (fixed seed per client):
//! - 95 % reads: half `GET /api/v1/stations/nearest` at a random point (70 % around
//!   Nanchang, 30 % anywhere in Jiangxi, as `scripts/nearest.lua`), half
//!   `GET /api/v1/stations?bbox=…` (a map view of about 10 × 9 km);
//! - 4 % anonymous problem reports: `POST /api/v1/stations/{id}/reports` on a random
//!   `--station-ids` station;
//! - 1 % manager edits: `GET /api/v1/stations/{id}` for the ETag, then `PATCH` with
//!   `If-Match` and a new phone number, on a random `--edit-ids` station (the manager's).
//!   Concurrent edits of one station race: the loser's 412 is counted apart, not as an error.
//!
//! Prints one JSON line: requests, 2xx per second, percentiles over every request and per
//! kind, and outcomes by kind (503 `busy` shed, 503 `timeout`, 429, 412, other 4xx, 5xx,
//! network errors).

use clap::Parser;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

#[derive(Debug, Parser)]
struct Args {
    /// The service, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    base: String,
    /// Concurrent clients, one connection each.
    #[arg(long, default_value_t = 8)]
    connections: usize,
    /// Measured seconds.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Unmeasured seconds before.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// A manager's Bearer token (edits are skipped without one).
    #[arg(long, default_value = "")]
    token: String,
    /// Station ids problem reports are filed on.
    #[arg(long, value_delimiter = ',', required = true)]
    station_ids: Vec<i64>,
    /// Station ids the manager edits.
    #[arg(long, value_delimiter = ',')]
    edit_ids: Vec<i64>,
    /// Wait `Retry-After` after a 503 instead of sending again at once.
    #[arg(long)]
    honor_retry_after: bool,
    /// Seed of the clients' random streams.
    #[arg(long, default_value_t = 20261202)]
    seed: u64,
}

/// What one request was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Nearest,
    Bbox,
    Report,
    EditGet,
    EditPatch,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Nearest => "nearest",
            Kind::Bbox => "bbox",
            Kind::Report => "report",
            Kind::EditGet => "edit_get",
            Kind::EditPatch => "edit_patch",
        }
    }
}

/// How one request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    Ok,
    Shed,
    Timeout,
    RateLimited,
    Precondition,
    Other4xx,
    Server5xx,
    Network,
}

impl Outcome {
    fn name(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Shed => "shed_503_busy",
            Outcome::Timeout => "timeout_503",
            Outcome::RateLimited => "rate_limited_429",
            Outcome::Precondition => "race_412",
            Outcome::Other4xx => "other_4xx",
            Outcome::Server5xx => "other_5xx",
            Outcome::Network => "network",
        }
    }
}

#[derive(Default)]
struct Tally {
    /// Latencies in microseconds, per kind.
    latencies: BTreeMap<Kind, Vec<u32>>,
    outcomes: BTreeMap<(Kind, Outcome), u64>,
}

impl Tally {
    fn record(&mut self, kind: Kind, outcome: Outcome, took: Duration) {
        self.latencies
            .entry(kind)
            .or_default()
            .push(took.as_micros().min(u32::MAX as u128) as u32);
        *self.outcomes.entry((kind, outcome)).or_default() += 1;
    }

    fn merge(&mut self, other: Tally) {
        for (k, mut v) in other.latencies {
            self.latencies.entry(k).or_default().append(&mut v);
        }
        for (k, n) in other.outcomes {
            *self.outcomes.entry(k).or_default() += n;
        }
    }
}

struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
    rng: StdRng,
    honor_retry_after: bool,
}

/// The outcome a status means (a 503 is refined from its body).
fn outcome_of(status: u16) -> Outcome {
    match status {
        200..=299 => Outcome::Ok,
        412 => Outcome::Precondition,
        429 => Outcome::RateLimited,
        400..=499 => Outcome::Other4xx,
        503 => Outcome::Shed,
        _ => Outcome::Server5xx,
    }
}

impl Client {
    /// Sends one request, reads its body to the end (as a browser would) and records it;
    /// returns the ETag of a 2xx answer (`Some(None)` without one), `None` when it failed.
    async fn send(
        &mut self,
        kind: Kind,
        req: reqwest::RequestBuilder,
        tally: Option<&mut Tally>,
    ) -> Option<Option<String>> {
        let start = Instant::now();
        let mut etag = None;
        let outcome = match req.send().await {
            Err(_) => Outcome::Network,
            Ok(res) => {
                let status = res.status().as_u16();
                etag = res
                    .headers()
                    .get("etag")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                match res.bytes().await {
                    Err(_) => Outcome::Network,
                    Ok(body) if status == 503 => {
                        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                        match body.pointer("/error/code").and_then(Value::as_str) {
                            Some("busy") => Outcome::Shed,
                            Some("timeout") => Outcome::Timeout,
                            _ => Outcome::Server5xx,
                        }
                    }
                    Ok(_) => outcome_of(status),
                }
            }
        };
        if let Some(t) = tally {
            t.record(kind, outcome, start.elapsed());
        }
        if matches!(outcome, Outcome::Shed | Outcome::Timeout) && self.honor_retry_after {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        (outcome == Outcome::Ok).then_some(etag)
    }

    fn point(&mut self) -> (f64, f64) {
        if self.rng.gen::<f64>() < 0.7 {
            (
                115.69 + self.rng.gen::<f64>() * 0.40,
                28.53 + self.rng.gen::<f64>() * 0.30,
            )
        } else {
            (
                113.6 + self.rng.gen::<f64>() * 4.8,
                24.5 + self.rng.gen::<f64>() * 5.5,
            )
        }
    }

    async fn one_operation(&mut self, args: &Args, mut tally: Option<&mut Tally>) {
        let draw: f64 = self.rng.gen();
        if draw < 0.95 {
            let (lon, lat) = self.point();
            let (kind, url) = if draw < 0.475 {
                (
                    Kind::Nearest,
                    format!(
                        "{}/api/v1/stations/nearest?lat={lat:.6}&lon={lon:.6}&limit=5",
                        self.base
                    ),
                )
            } else {
                (
                    Kind::Bbox,
                    format!(
                        "{}/api/v1/stations?bbox={:.6},{:.6},{:.6},{:.6}&limit=500",
                        self.base,
                        lon - 0.05,
                        lat - 0.04,
                        lon + 0.05,
                        lat + 0.04
                    ),
                )
            };
            let req = self.http.get(url);
            self.send(kind, req, tally).await;
        } else if draw < 0.99 || args.token.is_empty() || args.edit_ids.is_empty() {
            let id = args.station_ids[self.rng.gen_range(0..args.station_ids.len())];
            let req = self
                .http
                .post(format!("{}/api/v1/stations/{id}/reports", self.base))
                .json(&json!({ "kind": "closed", "note": "负载测试 load test" }));
            self.send(Kind::Report, req, tally).await;
        } else {
            let id = args.edit_ids[self.rng.gen_range(0..args.edit_ids.len())];
            let url = format!("{}/api/v1/stations/{id}", self.base);
            let req = self.http.get(&url).bearer_auth(&self.token);
            let got = self.send(Kind::EditGet, req, tally.as_deref_mut()).await;
            let Some(Some(etag)) = got else { return };
            let phone = format!("0791-{:08}", self.rng.gen_range(0..100_000_000u32));
            let req = self
                .http
                .patch(url)
                .bearer_auth(&self.token)
                .header("If-Match", etag)
                .json(&json!({ "phone": phone }));
            self.send(Kind::EditPatch, req, tally).await;
        }
    }
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64 / 1000.0
}

fn summary(latencies: &mut [u32]) -> Value {
    latencies.sort_unstable();
    json!({
        "n": latencies.len(),
        "p50_ms": percentile(latencies, 50.0),
        "p99_ms": percentile(latencies, 99.0),
        "p999_ms": percentile(latencies, 99.9),
        "max_ms": latencies.last().map_or(0.0, |m| *m as f64 / 1000.0),
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = std::sync::Arc::new(Args::parse());
    anyhow::ensure!(!args.station_ids.is_empty(), "--station-ids is empty");
    let warmup_end = Instant::now() + Duration::from_secs_f64(args.warmup);
    let end = warmup_end + Duration::from_secs_f64(args.duration);
    let mut tasks = Vec::with_capacity(args.connections);
    for i in 0..args.connections {
        let args = args.clone();
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::builder()
                .no_proxy()
                .pool_max_idle_per_host(1)
                .timeout(Duration::from_secs(60))
                .build()
                .expect("an HTTP client");
            let mut client = Client {
                http,
                base: args.base.trim_end_matches('/').to_string(),
                token: args.token.clone(),
                rng: StdRng::seed_from_u64(args.seed.wrapping_add(7919 * i as u64)),
                honor_retry_after: args.honor_retry_after,
            };
            let mut tally = Tally::default();
            while Instant::now() < warmup_end {
                client.one_operation(&args, None).await;
            }
            let started = Instant::now();
            while Instant::now() < end {
                client.one_operation(&args, Some(&mut tally)).await;
            }
            (tally, started)
        }));
    }
    let mut tally = Tally::default();
    let mut first_start: Option<Instant> = None;
    for t in tasks {
        let (one, started) = t.await?;
        first_start = Some(first_start.map_or(started, |f| f.min(started)));
        tally.merge(one);
    }
    let seconds = first_start.map_or(args.duration, |s| s.elapsed().as_secs_f64());

    let mut all: Vec<u32> = tally.latencies.values().flatten().copied().collect();
    let requests = all.len() as u64;
    let ok: u64 = tally
        .outcomes
        .iter()
        .filter(|((_, o), _)| *o == Outcome::Ok)
        .map(|(_, n)| n)
        .sum();
    let mut outcomes = BTreeMap::<&str, u64>::new();
    let mut by_kind = serde_json::Map::new();
    for ((kind, outcome), n) in &tally.outcomes {
        *outcomes.entry(outcome.name()).or_default() += n;
        let entry = by_kind
            .entry(kind.name())
            .or_insert_with(|| json!({ "outcomes": {} }));
        entry["outcomes"][outcome.name()] = json!(n);
    }
    for (kind, lat) in tally.latencies.iter_mut() {
        if let Some(entry) = by_kind.get_mut(kind.name()) {
            entry["latency"] = summary(lat);
        }
    }
    let out = json!({
        "connections": args.connections,
        "seconds": seconds,
        "loop": "closed",
        "honor_retry_after": args.honor_retry_after,
        "requests": requests,
        "req_s": requests as f64 / seconds,
        "ok_s": ok as f64 / seconds,
        "latency": summary(&mut all),
        "outcomes": outcomes,
        "by_kind": by_kind,
    });
    println!("{out}");
    Ok(())
}
