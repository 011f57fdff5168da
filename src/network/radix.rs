//! A radix heap: a monotone priority queue over `u64` keys.
//!
//! Dijkstra-like searches never push a key smaller than the last one popped (arc weights are
//! non-negative), which is all a radix heap needs. Items live in 65 buckets by the highest bit
//! in which their key differs from the last popped key; a pop empties the lowest non-empty
//! bucket into lower ones. Each item moves down at most 64 times and in practice once or
//! twice, and no comparison tree is kept: for the labelling's millions of pushes this is
//! about twice as fast as a binary heap of the same keys.

/// A min-queue of `(key, value)` items whose pushes are never below the last popped key.
#[derive(Debug, Clone)]
pub struct RadixHeap<V = u32> {
    buckets: Vec<Vec<(u64, V)>>,
    last: u64,
    len: usize,
}

impl<V: Copy> Default for RadixHeap<V> {
    fn default() -> Self {
        Self::new()
    }
}

#[inline]
fn bucket(key: u64, last: u64) -> usize {
    (64 - (key ^ last).leading_zeros()) as usize
}

impl<V: Copy> RadixHeap<V> {
    /// An empty heap.
    pub fn new() -> Self {
        Self {
            buckets: (0..65).map(|_| Vec::new()).collect(),
            last: 0,
            len: 0,
        }
    }

    /// Number of items held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no item is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds an item.
    ///
    /// # Panics
    /// In debug builds, when `key` is below the last popped key (the heap's one precondition).
    #[inline]
    pub fn push(&mut self, key: u64, value: V) {
        debug_assert!(
            key >= self.last,
            "radix heap: key {key} below {}",
            self.last
        );
        self.buckets[bucket(key, self.last)].push((key, value));
        self.len += 1;
    }

    /// Moves the lowest non-empty bucket's items into bucket 0, which then holds exactly the
    /// items with the least key; `false` when the heap is empty.
    fn refill(&mut self) -> bool {
        if self.len == 0 {
            return false;
        }
        if self.buckets[0].is_empty() {
            let Some(i) = self.buckets.iter().position(|b| !b.is_empty()) else {
                return false;
            };
            let Some(min) = self.buckets[i].iter().map(|&(k, _)| k).min() else {
                return false;
            };
            self.last = min;
            let mut items = std::mem::take(&mut self.buckets[i]);
            for &(k, v) in &items {
                self.buckets[bucket(k, min)].push((k, v));
            }
            // Keep the emptied bucket's allocation for later refills.
            items.clear();
            self.buckets[i] = items;
        }
        true
    }

    /// Removes an item with the least key (among equal keys, any).
    pub fn pop(&mut self) -> Option<(u64, V)> {
        if !self.refill() {
            return None;
        }
        self.len -= 1;
        self.buckets[0].pop()
    }

    /// Moves every item with the least key into `batch` (cleared first), for a caller that
    /// processes them together (e.g. prefetching the memory of items ahead). Items pushed
    /// meanwhile with that same key come in the next batch. `false` when the heap is empty.
    pub fn pop_batch(&mut self, batch: &mut Vec<(u64, V)>) -> bool {
        batch.clear();
        if !self.refill() {
            return false;
        }
        std::mem::swap(batch, &mut self.buckets[0]);
        self.len -= batch.len();
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;

    proptest! {
        /// Interleaved pushes (at or above the last popped key, sometimes far above it, so
        /// that high bits differ) and pops give the keys a binary heap gives.
        #[test]
        fn pops_like_a_binary_heap(ops in proptest::collection::vec((any::<bool>(), 0u64..1_000, 0u32..40), 0..400)) {
            let mut radix = RadixHeap::new();
            let mut binary = BinaryHeap::new();
            let mut last = 0u64;
            for (pop, delta, shift) in ops {
                if pop {
                    let got = radix.pop().map(|(k, _)| k);
                    prop_assert_eq!(got, binary.pop().map(|Reverse(k)| k));
                    if let Some(k) = got {
                        last = k;
                    }
                } else {
                    let key = last + (delta << shift);
                    radix.push(key, 7);
                    binary.push(Reverse(key));
                }
                prop_assert_eq!(radix.len(), binary.len());
            }
            while let Some((k, _)) = radix.pop() {
                prop_assert_eq!(Some(k), binary.pop().map(|Reverse(k)| k));
            }
            prop_assert!(binary.is_empty());
        }
    }

    #[test]
    fn batches_hold_exactly_the_least_key() {
        let mut h = RadixHeap::new();
        for (k, v) in [(5, 'a'), (3, 'b'), (5, 'c'), (3, 'd'), (9, 'e')] {
            h.push(k, v);
        }
        let mut batch = Vec::new();
        assert!(h.pop_batch(&mut batch));
        let mut got: Vec<_> = batch.clone();
        got.sort_unstable();
        assert_eq!(got, vec![(3, 'b'), (3, 'd')]);
        // A push at the batch's key (a zero-weight arc) comes in the next batch.
        h.push(3, 'f');
        assert!(h.pop_batch(&mut batch));
        assert_eq!(batch, vec![(3, 'f')]);
        assert!(h.pop_batch(&mut batch));
        assert_eq!(batch.len(), 2);
        assert_eq!(h.pop(), Some((9, 'e')));
        assert!(!h.pop_batch(&mut batch));
        assert!(batch.is_empty() && h.is_empty());
    }

    #[test]
    fn equal_keys_all_come_out() {
        let mut h = RadixHeap::new();
        for v in 0..5 {
            h.push(10, v);
        }
        h.push(3, 9);
        assert_eq!(h.pop(), Some((3, 9)));
        let mut vs: Vec<u32> = std::iter::from_fn(|| {
            h.pop().map(|(k, v)| {
                assert_eq!(k, 10);
                v
            })
        })
        .collect();
        vs.sort_unstable();
        assert_eq!(vs, vec![0, 1, 2, 3, 4]);
        assert!(h.is_empty());
    }
}
