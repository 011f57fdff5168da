//! Configuration: every setting is a flag with an environment variable and a default that works.

use crate::domain::TravelModel;
use clap::{Args, Parser, Subcommand, ValueEnum};
use ipnet::IpNet;
use std::net::SocketAddr;
use std::path::PathBuf;

/// The embedded default store: a GeoPackage file next to where the service runs.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/yizhan.gpkg";

/// yizhan: find the nearest open outdoor-worker station (工会户外劳动者服务站).
#[derive(Debug, Parser)]
#[command(name = "yizhan", version, about)]
pub struct Cli {
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Settings for `serve` when no subcommand is given.
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service (the default).
    Serve(ServeArgs),
    /// Import stations from CSV or GeoJSON, all-or-nothing.
    Import(ImportArgs),
    /// Export all active stations as CSV or GeoJSON.
    Export(ExportArgs),
}

/// Where the data lives.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// `sqlite://PATH` (a GeoPackage file, created if missing) or `postgres://…` (PostGIS).
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    pub database_url: String,
}

/// Which engine answers nearest queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum NearestEngine {
    /// The in-memory index (normal operation).
    #[default]
    Index,
    /// The store per request (`ORDER BY geom <-> point`): the benchmark baseline only.
    Store,
}

/// Settings of the HTTP service.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "YIZHAN_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// The store.
    #[command(flatten)]
    pub store: StoreArgs,
    /// A MaxMind City database (.mmdb) for positions from client IPs.
    #[arg(long, env = "YIZHAN_GEOIP_DB")]
    pub geoip_db: Option<PathBuf>,
    /// Proxies whose X-Forwarded-For is believed (CIDR, repeatable or comma separated).
    #[arg(
        long = "trusted-proxy",
        env = "YIZHAN_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<IpNet>,
    /// Directory of the web app's static files.
    #[arg(long, env = "YIZHAN_WEB_DIR")]
    pub web_dir: Option<PathBuf>,
    /// Load the demo seed stations into an empty store at start.
    #[arg(long, env = "YIZHAN_SEED", default_value_t = true, action = clap::ArgAction::Set)]
    pub seed: bool,
    /// Walking speed, km/h.
    #[arg(long, env = "YIZHAN_WALK_KMH", default_value_t = 4.5)]
    pub walk_kmh: f64,
    /// E-bike speed, km/h.
    #[arg(long, env = "YIZHAN_EBIKE_KMH", default_value_t = 15.0)]
    pub ebike_kmh: f64,
    /// Road distance over straight-line distance.
    #[arg(long, env = "YIZHAN_DETOUR", default_value_t = 1.3)]
    pub detour: f64,
    /// Time zone opening hours are evaluated in.
    #[arg(long, env = "YIZHAN_TZ", default_value = "Asia/Shanghai")]
    pub tz: chrono_tz::Tz,
    /// Which engine answers nearest queries (`store` exists for benchmarks).
    #[arg(long, env = "YIZHAN_NEAREST_ENGINE", value_enum, default_value_t = NearestEngine::Index)]
    pub nearest_engine: NearestEngine,
}

impl ServeArgs {
    /// The travel-time model, validated.
    pub fn travel(&self) -> anyhow::Result<TravelModel> {
        let ok = |v: f64| v.is_finite() && v > 0.0;
        anyhow::ensure!(
            ok(self.walk_kmh) && ok(self.ebike_kmh) && ok(self.detour) && self.detour >= 1.0,
            "speeds must be positive and the detour factor at least 1"
        );
        Ok(TravelModel {
            walk_kmh: self.walk_kmh,
            ebike_kmh: self.ebike_kmh,
            detour: self.detour,
        })
    }

    /// Settings for tests and tools: everything default, on the given store and listen address.
    pub fn for_store(database_url: &str, listen: SocketAddr) -> Self {
        let mut args = Cli::parse_from(["yizhan"]).serve;
        args.store.database_url = database_url.to_string();
        args.listen = listen;
        args
    }
}

/// Settings of `import`.
#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// A `.csv` or `.geojson`/`.json` file.
    pub file: PathBuf,
    /// The store.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Output formats of `export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// CSV with the import header.
    Csv,
    /// GeoJSON FeatureCollection.
    Geojson,
}

/// Settings of `export`.
#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = ExportFormat::Csv)]
    pub format: ExportFormat,
    /// Output file (standard output when omitted).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The store.
    #[command(flatten)]
    pub store: StoreArgs,
}
