//! Login throttling that slows guessing down without handing anyone a lock-out button.
//!
//! Failures are limited where the guesser is: per (login, client address) and per client
//! address across logins, each for [`FAILURE_WINDOW`]. What all addresses together may try on
//! one login is paced by an [`AccountGates`] token bucket: a burst, then one attempt every
//! [`ACCOUNT_INTERVAL`]. A refused attempt reserves the next free turn for its address, so an
//! address waiting its turn cannot be overtaken by others hammering the same login, and the
//! real user's wait is a few seconds per attacking address in line rather than a lock-out.
//! Addresses that logged in to a login recently skip its pacing altogether (staff at their
//! usual office or home address are not slowed by attacks on their account at all).
//!
//! Everything is in memory, per process, and bounded in size.

use super::{ceil_secs, RateLimiter, RATE_LIMITER_MAX_KEYS};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed logins allowed per (login, client address) within [`FAILURE_WINDOW`].
pub const FAILURES_PER_LOGIN_AND_ADDRESS: u32 = 5;
/// Failed logins allowed per client address, over all logins, within [`FAILURE_WINDOW`].
pub const FAILURES_PER_ADDRESS: u32 = 20;
/// The window the two failure limits count in.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Attempts on one login from all addresses together before pacing starts.
pub const ACCOUNT_BURST: u32 = 10;
/// Once paced, one attempt per login every this long (from any address).
pub const ACCOUNT_INTERVAL: Duration = Duration::from_secs(5);
/// Turns reserved at most per login; past that a refused address is told when the earliest
/// turn frees but gets none (memory stays bounded whatever the number of attackers).
pub const MAX_RESERVED_TURNS: usize = 64;
/// A reserved turn not taken this long after it came is given up.
pub const TURN_GRACE: Duration = Duration::from_secs(30);
/// How long a successful login exempts its (login, address) from the login's pacing.
pub const KNOWN_ADDRESS_FOR: Duration = Duration::from_secs(30 * 24 * 3600);

/// Which limit refused an attempt (for the log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Too many failures from this address, over all logins.
    Address,
    /// Too many failures on this login from this address.
    LoginAndAddress,
    /// The login is paced: too many attempts on it from everywhere.
    Login,
}

impl Limit {
    /// A short name for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Limit::Address => "address",
            Limit::LoginAndAddress => "login_and_address",
            Limit::Login => "login",
        }
    }
}

/// An attempt refused before the password was looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    /// Seconds until this address may try again.
    pub retry_after_s: u64,
    /// The limit that said no.
    pub limit: Limit,
}

/// The login limits of one process (see the module documentation).
pub struct LoginThrottle {
    by_address: RateLimiter<IpAddr>,
    by_login_and_address: RateLimiter<(String, IpAddr)>,
    by_login: AccountGates,
    known: RateLimiter<(String, IpAddr)>,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        Self {
            by_address: RateLimiter::new(FAILURES_PER_ADDRESS, FAILURE_WINDOW),
            by_login_and_address: RateLimiter::new(FAILURES_PER_LOGIN_AND_ADDRESS, FAILURE_WINDOW),
            by_login: AccountGates::new(ACCOUNT_BURST, ACCOUNT_INTERVAL),
            known: RateLimiter::new(1, KNOWN_ADDRESS_FOR),
        }
    }
}

impl LoginThrottle {
    /// Starts an attempt on `login` (normalised by [`login_key`]) from the address key `addr`
    /// (see [`super::ip_rate_key`]), or refuses it. The attempt is counted as a failure up
    /// front, so parallel guesses cannot exceed a quota; settle it with
    /// [`Attempt::failed`] or [`Attempt::succeeded`]. Dropped unsettled (the request ended
    /// before a verdict: shed, or a store error) it is not counted at all.
    pub fn begin(&self, login: &str, addr: IpAddr) -> Result<Attempt<'_>, Refused> {
        self.by_address.check(&addr).map_err(|s| Refused {
            retry_after_s: s,
            limit: Limit::Address,
        })?;
        let pair = (login.to_string(), addr);
        if let Err(s) = self.by_login_and_address.check(&pair) {
            self.by_address.refund(&addr);
            return Err(Refused {
                retry_after_s: s,
                limit: Limit::LoginAndAddress,
            });
        }
        let paced = !self.known.seen(&pair);
        if paced {
            if let Err(s) = self.by_login.enter(login, addr) {
                self.by_address.refund(&addr);
                self.by_login_and_address.refund(&pair);
                return Err(Refused {
                    retry_after_s: s,
                    limit: Limit::Login,
                });
            }
        }
        Ok(Attempt {
            throttle: self,
            pair,
            paced,
            settled: false,
        })
    }
}

/// The limiter key of a login name: what [`crate::domain::Login`] would normalise it to,
/// bounded in size even when it is not a valid login.
pub fn login_key(raw: &str) -> String {
    raw.trim()
        .chars()
        .take(80)
        .collect::<String>()
        .to_ascii_lowercase()
}

/// An attempt let through by [`LoginThrottle::begin`].
#[must_use = "settle the attempt with failed() or succeeded()"]
pub struct Attempt<'a> {
    throttle: &'a LoginThrottle,
    pair: (String, IpAddr),
    paced: bool,
    settled: bool,
}

impl Attempt<'_> {
    /// The password was wrong (or the account disabled): the attempt stays counted.
    pub fn failed(mut self) {
        self.settled = true;
    }

    /// The login succeeded: this address's failures on the login are forgotten, its attempt
    /// is given back to the address and the login, and the address is known from now on.
    pub fn succeeded(mut self) {
        self.settled = true;
        let t = self.throttle;
        t.by_address.refund(&self.pair.1);
        t.by_login_and_address.clear(&self.pair);
        if self.paced {
            t.by_login.give_back(&self.pair.0);
        }
        t.known.record(&self.pair);
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let t = self.throttle;
        t.by_address.refund(&self.pair.1);
        t.by_login_and_address.refund(&self.pair);
        if self.paced {
            t.by_login.give_back(&self.pair.0);
        }
    }
}

/// Per-login pacing: a token bucket of `burst` attempts refilled at one per `interval`,
/// shared by every address. When it is empty an address is given the next free turn
/// (one per address, at most [`MAX_RESERVED_TURNS`] per login) and told to come back then;
/// turns are handed out in order, so nobody can jump the line by asking more often.
pub struct AccountGates {
    burst: f64,
    interval: Duration,
    max_keys: usize,
    inner: Mutex<GatesState>,
}

struct GatesState {
    gates: HashMap<String, Gate>,
    last_prune: Instant,
}

/// One login's bucket. `tokens` goes below zero by the turns reserved ahead of time.
struct Gate {
    tokens: f64,
    at: Instant,
    turns: Vec<(IpAddr, Instant)>,
}

impl Gate {
    fn refill(&mut self, now: Instant, burst: f64, interval: Duration) {
        let elapsed = now.saturating_duration_since(self.at);
        self.tokens = (self.tokens + elapsed.as_secs_f64() / interval.as_secs_f64()).min(burst);
        self.at = now;
        self.turns.retain(|(_, turn)| *turn + TURN_GRACE > now);
    }

    fn idle(&self, burst: f64) -> bool {
        self.tokens >= burst && self.turns.is_empty()
    }
}

impl AccountGates {
    /// `burst` attempts per login at once, then one per `interval`.
    pub fn new(burst: u32, interval: Duration) -> Self {
        Self::with_max_keys(burst, interval, RATE_LIMITER_MAX_KEYS)
    }

    /// Same, holding at most `max_keys` logins (the one untouched longest goes first).
    pub fn with_max_keys(burst: u32, interval: Duration, max_keys: usize) -> Self {
        Self {
            burst: f64::from(burst.max(1)),
            interval: interval.max(Duration::from_millis(1)),
            max_keys: max_keys.max(1),
            inner: Mutex::new(GatesState {
                gates: HashMap::new(),
                last_prune: Instant::now(),
            }),
        }
    }

    /// Takes one attempt on `login` for `addr`, or `Err(seconds)` until its turn.
    pub fn enter(&self, login: &str, addr: IpAddr) -> Result<(), u64> {
        self.enter_at(login, addr, Instant::now())
    }

    /// Gives back an attempt taken by [`enter`](Self::enter) that was no guess (it succeeded,
    /// or never reached the password check).
    pub fn give_back(&self, login: &str) {
        let burst = self.burst;
        if let Some(g) = self.lock().gates.get_mut(login) {
            g.tokens = (g.tokens + 1.0).min(burst);
        }
    }

    /// Number of logins currently held.
    pub fn len(&self) -> usize {
        self.lock().gates.len()
    }

    /// Whether no login is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, GatesState> {
        // Only counters and instants are behind the lock: still usable after a panic.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn enter_at(&self, login: &str, addr: IpAddr, now: Instant) -> Result<(), u64> {
        let (burst, interval) = (self.burst, self.interval);
        let mut st = self.lock();
        self.maybe_prune(&mut st, now);
        if !st.gates.contains_key(login) {
            self.make_room(&mut st, now);
            st.gates.insert(
                login.to_string(),
                Gate {
                    tokens: burst,
                    at: now,
                    turns: Vec::new(),
                },
            );
        }
        let Some(gate) = st.gates.get_mut(login) else {
            return Ok(());
        };
        gate.refill(now, burst, interval);
        if let Some(i) = gate.turns.iter().position(|(a, _)| *a == addr) {
            let turn = gate.turns[i].1;
            if turn <= now {
                // Its token was taken when the turn was reserved.
                gate.turns.swap_remove(i);
                return Ok(());
            }
            return Err(ceil_secs(turn - now));
        }
        if gate.tokens >= 1.0 {
            gate.tokens -= 1.0;
            return Ok(());
        }
        if gate.turns.len() < MAX_RESERVED_TURNS {
            gate.tokens -= 1.0;
            // The turn comes when the refill has paid this token back.
            let turn = now + interval.mul_f64(-gate.tokens);
            gate.turns.push((addr, turn));
            return Err(ceil_secs(turn - now));
        }
        let earliest = gate.turns.iter().map(|(_, t)| *t).min().unwrap_or(now);
        Err(ceil_secs(earliest.saturating_duration_since(now)))
    }

    /// Drops idle gates (full and without turns) at least once a minute.
    fn maybe_prune(&self, st: &mut GatesState, now: Instant) {
        if now.saturating_duration_since(st.last_prune) >= Duration::from_secs(60) {
            self.prune(st, now);
        }
    }

    fn prune(&self, st: &mut GatesState, now: Instant) {
        let (burst, interval) = (self.burst, self.interval);
        st.gates.retain(|_, g| {
            g.refill(now, burst, interval);
            !g.idle(burst)
        });
        st.last_prune = now;
    }

    /// Frees a slot for a new login when the map is full: idle gates first, else the gate
    /// touched longest ago (its login starts over with a full burst).
    fn make_room(&self, st: &mut GatesState, now: Instant) {
        if st.gates.len() < self.max_keys {
            return;
        }
        self.prune(st, now);
        if st.gates.len() >= self.max_keys {
            let stalest = st
                .gates
                .iter()
                .min_by_key(|(_, g)| g.at)
                .map(|(k, _)| k.clone());
            if let Some(k) = stalest {
                st.gates.remove(&k);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([198, 51, 100, n])
    }

    #[test]
    fn a_login_is_paced_after_its_burst_not_locked() {
        let g = AccountGates::new(3, Duration::from_secs(5));
        let t0 = Instant::now();
        for n in 0..3 {
            assert_eq!(g.enter_at("admin", ip(n), t0), Ok(()));
        }
        // Empty: the next address gets the next turn, 5 s away, the one after it 10 s.
        assert_eq!(g.enter_at("admin", ip(10), t0), Err(5));
        assert_eq!(g.enter_at("admin", ip(11), t0), Err(10));
        // Asking again does not move a turn, nor take another.
        assert_eq!(
            g.enter_at("admin", ip(10), t0 + Duration::from_secs(1)),
            Err(4)
        );
        // Hammering from elsewhere cannot take a reserved turn: it gets a later one.
        assert_eq!(
            g.enter_at("admin", ip(12), t0 + Duration::from_secs(5)),
            Err(10)
        );
        assert_eq!(
            g.enter_at("admin", ip(10), t0 + Duration::from_secs(5)),
            Ok(())
        );
        assert_eq!(
            g.enter_at("admin", ip(11), t0 + Duration::from_secs(10)),
            Ok(())
        );
        // Other logins are not affected.
        assert_eq!(g.enter_at("mgr", ip(10), t0), Ok(()));
    }

    #[test]
    fn given_back_attempts_and_time_refill_the_bucket() {
        let g = AccountGates::new(2, Duration::from_secs(5));
        let t0 = Instant::now();
        assert_eq!(g.enter_at("a", ip(1), t0), Ok(()));
        assert_eq!(g.enter_at("a", ip(1), t0), Ok(()));
        assert!(g.enter_at("a", ip(2), t0).is_err());
        g.give_back("a");
        g.give_back("a");
        // One token back (the reserved turn still owes one); ip(3) may go now.
        assert_eq!(g.enter_at("a", ip(3), t0), Ok(()));
        // Long after, the bucket is full again (and never more than full).
        let later = t0 + Duration::from_secs(3600);
        assert_eq!(g.enter_at("a", ip(4), later), Ok(()));
        assert_eq!(g.enter_at("a", ip(4), later), Ok(()));
        assert!(g.enter_at("a", ip(4), later).is_err());
    }

    #[test]
    fn turns_are_bounded_and_expire() {
        let g = AccountGates::new(1, Duration::from_secs(1));
        let t0 = Instant::now();
        assert_eq!(g.enter_at("a", ip(0), t0), Ok(()));
        for n in 1..=MAX_RESERVED_TURNS {
            assert_eq!(g.enter_at("a", ip(n as u8), t0), Err(n as u64));
        }
        // Past the cap: told when the earliest turn comes, but given none.
        assert_eq!(g.enter_at("a", ip(250), t0), Err(1));
        // A turn not taken within the grace is dropped.
        let late = t0 + Duration::from_secs(MAX_RESERVED_TURNS as u64) + TURN_GRACE;
        assert!(g.lock().gates["a"].turns.len() == MAX_RESERVED_TURNS);
        let _ = g.enter_at("a", ip(251), late);
        assert!(g.lock().gates["a"].turns.len() <= 1);
    }

    #[test]
    fn gates_memory_stays_bounded() {
        let g = AccountGates::with_max_keys(2, Duration::from_secs(5), 50);
        let t0 = Instant::now();
        for n in 0..1000u32 {
            let _ = g.enter_at(&format!("login{n}"), ip(1), t0);
        }
        assert!(g.len() <= 50);
        // Untouched gates refill and are pruned.
        let _ = g.enter_at("fresh", ip(1), t0 + Duration::from_secs(120));
        assert_eq!(g.len(), 1);
    }

    #[test]
    fn throttle_limits_the_address_not_the_login() {
        let t = LoginThrottle::default();
        let attacker = ip(66);
        for _ in 0..FAILURES_PER_LOGIN_AND_ADDRESS {
            t.begin("admin", attacker).unwrap().failed();
        }
        let refused = t.begin("admin", attacker).err().unwrap();
        assert_eq!(refused.limit, Limit::LoginAndAddress);
        assert!(refused.retry_after_s > 60, "{refused:?}");
        // The real user elsewhere is not refused, and a success clears nothing of the attacker.
        t.begin("admin", ip(7)).unwrap().succeeded();
        assert!(t.begin("admin", attacker).is_err());
    }

    #[test]
    fn unsettled_attempts_are_not_counted_and_successes_are_given_back() {
        let t = LoginThrottle::default();
        for _ in 0..(FAILURES_PER_ADDRESS * 2) {
            drop(t.begin("mgr", ip(1)).unwrap());
            t.begin("mgr", ip(1)).unwrap().succeeded();
        }
        // A spray over many logins from one address hits the address limit.
        for n in 0..FAILURES_PER_ADDRESS {
            t.begin(&format!("spray{n}"), ip(2)).unwrap().failed();
        }
        let refused = t.begin("mgr", ip(2)).err().unwrap();
        assert_eq!(refused.limit, Limit::Address);
    }

    #[test]
    fn a_known_address_skips_the_pacing_of_an_attacked_login() {
        let t = LoginThrottle::default();
        t.begin("admin", ip(1)).unwrap().succeeded();
        // Many addresses fail on admin until it is paced.
        let mut n = 100;
        while t.begin("admin", ip(n)).map(Attempt::failed).is_ok() {
            n += 1;
        }
        assert_eq!(n - 100, ACCOUNT_BURST as u8);
        let refused = t.begin("admin", ip(n + 1)).err().unwrap();
        assert_eq!(refused.limit, Limit::Login);
        assert!(refused.retry_after_s <= 2 * ACCOUNT_INTERVAL.as_secs());
        // The address the user logged in from before goes straight through.
        t.begin("admin", ip(1)).unwrap().succeeded();
    }

    #[test]
    fn login_keys_fold_case_and_are_bounded() {
        assert_eq!(login_key("  Zhang.Wei "), "zhang.wei");
        assert_eq!(login_key(&"x".repeat(10_000)).len(), 80);
    }
}
