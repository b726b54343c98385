//! Recovery time against log length: how long a schedule actor takes to load
//! its state (`ScheduleState::load`: creation snapshot, then replay of every
//! log record, then `check_invariants`) from a log of 10,000, 100,000 and
//! 1,000,000 events.
//!
//! Each log is written once per size, before timing, to a `SledStore` in a
//! temp dir under `target/tmp`: the creation snapshot a new schedule gets,
//! then hold + cancel pairs made by the engine itself (`Schedule::hold` of
//! one named seat, `Schedule::cancel`), logged as actor records of
//! `EVENTS_PER_RECORD` events, as a busy actor batches them. No snapshot is
//! taken after creation, so the whole log is replayed: the worst case the
//! snapshot policy allows is bounded by the log written since the last
//! snapshot, and this measures its cost per event. The recovered state holds
//! every reservation the log made (half as many as events), as in production.
//!
//! Run: `cargo bench --bench recovery`. Preparation time per size is printed
//! to stderr; sample size 10.

mod support;

use support::{data_dir, id_bytes};

use boxoffice_actors::journal::Record;
use boxoffice_actors::schedule_actor::{log_name, ScheduleLogEvent, ScheduleSpec, ScheduleState};
use boxoffice_engine::ids::{ReservationId, ScheduleId, UserId};
use boxoffice_engine::layout::SeatLayout;
use boxoffice_engine::schedule::{HoldRequest, ScheduleRules, SeatIndex, SeatSelection};
use boxoffice_engine::Timestamp;
use boxoffice_storage::{codec, SledStore, Store};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// 2026-11-24T00:00:00Z: when the logged holds were made.
const NOW: Timestamp = Timestamp(1_795_478_400_000);
/// Log lengths, in events.
const LOG_EVENTS: [u64; 3] = [10_000, 100_000, 1_000_000];
/// Events per log record (one actor batch).
const EVENTS_PER_RECORD: usize = 64;
/// Users the logged holds cycle through.
const USERS: u64 = 1_024;

/// A store holding one 50,000-seat schedule whose log has `events` events.
struct PreparedLog {
    store: SledStore,
    log: String,
    _dir: tempfile::TempDir,
}

fn prepare(events: u64) -> PreparedLog {
    assert!(
        events.is_multiple_of(2),
        "the log is made of hold + cancel pairs"
    );
    let dir = data_dir("recovery");
    let store = SledStore::open(dir.path()).expect("open sled store");
    let schedule_id = ScheduleId::from_random_bytes(id_bytes(3, 1));
    let spec = ScheduleSpec {
        schedule_id,
        layout: SeatLayout::uniform(10, 100, 50),
        rules: ScheduleRules::default(),
        queue: None,
    };
    let mut state = ScheduleState::new(spec).expect("valid bench layout");
    let log = log_name(schedule_id);
    // What `Registry::create_schedule` writes: the creation snapshot at lsn 0.
    store
        .write_snapshot(&log, 0, &codec::encode(&state).expect("encode"))
        .expect("creation snapshot");
    let seats: Vec<String> = (0..state.schedule.seat_count())
        .map(|i| state.schedule.seat_id(SeatIndex(i)))
        .collect();
    let mut batch: Vec<ScheduleLogEvent> = Vec::with_capacity(EVENTS_PER_RECORD);
    let append = |batch: &mut Vec<ScheduleLogEvent>| {
        let record = Record {
            events: std::mem::take(batch),
            idempotency: Vec::new(),
        };
        store
            .append(&log, &codec::encode(&record).expect("encode record"))
            .expect("append");
    };
    for n in 0..events / 2 {
        let user = UserId::from_random_bytes(id_bytes(1, n % USERS));
        let reservation_id = ReservationId::from_random_bytes(id_bytes(2, n));
        let seat = seats[(n % seats.len() as u64) as usize].clone();
        let held = state
            .schedule
            .hold(
                HoldRequest {
                    reservation_id,
                    number: "BX-BENCH".to_owned(),
                    user,
                    selection: SeatSelection::Ids(vec![seat]),
                },
                NOW,
            )
            .expect("bench hold succeeds");
        let cancelled = state
            .schedule
            .cancel(reservation_id, user, NOW)
            .expect("bench cancel succeeds");
        for event in [held, cancelled] {
            batch.push(ScheduleLogEvent::Engine(event));
            if batch.len() == EVENTS_PER_RECORD {
                append(&mut batch);
            }
        }
    }
    if !batch.is_empty() {
        append(&mut batch);
    }
    store.flush().expect("flush");
    PreparedLog {
        store,
        log,
        _dir: dir,
    }
}

fn schedule_load(c: &mut Criterion) {
    let mut group = c.benchmark_group("recovery/schedule_load");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(10));
    for events in LOG_EVENTS {
        let started = Instant::now();
        let prepared = prepare(events);
        eprintln!(
            "recovery: prepared a log of {events} events in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        group.throughput(Throughput::Elements(events));
        group.bench_function(BenchmarkId::new("events", events), |b| {
            b.iter(|| {
                let state = ScheduleState::load(&prepared.store, &prepared.log)
                    .expect("the prepared log loads");
                assert_eq!(
                    state.schedule.reservations().count() as u64,
                    events / 2,
                    "every logged hold was replayed"
                );
                black_box(state)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, schedule_load);
criterion_main!(benches);
