//! Keeping the index in step with writes made by other processes: the store's change feed
//! (PostgreSQL LISTEN/NOTIFY) reloads changed stations by id within moments, and a periodic
//! resync of recently changed rows heals anything a lost notification missed.

use crate::domain::StationState;
use crate::index::StationIndex;
use crate::store::Store;
use chrono::Utc;
use futures::StreamExt;
use std::sync::atomic::{AtomicI64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How far back each resync looks beyond its previous run, to absorb clock skew between the
/// database and this process and transactions that committed late.
const RESYNC_OVERLAP: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

/// Where the change feed stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedState {
    /// The store has no feed: one process owns it (GeoPackage), nothing to follow.
    None,
    /// Subscribing, or the feed broke and is being resubscribed: changes by other replicas
    /// arrive only through the periodic resync meanwhile.
    Connecting,
    /// Notifications arrive as other replicas commit.
    Following,
}

impl FeedState {
    /// The name `/healthz` reports.
    pub fn as_str(self) -> &'static str {
        match self {
            FeedState::None => "none",
            FeedState::Connecting => "connecting",
            FeedState::Following => "following",
        }
    }
}

/// How closely this replica follows other writers, for `/healthz` and `/metrics`: a replica
/// whose feed is down and whose resyncs fail answers from an index that is falling behind.
#[derive(Debug)]
pub struct SyncStatus {
    feed: AtomicU8,
    /// Unix seconds of the last successful resync (or of the index build, before the first).
    last_resync: AtomicI64,
}

impl Default for SyncStatus {
    /// Connecting, with the index just built from the store.
    fn default() -> Self {
        Self {
            feed: AtomicU8::new(FeedState::Connecting as u8),
            last_resync: AtomicI64::new(Utc::now().timestamp()),
        }
    }
}

impl SyncStatus {
    /// The change feed's state.
    pub fn feed(&self) -> FeedState {
        match self.feed.load(Ordering::Relaxed) {
            x if x == FeedState::None as u8 => FeedState::None,
            x if x == FeedState::Following as u8 => FeedState::Following,
            _ => FeedState::Connecting,
        }
    }

    /// Whole seconds since the last successful resync.
    pub fn seconds_since_resync(&self) -> i64 {
        (Utc::now().timestamp() - self.last_resync.load(Ordering::Relaxed)).max(0)
    }

    fn set_feed(&self, state: FeedState) {
        self.feed.store(state as u8, Ordering::Relaxed);
    }

    fn resynced(&self, at: chrono::DateTime<Utc>) {
        self.last_resync.store(at.timestamp(), Ordering::Relaxed);
    }
}

/// Reloads one station from the store into the index (retired or not), unless the index
/// already knows that version or a newer one.
pub async fn reload_station(
    store: &dyn Store,
    index: &StationIndex,
    id: i64,
) -> anyhow::Result<()> {
    if let Some(state) = store.station_state(id).await? {
        index.apply_newer(vec![state]);
    }
    Ok(())
}

/// Reads the state of every station changed since `since` that is newer than what the index
/// knows (active rows from the store, retirements straight from the change list). Applying
/// them later is safe however much changed meanwhile: [`StationIndex::apply_newer`] orders
/// them by version against what the index then holds, tombstones included.
pub async fn changes_since(
    store: &dyn Store,
    index: &StationIndex,
    since: chrono::DateTime<Utc>,
) -> anyhow::Result<Vec<StationState>> {
    let mut changes = Vec::new();
    for (id, version, active) in store.changed_since(since).await? {
        if !index.is_newer(id, version) {
            continue;
        }
        if !active {
            changes.push(StationState::Retired { id, version });
        } else if let Some(state) = store.station_state(id).await? {
            // Possibly newer than `version` already (or retired): whatever it is now.
            changes.push(state);
        }
    }
    Ok(changes)
}

/// Reloads every station changed since `since` whose version is newer than the index's.
pub async fn resync_since(
    store: &dyn Store,
    index: &StationIndex,
    since: chrono::DateTime<Utc>,
) -> anyhow::Result<usize> {
    let changes = changes_since(store, index, since).await?;
    let n = changes.len();
    if n > 0 {
        index.apply_newer(changes);
    }
    Ok(n)
}

/// Starts the background tasks that follow other writers, reporting into `status`.
pub fn spawn(
    store: Arc<dyn Store>,
    index: Arc<StationIndex>,
    resync_every: Duration,
    status: Arc<SyncStatus>,
) {
    tokio::spawn(follow_feed(store.clone(), index.clone(), status.clone()));
    tokio::spawn(periodic_resync(store, index, resync_every, status));
}

async fn follow_feed(store: Arc<dyn Store>, index: Arc<StationIndex>, status: Arc<SyncStatus>) {
    // Notifications can have been missed since the index was loaded (just before this task
    // started), and later since the moment the feed broke: each (re)subscription resyncs from
    // there, however long the database was away.
    let mut unwatched_since = Utc::now();
    let mut failures: u32 = 0;
    loop {
        match store.subscribe_changes().await {
            Ok(None) => {
                status.set_feed(FeedState::None);
                return;
            }
            Ok(Some(mut feed)) => {
                if failures > 0 {
                    tracing::info!(failures, "following the change feed again");
                }
                failures = 0;
                status.set_feed(FeedState::Following);
                // Changes made while we were not listening are healed beside the feed, which
                // must not wait for it.
                let (s, i) = (store.clone(), index.clone());
                let since = unwatched_since - RESYNC_OVERLAP;
                tokio::spawn(async move {
                    match resync_since(s.as_ref(), &i, since).await {
                        Ok(n) if n > 0 => {
                            tracing::info!(
                                stations = n,
                                "resync after (re)subscribing applied changes"
                            )
                        }
                        Ok(_) => {}
                        // The periodic resync covers this window too.
                        Err(e) => tracing::warn!(error = %e, "resync after (re)subscribing failed"),
                    }
                });
                let reason = loop {
                    match feed.next().await {
                        Some(Ok(id)) => {
                            tracing::debug!(id, "change notification");
                            if let Err(e) = reload_station(store.as_ref(), &index, id).await {
                                tracing::warn!(id, error = %e, "reloading a changed station failed");
                            }
                        }
                        Some(Err(e)) => break e.to_string(),
                        None => break "the connection was lost".to_string(),
                    }
                };
                tracing::warn!(reason, "change feed ended; resubscribing");
                status.set_feed(FeedState::Connecting);
                unwatched_since = Utc::now();
            }
            Err(e) => {
                failures += 1;
                // Once a second while the database is away: the first failure and then every
                // minute are enough in the log.
                if failures == 1 || failures.is_multiple_of(60) {
                    tracing::warn!(error = %e, failures, "cannot subscribe to the change feed; retrying");
                }
                status.set_feed(FeedState::Connecting);
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn periodic_resync(
    store: Arc<dyn Store>,
    index: Arc<StationIndex>,
    every: Duration,
    status: Arc<SyncStatus>,
) {
    let mut last = Utc::now();
    let mut tick = tokio::time::interval(every);
    // A run that waited out an unreachable database is not followed by a burst of catch-up runs.
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let started = Utc::now();
        match resync_since(store.as_ref(), &index, last - RESYNC_OVERLAP).await {
            Ok(n) => {
                if n > 0 {
                    tracing::info!(stations = n, "resync applied changes the feed had missed");
                }
                last = started;
                status.resynced(started);
            }
            // Keep `last`: the next run covers this window too.
            Err(e) => tracing::warn!(error = %e, "periodic resync failed"),
        }
    }
}
