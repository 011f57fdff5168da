//! Vector tiles of the stations: Web Mercator tile math, server-side clustering below the points
//! zoom, and Mapbox Vector Tile encoding, all pure; [`TileService`] ties them to index snapshots.
//!
//! Below the points zoom a tile holds clusters from a grid aggregated once per index snapshot
//! (a national view of 190,000 stations costs a lookup, not a clustering); from the points zoom
//! on it holds the stations themselves, read from the snapshot's R-tree per request.

/// Server-side clustering: a grid nested in the tiles, built once per snapshot.
pub mod cluster;
/// Mapbox Vector Tile encoding (geozero's MVT types) and the documented layers.
pub mod encode;
/// Tile arithmetic: lon/lat ↔ Web Mercator ↔ tile ↔ tile extent.
pub mod grid;
/// Line tiles of the loaded road network (the streets basemap).
pub mod roads;

use crate::domain::{AmenitySet, BBox, LonLat};
use crate::index::Snapshot;
use arc_swap::ArcSwapOption;
use chrono::{DateTime, Utc};
use cluster::Clusters;
use encode::StationPoint;
use grid::{TileId, World};
use std::sync::Arc;

/// Default of `--tiles-points-zoom`: at zoom 14 a tile is about 2.4 km a side in Jiangxi, a
/// city district: tens of stations, each worth a pin.
pub const DEFAULT_POINTS_ZOOM: u8 = 14;

/// Lowest points zoom accepted: a tile at zoom 6 is 5.6° a side, inside what a box query over
/// the index handles (10°); a coarser one would put a province's stations in one tile.
pub const MIN_POINTS_ZOOM: u8 = 6;

/// Tiles for one server: the points zoom, and the clusters of the latest snapshot asked for.
pub struct TileService {
    points_zoom: u8,
    clusters: ArcSwapOption<Clusters>,
    /// One cluster build at a time; others reuse the previous build meanwhile.
    building: tokio::sync::Mutex<()>,
}

impl TileService {
    /// A service drawing stations as points from `points_zoom` on and clusters below.
    pub fn new(points_zoom: u8) -> Self {
        Self {
            points_zoom: points_zoom.clamp(MIN_POINTS_ZOOM, grid::MAX_ZOOM),
            clusters: ArcSwapOption::empty(),
            building: tokio::sync::Mutex::new(()),
        }
    }

    /// The zoom from which tiles hold stations instead of clusters.
    pub fn points_zoom(&self) -> u8 {
        self.points_zoom
    }

    /// The clusters of `snapshot`, built on first use after it changed.
    ///
    /// While one request rebuilds, others get the previous build (one write behind at most),
    /// so a burst of edits does not queue map requests behind back-to-back rebuilds; the tile's
    /// `ETag` is its content's, so it always describes the bytes sent.
    pub async fn clusters(&self, snapshot: Arc<Snapshot>) -> anyhow::Result<Arc<Clusters>> {
        let generation = snapshot.generation();
        let current = self.clusters.load_full();
        if let Some(c) = current.as_ref().filter(|c| c.generation == generation) {
            return Ok(c.clone());
        }
        let guard = match self.building.try_lock() {
            Ok(guard) => guard,
            Err(_) => match current {
                Some(c) => return Ok(c),
                None => self.building.lock().await,
            },
        };
        if let Some(c) = self
            .clusters
            .load_full()
            .filter(|c| c.generation >= generation)
        {
            return Ok(c);
        }
        let points_zoom = self.points_zoom;
        // ~100 ms of CPU for 190,000 stations: off the async workers.
        let built = tokio::task::spawn_blocking(move || {
            let started = std::time::Instant::now();
            let built = Clusters::build(generation, points_zoom, |f| snapshot.for_each(f));
            tracing::info!(
                generation,
                stations = snapshot.len(),
                ms = started.elapsed().as_millis() as u64,
                "tile clusters built"
            );
            built
        })
        .await?;
        let built = Arc::new(built);
        self.clusters.store(Some(built.clone()));
        drop(guard);
        Ok(built)
    }

    /// The encoded tile, or `None` when it holds nothing (HTTP 204).
    pub async fn render(
        &self,
        snapshot: Arc<Snapshot>,
        t: TileId,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Option<Vec<u8>>> {
        if t.z < self.points_zoom {
            let clusters = self.clusters(snapshot).await?;
            return Ok(encode::clusters_tile(t, clusters.in_tile(t)));
        }
        Ok(points_tile(&snapshot, t, now))
    }
}

/// The stations of a tile at or above the points zoom: those whose position falls in the tile
/// (west and north edges inclusive, so each station is in exactly one tile per zoom), by id.
pub fn points_tile(snapshot: &Snapshot, t: TileId, now: DateTime<Utc>) -> Option<Vec<u8>> {
    let [w, s, e, n] = t.bounds();
    // A hair wider than the tile: the exact test is on Mercator cells below.
    let pad = 1e-9;
    let bbox = BBox {
        min: LonLat {
            lon: (w - pad).max(-180.0),
            lat: (s - pad).max(-90.0),
        },
        max: LonLat {
            lon: (e + pad).min(180.0),
            lat: (n + pad).min(90.0),
        },
    };
    let (stations, _) = snapshot.in_bbox(&bbox, AmenitySet::EMPTY, usize::MAX);
    let points: Vec<StationPoint<'_>> = stations
        .iter()
        .filter(|s| t.contains(World::of(s.location)))
        .map(|s| StationPoint {
            station: s,
            open_now: snapshot.is_open(s, now),
            closed_until: s
                .temporary_closure
                .as_ref()
                .filter(|_| s.is_temporarily_closed(now))
                .map(|c| c.until.timestamp()),
        })
        .collect();
    encode::stations_tile(t, &points)
}
