//! Building the application: open the store, migrate, seed if empty, build the index, bind.

use crate::config::ServeArgs;
use crate::coverage::network_travel::NetworkTravel;
use crate::coverage::queries::QueryCounter;
use crate::coverage::service::{CoverageService, DemandData};
use crate::coverage::travel::StraightLine;
use crate::domain::RegionSet;
use crate::geoip::GeoIp;
use crate::http::admission::{Admission, Budgets};
use crate::http::{self, ApiConfig, AppState};
use crate::index::{Snapshot, StationIndex};
use crate::io::seed::{seed_if_empty, seed_regions_if_empty};
use crate::network::roads::Roads;
use crate::network::stations::NetworkStations;
use crate::serve::ServeOptions;
use crate::store::{self, Store};
use anyhow::Context;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

/// How long the end-of-run work (query-count flush, closing the store) may take after the
/// connections are drained or cut.
const END_OF_RUN_BUDGET: Duration = Duration::from_secs(10);

/// A built, bound application, ready to serve.
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    state: AppState,
    serve: ServeOptions,
}

/// Where the web app's files are: the flag, else `./web`, else the source tree's `web/`.
fn web_dir(configured: Option<PathBuf>) -> PathBuf {
    configured.unwrap_or_else(|| {
        let local = PathBuf::from("web");
        if local.join("index.html").exists() {
            local
        } else {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("web")
        }
    })
}

/// Builds the index from every active station in the store.
pub async fn load_index(store: &dyn Store, tz: chrono_tz::Tz) -> anyhow::Result<StationIndex> {
    let started = Instant::now();
    let stations = store
        .load_stations()
        .await
        .context("loading stations for the index")?;
    let n = stations.len();
    let loaded_ms = started.elapsed().as_millis() as u64;
    let snapshot = tokio::task::spawn_blocking(move || Snapshot::build(stations, tz)).await?;
    tracing::info!(
        stations = n,
        ms = started.elapsed().as_millis() as u64,
        loaded_ms,
        "index built"
    );
    Ok(StationIndex::new(snapshot))
}

/// Loads the road networks of `extract` and labels the index's stations on them, then keeps
/// the labels following the index (every write path publishes through it).
async fn load_network(
    extract: PathBuf,
    travel: crate::domain::TravelModel,
    index: Arc<StationIndex>,
) -> anyhow::Result<(Arc<Roads>, Arc<NetworkStations>)> {
    let snapshot = index.load();
    let network = tokio::task::spawn_blocking(move || {
        let (roads, origin) = Roads::load(&extract, &travel)
            .with_context(|| format!("loading the road network of {}", extract.display()))?;
        anyhow::Ok(NetworkStations::build(Arc::new(roads), snapshot, origin))
    })
    .await
    .context("the road network loader panicked")??;
    let network = Arc::new(network);
    network.spawn_follower(index);
    Ok((network.roads().clone(), network))
}

impl Application {
    /// Opens everything the configuration names and binds the listener (port 0 picks a free one).
    pub async fn build(args: ServeArgs) -> anyhow::Result<Self> {
        let travel = args.travel.model()?;
        let basemap = args.basemap.basemap()?;
        let store_options = store::StoreOptions {
            acquire_timeout: std::time::Duration::from_millis(args.db_acquire_timeout_ms),
        };
        let store = store::connect_with(&args.store.database_url, store_options)
            .await
            .with_context(|| format!("opening the store {}", args.store.database_url))?;
        if args.seed {
            let n = seed_if_empty(store.as_ref())
                .await
                .context("loading the demo seed stations")?;
            if n > 0 {
                tracing::info!(
                    stations = n,
                    "empty store: loaded the demo seed stations (示例数据, not real stations)"
                );
            }
            let n = seed_regions_if_empty(store.as_ref())
                .await
                .context("loading the seed regions")?;
            if n > 0 {
                tracing::info!(
                    regions = n,
                    "no regions stored: loaded Jiangxi's counties, cities and province (边界数据来源：高德)"
                );
            }
        }
        let index = Arc::new(load_index(store.as_ref(), args.travel.tz).await?);
        let regions = RegionSet::new(
            store
                .load_regions()
                .await
                .context("loading the regions for coverage")?,
        );
        let demand = DemandData::new(
            &store.load_demand().await.context("loading demand")?,
            store
                .load_query_counts()
                .await
                .context("loading query-origin counts")?,
            1,
        );
        let (roads, network) = match args.osm.clone() {
            Some(path) => {
                let (roads, network) = load_network(path, travel, index.clone()).await?;
                (Some(roads), Some(network))
            }
            None => (None, None),
        };
        let mut coverage =
            CoverageService::new(Arc::new(StraightLine { model: travel }), regions, demand);
        if let Some(roads) = &roads {
            coverage = coverage.with_network(Arc::new(NetworkTravel::new(roads.clone())));
        }
        let coverage = Arc::new(coverage);
        let query_counter = args.demand_from_queries.then(|| {
            let counter = Arc::new(QueryCounter::default());
            crate::coverage::queries::spawn_flusher(
                counter.clone(),
                store.clone(),
                coverage.clone(),
                std::time::Duration::from_secs(args.demand_flush_seconds),
            );
            counter
        });
        let sync = Arc::new(crate::sync::SyncStatus::default());
        crate::sync::spawn(
            store.clone(),
            index.clone(),
            std::time::Duration::from_secs(args.resync_seconds.max(1)),
            sync.clone(),
        );
        let geoip = match &args.geoip_db {
            Some(path) => Some(Arc::new(GeoIp::open(path)?)),
            None => None,
        };
        let state = AppState {
            store,
            index,
            geoip,
            config: Arc::new(ApiConfig {
                travel,
                trusted_proxies: args.trusted_proxies.clone(),
                nearest_engine: args.nearest_engine,
                hsts: args.hsts,
                content_security_policy: axum::http::HeaderValue::from_str(
                    &http::headers::content_security_policy(
                        basemap.as_ref().map_or(&[][..], |b| b.origins()),
                    ),
                )
                .context("the basemap's tile hosts do not fit in a header")?,
                basemap: basemap.map(Arc::new),
            }),
            metrics: Arc::new(http::metrics::Metrics::default()),
            admission: Arc::new(
                Admission::new(Budgets {
                    reads: args.limits.max_in_flight_reads as usize,
                    writes: args.limits.max_in_flight_writes as usize,
                    coverage: args.limits.max_in_flight_coverage as usize,
                    request_timeout: Duration::from_secs(args.limits.request_timeout_seconds),
                    coverage_timeout: Duration::from_secs(args.limits.coverage_timeout_seconds),
                })
                .context("starting the write thread")?,
            ),
            auth: Arc::new(http::auth::AuthState::new(
                args.session_ttl_hours,
                args.cookie_secure,
            )),
            report_limiter: Arc::new(http::reports::ReportLimiter::new(args.report_rate_per_hour)),
            coverage,
            query_counter,
            sync,
            tiles: Arc::new(crate::tiles::TileService::new(args.tiles_points_zoom)),
            roads,
            network,
        };
        let router = http::app(state.clone(), web_dir(args.web_dir.clone()));
        let listener = TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("binding {}", args.listen))?;
        let serve = ServeOptions {
            max_connections: args.limits.max_connections as usize,
            header_read_timeout: Duration::from_secs(args.limits.header_read_timeout_seconds),
            send_timeout: Duration::from_secs(args.limits.send_timeout_seconds),
            shutdown_grace: Duration::from_secs(args.limits.shutdown_grace_seconds),
        };
        Ok(Self {
            listener,
            router,
            state,
            serve,
        })
    }

    /// The bound address (tests bind port 0 and read the real port here).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The shared state (tests reach the store and index through it).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until SIGTERM or Ctrl-C, drains within the grace period, then writes the
    /// query counts and closes the store (bounded by [`END_OF_RUN_BUDGET`]).
    pub async fn run(self) -> anyhow::Result<()> {
        let state = self.state;
        crate::serve::serve(
            self.listener,
            self.router,
            self.serve,
            shutdown_signal(),
            state.admission.clone(),
        )
        .await;
        let end_of_run = async {
            if let Some(counter) = &state.query_counter {
                crate::coverage::queries::flush(counter, state.store.as_ref(), &state.coverage)
                    .await;
            }
            state.store.close().await;
        };
        if tokio::time::timeout(END_OF_RUN_BUDGET, end_of_run)
            .await
            .is_err()
        {
            tracing::warn!(
                "flushing query counts and closing the store took over {} s; exiting anyway",
                END_OF_RUN_BUDGET.as_secs()
            );
        }
        Ok(())
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
