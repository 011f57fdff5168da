//! Coverage results and grids kept between requests: a grid per (region, resolution), a result
//! per (region, parameters, travel model, station data version, demand version). A change of
//! stations bumps the data version, so stale results are never served; the oldest entries go
//! first when a cache is full.

use std::collections::VecDeque;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

/// A small map that forgets its oldest entry past `capacity`.
pub struct Lru<K, V> {
    capacity: usize,
    entries: Mutex<VecDeque<(K, Arc<V>)>>,
}

impl<K: Eq + Hash + Clone, V> Lru<K, V> {
    /// An empty cache holding at most `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            entries: Mutex::new(VecDeque::new()),
        }
    }

    /// The entry for `key`, made fresh by the lookup.
    pub fn get(&self, key: &K) -> Option<Arc<V>> {
        let mut e = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let at = e.iter().position(|(k, _)| k == key)?;
        let hit = e.remove(at)?;
        let v = hit.1.clone();
        e.push_back(hit);
        Some(v)
    }

    /// Stores `value` under `key`, dropping the oldest entry when full.
    pub fn put(&self, key: K, value: Arc<V>) {
        let mut e = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        e.retain(|(k, _)| k != &key);
        e.push_back((key, value));
        while e.len() > self.capacity {
            e.pop_front();
        }
    }

    /// Forgets every entry.
    pub fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}
