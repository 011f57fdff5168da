//! The real `yizhan` binary as a child process, for tests that restart, kill or run several
//! replicas of it.

use reqwest::StatusCode;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `yizhan serve` process on a loopback port, killed when dropped.
pub struct ServerProcess {
    /// The process (tests may kill it themselves).
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port free right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl ServerProcess {
    /// Starts `yizhan serve --database-url DB_URL EXTRA…` on a free port, logging at the level
    /// in the environment variable `log_var` (else `default_log`) to the test's stderr, and
    /// waits up to 60 s for `/healthz`. Settings the developer's environment may hold (the
    /// store, a GeoIP database, trusted proxies) are not inherited.
    pub async fn start(
        db_url: &str,
        extra: &[&str],
        (log_var, default_log): (&str, &str),
        client: &reqwest::Client,
    ) -> Self {
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_yizhan"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--database-url", db_url])
            .args(extra)
            .env(
                "RUST_LOG",
                std::env::var(log_var).unwrap_or_else(|_| default_log.into()),
            )
            .env_remove("DATABASE_URL")
            .env_remove("YIZHAN_GEOIP_DB")
            .env_remove("YIZHAN_TRUSTED_PROXIES")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting yizhan serve");
        let server = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = client.get(format!("{}/healthz", server.base)).send().await {
                if r.status() == StatusCode::OK {
                    return server;
                }
            }
            assert!(
                Instant::now() < deadline,
                "yizhan serve did not become healthy"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
