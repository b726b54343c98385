//! Property tests of `Queue` over random joins, polls, ticks, payments,
//! pre-queue shuffles and restarts across many users, with time advancing by
//! random steps (across the pre-queue window and opening when there is one).
//!
//! After every step: the invariants hold; admissions are FIFO (tokens are
//! admitted in line order: the pre-queue in the order its seed gives, then
//! later joins by arrival); drop-outs happen exactly to tokens silent for
//! `WAITING_DROP_MS` (pre-queue tokens count from the shuffle); nobody joins
//! or is admitted while the shuffle is due; and the queue rebuilt from its
//! events equals the live one (poll times aside, transient by design).

use boxoffice_engine::queue::{
    shuffle, Queue, QueueConfig, QueueError, QueueEvent, QueueToken, TokenStatus,
    POLL_AFTER_MS_RANGE, WAITING_DROP_MS,
};
use boxoffice_engine::{QueueTokenId, Timestamp, UserId};
use proptest::prelude::*;
use std::collections::HashMap;

const USERS: u32 = 40;
/// Where every run's clock starts.
const START_MS: i64 = 1_000_000;

#[derive(Clone, Debug)]
enum Op {
    Join(u32),
    Touch(u32),
    Tick,
    Advance(i64),
    EndByPayment(u32),
    /// The actor's shuffle at opening, with a seed from its random source.
    Shuffle(u64),
    /// Rebuild from the log, as a restart would, and carry on with the copy.
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..USERS).prop_map(Op::Join),
        4 => (0..USERS).prop_map(Op::Touch),
        4 => Just(Op::Tick),
        4 => prop_oneof![0i64..2_000, 0i64..150_000].prop_map(Op::Advance),
        2 => (0..USERS).prop_map(Op::EndByPayment),
        2 => any::<u64>().prop_map(Op::Shuffle),
        1 => Just(Op::Restart),
    ]
}

fn config() -> impl Strategy<Value = QueueConfig> {
    (
        (
            prop::bool::weighted(0.85),
            1u32..6,
            100i64..5_000,
            1u32..8,
            10_000i64..200_000,
        ),
        // Half the runs have a pre-queue, opening within the first minutes
        // (its window may have opened before the run starts).
        prop_oneof![Just(0i64), 1i64..400_000],
        0i64..300_000,
    )
        .prop_map(
            |(
                (enabled, batch_size, interval_ms, max_active, active_ms),
                pre_queue_ms,
                opens_in_ms,
            )| {
                QueueConfig {
                    enabled,
                    batch_size,
                    interval_ms,
                    max_active,
                    active_ms,
                    pre_queue_ms,
                    opens_at: Timestamp(START_MS + opens_in_ms),
                }
            },
        )
}

fn user(n: u32) -> UserId {
    let mut bytes = [0u8; 16];
    bytes[..4].copy_from_slice(&n.to_le_bytes());
    UserId::from_random_bytes(bytes)
}

fn rebuild(config: &QueueConfig, log: &[QueueEvent]) -> Queue {
    let mut queue = Queue::new(config.clone());
    for event in log {
        queue.apply(event);
    }
    queue
}

/// What the test knows independently of the queue.
#[derive(Default)]
struct Model {
    /// Join order of every token ever created.
    join_index: HashMap<QueueTokenId, usize>,
    /// Last poll (or join) of each token, as the test performed them.
    last_poll: HashMap<QueueTokenId, Timestamp>,
    /// The join index of the latest admitted token.
    last_admitted: Option<usize>,
    /// Pre-queue arrivals in arrival order, until the shuffle.
    pre_queue: Vec<QueueTokenId>,
}

impl Model {
    fn observe(&mut self, events: &[QueueEvent], now: Timestamp) -> Result<(), TestCaseError> {
        for event in events {
            match event {
                QueueEvent::Joined { token, .. } => {
                    let index = self.join_index.len();
                    self.join_index.insert(*token, index);
                    self.last_poll.insert(*token, now);
                }
                QueueEvent::Admitted { tokens, .. } => {
                    for token in tokens {
                        let index = self.join_index[token];
                        prop_assert!(
                            self.last_admitted.is_none_or(|last| last < index),
                            "token joined {index}th admitted after token joined {:?}th",
                            self.last_admitted
                        );
                        self.last_admitted = Some(index);
                    }
                }
                QueueEvent::DroppedOut { tokens, at } => {
                    for token in tokens {
                        let silent_for = at.millis_since(self.last_poll[token]);
                        prop_assert!(
                            silent_for >= WAITING_DROP_MS,
                            "dropped after {silent_for} ms"
                        );
                    }
                }
                QueueEvent::PreQueueJoined { token, .. } => {
                    self.pre_queue.push(*token);
                    self.last_poll.insert(*token, now);
                }
                QueueEvent::PreQueueShuffled { seed, at } => {
                    // Line order is the seeded order, computed here from
                    // the arrivals the test saw; polled at the shuffle.
                    let arrivals = std::mem::take(&mut self.pre_queue);
                    for arrival in shuffle::permutation(*seed, arrivals.len()) {
                        let index = self.join_index.len();
                        self.join_index.insert(arrivals[arrival], index);
                        self.last_poll.insert(arrivals[arrival], *at);
                    }
                }
                QueueEvent::ActiveExpired { .. } | QueueEvent::Ended { .. } => {}
            }
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(384))]

    #[test]
    fn queue_sequences_keep_invariants_fifo_and_replay_equal(
        config in config(),
        ops in prop::collection::vec(op(), 1..250),
    ) {
        let mut queue = Queue::new(config.clone());
        let mut log: Vec<QueueEvent> = Vec::new();
        let mut model = Model::default();
        let mut now = Timestamp(START_MS);
        let pre_queue_on = config.enabled && config.pre_queue_ms > 0;
        let window_opens_at = config.opens_at.plus_millis(-config.pre_queue_ms);
        let mut next_token = 0u64;

        for op in ops {
            let before = queue.clone();
            let events: Vec<QueueEvent> = match op {
                Op::Join(n) => {
                    next_token += 1;
                    let mut bytes = [0x5A; 16];
                    bytes[..8].copy_from_slice(&next_token.to_le_bytes());
                    let fresh = QueueTokenId::from_random_bytes(bytes);
                    let held = before.token_of_user(user(n)).filter(|t| t.status.is_live()).map(|t| t.token);
                    let pending = pre_queue_on && !before.shuffled();
                    let outcome = match queue.join(user(n), fresh, now) {
                        Ok(outcome) => outcome,
                        Err(QueueError::ShuffleDue) => {
                            prop_assert!(pending && now >= config.opens_at);
                            prop_assert_eq!(&queue, &before, "a refused join changes nothing");
                            continue;
                        }
                        Err(QueueError::NotOpen { opens_at }) => {
                            prop_assert!(pending && now < window_opens_at);
                            prop_assert_eq!(opens_at, window_opens_at);
                            prop_assert_eq!(&queue, &before, "a refused join changes nothing");
                            continue;
                        }
                        Err(other) => return Err(TestCaseError::fail(format!("join failed: {other}"))),
                    };
                    prop_assert!(!pending || (window_opens_at..config.opens_at).contains(&now));
                    match held {
                        Some(token) => {
                            prop_assert_eq!(outcome.token, token);
                            prop_assert!(!outcome.created && outcome.events.is_empty());
                            model.last_poll.insert(token, now);
                        }
                        None => {
                            prop_assert_eq!(outcome.token, fresh);
                            prop_assert!(outcome.created);
                            if pending {
                                let view = queue.view(fresh, now).expect("just joined");
                                prop_assert_eq!((view.status, view.position), (TokenStatus::PreQueue, 0));
                                prop_assert_eq!(queue.token(fresh).and_then(|t| t.pre_queue_index), Some(queue.pre_queue_len() as u64 - 1));
                            } else if config.enabled {
                                let view = queue.view(fresh, now).expect("just joined");
                                prop_assert_eq!(view.position, queue.waiting_len() as u64, "joins at the back");
                            } else {
                                prop_assert_eq!(queue.token(fresh).map(|t| t.status), Some(TokenStatus::Active));
                            }
                        }
                    }
                    outcome.events
                }
                Op::Touch(n) => {
                    if let Some(token) = queue.token_of_user(user(n)).map(|t| t.token) {
                        queue.touch(token, now).expect("the user's latest token is known");
                        model.last_poll.insert(token, now);
                    }
                    prop_assert_eq!(&queue, &before, "a poll is not a durable change");
                    Vec::new()
                }
                Op::Tick if queue.shuffle_due(now) => {
                    // The actor skipped the shuffle: the tick admits nobody
                    // and the timer still points at opening.
                    let events = queue.tick(now);
                    let admits = events.iter().any(|e| matches!(e, QueueEvent::Admitted { .. }));
                    prop_assert!(!admits, "admitted while the shuffle was due");
                    prop_assert_eq!(queue.next_tick_at(), Some(config.opens_at));
                    events
                }
                Op::Tick => {
                    let events = queue.tick(now);
                    // Nothing waiting has been silent too long any more.
                    for token in latest_tokens(&queue) {
                        if token.status == TokenStatus::Waiting {
                            let silent_for = now.millis_since(model.last_poll[&token.token]);
                            prop_assert!(silent_for < WAITING_DROP_MS, "silent {silent_for} ms and still waiting");
                        }
                    }
                    // Whatever was due is done: the next work lies in the future.
                    prop_assert!(
                        queue.next_tick_at().is_none_or(|at| at > now),
                        "next_tick_at {:?} is due right after a tick at {:?}",
                        queue.next_tick_at(),
                        now
                    );
                    events
                }
                Op::Advance(ms) => {
                    now = now.plus_millis(ms);
                    Vec::new()
                }
                Op::EndByPayment(n) => {
                    let token = queue.token_of_user(user(n)).map(|t| (t.token, t.status));
                    let event = token.and_then(|(token, _)| queue.end_by_payment(token, now));
                    prop_assert_eq!(event.is_some(), token.is_some_and(|(_, status)| status == TokenStatus::Active));
                    event.into_iter().collect()
                }
                Op::Shuffle(seed) => {
                    let due = queue.shuffle_due(now);
                    prop_assert_eq!(due, pre_queue_on && !before.shuffled() && now >= config.opens_at);
                    let arrivals = queue.pre_queue_len();
                    let event = queue.shuffle_pre_queue(seed, now);
                    prop_assert_eq!(event.is_some(), due);
                    if due {
                        prop_assert!(queue.shuffled() && queue.pre_queue_len() == 0);
                        prop_assert_eq!(queue.waiting_len(), arrivals, "the whole pre-queue is in line");
                    }
                    event.into_iter().collect()
                }
                Op::Restart => {
                    let mut restarted = rebuild(&config, &log);
                    restarted.after_recovery(now);
                    for token in latest_tokens(&queue) {
                        if token.status == TokenStatus::Waiting {
                            model.last_poll.insert(token.token, now);
                        }
                    }
                    queue = restarted;
                    Vec::new()
                }
            };
            model.observe(&events, now)?;
            log.extend(events);
            // The line is in the order the test expects: seeded pre-queue
            // order, then arrival order.
            let mut line: Vec<QueueToken> = latest_tokens(&queue)
                .into_iter()
                .filter(|t| t.status == TokenStatus::Waiting)
                .collect();
            line.sort_by_key(|t| t.seq);
            prop_assert!(
                line.windows(2).all(|pair| model.join_index[&pair[0].token] < model.join_index[&pair[1].token]),
                "the line is not in the expected order"
            );
            for token in latest_tokens(&queue) {
                let view = queue.view(token.token, now).expect("latest tokens are known");
                prop_assert!(POLL_AFTER_MS_RANGE.contains(&view.poll_after_ms));
            }
            if pre_queue_on && !queue.shuffled() {
                prop_assert!(queue.waiting_len() == 0 && queue.active_len() == 0, "nobody in line before the shuffle");
            }
            if let Err(problem) = queue.check_invariants() {
                return Err(TestCaseError::fail(problem));
            }
            if config.enabled {
                prop_assert!(queue.active_len() <= config.max_active as usize);
            }
            prop_assert_eq!(&rebuild(&config, &log), &queue, "replaying the log rebuilds the queue");
        }
    }
}

/// Every user's latest token.
fn latest_tokens(queue: &Queue) -> Vec<QueueToken> {
    (0..USERS)
        .filter_map(|n| queue.token_of_user(user(n)))
        .collect()
}
