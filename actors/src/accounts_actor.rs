//! `AccountsActor`: the durable user accounts (email, name, role, password
//! hash), and the transient login throttle.
//!
//! One actor owns every account, so "is this email taken?" is answered by one
//! map lookup with no race between two registrations. Accounts change rarely
//! (register, role change, password change), so one actor is plenty; reads
//! (login, `/auth/me`) are plain in-memory lookups.
//!
//! Password hashing is deliberately NOT done here: argon2 takes tens of
//! milliseconds, which would stall every other account request queued behind
//! it. The HTTP layer hashes and verifies in a blocking pool; this actor only
//! stores and returns the PHC hash string.
//!
//! Durability follows `wallet_actor.rs`: a change is applied to memory at once,
//! staged in the [`Journal`], and replied to only once the group commit has
//! flushed it. Refusals (email taken) are staged too, because they may depend
//! on a registration still in flight.

use actix::prelude::*;
use boxoffice_engine::ids::UserId;
use boxoffice_engine::Timestamp;
use boxoffice_storage::{Store, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use tokio::sync::oneshot;

use crate::context::EngineContext;
use crate::error::{EngineError, EngineResult, Missing};
use crate::journal::{read_history, reply_when_durable, Journal, Waiter};
use crate::schedule_actor::Pending;

pub const LOG_NAME: &str = "accounts";

/// Most accounts kept (all of them live in memory and in one snapshot).
pub const MAX_ACCOUNTS: usize = 1_000_000;
/// Longest email, in bytes, after normalization (RFC 5321's path limit).
pub const MAX_EMAIL_LEN: usize = 254;
/// Longest display name, in characters.
pub const MAX_ACCOUNT_NAME_CHARS: usize = 200;
/// Longest phone number, in characters.
pub const MAX_PHONE_NUMBER_CHARS: usize = 32;
/// Longest stored password hash (an argon2 PHC string is about 100 bytes).
pub const MAX_PASSWORD_HASH_LEN: usize = 512;
/// Longest page of [`ListAccounts`].
pub const MAX_ACCOUNTS_PAGE: usize = 100;

/// Failed logins within [`LOGIN_FAILURE_WINDOW_MS`] after which an account's
/// logins are refused until the oldest of them leaves the window.
pub const MAX_LOGIN_FAILURES: usize = 10;
/// The sliding window failed logins are counted in: 15 minutes.
pub const LOGIN_FAILURE_WINDOW_MS: i64 = 15 * 60 * 1_000;
/// Most emails whose failures are tracked at once; past it the email whose
/// last failure is oldest is forgotten, so a spray over many addresses cannot
/// grow memory without end.
pub const MAX_TRACKED_LOGIN_EMAILS: usize = 100_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Role {
    User,
    Staff,
    Admin,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub user_id: UserId,
    /// Normalized: trimmed and lowercase (see [`normalize_email`]).
    pub email: String,
    pub name: String,
    pub phone_number: Option<String>,
    pub role: Role,
    /// A PHC string produced by the HTTP layer; never interpreted here.
    pub password_hash: String,
    pub created_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AccountEvent {
    Registered(Account),
    RoleChanged {
        user_id: UserId,
        role: Role,
        at: Timestamp,
    },
    PasswordChanged {
        user_id: UserId,
        password_hash: String,
        at: Timestamp,
    },
}

/// The one form an email is compared and stored in: trimmed, lowercase.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Snapshot contents: every account plus the two indexes over them. The
/// indexes are stored rather than rebuilt so a snapshot loads as it was saved;
/// [`AccountsState::check_invariants`] proves they agree on every load.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AccountsState {
    pub accounts: HashMap<UserId, Account>,
    pub by_email: HashMap<String, UserId>,
    /// `ListAccounts` order: oldest first, ties broken by id.
    pub by_created: BTreeSet<(Timestamp, UserId)>,
}

impl AccountsState {
    /// The only code that changes accounts; live commands and recovery both use it.
    pub fn apply(&mut self, event: &AccountEvent) {
        match event {
            AccountEvent::Registered(account) => {
                self.by_email.insert(account.email.clone(), account.user_id);
                self.by_created
                    .insert((account.created_at, account.user_id));
                self.accounts.insert(account.user_id, account.clone());
            }
            AccountEvent::RoleChanged { user_id, role, .. } => {
                let account = self.accounts.get_mut(user_id);
                debug_assert!(account.is_some(), "role change for an unknown account");
                if let Some(account) = account {
                    account.role = *role;
                }
            }
            AccountEvent::PasswordChanged {
                user_id,
                password_hash,
                ..
            } => {
                let account = self.accounts.get_mut(user_id);
                debug_assert!(account.is_some(), "password change for an unknown account");
                if let Some(account) = account {
                    account.password_hash.clone_from(password_hash);
                }
            }
        }
    }

    pub fn by_email(&self, normalized_email: &str) -> Option<&Account> {
        self.by_email
            .get(normalized_email)
            .and_then(|id| self.accounts.get(id))
    }

    /// The indexes cover exactly the accounts, and emails are unique and normalized.
    pub fn check_invariants(&self) -> Result<(), String> {
        if self.by_email.len() != self.accounts.len()
            || self.by_created.len() != self.accounts.len()
        {
            return Err(format!(
                "{} accounts but {} emails and {} creation entries indexed",
                self.accounts.len(),
                self.by_email.len(),
                self.by_created.len()
            ));
        }
        for (id, account) in &self.accounts {
            if account.user_id != *id {
                return Err(format!("account {id} is stored under another id"));
            }
            if account.email != normalize_email(&account.email) {
                return Err(format!("account {id} has an unnormalized email"));
            }
            if self.by_email.get(&account.email) != Some(id) {
                return Err(format!("account {id} is missing from the email index"));
            }
            if !self.by_created.contains(&(account.created_at, *id)) {
                return Err(format!("account {id} is missing from the creation index"));
            }
        }
        Ok(())
    }

    pub fn load(store: &dyn Store) -> Result<AccountsState, StoreError> {
        let history = read_history::<AccountsState, AccountEvent>(store, LOG_NAME)?;
        let mut state = history.snapshot.map(|(_, s)| s).unwrap_or_default();
        for record in history.records {
            for event in &record.events {
                state.apply(event);
            }
        }
        state
            .check_invariants()
            .map_err(|broken| StoreError::Corrupt(format!("{LOG_NAME}: {broken}")))?;
        Ok(state)
    }
}

/// Checks the fields of a new account against the limits above.
fn validate_account_fields(
    email: &str,
    name: &str,
    phone_number: Option<&str>,
    password_hash: &str,
) -> EngineResult<()> {
    let invalid = |why: &str| Err(EngineError::Validation(why.to_string()));
    if email.is_empty() || email.len() > MAX_EMAIL_LEN {
        return invalid("email must be 1-254 bytes");
    }
    if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return invalid("email must not contain spaces or control characters");
    }
    let name_chars = name.chars().count();
    if name.trim().is_empty() || name_chars > MAX_ACCOUNT_NAME_CHARS {
        return invalid("name must be 1-200 characters");
    }
    if name.chars().any(char::is_control) {
        return invalid("name must be one line of text");
    }
    if let Some(phone) = phone_number {
        if phone.trim().is_empty()
            || phone.chars().count() > MAX_PHONE_NUMBER_CHARS
            || phone.chars().any(char::is_control)
        {
            return invalid("phoneNumber must be 1-32 characters on one line");
        }
    }
    validate_password_hash(password_hash)
}

fn validate_password_hash(password_hash: &str) -> EngineResult<()> {
    if password_hash.is_empty() || password_hash.len() > MAX_PASSWORD_HASH_LEN {
        return Err(EngineError::Internal(format!(
            "a password hash must be 1-{MAX_PASSWORD_HASH_LEN} bytes"
        )));
    }
    Ok(())
}

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

pub struct AccountsActor {
    engine: EngineContext,
    state: AccountsState,
    throttle: LoginThrottle,
    journal: Journal<AccountEvent>,
}

impl AccountsActor {
    pub fn new(state: AccountsState, engine: EngineContext) -> Self {
        let journal = Journal::new(
            LOG_NAME.to_string(),
            engine.commit.clone(),
            engine.config.snapshot_every_events,
        );
        AccountsActor {
            engine,
            state,
            throttle: LoginThrottle::default(),
            journal,
        }
    }

    /// Applies `events` to memory now; the waiter answers once they are durable.
    fn stage(&mut self, ctx: &mut Context<Self>, events: Vec<AccountEvent>, waiter: Waiter) {
        for event in &events {
            self.state.apply(event);
        }
        if self.journal.stage(events, None, Some(waiter)) {
            ctx.notify(CommitAccounts);
        }
        if self.journal.is_full() {
            self.commit();
        }
    }

    fn commit(&mut self) {
        if let Err(err) = self.journal.commit_and_snapshot(&mut self.state, |_| {}) {
            // Fail-stop: the group commit is poisoned too; the process must restart.
            tracing::error!(%err, "accounts log append failed");
        }
    }

    /// The events that register a new account, or why not.
    fn register(
        &self,
        email: String,
        name: String,
        phone_number: Option<String>,
        password_hash: String,
        role: Role,
    ) -> EngineResult<(AccountEvent, Account)> {
        validate_account_fields(&email, &name, phone_number.as_deref(), &password_hash)?;
        if self.state.by_email.contains_key(&email) {
            return Err(EngineError::EmailTaken);
        }
        if self.state.accounts.len() >= MAX_ACCOUNTS {
            return Err(EngineError::Validation(format!(
                "no more accounts can be registered (limit {MAX_ACCOUNTS})"
            )));
        }
        let account = Account {
            user_id: self.fresh_user_id(),
            email,
            name,
            phone_number,
            role,
            password_hash,
            created_at: self.engine.clock.now(),
        };
        Ok((AccountEvent::Registered(account.clone()), account))
    }

    /// A user id no account has (a 128-bit collision is not expected, but it
    /// would silently merge two accounts, so it is checked).
    fn fresh_user_id(&self) -> UserId {
        loop {
            let id = self.engine.ids.user_id();
            if !self.state.accounts.contains_key(&id) {
                return id;
            }
        }
    }

    /// The events that bring an existing account to `role` and `password_hash`
    /// (none when it already has them), and the account as it will be.
    fn update(
        &self,
        user_id: UserId,
        role: Option<Role>,
        password_hash: Option<String>,
    ) -> EngineResult<(Vec<AccountEvent>, Account)> {
        let mut account = self
            .state
            .accounts
            .get(&user_id)
            .cloned()
            .ok_or(EngineError::NotFound(Missing::User))?;
        let at = self.engine.clock.now();
        let mut events = Vec::new();
        if let Some(role) = role.filter(|r| *r != account.role) {
            account.role = role;
            events.push(AccountEvent::RoleChanged { user_id, role, at });
        }
        if let Some(hash) = password_hash.filter(|h| *h != account.password_hash) {
            validate_password_hash(&hash)?;
            account.password_hash.clone_from(&hash);
            events.push(AccountEvent::PasswordChanged {
                user_id,
                password_hash: hash,
                at,
            });
        }
        Ok((events, account))
    }

    /// Stages the outcome of a change: its events (if it succeeded) and its reply.
    fn stage_outcome(
        &mut self,
        ctx: &mut Context<Self>,
        outcome: EngineResult<(Vec<AccountEvent>, Account)>,
    ) -> Pending<Account> {
        let (tx, rx) = oneshot::channel();
        let (events, reply) = match outcome {
            Ok((events, account)) => (events, Ok(account)),
            Err(err) => (Vec::new(), Err(err)),
        };
        self.stage(ctx, events, reply_when_durable(tx, reply));
        rx
    }
}

impl Actor for AccountsActor {
    type Context = Context<Self>;
}

struct CommitAccounts;
impl Message for CommitAccounts {
    type Result = ();
}
impl Handler<CommitAccounts> for AccountsActor {
    type Result = ();
    fn handle(&mut self, _: CommitAccounts, _: &mut Context<Self>) {
        self.commit();
    }
}

/// Creates an account; `EmailTaken` if the normalized email has one.
pub struct Register {
    pub email: String,
    pub name: String,
    pub phone_number: Option<String>,
    pub password_hash: String,
    pub role: Role,
}
impl Message for Register {
    type Result = Pending<Account>;
}
impl Handler<Register> for AccountsActor {
    type Result = MessageResult<Register>;
    fn handle(&mut self, msg: Register, ctx: &mut Context<Self>) -> Self::Result {
        let outcome = self
            .register(
                normalize_email(&msg.email),
                msg.name,
                msg.phone_number,
                msg.password_hash,
                msg.role,
            )
            .map(|(event, account)| (vec![event], account));
        MessageResult(self.stage_outcome(ctx, outcome))
    }
}

pub struct FindByEmail {
    pub email: String,
}
impl Message for FindByEmail {
    type Result = Option<Account>;
}
impl Handler<FindByEmail> for AccountsActor {
    type Result = Option<Account>;
    fn handle(&mut self, msg: FindByEmail, _: &mut Context<Self>) -> Self::Result {
        self.state.by_email(&normalize_email(&msg.email)).cloned()
    }
}

pub struct GetAccount {
    pub user_id: UserId,
}
impl Message for GetAccount {
    type Result = Option<Account>;
}
impl Handler<GetAccount> for AccountsActor {
    type Result = Option<Account>;
    fn handle(&mut self, msg: GetAccount, _: &mut Context<Self>) -> Self::Result {
        self.state.accounts.get(&msg.user_id).cloned()
    }
}

/// A page of accounts, oldest first, and the total; `limit` is capped at [`MAX_ACCOUNTS_PAGE`].
pub struct ListAccounts {
    pub offset: usize,
    pub limit: usize,
}
impl Message for ListAccounts {
    type Result = (Vec<Account>, usize);
}
impl Handler<ListAccounts> for AccountsActor {
    type Result = MessageResult<ListAccounts>;
    fn handle(&mut self, msg: ListAccounts, _: &mut Context<Self>) -> Self::Result {
        let page = self
            .state
            .by_created
            .iter()
            .skip(msg.offset)
            .take(msg.limit.min(MAX_ACCOUNTS_PAGE))
            .filter_map(|(_, id)| self.state.accounts.get(id).cloned())
            .collect();
        MessageResult((page, self.state.accounts.len()))
    }
}

/// Changes an account's role; logs nothing when it already has it.
pub struct SetRole {
    pub user_id: UserId,
    pub role: Role,
}
impl Message for SetRole {
    type Result = Pending<Account>;
}
impl Handler<SetRole> for AccountsActor {
    type Result = MessageResult<SetRole>;
    fn handle(&mut self, msg: SetRole, ctx: &mut Context<Self>) -> Self::Result {
        let outcome = self.update(msg.user_id, Some(msg.role), None);
        MessageResult(self.stage_outcome(ctx, outcome))
    }
}

/// Replaces an account's password hash; logs nothing when it is the same.
pub struct SetPassword {
    pub user_id: UserId,
    pub password_hash: String,
}
impl Message for SetPassword {
    type Result = Pending<Account>;
}
impl Handler<SetPassword> for AccountsActor {
    type Result = MessageResult<SetPassword>;
    fn handle(&mut self, msg: SetPassword, ctx: &mut Context<Self>) -> Self::Result {
        let outcome = self.update(msg.user_id, None, Some(msg.password_hash));
        MessageResult(self.stage_outcome(ctx, outcome))
    }
}

/// Makes sure an account exists with this role and password hash: creates it,
/// or updates role and hash of the existing one (its name is kept). Used at
/// start-up for the configured admin and the demo accounts; idempotent.
pub struct EnsureAccount {
    pub email: String,
    pub name: String,
    pub password_hash: String,
    pub role: Role,
}
impl Message for EnsureAccount {
    type Result = Pending<Account>;
}
impl Handler<EnsureAccount> for AccountsActor {
    type Result = MessageResult<EnsureAccount>;
    fn handle(&mut self, msg: EnsureAccount, ctx: &mut Context<Self>) -> Self::Result {
        let email = normalize_email(&msg.email);
        let outcome = match self.state.by_email.get(&email) {
            Some(&user_id) => self.update(user_id, Some(msg.role), Some(msg.password_hash)),
            None => self
                .register(email, msg.name, None, msg.password_hash, msg.role)
                .map(|(event, account)| (vec![event], account)),
        };
        MessageResult(self.stage_outcome(ctx, outcome))
    }
}

/// `Err(RateLimited)` when the (normalized) email has too many recent failed
/// logins, whether or not an account has it (so the answer reveals nothing).
pub struct CheckLogin {
    pub email: String,
}
impl Message for CheckLogin {
    type Result = EngineResult<()>;
}
impl Handler<CheckLogin> for AccountsActor {
    type Result = EngineResult<()>;
    fn handle(&mut self, msg: CheckLogin, _: &mut Context<Self>) -> Self::Result {
        let now = self.engine.clock.now();
        self.throttle
            .check(&normalize_email(&msg.email), now)
            .map_err(|retry_after_secs| EngineError::RateLimited { retry_after_secs })
    }
}

pub struct RecordLoginFailure {
    pub email: String,
}
impl Message for RecordLoginFailure {
    type Result = ();
}
impl Handler<RecordLoginFailure> for AccountsActor {
    type Result = ();
    fn handle(&mut self, msg: RecordLoginFailure, _: &mut Context<Self>) {
        let now = self.engine.clock.now();
        self.throttle
            .record_failure(&normalize_email(&msg.email), now);
    }
}

pub struct ClearLoginFailures {
    pub email: String,
}
impl Message for ClearLoginFailures {
    type Result = ();
}
impl Handler<ClearLoginFailures> for AccountsActor {
    type Result = ();
    fn handle(&mut self, msg: ClearLoginFailures, _: &mut Context<Self>) {
        self.throttle.forget(&normalize_email(&msg.email));
    }
}

/// The whole durable state, for tests comparing before and after a restart.
pub struct ExportAccounts;
impl Message for ExportAccounts {
    type Result = AccountsState;
}
impl Handler<ExportAccounts> for AccountsActor {
    type Result = MessageResult<ExportAccounts>;
    fn handle(&mut self, _: ExportAccounts, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.state.clone())
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

    #[test]
    fn throttle_ignores_emails_no_account_can_have() {
        let mut throttle = LoginThrottle::default();
        let huge = "x".repeat(MAX_EMAIL_LEN + 1);
        for _ in 0..MAX_LOGIN_FAILURES {
            throttle.record_failure(&huge, T);
        }
        assert_eq!(throttle.tracked(), 0);
    }

    #[test]
    fn state_invariants_catch_a_broken_index() {
        let mut state = AccountsState::default();
        let account = Account {
            user_id: UserId::from_random_bytes([7; 16]),
            email: "a@x".into(),
            name: "A".into(),
            phone_number: None,
            role: Role::User,
            password_hash: "$argon2id$...".into(),
            created_at: T,
        };
        state.apply(&AccountEvent::Registered(account));
        assert_eq!(state.check_invariants(), Ok(()));
        state.by_email.clear();
        assert!(state.check_invariants().is_err());
    }
}
