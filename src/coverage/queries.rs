//! Demand from the service's own nearest queries (opt-in, `--demand-from-queries`): each
//! query's origin is turned into its H3 cell at resolution 8 (~0.74 km²) on arrival and only the
//! cell's count is kept; the position itself is never stored or logged. Counts are flushed to
//! the store now and then and published only for cells with at least
//! [`QUERY_DEMAND_MIN_COUNT`](crate::domain::demand::QUERY_DEMAND_MIN_COUNT) queries. See
//! `docs/demand.md` for the reasoning.

use super::service::CoverageService;
use crate::domain::demand::{cell_of, QUERY_DEMAND_RES};
use crate::domain::LonLat;
use crate::store::Store;
use h3o::CellIndex;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Most distinct cells held between flushes (a flood of made-up positions cannot grow memory
/// without bound; past it, new cells wait for the next flush and are dropped).
pub const MAX_PENDING_CELLS: usize = 100_000;

/// Counts of query origins per cell since the last flush.
#[derive(Debug, Default)]
pub struct QueryCounter {
    pending: Mutex<HashMap<u64, u64>>,
}

impl QueryCounter {
    /// Counts one query from `origin` (only its cell is kept).
    pub fn record(&self, origin: LonLat) {
        let cell = u64::from(cell_of(origin, QUERY_DEMAND_RES));
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let full = p.len() >= MAX_PENDING_CELLS;
        match p.get_mut(&cell) {
            Some(n) => *n += 1,
            None if !full => {
                p.insert(cell, 1);
            }
            None => {}
        }
    }

    /// Returns counts that could not be stored, to be tried again.
    pub fn put_back(&self, counts: Vec<(CellIndex, u64)>) {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        for (c, n) in counts {
            *p.entry(u64::from(c)).or_default() += n;
        }
    }

    /// The counts since the last call, emptied.
    pub fn take(&self) -> Vec<(CellIndex, u64)> {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::take(&mut *p)
            .into_iter()
            .filter_map(|(c, n)| Some((CellIndex::try_from(c).ok()?, n)))
            .collect()
    }
}

/// Writes the counts since the last flush to the store and refreshes the service's copy. A
/// failed write puts the counts back, so a database outage loses nothing.
pub async fn flush(counter: &QueryCounter, store: &dyn Store, service: &CoverageService) {
    let counts = counter.take();
    if !counts.is_empty() {
        if let Err(e) = store.add_query_counts(&counts).await {
            tracing::warn!(error = %e, cells = counts.len(), "query-origin counts not stored; kept for the next flush");
            counter.put_back(counts);
            return;
        }
    }
    match store.load_query_counts().await {
        Ok(all) => service.set_query_counts(all),
        Err(e) => tracing::warn!(error = %e, "query-origin counts not reloaded"),
    }
}

/// Flushes every `every` until the process ends.
pub fn spawn_flusher(
    counter: Arc<QueryCounter>,
    store: Arc<dyn Store>,
    service: Arc<CoverageService>,
    every: Duration,
) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            flush(&counter, store.as_ref(), &service).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_counted_per_resolution_8_cell() {
        let q = QueryCounter::default();
        let a = LonLat::new(115.89, 28.68).unwrap();
        let b = LonLat::new(115.890_5, 28.680_5).unwrap();
        let far = LonLat::new(116.5, 29.0).unwrap();
        q.record(a);
        q.record(b);
        q.record(far);
        let mut counts = q.take();
        counts.sort_by_key(|&(_, n)| n);
        assert_eq!(counts.iter().map(|&(_, n)| n).sum::<u64>(), 3);
        assert!(counts
            .iter()
            .all(|(c, _)| c.resolution() == QUERY_DEMAND_RES));
        assert_eq!(counts.last().unwrap().1, 2, "a and b share a cell");
        assert!(q.take().is_empty(), "take empties");
    }
}
