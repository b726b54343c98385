//! User accounts: one concept per submodule.
//!
//! - [`model`]: what an account is, the events that change accounts, the
//!   state they build, and the limits on an account's fields.
//! - [`sessions`]: logins, each a family of rotating refresh tokens, and
//!   their bounds.
//! - [`roles`]: every account's role, readable by any request without a
//!   message (what endpoints that need a role check).
//! - [`throttle`]: the in-memory login throttle (failed logins per account
//!   and address, with a per-account ceiling) and the turns that make a
//!   login one step.
//! - [`passwords`]: the injected password hasher (argon2 lives in the HTTP
//!   layer, off the actor threads).
//! - [`password_policy`]: what a new password must be (length, not common).
//! - [`actor`]: the `AccountsActor` that owns accounts and the throttle and
//!   makes changes durable.
//!
//! This module holds the account operations as the API layer calls them
//! (`impl Registry`): [`Registry::register_account`] and [`Registry::login`]
//! (each one operation, the rule's steps in order), look-ups, role and
//! password changes, the start-up `ensure_account`, logins' refresh tokens
//! (start, rotate, end one, end all), and the throttle's steps.
//! The actor only ever sees password hashes (see `actor`).

pub mod actor;
pub mod email_codes;
pub mod model;
pub mod password_policy;
pub mod passwords;
pub mod roles;
pub mod sessions;
pub mod throttle;

#[cfg(test)]
mod tests;

#[cfg(feature = "test-hooks")]
pub use actor::ExportAccounts;
pub use actor::{AccountsActor, ACCOUNTS_PER_SCAN, MAX_ACCOUNTS_PAGE};
pub use email_codes::{CodePurpose, CODE_TTL_MS, MAX_CODE_CHARS};
pub use model::{normalize_email, Account, AccountEvent, AccountsState, EmailClash, Role};
pub use password_policy::{check_new_password, MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS};
pub use passwords::Passwords;
pub use roles::RoleBoard;
pub use sessions::{Session, SessionEnd, SessionGrant, Sessions, TokenId, MAX_SESSIONS_PER_USER};
pub use throttle::{
    LoginSource, LoginThrottle, LOGIN_FAILURE_WINDOW_MS, MAX_ACCOUNT_FAILURES, MAX_LOGIN_FAILURES,
};

use boxoffice_engine::ids::UserId;

use crate::error::{EngineError, EngineResult};
use crate::registry::Registry;
use actor::{
    CheckEmailCode, CheckLogin, ClearLoginFailures, EmailClashes, EndAllSessions, EndSession,
    EnsureAccount, FindByEmail, GetAccount, IssueEmailCode, ListAccounts, RecordLoginFailure,
    RefreshSession, Register, ScanAccounts, SetPassword, SetRole, SpendEmailCode, StartSession,
};

/// Longest `q` of a user search, in characters.
pub const MAX_USER_QUERY_CHARS: usize = 100;

/// Which accounts an admin's user search wants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AccountQuery {
    /// Every account.
    All,
    /// The account with this email, compared normalized like a login.
    Email(String),
    /// Accounts whose email or name contains this, ignoring case.
    Part(String),
}

impl Registry {
    /// Self-registration: a new USER account with this password, hashed by
    /// `passwords` with a salt from the injected random source.
    /// `Validation` if the password breaks the [`password_policy`] (400
    /// before 409: a bad request is refused whatever the store holds).
    /// `EmailTaken` if the normalized email already has an account: checked
    /// before hashing, so a taken email costs no hash, and again by the
    /// accounts actor, so of racing registrations exactly one wins.
    pub async fn register_account(
        &self,
        email: String,
        name: String,
        phone_number: Option<String>,
        password: String,
        passwords: &impl Passwords,
    ) -> EngineResult<Account> {
        check_new_password(&password)?;
        if self.account_by_email(&email).await?.is_some() {
            return Err(EngineError::EmailTaken);
        }
        let hash = passwords.hash(password, self.context().ids.bytes()).await?;
        self.register(email, name, phone_number, hash, Role::User)
            .await
    }

    /// The account whose email and password these are, or
    /// `InvalidCredentials` (unknown email and wrong password alike), or
    /// `RateLimited` when `source` had too many failed logins on this
    /// account lately (never for a source without recent failures: see
    /// `throttle`).
    ///
    /// One step per account and source: the throttle check, the
    /// verification and the failure count run under their login turn, so
    /// concurrent guesses cannot all pass the check before the first failure counts.
    /// An unknown email is verified against `P::DECOY_HASH` and counted like
    /// a wrong password, so neither the time taken nor the throttle tells
    /// whether an account exists.
    pub async fn login<P: Passwords>(
        &self,
        email: &str,
        source: LoginSource,
        password: String,
        passwords: &P,
    ) -> EngineResult<Account> {
        let _turn = self.login_turns().take(email, source).await;
        self.login_allowed(email, source).await?;
        let account = self.account_by_email(email).await?;
        let hash = account
            .as_ref()
            .map_or(P::DECOY_HASH, |a| a.password_hash.as_str())
            .to_string();
        let matches = passwords.verify(password, hash).await?;
        match account {
            Some(account) if matches => {
                self.login_succeeded(email, source).await?;
                Ok(account)
            }
            _ => {
                self.login_failed(email, source).await?;
                Err(EngineError::InvalidCredentials)
            }
        }
    }

    /// Creates an account from a password hash; `EmailTaken` if its
    /// normalized email already has one. The API registers through
    /// [`Registry::register_account`].
    pub async fn register(
        &self,
        email: String,
        name: String,
        phone_number: Option<String>,
        password_hash: String,
        role: Role,
    ) -> EngineResult<Account> {
        self.accounts()
            .command(Register {
                email,
                name,
                phone_number,
                password_hash,
                role,
            })
            .await
    }

    /// The account, if any. `None` rather than `NotFound` because callers
    /// answer it differently (401 for a token whose user is gone, 404 for an admin).
    pub async fn account(&self, user_id: UserId) -> EngineResult<Option<Account>> {
        self.accounts().query(GetAccount { user_id }).await
    }

    /// The account with this email (compared normalized), if any. `None` is
    /// not an error because login must answer it exactly like a wrong password.
    pub async fn account_by_email(&self, email: &str) -> EngineResult<Option<Account>> {
        self.accounts()
            .query(FindByEmail {
                email: email.to_string(),
            })
            .await
    }

    /// Oldest first; returns the page (at most `MAX_ACCOUNTS_PAGE`) and the total.
    pub async fn list_accounts(
        &self,
        offset: usize,
        limit: usize,
    ) -> EngineResult<(Vec<Account>, usize)> {
        self.accounts().query(ListAccounts { offset, limit }).await
    }

    /// One page (`offset`, at most `limit`) of the accounts `query` wants,
    /// oldest first, and how many it wants in all.
    ///
    /// Bounded: an email is one index look-up; a part of one is a scan of
    /// every account (there are at most `MAX_ACCOUNTS`), done as a series of
    /// [`ScanAccounts`] messages of at most `ACCOUNTS_PER_SCAN` accounts
    /// each, so the accounts actor answers logins between two of them
    /// rather than after the whole scan. The cost is one pass over the
    /// accounts per search, an admin's action.
    pub async fn find_accounts(
        &self,
        query: AccountQuery,
        offset: usize,
        limit: usize,
    ) -> EngineResult<(Vec<Account>, usize)> {
        let limit = limit.min(MAX_ACCOUNTS_PAGE);
        let needle = match query {
            AccountQuery::All => return self.list_accounts(offset, limit).await,
            AccountQuery::Email(email) => {
                let found: Vec<Account> =
                    self.account_by_email(&email).await?.into_iter().collect();
                let total = found.len();
                return Ok((found.into_iter().skip(offset).take(limit).collect(), total));
            }
            AccountQuery::Part(part) => part.to_lowercase(),
        };
        let (mut page, mut matched, mut after) = (Vec::new(), 0usize, None);
        loop {
            let scanned = self
                .accounts()
                .query(ScanAccounts {
                    after,
                    needle: needle.clone(),
                    skip: offset.saturating_sub(matched),
                    take: limit - page.len(),
                })
                .await?;
            page.extend(scanned.kept);
            matched += scanned.matched;
            match scanned.next {
                Some(next) => after = Some(next),
                None => return Ok((page, matched)),
            }
        }
    }

    /// Gives the account `role` on the word of `by` (the admin, recorded in
    /// the event and logged). `LastAdmin` when it would leave no ADMIN.
    pub async fn set_role(&self, user_id: UserId, role: Role, by: UserId) -> EngineResult<Account> {
        self.accounts().command(SetRole { user_id, role, by }).await
    }

    /// The account's role as it is now (durable), without a message to the
    /// accounts actor; `None` when no account has this id. What every
    /// request that needs a role checks (never the token's claim).
    pub fn role_of(&self, user_id: UserId) -> Option<Role> {
        self.roles().role_of(user_id)
    }

    /// Whether any account is an ADMIN (the server prints how to make the
    /// first one when none is).
    pub fn has_admin(&self) -> bool {
        self.roles().any_admin()
    }

    /// [`Registry::login`], then a new login of that account whose refresh
    /// token lives `refresh_ttl_ms` (see `sessions`).
    pub async fn login_session<P: Passwords>(
        &self,
        email: &str,
        source: LoginSource,
        password: String,
        passwords: &P,
        refresh_ttl_ms: i64,
    ) -> EngineResult<(Account, SessionGrant)> {
        let account = self.login(email, source, password, passwords).await?;
        let grant = self.start_session(account.user_id, refresh_ttl_ms).await?;
        Ok((account, grant))
    }

    /// A new login of an existing account (durable before this returns).
    pub async fn start_session(
        &self,
        user_id: UserId,
        refresh_ttl_ms: i64,
    ) -> EngineResult<SessionGrant> {
        self.accounts()
            .command(StartSession {
                user_id,
                ttl_ms: refresh_ttl_ms,
            })
            .await
    }

    /// Spends the refresh token `refresh_id` of login `session_id` for a new
    /// one, with the account as it is now. `InvalidRefreshToken` for an
    /// unknown, ended, expired or spent one; a spent one also ends the login.
    pub async fn refresh_session(
        &self,
        user_id: UserId,
        session_id: TokenId,
        refresh_id: TokenId,
        refresh_ttl_ms: i64,
    ) -> EngineResult<(Account, SessionGrant)> {
        self.accounts()
            .command(RefreshSession {
                user_id,
                session_id,
                refresh_id,
                ttl_ms: refresh_ttl_ms,
            })
            .await
    }

    /// Logout: ends the login whose live refresh token this is; refused as
    /// [`Registry::refresh_session`] refuses.
    pub async fn end_session(
        &self,
        user_id: UserId,
        session_id: TokenId,
        refresh_id: TokenId,
    ) -> EngineResult<()> {
        self.accounts()
            .command(EndSession {
                user_id,
                session_id,
                refresh_id,
            })
            .await
    }

    /// Ends every login of the user (for a password change or reset);
    /// returns how many were live. Access tokens already issued run out on
    /// their own (see `sessions`).
    pub async fn end_all_sessions(&self, user_id: UserId) -> EngineResult<usize> {
        self.accounts().command(EndAllSessions { user_id }).await
    }

    pub async fn set_password(
        &self,
        user_id: UserId,
        password_hash: String,
    ) -> EngineResult<Account> {
        self.accounts()
            .command(SetPassword {
                user_id,
                password_hash,
            })
            .await
    }

    /// Accounts stored before the NFKC email fold that now share one address
    /// (kept apart; see `AccountsState::fold_emails`): reported at start-up.
    pub async fn email_clashes(&self) -> EngineResult<Vec<EmailClash>> {
        self.accounts().query(EmailClashes).await
    }

    /// Creates the account, or gives the existing one this role and password
    /// hash (keeping its name). Idempotent.
    pub async fn ensure_account(
        &self,
        email: String,
        name: String,
        password_hash: String,
        role: Role,
    ) -> EngineResult<Account> {
        self.accounts()
            .command(EnsureAccount {
                email,
                name,
                password_hash,
                role,
            })
            .await
    }

    /// A new code for `purpose` to the account `user_id`: the account and
    /// the code's text (shown only here, stored only as its hash; see
    /// `email_codes`). `None` when there is no such account, or nothing to
    /// verify.
    pub async fn issue_email_code(
        &self,
        user_id: UserId,
        purpose: CodePurpose,
    ) -> EngineResult<Option<(Account, String)>> {
        let code = email_codes::code_text(self.context().ids.bytes());
        let account = self
            .accounts()
            .command(IssueEmailCode {
                user_id,
                purpose,
                code_hash: email_codes::code_hash(&code),
            })
            .await?;
        Ok(account.map(|account| (account, code)))
    }

    /// [`Registry::issue_email_code`] for the account with this email, if any.
    pub async fn issue_email_code_for_email(
        &self,
        email: &str,
        purpose: CodePurpose,
    ) -> EngineResult<Option<(Account, String)>> {
        match self.account_by_email(email).await? {
            Some(account) => self.issue_email_code(account.user_id, purpose).await,
            None => Ok(None),
        }
    }

    /// Password reset: `new_password` (checked by the policy first:
    /// `Validation`) becomes the password of the account the reset `code`
    /// was mailed to, the code is spent and every login of the account ends,
    /// in one durable batch. `InvalidCode` for an unknown, used or expired
    /// code (checked before the slow hash, and again as it is spent).
    pub async fn reset_password(
        &self,
        code: &str,
        new_password: String,
        passwords: &impl Passwords,
    ) -> EngineResult<Account> {
        check_new_password(&new_password)?;
        let code_hash = email_codes::code_hash(code);
        let purpose = CodePurpose::PasswordReset;
        self.accounts()
            .query(CheckEmailCode { purpose, code_hash })
            .await??;
        let hash = passwords
            .hash(new_password, self.context().ids.bytes())
            .await?;
        self.accounts()
            .command(SpendEmailCode {
                purpose,
                code_hash,
                password_hash: Some(hash),
            })
            .await
    }

    /// E-mail verification: spends the verification `code` and marks its
    /// account's address verified. `InvalidCode` for an unknown, used or
    /// expired code.
    pub async fn verify_email(&self, code: &str) -> EngineResult<Account> {
        self.accounts()
            .command(SpendEmailCode {
                purpose: CodePurpose::VerifyEmail,
                code_hash: email_codes::code_hash(code),
                password_hash: None,
            })
            .await
    }

    /// `Err(RateLimited)` when `source` may not try this email now (see
    /// `throttle`). A step of [`Registry::login`], before verifying the
    /// password, so a refused guess costs no hash.
    pub async fn login_allowed(&self, email: &str, source: LoginSource) -> EngineResult<()> {
        self.accounts()
            .query(CheckLogin {
                email: email.to_string(),
                source,
            })
            .await?
    }

    /// Counts a failed login (unknown email or wrong password alike); a step of [`Registry::login`].
    pub async fn login_failed(&self, email: &str, source: LoginSource) -> EngineResult<()> {
        self.accounts()
            .query(RecordLoginFailure {
                email: email.to_string(),
                source,
            })
            .await
    }

    /// Forgets `source`'s failed logins on the email; a step of [`Registry::login`].
    pub async fn login_succeeded(&self, email: &str, source: LoginSource) -> EngineResult<()> {
        self.accounts()
            .query(ClearLoginFailures {
                email: email.to_string(),
                source,
            })
            .await
    }
}
