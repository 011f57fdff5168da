//! yizhan behind a real reverse proxy: Debian's `nginx`, run as a child process on loopback
//! with the shipped `deploy/nginx/yizhan-proxy.conf` (and, for TLS, the whole example site
//! `deploy/nginx/yizhan.conf`).
//!
//! nginx connects to yizhan from 127.0.0.2 (`proxy_bind`, as in the example) and yizhan trusts
//! only `127.0.0.2/32`; test clients connect from other loopback addresses (127.0.0.3, .4, …),
//! so nginx's peer, the clients' peers and the addresses they claim are all told apart. The
//! GeoIP database written here knows the clients' loopback addresses (and not nginx's), so the
//! IP position shows which address yizhan took as the client.
//!
//! Without nginx (or, for the TLS test, `openssl` and `curl`) the tests fail under CI and are
//! skipped loudly elsewhere.

mod common;

use common::*;
use mmdb_writer::ipnet::IpNet as MmdbNet;
use mmdb_writer::{Value as Mmdb, Writer};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use yizhan::auth::{new_session_token, token_hash};
use yizhan::config::ServeArgs;
use yizhan::domain::{Login, Role};

/// Where nginx connects to yizhan from (`proxy_bind`), the only trusted proxy.
const NGINX_BIND: &str = "127.0.0.2";
/// Riders: each connects from its own loopback address.
const RIDER_A: &str = "127.0.0.3";
const RIDER_B: &str = "127.0.0.4";
/// Positions the test GeoIP database gives the riders' addresses (lon, lat).
const RIDER_A_POS: (f64, f64) = (115.8922, 28.6765);
const RIDER_B_POS: (f64, f64) = (114.9350, 25.8452);

fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// The shared proxy settings every nginx here includes: the shipped file, not a copy.
fn proxy_snippet() -> PathBuf {
    repo_file("deploy/nginx/yizhan-proxy.conf")
}

fn found(cmd: &str) -> bool {
    Command::new(cmd)
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// Under CI a missing tool is a failure; on a developer's machine a loud skip.
fn missing(tools: &[&str]) -> bool {
    let absent: Vec<&str> = tools.iter().copied().filter(|t| !found(t)).collect();
    if absent.is_empty() {
        return false;
    }
    let list = absent.join(", ");
    if std::env::var_os("CI").is_some() {
        panic!("\n\nthe reverse-proxy tests need {list}: apt-get install {list}\n\n");
    }
    // Straight to the process's stderr: the harness swallows a passing test's eprintln!.
    let _ = std::io::stderr().write_all(
        format!("\n!!! SKIPPED: the reverse-proxy test needs {list} (apt-get install {list})\n\n")
            .as_bytes(),
    );
    true
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("binding a free port")
        .local_addr()
        .expect("a bound address")
        .port()
}

/// nginx as a child process, its configuration, pid file, logs and temporary files in its own
/// directory (so it runs as root in CI and as a normal user alike); killed when dropped.
struct Nginx {
    child: Child,
    dir: tempfile::TempDir,
}

impl Nginx {
    /// Starts nginx with `body` inside its `http` block (`{dir}` replaced by its directory)
    /// and waits until `port` accepts connections.
    fn start(body: &str, port: u16) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("yizhan-nginx-")
            .tempdir()
            .expect("a directory for nginx");
        // As root, nginx's workers run as `nobody`: they must reach the temporary folders.
        if unsafe { libc::geteuid() } == 0 {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
                .expect("opening the nginx directory to its workers");
        }
        let d = dir.path().display().to_string();
        let conf = format!(
            "worker_processes 1;\n\
             pid {d}/nginx.pid;\n\
             error_log {d}/error.log warn;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n\
                 access_log off;\n\
                 client_body_temp_path {d}/client_body;\n\
                 proxy_temp_path {d}/proxy;\n\
                 fastcgi_temp_path {d}/fastcgi;\n\
                 uwsgi_temp_path {d}/uwsgi;\n\
                 scgi_temp_path {d}/scgi;\n\
                 {}\n\
             }}\n",
            body.replace("{dir}", &d)
        );
        let conf_path = dir.path().join("nginx.conf");
        std::fs::write(&conf_path, conf).expect("writing nginx.conf");
        let mut cmd = Command::new("nginx");
        // Should this test process die without dropping it, nginx is told to stop too (the
        // signal follows the thread that started it: the test's own).
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let child = cmd
            .arg("-p")
            .arg(dir.path())
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .arg("-c")
            .arg(&conf_path)
            .args(["-g", "daemon off;"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting nginx");
        let mut nginx = Nginx { child, dir };
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return nginx;
            }
            if let Ok(Some(status)) = nginx.child.try_wait() {
                let mut stderr = String::new();
                if let Some(mut e) = nginx.child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
                }
                panic!(
                    "nginx exited ({status}) before listening on {port}:\n{stderr}\n{}",
                    nginx.error_log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "nginx did not listen on {port}:\n{}",
                nginx.error_log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A plain-http server on a free port, proxying to `upstream` with the shipped settings
    /// and `proxy_bind` to [`NGINX_BIND`] as the example site does. Returns nginx and its URL.
    fn in_front_of(upstream: SocketAddr) -> (Self, String) {
        let port = free_port();
        let body = format!(
            "upstream yizhan {{ server {upstream}; keepalive 8; keepalive_timeout 5s; }}\n\
             server {{\n\
                 listen 127.0.0.1:{port};\n\
                 proxy_bind {NGINX_BIND};\n\
                 include {};\n\
             }}",
            proxy_snippet().display()
        );
        (Self::start(&body, port), format!("http://127.0.0.1:{port}"))
    }

    fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // Not SIGKILL: that would orphan the workers, which keep the port open. SIGTERM is
        // nginx's fast shutdown, which ends its workers before the master exits.
        stop(&mut self.child);
    }
}

/// SIGTERM, then SIGKILL if `child` has not exited within 5 s.
fn stop(child: &mut Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A client whose connections come from `local` (one rider).
fn client_from(local: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .local_address(local.parse::<IpAddr>().expect("a loopback address"))
        .timeout(Duration::from_secs(30))
        .build()
        .expect("an HTTP client")
}

fn city(name: &str, (lon, lat): (f64, f64)) -> Mmdb {
    Mmdb::map([
        (
            "city",
            Mmdb::map([("names", Mmdb::map([("en", Mmdb::from(name))]))]),
        ),
        ("country", Mmdb::map([("iso_code", Mmdb::from("CN"))])),
        (
            "location",
            Mmdb::map([
                ("latitude", Mmdb::from(lat)),
                ("longitude", Mmdb::from(lon)),
                ("accuracy_radius", Mmdb::from(10u16)),
            ]),
        ),
    ])
}

/// A City database that places rider A's and rider B's loopback addresses (and nothing else,
/// not nginx's 127.0.0.2).
fn write_geoip_db(dir: &Path) -> PathBuf {
    let mut w = Writer::new("GeoIP2-City");
    let net = |ip: &str| format!("{ip}/32").parse::<MmdbNet>().expect("a network");
    w.insert_value(net(RIDER_A), city("Nanchang", RIDER_A_POS))
        .expect("inserting rider A");
    w.insert_value(net(RIDER_B), city("Ganzhou", RIDER_B_POS))
        .expect("inserting rider B");
    let path = dir.join("loopback-city.mmdb");
    std::fs::write(&path, w.to_bytes().expect("serialising the mmdb")).expect("writing the mmdb");
    path
}

/// yizhan trusting only nginx's bind address.
async fn app_behind_nginx(configure: impl FnOnce(&mut ServeArgs)) -> TestApp {
    spawn_app_with(|a: &mut ServeArgs| {
        a.seed = false;
        a.trusted_proxies = vec![format!("{NGINX_BIND}/32").parse().unwrap()];
        configure(a);
    })
    .await
}

async fn send_json(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    forwarded_for: Option<&str>,
    body: &Value,
) -> (StatusCode, Value) {
    let mut req = client.request(method, url).json(body);
    if let Some(xff) = forwarded_for {
        req = req.header("x-forwarded-for", xff);
    }
    let res = req.send().await.unwrap_or_else(|e| panic!("{url}: {e}"));
    json_of(res, url).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_limits_count_the_real_client_behind_nginx() {
    if missing(&["nginx"]) {
        return;
    }
    let app = app_behind_nginx(|a| a.report_rate_per_hour = 2).await;
    let id = app.add_stations(&[new_station("NGX-1", NANCHANG)]).await[0];
    let (nginx, proxied) = Nginx::in_front_of(app.addr);
    let path = format!("/api/v1/stations/{id}/reports");
    let report = json!({ "kind": "closed" });
    let (a, b) = (client_from(RIDER_A), client_from(RIDER_B));
    let post = |client: &reqwest::Client, base: &str, xff: Option<&str>| {
        let (client, url, xff) = (
            client.clone(),
            format!("{base}{path}"),
            xff.map(String::from),
        );
        let report = report.clone();
        async move {
            send_json(
                &client,
                reqwest::Method::POST,
                &url,
                xff.as_deref(),
                &report,
            )
            .await
        }
    };

    for n in 0..2 {
        let (status, body) = post(&a, &proxied, None).await;
        assert_eq!(status, StatusCode::CREATED, "rider A's report {n}: {body}");
    }
    let (status, body) = post(&a, &proxied, None).await;
    assert_error(
        "rider A's third",
        status,
        &body,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    );
    // Through the same nginx, rider B has a quota of its own: yizhan did not count nginx.
    let (status, body) = post(&b, &proxied, None).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "rider B through nginx: {body}\n{}",
        nginx.error_log()
    );
    // Rider A claiming another address: nginx appends the real one, which yizhan reads.
    let (status, body) = post(&a, &proxied, Some("127.0.0.9")).await;
    assert_error(
        "forged via nginx",
        status,
        &body,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    );
    // Rider A bypassing nginx with a forged header: not a trusted peer, the header is ignored.
    let (status, body) = post(&a, &app.base_url, Some("127.0.0.9")).await;
    assert_error(
        "forged directly",
        status,
        &body,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_limits_count_the_real_client_behind_nginx() {
    if missing(&["nginx"]) {
        return;
    }
    let app = app_behind_nginx(|_| {}).await;
    let (_nginx, proxied) = Nginx::in_front_of(app.addr);
    let url = format!("{proxied}/api/v1/auth/login");
    let (a, b) = (client_from(RIDER_A), client_from(RIDER_B));
    let attempt =
        |client: &reqwest::Client, url: &str, login: String, xff: Option<&'static str>| {
            let (client, url) = (client.clone(), url.to_string());
            async move {
                let body = json!({ "login": login, "password": "not the password" });
                send_json(&client, reqwest::Method::POST, &url, xff, &body).await
            }
        };

    // Failed logins from rider A under ever new login names, until its address is refused
    // (the per-address limit: a per-login limit never trips with fresh names).
    let mut failures = 0;
    loop {
        let (status, body) = attempt(&a, &url, format!("guess-{failures}"), None).await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            break;
        }
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "attempt {failures}: {body}"
        );
        failures += 1;
        assert!(
            failures <= 200,
            "no per-address login limit tripped after 200 failures"
        );
    }
    assert!(failures > 0);
    // Rider B, through the same nginx, is not locked out with rider A.
    let (status, body) = attempt(&b, &url, "guess-b".into(), None).await;
    assert_error(
        "rider B",
        status,
        &body,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    // Rider A cannot shake the limit off with a forged header, through nginx or around it.
    let (status, _) = attempt(&a, &url, "guess-x".into(), Some("127.0.0.9")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "forged via nginx");
    let direct = format!("{}/api/v1/auth/login", app.base_url);
    let (status, _) = attempt(&a, &direct, "guess-y".into(), Some("127.0.0.9")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "forged directly");
}

fn assert_located(what: &str, status: StatusCode, body: &Value, (lon, lat): (f64, f64)) {
    assert_eq!(status, StatusCode::OK, "{what}: {body}");
    assert_eq!(body["source"], "ip", "{what}: {body}");
    assert!(
        (body["lat"].as_f64().unwrap() - lat).abs() < 1e-9,
        "{what}: {body}"
    );
    assert!(
        (body["lon"].as_f64().unwrap() - lon).abs() < 1e-9,
        "{what}: {body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locate_finds_the_real_client_behind_nginx() {
    if missing(&["nginx"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = write_geoip_db(dir.path());
    let app = app_behind_nginx(move |a| a.geoip_db = Some(db)).await;
    let (_nginx, proxied) = Nginx::in_front_of(app.addr);
    let (a, b) = (client_from(RIDER_A), client_from(RIDER_B));
    let locate = |client: &reqwest::Client, base: &str, xff: Option<&'static str>| {
        let (client, url) = (client.clone(), format!("{base}/api/v1/locate"));
        async move {
            let mut req = client.get(&url);
            if let Some(xff) = xff {
                req = req.header("x-forwarded-for", xff);
            }
            json_of(req.send().await.unwrap(), &url).await
        }
    };

    let (status, body) = locate(&a, &proxied, None).await;
    assert_located("rider A through nginx", status, &body, RIDER_A_POS);
    let (status, body) = locate(&b, &proxied, None).await;
    assert_located("rider B through nginx", status, &body, RIDER_B_POS);
    // Rider A claiming to be rider B, through nginx and around it: still rider A.
    let (status, body) = locate(&a, &proxied, Some(RIDER_B)).await;
    assert_located("forged via nginx", status, &body, RIDER_A_POS);
    let (status, body) = locate(&a, &app.base_url, Some(RIDER_B)).await;
    assert_located("forged directly", status, &body, RIDER_A_POS);
    // Nearest without a position starts from the same address.
    let (status, body) = json_of(
        a.get(format!("{proxied}/api/v1/stations/nearest"))
            .send()
            .await
            .unwrap(),
        "nearest via nginx",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        (body["origin"]["lat"].as_f64().unwrap() - RIDER_A_POS.1).abs() < 1e-7,
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_limits_and_errors_match_yizhans() {
    if missing(&["nginx"]) {
        return;
    }
    let app = app_behind_nginx(|_| {}).await;
    let (nginx, proxied) = Nginx::in_front_of(app.addr);
    let a = client_from(RIDER_A);
    let too_large = json!({ "login": "x".repeat(70 * 1024), "password": "x" });
    for base in [&proxied, &app.base_url] {
        let url = format!("{base}/api/v1/auth/login");
        let (status, body) = send_json(&a, reqwest::Method::POST, &url, None, &too_large).await;
        assert_error(
            &url,
            status,
            &body,
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
        );
    }
    // Demand files may be larger: a planner's 1 MiB upload passes nginx and is imported.
    let planner = app
        .store
        .create_account(
            &Login::new("ngx-planner").unwrap(),
            "$argon2id$unused",
            Role::Planner,
            &[],
        )
        .await
        .unwrap();
    let token = new_session_token();
    app.store
        .create_session(
            &token_hash(&token),
            planner,
            chrono::Utc::now() + chrono::TimeDelta::hours(1),
        )
        .await
        .unwrap();
    let rows = 70_000;
    let csv = format!("lat,lon,weight\n{}", "28.68,115.89,1\n".repeat(rows));
    assert!(csv.len() > 1024 * 1024);
    let res = a
        .put(format!("{proxied}/api/v1/demand"))
        .bearer_auth(&token)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(res, "PUT /api/v1/demand via nginx").await;
    assert_eq!(status, StatusCode::OK, "{body}\n{}", nginx.error_log());
    assert_eq!(body["points"], rows, "{body}");

    // yizhan unreachable: nginx answers 503 in yizhan's shape, with Retry-After.
    let closed = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let (_down, proxied_to_nothing) = Nginx::in_front_of(closed);
    let res = a
        .get(format!("{proxied_to_nothing}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap()),
        Some("5")
    );
    let (status, body) = json_of(res, "healthz with yizhan down").await;
    assert_error(
        "yizhan down",
        status,
        &body,
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
    );
}

/// `yizhan serve` as a child process with its log captured.
struct Serve {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
    addr: SocketAddr,
}

impl Serve {
    async fn start(database_url: &str, extra: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_yizhan"))
            .args(["serve", "--listen", "127.0.0.1:0", "--seed", "false"])
            .args(["--database-url", database_url])
            .args(extra)
            .env_clear()
            .env("RUST_LOG", "info,sqlx=warn")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting yizhan serve");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().expect("piped stderr");
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some((_, addr)) = line.split_once("yizhan listening on http://") {
                    let _ = tx.send(addr.trim().to_string());
                }
                lines.lock().unwrap().push(line);
            }
        });
        let addr = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(120)))
            .await
            .unwrap();
        let addr = match addr {
            Ok(a) => a.parse().expect("the address yizhan logs"),
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "yizhan serve did not start:\n{}",
                    log.lock().unwrap().join("\n")
                );
            }
        };
        Self { child, log, addr }
    }

    /// Log lines containing `needle`.
    fn lines_with(&self, needle: &str) -> Vec<String> {
        let log = self.log.lock().unwrap();
        log.iter().filter(|l| l.contains(needle)).cloned().collect()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const UNDECLARED: &str = "no --trusted-proxy is set";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undeclared_proxy_is_named_once_in_the_log() {
    if missing(&["nginx"]) {
        return;
    }
    let db = TestDb::new().await;
    let a = client_from(RIDER_A);

    let serve = Serve::start(&db.url, &[]).await;
    // A client straight to yizhan raises no warning.
    let res = a
        .get(format!("http://{}/healthz", serve.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let (_nginx, proxied) = Nginx::in_front_of(serve.addr);
    for _ in 0..3 {
        let res = a.get(format!("{proxied}/healthz")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
    // The log is read by a thread: give it a moment for the line, then for any repeat.
    let deadline = Instant::now() + Duration::from_secs(10);
    while serve.lines_with(UNDECLARED).is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let warnings = serve.lines_with(UNDECLARED);
    assert_eq!(warnings.len(), 1, "one warning: {warnings:#?}");
    let w = &warnings[0];
    assert!(w.contains("WARN"), "{w}");
    assert!(
        w.contains(&format!("--trusted-proxy {NGINX_BIND}/32")),
        "{w}"
    );
    assert!(w.contains("x-forwarded-for"), "{w}");
    drop(serve);

    // Declared: the same traffic raises nothing.
    let serve = Serve::start(&db.url, &["--trusted-proxy", &format!("{NGINX_BIND}/32")]).await;
    let (_nginx, proxied) = Nginx::in_front_of(serve.addr);
    for _ in 0..3 {
        let res = a.get(format!("{proxied}/healthz")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(serve.lines_with(UNDECLARED).is_empty());
    assert!(
        !serve.lines_with("yizhan listening").is_empty(),
        "the log was read"
    );
}

/// Runs `cmd`, failing with its output unless it succeeds; returns stdout.
fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `text` with `from` (which must occur exactly once) replaced by `to`.
fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert_eq!(
        text.matches(from).count(),
        1,
        "deploy/nginx/yizhan.conf should contain {from:?} once"
    );
    text.replace(from, to)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_site_terminates_tls() {
    if missing(&["nginx", "openssl", "curl"]) {
        return;
    }
    let app = app_behind_nginx(|_| {}).await;
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = (certs.path().join("cert.pem"), certs.path().join("key.pem"));
    run(Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=localhost", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::piped()));

    // The example as shipped, with only its machine-specific values replaced.
    let (http_port, https_port) = (free_port(), free_port());
    let site = std::fs::read_to_string(repo_file("deploy/nginx/yizhan.conf")).unwrap();
    let site = [
        ("server 127.0.0.1:8080;", format!("server {};", app.addr)),
        ("listen 80;", format!("listen 127.0.0.1:{http_port};")),
        ("listen [::]:80;", String::new()),
        (
            "listen 443 ssl http2;",
            format!("listen 127.0.0.1:{https_port} ssl http2;"),
        ),
        ("listen [::]:443 ssl http2;", String::new()),
        (
            "/etc/letsencrypt/live/yizhan.example.org/fullchain.pem",
            cert.display().to_string(),
        ),
        (
            "/etc/letsencrypt/live/yizhan.example.org/privkey.pem",
            key.display().to_string(),
        ),
        (
            "/etc/nginx/snippets/yizhan-proxy.conf",
            proxy_snippet().display().to_string(),
        ),
    ]
    .iter()
    .fold(site, |s, (from, to)| replace_once(&s, from, to));
    let _nginx = Nginx::start(&site, https_port);

    let curl = |url: String, extra: &[&str]| {
        run(Command::new("curl")
            .args([
                "-sS",
                "-k",
                "--max-time",
                "20",
                "-D",
                "-",
                "-o",
                "/dev/null",
            ])
            .args(["--interface", RIDER_A])
            .args(extra)
            .arg(url)
            .stderr(Stdio::piped()))
        .to_ascii_lowercase()
    };
    // Over https: yizhan learns the scheme from nginx and sends HSTS.
    let head = curl(format!("https://127.0.0.1:{https_port}/healthz"), &[]);
    assert!(
        head.starts_with("http/2 200") || head.starts_with("http/1.1 200"),
        "{head}"
    );
    assert!(
        head.contains("strict-transport-security: max-age=31536000"),
        "{head}"
    );
    assert!(
        head.contains("content-security-policy: default-src 'self'"),
        "{head}"
    );
    // A client cannot talk nginx out of it, nor into it over plain http.
    let head = curl(
        format!("https://127.0.0.1:{https_port}/healthz"),
        &["-H", "X-Forwarded-Proto: http"],
    );
    assert!(head.contains("strict-transport-security:"), "{head}");
    // Plain http only redirects to https.
    let head = curl(
        format!("http://127.0.0.1:{http_port}/api/v1/locate"),
        &["-H", "X-Forwarded-Proto: https"],
    );
    assert!(head.starts_with("http/1.1 301"), "{head}");
    assert!(
        head.contains("location: https://127.0.0.1/api/v1/locate"),
        "{head}"
    );
    assert!(!head.contains("strict-transport-security:"), "{head}");
}
