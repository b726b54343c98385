//! The login throttle: per-email counts of recent failed logins, so password
//! guessing against one account is refused after [`MAX_LOGIN_FAILURES`]
//! failures in [`LOGIN_FAILURE_WINDOW_MS`]. Memory only (see [`LoginThrottle`]
//! for why); the accounts actor owns one and consults it on every login.
//!
//! [`LoginTurns`] makes the logins of one account take turns, so that the
//! throttle's check, the password verification and the failure count act as
//! one step (see [`LoginTurns::take`] for why). The registry owns one; the
//! login operation (`super::Registry::login`) holds a turn throughout.

use boxoffice_engine::Timestamp;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use tokio::sync::OwnedMutexGuard;

use super::model::{normalize_email, MAX_EMAIL_LEN};

/// Failed logins within [`LOGIN_FAILURE_WINDOW_MS`] after which an account's
/// logins are refused until the oldest of them leaves the window.
pub const MAX_LOGIN_FAILURES: usize = 10;
/// The sliding window failed logins are counted in: 15 minutes.
pub const LOGIN_FAILURE_WINDOW_MS: i64 = 15 * 60 * 1_000;
/// Most emails whose failures are tracked at once; past it the email whose
/// last failure is oldest is forgotten, so a spray over many addresses cannot
/// grow memory without end.
pub const MAX_TRACKED_LOGIN_EMAILS: usize = 100_000;

/// Per-account failed-login counts, in memory only.
///
/// Not logged, on purpose: a failed login is not a change anyone was promised
/// would survive, logging every one would let an attacker turn password
/// guessing into disk writes, and a restart forgetting at most 15 minutes of
/// failures costs little (the window is short and restarts are rare).
#[derive(Debug)]
pub struct LoginThrottle {
    trails: HashMap<String, FailureTrail>,
    /// Eviction order: `(last failure, insertion sequence)` → email.
    by_last_failure: BTreeMap<(Timestamp, u64), String>,
    next_sequence: u64,
    capacity: usize,
}

#[derive(Debug)]
struct FailureTrail {
    /// The latest failures, oldest first; never more than `MAX_LOGIN_FAILURES`.
    failures: VecDeque<Timestamp>,
    /// This trail's key in `by_last_failure`.
    order_key: (Timestamp, u64),
}

impl Default for LoginThrottle {
    fn default() -> Self {
        LoginThrottle::with_capacity(MAX_TRACKED_LOGIN_EMAILS)
    }
}

impl LoginThrottle {
    pub fn with_capacity(capacity: usize) -> Self {
        assert!(
            capacity > 0,
            "a login throttle must track at least one email"
        );
        LoginThrottle {
            trails: HashMap::new(),
            by_last_failure: BTreeMap::new(),
            next_sequence: 0,
            capacity,
        }
    }

    /// Emails currently tracked.
    pub fn tracked(&self) -> usize {
        debug_assert_eq!(self.trails.len(), self.by_last_failure.len());
        self.trails.len()
    }

    /// `Err(seconds to wait)` when `email` has `MAX_LOGIN_FAILURES` failures in the window.
    pub fn check(&mut self, email: &str, now: Timestamp) -> Result<(), u64> {
        let Some(trail) = self.trails.get_mut(email) else {
            return Ok(());
        };
        trail.forget_before(now);
        if trail.failures.is_empty() {
            self.forget(email);
            return Ok(());
        }
        if trail.failures.len() < MAX_LOGIN_FAILURES {
            return Ok(());
        }
        let oldest = trail.failures[0];
        let wait_ms = oldest
            .plus_millis(LOGIN_FAILURE_WINDOW_MS)
            .millis_since(now)
            .max(1);
        // Round up: a client retrying after the advertised wait must get in.
        Err((wait_ms as u64).div_ceil(1_000))
    }

    /// Counts one failure. Emails longer than any account's are not tracked:
    /// they can never log in, so there is nothing to protect, and tracking them
    /// would let huge strings fill the table.
    pub fn record_failure(&mut self, email: &str, now: Timestamp) {
        if email.len() > MAX_EMAIL_LEN {
            return;
        }
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        let order_key = (now, sequence);
        if let Some(trail) = self.trails.get_mut(email) {
            self.by_last_failure.remove(&trail.order_key);
            trail.forget_before(now);
            trail.failures.push_back(now);
            while trail.failures.len() > MAX_LOGIN_FAILURES {
                trail.failures.pop_front();
            }
            trail.order_key = order_key;
        } else {
            if self.trails.len() >= self.capacity {
                if let Some((_, evicted)) = self.by_last_failure.pop_first() {
                    self.trails.remove(&evicted);
                }
            }
            self.trails.insert(
                email.to_string(),
                FailureTrail {
                    failures: VecDeque::from([now]),
                    order_key,
                },
            );
        }
        self.by_last_failure.insert(order_key, email.to_string());
        debug_assert!(self.trails.len() <= self.capacity);
    }

    /// Forgets an email's failures (a successful login).
    pub fn forget(&mut self, email: &str) {
        if let Some(trail) = self.trails.remove(email) {
            self.by_last_failure.remove(&trail.order_key);
        }
    }
}

impl FailureTrail {
    fn forget_before(&mut self, now: Timestamp) {
        while let Some(&oldest) = self.failures.front() {
            if now.millis_since(oldest) < LOGIN_FAILURE_WINDOW_MS {
                break;
            }
            self.failures.pop_front();
        }
    }
}

/// One gate per account email with a login in flight. Entries leave with the
/// last login that uses them, so the map holds at most one entry per
/// concurrent login.
#[derive(Debug, Default)]
pub struct LoginTurns {
    gates: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// The right to log in to one account now; the next login of that account
/// waits until this is dropped.
#[derive(Debug)]
pub struct LoginTurn<'a> {
    // Declared first so it is dropped first: the gate is released before
    // `_entry` decides whether anyone still needs it.
    _turn: OwnedMutexGuard<()>,
    _entry: GateEntry<'a>,
}

/// One login's use of a gate. Removes the gate from the map when the last
/// login using it is done, also when a waiting login is abandoned (its
/// request timed out or the client left), which is why it exists before the
/// turn is taken.
#[derive(Debug)]
struct GateEntry<'a> {
    turns: &'a LoginTurns,
    email: String,
    gate: Option<Arc<tokio::sync::Mutex<()>>>,
}

impl LoginTurns {
    /// Waits for this account's turn to log in (emails compared normalized).
    ///
    /// Why: the throttle counts a failure only after the password was
    /// verified (an argon2 hash, tens of milliseconds), so without turns a
    /// burst of concurrent guesses all pass the check before the first
    /// failure is counted, and "10 failures in 15 minutes" becomes as many
    /// guesses as the burst holds. Taking turns costs an honest user nothing
    /// (one login at a time), and once an account is locked each waiting
    /// guess is refused by a cheap check.
    pub async fn take(&self, email: &str) -> LoginTurn<'_> {
        let email = normalize_email(email);
        let gate = Arc::clone(self.lock().entry(email.clone()).or_default());
        let entry = GateEntry {
            turns: self,
            email,
            gate: Some(Arc::clone(&gate)),
        };
        LoginTurn {
            _turn: gate.lock_owned().await,
            _entry: entry,
        }
    }

    /// Emails with a login in flight.
    #[cfg(test)]
    fn in_flight(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<tokio::sync::Mutex<()>>>> {
        // A poisoned lock only means a thread panicked while holding it; the
        // map is still consistent (every change is one insert or remove).
        self.gates.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for GateEntry<'_> {
    fn drop(&mut self) {
        let mut gates = self.turns.lock();
        let Some(ours) = self.gate.take() else {
            return;
        };
        let current = gates
            .get(&self.email)
            .is_some_and(|gate| Arc::ptr_eq(gate, &ours));
        // Dropped under the lock, where every other entry counts too: the
        // last entry out sees only the map's reference and removes the gate.
        drop(ours);
        if current && gates.get(&self.email).map(Arc::strong_count) == Some(1) {
            gates.remove(&self.email);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Timestamp = Timestamp(1_000_000_000);

    #[test]
    fn throttle_locks_at_the_limit_and_lifts_when_the_oldest_failure_leaves_the_window() {
        let mut throttle = LoginThrottle::default();
        for n in 0..MAX_LOGIN_FAILURES as i64 {
            assert_eq!(throttle.check("a@x", T.plus_millis(n)), Ok(()));
            throttle.record_failure("a@x", T.plus_millis(n));
        }
        let last = T.plus_millis(MAX_LOGIN_FAILURES as i64 - 1);
        assert_eq!(throttle.check("a@x", last), Err(900));
        assert_eq!(throttle.check("b@x", last), Ok(()));
        // One millisecond before the first failure is 15 minutes old: still locked, 1 s to wait.
        let almost = T.plus_millis(LOGIN_FAILURE_WINDOW_MS - 1);
        assert_eq!(throttle.check("a@x", almost), Err(1));
        assert_eq!(
            throttle.check("a@x", T.plus_millis(LOGIN_FAILURE_WINDOW_MS)),
            Ok(())
        );
    }

    #[test]
    fn throttle_forgets_on_success_and_evicts_the_stalest_email_at_capacity() {
        let mut throttle = LoginThrottle::with_capacity(2);
        for _ in 0..MAX_LOGIN_FAILURES {
            throttle.record_failure("a@x", T);
        }
        assert!(throttle.check("a@x", T).is_err());
        throttle.forget("a@x");
        assert_eq!(throttle.check("a@x", T), Ok(()));
        assert_eq!(throttle.tracked(), 0);

        throttle.record_failure("old@x", T);
        throttle.record_failure("new@x", T.plus_millis(1));
        throttle.record_failure("old@x", T.plus_millis(2)); // old@x is now the freshest
        throttle.record_failure("third@x", T.plus_millis(3));
        assert_eq!(throttle.tracked(), 2);
        assert!(throttle.trails.contains_key("old@x"));
        assert!(!throttle.trails.contains_key("new@x"));
        assert_eq!(throttle.trails["old@x"].failures.len(), 2);
    }

    #[actix_rt::test]
    async fn logins_of_one_account_take_turns_and_leave_no_gate_behind() {
        let turns = LoginTurns::default();
        let wait = std::time::Duration::from_millis(20);
        let first = turns.take("Kim@Example.com").await;
        // Another account is not held up.
        let other = tokio::time::timeout(wait, turns.take("lee@example.com")).await;
        assert!(other.is_ok(), "another account's login does not wait");
        drop(other);
        // The same account (compared normalized) waits; this waiter gives up.
        let second = tokio::time::timeout(wait, turns.take(" kim@EXAMPLE.com")).await;
        assert!(second.is_err(), "a second login of one account waits");
        assert_eq!(turns.in_flight(), 1);
        drop(first);
        assert_eq!(turns.in_flight(), 0, "the abandoned waiter left no gate");
        let again = tokio::time::timeout(wait, turns.take("kim@example.com")).await;
        assert!(again.is_ok(), "the turn is free once released");
        drop(again);
        assert_eq!(turns.in_flight(), 0);
    }

    #[test]
    fn throttle_ignores_emails_no_account_can_have() {
        let mut throttle = LoginThrottle::default();
        let huge = "x".repeat(MAX_EMAIL_LEN + 1);
        for _ in 0..MAX_LOGIN_FAILURES {
            throttle.record_failure(&huge, T);
        }
        assert_eq!(throttle.tracked(), 0);
    }
}
