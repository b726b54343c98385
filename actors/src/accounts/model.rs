//! The account model: what an account is ([`Account`], [`Role`]), the
//! events that change accounts and logins, the state they build
//! ([`AccountsState`], with its email and creation-order indexes and the live
//! logins of `sessions`) and the limits a new account's fields must keep.
//! Pure data and rules: the actor (`actor.rs`) owns the state and makes its
//! changes durable; nothing here does I/O but [`AccountsState::load`].
//!
//! Stored formats: events and snapshots are bincode, which names enum variants
//! by position and struct fields by order. So new events are appended last,
//! and a snapshot written before `sessions` existed is still read (see
//! [`AccountsState::decode_snapshot`]).

use boxoffice_engine::ids::UserId;
use boxoffice_engine::Timestamp;
use boxoffice_storage::{codec, Store, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};

use super::sessions::{Session, SessionEnd, Sessions, TokenId};
use crate::error::{EngineError, EngineResult};
use crate::journal::read_history_with;

/// The accounts' log (and snapshot) name.
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

/// Appended last only: bincode stores a variant as its position.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AccountEvent {
    Registered(Account),
    /// A role set by the server's configuration at start-up (no user made
    /// it), and every role change logged before `RoleChangedBy` existed.
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
    /// A role change an admin made: the audit trail of who and when.
    RoleChangedBy {
        user_id: UserId,
        role: Role,
        by: UserId,
        at: Timestamp,
    },
    /// A login: its refresh-token family starts.
    SessionStarted(Session),
    /// A refresh: the family's live refresh token is now `refresh_id`.
    SessionRotated {
        session_id: TokenId,
        refresh_id: TokenId,
        expires_at: Timestamp,
        at: Timestamp,
    },
    /// One login ended (logout, or a spent refresh token presented again).
    SessionEnded {
        session_id: TokenId,
        reason: SessionEnd,
        at: Timestamp,
    },
    /// Every login of the user ended.
    AllSessionsEnded {
        user_id: UserId,
        at: Timestamp,
    },
}

/// The one form an email is compared and stored in: trimmed, lowercase.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Snapshot contents: every account plus the two indexes over them, and the
/// live logins. The indexes are stored rather than rebuilt so a snapshot
/// loads as it was saved; [`AccountsState::check_invariants`] proves they
/// agree on every load.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AccountsState {
    pub accounts: HashMap<UserId, Account>,
    pub by_email: HashMap<String, UserId>,
    /// `ListAccounts` order: oldest first, ties broken by id.
    pub by_created: BTreeSet<(Timestamp, UserId)>,
    /// Last: a snapshot of the three fields above alone is the older format.
    pub sessions: Sessions,
}

/// The snapshot as written before logins were kept (the same fields, in the
/// same order, without `sessions`).
#[derive(Deserialize)]
struct AccountsStateWithoutSessions {
    accounts: HashMap<UserId, Account>,
    by_email: HashMap<String, UserId>,
    by_created: BTreeSet<(Timestamp, UserId)>,
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
            AccountEvent::RoleChangedBy { user_id, role, .. } => {
                let account = self.accounts.get_mut(user_id);
                debug_assert!(account.is_some(), "role change for an unknown account");
                if let Some(account) = account {
                    account.role = *role;
                }
            }
            AccountEvent::SessionStarted(session) => self.sessions.start(session.clone()),
            AccountEvent::SessionRotated {
                session_id,
                refresh_id,
                expires_at,
                ..
            } => self.sessions.rotate(*session_id, *refresh_id, *expires_at),
            AccountEvent::SessionEnded { session_id, .. } => self.sessions.end(*session_id),
            AccountEvent::AllSessionsEnded { user_id, .. } => {
                self.sessions.end_all(*user_id);
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
        self.sessions.check_invariants()?;
        if let Some(user) = self
            .sessions
            .users()
            .find(|user| !self.accounts.contains_key(user))
        {
            return Err(format!("logins of {user}, which has no account"));
        }
        Ok(())
    }

    /// A snapshot of either format: the current one, or one written before
    /// logins were kept (its accounts, with no login).
    pub fn decode_snapshot(bytes: &[u8]) -> Result<AccountsState, StoreError> {
        let current = match codec::decode::<AccountsState>(bytes) {
            Ok(state) => return Ok(state),
            Err(err) => err,
        };
        match codec::decode::<AccountsStateWithoutSessions>(bytes) {
            Ok(old) => Ok(AccountsState {
                accounts: old.accounts,
                by_email: old.by_email,
                by_created: old.by_created,
                sessions: Sessions::default(),
            }),
            Err(_) => Err(current),
        }
    }

    pub fn load(store: &dyn Store) -> Result<AccountsState, StoreError> {
        let history = read_history_with::<AccountsState, AccountEvent>(
            store,
            LOG_NAME,
            AccountsState::decode_snapshot,
        )?;
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

/// The Unicode bidirectional formatting characters (embeddings, overrides,
/// isolates and marks).
fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

/// Checks the fields of a new account against the limits above.
pub(super) fn validate_account_fields(
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
    if name.chars().any(is_bidi_control) {
        // They reorder what follows (U+202E shows "evil.exe" as "exe.live").
        return invalid("name must not contain bidirectional control characters");
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

pub(super) fn validate_password_hash(password_hash: &str) -> EngineResult<()> {
    if password_hash.is_empty() || password_hash.len() > MAX_PASSWORD_HASH_LEN {
        return Err(EngineError::Internal(format!(
            "a password hash must be 1-{MAX_PASSWORD_HASH_LEN} bytes"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
            created_at: Timestamp(1_000_000_000),
        };
        state.apply(&AccountEvent::Registered(account));
        assert_eq!(state.check_invariants(), Ok(()));
        state.by_email.clear();
        assert!(state.check_invariants().is_err());
    }
}
