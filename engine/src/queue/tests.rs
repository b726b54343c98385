//! Unit tests for each waiting-room rule.

use super::*;
use std::collections::{BTreeMap, HashMap};

fn user(n: u32) -> UserId {
    let mut bytes = [0u8; 16];
    bytes[..4].copy_from_slice(&n.to_le_bytes());
    UserId::from_random_bytes(bytes)
}

/// Token ids drawn from a counter, as the actor's id source would.
struct Ids(u64);

impl Ids {
    fn next(&mut self) -> QueueTokenId {
        self.0 += 1;
        let mut bytes = [0xAB; 16];
        bytes[..8].copy_from_slice(&self.0.to_le_bytes());
        QueueTokenId::from_random_bytes(bytes)
    }
}

fn config(batch_size: u32, max_active: u32) -> QueueConfig {
    QueueConfig {
        enabled: true,
        batch_size,
        interval_ms: 1_000,
        max_active,
        active_ms: 600_000,
        pre_queue_ms: 0,
        opens_at: Timestamp::MIN,
    }
}

fn t(ms: i64) -> Timestamp {
    Timestamp(ms)
}

/// Joins users `0..count` at time `at`, returning their tokens.
fn join_all(
    queue: &mut Queue,
    ids: &mut Ids,
    users: std::ops::Range<u32>,
    at: Timestamp,
) -> Vec<QueueTokenId> {
    users
        .map(|n| {
            let outcome = queue.join(user(n), ids.next(), at).unwrap();
            assert!(outcome.created);
            outcome.token
        })
        .collect()
}

fn admitted(events: &[QueueEvent]) -> Vec<QueueTokenId> {
    events
        .iter()
        .flat_map(|event| match event {
            QueueEvent::Admitted { tokens, .. } => tokens.clone(),
            _ => Vec::new(),
        })
        .collect()
}

fn status(queue: &Queue, token: QueueTokenId) -> TokenStatus {
    queue.token(token).expect("token is known").status
}

#[test]
fn join_puts_users_in_line_in_order() {
    let mut queue = Queue::new(config(10, 100));
    let mut ids = Ids(0);
    let tokens = join_all(&mut queue, &mut ids, 0..3, t(0));
    for (index, &token) in tokens.iter().enumerate() {
        let view = queue.view(token, t(0)).unwrap();
        assert_eq!(view.status, TokenStatus::Waiting);
        assert_eq!(view.position, index as u64 + 1);
        assert_eq!(view.expires_at, t(WAITING_DROP_MS));
    }
    assert_eq!(queue.waiting_len(), 3);
    queue.check_invariants().unwrap();
}

#[test]
fn admission_is_fifo_in_batches() {
    let mut queue = Queue::new(config(2, 100));
    let mut ids = Ids(0);
    let tokens = join_all(&mut queue, &mut ids, 0..5, t(0));
    let first = queue.tick(t(10));
    assert_eq!(admitted(&first), tokens[..2]);
    assert_eq!(
        first.last(),
        Some(&QueueEvent::Admitted {
            tokens: tokens[..2].to_vec(),
            at: t(10),
            until: t(600_010)
        })
    );
    // Not before the interval has passed.
    assert!(queue.tick(t(1_009)).is_empty());
    assert_eq!(admitted(&queue.tick(t(1_010))), tokens[2..4]);
    assert_eq!(admitted(&queue.tick(t(2_010))), tokens[4..]);
    assert_eq!(queue.view(tokens[4], t(2_010)).unwrap().position, 0);
    assert_eq!(status(&queue, tokens[0]), TokenStatus::Active);
    assert_eq!(queue.token(tokens[0]).unwrap().admitted_at, Some(t(10)));
    queue.check_invariants().unwrap();
}

#[test]
fn rejoin_while_waiting_or_active_keeps_the_place() {
    let mut queue = Queue::new(config(1, 100));
    let mut ids = Ids(0);
    let tokens = join_all(&mut queue, &mut ids, 0..3, t(0));
    let again = queue.join(user(1), ids.next(), t(5)).unwrap();
    assert_eq!(
        again,
        JoinOutcome {
            token: tokens[1],
            created: false,
            events: vec![]
        }
    );
    assert_eq!(queue.view(tokens[1], t(5)).unwrap().position, 2);
    queue.tick(t(10));
    let active_again = queue.join(user(0), ids.next(), t(20)).unwrap();
    assert_eq!(
        (active_again.token, active_again.created),
        (tokens[0], false)
    );
    assert_eq!(queue.waiting_len(), 2);
    queue.check_invariants().unwrap();
}

#[test]
fn rejoin_after_ended_or_expired_starts_at_the_back() {
    let mut queue = Queue::new(config(2, 100));
    let mut ids = Ids(0);
    let tokens = join_all(&mut queue, &mut ids, 0..4, t(0));
    queue.tick(t(0));
    assert!(queue.end_by_payment(tokens[0], t(1)).is_some());
    let ended_rejoin = queue.join(user(0), ids.next(), t(2)).unwrap();
    assert!(ended_rejoin.created);
    assert_ne!(ended_rejoin.token, tokens[0]);
    assert_eq!(queue.view(ended_rejoin.token, t(2)).unwrap().position, 3);
    // The old token is forgotten once the user holds a new one.
    assert_eq!(queue.token(tokens[0]), None);
    assert_eq!(queue.touch(tokens[0], t(2)), Err(QueueError::UnknownToken));

    // User 1's active token expires; their rejoin goes behind user 0's.
    queue.touch(ended_rejoin.token, t(599_000)).unwrap();
    queue.tick(t(600_000));
    assert_eq!(status(&queue, tokens[1]), TokenStatus::Expired);
    let expired_rejoin = queue.join(user(1), ids.next(), t(600_001)).unwrap();
    assert!(expired_rejoin.created);
    let view = queue.view(expired_rejoin.token, t(600_001)).unwrap();
    assert_eq!(view.position, queue.waiting_len() as u64);
    assert_eq!(
        queue.token_of_user(user(1)).unwrap().token,
        expired_rejoin.token
    );
    queue.check_invariants().unwrap();
}

#[test]
fn batches_never_pass_max_active() {
    let mut queue = Queue::new(config(10, 3));
    let mut ids = Ids(0);
    let tokens = join_all(&mut queue, &mut ids, 0..8, t(0));
    assert_eq!(admitted(&queue.tick(t(0))), tokens[..3]);
    assert_eq!(queue.active_len(), 3);
    // Room is full: the next interval admits nobody.
    assert!(admitted(&queue.tick(t(1_000))).is_empty());
    assert_eq!(queue.waiting_len(), 5);
    queue.check_invariants().unwrap();
}

#[test]
fn active_tokens_expire_at_active_until_and_make_room() {
    let mut queue = Queue::new(config(2, 2));
    let mut ids = Ids(0);
    let tokens = join_all(&mut queue, &mut ids, 0..4, t(0));
    queue.tick(t(0));
    // Keep the waiting two alive.
    queue.touch(tokens[2], t(599_000)).unwrap();
    queue.touch(tokens[3], t(599_000)).unwrap();
    assert!(queue.tick(t(599_999)).is_empty());
    let events = queue.tick(t(600_000));
    assert_eq!(
        events[0],
        QueueEvent::ActiveExpired {
            tokens: tokens[..2].to_vec(),
            at: t(600_000)
        }
    );
    assert_eq!(admitted(&events), tokens[2..]);
    let view = queue.view(tokens[0], t(600_000)).unwrap();
    assert_eq!(
        (view.status, view.expires_at),
        (TokenStatus::Expired, t(600_000))
    );
    let view = queue.view(tokens[2], t(600_000)).unwrap();
    assert_eq!(
        (view.status, view.expires_at),
        (TokenStatus::Active, t(1_200_000))
    );
    queue.check_invariants().unwrap();
}

#[test]
fn silent_waiting_tokens_drop_out_after_two_minutes_not_before() {
    let mut queue = Queue::new(config(1, 1));
    let mut ids = Ids(0);
    let tokens = join_all(&mut queue, &mut ids, 0..3, t(0));
    queue.tick(t(0)); // admits tokens[0]; the other two wait
    assert!(queue.tick(t(WAITING_DROP_MS - 1)).is_empty());
    let events = queue.tick(t(WAITING_DROP_MS));
    assert_eq!(
        events[0],
        QueueEvent::DroppedOut {
            tokens: tokens[1..].to_vec(),
            at: t(WAITING_DROP_MS)
        }
    );
    assert_eq!(status(&queue, tokens[1]), TokenStatus::Expired);
    assert_eq!(queue.token(tokens[1]).unwrap().admitted_at, None);
    assert_eq!(queue.waiting_len(), 0);
    queue.check_invariants().unwrap();
}

#[test]
fn polling_prevents_drop_out() {
    let mut queue = Queue::new(config(1, 1));
    let mut ids = Ids(0);
    let tokens = join_all(&mut queue, &mut ids, 0..3, t(0));
    queue.tick(t(0));
    for step in 1..=5 {
        let now = t(step * 100_000);
        queue.touch(tokens[1], now).unwrap();
        let events = queue.tick(now);
        assert!(
            events.iter().all(|event| match event {
                QueueEvent::DroppedOut {
                    tokens: dropped, ..
                } => !dropped.contains(&tokens[1]),
                _ => true,
            }),
            "a polled token dropped out at step {step}"
        );
    }
    assert_eq!(status(&queue, tokens[1]), TokenStatus::Waiting);
    assert_eq!(status(&queue, tokens[2]), TokenStatus::Expired);
    assert_eq!(
        queue.view(tokens[1], t(500_000)).unwrap().expires_at,
        t(500_000 + WAITING_DROP_MS)
    );
    queue.check_invariants().unwrap();
}

#[test]
fn rejoining_counts_as_a_poll() {
    let mut queue = Queue::new(config(1, 1));
    let mut ids = Ids(0);
    let tokens = join_all(&mut queue, &mut ids, 0..2, t(0));
    queue.tick(t(0));
    queue.join(user(1), ids.next(), t(100_000)).unwrap();
    queue.tick(t(WAITING_DROP_MS));
    assert_eq!(status(&queue, tokens[1]), TokenStatus::Waiting);
}

#[test]
fn eta_is_room_limited_beyond_the_free_room() {
    // Batch clock: 10 per second. Room for 2 only, held for the full 60 s:
    // the line really moves at 2 a minute.
    let mut queue = Queue::new(QueueConfig {
        active_ms: 60_000,
        ..config(10, 2)
    });
    let mut ids = Ids(0);
    let tokens = join_all(&mut queue, &mut ids, 0..42, t(0));
    // Before anyone left: the slowest pace, max_active per active time.
    assert_eq!(queue.admission_rate_per_sec(), 2.0 / 60.0);
    // Two by the batch clock, then 38 at one per 30 s.
    assert_eq!(
        queue.view(tokens[39], t(0)).unwrap().estimated_wait_seconds,
        (0.2_f64 + 38.0 * 30.0).round() as u64
    );
    assert_eq!(
        queue.view(tokens[1], t(0)).unwrap().estimated_wait_seconds,
        0,
        "0.2 s, to the nearest second"
    );

    // Two admitted every 60 s (as active tokens expire), keeping the rest polled.
    let mut now = t(0);
    for _ in 0..3 {
        queue.tick(now);
        for &token in &tokens {
            let _ = queue.touch(token, now);
        }
        now = now.plus_millis(60_000);
    }
    // Exits: 2 at 60 s, 2 at 120 s. Counted after the first exit's bucket:
    // 2 over the 59 s from its end.
    let rate = queue.admission_rate_per_sec();
    assert!((rate - 2.0 / 59.0).abs() < 1e-12, "rate {rate}");
    let last = *tokens.last().unwrap();
    let view = queue.view(last, now).unwrap();
    assert_eq!(view.position, 36);
    // The truth is 18 more minutes (1,080 s).
    assert_eq!(view.estimated_wait_seconds, 36 * 59 / 2);
}

#[test]
fn a_payment_counts_as_an_exit_and_speeds_the_estimate() {
    let mut queue = Queue::new(QueueConfig {
        active_ms: 60_000,
        ..config(10, 2)
    });
    let mut ids = Ids(0);
    let tokens = join_all(&mut queue, &mut ids, 0..40, t(0));
    let mut now = t(0);
    let mut shopping = admitted(&queue.tick(now));
    // Each admitted pair pays 5 s after admission; the next pair comes in.
    for _ in 0..5 {
        now = now.plus_millis(5_000);
        for token in shopping {
            assert!(queue.end_by_payment(token, now).is_some());
        }
        shopping = admitted(&queue.tick(now));
        assert_eq!(shopping.len(), 2);
    }
    assert_eq!(queue.waiting_len(), 28);
    assert_eq!(queue.token(tokens[0]).unwrap().status, TokenStatus::Ended);
    // 2 exits every 5 s: 0.4 a second, far above the 2-per-minute floor.
    let rate = queue.admission_rate_per_sec();
    assert!((rate - 8.0 / 19.0).abs() < 1e-12, "rate {rate}");
    queue.check_invariants().unwrap();
}

#[test]
fn before_any_exit_the_estimate_expects_a_stay_of_one_hold() {
    // Batch clock: 10 a second; room for 20; active 10 minutes.
    let mut queue = Queue::new(config(10, 20));
    let mut ids = Ids(0);
    let tokens = join_all(&mut queue, &mut ids, 0..100, t(0));
    let eta = |queue: &Queue, now| queue.view(tokens[99], now).unwrap().estimated_wait_seconds;
    // Nothing given: the whole active time, 20 per 600 s. 20 by the batch
    // clock (2 s), then 80 at one per 30 s.
    assert_eq!(eta(&queue, t(0)), 2 + 80 * 30);
    // Holds of 5 s: the room empties once per 5 s, 4 a second.
    queue.expect_stay_ms(5_000);
    assert_eq!(queue.admission_rate_per_sec(), 4.0);
    assert_eq!(eta(&queue, t(0)), 2 + 80 / 4);
    // Never longer than the active time, never shorter than the minimum
    // (20 per second, but the batch clock caps it at 10).
    queue.expect_stay_ms(86_400_000);
    assert_eq!(eta(&queue, t(0)), 2 + 80 * 30);
    queue.expect_stay_ms(0);
    assert_eq!(eta(&queue, t(0)), 2 + 80 / 10);

    // Once exits are measured, they set the pace, whatever the expected stay.
    queue.expect_stay_ms(5_000);
    let first = admitted(&queue.tick(t(0)));
    let second = admitted(&queue.tick(t(1_000)));
    assert_eq!((first.len(), second.len()), (10, 10));
    for &token in &first[..5] {
        queue.end_by_payment(token, t(2_500)).unwrap();
    }
    for &token in &first[5..] {
        queue.end_by_payment(token, t(3_500)).unwrap();
    }
    // 5 exits after the first exit's bucket, over one bucket: 5 a second.
    assert_eq!(queue.admission_rate_per_sec(), 5.0);
    // 80 waiting, room for 10: 1 s by the batch clock, then 70 at 5 a second.
    assert_eq!(eta(&queue, t(3_500)), 1 + 70 / 5);
    // A queue rebuilt from its state forgets the stay (the owner gives it
    // again), and is equal all the same.
    let mut rebuilt = queue.clone();
    rebuilt.expected_stay_ms = None;
    assert_eq!(rebuilt, queue);
}

/// A room of 100 (100 per 200 ms, active 60 s), 1,000 in line. The first
/// cohort: 90 pay 1.5 s after admission, 10 stay; the 90 let in after them
/// all stay. Once the first cohort is older than its longest payment, the
/// forecast knows the room frees only when the stayers' 60 s end, then lets
/// about ten through per place (nine in ten pay), and it counts down while
/// nothing happens. Survives a snapshot (derived from the kept tokens).
#[test]
fn the_forecast_waits_for_the_stayers_active_time_to_end() {
    let config = QueueConfig {
        batch_size: 100,
        interval_ms: 200,
        max_active: 100,
        active_ms: 60_000,
        ..config(1, 1)
    };
    let mut queue = Queue::new(config);
    let mut ids = Ids(0);
    let tokens = join_all(&mut queue, &mut ids, 0..1_000, t(0));
    let first = admitted(&queue.tick(t(0)));
    assert_eq!(first.len(), 100);
    assert_eq!(queue.eta_model().forecast, None, "nobody paid yet");
    for &token in &first[..90] {
        queue.end_by_payment(token, t(1_500)).unwrap();
    }
    assert_eq!(
        queue.eta_model().forecast,
        None,
        "the first cohort is not older than its longest payment yet"
    );
    assert_eq!(admitted(&queue.tick(t(1_600))).len(), 90);
    // A late joiner moves the clock (any event does): 3 s after the first
    // cohort's end, it is resolved (older than 1.25 x 1.5 s).
    join_all(&mut queue, &mut ids, 1_000..1_001, t(10_000));
    let eta =
        |queue: &Queue, n: usize, now| queue.view(tokens[n], now).unwrap().estimated_wait_seconds;
    let model = queue.eta_model();
    assert!(model.forecast.is_some(), "{model:?}");
    // The stayers' time ends at 60.5 s (the first cohort's middle) and
    // 61.5 s: 50.5-51.5 s from now (less up to 8%: the curve's points are
    // 8% apart and the step falls between two).
    let next = eta(&queue, 190, t(10_000));
    assert!((47..=52).contains(&next), "next in line: {next} s");
    // 90 of the 190 admitted paid: each freed place lets 190 / 100 through
    // before a stayer takes it again, 60 s more. So the 150th waits for
    // the first round, the 300th for the second, the 810th for the fifth
    // (past the two active times modelled: the long-run pace, 100 places
    // per mean stay of 0.47 x 1.5 s + 0.53 x 60 s).
    let round = |n: usize| eta(&queue, 190 + n - 1, t(10_000));
    assert!((50..=58).contains(&round(150)), "150th: {} s", round(150));
    assert!((105..=120).contains(&round(300)), "300th: {} s", round(300));
    assert!((230..=300).contains(&round(810)), "810th: {} s", round(810));
    // Nothing happens for 20 s: the same forecast, 20 s closer.
    assert_eq!(eta(&queue, 190, t(30_000)), next - 20);

    let restored: Queue = decode(&encode(&queue)).unwrap();
    assert_eq!(restored.eta_model(), queue.eta_model());
    queue.check_invariants().unwrap();
}

#[test]
fn disabled_queue_admits_at_once_without_max_active() {
    let mut queue = Queue::new(QueueConfig {
        max_active: 1,
        ..QueueConfig::default()
    });
    let mut ids = Ids(0);
    for n in 0..3 {
        let token = ids.next();
        let outcome = queue.join(user(n), token, t(5)).unwrap();
        assert_eq!(
            outcome.events,
            vec![
                QueueEvent::Joined {
                    token,
                    user: user(n),
                    at: t(5)
                },
                QueueEvent::Admitted {
                    tokens: vec![token],
                    at: t(5),
                    until: t(5 + 600_000)
                }
            ]
        );
        assert_eq!(status(&queue, token), TokenStatus::Active);
    }
    assert_eq!(queue.active_len(), 3);
    assert_eq!(queue.waiting_len(), 0);
    assert_eq!(queue.active_tokens().count(), 3);
    queue.check_invariants().unwrap();
}

#[test]
fn end_by_payment_frees_room_for_the_next_batch() {
    let mut queue = Queue::new(config(5, 2));
    let mut ids = Ids(0);
    let tokens = join_all(&mut queue, &mut ids, 0..3, t(0));
    queue.tick(t(0));
    assert!(admitted(&queue.tick(t(1_000))).is_empty());
    assert_eq!(
        queue.end_by_payment(tokens[2], t(1_001)),
        None,
        "waiting, not active"
    );
    assert_eq!(
        queue.end_by_payment(tokens[0], t(1_001)),
        Some(QueueEvent::Ended {
            token: tokens[0],
            at: t(1_001)
        })
    );
    assert_eq!(
        queue.end_by_payment(tokens[0], t(1_002)),
        None,
        "already ended"
    );
    assert_eq!(status(&queue, tokens[0]), TokenStatus::Ended);
    // The admission clock last ran at 0 s, so the freed place fills at once.
    assert_eq!(queue.next_tick_at(), Some(t(1_000)));
    assert_eq!(admitted(&queue.tick(t(1_002))), vec![tokens[2]]);
    queue.check_invariants().unwrap();
}

#[test]
fn next_tick_at_names_the_earliest_pending_work() {
    let mut queue = Queue::new(config(1, 1));
    let mut ids = Ids(0);
    assert_eq!(queue.next_tick_at(), None);
    let tokens = join_all(&mut queue, &mut ids, 0..2, t(500));
    // Nothing admitted yet: admission may happen as soon as someone waits.
    assert_eq!(queue.next_tick_at(), Some(t(500)));
    queue.tick(t(600));
    // Room is full: the next thing is the waiting token's drop-out.
    assert_eq!(queue.next_tick_at(), Some(t(500 + WAITING_DROP_MS)));
    queue.touch(tokens[1], t(50_000)).unwrap();
    // The poll moved the drop-out later; it still comes before the active
    // token's expiry at 600 + 600 s.
    assert_eq!(queue.next_tick_at(), Some(t(50_000 + WAITING_DROP_MS)));
    queue.end_by_payment(tokens[0], t(700));
    assert_eq!(queue.next_tick_at(), Some(t(1_600)));
}

#[test]
fn touch_of_unknown_token_is_an_error() {
    let mut queue = Queue::new(config(1, 1));
    assert_eq!(
        queue.touch(Ids(7).next(), t(0)),
        Err(QueueError::UnknownToken)
    );
    assert_eq!(queue.view(Ids(7).next(), t(0)), None);
}

#[test]
fn after_recovery_gives_every_waiting_token_a_fresh_poll() {
    let mut live = Queue::new(config(1, 1));
    let mut ids = Ids(0);
    let mut log = Vec::new();
    for n in 0..3 {
        log.extend(live.join(user(n), ids.next(), t(0)).unwrap().events);
    }
    log.extend(live.tick(t(0)));
    let mut rebuilt = Queue::new(live.config().clone());
    for event in &log {
        rebuilt.apply(event);
    }
    assert_eq!(rebuilt, live);
    rebuilt.after_recovery(t(100_000));
    // Without the reset these would drop out at 120 s.
    assert!(rebuilt.tick(t(WAITING_DROP_MS)).is_empty());
    let events = rebuilt.tick(t(100_000 + WAITING_DROP_MS));
    assert!(matches!(&events[0], QueueEvent::DroppedOut { tokens, .. } if tokens.len() == 2));
    rebuilt.check_invariants().unwrap();
}

#[test]
fn check_invariants_catches_broken_state() {
    let mut queue = Queue::new(config(1, 1));
    let mut ids = Ids(0);
    let tokens = join_all(&mut queue, &mut ids, 0..2, t(0));
    let mut broken = queue.clone();
    broken
        .table
        .modify(tokens[0], |record| record.status = TokenStatus::Active);
    assert!(broken.check_invariants().is_err());
    let mut broken = queue.clone();
    broken.last_admitted_seq = Some(1);
    assert!(broken.check_invariants().is_err());
    let mut broken = queue.clone();
    broken.waiting.remove(0);
    assert!(broken.check_invariants().is_err());
}

/// Fills the line to `MAX_WAITING`: 2,000,000 joins take ~20 s in a debug
/// build (~4 s in release), too slow for every run.
/// Run with `cargo test -p boxoffice-engine --release -- --ignored`.
#[test]
#[ignore]
fn join_past_max_waiting_is_full() {
    let mut queue = Queue::new(config(1, 1));
    let mut ids = Ids(0);
    for n in 0..MAX_WAITING as u32 {
        queue.join(user(n), ids.next(), t(0)).unwrap();
    }
    assert_eq!(
        queue.join(user(u32::MAX), ids.next(), t(0)),
        Err(QueueError::Full)
    );
    assert_eq!(queue.waiting_len(), MAX_WAITING);
    let last = queue
        .token_of_user(user(MAX_WAITING as u32 - 1))
        .unwrap()
        .token;
    assert_eq!(queue.view(last, t(0)).unwrap().position, MAX_WAITING as u64);
}

/// A queue whose pre-queue opens an hour before `opens_at` = 10,000,000 ms.
const OPENS_AT_MS: i64 = 10_000_000;
const PRE_QUEUE_MS: i64 = 3_600_000;

fn pre_queue_config(batch_size: u32, max_active: u32) -> QueueConfig {
    QueueConfig {
        pre_queue_ms: PRE_QUEUE_MS,
        opens_at: t(OPENS_AT_MS),
        ..config(batch_size, max_active)
    }
}

/// Joins users `users` to the pre-queue at `at` (before opening).
fn pre_join_all(
    queue: &mut Queue,
    ids: &mut Ids,
    users: std::ops::Range<u32>,
    at: Timestamp,
) -> Vec<QueueTokenId> {
    users
        .map(|n| {
            let token = ids.next();
            let outcome = queue.join(user(n), token, at).unwrap();
            assert_eq!(
                outcome.events,
                vec![QueueEvent::PreQueueJoined {
                    token,
                    user: user(n),
                    at
                }]
            );
            token
        })
        .collect()
}

#[test]
fn the_pre_queue_window_opens_pre_queue_ms_before_opening() {
    let mut queue = Queue::new(pre_queue_config(10, 100));
    let mut ids = Ids(0);
    let window = t(OPENS_AT_MS - PRE_QUEUE_MS);
    assert_eq!(
        queue.join(user(0), ids.next(), window.plus_millis(-1)),
        Err(QueueError::NotOpen { opens_at: window })
    );
    let tokens = pre_join_all(&mut queue, &mut ids, 0..3, window);
    let last = pre_join_all(&mut queue, &mut ids, 3..4, t(OPENS_AT_MS - 1));
    assert_eq!(queue.pre_queue_len(), 4);
    assert_eq!(queue.waiting_len(), 0);
    assert!(!queue.shuffled());
    assert_eq!(queue.seq_of_pre_queue_index(0), None);
    let record = queue.token(last[0]).unwrap();
    assert_eq!(
        (record.status, record.seq, record.pre_queue_index),
        (TokenStatus::PreQueue, PRE_QUEUE_SEQ, Some(3))
    );
    let view = queue.view(tokens[1], window).unwrap();
    assert_eq!(
        (
            view.status,
            view.position,
            view.estimated_wait_seconds,
            view.expires_at
        ),
        (
            TokenStatus::PreQueue,
            0,
            0,
            t(OPENS_AT_MS + WAITING_DROP_MS)
        )
    );
    assert_eq!(view.poll_after_ms, 60_000, "an hour before opening");
    // Rejoining returns the same pre-queue token, with no event.
    let again = queue
        .join(user(1), ids.next(), t(OPENS_AT_MS - 10))
        .unwrap();
    assert_eq!(
        again,
        JoinOutcome {
            token: tokens[1],
            created: false,
            events: vec![]
        }
    );
    assert_eq!(queue.touch(tokens[1], t(OPENS_AT_MS - 10)), Ok(()));
    queue.check_invariants().unwrap();
}

#[test]
fn the_shuffle_places_the_pre_queue_in_seeded_order_ahead_of_later_joins() {
    let mut queue = Queue::new(pre_queue_config(3, 100));
    let mut ids = Ids(0);
    let early = pre_join_all(&mut queue, &mut ids, 0..6, t(OPENS_AT_MS - 1_000_000));
    let opening = t(OPENS_AT_MS);
    assert_eq!(queue.next_tick_at(), Some(opening));
    assert!(!queue.shuffle_due(opening.plus_millis(-1)));
    assert_eq!(queue.shuffle_pre_queue(7, opening.plus_millis(-1)), None);
    assert!(queue.shuffle_due(opening));
    // The actor skipped the shuffle: nobody joins and nobody is admitted.
    assert_eq!(
        queue.join(user(99), ids.next(), opening),
        Err(QueueError::ShuffleDue)
    );
    assert!(queue.tick(opening).is_empty());

    let event = queue.shuffle_pre_queue(7, opening).unwrap();
    assert_eq!(
        event,
        QueueEvent::PreQueueShuffled {
            seed: 7,
            at: opening
        }
    );
    assert!(queue.shuffled() && !queue.shuffle_due(opening));
    assert_eq!(queue.shuffle_pre_queue(7, opening), None, "only once");
    assert_eq!(queue.pre_queue_len(), 0);
    let order = shuffle::permutation(7, 6);
    for (slot, &arrival) in order.iter().enumerate() {
        let token = early[arrival];
        assert_eq!(
            queue.seq_of_pre_queue_index(arrival as u64),
            Some(slot as u64)
        );
        let view = queue.view(token, opening).unwrap();
        assert_eq!(
            (view.status, view.position),
            (TokenStatus::Waiting, slot as u64 + 1)
        );
        assert_eq!(view.expires_at, opening.plus_millis(WAITING_DROP_MS));
        assert_eq!(
            queue.token(token).unwrap().pre_queue_index,
            Some(arrival as u64)
        );
    }
    assert_eq!(queue.seq_of_pre_queue_index(6), None);

    // Later joins are FIFO behind the whole pre-queue.
    let late = join_all(&mut queue, &mut ids, 10..12, opening.plus_millis(1));
    assert_eq!(queue.view(late[0], opening).unwrap().position, 7);
    assert_eq!(queue.token(late[1]).unwrap().pre_queue_index, None);
    let in_line_order: Vec<QueueTokenId> = order.iter().map(|&arrival| early[arrival]).collect();
    assert_eq!(admitted(&queue.tick(opening)), in_line_order[..3]);
    assert_eq!(
        admitted(&queue.tick(t(OPENS_AT_MS + 1_000))),
        in_line_order[3..]
    );
    assert_eq!(admitted(&queue.tick(t(OPENS_AT_MS + 2_000))), late);
    queue.check_invariants().unwrap();
}

#[test]
fn pre_queue_tokens_never_drop_out_and_get_a_fresh_grace_at_the_shuffle() {
    let mut queue = Queue::new(QueueConfig {
        pre_queue_ms: 86_400_000,
        ..pre_queue_config(1, 1)
    });
    let mut ids = Ids(0);
    // Joined 23 hours before opening and never polled.
    let tokens = pre_join_all(&mut queue, &mut ids, 0..3, t(OPENS_AT_MS - 82_800_000));
    for hour in 1..23 {
        assert!(queue
            .tick(t(OPENS_AT_MS - 82_800_000 + hour * 3_600_000))
            .is_empty());
    }
    queue.after_recovery(t(OPENS_AT_MS - 1));
    let shuffle_at = t(OPENS_AT_MS + 5_000);
    queue.shuffle_pre_queue(1, shuffle_at).unwrap();
    let events = queue.tick(shuffle_at);
    assert_eq!(admitted(&events).len(), 1);
    assert!(queue
        .tick(shuffle_at.plus_millis(WAITING_DROP_MS - 1))
        .is_empty());
    let events = queue.tick(shuffle_at.plus_millis(WAITING_DROP_MS));
    assert!(
        matches!(&events[0], QueueEvent::DroppedOut { tokens: dropped, .. } if dropped.len() == 2)
    );
    assert!(tokens
        .iter()
        .all(|&token| status(&queue, token) != TokenStatus::PreQueue));
    queue.check_invariants().unwrap();
}

#[test]
fn an_empty_pre_queue_is_still_shuffled_once() {
    let mut queue = Queue::new(pre_queue_config(1, 1));
    let mut ids = Ids(0);
    assert_eq!(queue.next_tick_at(), Some(t(OPENS_AT_MS)));
    assert!(queue.shuffle_due(t(OPENS_AT_MS + 60_000)));
    assert!(queue
        .shuffle_pre_queue(3, t(OPENS_AT_MS + 60_000))
        .is_some());
    assert_eq!(queue.next_tick_at(), None);
    assert_eq!(queue.seq_of_pre_queue_index(0), None);
    let tokens = join_all(&mut queue, &mut ids, 0..2, t(OPENS_AT_MS + 60_001));
    assert_eq!(
        queue
            .view(tokens[1], t(OPENS_AT_MS + 60_001))
            .unwrap()
            .position,
        2
    );
    queue.check_invariants().unwrap();
}

#[test]
fn without_a_pre_queue_or_with_the_queue_disabled_joins_are_as_before() {
    let mut disabled = Queue::new(QueueConfig {
        enabled: false,
        ..pre_queue_config(1, 1)
    });
    let mut ids = Ids(0);
    let outcome = disabled.join(user(0), ids.next(), t(0)).unwrap();
    assert_eq!(status(&disabled, outcome.token), TokenStatus::Active);
    assert!(!disabled.shuffle_due(t(OPENS_AT_MS)));
    assert_eq!(disabled.shuffle_pre_queue(1, t(OPENS_AT_MS)), None);

    let mut off = Queue::new(QueueConfig {
        pre_queue_ms: 0,
        ..pre_queue_config(1, 1)
    });
    let outcome = off.join(user(0), ids.next(), t(0)).unwrap();
    assert!(matches!(outcome.events[..], [QueueEvent::Joined { .. }]));
    assert!(!off.shuffle_due(t(OPENS_AT_MS)));
    assert_eq!(admitted(&off.tick(t(1))), vec![outcome.token]);
}

#[test]
fn a_shuffled_queue_replays_equal_from_its_events() {
    let mut live = Queue::new(pre_queue_config(2, 3));
    let mut ids = Ids(0);
    let mut log = Vec::new();
    for n in 0..20 {
        let at = t(OPENS_AT_MS - 100_000 + i64::from(n) * 1_000);
        log.extend(live.join(user(n), ids.next(), at).unwrap().events);
    }
    let mut before_shuffle = Queue::new(live.config().clone());
    for event in &log {
        before_shuffle.apply(event);
    }
    assert_eq!(before_shuffle, live);
    log.extend(live.shuffle_pre_queue(0xDEAD_BEEF, t(OPENS_AT_MS)));
    log.extend(live.tick(t(OPENS_AT_MS)));
    for n in 20..25 {
        log.extend(
            live.join(user(n), ids.next(), t(OPENS_AT_MS + 10))
                .unwrap()
                .events,
        );
    }
    log.extend(live.tick(t(OPENS_AT_MS + 1_000)));
    let mut rebuilt = Queue::new(live.config().clone());
    for event in &log {
        rebuilt.apply(event);
    }
    assert_eq!(rebuilt, live);
    for index in 0..20 {
        assert_eq!(
            rebuilt.seq_of_pre_queue_index(index),
            live.seq_of_pre_queue_index(index)
        );
    }
    rebuilt.check_invariants().unwrap();
}

#[test]
fn check_invariants_catches_a_broken_pre_queue() {
    let mut queue = Queue::new(pre_queue_config(1, 1));
    let mut ids = Ids(0);
    let tokens = pre_join_all(&mut queue, &mut ids, 0..3, t(OPENS_AT_MS - 1));
    queue.check_invariants().unwrap();
    let mut broken = queue.clone();
    broken.table.modify(tokens[0], |record| record.seq = 0);
    assert!(broken.check_invariants().is_err());
    let mut broken = queue.clone();
    broken.pre_queue.swap(0, 1);
    assert!(broken.check_invariants().is_err());
    let mut broken = queue.clone();
    broken
        .table
        .modify(tokens[2], |record| record.status = TokenStatus::Waiting);
    assert!(broken.check_invariants().is_err());
    let mut shuffled = queue.clone();
    shuffled.shuffle_pre_queue(5, t(OPENS_AT_MS)).unwrap();
    shuffled.check_invariants().unwrap();
    let mut broken = shuffled.clone();
    broken.pre_queue_seqs.swap(0, 1);
    assert!(broken.check_invariants().is_err());
}

/// A tiny deterministic random stream for the simulations (SplitMix64).
struct SimRandom(u64);

impl SimRandom {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `low..high` (slightly biased; fine for a workload).
    fn between(&mut self, low: i64, high: i64) -> i64 {
        low + (self.next() % (high - low) as u64) as i64
    }
}

/// One simulated user: the ETA they saw when they joined and when they were
/// admitted.
struct SimUser {
    token: QueueTokenId,
    joined_at: Timestamp,
    first_eta_seconds: u64,
    admitted_at: Option<Timestamp>,
    /// (when, ETA seen) at each later poll while waiting.
    polls: Vec<(Timestamp, u64)>,
}

/// How the simulated shoppers behave once admitted.
struct Shoppers {
    /// Share (out of 100) who never pay and let the active time run out.
    idle_percent: u64,
    /// Payers pay uniformly within this many ms after admission.
    pay_after_ms: std::ops::Range<i64>,
}

/// Runs the queue as the actor would (ticks at `next_tick_at`, payments
/// through `end_by_payment`, every waiting user polling every 20 s) for users
/// arriving at `arrivals` (sorted), until everyone is admitted.
fn simulate(
    config: QueueConfig,
    arrivals: &[Timestamp],
    shoppers: &Shoppers,
    seed: u64,
) -> Vec<SimUser> {
    simulate_with_stay(config, None, arrivals, shoppers, seed)
}

/// `simulate`, with the owner's expected stay (`Queue::expect_stay_ms`) if given.
fn simulate_with_stay(
    config: QueueConfig,
    expected_stay_ms: Option<i64>,
    arrivals: &[Timestamp],
    shoppers: &Shoppers,
    seed: u64,
) -> Vec<SimUser> {
    const POLL_EVERY_MS: i64 = 20_000;
    let mut queue = Queue::new(config);
    if let Some(stay_ms) = expected_stay_ms {
        queue.expect_stay_ms(stay_ms);
    }
    let mut random = SimRandom(seed);
    let mut ids = Ids(0);
    let mut users: Vec<SimUser> = Vec::new();
    let mut by_token: HashMap<QueueTokenId, usize> = HashMap::new();
    let mut payments: BTreeMap<(Timestamp, u64), QueueTokenId> = BTreeMap::new();
    let mut next_arrival = 0;
    let mut next_poll = arrivals.first().copied().unwrap_or(t(0));
    let mut payment_count = 0u64;
    for _ in 0..10_000_000 {
        let arrival = arrivals.get(next_arrival).copied();
        let payment = payments.keys().next().map(|&(at, _)| at);
        let tick = queue.next_tick_at();
        let Some(now) = [arrival, payment, tick].into_iter().flatten().min() else {
            break;
        };
        while arrivals.get(next_arrival) == Some(&now) {
            let outcome = queue
                .join(user(next_arrival as u32), ids.next(), now)
                .unwrap();
            let view = queue.view(outcome.token, now).unwrap();
            by_token.insert(outcome.token, users.len());
            users.push(SimUser {
                token: outcome.token,
                joined_at: now,
                first_eta_seconds: view.estimated_wait_seconds,
                admitted_at: None,
                polls: Vec::new(),
            });
            next_arrival += 1;
        }
        while let Some(entry) = payments.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let token = entry.remove();
            queue.end_by_payment(token, now);
        }
        if now >= next_poll {
            let waiting: Vec<QueueTokenId> = queue
                .waiting
                .iter()
                .map(|(_, slot)| queue.table.token_at(slot))
                .collect();
            for token in waiting {
                queue.touch(token, now).unwrap();
                let eta = queue.view(token, now).unwrap().estimated_wait_seconds;
                users[by_token[&token]].polls.push((now, eta));
            }
            next_poll = now.plus_millis(POLL_EVERY_MS);
        }
        if queue.next_tick_at().is_some_and(|at| at <= now) {
            for token in admitted(&queue.tick(now)) {
                users[by_token[&token]].admitted_at = Some(now);
                if random.next() % 100 >= shoppers.idle_percent {
                    let pay_at = now.plus_millis(
                        random.between(shoppers.pay_after_ms.start, shoppers.pay_after_ms.end),
                    );
                    payment_count += 1;
                    payments.insert((pay_at, payment_count), token);
                }
            }
        }
        assert!(
            queue.active_len() <= queue.config().max_active as usize,
            "room overfilled"
        );
    }
    assert!(
        users.iter().all(|u| u.admitted_at.is_some()),
        "nobody dropped out"
    );
    assert!(users.iter().all(|u| queue.token(u.token).is_some()));
    users
}

/// Share of users whose actual wait is within ±25% of the ETA they saw at
/// join (with 1 s of slack: ETAs are whole seconds, rounded up).
fn eta_accuracy(users: &[SimUser]) -> f64 {
    let close = users
        .iter()
        .filter(|u| {
            let actual_s = u.admitted_at.unwrap().millis_since(u.joined_at) as f64 / 1_000.0;
            let eta_s = u.first_eta_seconds as f64;
            (actual_s - eta_s).abs() <= (0.25 * eta_s).max(1.0)
        })
        .count();
    close as f64 / users.len() as f64
}

/// Share of later polls (at least 20 s after joining) whose ETA is within
/// ±25% (1 s slack) of the wait that remained.
fn poll_eta_accuracy(users: &[SimUser]) -> f64 {
    let mut close = 0;
    let mut total = 0;
    for u in users {
        for &(at, eta) in &u.polls {
            if at.millis_since(u.joined_at) < 20_000 {
                continue;
            }
            let remaining_s = u.admitted_at.unwrap().millis_since(at) as f64 / 1_000.0;
            let eta_s = eta as f64;
            total += 1;
            if (remaining_s - eta_s).abs() <= (0.25 * eta_s).max(1.0) {
                close += 1;
            }
        }
    }
    close as f64 / total.max(1) as f64
}

/// Prints the ETA error profile by join order, for tuning.
fn eta_report(name: &str, users: &[SimUser]) {
    let step = (users.len() / 10).max(1);
    for u in users.iter().step_by(step) {
        let actual_s = u.admitted_at.unwrap().millis_since(u.joined_at) as f64 / 1_000.0;
        println!(
            "{name}: joined {:>7} ms, eta {:>4} s, actual {actual_s:>7.1} s",
            u.joined_at.millis(),
            u.first_eta_seconds
        );
    }
    println!(
        "{name}: accuracy at join {:.3}, at later polls {:.3}",
        eta_accuracy(users),
        poll_eta_accuracy(users)
    );
}

fn room_limited_config() -> QueueConfig {
    QueueConfig {
        enabled: true,
        batch_size: 100,
        interval_ms: 200,
        max_active: 500,
        active_ms: 60_000,
        pre_queue_ms: 0,
        opens_at: Timestamp::MIN,
    }
}

const SHOPPERS: Shoppers = Shoppers {
    idle_percent: 10,
    pay_after_ms: 5_000..25_000,
};

/// Share of users whose actual wait was not longer than their first ETA
/// allowed for (+25%, +1 s): the estimate was not optimistic.
fn eta_not_optimistic(users: &[SimUser]) -> f64 {
    let fine = users
        .iter()
        .filter(|u| {
            let actual_s = u.admitted_at.unwrap().millis_since(u.joined_at) as f64 / 1_000.0;
            actual_s <= 1.25 * u.first_eta_seconds as f64 + 1.0
        })
        .count();
    fine as f64 / users.len() as f64
}

/// The brief's run: 5,000 join at once, 100 per 200 ms, room for 500, each
/// admitted user paying after 5-25 s or (10%) letting 60 s run out; the line
/// moves at about 500 / 19.5 s = 26 a second, 20 times slower than the batch
/// clock.
///
/// At t = 0 nobody has left yet, so how long shoppers stay is unknown: the
/// first estimate assumes the slowest possible (everyone uses the full active
/// time) and is about 3 times too long for those beyond the first 500. No
/// model fed only this queue's events can do better at that instant, so
/// the first estimate is asserted to be pessimistic, not accurate; from the
/// first exits on, the estimates users see while polling are.
#[test]
fn eta_when_room_limited_after_a_burst() {
    let arrivals = vec![t(0); 5_000];
    let users = simulate(room_limited_config(), &arrivals, &SHOPPERS, 1);
    eta_report("burst", &users);
    // Measured: first ETAs 0.114 (the first 500, admitted by the batch
    // clock, and a few more); ETAs while polling 0.986.
    assert_eta(&users, 0.11, Some(0.99), 0.95);
}

/// The burst again, on a schedule whose holds last 25 s (the shoppers pay
/// within 5-25 s of admission, so within one hold): the owner gives the
/// hold lifetime as the expected stay, and the first estimates, made before
/// anyone left, assume the room empties once per hold (20 a second against
/// the true 26). A hold is an upper bound for payers, so the estimates stay
/// on the long side, except right behind the room: nobody leaves in the
/// first 5 s, a dead time no mean pace shows.
#[test]
fn eta_after_a_burst_with_the_hold_as_the_expected_stay() {
    let arrivals = vec![t(0); 5_000];
    let users = simulate_with_stay(room_limited_config(), Some(25_000), &arrivals, &SHOPPERS, 1);
    eta_report("burst, 25 s holds", &users);
    // Measured: first ETAs 0.957 (0.115 with the whole active time as the
    // stay, `eta_when_room_limited_after_a_burst`), 0.964 not too short;
    // ETAs while polling 0.993.
    assert_eta(&users, 0.95, Some(0.96), 0.99);
}

/// The same room, with the 5,000 arriving over 100 s (50 a second, twice
/// what the room lets through): the line grows to about 2,400 and each
/// user's first estimate is already measured.
#[test]
fn eta_when_room_limited_with_steady_arrivals() {
    let arrivals: Vec<Timestamp> = (0..5_000).map(|n| t(n * 20)).collect();
    let users = simulate(room_limited_config(), &arrivals, &SHOPPERS, 2);
    eta_report("steady", &users);
    // Measured: first ETAs 0.833 (the misses joined in the first 30 s, while
    // the first exits were still ramping up: estimates too long, never too
    // short); ETAs while polling 0.992.
    assert_eta(&users, 0.80, Some(0.99), 0.95);
}

/// Room never fills (10 a second, shoppers stay about 20 s: about 200 of
/// 500 active): the batch clock alone sets the pace.
#[test]
fn eta_when_batch_limited() {
    let config = QueueConfig {
        batch_size: 10,
        interval_ms: 1_000,
        ..room_limited_config()
    };
    let arrivals: Vec<Timestamp> = (0..1_000).map(|n| t(n * 50)).collect();
    let users = simulate(config, &arrivals, &SHOPPERS, 3);
    eta_report("batch", &users);
    assert_eta(&users, 0.99, None, 0.99);
}

/// The stadium's shape, scaled down (2026-12-07, session 17): 3,000 arrive
/// over 30 s into a room for 100 (100 per 200 ms, 5-s holds as the expected
/// stay); nine in ten pay 0.2-2 s after admission, one in ten keeps its
/// place until the 60-s active time ends. The room fills with those who
/// stay within seconds; then nobody is admitted until their time runs out,
/// and then about ten admissions go through per place freed. Only a
/// forecast of who stays and when their time ends can tell the users who
/// joined meanwhile (see `forecast`).
#[test]
fn eta_when_those_who_stay_fill_the_room() {
    let config = QueueConfig {
        batch_size: 100,
        max_active: 100,
        ..room_limited_config()
    };
    let arrivals: Vec<Timestamp> = (0..3_000).map(|n| t(n * 10)).collect();
    let shoppers = Shoppers {
        idle_percent: 10,
        pay_after_ms: 200..2_000,
    };
    let users = simulate_with_stay(config, Some(5_000), &arrivals, &shoppers, 4);
    eta_report("stayers", &users);
    // Measured: first ETAs 0.982, ETAs while polling 0.973 (0.175 and 0.456
    // with the measured exit rate alone, before the forecast).
    assert_eta(&users, 0.95, None, 0.95);
}

/// Asserts the shares of users whose first ETA, and whose ETAs while
/// polling, were within ±25%, and (when given) whose first ETA was not too short.
fn assert_eta(users: &[SimUser], first: f64, not_optimistic: Option<f64>, polling: f64) {
    let measured = (
        eta_accuracy(users),
        eta_not_optimistic(users),
        poll_eta_accuracy(users),
    );
    assert!(measured.0 >= first, "first ETAs: {measured:?}");
    if let Some(least) = not_optimistic {
        assert!(
            measured.1 >= least,
            "first ETAs not too short: {measured:?}"
        );
    }
    assert!(measured.2 >= polling, "ETAs while polling: {measured:?}");
}

/// The shape `Queue` was stored in before its compact form (a derive over
/// these fields, the poll times skipped): snapshots written then must load,
/// and snapshots written now must load in a build from then.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct PreviousQueue {
    config: QueueConfig,
    tokens: HashMap<QueueTokenId, QueueToken>,
    latest_by_user: HashMap<UserId, QueueTokenId>,
    waiting: BTreeMap<u64, QueueTokenId>,
    active: BTreeMap<(Timestamp, u64), QueueTokenId>,
    next_seq: u64,
    next_admission_at: Timestamp,
    last_admitted_seq: Option<u64>,
    exit_rate: ExitRate,
    pre_queue: Vec<QueueTokenId>,
    pre_queue_seqs: Vec<u64>,
    shuffled: bool,
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    bincode::serde::encode_to_vec(value, bincode::config::standard()).unwrap()
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    bincode::serde::decode_from_slice::<T, _>(bytes, bincode::config::standard())
        .map(|(value, _)| value)
        .map_err(|e| e.to_string())
}

/// A queue with every kind of token: shuffled pre-queue arrivals, waiting,
/// active, ended by payment, expired, dropped out, and a user who came back.
fn queue_of_every_kind() -> Queue {
    let mut queue = Queue::new(pre_queue_config(2, 3));
    let mut ids = Ids(0);
    pre_join_all(&mut queue, &mut ids, 0..4, t(OPENS_AT_MS - 1_000));
    queue.shuffle_pre_queue(77, t(OPENS_AT_MS)).unwrap();
    join_all(&mut queue, &mut ids, 4..12, t(OPENS_AT_MS + 10));
    let first = admitted(&queue.tick(t(OPENS_AT_MS + 20)));
    queue.end_by_payment(first[0], t(OPENS_AT_MS + 30)).unwrap();
    queue.end_by_payment(first[1], t(OPENS_AT_MS + 30)).unwrap();
    // A payer comes back: a new token replaces the ended one in its slot.
    let payer = queue.token(first[0]).unwrap().user;
    let again = queue.join(payer, ids.next(), t(OPENS_AT_MS + 40)).unwrap();
    assert!(again.created);
    assert_eq!(queue.token(first[0]), None, "the ended token is forgotten");
    queue.tick(t(OPENS_AT_MS + 2_000));
    // Everyone but user 11 polls; they drop out.
    let later = t(OPENS_AT_MS + 2_000 + WAITING_DROP_MS);
    for n in 0..11 {
        if let Some(token) = queue.token_of_user(user(n)) {
            let _ = queue.touch(token.token, later);
        }
    }
    queue.tick(later);
    queue.check_invariants().unwrap();
    queue
}

#[test]
fn the_stored_shape_is_the_one_before_the_compact_form() {
    let queue = queue_of_every_kind();
    let mut statuses: Vec<_> = queue.tokens().map(|t| format!("{:?}", t.status)).collect();
    statuses.sort();
    statuses.dedup();
    assert_eq!(statuses, ["Active", "Ended", "Expired", "Waiting"]);
    // Written now, read as before: the same tokens, line and counters.
    let before: PreviousQueue = decode(&encode(&queue)).unwrap();
    assert_eq!(before.tokens.len(), queue.tokens().count());
    for token in queue.tokens() {
        assert_eq!(before.tokens.get(&token.token), Some(&token));
        assert_eq!(before.latest_by_user.get(&token.user), Some(&token.token));
    }
    let line: BTreeMap<u64, QueueTokenId> = queue
        .waiting
        .iter()
        .map(|(seq, slot)| (seq, queue.table.token_at(slot)))
        .collect();
    assert_eq!(before.waiting, line);
    assert_eq!(
        (before.next_seq, before.last_admitted_seq, before.shuffled),
        (queue.next_seq, queue.last_admitted_seq, queue.shuffled)
    );
    // Written before, read now: equal to the queue, and it keeps working
    // once its poll times are reset, as after a restart.
    let mut back: Queue = decode(&encode(&before)).unwrap();
    assert_eq!(back, queue);
    back.after_recovery(t(OPENS_AT_MS + 500_000));
    back.check_invariants().unwrap();
    let mut live = queue.clone();
    live.after_recovery(t(OPENS_AT_MS + 500_000));
    let now = t(OPENS_AT_MS + 600_000);
    assert_eq!(back.tick(now), live.tick(now));
    assert_eq!(back, live);
}

#[test]
fn a_stored_queue_that_contradicts_itself_is_refused() {
    let queue = queue_of_every_kind();
    let mut before: PreviousQueue = decode(&encode(&queue)).unwrap();
    let (&seq, _) = before.waiting.iter().next().unwrap();
    before
        .waiting
        .insert(seq, QueueTokenId::from_random_bytes([9; 16]));
    assert!(
        decode::<Queue>(&encode(&before)).is_err(),
        "unknown waiting token"
    );
    let mut before: PreviousQueue = decode(&encode(&queue)).unwrap();
    let some_user = *before.latest_by_user.keys().next().unwrap();
    before.latest_by_user.remove(&some_user);
    assert!(
        decode::<Queue>(&encode(&before)).is_err(),
        "a token no user's latest"
    );
}

/// Polls are paced by a quarter of the longer of the forecast's wait and
/// the steady estimate's, so a forecast that tells a short wait (as in a
/// burst without `maxActive`) does not make the line poll at a quarter of
/// it; a longer one (a room held by people who stay) does slow them. But
/// nobody sleeps more than `FORECAST_GRACE_MS` past the forecast's moment.
#[test]
fn polls_are_paced_by_the_longer_estimate_and_wake_by_the_forecast() {
    let steady = EtaModel {
        room: 0,
        batch_per_sec: 100.0,
        room_limited_per_sec: 100.0,
        forecast: None,
    };
    let now = Timestamp(1_000_000);
    let (position, crowd) = (3_000, 100_000);
    let poll_after = |model: &EtaModel| {
        poll_after_ms(
            TokenStatus::Waiting,
            model.pacing_waits_at(position, now),
            crowd,
            0,
        )
    };
    assert_eq!(steady.seconds(position), 30);
    assert_eq!(
        steady.pacing_waits_at(position, now),
        PacingWaits {
            longer_ms: 30_000,
            forecast_ms: None
        }
    );
    assert_eq!(poll_after(&steady), 7_500, "a quarter of 30 s");
    let curve = |admitted: f32, after_per_sec: f64| forecast::Curve {
        as_of: now,
        admitted: [admitted; forecast::CURVE_POINTS],
        after_per_sec,
    };
    let sooner = EtaModel {
        forecast: Some(curve(1e9, 1e9)),
        ..steady
    };
    assert_eq!(sooner.seconds_at(position, now), 0, "the forecast: at once");
    assert_eq!(
        sooner.pacing_waits_at(position, now),
        PacingWaits {
            longer_ms: 30_000,
            forecast_ms: Some(0)
        }
    );
    assert_eq!(
        poll_after(&sooner),
        pacing::FORECAST_GRACE_MS,
        "awake when the forecast expects admission, not at a quarter of 30 s"
    );
    let later = EtaModel {
        forecast: Some(curve(0.0, 10.0)),
        ..steady
    };
    let told = later.seconds_at(position, now);
    assert!(told > 30, "the forecast: later ({told} s)");
    let waits = later.pacing_waits_at(position, now);
    assert_eq!(waits.longer_ms, waits.forecast_ms.unwrap_or(0));
    assert_eq!(
        (waits.longer_ms + 500) / 1_000,
        told,
        "the same wait, unrounded"
    );
    assert!(waits.longer_ms / 4 > 20_000);
    assert_eq!(
        poll_after(&later),
        20_000,
        "the crowd's share of the budget, shorter than a quarter of the forecast's wait"
    );
}

/// Waits are told to the nearest second, from the unrounded steady rates.
#[test]
fn a_wait_is_told_to_the_nearest_second() {
    for (seconds, told) in [
        (0.0, 0),
        (0.49, 0),
        (0.5, 1),
        (1.49, 1),
        (1.5, 2),
        (59.6, 60),
        (f64::INFINITY, u64::MAX),
        (f64::NAN, 0),
    ] {
        assert_eq!(told_seconds(seconds), told, "{seconds}");
    }
    let steady = EtaModel {
        room: 100,
        batch_per_sec: 100.0,
        room_limited_per_sec: 10.0,
        forecast: None,
    };
    assert_eq!(steady.seconds(40), 0, "0.4 s");
    assert_eq!(steady.seconds(90), 1, "0.9 s");
    assert_eq!(steady.seconds(105), 2, "1 s by the clock, 0.5 s by exits");
    assert_eq!(
        steady.pacing_waits_at(105, Timestamp(0)).longer_ms,
        1_500,
        "unrounded for the pace"
    );
}
