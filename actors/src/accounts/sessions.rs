//! Logins as the server remembers them (API.md, "Account and token rules"):
//! each login is a [`Session`], the family of refresh tokens it started, of
//! which exactly one, the last issued, is live. Refreshing spends it and makes
//! a new one live; presenting a spent one again means it was copied, so the
//! whole family ends; logout ends one family; [`Sessions::end_all`] every
//! family of a user (a password change or reset will call it).
//!
//! Only refresh tokens are tracked. Access tokens stay stateless: one keeps
//! working until its own expiry (the access-token lifetime, an hour by
//! default) after its login ended, except for what needs a role, which is
//! checked against the account on every request (see `roles`).
//!
//! Bounds: a user keeps at most [`MAX_SESSIONS_PER_USER`] live logins (a new
//! one drops the oldest), and an expired login is dropped when its user logs
//! in again and at every snapshot of the accounts log, so the sessions held
//! are at most that many per account plus those started since the last
//! snapshot. Pure data and rules: the accounts actor makes the changes durable.

use boxoffice_engine::ids::UserId;
use boxoffice_engine::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;

/// Most live logins one user keeps; a new login past it ends their oldest.
/// Enough for a phone, a laptop and a few browsers; small enough that no one
/// user can grow the server's memory by logging in again and again.
pub const MAX_SESSIONS_PER_USER: usize = 10;

/// A login's id (the `sid` claim) or a refresh token's id (its `jti`): 128
/// random bits from the injected random source, written as 32 hex digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TokenId(pub [u8; 16]);

impl TokenId {
    /// The id written as `Display` writes it (32 lowercase hex digits), or `None`.
    pub fn parse(text: &str) -> Option<TokenId> {
        if text.len() != 32 || !text.is_ascii() {
            return None;
        }
        let mut bytes = [0u8; 16];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(TokenId(bytes))
    }
}

impl fmt::Display for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

/// One login: its user, its one live refresh token and when that expires.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub session_id: TokenId,
    pub user_id: UserId,
    /// The `jti` of the family's live refresh token; every earlier one is spent.
    pub refresh_id: TokenId,
    pub started_at: Timestamp,
    /// The live refresh token's expiry; the login ends with it.
    pub expires_at: Timestamp,
}

/// What a login or a refresh hands the HTTP layer to sign into a refresh token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionGrant {
    pub session_id: TokenId,
    pub refresh_id: TokenId,
    pub expires_at: Timestamp,
}

impl From<&Session> for SessionGrant {
    fn from(session: &Session) -> Self {
        SessionGrant {
            session_id: session.session_id,
            refresh_id: session.refresh_id,
            expires_at: session.expires_at,
        }
    }
}

/// Why a login ended (kept in its event, for the audit trail).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SessionEnd {
    /// `POST /auth/logout`.
    Logout,
    /// A spent refresh token of the family was presented again.
    Reuse,
}

/// Every live login, by id and by user. Part of the accounts snapshot.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Sessions {
    by_id: HashMap<TokenId, Session>,
    /// Each user's logins, oldest first: the cap drops from the front.
    by_user: HashMap<UserId, Vec<TokenId>>,
}

impl Sessions {
    pub fn get(&self, session_id: TokenId) -> Option<&Session> {
        self.by_id.get(&session_id)
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Every user with a live login.
    pub fn users(&self) -> impl Iterator<Item = UserId> + '_ {
        self.by_user.keys().copied()
    }

    /// The user's logins, oldest first.
    pub fn of_user(&self, user_id: UserId) -> impl Iterator<Item = &Session> {
        self.by_user
            .get(&user_id)
            .into_iter()
            .flatten()
            .filter_map(|id| self.by_id.get(id))
    }

    /// Adds a login. First drops the user's logins expired at its start, then,
    /// at the cap, their oldest: deterministic, so replaying the log rebuilds
    /// exactly this.
    pub fn start(&mut self, session: Session) {
        let user = session.user_id;
        let now = session.started_at;
        let ids = self.by_user.entry(user).or_default();
        let by_id = &mut self.by_id;
        ids.retain(|id| match by_id.get(id) {
            Some(s) if s.expires_at > now => true,
            _ => {
                by_id.remove(id);
                false
            }
        });
        while ids.len() >= MAX_SESSIONS_PER_USER {
            let oldest = ids.remove(0);
            by_id.remove(&oldest);
        }
        ids.push(session.session_id);
        by_id.insert(session.session_id, session);
    }

    /// Makes `refresh_id` the family's live token (the previous one is spent).
    pub fn rotate(&mut self, session_id: TokenId, refresh_id: TokenId, expires_at: Timestamp) {
        let session = self.by_id.get_mut(&session_id);
        debug_assert!(session.is_some(), "rotation of an unknown login");
        if let Some(session) = session {
            session.refresh_id = refresh_id;
            session.expires_at = expires_at;
        }
    }

    /// Ends one login; nothing if it is gone already.
    pub fn end(&mut self, session_id: TokenId) {
        if let Some(session) = self.by_id.remove(&session_id) {
            if let Some(ids) = self.by_user.get_mut(&session.user_id) {
                ids.retain(|id| *id != session_id);
                if ids.is_empty() {
                    self.by_user.remove(&session.user_id);
                }
            }
        }
    }

    /// Ends every login of the user; returns how many there were.
    pub fn end_all(&mut self, user_id: UserId) -> usize {
        let ids = self.by_user.remove(&user_id).unwrap_or_default();
        for id in &ids {
            self.by_id.remove(id);
        }
        ids.len()
    }

    /// Drops every login expired at `now` (at snapshots: it needs no event,
    /// since an expired login is refused whether or not it is still here).
    pub fn prune_expired(&mut self, now: Timestamp) {
        let by_id = &mut self.by_id;
        self.by_user.retain(|_, ids| {
            ids.retain(|id| match by_id.get(id) {
                Some(s) if s.expires_at > now => true,
                _ => {
                    by_id.remove(id);
                    false
                }
            });
            !ids.is_empty()
        });
    }

    /// The two indexes agree, and no user is past the cap.
    pub fn check_invariants(&self) -> Result<(), String> {
        let indexed: usize = self.by_user.values().map(Vec::len).sum();
        if indexed != self.by_id.len() {
            return Err(format!(
                "{} logins but {indexed} indexed by user",
                self.by_id.len()
            ));
        }
        for (user, ids) in &self.by_user {
            if ids.is_empty() || ids.len() > MAX_SESSIONS_PER_USER {
                return Err(format!("user {user} has {} logins indexed", ids.len()));
            }
            for id in ids {
                match self.by_id.get(id) {
                    Some(s) if s.user_id == *user => {}
                    _ => return Err(format!("login {id} is indexed under the wrong user")),
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> TokenId {
        TokenId([n; 16])
    }

    fn session(n: u8, user: UserId, at: i64, expires: i64) -> Session {
        Session {
            session_id: id(n),
            user_id: user,
            refresh_id: id(n.wrapping_add(100)),
            started_at: Timestamp(at),
            expires_at: Timestamp(expires),
        }
    }

    #[test]
    fn token_ids_read_back_what_they_write_and_nothing_else() {
        let token = TokenId([0xab; 16]);
        assert_eq!(TokenId::parse(&token.to_string()), Some(token));
        for bad in ["", "ab", &"g".repeat(32), &"é".repeat(16), &"a".repeat(33)] {
            assert_eq!(TokenId::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_user_keeps_at_most_the_cap_and_loses_the_oldest_first() {
        let user = UserId::from_random_bytes([1; 16]);
        let mut sessions = Sessions::default();
        for n in 0..(MAX_SESSIONS_PER_USER as u8 + 3) {
            sessions.start(session(n, user, i64::from(n), 1_000));
        }
        let kept: Vec<TokenId> = sessions.of_user(user).map(|s| s.session_id).collect();
        assert_eq!(kept.len(), MAX_SESSIONS_PER_USER);
        assert_eq!(kept[0], id(3), "the three oldest were dropped");
        assert_eq!(sessions.check_invariants(), Ok(()));
    }

    #[test]
    fn expired_logins_go_at_the_next_login_and_at_pruning() {
        let (a, b) = (
            UserId::from_random_bytes([1; 16]),
            UserId::from_random_bytes([2; 16]),
        );
        let mut sessions = Sessions::default();
        sessions.start(session(1, a, 0, 100));
        sessions.start(session(2, b, 0, 100));
        sessions.start(session(3, a, 100, 300));
        assert_eq!(
            sessions.get(id(1)),
            None,
            "expired when a's next login began"
        );
        assert_eq!(sessions.len(), 2);
        sessions.prune_expired(Timestamp(100));
        assert_eq!(sessions.len(), 1, "b's expired login is pruned");
        assert_eq!(sessions.check_invariants(), Ok(()));
    }

    #[test]
    fn ending_one_or_all_logins_keeps_the_indexes_in_step() {
        let user = UserId::from_random_bytes([1; 16]);
        let mut sessions = Sessions::default();
        for n in 1..=3 {
            sessions.start(session(n, user, 0, 1_000));
        }
        sessions.end(id(2));
        sessions.end(id(2));
        assert_eq!(sessions.len(), 2);
        assert_eq!(sessions.check_invariants(), Ok(()));
        assert_eq!(sessions.end_all(user), 2);
        assert!(sessions.is_empty());
        assert_eq!(sessions.check_invariants(), Ok(()));
    }
}
