//! Configuration: every setting is a flag with an environment variable and a default that works.

use crate::coverage::service::{Area, DemandSource};
use crate::coverage::MAX_COVERAGE_MINUTES;
use crate::domain::{Adcode, BBox, Login, Mode, Role, TravelModel};
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};
use ipnet::IpNet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

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
    // Boxed: the service's settings dwarf every other subcommand's.
    Serve(Box<ServeArgs>),
    /// Import stations from CSV or GeoJSON, all-or-nothing.
    Import(ImportArgs),
    /// Export all active stations as CSV or GeoJSON.
    Export(ExportArgs),
    /// Manage staff accounts (the password is read from stdin or a prompt, never a flag).
    #[command(subcommand)]
    User(UserCommand),
    /// Administrative regions (province, city, county outlines).
    #[command(subcommand)]
    Regions(RegionsCommand),
    /// Demand data for planning (aggregated to H3 cells; raw points are never stored).
    #[command(subcommand)]
    Demand(DemandCommand),
    /// Copy the SQLite store into a new GeoPackage, consistently, while it serves (for
    /// PostGIS: prints the pg_dump command to use instead).
    Backup(BackupArgs),
    /// Measure the 15-minute circle of a region offline and write it for GIS tools
    /// (.gpkg), as GeoJSON gaps (.geojson/.json) or as the county table (.csv).
    Coverage(CoverageArgs),
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
    /// Milliseconds a request waits for a PostgreSQL connection before failing with 503
    /// `store_unavailable` (while the server is down or restarting, or every connection is busy).
    #[arg(long, env = "YIZHAN_DB_ACQUIRE_TIMEOUT_MS",
          default_value_t = crate::store::DEFAULT_ACQUIRE_TIMEOUT_MS,
          value_parser = clap::value_parser!(u64).range(100..=600_000))]
    pub db_acquire_timeout_ms: u64,
    /// A MaxMind City database (.mmdb) for positions from client IPs.
    #[arg(long, env = "YIZHAN_GEOIP_DB")]
    pub geoip_db: Option<PathBuf>,
    /// An OpenStreetMap extract (.osm.pbf) whose roads give network minutes (walk, e-bike).
    /// The built graphs are cached beside it (`FILE.osm.pbf.yizhan-graph`); without it,
    /// minutes are straight-line distance × detour ÷ speed. See docs/network.md.
    #[arg(long, env = "YIZHAN_OSM")]
    pub osm: Option<PathBuf>,
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
    /// Speeds, detour and time zone (shared with `coverage`).
    #[command(flatten)]
    pub travel: TravelArgs,
    /// Seconds between resyncs of recently changed stations (heals missed change notifications).
    #[arg(long, env = "YIZHAN_RESYNC_SECONDS", default_value_t = 30)]
    pub resync_seconds: u64,
    /// Which engine answers nearest queries (`store` exists for benchmarks).
    #[arg(long, env = "YIZHAN_NEAREST_ENGINE", value_enum, default_value_t = NearestEngine::Index)]
    pub nearest_engine: NearestEngine,
    /// How long a login session lasts, in hours.
    #[arg(long, env = "YIZHAN_SESSION_TTL_HOURS", default_value_t = 12,
          value_parser = clap::value_parser!(u32).range(1..=720))]
    pub session_ttl_hours: u32,
    /// When the session cookie gets `Secure`: `auto` when the request came over https
    /// (`X-Forwarded-Proto: https` from a trusted proxy), `always`, or `never`.
    #[arg(long, env = "YIZHAN_COOKIE_SECURE", value_enum, default_value_t = CookieSecure::Auto)]
    pub cookie_secure: CookieSecure,
    /// When responses carry `Strict-Transport-Security`: `auto` when the request came over
    /// https (`X-Forwarded-Proto: https` from a trusted proxy), `always`, or `never`.
    #[arg(long, env = "YIZHAN_HSTS", value_enum, default_value_t = Hsts::Auto)]
    pub hsts: Hsts,
    /// Problem reports accepted from one client address (IPv6: one /64) per hour.
    #[arg(long, env = "YIZHAN_REPORT_RATE_PER_HOUR", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub report_rate_per_hour: u32,
    /// Count nearest-query origins per H3 cell (resolution 8, no raw position kept) as demand
    /// for planners; off by default (see docs/demand.md).
    #[arg(long, env = "YIZHAN_DEMAND_FROM_QUERIES", default_value_t = false, action = clap::ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true")]
    pub demand_from_queries: bool,
    /// Seconds between writes of the query-origin counts to the store.
    #[arg(long, env = "YIZHAN_DEMAND_FLUSH_SECONDS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub demand_flush_seconds: u64,
    /// Zoom from which vector tiles hold single stations; below it they hold clusters.
    #[arg(long, env = "YIZHAN_TILES_POINTS_ZOOM", default_value_t = crate::tiles::DEFAULT_POINTS_ZOOM,
          value_parser = clap::value_parser!(u8).range(crate::tiles::MIN_POINTS_ZOOM as i64..=crate::tiles::grid::MAX_ZOOM as i64))]
    pub tiles_points_zoom: u8,
    /// Connection, time and in-flight limits, and the shutdown grace period.
    #[command(flatten)]
    pub limits: LimitArgs,
    /// An optional raster basemap under the web app's map (off by default).
    #[command(flatten)]
    pub basemap: BasemapArgs,
}

/// A raster tile layer for the web app's map. Off unless `--basemap-url` is given: then the
/// page (and its content security policy) reaches exactly the template's tile hosts and no
/// other; without it nothing external is ever fetched.
#[derive(Debug, Clone, Args)]
pub struct BasemapArgs {
    /// Tile URL template with `{z}`, `{x}`, `{y}` and optionally `{s}` (in the host) and `{r}`,
    /// e.g. `https://t{s}.tianditu.gov.cn/vec_w/wmts?…&TILECOL={x}&TILEROW={y}&TILEMATRIX={z}&tk=KEY`.
    /// The key, if any, is visible to every visitor, as with any browser tile key.
    #[arg(long = "basemap-url", env = "YIZHAN_BASEMAP_URL")]
    pub url: Option<String>,
    /// The credit the tile provider requires, shown on the map (plain text).
    #[arg(
        long = "basemap-attribution",
        env = "YIZHAN_BASEMAP_ATTRIBUTION",
        default_value = ""
    )]
    pub attribution: String,
    /// The datum the tiles are drawn in: `wgs84` (天地图, OSM) or `gcj02` (Amap, Tencent);
    /// with `gcj02` the page shifts markers, outlines and the rider's position to match.
    #[arg(long = "basemap-crs", env = "YIZHAN_BASEMAP_CRS", default_value = "wgs84",
          value_parser = PossibleValuesParser::new(["wgs84", "gcj02"]))]
    pub crs: String,
    /// What `{s}` takes: comma separated (`a,b,c`) or one per character (`01234567`).
    /// Leaflet's `abc` when the template has `{s}` and this is not given.
    #[arg(long = "basemap-subdomains", env = "YIZHAN_BASEMAP_SUBDOMAINS")]
    pub subdomains: Option<String>,
    /// The highest zoom the provider serves.
    #[arg(long = "basemap-max-zoom", env = "YIZHAN_BASEMAP_MAX_ZOOM", default_value_t = 18,
          value_parser = clap::value_parser!(u8).range(1..=crate::domain::basemap::MAX_ZOOM_LIMIT as i64))]
    pub max_zoom: u8,
}

impl BasemapArgs {
    /// The configured basemap, validated; `None` when no URL is given.
    pub fn basemap(&self) -> anyhow::Result<Option<crate::domain::Basemap>> {
        let Some(url) = self.url.as_deref().map(str::trim).filter(|u| !u.is_empty()) else {
            return Ok(None);
        };
        let crs = self
            .crs
            .parse::<crate::domain::Crs>()
            .map_err(|e| anyhow::anyhow!("--basemap-crs: {e}"))?;
        let basemap = crate::domain::Basemap::new(
            url,
            &self.attribution,
            crs,
            self.subdomains.as_deref(),
            self.max_zoom,
        )
        .map_err(|e| anyhow::anyhow!("--basemap-url: {e}"))?;
        Ok(Some(basemap))
    }
}

/// How much the service takes on at once and for how long: the limits that keep it answering
/// under a flood (see README, "Limits under load").
#[derive(Debug, Clone, Args)]
pub struct LimitArgs {
    /// Open connections served at once; further ones wait in the kernel's accept backlog
    /// until one closes. Keep `ulimit -n` above this plus the store's connections.
    #[arg(long, env = "YIZHAN_MAX_CONNECTIONS", default_value_t = 4096,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: u32,
    /// Seconds a client has to send a request's headers; also how long an idle keep-alive
    /// connection is kept open.
    #[arg(long, env = "YIZHAN_HEADER_READ_TIMEOUT_SECONDS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub header_read_timeout_seconds: u64,
    /// Seconds a client may take no byte of a response before it is disconnected.
    #[arg(long, env = "YIZHAN_SEND_TIMEOUT_SECONDS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub send_timeout_seconds: u64,
    /// Seconds a request may take from its headers to its response (body upload included),
    /// coverage excepted; past it the reply is a 503 `timeout`.
    #[arg(long, env = "YIZHAN_REQUEST_TIMEOUT_SECONDS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub request_timeout_seconds: u64,
    /// Seconds a coverage request may take (it may queue 30 s for the computation slot, then
    /// compute for seconds).
    #[arg(long, env = "YIZHAN_COVERAGE_TIMEOUT_SECONDS", default_value_t = 120,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub coverage_timeout_seconds: u64,
    /// Read requests (everything but writes and coverage) in progress at once; more are
    /// refused at once with 503 `busy` and `Retry-After`.
    #[arg(long, env = "YIZHAN_MAX_IN_FLIGHT_READS", default_value_t = 128,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_in_flight_reads: u32,
    /// Writes (POST, PUT, PATCH, DELETE under /api) in progress at once, a budget of their
    /// own so readers cannot crowd them out; more are refused with 503 `busy`.
    #[arg(long, env = "YIZHAN_MAX_IN_FLIGHT_WRITES", default_value_t = 32,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_in_flight_writes: u32,
    /// Coverage requests (/api/v1/coverage…) in progress or queued for the computation slot
    /// at once; more are refused with 503 `busy`.
    #[arg(long, env = "YIZHAN_MAX_IN_FLIGHT_COVERAGE", default_value_t = 8,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub max_in_flight_coverage: u32,
    /// Seconds after SIGTERM (or Ctrl-C) for requests in progress to finish; connections
    /// still open then are cut.
    #[arg(long, env = "YIZHAN_SHUTDOWN_GRACE_SECONDS", default_value_t = 20,
          value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub shutdown_grace_seconds: u64,
}

/// When the session cookie carries the `Secure` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum CookieSecure {
    /// When the request came over https through a trusted proxy.
    #[default]
    Auto,
    /// Always (the service is only reached over https).
    Always,
    /// Never (plain-http deployments and local testing).
    Never,
}

/// When responses carry `Strict-Transport-Security` (browsers ignore it over plain http, so
/// it only matters where TLS is terminated in front of the service).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Hsts {
    /// On responses to requests that came over https through a trusted proxy.
    #[default]
    Auto,
    /// On every response (the service is only reached over https, e.g. through a proxy
    /// that sends no `X-Forwarded-Proto`).
    Always,
    /// Never (HSTS is set by the proxy, or the site is plain http).
    Never,
}

/// How workers travel and where opening hours are read: what `serve` answers with and
/// `coverage` measures with, so both take the same flags and environment.
#[derive(Debug, Clone, Args)]
pub struct TravelArgs {
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
}

impl TravelArgs {
    /// The travel-time model, validated.
    pub fn model(&self) -> anyhow::Result<TravelModel> {
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
}

impl ServeArgs {
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
    /// Read CSV text cells byte for byte: a leading `'` before a formula character (how
    /// exports neutralise formulas) is kept instead of removed. For files from `export --csv-raw`.
    #[arg(long)]
    pub csv_raw: bool,
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
    /// Write CSV text cells byte for byte, without the `'` that keeps spreadsheets from running
    /// a cell starting with `=`, `+`, `-`, `@`, tab or CR as a formula (import with `--csv-raw`).
    #[arg(long)]
    pub csv_raw: bool,
    /// The store.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Settings of `backup`.
#[derive(Debug, Clone, Args)]
pub struct BackupArgs {
    /// The new file (a GeoPackage store of its own).
    pub out: PathBuf,
    /// Replace `out` if it exists.
    #[arg(long)]
    pub force: bool,
    /// The store.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `yizhan user …`: staff accounts.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account (the first admin is created this way).
    Add(UserAddArgs),
    /// Set a new password for an account (ends its sessions).
    Passwd(UserLoginArgs),
    /// Disable an account: its sessions end at once and it cannot log in (kept for history).
    Disable(UserLoginArgs),
    /// Enable a disabled account again.
    Enable(UserLoginArgs),
    /// Delete an account that has no history (otherwise disable it).
    Delete(UserLoginArgs),
    /// Replace the stations a manager edits.
    Stations(UserStationsArgs),
}

/// Settings of `user add`.
#[derive(Debug, Clone, Args)]
pub struct UserAddArgs {
    /// Login name: 3–64 of a-z 0-9 . _ - (capitals are folded to lower case).
    #[arg(long, value_parser = Login::from_str)]
    pub login: Login,
    /// `admin` (every station), `manager` (the stations given with --station) or `planner`
    /// (demand data and coverage suggestions; no station).
    #[arg(long, value_parser = PossibleValuesParser::new(["admin", "manager", "planner"]).try_map(|s| s.parse::<Role>()))]
    pub role: Role,
    /// Code of a station the manager edits (repeatable or comma separated).
    #[arg(long = "station", value_name = "CODE", value_delimiter = ',')]
    pub stations: Vec<String>,
    /// The store.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Settings of `user passwd|disable|enable|delete`: which account.
#[derive(Debug, Clone, Args)]
pub struct UserLoginArgs {
    /// Login name of the account.
    #[arg(long, value_parser = Login::from_str)]
    pub login: Login,
    /// The store.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Settings of `user stations`.
#[derive(Debug, Clone, Args)]
pub struct UserStationsArgs {
    /// Login name of the manager.
    #[arg(long, value_parser = Login::from_str)]
    pub login: Login,
    /// Codes of the stations the manager edits from now on, replacing the current ones
    /// (repeatable or comma separated; all must name active stations, or nothing changes).
    #[arg(
        long = "station",
        value_name = "CODE",
        value_delimiter = ',',
        required = true
    )]
    pub stations: Vec<String>,
    /// The store.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `yizhan regions …`: administrative regions.
#[derive(Debug, Subcommand)]
pub enum RegionsCommand {
    /// Import outlines from GeoJSON, all-or-nothing; parents the file lacks are dissolved
    /// from their children.
    Import(RegionsImportArgs),
}

/// Settings of `regions import`.
#[derive(Debug, Clone, Args)]
pub struct RegionsImportArgs {
    /// A GeoJSON FeatureCollection of Polygon/MultiPolygon features with `adcode` and `name`.
    pub file: PathBuf,
    /// The store.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `yizhan demand …`: demand data.
#[derive(Debug, Subcommand)]
pub enum DemandCommand {
    /// Import weighted points from CSV (`lat,lon,weight[,label]`), all-or-nothing.
    Import(DemandImportArgs),
}

/// Settings of `demand import`.
#[derive(Debug, Clone, Args)]
pub struct DemandImportArgs {
    /// A CSV file with the columns lat, lon, weight and optionally label.
    pub file: PathBuf,
    /// Add to the demand already stored instead of replacing it.
    #[arg(long)]
    pub append: bool,
    /// The store.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Which stations count in `coverage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum OpenFilter {
    /// Every active station (temporarily closed ones too).
    #[default]
    Any,
    /// Only stations open around the clock.
    #[value(name = "24h")]
    AroundTheClock,
}

/// Which demand weighs the cells in `coverage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum DemandChoice {
    /// Imported demand points (`yizhan demand import`).
    #[default]
    Import,
    /// Counted nearest-query origins.
    Queries,
    /// No demand figures.
    #[value(name = "none")]
    Off,
}

impl DemandChoice {
    /// The demand source asked for.
    pub fn source(self) -> Option<DemandSource> {
        match self {
            DemandChoice::Import => Some(DemandSource::Imported),
            DemandChoice::Queries => Some(DemandSource::Queries),
            DemandChoice::Off => None,
        }
    }
}

fn parse_minutes(s: &str) -> Result<f64, String> {
    s.trim()
        .parse::<f64>()
        .ok()
        .filter(|m| *m > 0.0 && *m <= MAX_COVERAGE_MINUTES)
        .ok_or_else(|| {
            format!("minutes must be a number in (0, {MAX_COVERAGE_MINUTES}], got {s:?}")
        })
}

/// Settings of `coverage`.
#[derive(Debug, Clone, Args)]
#[command(group(ArgGroup::new("area").required(true).args(["region", "bbox"])))]
pub struct CoverageArgs {
    /// A province, city or county adcode (360000 Jiangxi, 360100 Nanchang, 360102 东湖区).
    #[arg(long, value_parser = Adcode::from_str)]
    pub region: Option<Adcode>,
    /// `w,s,e,n` in WGS-84 degrees instead of a region (sides ≤ 10°).
    #[arg(long, value_parser = BBox::from_str, allow_hyphen_values = true)]
    pub bbox: Option<BBox>,
    /// How workers travel.
    #[arg(long, default_value = "walk",
          value_parser = PossibleValuesParser::new(["walk", "ebike"]).try_map(|s| s.parse::<Mode>()))]
    pub mode: Mode,
    /// A cell is covered when a station is at most this many minutes away.
    #[arg(long, default_value_t = 15.0, value_parser = parse_minutes)]
    pub minutes: f64,
    /// H3 resolution, 7 (~5 km² cells) to 10 (~0.015 km²).
    #[arg(long, default_value_t = 9, value_parser = clap::value_parser!(u8).range(7..=10))]
    pub res: u8,
    /// Which stations count.
    #[arg(long, value_enum, default_value_t = OpenFilter::Any)]
    pub open: OpenFilter,
    /// Demand to weigh cells by, adding demand columns (default: imported demand when some
    /// is stored).
    #[arg(long, value_enum)]
    pub demand: Option<DemandChoice>,
    /// The file to write: `.gpkg`, `.geojson`/`.json` or `.csv` (never the store itself).
    #[arg(long)]
    pub out: PathBuf,
    /// Replace `--out` if it exists.
    #[arg(long)]
    pub force: bool,
    /// An OpenStreetMap extract (.osm.pbf): minutes on its roads instead of straight lines
    /// (as `serve --osm`; cells with no road within 300 m are counted apart).
    #[arg(long, env = "YIZHAN_OSM")]
    pub osm: Option<PathBuf>,
    /// Speeds, detour and time zone (as `serve` takes them).
    #[command(flatten)]
    pub travel: TravelArgs,
    /// The store.
    #[command(flatten)]
    pub store: StoreArgs,
}

impl CoverageArgs {
    /// The area asked for (clap already requires exactly one of `--region` and `--bbox`).
    pub fn area(&self) -> anyhow::Result<Area> {
        match (self.region, &self.bbox) {
            (Some(code), None) => Ok(Area::Region(code)),
            (None, Some(b)) => Ok(Area::bbox(b)),
            _ => anyhow::bail!("give either --region ADCODE or --bbox w,s,e,n"),
        }
    }
}
