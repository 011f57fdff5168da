//! Keeping the index in step with writes made by other processes: the store's change feed
//! (PostgreSQL LISTEN/NOTIFY) reloads changed stations by id within moments, and a periodic
//! resync of recently changed rows heals anything a lost notification missed.

use crate::domain::StationState;
use crate::index::StationIndex;
use crate::store::Store;
use chrono::Utc;
use futures::StreamExt;
use std::sync::Arc;
use std::time::Duration;

/// How far back each resync looks beyond its previous run, to absorb clock skew between the
/// database and this process and transactions that committed late.
const RESYNC_OVERLAP: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

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

/// Starts the background tasks that follow other writers.
pub fn spawn(store: Arc<dyn Store>, index: Arc<StationIndex>, resync_every: Duration) {
    tokio::spawn(follow_feed(store.clone(), index.clone()));
    tokio::spawn(periodic_resync(store, index, resync_every));
}

async fn follow_feed(store: Arc<dyn Store>, index: Arc<StationIndex>) {
    loop {
        match store.subscribe_changes().await {
            Ok(None) => return,
            Ok(Some(mut feed)) => {
                tracing::debug!("following the change feed");
                // Changes made while we were not listening are healed beside the feed, which
                // must not wait for it.
                let (s, i) = (store.clone(), index.clone());
                tokio::spawn(async move {
                    if let Err(e) = resync_since(s.as_ref(), &i, Utc::now() - RESYNC_OVERLAP).await
                    {
                        tracing::warn!(error = %e, "resync after (re)subscribing failed");
                    }
                });
                while let Some(item) = feed.next().await {
                    match item {
                        Ok(id) => {
                            tracing::debug!(id, "change notification");
                            if let Err(e) = reload_station(store.as_ref(), &index, id).await {
                                tracing::warn!(id, error = %e, "reloading a changed station failed");
                            }
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "change feed broke; resubscribing");
                            break;
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot subscribe to the change feed; retrying"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn periodic_resync(store: Arc<dyn Store>, index: Arc<StationIndex>, every: Duration) {
    let mut last = Utc::now();
    let mut tick = tokio::time::interval(every);
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
            }
            // Keep `last`: the next run covers this window too.
            Err(e) => tracing::warn!(error = %e, "periodic resync failed"),
        }
    }
}
