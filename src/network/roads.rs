//! The road networks a running service holds: per mode, the graph and its snapping index.
//!
//! Immutable once loaded and shared as `Arc<Roads>`: nearest queries (with their station
//! labels, kept elsewhere because stations change) and coverage read the same graphs.

use super::cache::{self, Origin};
use super::graph::Graph;
use super::snap::{Snap, SnapIndex};
use super::NetworkError;
use crate::domain::{LonLat, Mode, TravelModel};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// One mode's graph and the index that snaps points to its edges.
pub struct ModeNetwork {
    /// The routable graph (times in deciseconds at the mode's speed).
    pub graph: Graph,
    /// Its edges in an R-tree.
    pub snap: SnapIndex,
}

impl ModeNetwork {
    /// Indexes `graph` for snapping.
    pub fn new(graph: Graph) -> Self {
        let snap = SnapIndex::new(&graph);
        Self { graph, snap }
    }

    /// The nearest routable point within [`super::MAX_SNAP_M`], if any.
    pub fn snap(&self, p: &LonLat) -> Option<Snap> {
        self.snap.snap(&self.graph, p)
    }

    /// Bytes held by the graph and the snapping index.
    pub fn heap_bytes(&self) -> usize {
        self.graph.heap_bytes() + self.snap.heap_bytes()
    }
}

/// The walking and e-bike networks of one extract.
pub struct Roads {
    /// Walking.
    pub walk: ModeNetwork,
    /// E-bike.
    pub ebike: ModeNetwork,
    /// The extract they were read from.
    pub extract: PathBuf,
}

impl Roads {
    /// Loads the graphs of `extract` (from its cache beside it when valid, else built and
    /// cached) and indexes them. Blocking: seconds for a province, so call it off the runtime.
    pub fn load(extract: &Path, model: &TravelModel) -> Result<(Self, Origin), NetworkError> {
        let started = Instant::now();
        let (nets, origin) = cache::load_or_build(extract, model)?;
        let roads = Self {
            walk: ModeNetwork::new(nets.walk),
            ebike: ModeNetwork::new(nets.ebike),
            extract: extract.to_path_buf(),
        };
        tracing::info!(
            extract = %extract.display(),
            origin = ?origin,
            walk_nodes = roads.walk.graph.nodes(),
            walk_arcs = roads.walk.graph.arcs(),
            ebike_nodes = roads.ebike.graph.nodes(),
            ebike_arcs = roads.ebike.graph.arcs(),
            heap_mb = roads.heap_bytes() / 1_000_000,
            ms = started.elapsed().as_millis() as u64,
            "road networks loaded"
        );
        Ok((roads, origin))
    }

    /// The network of `mode`.
    pub fn mode(&self, mode: Mode) -> &ModeNetwork {
        match mode {
            Mode::Walk => &self.walk,
            Mode::Ebike => &self.ebike,
        }
    }

    /// Bytes held by both networks.
    pub fn heap_bytes(&self) -> usize {
        self.walk.heap_bytes() + self.ebike.heap_bytes()
    }
}
