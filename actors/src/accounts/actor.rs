//! `AccountsActor`: owns the durable user accounts (the [`model`](super::model))
//! with their logins ([`sessions`](super::sessions)) and the transient login
//! [`throttle`](super::throttle), keeps the [`RoleBoard`] requests read roles
//! from, and answers the messages below; the operations the API calls on it
//! are in the parent module.
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
//! on a registration still in flight. Once a change is durable, and before its
//! reply, the roles it set are published on the [`RoleBoard`] and a role
//! change is logged (`tracing::info!`) with who made it.

use actix::prelude::*;
use boxoffice_engine::ids::UserId;
use boxoffice_engine::Timestamp;
use std::sync::Arc;
use tokio::sync::oneshot;

use super::email_codes::{CodeHash, CodePurpose, EmailCode, CODE_TTL_MS};
use super::model::{
    normalize_email, validate_account_fields, validate_password_hash, Account, AccountEvent,
    AccountsState, EmailClash, Role, LOG_NAME, MAX_ACCOUNTS,
};
use super::roles::RoleBoard;
use super::sessions::{Session, SessionEnd, SessionGrant, TokenId};
use super::throttle::{LoginSource, LoginThrottle};
use crate::context::EngineContext;
use crate::error::{EngineError, EngineResult, Missing};
use crate::journal::{reply_when_durable, Journal, Pending, Waiter};

/// Longest page of [`ListAccounts`].
pub const MAX_ACCOUNTS_PAGE: usize = 100;

pub struct AccountsActor {
    engine: EngineContext,
    state: AccountsState,
    throttle: LoginThrottle,
    journal: Journal<AccountEvent>,
    /// Every account's role as durable; shared with the registry's readers.
    roles: Arc<RoleBoard>,
}

impl AccountsActor {
    /// `roles` must hold the roles of `state` (see [`RoleBoard::of`]).
    pub fn new(state: AccountsState, engine: EngineContext, roles: Arc<RoleBoard>) -> Self {
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
            roles,
        }
    }

    /// Applies `events` to memory now; the waiter answers once they are
    /// durable, after the roles they set are in force and logged.
    fn stage(&mut self, ctx: &mut Context<Self>, events: Vec<AccountEvent>, waiter: Waiter) {
        for event in &events {
            self.state.apply(event);
        }
        let waiter = self.when_durable(&events, waiter);
        if self.journal.stage(events, None, Some(waiter)) {
            ctx.notify(CommitAccounts);
        }
        if self.journal.is_full() {
            self.commit();
        }
    }

    /// `waiter`, preceded (once `events` are durable) by publishing the roles
    /// they set and logging each role change with who made it.
    fn when_durable(&self, events: &[AccountEvent], waiter: Waiter) -> Waiter {
        let changes = RoleBoard::changes(events);
        if changes.is_empty() {
            return waiter;
        }
        let audit: Vec<AccountEvent> = events
            .iter()
            .filter(|e| {
                matches!(
                    e,
                    AccountEvent::RoleChanged { .. } | AccountEvent::RoleChangedBy { .. }
                )
            })
            .cloned()
            .collect();
        let roles = Arc::clone(&self.roles);
        Box::new(move |durable| {
            if durable.is_ok() {
                roles.publish(&changes);
                for event in &audit {
                    log_role_change(event);
                }
            }
            waiter(durable);
        })
    }

    fn commit(&mut self) {
        let now = self.engine.clock.now();
        let pruned = self.journal.commit_and_snapshot(&mut self.state, |state| {
            state.sessions.prune_expired(now);
        });
        if let Err(err) = pruned {
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
        if self.state.email_taken(&email) {
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
            email_verified: false,
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
    /// (none when it already has them), and the account as it will be. A role
    /// change records `by`, the admin who made it (`None`: the configuration).
    fn update(
        &self,
        user_id: UserId,
        role: Option<Role>,
        by: Option<UserId>,
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
            // Someone must be left to run the box office (API.md: 409).
            let admins = self
                .state
                .accounts
                .values()
                .filter(|a| a.role == Role::Admin)
                .count();
            if account.role == Role::Admin && admins <= 1 {
                return Err(EngineError::LastAdmin);
            }
            account.role = role;
            events.push(match by {
                Some(by) => AccountEvent::RoleChangedBy {
                    user_id,
                    role,
                    by,
                    at,
                },
                None => AccountEvent::RoleChanged { user_id, role, at },
            });
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

    /// Stages a session change's events (none for a refusal) and its reply.
    fn stage_reply<T: Send + 'static>(
        &mut self,
        ctx: &mut Context<Self>,
        events: Vec<AccountEvent>,
        reply: EngineResult<T>,
    ) -> Pending<T> {
        let (tx, rx) = oneshot::channel();
        self.stage(ctx, events, reply_when_durable(tx, reply));
        rx
    }

    /// A token id no live login uses (as [`Self::fresh_user_id`]: a
    /// collision is not expected, but it would merge two logins).
    fn fresh_session_id(&self) -> TokenId {
        loop {
            let id = TokenId(self.engine.ids.bytes());
            if self.state.sessions.get(id).is_none() {
                return id;
            }
        }
    }

    /// What the refresh token `refresh_id` of login `session_id`, presented
    /// by `user_id`, is now.
    fn presented(&self, user_id: UserId, session_id: TokenId, refresh_id: TokenId) -> Presented {
        let now = self.engine.clock.now();
        match self.state.sessions.get(session_id) {
            Some(s) if s.user_id == user_id && s.expires_at > now => {
                if s.refresh_id == refresh_id {
                    Presented::Live
                } else {
                    Presented::Spent
                }
            }
            _ => Presented::Unknown,
        }
    }

    /// The events and refusal of a token that is not the live one: a spent
    /// one of a live login ends that login (reuse means theft).
    fn refuse<T>(
        &self,
        presented: Presented,
        user_id: UserId,
        session_id: TokenId,
    ) -> (Vec<AccountEvent>, EngineResult<T>) {
        let mut events = Vec::new();
        if presented == Presented::Spent {
            tracing::warn!(user = %user_id, session = %session_id,
                "a spent refresh token was presented again: its login is ended");
            events.push(AccountEvent::SessionEnded {
                session_id,
                reason: SessionEnd::Reuse,
                at: self.engine.clock.now(),
            });
        }
        (events, Err(EngineError::InvalidRefreshToken))
    }
}

/// A presented refresh token, as the accounts state sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Presented {
    /// The live token of an unexpired login of the presenting user.
    Live,
    /// An earlier token of such a login: spent.
    Spent,
    /// No such login (never, ended, expired, or another user's).
    Unknown,
}

fn log_role_change(event: &AccountEvent) {
    match event {
        AccountEvent::RoleChangedBy {
            user_id,
            role,
            by,
            at,
        } => tracing::info!(user = %user_id, ?role, by = %by, at = at.0, "role changed"),
        AccountEvent::RoleChanged { user_id, role, at } => {
            tracing::info!(user = %user_id, ?role, by = "configuration", at = at.0, "role changed")
        }
        _ => {}
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
        self.state.find_by_email(&msg.email).cloned()
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

/// Accounts one [`ScanAccounts`] looks at, at most: what bounds the time an
/// admin's user search holds the accounts actor (logins wait behind it) to
/// about a millisecond per message, whatever the number of accounts.
pub const ACCOUNTS_PER_SCAN: usize = 4_096;

/// Part of a user search: looks at up to [`ACCOUNTS_PER_SCAN`] accounts after
/// `after` in list order (oldest first) and answers those matching
/// `needle` (already lower-cased) in email or name: skipping the first
/// `skip` matches, keeping at most `take`, counting them all.
pub struct ScanAccounts {
    pub after: Option<(Timestamp, UserId)>,
    pub needle: String,
    pub skip: usize,
    pub take: usize,
}

/// What one [`ScanAccounts`] found.
pub struct ScannedAccounts {
    pub kept: Vec<Account>,
    /// Matches among the accounts looked at (kept or not).
    pub matched: usize,
    /// Where the next scan starts; `None` when this one reached the end.
    pub next: Option<(Timestamp, UserId)>,
}

impl Message for ScanAccounts {
    type Result = ScannedAccounts;
}
impl Handler<ScanAccounts> for AccountsActor {
    type Result = MessageResult<ScanAccounts>;
    fn handle(&mut self, msg: ScanAccounts, _: &mut Context<Self>) -> Self::Result {
        use std::ops::Bound;
        let from = match msg.after {
            Some(after) => Bound::Excluded(after),
            None => Bound::Unbounded,
        };
        let mut found = ScannedAccounts {
            kept: Vec::new(),
            matched: 0,
            next: None,
        };
        let mut looked = 0usize;
        for key in self.state.by_created.range((from, Bound::Unbounded)) {
            if looked == ACCOUNTS_PER_SCAN {
                break;
            }
            looked += 1;
            found.next = Some(*key);
            let Some(account) = self.state.accounts.get(&key.1) else {
                continue;
            };
            let matches = account.email.to_lowercase().contains(&msg.needle)
                || account.name.to_lowercase().contains(&msg.needle);
            if matches {
                if found.matched >= msg.skip && found.kept.len() < msg.take {
                    found.kept.push(account.clone());
                }
                found.matched += 1;
            }
        }
        if looked < ACCOUNTS_PER_SCAN {
            found.next = None;
        }
        MessageResult(found)
    }
}

/// Changes an account's role on an admin's word (`by`); logs nothing when
/// it already has it.
pub struct SetRole {
    pub user_id: UserId,
    pub role: Role,
    pub by: UserId,
}
impl Message for SetRole {
    type Result = Pending<Account>;
}
impl Handler<SetRole> for AccountsActor {
    type Result = MessageResult<SetRole>;
    fn handle(&mut self, msg: SetRole, ctx: &mut Context<Self>) -> Self::Result {
        let outcome = self.update(msg.user_id, Some(msg.role), Some(msg.by), None);
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
        let outcome = self.update(msg.user_id, None, None, Some(msg.password_hash));
        MessageResult(self.stage_outcome(ctx, outcome))
    }
}

/// Makes sure an account exists with this role and password hash: creates it,
/// or updates role and hash of the existing one (its name is kept). Used at
/// start-up for the configured admin; idempotent.
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
        let existing = self.state.find_by_email(&msg.email).map(|a| a.user_id);
        let outcome = match existing {
            Some(user_id) => self.update(user_id, Some(msg.role), None, Some(msg.password_hash)),
            None => self
                .register(
                    normalize_email(&msg.email),
                    msg.name,
                    None,
                    msg.password_hash,
                    msg.role,
                )
                .map(|(event, account)| (vec![event], account)),
        };
        MessageResult(self.stage_outcome(ctx, outcome))
    }
}

/// The accounts the start-up fold found sharing one email (see
/// `AccountsState::fold_emails`), for the start-up report.
pub struct EmailClashes;
impl Message for EmailClashes {
    type Result = Vec<EmailClash>;
}
impl Handler<EmailClashes> for AccountsActor {
    type Result = MessageResult<EmailClashes>;
    fn handle(&mut self, _: EmailClashes, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.state.clashes())
    }
}

/// Starts a login of an existing account: a new refresh-token family whose
/// live token expires `ttl_ms` from now. The user's expired logins go, and
/// at `MAX_SESSIONS_PER_USER` their oldest.
pub struct StartSession {
    pub user_id: UserId,
    pub ttl_ms: i64,
}
impl Message for StartSession {
    type Result = Pending<SessionGrant>;
}
impl Handler<StartSession> for AccountsActor {
    type Result = MessageResult<StartSession>;
    fn handle(&mut self, msg: StartSession, ctx: &mut Context<Self>) -> Self::Result {
        if !self.state.accounts.contains_key(&msg.user_id) {
            let refused = Err(EngineError::NotFound(Missing::User));
            return MessageResult(self.stage_reply(ctx, Vec::new(), refused));
        }
        let now = self.engine.clock.now();
        let session = Session {
            session_id: self.fresh_session_id(),
            user_id: msg.user_id,
            refresh_id: TokenId(self.engine.ids.bytes()),
            started_at: now,
            expires_at: now.plus_millis(msg.ttl_ms),
        };
        let grant = SessionGrant::from(&session);
        let events = vec![AccountEvent::SessionStarted(session)];
        MessageResult(self.stage_reply(ctx, events, Ok(grant)))
    }
}

/// Spends the login's live refresh token `refresh_id` for a new one that
/// expires `ttl_ms` from now; answers the account as it is now with it.
/// `InvalidRefreshToken` for an unknown, ended, expired or spent one (a spent
/// one also ends the login: reuse means theft).
pub struct RefreshSession {
    pub user_id: UserId,
    pub session_id: TokenId,
    pub refresh_id: TokenId,
    pub ttl_ms: i64,
}
impl Message for RefreshSession {
    type Result = Pending<(Account, SessionGrant)>;
}
impl Handler<RefreshSession> for AccountsActor {
    type Result = MessageResult<RefreshSession>;
    fn handle(&mut self, msg: RefreshSession, ctx: &mut Context<Self>) -> Self::Result {
        let now = self.engine.clock.now();
        let account = self.state.accounts.get(&msg.user_id).cloned();
        let outcome = match (
            account,
            self.presented(msg.user_id, msg.session_id, msg.refresh_id),
        ) {
            (Some(account), Presented::Live) => {
                let grant = SessionGrant {
                    session_id: msg.session_id,
                    refresh_id: TokenId(self.engine.ids.bytes()),
                    expires_at: now.plus_millis(msg.ttl_ms),
                };
                let event = AccountEvent::SessionRotated {
                    session_id: grant.session_id,
                    refresh_id: grant.refresh_id,
                    expires_at: grant.expires_at,
                    at: now,
                };
                (vec![event], Ok((account, grant)))
            }
            (_, presented) => self.refuse(presented, msg.user_id, msg.session_id),
        };
        MessageResult(self.stage_reply(ctx, outcome.0, outcome.1))
    }
}

/// Logout: ends the login whose live refresh token is `refresh_id`, with
/// the same refusals as [`RefreshSession`] (a spent token ends it too, and is
/// still refused).
pub struct EndSession {
    pub user_id: UserId,
    pub session_id: TokenId,
    pub refresh_id: TokenId,
}
impl Message for EndSession {
    type Result = Pending<()>;
}
impl Handler<EndSession> for AccountsActor {
    type Result = MessageResult<EndSession>;
    fn handle(&mut self, msg: EndSession, ctx: &mut Context<Self>) -> Self::Result {
        let now = self.engine.clock.now();
        let (events, reply) = match self.presented(msg.user_id, msg.session_id, msg.refresh_id) {
            Presented::Live => {
                let event = AccountEvent::SessionEnded {
                    session_id: msg.session_id,
                    reason: SessionEnd::Logout,
                    at: now,
                };
                (vec![event], Ok(()))
            }
            presented => self.refuse(presented, msg.user_id, msg.session_id),
        };
        MessageResult(self.stage_reply(ctx, events, reply))
    }
}

/// Ends every login of the user (a password change or reset); answers how
/// many there were. Logs nothing when there were none.
pub struct EndAllSessions {
    pub user_id: UserId,
}
impl Message for EndAllSessions {
    type Result = Pending<usize>;
}
impl Handler<EndAllSessions> for AccountsActor {
    type Result = MessageResult<EndAllSessions>;
    fn handle(&mut self, msg: EndAllSessions, ctx: &mut Context<Self>) -> Self::Result {
        let live = self.state.sessions.of_user(msg.user_id).count();
        let events = if live == 0 {
            Vec::new()
        } else {
            vec![AccountEvent::AllSessionsEnded {
                user_id: msg.user_id,
                at: self.engine.clock.now(),
            }]
        };
        MessageResult(self.stage_reply(ctx, events, Ok(live)))
    }
}

/// `Err(RateLimited)` when the source may not try the (normalized) email now
/// (see `throttle`), whether or not an account has it (so the answer reveals
/// nothing).
pub struct CheckLogin {
    pub email: String,
    pub source: LoginSource,
}
impl Message for CheckLogin {
    type Result = EngineResult<()>;
}
impl Handler<CheckLogin> for AccountsActor {
    type Result = EngineResult<()>;
    fn handle(&mut self, msg: CheckLogin, _: &mut Context<Self>) -> Self::Result {
        let now = self.engine.clock.now();
        self.throttle
            .check(&normalize_email(&msg.email), msg.source, now)
            .map_err(|retry_after_secs| EngineError::RateLimited { retry_after_secs })
    }
}

pub struct RecordLoginFailure {
    pub email: String,
    pub source: LoginSource,
}
impl Message for RecordLoginFailure {
    type Result = ();
}
impl Handler<RecordLoginFailure> for AccountsActor {
    type Result = ();
    fn handle(&mut self, msg: RecordLoginFailure, _: &mut Context<Self>) {
        let now = self.engine.clock.now();
        self.throttle
            .record_failure(&normalize_email(&msg.email), msg.source, now);
    }
}

pub struct ClearLoginFailures {
    pub email: String,
    pub source: LoginSource,
}
impl Message for ClearLoginFailures {
    type Result = ();
}
impl Handler<ClearLoginFailures> for AccountsActor {
    type Result = ();
    fn handle(&mut self, msg: ClearLoginFailures, _: &mut Context<Self>) {
        self.throttle
            .forget(&normalize_email(&msg.email), msg.source);
    }
}

/// Test hook: the whole durable state, for tests comparing before and after a restart.
#[cfg(feature = "test-hooks")]
pub struct ExportAccounts;
#[cfg(feature = "test-hooks")]
impl Message for ExportAccounts {
    type Result = AccountsState;
}
#[cfg(feature = "test-hooks")]
impl Handler<ExportAccounts> for AccountsActor {
    type Result = MessageResult<ExportAccounts>;
    fn handle(&mut self, _: ExportAccounts, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.state.clone())
    }
}

/// Issues a code for `purpose` to the account `user_id` (`None` when it
/// does not exist, or for a verification, when its address is verified
/// already): the code's hash is stored, durable before the reply.
pub struct IssueEmailCode {
    pub user_id: UserId,
    pub purpose: CodePurpose,
    pub code_hash: CodeHash,
}
impl Message for IssueEmailCode {
    type Result = Pending<Option<Account>>;
}
impl Handler<IssueEmailCode> for AccountsActor {
    type Result = MessageResult<IssueEmailCode>;
    fn handle(&mut self, msg: IssueEmailCode, ctx: &mut Context<Self>) -> Self::Result {
        let account = self
            .state
            .accounts
            .get(&msg.user_id)
            .filter(|a| !(msg.purpose == CodePurpose::VerifyEmail && a.email_verified))
            .cloned();
        let at = self.engine.clock.now();
        let events = match &account {
            Some(account) => vec![AccountEvent::EmailCodeIssued {
                code_hash: msg.code_hash,
                code: EmailCode {
                    user_id: account.user_id,
                    purpose: msg.purpose,
                    expires_at: at.plus_millis(CODE_TTL_MS),
                },
                at,
            }],
            None => Vec::new(),
        };
        MessageResult(self.stage_reply(ctx, events, Ok(account)))
    }
}

/// Whether the code works now for `purpose` (a check before the slow
/// password hash of a reset; [`SpendEmailCode`] checks again).
pub struct CheckEmailCode {
    pub purpose: CodePurpose,
    pub code_hash: CodeHash,
}
impl Message for CheckEmailCode {
    type Result = EngineResult<()>;
}
impl Handler<CheckEmailCode> for AccountsActor {
    type Result = EngineResult<()>;
    fn handle(&mut self, msg: CheckEmailCode, _: &mut Context<Self>) -> Self::Result {
        let now = self.engine.clock.now();
        self.state
            .email_codes
            .usable(&msg.code_hash, msg.purpose, now)
            .map(|_| ())
            .ok_or(EngineError::InvalidCode)
    }
}

/// Spends a code: a reset sets the new password hash and ends every login
/// of the account; a verification marks the address verified. One batch,
/// so a crash leaves the code either unused with nothing changed, or spent
/// with its effect. `InvalidCode` for an unknown, used or expired code.
pub struct SpendEmailCode {
    pub purpose: CodePurpose,
    pub code_hash: CodeHash,
    /// The new password's hash (a reset's only).
    pub password_hash: Option<String>,
}
impl Message for SpendEmailCode {
    type Result = Pending<Account>;
}
impl Handler<SpendEmailCode> for AccountsActor {
    type Result = MessageResult<SpendEmailCode>;
    fn handle(&mut self, msg: SpendEmailCode, ctx: &mut Context<Self>) -> Self::Result {
        let now = self.engine.clock.now();
        let outcome = self.spend(&msg, now);
        MessageResult(self.stage_outcome(ctx, outcome))
    }
}

impl AccountsActor {
    /// The events of [`SpendEmailCode`] and the account after them.
    fn spend(
        &self,
        msg: &SpendEmailCode,
        at: Timestamp,
    ) -> EngineResult<(Vec<AccountEvent>, Account)> {
        let code = self
            .state
            .email_codes
            .usable(&msg.code_hash, msg.purpose, at)
            .ok_or(EngineError::InvalidCode)?;
        let user_id = code.user_id;
        let mut events = vec![AccountEvent::EmailCodeSpent {
            code_hash: msg.code_hash,
            at,
        }];
        let account = match msg.purpose {
            CodePurpose::PasswordReset => {
                let hash = msg
                    .password_hash
                    .clone()
                    .ok_or_else(|| EngineError::Internal("a reset without a password".into()))?;
                validate_password_hash(&hash)?;
                let mut account = self
                    .state
                    .accounts
                    .get(&user_id)
                    .cloned()
                    .ok_or(EngineError::InvalidCode)?;
                account.password_hash.clone_from(&hash);
                events.push(AccountEvent::PasswordChanged {
                    user_id,
                    password_hash: hash,
                    at,
                });
                if self.state.sessions.of_user(user_id).next().is_some() {
                    events.push(AccountEvent::AllSessionsEnded { user_id, at });
                }
                account
            }
            CodePurpose::VerifyEmail => {
                let mut account = self
                    .state
                    .accounts
                    .get(&user_id)
                    .cloned()
                    .ok_or(EngineError::InvalidCode)?;
                if !account.email_verified {
                    events.push(AccountEvent::EmailVerified { user_id, at });
                    account.email_verified = true;
                }
                account
            }
        };
        Ok((events, account))
    }
}
