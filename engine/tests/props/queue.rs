//! Property tests of `Queue` over random joins, polls, ticks, payments and
//! restarts across many users, with time advancing by random steps.
//!
//! After every step: the invariants hold; admissions are FIFO (tokens are
//! admitted in join order); drop-outs happen exactly to tokens silent for
//! `WAITING_DROP_MS`; and the queue rebuilt from its events equals the live one
//! (poll times aside, which are transient by design).

use boxoffice_engine::queue::{
    Queue, QueueConfig, QueueEvent, QueueToken, TokenStatus, WAITING_DROP_MS,
};
use boxoffice_engine::{QueueTokenId, Timestamp, UserId};
use proptest::prelude::*;
use std::collections::HashMap;

const USERS: u32 = 40;

#[derive(Clone, Debug)]
enum Op {
    Join(u32),
    Touch(u32),
    Tick,
    Advance(i64),
    EndByPayment(u32),
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
        1 => Just(Op::Restart),
    ]
}

fn config() -> impl Strategy<Value = QueueConfig> {
    (
        prop::bool::weighted(0.85),
        1u32..6,
        100i64..5_000,
        1u32..8,
        10_000i64..200_000,
    )
        .prop_map(
            |(enabled, batch_size, interval_ms, max_active, active_ms)| QueueConfig {
                enabled,
                batch_size,
                interval_ms,
                max_active,
                active_ms,
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
        let mut now = Timestamp(1_000_000);
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
                    let outcome = queue.join(user(n), fresh, now).expect("40 users never fill the queue");
                    match held {
                        Some(token) => {
                            prop_assert_eq!(outcome.token, token);
                            prop_assert!(!outcome.created && outcome.events.is_empty());
                            model.last_poll.insert(token, now);
                        }
                        None => {
                            prop_assert_eq!(outcome.token, fresh);
                            prop_assert!(outcome.created);
                            if config.enabled {
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
        .filter_map(|n| queue.token_of_user(user(n)).cloned())
        .collect()
}
