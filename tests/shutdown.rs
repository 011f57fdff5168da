//! SIGTERM on the real binary: the listener closes at once, idle keep-alive connections are
//! closed, requests in progress finish, and the process exits 0 — within the grace period
//! even when a request would outlast it. The request held in flight is a coverage what-if
//! whose body the client sends in two parts, around the signal. The end-of-run work still
//! runs: the query-origin counts (flushed only at exit here) are in the store afterwards.

mod common;

use common::TestDb;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

const WHAT_IF: &str =
    r#"{"bbox":[115.88,28.67,115.91,28.70],"stations":[{"lat":28.68,"lon":115.89}]}"#;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// `yizhan serve` on the test database with this grace period; its log goes to `log`.
async fn start_server(db: &TestDb, grace_s: u64, log: &Path) -> (Child, SocketAddr) {
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("an address");
    let child = Command::new(env!("CARGO_BIN_EXE_yizhan"))
        .args(["serve", "--listen", &addr.to_string(), "--seed", "false"])
        .args(["--database-url", &db.url])
        .args(["--shutdown-grace-seconds", &grace_s.to_string()])
        // Counts flushed at exit only (the periodic flush is an hour away).
        .args(["--demand-from-queries", "--demand-flush-seconds", "3600"])
        .env_clear()
        .env("RUST_LOG", "info,sqlx=warn")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).expect("creating the log file"))
        .kill_on_drop(true)
        .spawn()
        .expect("starting yizhan");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(mut s) = TcpStream::connect(addr).await {
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                .await
                .expect("asking /healthz");
            let mut out = Vec::new();
            let _ = s.read_to_end(&mut out).await;
            if out.starts_with(b"HTTP/1.1 200") {
                return (child, addr);
            }
        }
        assert!(
            Instant::now() < deadline,
            "yizhan did not answer /healthz in 120 s:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn sigterm(child: &Child) {
    let pid = child.id().expect("the server is running") as libc::pid_t;
    // SAFETY: sending a signal to our own child process.
    let rc = unsafe { libc::kill(pid, libc::SIGTERM) };
    assert_eq!(rc, 0, "kill: {}", std::io::Error::last_os_error());
}

/// A what-if request whose headers and first half of the body are sent; the rest is up to
/// the caller.
async fn start_what_if(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.expect("connecting");
    let head = format!(
        "POST /api/v1/coverage/what-if HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        WHAT_IF.len()
    );
    s.write_all(head.as_bytes())
        .await
        .expect("writing the headers");
    s.write_all(&WHAT_IF.as_bytes()[..20])
        .await
        .expect("writing half the body");
    s
}

/// Polls until a new connection is refused (the listener is closed).
async fn wait_refused(addr: SocketAddr) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if TcpStream::connect(addr).await.is_err() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test]
async fn sigterm_lets_requests_in_progress_finish_then_exits() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let log = dir.path().join("serve.log");
    let (mut child, addr) = start_server(&db, 20, &log).await;

    // An idle keep-alive connection: one nearest query answered (its origin counted), then
    // nothing.
    let mut idle = TcpStream::connect(addr).await.expect("connecting");
    idle.write_all(
        b"GET /api/v1/stations/nearest?lat=28.68&lon=115.89 HTTP/1.1\r\nHost: t\r\n\r\n",
    )
    .await
    .expect("writing");
    let mut buf = vec![0u8; 4096];
    let n = idle.read(&mut buf).await.expect("reading the answer");
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));

    let mut in_flight = start_what_if(addr).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let signalled = Instant::now();
    sigterm(&child);

    assert!(
        wait_refused(addr).await,
        "new connections still accepted after SIGTERM"
    );
    let closed = tokio::time::timeout(Duration::from_secs(5), idle.read(&mut buf)).await;
    assert!(
        matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
        "the idle keep-alive connection was not closed: {closed:?}"
    );
    assert!(
        child.try_wait().expect("polling the child").is_none(),
        "the server exited with a request in progress"
    );

    in_flight
        .write_all(&WHAT_IF.as_bytes()[20..])
        .await
        .expect("writing the rest of the body");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), in_flight.read_to_end(&mut answer))
        .await
        .expect("the request in progress is answered")
        .expect("reading its answer");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"hypothetical\":1"), "{answer}");

    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("the server exits once drained")
        .expect("waiting for the server");
    let log = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(status.success(), "exit status {status:?}; log:\n{log}");
    assert!(
        signalled.elapsed() < Duration::from_secs(20),
        "took {:?}",
        signalled.elapsed()
    );
    assert!(log.contains("every connection closed"), "{log}");
    assert!(!log.contains("grace period over"), "{log}");
    let store = db.connect().await;
    let counts = store
        .load_query_counts()
        .await
        .expect("reading query counts");
    store.close().await;
    assert_eq!(
        counts.iter().map(|(_, n)| n).sum::<u64>(),
        1,
        "the nearest query's origin was flushed at exit"
    );
}

#[tokio::test]
async fn sigterm_exits_within_the_grace_period_when_a_request_outlasts_it() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let log = dir.path().join("serve.log");
    let (mut child, addr) = start_server(&db, 2, &log).await;

    // A request whose body never comes: it would outlast the grace period.
    let mut stuck = start_what_if(addr).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let signalled = Instant::now();
    sigterm(&child);

    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("the server exits")
        .expect("waiting for the server");
    let took = signalled.elapsed();
    let log = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(status.success(), "exit status {status:?}; log:\n{log}");
    assert!(
        took >= Duration::from_millis(1800) && took < Duration::from_secs(8),
        "exited {took:?} after SIGTERM with a 2 s grace period; log:\n{log}"
    );
    assert!(log.contains("grace period over"), "{log}");
    assert!(log.contains("connections=1"), "{log}");
    assert!(log.contains("requests=1"), "{log}");
    let mut rest = Vec::new();
    let end = tokio::time::timeout(Duration::from_secs(5), stuck.read_to_end(&mut rest)).await;
    assert!(end.is_ok(), "the cut connection is closed");
}
