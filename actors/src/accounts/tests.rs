//! The accounts actor through the registry, on the memory store: role
//! changes are in force once acknowledged and carry who made them in the
//! stored event; logins rotate, end one by one or all at once, and survive a
//! restart (snapshot and log); a snapshot of the older format still loads.

use boxoffice_engine::ids::UserId;
use boxoffice_engine::Timestamp;
use boxoffice_storage::memory_store::MemoryStore;
use boxoffice_storage::{codec, Store};
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use super::model::LOG_NAME;
use super::*;
use crate::journal::read_history;
use crate::{Clock, EngineConfig, IdSource, ManualClock};

const T0: Timestamp = Timestamp(1_773_568_800_000);
const HASH: &str = "$argon2id$placeholder";
const DAY_MS: i64 = 86_400_000;
const TTL_MS: i64 = 14 * DAY_MS;

/// An engine that snapshots the accounts every 4 events, so a restart reads
/// a snapshot and a log after it.
async fn engine(store: Arc<MemoryStore>, clock: &ManualClock, seed: u64) -> Arc<Registry> {
    engine_with(store, clock, seed, 4).await
}

async fn engine_with(
    store: Arc<MemoryStore>,
    clock: &ManualClock,
    seed: u64,
    snapshot_every_events: u64,
) -> Arc<Registry> {
    let config = EngineConfig {
        snapshot_every_events,
        ..EngineConfig::default()
    };
    Registry::start(
        store,
        Arc::new(clock.clone()),
        Arc::new(IdSource::seeded(seed)),
        config,
    )
    .await
    .expect("engine starts")
}

async fn account(registry: &Registry, email: &str, role: Role) -> Account {
    registry
        .ensure_account(email.into(), "Someone".into(), HASH.into(), role)
        .await
        .expect("account")
}

async fn refresh(
    registry: &Registry,
    user: UserId,
    grant: SessionGrant,
) -> EngineResult<SessionGrant> {
    registry
        .refresh_session(user, grant.session_id, grant.refresh_id, TTL_MS)
        .await
        .map(|(_, grant)| grant)
}

fn stored_events(store: &dyn Store) -> Vec<AccountEvent> {
    let history = read_history::<AccountsState, AccountEvent>(store, LOG_NAME).expect("history");
    history.records.into_iter().flat_map(|r| r.events).collect()
}

#[actix_rt::test]
async fn a_role_change_is_in_force_once_acknowledged_and_its_event_names_who_made_it() {
    let store = Arc::new(MemoryStore::new());
    let clock = ManualClock::new(T0);
    // No snapshot: every event stays in the log to read back.
    let registry = engine_with(Arc::clone(&store), &clock, 1, 1_000).await;
    let admin = account(&registry, "admin@x.test", Role::Admin).await;
    let kim = account(&registry, "kim@x.test", Role::User).await;
    assert_eq!(registry.role_of(kim.user_id), Some(Role::User));
    assert_eq!(registry.role_of(UserId::from_random_bytes([9; 16])), None);

    clock.advance_ms(1_000);
    registry
        .set_role(kim.user_id, Role::Admin, admin.user_id)
        .await
        .expect("promote");
    assert_eq!(registry.role_of(kim.user_id), Some(Role::Admin));
    registry
        .set_role(admin.user_id, Role::User, kim.user_id)
        .await
        .expect("demote");
    assert_eq!(
        registry.role_of(admin.user_id),
        Some(Role::User),
        "a demotion is in force when it is acknowledged"
    );

    let changes: Vec<AccountEvent> = stored_events(store.as_ref())
        .into_iter()
        .filter(|e| matches!(e, AccountEvent::RoleChangedBy { .. }))
        .collect();
    let at = clock.now();
    assert_eq!(
        changes,
        vec![
            AccountEvent::RoleChangedBy {
                user_id: kim.user_id,
                role: Role::Admin,
                by: admin.user_id,
                at,
            },
            AccountEvent::RoleChangedBy {
                user_id: admin.user_id,
                role: Role::User,
                by: kim.user_id,
                at,
            },
        ]
    );
    registry.shutdown();
}

#[actix_rt::test]
async fn a_refresh_spends_the_token_and_a_spent_one_ends_the_login() {
    let clock = ManualClock::new(T0);
    let registry = engine(Arc::new(MemoryStore::new()), &clock, 2).await;
    let kim = account(&registry, "kim@x.test", Role::User).await;
    let first = registry
        .start_session(kim.user_id, TTL_MS)
        .await
        .expect("login");
    let second = refresh(&registry, kim.user_id, first)
        .await
        .expect("refresh");
    assert_eq!(second.session_id, first.session_id);
    assert_ne!(second.refresh_id, first.refresh_id);
    assert_eq!(
        refresh(&registry, kim.user_id, first).await,
        Err(EngineError::InvalidRefreshToken),
        "spent"
    );
    assert_eq!(
        refresh(&registry, kim.user_id, second).await,
        Err(EngineError::InvalidRefreshToken),
        "the reuse ended the whole login"
    );

    // Logout ends a login; another user's token of it is refused.
    let login = registry
        .start_session(kim.user_id, TTL_MS)
        .await
        .expect("login");
    let stranger = UserId::from_random_bytes([5; 16]);
    assert_eq!(
        registry
            .end_session(stranger, login.session_id, login.refresh_id)
            .await,
        Err(EngineError::InvalidRefreshToken)
    );
    registry
        .end_session(kim.user_id, login.session_id, login.refresh_id)
        .await
        .expect("logout");
    assert_eq!(
        refresh(&registry, kim.user_id, login).await,
        Err(EngineError::InvalidRefreshToken)
    );

    // An expired login is refused.
    let short = registry
        .start_session(kim.user_id, 1_000)
        .await
        .expect("login");
    clock.advance_ms(1_000);
    assert_eq!(
        refresh(&registry, kim.user_id, short).await,
        Err(EngineError::InvalidRefreshToken)
    );
    registry.shutdown();
}

#[actix_rt::test]
async fn ending_all_of_a_users_logins_refuses_each_of_their_refresh_tokens_only() {
    let clock = ManualClock::new(T0);
    let registry = engine(Arc::new(MemoryStore::new()), &clock, 3).await;
    let kim = account(&registry, "kim@x.test", Role::User).await;
    let lee = account(&registry, "lee@x.test", Role::User).await;
    let mut kims = Vec::new();
    for _ in 0..3 {
        kims.push(
            registry
                .start_session(kim.user_id, TTL_MS)
                .await
                .expect("login"),
        );
    }
    let lees = registry
        .start_session(lee.user_id, TTL_MS)
        .await
        .expect("login");

    assert_eq!(registry.end_all_sessions(kim.user_id).await, Ok(3));
    for grant in kims {
        assert_eq!(
            refresh(&registry, kim.user_id, grant).await,
            Err(EngineError::InvalidRefreshToken)
        );
    }
    assert!(
        refresh(&registry, lee.user_id, lees).await.is_ok(),
        "another user's login lives"
    );
    assert_eq!(registry.end_all_sessions(kim.user_id).await, Ok(0));
    registry.shutdown();
}

#[actix_rt::test]
async fn a_user_keeps_at_most_the_cap_of_logins() {
    let clock = ManualClock::new(T0);
    let registry = engine(Arc::new(MemoryStore::new()), &clock, 4).await;
    let kim = account(&registry, "kim@x.test", Role::User).await;
    let oldest = registry
        .start_session(kim.user_id, TTL_MS)
        .await
        .expect("login");
    for _ in 0..MAX_SESSIONS_PER_USER {
        clock.advance_ms(1);
        registry
            .start_session(kim.user_id, TTL_MS)
            .await
            .expect("login");
    }
    assert_eq!(
        refresh(&registry, kim.user_id, oldest).await,
        Err(EngineError::InvalidRefreshToken),
        "the oldest login made room"
    );
    assert_eq!(
        registry.end_all_sessions(kim.user_id).await,
        Ok(MAX_SESSIONS_PER_USER)
    );
    registry.shutdown();
}

#[actix_rt::test]
async fn logins_survive_a_restart_from_snapshot_and_log() {
    let store = Arc::new(MemoryStore::new());
    let clock = ManualClock::new(T0);
    let registry = engine(Arc::clone(&store), &clock, 5).await;
    let kim = account(&registry, "kim@x.test", Role::User).await;
    let admin = account(&registry, "admin@x.test", Role::Admin).await;
    let ended = registry
        .start_session(kim.user_id, TTL_MS)
        .await
        .expect("login");
    let mut live = registry
        .start_session(kim.user_id, TTL_MS)
        .await
        .expect("login");
    let spent = live;
    // Enough changes for a snapshot (every 4 events) with records after it.
    for _ in 0..5 {
        live = refresh(&registry, kim.user_id, live)
            .await
            .expect("refresh");
    }
    registry
        .end_session(kim.user_id, ended.session_id, ended.refresh_id)
        .await
        .expect("logout");
    registry
        .set_role(kim.user_id, Role::Staff, admin.user_id)
        .await
        .expect("role");
    let (snapshot_lsn, snapshot) = store
        .read_snapshot(LOG_NAME)
        .expect("read")
        .expect("a snapshot was written");
    let in_snapshot = AccountsState::decode_snapshot(&snapshot).expect("decodes");
    assert!(
        in_snapshot.sessions.get(live.session_id).is_some(),
        "the snapshot holds the logins"
    );
    assert!(
        !store
            .read_log(LOG_NAME, snapshot_lsn)
            .expect("log")
            .is_empty(),
        "and records follow it"
    );
    registry.shutdown();
    drop(registry);

    let registry = engine(Arc::clone(&store), &clock, 6).await;
    assert_eq!(registry.role_of(kim.user_id), Some(Role::Staff));
    for (what, grant) in [("logged out", ended), ("spent", spent)] {
        assert_eq!(
            refresh(&registry, kim.user_id, grant).await,
            Err(EngineError::InvalidRefreshToken),
            "{what}"
        );
    }
    // Presenting the spent token (remembered across the restart as not the
    // live one) ended its login: the live token is refused from now on.
    assert_eq!(
        refresh(&registry, kim.user_id, live).await,
        Err(EngineError::InvalidRefreshToken)
    );
    registry.shutdown();
}

#[actix_rt::test]
async fn the_live_refresh_token_works_after_a_restart() {
    let store = Arc::new(MemoryStore::new());
    let clock = ManualClock::new(T0);
    let registry = engine(Arc::clone(&store), &clock, 7).await;
    let kim = account(&registry, "kim@x.test", Role::User).await;
    let mut live = registry
        .start_session(kim.user_id, TTL_MS)
        .await
        .expect("login");
    for _ in 0..5 {
        live = refresh(&registry, kim.user_id, live)
            .await
            .expect("refresh");
    }
    registry.shutdown();
    drop(registry);

    let registry = engine(Arc::clone(&store), &clock, 8).await;
    assert!(refresh(&registry, kim.user_id, live).await.is_ok());
    registry.shutdown();
}

#[test]
fn a_snapshot_written_before_logins_were_kept_still_loads() {
    #[derive(Serialize)]
    struct Before {
        accounts: HashMap<UserId, Account>,
        by_email: HashMap<String, UserId>,
        by_created: BTreeSet<(Timestamp, UserId)>,
    }
    let kim = Account {
        user_id: UserId::from_random_bytes([1; 16]),
        email: "kim@x.test".into(),
        name: "Kim".into(),
        phone_number: None,
        role: Role::Staff,
        password_hash: HASH.into(),
        created_at: T0,
        email_verified: false,
    };
    let before = Before {
        accounts: HashMap::from([(kim.user_id, kim.clone())]),
        by_email: HashMap::from([(kim.email.clone(), kim.user_id)]),
        by_created: BTreeSet::from([(kim.created_at, kim.user_id)]),
    };
    let store = MemoryStore::new();
    store
        .write_snapshot(LOG_NAME, 0, &codec::encode(&before).expect("encode"))
        .expect("write");
    let state = AccountsState::load(&store).expect("loads");
    assert_eq!(state.accounts.get(&kim.user_id), Some(&kim));
    assert!(state.sessions.is_empty());
    assert!(
        AccountsState::decode_snapshot(b"\x01garbage").is_err(),
        "neither format: still an error"
    );
}

#[test]
fn a_snapshot_written_before_mailed_codes_were_kept_still_loads() {
    #[derive(Serialize)]
    struct Before {
        accounts: HashMap<UserId, Account>,
        by_email: HashMap<String, UserId>,
        by_created: BTreeSet<(Timestamp, UserId)>,
        sessions: super::Sessions,
    }
    let kim = Account {
        user_id: UserId::from_random_bytes([1; 16]),
        email: "kim@x.test".into(),
        name: "Kim".into(),
        phone_number: None,
        role: Role::User,
        password_hash: HASH.into(),
        created_at: T0,
        email_verified: false,
    };
    let before = Before {
        accounts: HashMap::from([(kim.user_id, kim.clone())]),
        by_email: HashMap::from([(kim.email.clone(), kim.user_id)]),
        by_created: BTreeSet::from([(kim.created_at, kim.user_id)]),
        sessions: super::Sessions::default(),
    };
    let store = MemoryStore::new();
    store
        .write_snapshot(LOG_NAME, 0, &codec::encode(&before).expect("encode"))
        .expect("write");
    let state = AccountsState::load(&store).expect("loads");
    assert_eq!(state.accounts.get(&kim.user_id), Some(&kim));
    assert!(state.email_codes.live.is_empty() && state.email_codes.verified.is_empty());
}

#[test]
fn the_verified_flag_survives_a_snapshot() {
    let user_id = UserId::from_random_bytes([2; 16]);
    let mut state = AccountsState::default();
    state.apply(&AccountEvent::Registered(Account {
        user_id,
        email: "lee@x.test".into(),
        name: "Lee".into(),
        phone_number: None,
        role: Role::User,
        password_hash: HASH.into(),
        created_at: T0,
        email_verified: false,
    }));
    state.apply(&AccountEvent::EmailVerified { user_id, at: T0 });
    assert!(state.accounts[&user_id].email_verified);
    let bytes = codec::encode(&state).expect("encode");
    let loaded = AccountsState::decode_snapshot(&bytes).expect("decodes");
    assert!(
        loaded.accounts[&user_id].email_verified,
        "derived again on load"
    );
    assert_eq!(loaded.check_invariants(), Ok(()));
}
