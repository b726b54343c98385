//! Decided idempotency keys leave memory for the key store
//! (`actors/src/idempotency/key_store.rs`) at their actor's first snapshot
//! after `ARCHIVE_AFTER_MS`, and are still honoured there: replayed with the same
//! reply, refused with another body, across a restart and crashes at any
//! write, until their retention ends and the store prunes them.

use boxoffice_actors::idempotency::{Endpoint, ARCHIVE_AFTER_MS, RETENTION_MS};
use boxoffice_actors::{EngineError, ManualClock, Registry};
use boxoffice_engine::Money;
use boxoffice_storage::Store;
use std::sync::Arc;
use test_support::engine::*;

/// Keyed charges of 1 by user 1, keys `k{from}..k{to}`.
async fn keyed_charges(registry: &Registry, from: u32, to: u32) -> Vec<Result<Money, EngineError>> {
    let mut results = Vec::new();
    for n in from..to {
        let key = format!("k{n}");
        let tag = tag(user(1), Endpoint::Charges, &key, "{\"amount\":1}");
        results.push(
            registry
                .charge(user(1), Money(1), Some(tag))
                .await
                .map(|r| r.balance),
        );
    }
    results
}

/// The test engine, where one user may charge hundreds of times a day (these
/// tests move many keys of one user; the daily charge count would refuse them).
async fn start_charging(store: Arc<dyn Store>, clock: &ManualClock, seed: u64) -> Arc<Registry> {
    let mut config = test_config();
    config.wallet_limits.max_charges_per_day = u32::MAX;
    start_with(store, clock, seed, config).await
}

fn archived_keys(store: &dyn Store) -> usize {
    store
        .list_meta("idem/k/", 100_000)
        .expect("list keys")
        .len()
}

async fn balance(registry: &Registry) -> Money {
    registry.wallet_view(user(1)).await.expect("wallet").balance
}

#[actix_rt::test]
async fn old_keys_move_to_the_store_and_replay_from_it_until_retention_ends() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = ManualClock::new(T0);
    let store = sled_store(dir.path());
    let registry = start_charging(Arc::clone(&store), &clock, 51).await;

    let first = keyed_charges(&registry, 0, 200).await;
    assert!(first.iter().all(Result::is_ok));
    let in_memory_before = registry.context().idempotency.keys_in_memory();
    assert_eq!(in_memory_before, 200);
    assert_eq!(archived_keys(store.as_ref()), 0, "too young to move");

    // Past ARCHIVE_AFTER_MS, enough new charges for every wallet shard to snapshot.
    clock.advance_ms(ARCHIVE_AFTER_MS + 1);
    let later = keyed_charges(&registry, 200, 300).await;
    assert!(later.iter().all(Result::is_ok));
    let moved = archived_keys(store.as_ref());
    assert!(moved >= 150, "{moved} keys moved to the store");
    let in_memory = registry.context().idempotency.keys_in_memory();
    assert!(
        in_memory <= 300 - moved,
        "{in_memory} keys in memory after {moved} moved"
    );

    // A moved key replays its first reply and does nothing.
    let balance_before = balance(&registry).await;
    let replay = keyed_charges(&registry, 0, 1).await;
    assert_eq!(replay[0], first[0]);
    assert_eq!(balance(&registry).await, balance_before);
    // ... and is refused with another body.
    let other = tag(user(1), Endpoint::Charges, "k0", "{\"amount\":2}");
    assert_eq!(
        registry
            .charge(user(1), Money(2), Some(other))
            .await
            .unwrap_err(),
        EngineError::IdempotencyKeyReused
    );
    // The same key on another endpoint is another key.
    let payments_key = tag(user(1), Endpoint::Reservations, "k0", "{}");
    assert!(registry
        .context()
        .idempotency
        .begin(&payments_key, clock_now(&clock))
        .is_ok());
    registry.context().idempotency.abandon(&payments_key.key);

    // After a restart, from the store.
    registry.shutdown();
    drop(registry);
    let registry = start_charging(Arc::clone(&store), &clock, 52).await;
    assert_eq!(keyed_charges(&registry, 0, 1).await[0], first[0]);
    assert_eq!(balance(&registry).await, balance_before);

    // Past retention, a prune (run when an actor archives) deletes them and
    // the key is free again.
    clock.advance_ms(RETENTION_MS);
    keyed_charges(&registry, 300, 400).await;
    clock.advance_ms(ARCHIVE_AFTER_MS + 1);
    keyed_charges(&registry, 400, 500).await;
    let left = archived_keys(store.as_ref());
    assert!(left < moved, "{left} keys left of {moved} after retention");
    let reused = keyed_charges(&registry, 0, 1).await;
    assert_eq!(reused[0], Ok(Money(balance(&registry).await.0)));
    registry.shutdown();
}

fn clock_now(clock: &ManualClock) -> boxoffice_engine::Timestamp {
    use boxoffice_actors::Clock;
    clock.now()
}

/// Crashes at every write in a window that covers moving keys to the store:
/// after each, every acknowledged charge is still replayed (not charged
/// twice), and the balance equals the acknowledged charges.
#[actix_rt::test]
async fn a_crash_at_any_write_while_keys_move_loses_no_acknowledged_key() {
    let mut moved_runs = 0;
    for crash_at in (0..400u64).step_by(9) {
        let store = memory_store();
        let clock = ManualClock::new(T0);
        let registry = start_charging(store.clone() as Arc<dyn Store>, &clock, 60).await;
        let warm = keyed_charges(&registry, 0, 120).await;
        assert!(warm.iter().all(Result::is_ok));
        clock.advance_ms(ARCHIVE_AFTER_MS + 1);
        store.crash_after_writes(crash_at);
        let mut acked = warm.len() as i64;
        for result in keyed_charges(&registry, 120, 260).await {
            match result {
                Ok(_) => acked += 1,
                Err(_) => break,
            }
        }
        registry.shutdown();
        drop(registry);
        store.crash();

        let registry = start_charging(store.clone() as Arc<dyn Store>, &clock, 61).await;
        if archived_keys(store.as_ref()) > 0 {
            moved_runs += 1;
        }
        let balance = balance(&registry).await;
        // Unacknowledged charges may have happened; acknowledged ones must have.
        assert!(
            balance.0 >= acked,
            "crash at {crash_at}: balance {balance:?}, {acked} acknowledged"
        );
        // Every acknowledged key replays: the balance does not move.
        let replays = keyed_charges(&registry, 0, acked as u32).await;
        for (n, replay) in replays.iter().enumerate() {
            assert!(replay.is_ok(), "crash at {crash_at}: k{n}: {replay:?}");
        }
        assert_eq!(
            registry.wallet_view(user(1)).await.expect("wallet").balance,
            balance,
            "crash at {crash_at}: a replay charged again"
        );
        registry.shutdown();
    }
    println!("keys moved in {moved_runs} of 45 runs");
    assert!(moved_runs > 20, "keys moved in {moved_runs} runs");
}

/// A schedule's decided keys leave its table continuously, through the key
/// writer thread and with no snapshot needed: they are in the key store (and
/// out of the index's memory) soon after `ARCHIVE_AFTER_MS`, replayed from
/// there, refused with another body, and still replayed after a restart.
#[actix_rt::test]
async fn a_schedules_keys_move_to_the_store_in_the_background_without_a_snapshot() {
    use boxoffice_actors::idempotency::key_writer::KEY_OFFER_EVERY_MS;
    use boxoffice_actors::schedule_actor::GetCounts;
    use boxoffice_actors::HoldCommand;
    use boxoffice_engine::schedule::{ScheduleRules, SeatSelection};

    let dir = tempfile::tempdir().expect("tempdir");
    let clock = ManualClock::new(T0);
    let store = sled_store(dir.path());
    let config = boxoffice_actors::EngineConfig {
        archive_in_background: true,
        // No snapshot in this test: the keys must leave without one.
        snapshot_every_events: 1_000_000,
        ..test_config()
    };
    let registry = start_with(Arc::clone(&store), &clock, 70, config.clone()).await;
    let rules = ScheduleRules {
        hold_ms: 600_000,
        ..ScheduleRules::default()
    };
    let schedule = registry
        .create_schedule(spec(1, one_row(40), rules, None))
        .await
        .expect("schedule");
    let hold = |n: u64, body: &'static str| HoldCommand {
        schedule_id: schedule,
        selection: SeatSelection::Ids(vec![format!("S0-1-{n}")]),
        queue_token: None,
        idem: Some(tag(user(n), Endpoint::Reservations, "h", body)),
    };
    let mut first = Vec::new();
    for n in 1..=20 {
        first.push(registry.hold(user(n), hold(n, "seat")).await.expect("hold"));
    }
    assert_eq!(archived_keys(store.as_ref()), 0, "too young to move");

    // Old enough; the next commit offers them to the key writer.
    clock.advance_ms(ARCHIVE_AFTER_MS + KEY_OFFER_EVERY_MS + 1);
    registry
        .hold(user(21), hold(21, "seat"))
        .await
        .expect("hold");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while archived_keys(store.as_ref()) < 20 || registry.archive_batches_in_flight() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "{} of 20 keys moved in 10 s",
            archived_keys(store.as_ref())
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let actor = registry.schedule(schedule).expect("schedule").actor.clone();
    actor.query(GetCounts).await.expect("counts");
    assert_eq!(archived_keys(store.as_ref()), 20);
    assert_eq!(
        registry.context().idempotency.keys_in_memory(),
        1,
        "only the young key is still in memory"
    );

    // Replayed from the store: the same reservation, no second hold.
    let again = registry
        .hold(user(1), hold(1, "seat"))
        .await
        .expect("replay");
    assert_eq!(again.reservation_id, first[0].reservation_id);
    assert_eq!(
        registry.hold(user(1), hold(1, "other")).await.unwrap_err(),
        EngineError::IdempotencyKeyReused
    );

    registry.shutdown();
    drop(registry);
    let registry = start_with(Arc::clone(&store), &clock, 71, config).await;
    let after = registry
        .hold(user(2), hold(2, "seat"))
        .await
        .expect("replay");
    assert_eq!(after.reservation_id, first[1].reservation_id);
    registry.shutdown();
}
