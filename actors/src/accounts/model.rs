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
//!
//! Emails are compared folded ([`normalize_email`]: NFKC, then lowercase), so
//! one address is one account however it is spelled. Accounts stored before
//! the fold (trim + lowercase only) are re-keyed at load; two of them that
//! the fold makes one address are never merged ([`AccountsState::fold_emails`]).

use boxoffice_engine::ids::UserId;
use boxoffice_engine::Timestamp;
use boxoffice_storage::{codec, Store, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use unicode_normalization::UnicodeNormalization;

use super::email_codes::{CodeHash, EmailCode, EmailCodes};
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
    /// Folded by [`normalize_email`], except for the accounts of an
    /// [`AccountsState::email_clashes`] group, which keep their older spelling.
    pub email: String,
    pub name: String,
    pub phone_number: Option<String>,
    pub role: Role,
    /// A PHC string produced by the HTTP layer; never interpreted here.
    pub password_hash: String,
    pub created_at: Timestamp,
    /// Whether the owner proved the address is theirs (a verification code).
    /// Derived from [`EmailCodes::verified`], never stored with the account
    /// (`skip` keeps `Registered` events and snapshots as they were).
    #[serde(skip)]
    pub email_verified: bool,
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
    /// A code was mailed (only its hash is kept; see `email_codes`).
    EmailCodeIssued {
        code_hash: CodeHash,
        code: EmailCode,
        at: Timestamp,
    },
    /// A code was used: it works no more.
    EmailCodeSpent {
        code_hash: CodeHash,
        at: Timestamp,
    },
    /// The account's owner proved the address is theirs.
    EmailVerified {
        user_id: UserId,
        at: Timestamp,
    },
}

/// Rounds of [`normalize_email`]'s fold at most. One round reaches the
/// fixed point for every address we know of (a second round is a check);
/// the bound only makes termination obvious.
const MAX_FOLD_ROUNDS: usize = 4;

/// The one form an email is compared and stored in: Unicode NFKC, then
/// lowercase, trimmed, repeated until stable. NFKC makes NFC, NFD and
/// compatibility spellings (fullwidth letters, ligatures) one string; the
/// lowercase after it stands in for Unicode case folding (they differ only
/// for a few non-ASCII letters such as `ß`, which lowercase keeps and full
/// folding would turn into `ss`: two accounts for those, never one for two).
/// Lowercasing can leave a string that is no longer NFKC, so the fold is
/// repeated until it no longer changes anything, which makes it idempotent
/// (stored emails must be their own normal form, see `check_invariants`).
pub fn normalize_email(email: &str) -> String {
    let mut folded = email.trim().to_string();
    for _ in 0..MAX_FOLD_ROUNDS {
        let next = folded
            .nfkc()
            .collect::<String>()
            .to_lowercase()
            .trim()
            .to_string();
        if next == folded {
            break;
        }
        folded = next;
    }
    folded
}

/// The form emails were stored in before the NFKC fold: trimmed, lowercase.
/// Still the key of the accounts of a clash group (see [`AccountsState::fold_emails`]).
fn legacy_email_key(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Accounts stored before the NFKC fold whose emails the fold makes one
/// address: kept apart, each reachable by its own older spelling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmailClash {
    /// The address they share once folded.
    pub folded_email: String,
    /// Their ids, sorted.
    pub user_ids: Vec<UserId>,
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
    /// Folded email → the accounts that share it (sorted ids, at least two),
    /// found by [`AccountsState::fold_emails`] at load. Derived, so never
    /// stored (`skip` keeps the snapshot format unchanged).
    #[serde(skip)]
    pub email_clashes: BTreeMap<String, Vec<UserId>>,
    /// Live mailed codes and verified addresses. Last: a snapshot without
    /// it is the format before e-mail ([`AccountsStateWithoutEmailCodes`]).
    pub email_codes: EmailCodes,
}

/// The snapshot as written before mailed codes were kept (the same fields,
/// in the same order, without `email_codes`).
#[derive(Deserialize)]
struct AccountsStateWithoutEmailCodes {
    accounts: HashMap<UserId, Account>,
    by_email: HashMap<String, UserId>,
    by_created: BTreeSet<(Timestamp, UserId)>,
    sessions: Sessions,
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
            AccountEvent::EmailCodeIssued {
                code_hash,
                code,
                at,
            } => self.email_codes.issue(*code_hash, code.clone(), *at),
            AccountEvent::EmailCodeSpent { code_hash, .. } => {
                self.email_codes.live.remove(code_hash);
            }
            AccountEvent::EmailVerified { user_id, .. } => {
                self.email_codes.verified.insert(*user_id);
                if let Some(account) = self.accounts.get_mut(user_id) {
                    account.email_verified = true;
                }
            }
        }
    }

    /// Sets each account's derived `email_verified` from the verified set
    /// (after a snapshot is read: the flag is not stored with accounts).
    fn mark_verified(&mut self) {
        for (id, account) in self.accounts.iter_mut() {
            account.email_verified = self.email_codes.verified.contains(id);
        }
    }

    /// The account `email` (any spelling) names. An address shared by a
    /// clash group names none of them by its folded form: each is found by
    /// the spelling it was registered with, as before the fold.
    pub fn find_by_email(&self, email: &str) -> Option<&Account> {
        let folded = normalize_email(email);
        let id = match self.email_clashes.get(&folded) {
            Some(group) => self
                .by_email
                .get(&legacy_email_key(email))
                .filter(|id| group.contains(id)),
            None => self.by_email.get(&folded),
        };
        id.and_then(|id| self.accounts.get(id))
    }

    /// Whether a new account may not have this folded email: an account has
    /// it, or a clash group shares it.
    pub fn email_taken(&self, folded_email: &str) -> bool {
        self.by_email.contains_key(folded_email) || self.email_clashes.contains_key(folded_email)
    }

    /// The clash groups, for the start-up report.
    pub fn clashes(&self) -> Vec<EmailClash> {
        self.email_clashes
            .iter()
            .map(|(folded_email, user_ids)| EmailClash {
                folded_email: folded_email.clone(),
                user_ids: user_ids.clone(),
            })
            .collect()
    }

    /// The start-up migration to the NFKC fold: every account whose stored
    /// email is not folded yet is re-keyed to its folded form, unless another
    /// account folds to the same address. Those are never merged (that would
    /// hand one person's tickets and wallet to another): they form a clash
    /// group, each keeps its email and stays reachable by it, and new
    /// registrations of the address are refused. Idempotent, and derived from
    /// the accounts alone, so it runs on every load and needs no event.
    /// Returns how many accounts were re-keyed.
    pub fn fold_emails(&mut self) -> usize {
        let mut by_folded: HashMap<String, Vec<UserId>> = HashMap::new();
        for (id, account) in &self.accounts {
            by_folded
                .entry(normalize_email(&account.email))
                .or_default()
                .push(*id);
        }
        self.email_clashes.clear();
        let mut rekeyed = 0;
        for (folded, mut ids) in by_folded {
            if ids.len() > 1 {
                ids.sort();
                self.email_clashes.insert(folded, ids);
                continue;
            }
            let id = ids[0];
            let Some(account) = self.accounts.get_mut(&id) else {
                continue;
            };
            if account.email == folded {
                continue;
            }
            // Unique: an account already keyed `folded` would have folded
            // to it too and made a clash group.
            if self.by_email.get(&account.email) == Some(&id) {
                self.by_email.remove(&account.email);
            }
            account.email.clone_from(&folded);
            self.by_email.insert(folded, id);
            rekeyed += 1;
        }
        rekeyed
    }

    /// The indexes cover exactly the accounts, and emails are unique and
    /// folded (or kept by a clash group).
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
            let folded = normalize_email(&account.email);
            let in_clash = self
                .email_clashes
                .get(&folded)
                .is_some_and(|group| group.contains(id));
            if account.email != folded && !in_clash {
                return Err(format!("account {id} has an unnormalized email"));
            }
            if self.by_email.get(&account.email) != Some(id) {
                return Err(format!("account {id} is missing from the email index"));
            }
            if !self.by_created.contains(&(account.created_at, *id)) {
                return Err(format!("account {id} is missing from the creation index"));
            }
            if account.email_verified != self.email_codes.verified.contains(id) {
                return Err(format!(
                    "account {id}'s verified flag disagrees with the set"
                ));
            }
        }
        self.sessions.check_invariants()?;
        if let Some(code) = self
            .email_codes
            .live
            .values()
            .find(|code| !self.accounts.contains_key(&code.user_id))
        {
            return Err(format!("a code of {}, which has no account", code.user_id));
        }
        if let Some(user) = self
            .sessions
            .users()
            .find(|user| !self.accounts.contains_key(user))
        {
            return Err(format!("logins of {user}, which has no account"));
        }
        for (folded, group) in &self.email_clashes {
            let members_fold_to_it = group.iter().all(|id| {
                self.accounts
                    .get(id)
                    .is_some_and(|a| normalize_email(&a.email) == *folded)
            });
            if group.len() < 2 || !members_fold_to_it {
                return Err(format!("the clash group of {folded:?} is not one"));
            }
        }
        Ok(())
    }

    /// A snapshot of any format: the current one, one written before mailed
    /// codes were kept (no code, nobody verified), or one written before
    /// logins were kept (its accounts, with no login).
    pub fn decode_snapshot(bytes: &[u8]) -> Result<AccountsState, StoreError> {
        let current = match codec::decode::<AccountsState>(bytes) {
            Ok(mut state) => {
                state.mark_verified();
                return Ok(state);
            }
            Err(err) => err,
        };
        if let Ok(old) = codec::decode::<AccountsStateWithoutEmailCodes>(bytes) {
            return Ok(AccountsState {
                accounts: old.accounts,
                by_email: old.by_email,
                by_created: old.by_created,
                sessions: old.sessions,
                ..AccountsState::default()
            });
        }
        match codec::decode::<AccountsStateWithoutSessions>(bytes) {
            Ok(old) => Ok(AccountsState {
                accounts: old.accounts,
                by_email: old.by_email,
                by_created: old.by_created,
                ..AccountsState::default()
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
        let rekeyed = state.fold_emails();
        if rekeyed > 0 {
            tracing::info!(rekeyed, "accounts re-keyed by their NFKC-folded email");
        }
        for clash in state.clashes() {
            tracing::warn!(
                email = %clash.folded_email,
                user_ids = ?clash.user_ids,
                "accounts share one email once folded; kept apart, each reachable by its own spelling"
            );
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
            email_verified: false,
        };
        state.apply(&AccountEvent::Registered(account));
        assert_eq!(state.check_invariants(), Ok(()));
        state.by_email.clear();
        assert!(state.check_invariants().is_err());
    }

    fn legacy_account(byte: u8, email: &str) -> Account {
        Account {
            user_id: UserId::from_random_bytes([byte; 16]),
            // Stored as the code before the fold stored it.
            email: legacy_email_key(email),
            name: format!("Account {byte}"),
            phone_number: None,
            role: Role::User,
            password_hash: "$argon2id$...".into(),
            created_at: Timestamp(1_000_000_000 + i64::from(byte)),
            email_verified: false,
        }
    }

    #[test]
    fn emails_fold_nfc_nfd_fullwidth_and_case_to_one_form_idempotently() {
        let nfc = "Jos\u{e9}@Example.com";
        let nfd = "jose\u{301}@example.COM";
        let fullwidth = " \u{FF2A}os\u{e9}@example.com ";
        let folded = normalize_email(nfc);
        assert_eq!(folded, "jos\u{e9}@example.com");
        assert_eq!(normalize_email(nfd), folded);
        assert_eq!(normalize_email(fullwidth), folded);
        for sample in [
            nfc,
            nfd,
            fullwidth,
            "\u{130}STANBUL@x.tr",
            "\u{212B}@x",
            "ﬀ@x",
            "ß@x",
        ] {
            let once = normalize_email(sample);
            assert_eq!(normalize_email(&once), once, "idempotent on {sample:?}");
        }
    }

    #[test]
    fn the_fold_rekeys_legacy_accounts_and_merges_no_clash() {
        let mut state = AccountsState::default();
        let nfc = legacy_account(1, "Jos\u{e9}@example.com");
        let nfd = legacy_account(2, "jose\u{301}@example.com");
        let alone = legacy_account(3, "Ren\u{e9}e\u{301}@example.com");
        let plain = legacy_account(4, "kim@example.com");
        for account in [&nfc, &nfd, &alone, &plain] {
            state.apply(&AccountEvent::Registered(account.clone()));
        }
        // Before the fold the NFD spelling is not normalized.
        assert!(state.check_invariants().is_err());
        assert_eq!(state.fold_emails(), 1, "only the lone NFD account moves");
        assert_eq!(state.check_invariants(), Ok(()));
        assert_eq!(state.fold_emails(), 0, "idempotent");

        // The lone account answers to every spelling now.
        let found = |email: &str| state.find_by_email(email).map(|a| a.user_id);
        assert_eq!(found("REN\u{c9}E\u{301}@example.com"), Some(alone.user_id));
        assert_eq!(found("ren\u{e9}e\u{301}@example.com"), Some(alone.user_id));
        assert_eq!(found("Kim@Example.com"), Some(plain.user_id));

        // The clash: both kept, each by its own spelling, the address taken.
        let folded = normalize_email("jos\u{e9}@example.com");
        assert_eq!(
            state.clashes(),
            vec![EmailClash {
                folded_email: folded.clone(),
                user_ids: {
                    let mut ids = vec![nfc.user_id, nfd.user_id];
                    ids.sort();
                    ids
                },
            }]
        );
        assert_eq!(found("JOS\u{c9}@example.com"), Some(nfc.user_id));
        assert_eq!(found("jose\u{301}@EXAMPLE.com"), Some(nfd.user_id));
        assert_eq!(
            found("\u{FF2A}os\u{e9}@example.com"),
            None,
            "a third spelling is neither"
        );
        assert!(state.email_taken(&folded));
        assert_eq!(state.accounts.len(), 4, "nothing merged");
        assert_eq!(
            state.accounts[&nfd.user_id].email, nfd.email,
            "kept as stored"
        );
    }
}
