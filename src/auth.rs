//! Credentials: argon2 password hashes, random session tokens kept only as SHA-256, and an
//! in-memory rate limiter (reusable for any per-key quota).

/// The bounded queue in front of argon2: a flood of logins is shed, not queued.
pub mod hashing;
/// Brute-force protection for logins that gives nobody a button to lock an account out.
pub mod throttle;

use crate::domain::Invalid;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Shortest password accepted for new passwords.
pub const PASSWORD_MIN_CHARS: usize = 10;
/// Longest password accepted (argon2 takes any length; this only bounds the work per request).
pub const PASSWORD_MAX_CHARS: usize = 1024;

/// Checks a new password against the policy (length only: long passphrases beat rules).
pub fn check_password_policy(password: &str) -> Result<(), Invalid> {
    let n = password.chars().count();
    if n < PASSWORD_MIN_CHARS {
        return Err(Invalid::new(
            "weak_password",
            format!("a password needs at least {PASSWORD_MIN_CHARS} characters, got {n}"),
        ));
    }
    if n > PASSWORD_MAX_CHARS {
        return Err(Invalid::new(
            "invalid_password",
            format!("a password has at most {PASSWORD_MAX_CHARS} characters, got {n}"),
        ));
    }
    Ok(())
}

/// Hashes a password with argon2id (the crate's default parameters) into a PHC string.
/// CPU-heavy by design: call it from `spawn_blocking` in async code.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
}

/// Whether `password` matches the PHC string `phc`. A malformed hash never matches.
/// CPU-heavy by design: call it from `spawn_blocking` in async code.
pub fn verify_password(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(e) => {
            tracing::error!(error = %e, "a stored password hash does not parse");
            false
        }
    }
}

/// A hash of a random password nobody knows, with the same parameters as real ones: verifying
/// against it for an unknown login costs what a wrong password costs, so timing does not tell
/// which logins exist.
pub fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let mut secret = [0u8; 32];
        OsRng.fill_bytes(&mut secret);
        // Hashing cannot fail with default parameters and a fresh salt; fall back to a
        // well-formed hash of the same cost rather than panic.
        hash_password(&hex::encode(secret)).unwrap_or_else(|_| {
            "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$\
             0vD2E8CrhN0A4CV2d1UlbNz3dV0mE4nNn1Bz1O4pR7w"
                .to_string()
        })
    })
}

/// A new session token: 256 random bits from the OS, URL-safe base64 without padding (43 chars).
pub fn new_session_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// What the store keeps of a token: its SHA-256 in lower-case hex. A fast hash is enough
/// because the token has 256 bits of entropy (no dictionary to try).
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A short keyed hash of an attempted login name, for logs: attempts on one name can be told
/// apart from a spray over many, yet the log never holds the text, which is sometimes a
/// password typed into the wrong field. The key is random per process and never leaves it, so
/// nobody holding the log can test guesses against a tag (a plain hash could be reversed by
/// hashing a dictionary); tags change at restart.
pub fn log_tag(login: &str) -> String {
    static KEY: OnceLock<[u8; 32]> = OnceLock::new();
    let key = KEY.get_or_init(|| {
        let mut k = [0u8; 32];
        OsRng.fill_bytes(&mut k);
        k
    });
    // Any key length is valid for HMAC: this cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return String::new();
    };
    mac.update(login.as_bytes());
    // 48 bits: plenty to tell a few thousand names apart, too few to be worth attacking.
    hex::encode(&mac.finalize().into_bytes()[..6])
}

/// The key a client address is rate limited under: IPv4 addresses as they are, IPv6 ones by
/// their /64 (one subscriber's prefix, inside which addresses are free to rotate).
pub fn ip_rate_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(bits))
        }
        v4 => v4,
    }
}

/// Keys a limiter holds at most; past that, expired keys are pruned, then the stalest evicted.
pub const RATE_LIMITER_MAX_KEYS: usize = 100_000;

/// A keyed sliding-window limiter: at most `limit` events per key within `window`.
///
/// Memory is bounded: keys whose events have all expired are pruned at least once per window,
/// and at most [`RATE_LIMITER_MAX_KEYS`] keys are kept (the one idle longest goes first).
pub struct RateLimiter<K> {
    limit: usize,
    window: Duration,
    max_keys: usize,
    inner: Mutex<LimiterState<K>>,
}

struct LimiterState<K> {
    events: HashMap<K, VecDeque<Instant>>,
    last_prune: Instant,
}

impl<K: Eq + Hash + Clone> RateLimiter<K> {
    /// At most `limit` events per key in any `window`.
    pub fn new(limit: u32, window: Duration) -> Self {
        Self::with_max_keys(limit, window, RATE_LIMITER_MAX_KEYS)
    }

    /// Same, holding at most `max_keys` keys.
    pub fn with_max_keys(limit: u32, window: Duration, max_keys: usize) -> Self {
        Self {
            limit: limit.max(1) as usize,
            window,
            max_keys: max_keys.max(1),
            inner: Mutex::new(LimiterState {
                events: HashMap::new(),
                last_prune: Instant::now(),
            }),
        }
    }

    /// Counts one event for `key` if it is within quota; otherwise `Err(seconds)` until the
    /// next one would be (the refused event is not counted).
    pub fn check(&self, key: &K) -> Result<(), u64> {
        self.check_at(key, Instant::now(), true)
    }

    /// The verdict [`check`](Self::check) would give, without counting anything.
    pub fn peek(&self, key: &K) -> Result<(), u64> {
        self.check_at(key, Instant::now(), false)
    }

    /// Counts one event for `key` whatever the quota (e.g. a failed login).
    pub fn record(&self, key: &K) {
        self.record_at(key, Instant::now());
    }

    /// Takes back the newest event of `key` (e.g. an attempt counted up front that succeeded).
    pub fn refund(&self, key: &K) {
        let mut st = self.lock();
        if let Some(q) = st.events.get_mut(key) {
            q.pop_back();
            if q.is_empty() {
                st.events.remove(key);
            }
        }
    }

    /// Whether `key` has any event within the window.
    pub fn seen(&self, key: &K) -> bool {
        let now = Instant::now();
        let mut st = self.lock();
        let Some(q) = st.events.get_mut(key) else {
            return false;
        };
        expire(q, now, self.window);
        !q.is_empty()
    }

    /// Forgets `key` (e.g. its failures after a successful login).
    pub fn clear(&self, key: &K) {
        self.lock().events.remove(key);
    }

    /// Number of keys currently held.
    pub fn len(&self) -> usize {
        self.lock().events.len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LimiterState<K>> {
        // A panic while holding the lock leaves only timestamps behind: still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn check_at(&self, key: &K, now: Instant, count: bool) -> Result<(), u64> {
        let mut st = self.lock();
        self.maybe_prune(&mut st, now);
        if let Some(q) = st.events.get_mut(key) {
            expire(q, now, self.window);
            if q.len() >= self.limit {
                let oldest = q[q.len() - self.limit];
                let wait = (oldest + self.window).saturating_duration_since(now);
                return Err(ceil_secs(wait));
            }
            if count {
                q.push_back(now);
            }
            return Ok(());
        }
        if count {
            self.insert(&mut st, key.clone(), now);
        }
        Ok(())
    }

    fn record_at(&self, key: &K, now: Instant) {
        let mut st = self.lock();
        self.maybe_prune(&mut st, now);
        if let Some(q) = st.events.get_mut(key) {
            expire(q, now, self.window);
            q.push_back(now);
            // Only the newest `limit` events matter to any verdict.
            while q.len() > self.limit {
                q.pop_front();
            }
        } else {
            self.insert(&mut st, key.clone(), now);
        }
    }

    fn insert(&self, st: &mut LimiterState<K>, key: K, now: Instant) {
        if st.events.len() >= self.max_keys {
            self.prune(st, now);
        }
        if st.events.len() >= self.max_keys {
            let stalest = st
                .events
                .iter()
                .min_by_key(|(_, q)| q.back().copied())
                .map(|(k, _)| k.clone());
            if let Some(k) = stalest {
                st.events.remove(&k);
            }
        }
        st.events.insert(key, VecDeque::from([now]));
    }

    fn maybe_prune(&self, st: &mut LimiterState<K>, now: Instant) {
        if now.saturating_duration_since(st.last_prune) >= self.window {
            self.prune(st, now);
        }
    }

    fn prune(&self, st: &mut LimiterState<K>, now: Instant) {
        let window = self.window;
        st.events.retain(|_, q| {
            expire(q, now, window);
            !q.is_empty()
        });
        st.last_prune = now;
    }
}

fn expire(q: &mut VecDeque<Instant>, now: Instant, window: Duration) {
    while q
        .front()
        .is_some_and(|t| now.saturating_duration_since(*t) >= window)
    {
        q.pop_front();
    }
}

/// Whole seconds to wait for `d` (at least 1: a `Retry-After: 0` invites a busy loop).
pub(crate) fn ceil_secs(d: Duration) -> u64 {
    let s = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    s.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_with_the_right_secret() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("correct horse batterY", &h));
        assert!(!verify_password("anything", "not a phc string"));
        assert!(!verify_password("anything", dummy_hash()));
    }

    #[test]
    fn tokens_are_256_bit_and_stored_hashed() {
        let a = new_session_token();
        let b = new_session_token();
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        let h = token_hash(&a);
        assert_eq!(h.len(), 64);
        assert_eq!(h, token_hash(&a));
        assert_ne!(h, token_hash(&b));
    }

    #[test]
    fn ipv6_clients_are_limited_by_their_64_prefix() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(ip_rate_key(a), ip_rate_key(b));
        assert_ne!(ip_rate_key(a), ip_rate_key(c));
        let mapped: IpAddr = "::ffff:203.0.113.7".parse().unwrap();
        assert_eq!(
            ip_rate_key(mapped),
            "203.0.113.7".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn log_tags_are_stable_short_and_not_the_name() {
        let a = log_tag("admin");
        assert_eq!(a, log_tag("admin"));
        assert_ne!(a, log_tag("admin2"));
        assert_eq!(a.len(), 12);
        assert!(!a.contains("admin"));
        // Not the plain SHA-256 either, which a dictionary would reverse.
        assert!(!hex::encode(Sha256::digest(b"admin")).starts_with(&a));
    }

    #[test]
    fn password_policy_wants_ten_characters() {
        assert!(check_password_policy("short").is_err());
        assert!(check_password_policy("十个汉字也是足够长的密码").is_ok());
        assert!(check_password_policy("0123456789").is_ok());
    }

    #[test]
    fn limiter_refuses_past_the_quota_and_frees_after_the_window() {
        let l = RateLimiter::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        for i in 0..3 {
            assert_eq!(l.check_at(&"a", t0 + Duration::from_secs(i), true), Ok(()));
        }
        assert_eq!(
            l.check_at(&"a", t0 + Duration::from_secs(10), true),
            Err(50)
        );
        assert_eq!(l.check_at(&"b", t0 + Duration::from_secs(10), true), Ok(()));
        // The first event leaves the window at 60 s: one slot frees.
        assert_eq!(l.check_at(&"a", t0 + Duration::from_secs(60), true), Ok(()));
        assert!(l
            .check_at(&"a", t0 + Duration::from_secs(60), true)
            .is_err());
    }

    #[test]
    fn peek_does_not_count_and_record_always_does() {
        let l = RateLimiter::new(2, Duration::from_secs(60));
        let t0 = Instant::now();
        for _ in 0..5 {
            assert!(l.check_at(&1, t0, false).is_ok());
        }
        l.record_at(&1, t0);
        l.record_at(&1, t0);
        l.record_at(&1, t0);
        assert_eq!(l.check_at(&1, t0, false), Err(60));
        l.clear(&1);
        assert!(l.check_at(&1, t0, false).is_ok());
        assert!(l.check_at(&1, t0, true).is_ok());
        assert!(l.check_at(&1, t0, true).is_ok());
        assert!(l.check_at(&1, t0, false).is_err());
        l.refund(&1);
        assert!(l.check_at(&1, t0, false).is_ok());
        l.refund(&1);
        assert!(l.is_empty());
        assert!(!l.seen(&1));
        l.record(&1);
        assert!(l.seen(&1));
    }

    #[test]
    fn limiter_memory_stays_bounded() {
        let l = RateLimiter::with_max_keys(5, Duration::from_secs(60), 100);
        let t0 = Instant::now();
        for k in 0..1000u32 {
            let _ = l.check_at(&k, t0 + Duration::from_millis(k as u64), true);
        }
        assert!(l.len() <= 100);
        // The newest key survived the evictions.
        assert!(l.lock().events.contains_key(&999));
        // After a window everything expired is pruned on the next call.
        let _ = l.check_at(&5000, t0 + Duration::from_secs(120), true);
        assert_eq!(l.len(), 1);
    }
}
