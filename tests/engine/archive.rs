//! Ended reservations leave the schedule's live state for the archive at
//! snapshot time (`actors/src/schedule_actor/archive.rs`): the live state and
//! the log stay small, and every ended reservation stays readable (by id, in
//! its owner's list, through its payment and tickets), refuses commands as it
//! did before, and survives a restart and crashes at any write.

use boxoffice_actors::schedule_actor::{archive, archive_index};
use boxoffice_actors::schedule_actor::{ExpireNow, SetArchiveThreshold, ARCHIVE_OFFER_EVERY_MS};
use boxoffice_actors::{
    CustomerStatus, EngineError, HoldCommand, ManualClock, PayCommand, Registry,
};
use boxoffice_engine::ids::*;
use boxoffice_engine::schedule::{ReservationStatus, ScheduleRules, SeatSelection, TicketStatus};
use boxoffice_storage::Store;
use futures_util::future::join_all;
use std::sync::Arc;
use test_support::engine::*;

const SEATS: u32 = 8;
/// Ended reservations that trigger archiving in these tests (the default is 4,096).
const THRESHOLD: usize = 16;

fn seat(n: u32) -> SeatSelection {
    SeatSelection::Ids(vec![format!("S0-1-{}", n + 1)])
}

fn rules() -> ScheduleRules {
    ScheduleRules {
        hold_ms: 60_000,
        ..ScheduleRules::default()
    }
}

async fn open_schedule(registry: &Registry) -> ScheduleId {
    let id = registry
        .create_schedule(spec(1, one_row(SEATS), rules(), None))
        .await
        .expect("schedule");
    lower_threshold(registry, id).await;
    id
}

async fn lower_threshold(registry: &Registry, id: ScheduleId) {
    registry
        .schedule(id)
        .expect("schedule handle")
        .actor
        .addr()
        .send(SetArchiveThreshold(THRESHOLD))
        .await
        .expect("threshold set");
}

fn hold(schedule: ScheduleId, seat_no: u32) -> HoldCommand {
    HoldCommand {
        schedule_id: schedule,
        selection: seat(seat_no),
        queue_token: None,
        idem: None,
    }
}

/// `rounds` hold + cancel cycles by users 1..=users, each on its own seat,
/// concurrently. Returns each user's reservations in order.
async fn cycles(
    registry: &Registry,
    schedule: ScheduleId,
    users: u32,
    rounds: u32,
) -> Vec<Vec<ReservationId>> {
    join_all((1..=users).map(|u| async move {
        let mut made = Vec::new();
        for _ in 0..rounds {
            let held = registry
                .hold(user(u as u64), hold(schedule, u))
                .await
                .expect("hold");
            registry
                .cancel(user(u as u64), held.reservation_id)
                .await
                .expect("cancel");
            made.push(held.reservation_id);
        }
        made
    }))
    .await
}

async fn live_reservations(registry: &Registry, schedule: ScheduleId) -> usize {
    export(registry).await.schedules[&schedule]
        .schedule
        .reservations()
        .count()
}

/// What one history of this test leaves: ids to read back after a restart.
struct Made {
    released: Vec<Vec<ReservationId>>,
    expired: ReservationId,
    refunded: ReservationId,
    payment: PaymentId,
    ticket: TicketId,
}

async fn check_reads(registry: &Registry, made: &Made) {
    // By id, for the owner only.
    for (u, ids) in made.released.iter().enumerate() {
        let owner = user(u as u64 + 1);
        for &id in ids {
            let view = registry
                .reservation(Some(owner), id)
                .await
                .unwrap_or_else(|e| panic!("released {id}: {e:?}"));
            assert_eq!(view.status, ReservationStatus::Cancelled);
            assert!(view.ended_at.is_some());
            assert!(matches!(
                registry.reservation(Some(user(99)), id).await,
                Err(EngineError::NotFound(_))
            ));
        }
        // The owner's list: every one, oldest first.
        let listed: Vec<ReservationId> = registry
            .reservations_of(owner)
            .await
            .expect("list")
            .into_iter()
            .map(|v| v.reservation_id)
            .filter(|id| ids.contains(id))
            .collect();
        assert_eq!(&listed, ids, "list of user {}", u + 1);
    }
    let expired = registry
        .reservation(Some(user(20)), made.expired)
        .await
        .expect("expired reservation");
    assert_eq!(expired.status, ReservationStatus::Expired);
    let refunded = registry
        .reservation(Some(user(21)), made.refunded)
        .await
        .expect("refunded reservation");
    assert_eq!(refunded.status, ReservationStatus::Cancelled);
    assert!(refunded.refund_amount.is_some());
    let (_, paid_for) = registry
        .payment(user(21), made.payment)
        .await
        .expect("refunded payment");
    assert_eq!(paid_for.reservation_id, made.refunded);
    let ticket = registry
        .ticket(Some(user(21)), made.ticket)
        .await
        .expect("void ticket");
    assert_eq!(ticket.status, TicketStatus::Void);
    // Commands on ended reservations are refused as before they were archived.
    assert!(matches!(
        registry.cancel(user(1), made.released[0][0]).await,
        Err(EngineError::NotCancellable)
    ));
    let pay = registry
        .pay(
            user(20),
            PayCommand {
                reservation_id: made.expired,
                amount: None,
                queue_token: None,
                idem: None,
            },
        )
        .await;
    assert!(
        matches!(pay, Err(EngineError::ReservationExpired)),
        "{pay:?}"
    );
}

#[actix_rt::test]
async fn ended_reservations_are_archived_trimmed_and_read_back_after_a_restart() {
    archived_trimmed_and_read_back(false).await;
}

/// The same history with the archive writer thread, as the server runs it.
#[actix_rt::test]
async fn the_archive_writer_thread_archives_the_same_way() {
    archived_trimmed_and_read_back(true).await;
}

/// Waits until the archive writer has caught up (the archive holds every
/// reservation the schedule no longer keeps) and so has the log trimmer.
/// Returns how many reservations the schedule keeps.
async fn settled(
    registry: &Registry,
    store: &Arc<dyn Store>,
    schedule: ScheduleId,
    made: usize,
) -> usize {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let live = live_reservations(registry, schedule).await;
        let listed = store.list_meta("archive/u/", 10_000).expect("list").len();
        let caught_up = live + listed == made && registry.archive_batches_in_flight() == 0;
        if caught_up || std::time::Instant::now() > deadline {
            return live;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

async fn archived_trimmed_and_read_back(in_background: bool) {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = ManualClock::new(T0);
    let store = sled_store(dir.path());
    let config = boxoffice_actors::EngineConfig {
        archive_in_background: in_background,
        ..test_config()
    };
    let registry = start_with(Arc::clone(&store), &clock, 31, config.clone()).await;
    let schedule = open_schedule(&registry).await;

    // One expired hold (user 20) and one paid, cancelled and refunded (user 21).
    let expired = registry
        .hold(user(20), hold(schedule, 0))
        .await
        .expect("hold to expire");
    clock.advance_ms(rules().hold_ms + 1);
    let swept = registry
        .schedule(schedule)
        .expect("handle")
        .actor
        .command(ExpireNow)
        .await
        .expect("sweep");
    assert_eq!(swept, 1);
    let paid = registry
        .hold(user(21), hold(schedule, 0))
        .await
        .expect("hold to pay");
    registry
        .charge(user(21), paid.total_amount, None)
        .await
        .expect("charge");
    let receipt = registry
        .pay(
            user(21),
            PayCommand {
                reservation_id: paid.reservation_id,
                amount: None,
                queue_token: None,
                idem: None,
            },
        )
        .await
        .expect("pay");
    registry
        .cancel(user(21), paid.reservation_id)
        .await
        .expect("cancel with refund");

    let mut released = cycles(&registry, schedule, 6, 40).await;
    let mut made_count = 2 + released.iter().map(Vec::len).sum::<usize>();
    if in_background {
        // With a writer, ended reservations also go between snapshots: after
        // a commit, at most every ARCHIVE_OFFER_EVERY_MS of engine time. Let
        // that time pass and commit once more. (Without it, what stays is
        // whatever ended since the last snapshot, which the amortized policy
        // spaces by log bytes, not by a fixed count of events.)
        settled(&registry, &store, schedule, made_count).await;
        clock.advance_ms(ARCHIVE_OFFER_EVERY_MS);
        // User 1's: `released` is indexed by user.
        released[0].extend(cycles(&registry, schedule, 1, 1).await.concat());
        made_count += 1;
    }
    let live = settled(&registry, &store, schedule, made_count).await;
    // Archiving runs at each snapshot once THRESHOLD have ended: what stays is
    // at most the threshold plus one snapshot interval's worth (50 events).
    assert!(
        live < THRESHOLD + 50,
        "{live} of {made_count} reservations still in memory"
    );
    let exported = export(&registry).await;
    assert_eq!(
        exported.schedules[&schedule].reservations_made(),
        made_count as u64,
        "live + archived = every reservation made"
    );
    // The directory forgot what was archived: it routes only what is in memory.
    let routed = registry.context().directory.reservation_count();
    assert!(
        routed <= live,
        "the directory routes {routed} reservations, {live} are in memory"
    );
    let listed = store.list_meta("archive/u/", 10_000).expect("list by user");
    assert_eq!(
        listed.len(),
        made_count - live,
        "one per-user entry per archived reservation"
    );
    let made = Made {
        released,
        expired: expired.reservation_id,
        refunded: paid.reservation_id,
        payment: receipt.payment_id,
        ticket: receipt.tickets[0].ticket_id,
    };
    check_reads(&registry, &made).await;
    // The schedule's log was trimmed behind a snapshot of the small state.
    let log = format!("schedule/{schedule}");
    let (upto, _) = store
        .read_snapshot(&log)
        .expect("read snapshot")
        .expect("a snapshot");
    assert!(upto > 1, "snapshot covers lsn {upto}");
    let remaining = store.read_log(&log, 0).expect("read log");
    assert!(remaining.iter().all(|(lsn, _)| *lsn > upto));

    let before = export(&registry).await;
    registry.shutdown();
    drop(registry);

    let registry = start_with(Arc::clone(&store), &clock, 32, config).await;
    let after = export(&registry).await;
    if in_background {
        // The last snapshot may predate the writer's last batch (forgetting
        // is not an event): recovery then has those ended reservations back,
        // and archives them again. Everything else is identical.
        let (b, a) = (&before.schedules[&schedule], &after.schedules[&schedule]);
        assert_eq!(b.reservations_made(), a.reservations_made());
        assert_eq!(b.schedule.counts(), a.schedule.counts());
        let unended = |state: &boxoffice_actors::schedule_actor::ScheduleState| {
            state
                .schedule
                .reservations()
                .filter(|r| !r.has_ended())
                .cloned()
                .collect::<Vec<_>>()
        };
        assert_eq!(
            unended(b),
            unended(a),
            "live reservations identical after a restart"
        );
    } else {
        assert_eq!(
            before.schedules, after.schedules,
            "live state identical after a restart"
        );
    }
    check_all_invariants(&registry).await;
    check_reads(&registry, &made).await;
    // The seats are free for new holds.
    lower_threshold(&registry, schedule).await;
    let again = cycles(&registry, schedule, SEATS - 1, 3).await;
    assert_eq!(again.len(), SEATS as usize - 1);
    check_all_invariants(&registry).await;
    registry.shutdown();
}

/// Crashes at every write in a window that covers several archive rounds:
/// after each, a restart recovers every acknowledged cancel as cancelled and
/// readable, and every invariant holds.
#[actix_rt::test]
async fn a_crash_at_any_write_around_archiving_loses_no_acknowledged_end() {
    let mut archived_runs = 0;
    for crash_at in (0..240u64).step_by(7) {
        let store = memory_store();
        let clock = ManualClock::new(T0);
        let registry = start(store.clone() as Arc<dyn Store>, &clock, 40).await;
        let schedule = open_schedule(&registry).await;
        // Warm up past the first snapshot so the crash window holds archiving.
        let warm = cycles(&registry, schedule, 4, 10).await;
        store.crash_after_writes(crash_at);
        let acked: Vec<Vec<(ReservationId, bool)>> = join_all((1..=4u32).map(|u| {
            let registry = &registry;
            async move {
                let mut acked = Vec::new();
                for _ in 0..30 {
                    let Ok(held) = registry.hold(user(u as u64), hold(schedule, u)).await else {
                        break;
                    };
                    let cancelled = registry.cancel(user(u as u64), held.reservation_id).await;
                    acked.push((held.reservation_id, cancelled.is_ok()));
                    if cancelled.is_err() {
                        break;
                    }
                }
                acked
            }
        }))
        .await;
        registry.shutdown();
        drop(registry);
        store.crash();

        let registry = start(store.clone() as Arc<dyn Store>, &clock, 41).await;
        check_all_invariants(&registry).await;
        if !store.list_meta("archive/u/", 1).expect("list").is_empty() {
            archived_runs += 1;
        }
        for (u, ids) in warm.iter().enumerate() {
            for &id in ids {
                let view = registry
                    .reservation(Some(user(u as u64 + 1)), id)
                    .await
                    .unwrap_or_else(|e| panic!("crash at {crash_at}: warm-up {id}: {e:?}"));
                assert_eq!(view.status, ReservationStatus::Cancelled);
            }
        }
        for (u, runs) in acked.iter().enumerate() {
            for &(id, cancel_acked) in runs {
                // A hold acknowledged is present; a cancel acknowledged has ended it.
                let view = registry
                    .reservation(Some(user(u as u64 + 1)), id)
                    .await
                    .unwrap_or_else(|e| panic!("crash at {crash_at}: {id}: {e:?}"));
                if cancel_acked {
                    assert_eq!(
                        view.status,
                        ReservationStatus::Cancelled,
                        "crash at {crash_at}"
                    );
                }
            }
        }
        registry.shutdown();
    }
    assert!(archived_runs > 20, "archiving ran in {archived_runs} runs");
}

/// Every key of the archive's per-user index (`archive_index.rs`), so that
/// deleting them leaves the layout the version before the index wrote.
fn index_keys(store: &dyn Store) -> Vec<String> {
    let mut keys = Vec::new();
    for prefix in ["archive/i/", "archive/k/", "archive/n/", "archive/v"] {
        keys.extend(
            store
                .list_meta(prefix, usize::MAX)
                .expect("list index keys"),
        );
    }
    keys
}

fn to_previous_layout(store: &dyn Store) {
    let keys = index_keys(store);
    assert!(
        keys.iter().any(|k| k.starts_with("archive/i/")),
        "indexed before"
    );
    for key in keys {
        store.delete_meta(&key).expect("delete an index key");
    }
    store.flush().expect("flush");
    assert!(index_keys(store).is_empty());
}

/// Cycles by users 1..=3 and one paid, cancelled and refunded reservation of
/// user 21 (an archived one with tickets), until some are archived.
async fn history_to_index(registry: &Registry, store: &dyn Store, schedule: ScheduleId) {
    let paid = registry
        .hold(user(21), hold(schedule, 0))
        .await
        .expect("hold to pay");
    registry
        .charge(user(21), paid.total_amount, None)
        .await
        .expect("charge");
    registry
        .pay(
            user(21),
            PayCommand {
                reservation_id: paid.reservation_id,
                amount: None,
                queue_token: None,
                idem: None,
            },
        )
        .await
        .expect("pay");
    registry
        .cancel(user(21), paid.reservation_id)
        .await
        .expect("cancel with refund");
    cycles(registry, schedule, 3, 30).await;
    assert!(
        store.list_meta("archive/k/", 1).expect("list").len() == 1,
        "the refunded reservation's tickets are archived"
    );
}

/// A user's list keeps its order when reservations are archived: holds made
/// in one millisecond sort by creation, and a live reservation made before
/// archived ones stays behind them. (Its order key once was the archived
/// count plus its position in memory, which grew when reservations made
/// after it were archived, so it jumped to the top of the list and pages
/// read across an archive batch listed one reservation twice.)
#[actix_rt::test]
async fn a_users_list_keeps_its_order_across_archiving() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = ManualClock::new(T0);
    let store = sled_store(dir.path());
    let registry = start_with(Arc::clone(&store), &clock, 37, test_config()).await;
    let schedule = open_schedule(&registry).await;
    let owner = user(1);
    // Every hold below in the same millisecond (the clock stands still):
    // user 1's live hold first, then their held-and-released cycles.
    let kept = registry
        .hold(owner, hold(schedule, 7))
        .await
        .expect("live hold");
    let released = cycles(&registry, schedule, 1, 20).await.concat();
    let (before, total) = registry
        .reservations_page(owner, None, 0, 100)
        .await
        .expect("list before");
    assert_eq!(total, 21);
    let before = ids_of(&before);
    assert_eq!(
        before.last(),
        Some(&kept.reservation_id),
        "made first, listed last"
    );
    // More cycles (users 1 to 6): snapshots come, and everything ended is archived.
    let others = cycles(&registry, schedule, 6, 40).await;
    let made = 1 + released.len() + others.iter().map(Vec::len).sum::<usize>();
    settled(&registry, &store, schedule, made).await;
    for &id in &released {
        assert!(
            archive::is_archived(store.as_ref(), owner, id).expect("read"),
            "user 1's released hold {id} is archived"
        );
    }
    let (after, _) = registry
        .reservations_page(owner, None, 0, 100)
        .await
        .expect("list after");
    // User 1 is also the first of the other cycles' users: those 40 are newer.
    let expected: Vec<ReservationId> = others[0].iter().rev().chain(&before).copied().collect();
    assert_eq!(ids_of(&after), expected, "the same list, in the same order");
    registry.shutdown();
}

/// What a user's paged reads answer: every reservation (one page, then in
/// pages of 7) and every ticket, with the totals under each filter.
async fn pages_of(registry: &Registry, owner: UserId) -> Vec<String> {
    let mut seen = Vec::new();
    for status in [
        None,
        Some(CustomerStatus::Cancelled),
        Some(CustomerStatus::Held),
    ] {
        let (all, total) = registry
            .reservations_page(owner, status, 0, 1_000)
            .await
            .expect("page");
        let mut paged = Vec::new();
        for page in 0..=total / 7 {
            paged.extend(
                registry
                    .reservations_page(owner, status, page * 7, 7)
                    .await
                    .expect("page")
                    .0,
            );
        }
        assert_eq!(
            paged, all,
            "{owner} {status:?}: pages of 7 make the whole list"
        );
        seen.push(format!("{status:?} total {total}: {:?}", ids_of(&all)));
    }
    let (tickets, total) = registry
        .tickets_page(owner, 0, 1_000)
        .await
        .expect("tickets");
    let tickets: Vec<TicketId> = tickets.iter().map(|t| t.ticket.ticket_id).collect();
    seen.push(format!("tickets total {total}: {tickets:?}"));
    seen
}

fn ids_of(views: &[boxoffice_actors::schedule_actor::ReservationView]) -> Vec<ReservationId> {
    views.iter().map(|v| v.reservation_id).collect()
}

/// The brute-force list (the whole history loaded), newest first.
async fn brute_force(registry: &Registry, owner: UserId) -> Vec<ReservationId> {
    let mut all = registry.reservations_of(owner).await.expect("brute force");
    all.reverse();
    ids_of(&all)
}

/// A data dir written by the version before the index (archive entries, no
/// index keys or tallies) is indexed at start-up: the paged reads answer
/// exactly as on a data dir that always had the index, and the next start
/// does nothing.
#[actix_rt::test]
async fn an_archive_written_before_the_index_is_indexed_at_start_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = ManualClock::new(T0);
    let store = sled_store(dir.path());
    let registry = start(Arc::clone(&store), &clock, 50).await;
    let schedule = open_schedule(&registry).await;
    history_to_index(&registry, store.as_ref(), schedule).await;
    let owners = [user(1), user(2), user(3), user(21)];
    let mut before = Vec::new();
    for owner in owners {
        let (page, _) = registry
            .reservations_page(owner, None, 0, 1_000)
            .await
            .expect("page");
        assert_eq!(
            ids_of(&page),
            brute_force(&registry, owner).await,
            "{owner}"
        );
        before.push(pages_of(&registry, owner).await);
    }
    registry.shutdown();
    drop(registry);
    to_previous_layout(store.as_ref());

    let registry = start(Arc::clone(&store), &clock, 51).await;
    let mut after = Vec::new();
    for owner in owners {
        after.push(pages_of(&registry, owner).await);
    }
    assert_eq!(after, before, "the same answers after the migration");
    registry.shutdown();
    drop(registry);
    let indexed = index_keys(store.as_ref());
    assert_eq!(
        archive_index::migrate(store.as_ref()).expect("migrate"),
        0,
        "done once"
    );
    assert_eq!(index_keys(store.as_ref()), indexed);
}

/// A crash at any write of the migration: the next start finishes it, and
/// every user's tally counts exactly their entries.
#[actix_rt::test]
async fn a_migration_cut_short_by_a_crash_is_finished_at_the_next_start() {
    for crash_at in 0..6u64 {
        let store = memory_store();
        let clock = ManualClock::new(T0);
        let registry = start(store.clone() as Arc<dyn Store>, &clock, 60).await;
        let schedule = open_schedule(&registry).await;
        history_to_index(&registry, store.as_ref(), schedule).await;
        registry.shutdown();
        drop(registry);
        let owners = [user(1), user(2), user(3), user(21)];
        let tallies: Vec<_> = owners
            .iter()
            .map(|&owner| archive_index::tally(store.as_ref(), owner).expect("tally"))
            .collect();
        assert!(tallies.iter().all(|t| t.cancelled > 0), "{tallies:?}");
        to_previous_layout(store.as_ref());

        store.crash_after_writes(crash_at);
        let cut_short = archive_index::migrate(store.as_ref()).is_err();
        store.crash();
        // Four users' batches, then the marker: a crash before the marker stops it.
        assert!(cut_short || crash_at >= 5, "crash at write {crash_at}");

        let registry = start(store.clone() as Arc<dyn Store>, &clock, 61).await;
        for (owner, tally) in owners.iter().zip(&tallies) {
            assert_eq!(
                archive_index::tally(store.as_ref(), *owner).expect("tally"),
                *tally,
                "crash at write {crash_at}: {owner}'s tally"
            );
            let (page, total) = registry
                .reservations_page(*owner, None, 0, 1_000)
                .await
                .expect("page");
            let brute = brute_force(&registry, *owner).await;
            assert_eq!(
                total,
                brute.len(),
                "crash at write {crash_at}: {owner}'s total"
            );
            assert_eq!(
                ids_of(&page),
                brute,
                "crash at write {crash_at}: {owner}'s list"
            );
        }
        registry.shutdown();
    }
}
