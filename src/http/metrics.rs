use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Histogram bucket bounds, seconds.
const BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5,
];

/// Most (method, route, status) series kept; requests past it are counted in one overflow
/// series. The API has a few dozen route templates with a handful of statuses each, so this is
/// never reached by honest traffic.
pub const MAX_SERIES: usize = 1000;

/// The route label of requests no API route template matched: the `/api` catch-alls and the
/// web app's files (one label, so made-up paths cannot create series).
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// The labels of the overflow series.
const OVERFLOW: (&str, &str, &str) = ("OTHER", "overflow", "other");

/// The method label: the methods the API knows, every other one as `OTHER` (clients can
/// send any token as a method, of any length).
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

/// The route label: the matched template, or [`UNMATCHED_ROUTE`] for the catch-alls (whose
/// template would be one label too, but says nothing) and for no match at all.
pub fn route_label(matched: Option<&MatchedPath>) -> &str {
    match matched.map(MatchedPath::as_str) {
        None | Some("/api/{*rest}" | "/api" | "/api/") => UNMATCHED_ROUTE,
        Some(template) => template,
    }
}

#[derive(Default, Clone)]
struct Series {
    count: u64,
    sum: f64,
    buckets: [u64; BUCKETS.len()],
}

impl Series {
    fn observe(&mut self, seconds: f64) {
        self.count += 1;
        self.sum += seconds;
        for (i, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                self.buckets[i] += 1;
            }
        }
    }
}

/// Series by route, then (method label, status); the route is looked up by `&str` so a
/// request allocates nothing once its series exists.
#[derive(Default, Clone)]
struct Table {
    by_route: BTreeMap<String, BTreeMap<(&'static str, u16), Series>>,
    len: usize,
    overflow: Series,
}

/// Per (method, route, status) request counts and latency histograms, bounded in size.
#[derive(Default)]
pub struct Metrics {
    table: Mutex<Table>,
}

impl Metrics {
    /// Records one finished request (`method` should come from [`method_label`] and `route`
    /// from [`route_label`]; past [`MAX_SERIES`] new combinations go to the overflow series).
    pub fn observe(&self, method: &'static str, route: &str, status: u16, seconds: f64) {
        let mut guard = self.table.lock().unwrap_or_else(|p| p.into_inner());
        let table = &mut *guard;
        let has_room = table.len < MAX_SERIES;
        let series = match table.by_route.get_mut(route) {
            Some(statuses) => match statuses.get_mut(&(method, status)) {
                Some(s) => Some(s),
                None if has_room => {
                    table.len += 1;
                    Some(statuses.entry((method, status)).or_default())
                }
                None => None,
            },
            None if has_room => {
                table.len += 1;
                Some(
                    table
                        .by_route
                        .entry(route.to_string())
                        .or_default()
                        .entry((method, status))
                        .or_default(),
                )
            }
            None => None,
        };
        series.unwrap_or(&mut table.overflow).observe(seconds);
    }

    /// How many series exist (the overflow series not counted).
    pub fn series_count(&self) -> usize {
        self.table.lock().unwrap_or_else(|p| p.into_inner()).len
    }

    /// Prometheus text exposition. The table is copied under the lock and formatted after it
    /// is released, so a scrape never holds up the requests that record into it.
    pub fn render(&self) -> String {
        let table = self.table.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut rows: Vec<(String, &Series)> = Vec::with_capacity(table.len + 1);
        for (route, statuses) in &table.by_route {
            for ((method, status), s) in statuses {
                rows.push((
                    format!("method=\"{method}\",route=\"{route}\",status=\"{status}\""),
                    s,
                ));
            }
        }
        if table.overflow.count > 0 {
            let (m, r, st) = OVERFLOW;
            rows.push((
                format!("method=\"{m}\",route=\"{r}\",status=\"{st}\""),
                &table.overflow,
            ));
        }
        let mut out = String::with_capacity(rows.len() * 1200 + 512);
        out.push_str("# HELP yizhan_http_requests_total HTTP requests by route and status.\n");
        out.push_str("# TYPE yizhan_http_requests_total counter\n");
        for (labels, s) in &rows {
            let _ = writeln!(out, "yizhan_http_requests_total{{{labels}}} {}", s.count);
        }
        out.push_str(
            "# HELP yizhan_http_request_duration_seconds HTTP request latency by route.\n",
        );
        out.push_str("# TYPE yizhan_http_request_duration_seconds histogram\n");
        for (labels, s) in &rows {
            for (i, bound) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "yizhan_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {}",
                    s.buckets[i]
                );
            }
            let _ = writeln!(
                out,
                "yizhan_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                s.count
            );
            let _ = writeln!(
                out,
                "yizhan_http_request_duration_seconds_sum{{{labels}}} {}",
                s.sum
            );
            let _ = writeln!(
                out,
                "yizhan_http_request_duration_seconds_count{{{labels}}} {}",
                s.count
            );
        }
        out
    }
}

/// Middleware: times every request under its route template (never the raw path or method, so
/// clients cannot grow the label set).
pub async fn track(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    // A clone of the template's `Arc<str>`, not of the text.
    let matched = req.extensions().get::<MatchedPath>().cloned();
    let method = method_label(req.method());
    let start = Instant::now();
    let res = next.run(req).await;
    metrics.observe(
        method,
        route_label(matched.as_ref()),
        res.status().as_u16(),
        start.elapsed().as_secs_f64(),
    );
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_methods_share_one_label() {
        let odd = Method::from_bytes(b"XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX").unwrap();
        assert_eq!(method_label(&odd), "OTHER");
        assert_eq!(method_label(&Method::from_bytes(b"BREW").unwrap()), "OTHER");
        assert_eq!(method_label(&Method::PATCH), "PATCH");
    }

    #[test]
    fn series_past_the_cap_go_to_one_overflow_series() {
        let m = Metrics::default();
        for i in 0..MAX_SERIES + 50 {
            m.observe("GET", &format!("/r{i}"), 200, 0.001);
        }
        m.observe("GET", "/r0", 200, 0.001);
        assert_eq!(m.series_count(), MAX_SERIES);
        let text = m.render();
        assert!(text.contains(
            "yizhan_http_requests_total{method=\"OTHER\",route=\"overflow\",status=\"other\"} 50\n"
        ));
        assert!(text.contains(
            "yizhan_http_requests_total{method=\"GET\",route=\"/r0\",status=\"200\"} 2\n"
        ));
        // An existing series keeps counting after the cap.
        assert!(!text.contains(&format!("route=\"/r{}\"", MAX_SERIES)));
    }

    #[test]
    fn catch_alls_are_one_route() {
        assert_eq!(route_label(None), UNMATCHED_ROUTE);
    }
}
