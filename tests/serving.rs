//! The serving layer under hostile and heavy load: bounded metrics, slow clients cut off,
//! a connection cap, lanes of requests in flight shed with 503 + Retry-After, time budgets.
//! Real sockets against the real application on both stores; slow work is held in flight by
//! slow clients (bodies sent a byte at a time) and by a static file on a "slow disk" (a named
//! pipe, which `open` waits on until a writer appears), never by hooks in the service.

mod common;

use common::{spawn_app_with, TestApp, NANCHANG};
use reqwest::StatusCode;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends raw bytes on a new connection and reads until the server closes it (bounded).
async fn raw_exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connecting");
    stream
        .write_all(request)
        .await
        .expect("writing the request");
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut out))
        .await
        .expect("the server answers and closes within 20 s")
        .expect("reading the response");
    String::from_utf8_lossy(&out).into_owned()
}

/// Waits until the server closes `stream` (EOF or a reset), dribbling one header byte every
/// `dribble` if given; returns how long that took (`None`: still open after `limit`).
async fn time_until_closed(
    mut stream: TcpStream,
    dribble: Option<Duration>,
    limit: Duration,
) -> Option<Duration> {
    let start = Instant::now();
    let mut buf = [0u8; 1024];
    let mut tick = tokio::time::interval(dribble.unwrap_or(Duration::from_secs(3600)));
    tick.tick().await;
    loop {
        tokio::select! {
            read = stream.read(&mut buf) => match read {
                Ok(0) | Err(_) => return Some(start.elapsed()),
                Ok(_) => {} // hyper may say 408 before closing
            },
            _ = tick.tick(), if dribble.is_some() => {
                if stream.write_all(b"a").await.is_err() {
                    return Some(start.elapsed());
                }
            }
            _ = tokio::time::sleep(limit.saturating_sub(start.elapsed())) => return None,
        }
    }
}

fn nearest_path() -> String {
    format!(
        "/api/v1/stations/nearest?lat={}&lon={}&limit=3",
        NANCHANG.1, NANCHANG.0
    )
}

/// The id of a seeded station near Nanchang.
async fn some_station(app: &TestApp) -> i64 {
    let (status, body) = app.get_json(&nearest_path()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["items"][0]["id"].as_i64().expect("a station id")
}

/// `POST` an anonymous problem report (a write) and return its status and JSON body.
async fn file_report(
    app: &TestApp,
    station: i64,
) -> (StatusCode, Value, reqwest::header::HeaderMap) {
    let res = app
        .client
        .post(app.url(&format!("/api/v1/stations/{station}/reports")))
        .json(&serde_json::json!({ "kind": "closed" }))
        .send()
        .await
        .expect("POST a report");
    let headers = res.headers().clone();
    let (status, body) = common::json_of(res, "report").await;
    (status, body, headers)
}

fn assert_shed(what: &str, status: StatusCode, headers: &reqwest::header::HeaderMap, body: &Value) {
    common::assert_error(what, status, body, StatusCode::SERVICE_UNAVAILABLE, "busy");
    assert_eq!(
        headers.get("retry-after").and_then(|v| v.to_str().ok()),
        Some("1"),
        "{what}: Retry-After"
    );
}

/// A web directory whose `js/held.js` is a named pipe: opening it waits until the test
/// opens the other end, as a file on a stalled disk would.
struct SlowFile {
    dir: tempfile::TempDir,
}

impl SlowFile {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temporary web directory");
        std::fs::write(
            dir.path().join("index.html"),
            "<!doctype html><title>t</title>",
        )
        .expect("writing index.html");
        std::fs::create_dir(dir.path().join("js")).expect("creating js/");
        let fifo = std::ffi::CString::new(
            dir.path()
                .join("js/held.js")
                .into_os_string()
                .into_encoded_bytes(),
        )
        .expect("a path without NUL");
        // SAFETY: a valid NUL-terminated path; mkfifo only creates a file.
        let rc = unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) };
        assert_eq!(rc, 0, "mkfifo: {}", std::io::Error::last_os_error());
        Self { dir }
    }

    fn web_dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// Lets every waiting `open` through: opens the write end (O_RDWR never blocks on
    /// Linux), writes nothing and closes, so readers see an empty file.
    fn release(&self) {
        release_fifo(&self.dir.path().join("js/held.js"));
    }
}

fn release_fifo(path: &Path) {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .expect("opening the pipe's write end");
    drop(f);
}

impl Drop for SlowFile {
    fn drop(&mut self) {
        // Never leave a blocking-pool thread stuck in `open` when a test fails early.
        let path = self.dir.path().join("js/held.js");
        if path.exists() {
            release_fifo(&path);
        }
    }
}

/// Sends `GET /js/held.js` on its own connection in the background.
fn hold_read(app: &TestApp) -> tokio::task::JoinHandle<StatusCode> {
    let client = app.client.clone();
    let url = app.url("/js/held.js");
    tokio::spawn(async move {
        client
            .get(url)
            .send()
            .await
            .map(|r| r.status())
            .unwrap_or(StatusCode::IM_A_TEAPOT)
    })
}

/// Polls `nearest` until it is refused (the held reads have taken every read slot).
async fn wait_for_shedding(app: &TestApp) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let res = app.get(&nearest_path()).await;
        let (status, headers) = (res.status(), res.headers().clone());
        let (_, body) = common::json_of(res, "nearest").await;
        if status != StatusCode::OK || Instant::now() > deadline {
            return (status, headers, body);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn made_up_methods_and_paths_do_not_grow_metrics() {
    let app = spawn_app_with(|_| {}).await;
    // Warm up the real series first.
    assert_eq!(app.get(&nearest_path()).await.status(), StatusCode::OK);
    for i in 0..150 {
        // reqwest would refuse such methods: raw bytes it is.
        let method = format!("X{}{i}", "Y".repeat(1000));
        let req = format!(
            "{method} /api/whatever/{i}/{} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
            "p".repeat(200)
        );
        let res = raw_exchange(app.addr, req.as_bytes()).await;
        assert!(res.starts_with("HTTP/1.1 404"), "{method:.20}: {res}");
    }
    for i in 0..50 {
        let res = app.get(&format!("/no/such/page/{i}")).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
    }
    let text = app
        .get("/metrics")
        .await
        .text()
        .await
        .expect("metrics text");
    assert!(
        text.contains(
            "yizhan_http_requests_total{method=\"OTHER\",route=\"unmatched\",status=\"404\"} 150\n"
        ),
        "{text}"
    );
    assert!(!text.contains("YYYY") && !text.contains("whatever") && !text.contains("/no/such"));
    let series = text
        .lines()
        .filter(|l| l.starts_with("yizhan_http_requests_total{"))
        .count();
    assert!(series <= 5, "{series} series:\n{text}");
    assert!(
        text.len() < 32 * 1024,
        "metrics grew to {} bytes",
        text.len()
    );
}

#[tokio::test]
async fn slow_and_silent_clients_are_cut_after_the_header_timeout() {
    let app = spawn_app_with(|a| a.limits.header_read_timeout_seconds = 1).await;
    let limit = Duration::from_secs(8);
    let mut slow = Vec::new();
    for i in 0..12 {
        let mut stream = TcpStream::connect(app.addr).await.expect("connecting");
        let dribble = if i % 2 == 0 {
            // Half say nothing at all; half start a request and add a byte every 200 ms.
            None
        } else {
            stream
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: ")
                .await
                .expect("writing the start of the headers");
            Some(Duration::from_millis(200))
        };
        slow.push(tokio::spawn(time_until_closed(stream, dribble, limit)));
    }
    // Meanwhile normal requests are answered promptly.
    let start = Instant::now();
    let mut answered = 0;
    while start.elapsed() < Duration::from_millis(2500) {
        let t = Instant::now();
        assert_eq!(app.get(&nearest_path()).await.status(), StatusCode::OK);
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "a normal request took {:?}",
            t.elapsed()
        );
        answered += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(answered >= 10, "only {answered} normal requests in 2.5 s");
    for (i, s) in slow.into_iter().enumerate() {
        let closed = s.await.expect("the slow client task");
        let closed =
            closed.unwrap_or_else(|| panic!("slow client {i} still connected after {limit:?}"));
        assert!(
            closed >= Duration::from_millis(900) && closed < Duration::from_secs(5),
            "slow client {i} cut after {closed:?}, expected about 1 s"
        );
    }
}

#[tokio::test]
async fn a_client_that_stops_reading_is_disconnected_after_the_send_timeout() {
    let app = spawn_app_with(|a| a.limits.send_timeout_seconds = 1).await;
    // Every demo station in one box: megabytes of GeoJSON, far more than the socket buffers.
    let path = "/api/v1/stations?bbox=113.5,24.4,118.6,30.1&limit=10000";
    let full = app
        .get(path)
        .await
        .bytes()
        .await
        .expect("the whole reply")
        .len();
    assert!(full > 1_000_000, "the reply is only {full} bytes");

    let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
    socket
        .set_recv_buffer_size(4096)
        .expect("a small receive buffer");
    let mut stream = socket.connect(app.addr).await.expect("connecting");
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
        .await
        .expect("writing the request");
    // Take nothing for 3 s, then read what is left.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let ended = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the connection was not closed");
    assert!(
        got.len() < full,
        "the client got all {} bytes (body {full}): it was not disconnected",
        got.len()
    );
    // The service itself is fine.
    assert_eq!(app.get(&nearest_path()).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn connections_past_the_cap_wait_until_one_closes() {
    let app = spawn_app_with(|a| {
        a.limits.max_connections = 3;
        a.limits.header_read_timeout_seconds = 2;
    })
    .await;
    // Three silent connections take every slot (the cap is reached when they are accepted).
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(TcpStream::connect(app.addr).await.expect("connecting"));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let start = Instant::now();
    let res = app.get(&nearest_path()).await;
    let waited = start.elapsed();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        waited >= Duration::from_millis(1500) && waited < Duration::from_secs(8),
        "the fourth connection waited {waited:?}; expected until the silent ones were cut (~2 s)"
    );
    drop(idle);
}

#[tokio::test]
async fn reads_past_their_budget_are_shed_while_writes_are_admitted() {
    let slow = SlowFile::new();
    let web_dir = slow.web_dir();
    let app = spawn_app_with(move |a| {
        a.web_dir = Some(web_dir);
        a.limits.max_in_flight_reads = 2;
        a.limits.max_in_flight_writes = 2;
    })
    .await;
    let station = some_station(&app).await;
    let held = [hold_read(&app), hold_read(&app)];

    let (status, headers, body) = wait_for_shedding(&app).await;
    assert_shed("nearest while two reads are held", status, &headers, &body);
    // The web app's files are reads too.
    let res = app.get("/index.html").await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);

    // A write has its own budget: admitted while every read is refused.
    let (status, body, _) = file_report(&app, station).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "report while reads are shed: {body}"
    );
    // Health and metrics are never refused.
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    let text = app
        .get("/metrics")
        .await
        .text()
        .await
        .expect("metrics text");
    assert!(
        text.contains("yizhan_http_in_flight{lane=\"read\"} 2\n"),
        "{text}"
    );
    assert!(
        !text.contains("yizhan_http_shed_total{lane=\"read\"} 0\n"),
        "{text}"
    );
    assert!(
        text.contains("yizhan_http_shed_total{lane=\"write\"} 0\n"),
        "{text}"
    );
    assert!(
        text.contains("method=\"GET\",route=\"/api/v1/stations/nearest\",status=\"503\""),
        "{text}"
    );

    slow.release();
    for h in held {
        assert_eq!(h.await.expect("held read"), StatusCode::OK);
    }
    assert_eq!(app.get(&nearest_path()).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn writes_past_their_budget_are_shed_while_reads_are_answered() {
    let app = spawn_app_with(|a| a.limits.max_in_flight_writes = 1).await;
    let station = some_station(&app).await;
    // One write held in flight: its body arrives a byte at a time, and not all of it yet.
    let body = br#"{"kind":"closed"}"#;
    let mut slow = TcpStream::connect(app.addr).await.expect("connecting");
    slow.write_all(
        format!(
            "POST /api/v1/stations/{station}/reports HTTP/1.1\r\nHost: t\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )
    .await
    .expect("writing the headers");
    slow.write_all(&body[..5])
        .await
        .expect("writing a bit of the body");

    let deadline = Instant::now() + Duration::from_secs(10);
    let (status, body_json, headers) = loop {
        let (status, body_json, headers) = file_report(&app, station).await;
        if status != StatusCode::CREATED || Instant::now() > deadline {
            break (status, body_json, headers);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_shed(
        "a second write while one is held",
        status,
        &headers,
        &body_json,
    );
    assert_eq!(app.get(&nearest_path()).await.status(), StatusCode::OK);

    // The held write completes when its body does.
    for b in &body[5..] {
        slow.write_all(&[*b]).await.expect("writing the body");
    }
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), slow.read_to_end(&mut out))
        .await
        .expect("the held write is answered")
        .expect("reading its response");
    let out = String::from_utf8_lossy(&out);
    assert!(out.starts_with("HTTP/1.1 201"), "{out}");
}

#[tokio::test]
async fn requests_past_their_time_budget_get_503_and_free_their_slot() {
    let slow = SlowFile::new();
    let web_dir = slow.web_dir();
    let app = spawn_app_with(move |a| {
        a.web_dir = Some(web_dir);
        a.limits.max_in_flight_reads = 1;
        a.limits.max_in_flight_writes = 1;
        a.limits.request_timeout_seconds = 1;
    })
    .await;
    let station = some_station(&app).await;

    // A read stuck on the slow disk: shed others while it holds the one slot, then 503
    // `timeout` after 1 s, and the slot is free again although the disk still hangs.
    let start = Instant::now();
    let res = app.get("/js/held.js").await;
    let took = start.elapsed();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let (status, body) = common::json_of(res, "held read").await;
    common::assert_error(
        "held read",
        status,
        &body,
        StatusCode::SERVICE_UNAVAILABLE,
        "timeout",
    );
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(6),
        "timed out after {took:?}"
    );
    assert_eq!(app.get(&nearest_path()).await.status(), StatusCode::OK);

    // A write whose body never finishes: 503 `timeout` after 1 s, then the write slot is free.
    let body = br#"{"kind":"closed"}"#;
    let head = format!(
        "POST /api/v1/stations/{station}/reports HTTP/1.1\r\nHost: t\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut request = head.into_bytes();
    request.extend_from_slice(&body[..4]);
    let start = Instant::now();
    let mut stalled = TcpStream::connect(app.addr).await.expect("connecting");
    stalled.write_all(&request).await.expect("writing");
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), stalled.read(&mut buf))
        .await
        .expect("an answer within 10 s")
        .expect("reading the answer");
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("\"timeout\""), "{answer}");
    assert!(start.elapsed() >= Duration::from_millis(900));
    drop(stalled);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body, _) = file_report(&app, station).await;
        if status == StatusCode::CREATED {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the write slot never came back: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let text = app
        .get("/metrics")
        .await
        .text()
        .await
        .expect("metrics text");
    assert!(
        text.contains("yizhan_http_timeouts_total{lane=\"read\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains("yizhan_http_timeouts_total{lane=\"write\"} 1\n"),
        "{text}"
    );
}
