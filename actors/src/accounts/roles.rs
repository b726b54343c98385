//! The role of every account, readable without a message to the accounts
//! actor: what each request that needs a role checks (API.md, "Account and
//! token rules"), so a demoted admin's token loses its powers at once and a
//! token of an account that does not exist is refused. The role in a token
//! is never trusted.
//!
//! Read-mostly: a request takes a read lock for one map lookup; the accounts
//! actor writes only when a registration or role change has become durable,
//! just before its reply, so a change is in force once it is acknowledged and
//! never before (a promotion a crash would undo is never used).

use boxoffice_engine::ids::UserId;
use std::collections::HashMap;
use std::sync::RwLock;

use super::model::{AccountEvent, AccountsState, Role};

#[derive(Debug, Default)]
pub struct RoleBoard {
    roles: RwLock<HashMap<UserId, Role>>,
}

impl RoleBoard {
    /// The roles of `state`'s accounts (at start-up, after recovery).
    pub fn of(state: &AccountsState) -> RoleBoard {
        let roles = state
            .accounts
            .values()
            .map(|a| (a.user_id, a.role))
            .collect();
        RoleBoard {
            roles: RwLock::new(roles),
        }
    }

    /// The account's current role; `None` when no account has this id.
    pub fn role_of(&self, user_id: UserId) -> Option<Role> {
        // A poisoned lock only means a writer panicked between two inserts: the map is still whole.
        let roles = self.roles.read().unwrap_or_else(|p| p.into_inner());
        roles.get(&user_id).copied()
    }

    /// Whether any account is an ADMIN now.
    pub fn any_admin(&self) -> bool {
        let roles = self.roles.read().unwrap_or_else(|p| p.into_inner());
        roles.values().any(|role| *role == Role::Admin)
    }

    /// The (account, role) pairs `events` set, in order.
    pub fn changes(events: &[AccountEvent]) -> Vec<(UserId, Role)> {
        events
            .iter()
            .filter_map(|event| match event {
                AccountEvent::Registered(account) => Some((account.user_id, account.role)),
                AccountEvent::RoleChanged { user_id, role, .. }
                | AccountEvent::RoleChangedBy { user_id, role, .. } => Some((*user_id, *role)),
                _ => None,
            })
            .collect()
    }

    /// Puts durable changes in force.
    pub fn publish(&self, changes: &[(UserId, Role)]) {
        if changes.is_empty() {
            return;
        }
        let mut roles = self.roles.write().unwrap_or_else(|p| p.into_inner());
        for (user_id, role) in changes {
            roles.insert(*user_id, *role);
        }
    }
}
