//! User accounts: one concept per submodule.
//!
//! - [`model`]: what an account is, the events that change accounts, the
//!   state they build, and the limits on an account's fields.
//! - [`throttle`]: the in-memory login throttle (failed logins per email).
//! - [`actor`]: the `AccountsActor` that owns both and makes changes durable.
//!
//! This module holds the account operations as the API layer calls them
//! (`impl Registry`): registration, look-ups, role and password changes, the
//! start-up `ensure_account`, and the login throttle. Passwords arrive here
//! already hashed (see `actor`).

pub mod actor;
pub mod model;
pub mod throttle;

#[cfg(feature = "test-hooks")]
pub use actor::ExportAccounts;
pub use actor::{AccountsActor, MAX_ACCOUNTS_PAGE};
pub use model::{normalize_email, Account, AccountEvent, AccountsState, Role};
pub use throttle::{LoginThrottle, LOGIN_FAILURE_WINDOW_MS, MAX_LOGIN_FAILURES};

use boxoffice_engine::ids::UserId;

use crate::error::EngineResult;
use crate::registry::Registry;
use actor::{
    CheckLogin, ClearLoginFailures, EnsureAccount, FindByEmail, GetAccount, ListAccounts,
    RecordLoginFailure, Register, SetPassword, SetRole,
};

impl Registry {
    /// Creates an account; `EmailTaken` if its normalized email already has one.
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

    pub async fn set_role(&self, user_id: UserId, role: Role) -> EngineResult<Account> {
        self.accounts().command(SetRole { user_id, role }).await
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

    /// `Err(RateLimited)` when the email had too many failed logins lately.
    /// Call before verifying the password, so a locked account costs no hash.
    pub async fn login_allowed(&self, email: &str) -> EngineResult<()> {
        self.accounts()
            .query(CheckLogin {
                email: email.to_string(),
            })
            .await?
    }

    /// Counts a failed login (unknown email or wrong password alike).
    pub async fn login_failed(&self, email: &str) -> EngineResult<()> {
        self.accounts()
            .query(RecordLoginFailure {
                email: email.to_string(),
            })
            .await
    }

    /// Forgets the email's failed logins.
    pub async fn login_succeeded(&self, email: &str) -> EngineResult<()> {
        self.accounts()
            .query(ClearLoginFailures {
                email: email.to_string(),
            })
            .await
    }
}
