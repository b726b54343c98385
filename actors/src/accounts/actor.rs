//! `AccountsActor`: owns the durable user accounts (the [`model`](super::model))
//! and the transient login [`throttle`](super::throttle), and answers the
//! messages below; the operations the API calls on it are in the parent module.
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
use tokio::sync::oneshot;

use super::model::{
    normalize_email, validate_account_fields, validate_password_hash, Account, AccountEvent,
    AccountsState, EmailClash, Role, LOG_NAME, MAX_ACCOUNTS,
};
use super::throttle::LoginThrottle;
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
            Some(user_id) => self.update(user_id, Some(msg.role), Some(msg.password_hash)),
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
