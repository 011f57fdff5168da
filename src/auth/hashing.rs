//! The queue in front of argon2. A password check holds ~19 MiB and a core for tens of
//! milliseconds, so checks run on at most `workers` blocking threads at once; at most
//! `max_waiting` more requests may wait for one, and each client address may have only one
//! login in the queue. Everything past that is shed at once (the caller answers 503 with
//! `Retry-After`): a flood of logins costs bounded memory and CPU and never builds a line the
//! real staff would wait at the end of.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;

/// Logins allowed to wait for a free hashing worker, beyond those being checked.
pub const MAX_WAITING: usize = 32;

/// Why a login was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shed {
    /// The queue is full.
    Full,
    /// This client address already has a login in the queue.
    AddressBusy,
}

/// Admission to the password checks (see the module documentation).
pub struct HashingQueue {
    workers: Arc<Semaphore>,
    capacity: usize,
    state: Mutex<QueueState>,
}

struct QueueState {
    queued: usize,
    addresses: HashSet<IpAddr>,
}

impl HashingQueue {
    /// At most `workers` checks at once and `max_waiting` more waiting.
    pub fn new(workers: usize, max_waiting: usize) -> Self {
        let workers = workers.max(1);
        Self {
            workers: Arc::new(Semaphore::new(workers)),
            capacity: workers + max_waiting,
            state: Mutex::new(QueueState {
                queued: 0,
                addresses: HashSet::new(),
            }),
        }
    }

    /// One worker per core: more in parallel adds memory and latency, not throughput.
    pub fn per_core() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self::new(cores, MAX_WAITING)
    }

    /// A place in the queue for the address key `addr`, or why there is none. Cheap and
    /// immediate: nothing here waits.
    pub fn admit(&self, addr: IpAddr) -> Result<Place<'_>, Shed> {
        let mut st = self.lock();
        if st.queued >= self.capacity {
            return Err(Shed::Full);
        }
        if !st.addresses.insert(addr) {
            return Err(Shed::AddressBusy);
        }
        st.queued += 1;
        Ok(Place { queue: self, addr })
    }

    /// Logins in the queue now, being checked or waiting.
    pub fn queued(&self) -> usize {
        self.lock().queued
    }

    /// The most logins the queue holds at once.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState> {
        // A count and a set of addresses: still consistent after a panic elsewhere.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A login's place in the queue; leaving it (drop) frees the place and the address.
pub struct Place<'a> {
    queue: &'a HashingQueue,
    addr: IpAddr,
}

impl Place<'_> {
    /// Waits for a worker, then runs `check` on the blocking pool. The worker is held by the
    /// blocking task itself, so a client that hangs up cannot free it before the CPU is.
    pub async fn run<T, F>(&self, check: F) -> anyhow::Result<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let worker = self
            .queue
            .workers
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| anyhow::anyhow!("the hashing workers are closed: {e}"))?;
        tokio::task::spawn_blocking(move || {
            let out = check();
            drop(worker);
            out
        })
        .await
        .map_err(|e| anyhow::anyhow!("a password check stopped: {e}"))
    }
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        let mut st = self.queue.lock();
        st.queued -= 1;
        st.addresses.remove(&self.addr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, n])
    }

    #[test]
    fn the_queue_sheds_past_its_capacity_and_one_per_address() {
        let q = HashingQueue::new(2, 3);
        let places: Vec<_> = (0..5).map(|n| q.admit(ip(n)).unwrap()).collect();
        assert_eq!(q.queued(), 5);
        assert_eq!(q.admit(ip(9)).err(), Some(Shed::Full));
        drop(places);
        let first = q.admit(ip(1)).unwrap();
        assert_eq!(q.admit(ip(1)).err(), Some(Shed::AddressBusy));
        drop(first);
        assert!(q.admit(ip(1)).is_ok());
        assert_eq!(q.queued(), 0);
    }

    #[tokio::test]
    async fn no_more_checks_run_at_once_than_workers() {
        let q = Arc::new(HashingQueue::new(2, 10));
        let running = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let most = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let tasks = (0..8).map(|n| {
            let (q, running, most) = (q.clone(), running.clone(), most.clone());
            tokio::spawn(async move {
                let place = q.admit(ip(n)).unwrap();
                place
                    .run(move || {
                        use std::sync::atomic::Ordering::SeqCst;
                        let now = running.fetch_add(1, SeqCst) + 1;
                        most.fetch_max(now, SeqCst);
                        std::thread::sleep(Duration::from_millis(20));
                        running.fetch_sub(1, SeqCst);
                    })
                    .await
                    .unwrap();
            })
        });
        for t in futures::future::join_all(tasks).await {
            t.unwrap();
        }
        assert_eq!(most.load(std::sync::atomic::Ordering::SeqCst), 2);
        assert_eq!(q.queued(), 0);
    }
}
