//! The virtual waiting room of ONE gated schedule.
//!
//! Users join at the back and poll their token; a periodic `tick` drops
//! waiting tokens that stopped polling, expires active tokens whose lifetime is
//! over, and admits the front of the line in batches, never more than
//! `max_active` at once. The queue actor owns one `Queue` per gated schedule
//! and tells the schedule actor whom it admitted (and until when); the
//! schedule actor tells it when a payment ends a token, freeing room.
//!
//! Commands return [`QueueEvent`]s and [`Queue::apply`] is the only code that
//! changes durable state. Poll times are the exception: they are transient
//! (see [`liveness`]), never logged, and reset by [`Queue::after_recovery`].
//!
//! Pre-queue: with `pre_queue_ms > 0`, the room opens that long before
//! `opens_at` (the schedule's `bookingOpensAt`). Joins in that window are
//! `PreQueue` tokens, kept in arrival order outside the line; arrival time
//! within the window is worth nothing. At `opens_at` the actor draws a seed
//! and calls [`Queue::shuffle_pre_queue`]: the logged `PreQueueShuffled`
//! event places them all in the line in the order [`shuffle::permutation`]
//! gives for that seed, ahead of everyone who joins later (FIFO as usual).
//! Replay recomputes the same order from the logged seed.
//!
//! Estimated waits: the first `max_active - active` positions move at the
//! batch clock's pace, the rest at the pace people leave the active set
//! (measured in `exit_rate`, never assumed slower than `max_active` per
//! active time). Before the first exits are measured, that pace is
//! `max_active` per expected stay: the schedule's hold lifetime when the
//! owner gave it ([`Queue::expect_stay_ms`]), else the whole active time.
//! Once the share of admitted users who pay is measured, the room's
//! [`forecast`] replaces both: who stays until their active time ends, and
//! when that is, is known, and the line moves in steps no single rate shows.
//! Every view also says when to poll next ([`pacing`]).
//!
//! Memory: at most `MAX_WAITING` waiting tokens, plus one finished token per
//! user who ever joined (a user's previous token is forgotten when they join
//! again; polling a forgotten token answers `UnknownToken`), plus one join
//! number per pre-queue arrival (`seq_of_pre_queue_index`). Kept compactly
//! (`token_table`: a record per user, lookups by slot number; the line and
//! the poll times by join number): about 150 bytes per waiting user where
//! maps of whole tokens took about 390 (`cargo bench --bench queue_memory`).
//! Stored in the shape it always had (`wire`).

mod config;
mod exit_rate;
pub mod forecast;
mod liveness;
pub mod pacing;
pub mod shuffle;
#[cfg(test)]
mod tests;
mod token_table;
mod waiting_line;
mod wire;

pub use config::{
    QueueConfig, ACTIVE_MS_RANGE, BATCH_SIZE_RANGE, INTERVAL_MS_RANGE, MAX_ACTIVE_RANGE,
    PRE_QUEUE_MS_RANGE,
};
pub use exit_rate::{EXIT_BUCKETS, EXIT_BUCKET_MS, RATE_WINDOW_MS};
pub use pacing::{poll_after_ms, PacingWaits, POLL_AFTER_MS_RANGE, POLL_BUDGET_PER_SEC};
pub use waiting_line::MAX_SEQ_SPAN;

use crate::{QueueTokenId, Timestamp, UserId};
use exit_rate::ExitRate;
use forecast::{Cohorts, Curve, Memo};
use liveness::Liveness;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use token_table::TokenTable;
use waiting_line::WaitingLine;

/// A WAITING token not polled for 2 minutes drops out.
pub const WAITING_DROP_MS: i64 = 120_000;
/// Explicit bound on the waiting line; a join beyond it is refused as `Full`.
pub const MAX_WAITING: usize = 2_000_000;
/// The shortest expected stay [`Queue::expect_stay_ms`] takes: nobody holds
/// and pays faster than this, so a shorter one would only promise too much.
pub const MIN_EXPECTED_STAY_MS: i64 = 1_000;
/// Most tokens one `DroppedOut` or `ActiveExpired` event carries, so one tick's
/// work and one log record stay bounded; the rest waits for the next tick
/// (`next_tick_at` then answers a time already past).
pub const MAX_TOKENS_PER_EVENT: usize = 10_000;
/// The `seq` of a `PreQueue` token: it has no join number until the shuffle
/// gives it one. Never a real join number (2^64 joins cannot happen).
pub const PRE_QUEUE_SEQ: u64 = u64::MAX;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TokenStatus {
    Waiting,
    Active,
    /// Ended by a payment.
    Ended,
    /// Active lifetime over, or dropped out of the waiting line.
    Expired,
    /// Joined before opening; placed in the line by the shuffle at opening.
    /// Last: statuses are stored by position.
    PreQueue,
}

impl TokenStatus {
    /// PreQueue, Waiting or Active: the token still holds a place.
    pub fn is_live(self) -> bool {
        matches!(
            self,
            TokenStatus::PreQueue | TokenStatus::Waiting | TokenStatus::Active
        )
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueToken {
    pub token: QueueTokenId,
    pub user: UserId,
    pub status: TokenStatus,
    /// Place in the line: smaller is served earlier. Joins are numbered in
    /// arrival order, pre-queue arrivals in shuffled order at the shuffle.
    /// `PRE_QUEUE_SEQ` while the token is `PreQueue`.
    pub seq: u64,
    pub joined_at: Timestamp,
    pub admitted_at: Option<Timestamp>,
    pub active_until: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
    /// `Some(i)` for the i-th pre-queue arrival (0-based), kept after the
    /// shuffle; `None` for a token that joined the line directly.
    pub pre_queue_index: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum QueueEvent {
    Joined {
        token: QueueTokenId,
        user: UserId,
        at: Timestamp,
    },
    Admitted {
        tokens: Vec<QueueTokenId>,
        at: Timestamp,
        until: Timestamp,
    },
    DroppedOut {
        tokens: Vec<QueueTokenId>,
        at: Timestamp,
    },
    ActiveExpired {
        tokens: Vec<QueueTokenId>,
        at: Timestamp,
    },
    Ended {
        token: QueueTokenId,
        at: Timestamp,
    },
    /// A join before opening, into the pre-queue (appended: events are
    /// stored by position).
    PreQueueJoined {
        token: QueueTokenId,
        user: UserId,
        at: Timestamp,
    },
    /// The pre-queue placed in the line, in the order
    /// `shuffle::permutation(seed, pre-queue length)` gives.
    PreQueueShuffled {
        seed: u64,
        at: Timestamp,
    },
}

/// What a user sees when they poll their token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenView {
    pub token: QueueTokenId,
    pub user: UserId,
    pub status: TokenStatus,
    /// 1 = next in line; 0 when not waiting (the API renders null for a
    /// PreQueue token).
    pub position: u64,
    /// 0 when not waiting.
    pub estimated_wait_seconds: u64,
    /// Waiting: last poll + `WAITING_DROP_MS`; pre-queue: `opens_at` +
    /// `WAITING_DROP_MS` (the grace the shuffle gives); active:
    /// `active_until`; ended or expired: when it ended.
    pub expires_at: Timestamp,
    /// When the client should poll again; see [`pacing::poll_after_ms`].
    pub poll_after_ms: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinOutcome {
    pub token: QueueTokenId,
    /// False when the user already held a pre-queue, waiting or active token.
    pub created: bool,
    pub events: Vec<QueueEvent>,
}

/// The waiting-time estimate: the first `room` positions move at the batch
/// clock's pace, the rest at the room-limited pace (one admission per exit
/// from the active set). So the first full batches do not make the estimate
/// optimistic: beyond the free room, only people leaving let the line move.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EtaModel {
    pub room: u64,
    pub batch_per_sec: f64,
    pub room_limited_per_sec: f64,
    /// The room's forecast ([`forecast`]), once the share of payers is
    /// measured: then it alone gives the estimate.
    pub forecast: Option<Curve>,
}

impl EtaModel {
    /// The wait told to `position` at `now` and the waits that pace its
    /// polls, together: a view needs both, and each walks the forecast's
    /// curve ([`EtaModel::seconds_at`], [`EtaModel::pacing_waits_at`]).
    pub fn wait_at(&self, position: u64, now: Timestamp) -> (u64, PacingWaits) {
        let steady_seconds = self.steady_seconds(position);
        let forecast_seconds = self
            .forecast
            .as_ref()
            .map(|curve| curve.seconds_at(position, now));
        // `as` saturates for floats.
        let ms = |seconds: f64| (seconds * 1_000.0) as u64;
        let forecast_ms = forecast_seconds.map(ms);
        let pacing = PacingWaits {
            longer_ms: ms(steady_seconds).max(forecast_ms.unwrap_or(0)),
            forecast_ms,
        };
        (
            told_seconds(forecast_seconds.unwrap_or(steady_seconds)),
            pacing,
        )
    }

    /// Seconds from `now` until `position` (1 = next) is admitted, as told
    /// ([`told_seconds`]): by the forecast when there is one, else as
    /// [`EtaModel::seconds`].
    pub fn seconds_at(&self, position: u64, now: Timestamp) -> u64 {
        self.wait_at(position, now).0
    }

    /// The waits that pace `position`'s polls ([`pacing`]): the longer of
    /// the forecast's and the steady estimate's, so the forecast never makes
    /// the line poll more often than before it (it lengthens waits when
    /// `maxActive` holds the line, where it cut polls by a third, but in a
    /// burst without that limit it told the line waits about five times too
    /// short for a few seconds, and the line polled 45-129% more; issue 13,
    /// session 17, raw `2026-12-07/eta13b-session17.txt`); and the
    /// forecast's own, so nobody sleeps long past the moment it expects to
    /// admit them (session 19).
    pub fn pacing_waits_at(&self, position: u64, now: Timestamp) -> PacingWaits {
        self.wait_at(position, now).1
    }

    /// Seconds until `position` (1 = next) is admitted at the steady rates,
    /// as told ([`told_seconds`]).
    pub fn seconds(&self, position: u64) -> u64 {
        told_seconds(self.steady_seconds(position))
    }

    /// Seconds until `position` is admitted at the steady rates: the batch
    /// clock's while the room has space for it, then the room's exits.
    fn steady_seconds(&self, position: u64) -> f64 {
        let rate = |r: f64| {
            if r.is_finite() && r > 0.0 {
                r
            } else {
                f64::MIN_POSITIVE
            }
        };
        let by_batch = position.min(self.room);
        let by_exit = position - by_batch;
        by_batch as f64 / rate(self.batch_per_sec)
            + by_exit as f64 / rate(self.room_limited_per_sec)
    }
}

/// A wait of `seconds` as `estimatedWaitSeconds` tells it: to the nearest
/// second. Rounding up told the first batches "1 s" for a wait of 0.1 s, an
/// error of 90%. Telling 0 for every wait under a second was tried
/// (2026-12-08, session 19): in the stadium run with `maxActive` 1,000 it
/// moved ~1% of the admitted users within ±25%, but in the default run,
/// where every first estimate comes before any exit and each actual wait
/// includes its join's 0.4 s, it moved 7% out.
fn told_seconds(seconds: f64) -> u64 {
    // `as` saturates for floats, so even a zero rate gives a number.
    seconds.round() as u64
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    #[error("unknown queue token")]
    UnknownToken,
    #[error("the waiting room is full")]
    Full,
    /// Before the pre-queue window: the room opens at `opens_at`.
    #[error("the waiting room is not open yet")]
    NotOpen { opens_at: Timestamp },
    /// The pre-queue must be shuffled (`Queue::shuffle_pre_queue`) before
    /// anyone else joins: the caller skipped it.
    #[error("the pre-queue must be shuffled first")]
    ShuffleDue,
}

/// Stored (`wire`) in the shape it always had; kept compactly in memory.
#[derive(Clone, Debug)]
pub struct Queue {
    config: QueueConfig,
    /// Each user's latest token (and only that one), by id and by user.
    table: TokenTable,
    /// Waiting tokens' table slots by join number.
    waiting: WaitingLine,
    /// Active tokens by (active_until, seq): expiry pops from the front.
    active: BTreeMap<(Timestamp, u64), QueueTokenId>,
    next_seq: u64,
    /// No admission before this; `Timestamp::MIN` until the first one.
    next_admission_at: Timestamp,
    /// The largest join number ever admitted: every waiting token is behind it.
    last_admitted_seq: Option<u64>,
    /// How fast tokens leave the active set: the line's pace when room-limited.
    exit_rate: ExitRate,
    /// Who of each recent admission cohort paid, for the room's forecast.
    /// Transient: rebuilt from the tokens on load (see `forecast`).
    cohorts: Cohorts,
    /// The latest time any applied event carried: what the forecast is as
    /// of. Transient like `cohorts`.
    latest_event_at: Timestamp,
    /// The last forecast made (a cache; see `forecast`).
    forecast_memo: Memo,
    /// Pre-queue tokens in arrival order (index = `pre_queue_index`); emptied
    /// by the shuffle.
    pre_queue: Vec<QueueTokenId>,
    /// After the shuffle: the join number each pre-queue arrival got, by
    /// arrival index. Empty before.
    pre_queue_seqs: Vec<u64>,
    /// Whether `PreQueueShuffled` was applied; then joins are FIFO.
    shuffled: bool,
    /// Transient; see `liveness`. Not serialized, always equal.
    liveness: Liveness,
    /// How long an admitted user is expected to stay, until exits are
    /// measured ([`Queue::expect_stay_ms`]). Transient like `liveness`: the
    /// owner sets it from the schedule's rules whenever it builds the queue;
    /// `None` means the whole `active_ms`.
    expected_stay_ms: Option<i64>,
}

impl Queue {
    /// `config` must have passed [`QueueConfig::validate`].
    pub fn new(config: QueueConfig) -> Queue {
        debug_assert_eq!(config.validate(), Ok(()), "validate the config first");
        Queue {
            config,
            table: TokenTable::default(),
            waiting: WaitingLine::default(),
            active: BTreeMap::new(),
            next_seq: 0,
            next_admission_at: Timestamp::MIN,
            last_admitted_seq: None,
            exit_rate: ExitRate::default(),
            cohorts: Cohorts::default(),
            latest_event_at: Timestamp::MIN,
            forecast_memo: Memo::default(),
            pre_queue: Vec::new(),
            pre_queue_seqs: Vec::new(),
            shuffled: false,
            liveness: Liveness::default(),
            expected_stay_ms: None,
        }
    }

    pub fn config(&self) -> &QueueConfig {
        &self.config
    }

    /// How long an admitted user is expected to stay before leaving (paying,
    /// or letting the active time run out), for the estimates given before
    /// any exit was measured. The owner passes the schedule's hold lifetime:
    /// a buyer holds and pays within one hold, so a full room empties about
    /// once per hold lifetime. Kept within `MIN_EXPECTED_STAY_MS..=active_ms`
    /// (nobody stays longer than the active time). Not durable and not an
    /// event: it changes estimates only, so the owner sets it again whenever
    /// it rebuilds the queue (start-up, `Configured`).
    pub fn expect_stay_ms(&mut self, stay_ms: i64) {
        self.expected_stay_ms = Some(stay_ms.min(self.config.active_ms).max(MIN_EXPECTED_STAY_MS));
    }

    /// Puts `user` in line, or returns the place they already hold.
    ///
    /// A user already in the pre-queue, waiting or active gets the same token
    /// back (`created: false`, no events; a waiting token counts as polled).
    /// Anyone else joins at the back with `new_token`, which must be fresh.
    /// With the queue disabled, the new token is admitted at once.
    ///
    /// With a pre-queue (enabled and `pre_queue_ms > 0`), until the shuffle:
    /// before `opens_at - pre_queue_ms` the answer is `NotOpen`; from then
    /// until `opens_at` the new token joins the pre-queue (`PreQueueJoined`).
    /// From `opens_at` on, the caller must call `shuffle_pre_queue` before any
    /// join or tick; a join while [`Queue::shuffle_due`] answers `ShuffleDue`
    /// rather than put anyone ahead of the pre-queue.
    pub fn join(
        &mut self,
        user: UserId,
        new_token: QueueTokenId,
        now: Timestamp,
    ) -> Result<JoinOutcome, QueueError> {
        if self.shuffle_due(now) {
            return Err(QueueError::ShuffleDue);
        }
        if let Some(current) = self.token_of_user(user).filter(|t| t.status.is_live()) {
            let (token, seq, status) = (current.token, current.seq, current.status);
            if status == TokenStatus::Waiting {
                self.note_poll(token, seq, now);
            }
            return Ok(JoinOutcome {
                token,
                created: false,
                events: Vec::new(),
            });
        }
        // Ids come from the actor's random source, never from a client.
        assert!(
            !self.table.contains(new_token),
            "queue token id {new_token} reused: the caller's id source repeated"
        );
        if self.pre_queue_pending() {
            let window_opens_at = self.pre_queue_opens_at();
            if now < window_opens_at {
                return Err(QueueError::NotOpen {
                    opens_at: window_opens_at,
                });
            }
            // Not due, so before `opens_at`.
            debug_assert!(now < self.config.opens_at);
            // The shuffle moves the whole pre-queue into the line at once.
            if self.pre_queue.len() >= MAX_WAITING {
                return Err(QueueError::Full);
            }
            let event = QueueEvent::PreQueueJoined {
                token: new_token,
                user,
                at: now,
            };
            self.apply(&event);
            return Ok(JoinOutcome {
                token: new_token,
                created: true,
                events: vec![event],
            });
        }
        if self.config.enabled
            && (self.waiting.len() >= MAX_WAITING || !self.waiting.fits(self.next_seq))
        {
            return Err(QueueError::Full);
        }
        let mut events = vec![QueueEvent::Joined {
            token: new_token,
            user,
            at: now,
        }];
        if !self.config.enabled {
            events.push(QueueEvent::Admitted {
                tokens: vec![new_token],
                at: now,
                until: now.plus_millis(self.config.active_ms),
            });
        }
        for event in &events {
            self.apply(event);
        }
        Ok(JoinOutcome {
            token: new_token,
            created: true,
            events,
        })
    }

    /// Records a poll of `token`. Not an event: liveness is transient, because
    /// logging every poll would make polling a durable write.
    pub fn touch(&mut self, token: QueueTokenId, now: Timestamp) -> Result<(), QueueError> {
        let record = self.table.get(token).ok_or(QueueError::UnknownToken)?;
        if record.status == TokenStatus::Waiting {
            self.note_poll(token, record.seq, now);
        }
        Ok(())
    }

    /// Waiting tokens whose last poll this queue knows of is at or before
    /// `cutoff`, oldest first, at most `limit`: the ones `tick` would drop
    /// out. The actor may know of later polls (`touch` them first).
    pub fn silent_tokens(&self, cutoff: Timestamp, limit: usize) -> Vec<QueueTokenId> {
        self.polled_by(cutoff, limit)
    }

    /// Every token kept (each user's latest), in no particular order.
    pub fn tokens(&self) -> impl Iterator<Item = QueueToken> + '_ {
        self.table.values()
    }

    pub fn view(&self, token: QueueTokenId, now: Timestamp) -> Option<TokenView> {
        let record = self.table.get(token)?;
        // (position, estimated wait, the waits that pace polls, expiry)
        let (position, estimated_wait_seconds, pacing_waits, expires_at) = match record.status {
            TokenStatus::PreQueue => (
                0,
                0,
                PacingWaits::default(),
                self.config.opens_at.plus_millis(WAITING_DROP_MS),
            ),
            TokenStatus::Waiting => {
                let position = self.waiting.position(record.seq).unwrap_or_else(|| {
                    debug_assert!(false, "waiting token {token} is not in the line");
                    0
                });
                // A token without a poll record (before after_recovery) is
                // treated as polled now, as after_recovery will.
                let last_poll = self
                    .table
                    .slot_of(token)
                    .and_then(|slot| self.table.last_poll(slot))
                    .unwrap_or(now);
                let (told, pacing) = self.eta_model().wait_at(position, now);
                (
                    position,
                    told,
                    pacing,
                    last_poll.plus_millis(WAITING_DROP_MS),
                )
            }
            TokenStatus::Active => (
                0,
                0,
                PacingWaits::default(),
                record.active_until.unwrap_or(now),
            ),
            TokenStatus::Ended | TokenStatus::Expired => {
                (0, 0, PacingWaits::default(), record.ended_at.unwrap_or(now))
            }
        };
        let crowd = match record.status {
            TokenStatus::PreQueue => self.pre_queue.len(),
            _ => self.waiting.len(),
        };
        let poll_after_ms = pacing::poll_after_ms(
            record.status,
            pacing_waits,
            crowd as u64,
            self.config.opens_at.millis_since(now),
        );
        Some(TokenView {
            token,
            user: record.user,
            status: record.status,
            position,
            estimated_wait_seconds,
            expires_at,
            poll_after_ms,
        })
    }

    pub fn token(&self, token: QueueTokenId) -> Option<QueueToken> {
        self.table.get(token)
    }

    /// The user's latest token.
    pub fn token_of_user(&self, user: UserId) -> Option<QueueToken> {
        self.table.of_user(user)
    }

    /// Whether the pre-queue must be shuffled now: a pre-queue is configured,
    /// not yet shuffled, and `now` is at or past `opens_at`. True even when
    /// nobody joined the pre-queue, so that the shuffle is recorded once.
    pub fn shuffle_due(&self, now: Timestamp) -> bool {
        self.pre_queue_pending() && now >= self.config.opens_at
    }

    /// Places the pre-queue in the line in the order `seed` gives, ahead of
    /// every later join; returns the applied `PreQueueShuffled`, or `None`
    /// when the shuffle is not due. `seed` must come from the caller's random
    /// source: it alone decides the order, and the event keeps it for replay.
    pub fn shuffle_pre_queue(&mut self, seed: u64, now: Timestamp) -> Option<QueueEvent> {
        if !self.shuffle_due(now) {
            return None;
        }
        let event = QueueEvent::PreQueueShuffled { seed, at: now };
        self.apply(&event);
        Some(event)
    }

    /// Whether the pre-queue has been placed in the line.
    pub fn shuffled(&self) -> bool {
        self.shuffled
    }

    /// How many tokens are in the pre-queue now (0 once shuffled).
    pub fn pre_queue_len(&self) -> usize {
        self.pre_queue.len()
    }

    /// The join number (`seq`) the shuffle gave the `index`-th pre-queue
    /// arrival; `None` before the shuffle or past the last arrival.
    pub fn seq_of_pre_queue_index(&self, index: u64) -> Option<u64> {
        if !self.shuffled {
            return None;
        }
        let index = usize::try_from(index).ok()?;
        self.pre_queue_seqs.get(index).copied()
    }

    /// Drops silent waiting tokens, expires active ones past their lifetime,
    /// then admits a batch if it is time and there is room. Never admits
    /// while a pre-queue waits for its shuffle: call `shuffle_pre_queue`
    /// first when `shuffle_due`.
    pub fn tick(&mut self, now: Timestamp) -> Vec<QueueEvent> {
        let mut events = Vec::new();

        let silent = self.polled_by(now.plus_millis(-WAITING_DROP_MS), MAX_TOKENS_PER_EVENT);
        if !silent.is_empty() {
            events.push(QueueEvent::DroppedOut {
                tokens: silent,
                at: now,
            });
        }

        let over: Vec<QueueTokenId> = self
            .active
            .range(..=(now, u64::MAX))
            .take(MAX_TOKENS_PER_EVENT)
            .map(|(_, &token)| token)
            .collect();
        if !over.is_empty() {
            events.push(QueueEvent::ActiveExpired {
                tokens: over,
                at: now,
            });
        }
        for event in &events {
            self.apply(event);
        }

        if self.config.enabled && !self.pre_queue_pending() && now >= self.next_admission_at {
            let room = self.room();
            let batch: Vec<QueueTokenId> = self
                .waiting
                .front(room.min(self.config.batch_size as usize))
                .map(|slot| self.table.token_at(slot))
                .collect();
            if !batch.is_empty() {
                let event = QueueEvent::Admitted {
                    tokens: batch,
                    at: now,
                    until: now.plus_millis(self.config.active_ms),
                };
                self.apply(&event);
                events.push(event);
            }
        }
        events
    }

    /// The earliest moment `tick` could do something; `None` when nothing is
    /// waiting or active. A payment ending a token can also make room: ask
    /// again after `end_by_payment`. While a pre-queue waits for its shuffle,
    /// `opens_at` (then call `shuffle_pre_queue` before `tick`).
    pub fn next_tick_at(&self) -> Option<Timestamp> {
        let shuffle = self.pre_queue_pending().then_some(self.config.opens_at);
        let drop_out = self
            .liveness
            .earliest()
            .map(|polled| polled.plus_millis(WAITING_DROP_MS));
        let expiry = self.active.keys().next().map(|&(until, _)| until);
        let admission = match self.waiting.front(1).next() {
            Some(front) if self.config.enabled && self.room() > 0 => {
                let joined = self
                    .table
                    .get(self.table.token_at(front))
                    .map_or(Timestamp::MIN, |t| t.joined_at);
                Some(self.next_admission_at.max(joined))
            }
            _ => None,
        };
        [shuffle, drop_out, expiry, admission]
            .into_iter()
            .flatten()
            .min()
    }

    /// Ends an active token because its holder paid; `None` if not active.
    pub fn end_by_payment(&mut self, token: QueueTokenId, now: Timestamp) -> Option<QueueEvent> {
        if self.table.get(token)?.status != TokenStatus::Active {
            return None;
        }
        let event = QueueEvent::Ended { token, at: now };
        self.apply(&event);
        Some(event)
    }

    /// Active tokens, soonest to expire first.
    pub fn active_tokens(&self) -> impl Iterator<Item = QueueToken> + '_ {
        self.active
            .values()
            .filter_map(|&token| self.table.get(token))
    }

    /// Tokens a hold may still be paid under: ACTIVE ones, and ones whose
    /// active time ran out after `cutoff` (API.md: a hold made under an ACTIVE
    /// token can be paid until the hold's own expiry). Linear: for restarts.
    pub fn payable_tokens_since(&self, cutoff: Timestamp) -> impl Iterator<Item = QueueToken> + '_ {
        self.table.values().filter(move |t| match t.status {
            TokenStatus::Active => true,
            TokenStatus::Expired => t.active_until.is_some_and(|until| until > cutoff),
            TokenStatus::PreQueue | TokenStatus::Waiting | TokenStatus::Ended => false,
        })
    }

    pub fn waiting_len(&self) -> usize {
        self.waiting.len()
    }

    pub fn active_len(&self) -> usize {
        self.active.len()
    }

    /// Admissions per second at the back of the line: the batch clock's pace
    /// while the line fits in the free room, else the room-limited pace (see
    /// `room_limited_rate_per_sec`). Only for the ETA.
    pub fn admission_rate_per_sec(&self) -> f64 {
        if self.waiting.len() > self.room() {
            self.room_limited_rate_per_sec()
        } else {
            self.configured_rate_per_sec()
        }
    }

    /// Poll times are not durable: after a restart, every waiting token counts
    /// as polled now, so a restart does not drop the whole line.
    pub fn after_recovery(&mut self, now: Timestamp) {
        self.latest_event_at = self.latest_event_at.max(now);
        self.liveness.clear();
        let waiting: Vec<(u64, u32)> = self.waiting.iter().collect();
        for (seq, slot) in waiting {
            self.table.set_last_poll(slot, None);
            let kept = self.liveness.record(seq, None, now);
            self.table.set_last_poll(slot, kept);
        }
    }

    /// Applies an event. Total for every event the commands produce; an event
    /// naming a token not in the expected state (impossible from the commands)
    /// is skipped for that token, so recovery never stops on it.
    pub fn apply(&mut self, event: &QueueEvent) {
        self.latest_event_at = self.latest_event_at.max(event_time(event));
        match event {
            QueueEvent::Joined { token, user, at } => self.apply_joined(*token, *user, *at),
            QueueEvent::Admitted { tokens, at, until } => {
                let admitted = tokens
                    .iter()
                    .filter(|&&token| self.apply_admitted(token, *at, *until))
                    .count();
                self.cohorts
                    .record_admissions(*at, admitted, until.millis_since(*at));
                self.exit_rate.record_admission(*at);
                self.next_admission_at = at.plus_millis(self.config.interval_ms);
            }
            QueueEvent::DroppedOut { tokens, at } => {
                for &token in tokens {
                    self.finish(token, TokenStatus::Waiting, TokenStatus::Expired, *at);
                }
            }
            QueueEvent::ActiveExpired { tokens, at } => {
                let left = tokens
                    .iter()
                    .filter(|&&token| {
                        self.finish(token, TokenStatus::Active, TokenStatus::Expired, *at)
                    })
                    .count();
                self.exit_rate.record_exits(*at, left);
            }
            QueueEvent::Ended { token, at } => {
                let admitted_at = self.table.get(*token).and_then(|t| t.admitted_at);
                if self.finish(*token, TokenStatus::Active, TokenStatus::Ended, *at) {
                    self.exit_rate.record_exits(*at, 1);
                    if let Some(admitted_at) = admitted_at {
                        self.cohorts.record_payment(admitted_at, *at);
                    }
                }
            }
            QueueEvent::PreQueueJoined { token, user, at } => {
                self.apply_pre_queue_joined(*token, *user, *at);
            }
            QueueEvent::PreQueueShuffled { seed, at } => self.apply_shuffled(*seed, *at),
        }
    }

    /// Checks every structural invariant. Linear (times log n): for tests.
    pub fn check_invariants(&self) -> Result<(), String> {
        self.waiting.check()?;
        self.table.check()?;
        let mut waiting = 0usize;
        let mut active = 0usize;
        let mut pre_queue = 0usize;
        for record in self.table.values() {
            let record = &record;
            check_token_fields(record)?;
            self.check_pre_queue_token(record)?;
            if record.status == TokenStatus::PreQueue {
                pre_queue += 1;
            } else if record.seq >= self.next_seq {
                return Err(format!(
                    "token {} has a join number from the future",
                    record.token
                ));
            }
            match record.status {
                TokenStatus::Waiting => {
                    waiting += 1;
                    if self.waiting.position(record.seq).is_none() {
                        return Err(format!("waiting token {} is not in the line", record.token));
                    }
                }
                TokenStatus::Active => {
                    active += 1;
                    let key = (record.active_until.unwrap_or(Timestamp::MIN), record.seq);
                    if self.active.get(&key) != Some(&record.token) {
                        return Err(format!("active token {} is not indexed", record.token));
                    }
                }
                TokenStatus::PreQueue | TokenStatus::Ended | TokenStatus::Expired => {}
            }
            if record.admitted_at.is_some()
                && self.last_admitted_seq.is_none_or(|last| record.seq > last)
            {
                return Err(format!(
                    "token {} admitted past the last admitted number",
                    record.token
                ));
            }
        }
        if pre_queue != self.pre_queue.len() {
            return Err(format!(
                "{pre_queue} pre-queue tokens, pre-queue holds {}",
                self.pre_queue.len()
            ));
        }
        self.check_pre_queue()?;
        if waiting != self.waiting.len() {
            return Err(format!(
                "{waiting} waiting tokens, line holds {}",
                self.waiting.len()
            ));
        }
        for (seq, slot) in self.waiting.iter() {
            if self
                .table
                .get(self.table.token_at(slot))
                .map(|t| (t.seq, t.status))
                != Some((seq, TokenStatus::Waiting))
            {
                return Err(format!(
                    "line entry {seq} is not a waiting token numbered {seq}"
                ));
            }
        }
        if active != self.active.len() {
            return Err(format!(
                "{active} active tokens, index holds {}",
                self.active.len()
            ));
        }
        if self.config.enabled && self.active.len() > self.config.max_active as usize {
            return Err(format!(
                "{} active tokens exceed max_active {}",
                self.active.len(),
                self.config.max_active
            ));
        }
        if self.exit_rate.buckets() > EXIT_BUCKETS {
            return Err("exit rate keeps more than EXIT_BUCKETS buckets".into());
        }
        if self.cohorts.len() > forecast::MAX_COHORTS {
            return Err("the forecast keeps more than MAX_COHORTS cohorts".into());
        }
        // FIFO: admission takes from the front, so every waiting token joined
        // after every token ever admitted.
        if let (Some(last), Some(first)) = (self.last_admitted_seq, self.waiting.first_seq()) {
            if last >= first {
                return Err(format!(
                    "token {last} admitted while {first} waited ahead of it"
                ));
            }
        }
        for (at, seq) in self.liveness.entries() {
            let polled = self
                .waiting
                .slot_of(seq)
                .and_then(|slot| self.table.last_poll(slot));
            if polled != Some(at) {
                return Err(format!(
                    "poll time kept for join number {seq}, which is not waiting or polled then"
                ));
            }
        }
        if self.liveness.len() > self.waiting.len() {
            return Err("more poll times kept than tokens waiting".into());
        }
        Ok(())
    }

    /// The pre-queue as a whole: before the shuffle nobody is in the line or
    /// admitted; after it, the numbers it gave are the contiguous block
    /// right at the start of the numbering it found.
    fn check_pre_queue(&self) -> Result<(), String> {
        if self.pre_queue_pending() {
            if !self.pre_queue_seqs.is_empty() || self.next_seq != 0 {
                return Err("join numbers given out before the shuffle".into());
            }
            if self.waiting.len() != 0
                || !self.active.is_empty()
                || self.last_admitted_seq.is_some()
            {
                return Err("someone waits or was admitted before the shuffle".into());
            }
        }
        if !self.shuffled && !self.pre_queue_seqs.is_empty() {
            return Err("pre-queue numbers exist without a shuffle".into());
        }
        if self.shuffled && !self.pre_queue.is_empty() {
            return Err("tokens left in the pre-queue after the shuffle".into());
        }
        let mut sorted = self.pre_queue_seqs.clone();
        sorted.sort_unstable();
        let first = sorted.first().copied().unwrap_or(0);
        for (offset, &seq) in sorted.iter().enumerate() {
            if seq != first + offset as u64 || seq >= self.next_seq {
                return Err(format!("pre-queue numbers {sorted:?} are not one block"));
            }
        }
        for (index, token) in self.pre_queue.iter().enumerate() {
            match self.table.get(*token) {
                Some(record)
                    if record.status == TokenStatus::PreQueue
                        && record.pre_queue_index == Some(index as u64) => {}
                _ => {
                    return Err(format!(
                        "pre-queue entry {index} is not a pre-queue token with that index"
                    ))
                }
            }
        }
        Ok(())
    }

    /// One token's pre-queue fields.
    fn check_pre_queue_token(&self, record: &QueueToken) -> Result<(), String> {
        let token = record.token;
        match (record.status, record.pre_queue_index) {
            (TokenStatus::PreQueue, Some(index)) => {
                let listed = usize::try_from(index)
                    .ok()
                    .and_then(|index| self.pre_queue.get(index));
                if record.seq != PRE_QUEUE_SEQ || listed != Some(&token) || self.shuffled {
                    return Err(format!(
                        "pre-queue token {token} has seq {} or index {index} out of place",
                        record.seq
                    ));
                }
            }
            (TokenStatus::PreQueue, None) => {
                return Err(format!("pre-queue token {token} has no arrival index"));
            }
            (_, Some(index)) => {
                if self.seq_of_pre_queue_index(index) != Some(record.seq) {
                    return Err(format!(
                        "token {token}, pre-queue arrival {index}, has seq {} not the shuffle's",
                        record.seq
                    ));
                }
            }
            (_, None) => {
                if record.seq == PRE_QUEUE_SEQ {
                    return Err(format!("token {token} has the pre-queue's seq"));
                }
            }
        }
        Ok(())
    }

    fn room(&self) -> usize {
        (self.config.max_active as usize).saturating_sub(self.active.len())
    }

    fn configured_rate_per_sec(&self) -> f64 {
        f64::from(self.config.batch_size) * 1_000.0 / self.config.interval_ms.max(1) as f64
    }

    /// How fast the line moves once the room is full: one admission per exit
    /// from the active set, never faster than the batch clock. The exit rate
    /// is measured (`exit_rate`), with a floor of `max_active` per active
    /// time: in a full room everyone leaves within `active_ms`, so that is the
    /// slowest possible pace. Before any exit is measured: `max_active` per
    /// expected stay (`expect_stay_ms`; the active time when not given).
    ///
    /// The hold lifetime as that stay (2026-12-07, session 13): with the whole
    /// active time, a crowd that joined before anyone left was told waits of
    /// one to two minutes for admissions that came within seconds (stadium:
    /// 60 s holders, 5 s holds).
    ///
    /// Not the batch clock's pace as the estimate before the first exits
    /// (tried 2026-12-07, session 12): in the stadium run it told the whole
    /// line 0-10 s, so every waiting user polled every 100-2,500 ms (a
    /// quarter of their own wait, `pacing`) instead of the crowd's 20 s; the
    /// polls slowed the joins to a p50 of 5-7 s, and no first estimate was
    /// within ±25% (0.0%, against 2.7-2.9% with this floor, same load).
    fn room_limited_rate_per_sec(&self) -> f64 {
        let slowest =
            f64::from(self.config.max_active) * 1_000.0 / self.config.active_ms.max(1) as f64;
        let stay_ms = self.expected_stay_ms.unwrap_or(self.config.active_ms);
        let expected = f64::from(self.config.max_active) * 1_000.0 / stay_ms.max(1) as f64;
        let exits = self
            .exit_rate
            .per_sec()
            .filter(|rate| rate.is_finite())
            .map_or(expected.max(slowest), |rate| rate.max(slowest));
        exits.min(self.configured_rate_per_sec())
    }

    /// What the waiting-time estimate depends on right now; the actor
    /// publishes it, so polls answered elsewhere estimate exactly as this does.
    pub fn eta_model(&self) -> EtaModel {
        let room = self.room() as u64;
        let batch_per_sec = self.configured_rate_per_sec();
        let forecast = self.forecast_memo.forecast(
            &self.cohorts,
            forecast::Room {
                as_of: forecast::anchor_of(self.latest_event_at),
                max_active: self.config.max_active,
                free: room,
                active: self.active.len() as u64,
                batch_per_sec,
                active_ms: self.config.active_ms,
            },
        );
        EtaModel {
            room,
            batch_per_sec,
            room_limited_per_sec: self.room_limited_rate_per_sec(),
            forecast,
        }
    }

    /// A pre-queue is configured and has not been shuffled yet.
    fn pre_queue_pending(&self) -> bool {
        self.config.enabled && self.config.pre_queue_ms > 0 && !self.shuffled
    }

    /// When the pre-queue window opens: `pre_queue_ms` before `opens_at`.
    fn pre_queue_opens_at(&self) -> Timestamp {
        self.config.opens_at.plus_millis(-self.config.pre_queue_ms)
    }

    /// The next join number.
    fn take_seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq = seq
            .checked_add(1)
            .filter(|&next| next < PRE_QUEUE_SEQ)
            .expect("2^64 joins cannot happen in one queue's life");
        seq
    }

    /// Records `record` as its user's latest token, forgetting their
    /// previous one; returns its table slot.
    fn insert_token(&mut self, record: QueueToken) -> u32 {
        let (token, user) = (record.token, record.user);
        debug_assert!(!self.table.contains(token), "token {token} joined twice");
        if let Some(old) = self.table.of_user(user) {
            debug_assert!(!old.status.is_live(), "user {user} joined twice while live");
            self.unindex(&old);
        }
        self.table.insert(&record).1
    }

    /// Records a poll of the waiting token `token` (numbered `seq`).
    fn note_poll(&mut self, token: QueueTokenId, seq: u64, at: Timestamp) {
        if let Some(slot) = self.table.slot_of(token) {
            self.note_poll_at(slot, seq, at);
        }
    }

    fn note_poll_at(&mut self, slot: u32, seq: u64, at: Timestamp) {
        let previous = self.table.last_poll(slot);
        if let Some(kept) = self.liveness.record(seq, previous, at) {
            self.table.set_last_poll(slot, Some(kept));
        }
    }

    /// Forgets the poll time of the token in `slot` (numbered `seq`).
    fn forget_poll(&mut self, slot: u32, seq: u64) {
        let previous = self.table.last_poll(slot);
        self.liveness.forget(seq, previous);
        self.table.set_last_poll(slot, None);
    }

    /// Up to `limit` waiting tokens last polled at or before `cutoff`, oldest first.
    fn polled_by(&self, cutoff: Timestamp, limit: usize) -> Vec<QueueTokenId> {
        self.liveness
            .polled_by(cutoff, limit)
            .into_iter()
            .filter_map(|seq| self.waiting.slot_of(seq))
            .map(|slot| self.table.token_at(slot))
            .collect()
    }

    fn apply_joined(&mut self, token: QueueTokenId, user: UserId, at: Timestamp) {
        let seq = self.take_seq();
        let slot = self.insert_token(QueueToken {
            token,
            user,
            status: TokenStatus::Waiting,
            seq,
            joined_at: at,
            admitted_at: None,
            active_until: None,
            ended_at: None,
            pre_queue_index: None,
        });
        self.waiting.push(seq, slot);
        self.note_poll_at(slot, seq, at);
    }

    /// Pre-queue tokens stay out of the line and of liveness (they do not drop
    /// out for not polling: the pre-queue may last 24 hours).
    fn apply_pre_queue_joined(&mut self, token: QueueTokenId, user: UserId, at: Timestamp) {
        if self.shuffled {
            debug_assert!(false, "pre-queue join {token} after the shuffle");
            return;
        }
        self.insert_token(QueueToken {
            token,
            user,
            status: TokenStatus::PreQueue,
            seq: PRE_QUEUE_SEQ,
            joined_at: at,
            admitted_at: None,
            active_until: None,
            ended_at: None,
            pre_queue_index: Some(self.pre_queue.len() as u64),
        });
        self.pre_queue.push(token);
    }

    /// Numbers the pre-queue in the order the seed gives, puts it in the
    /// line and counts every token as polled at `at`: each gets a full
    /// `WAITING_DROP_MS` from the shuffle to start polling.
    fn apply_shuffled(&mut self, seed: u64, at: Timestamp) {
        if self.shuffled {
            debug_assert!(false, "the pre-queue was shuffled twice");
            return;
        }
        self.shuffled = true;
        let arrivals = std::mem::take(&mut self.pre_queue);
        let mut seqs = vec![PRE_QUEUE_SEQ; arrivals.len()];
        for arrival in shuffle::permutation(seed, arrivals.len()) {
            // Every arrival gets its number, so the numbers stay contiguous
            // even if (impossibly) a token were missing.
            let seq = self.take_seq();
            seqs[arrival] = seq;
            let token = arrivals[arrival];
            let Some(slot) = self.table.slot_of(token) else {
                debug_assert!(false, "pre-queue token {token} is unknown");
                continue;
            };
            let placed = self.table.modify(token, |record| {
                if record.status == TokenStatus::PreQueue {
                    record.status = TokenStatus::Waiting;
                    record.seq = seq;
                }
            });
            if !placed || self.table.get(token).map(|t| t.seq) != Some(seq) {
                debug_assert!(false, "pre-queue token {token} was not in the pre-queue");
                continue;
            }
            self.waiting.push(seq, slot);
            self.note_poll_at(slot, seq, at);
        }
        self.pre_queue_seqs = seqs;
    }

    /// False (and nothing done) if `token` was not waiting.
    fn apply_admitted(&mut self, token: QueueTokenId, at: Timestamp, until: Timestamp) -> bool {
        let Some(record) = self.table.get(token) else {
            debug_assert!(false, "admitted unknown token {token}");
            return false;
        };
        if record.status != TokenStatus::Waiting {
            debug_assert!(false, "admitted token {token} that was not waiting");
            return false;
        }
        let seq = record.seq;
        if let Some(slot) = self.waiting.remove(seq) {
            self.forget_poll(slot, seq);
        }
        self.table.modify(token, |record| {
            record.status = TokenStatus::Active;
            record.admitted_at = Some(at);
            record.active_until = Some(until);
        });
        self.active.insert((until, seq), token);
        self.last_admitted_seq = Some(self.last_admitted_seq.map_or(seq, |last| last.max(seq)));
        true
    }

    /// Moves `token` from `from` to the finished status `to`; false (and
    /// nothing done) if it was not `from`.
    fn finish(
        &mut self,
        token: QueueTokenId,
        from: TokenStatus,
        to: TokenStatus,
        at: Timestamp,
    ) -> bool {
        debug_assert!(!to.is_live());
        let Some(record) = self.table.get(token) else {
            debug_assert!(false, "finished unknown token {token}");
            return false;
        };
        if record.status != from {
            debug_assert!(
                false,
                "token {token} is {:?}, expected {from:?}",
                record.status
            );
            return false;
        }
        self.unindex(&record);
        self.table.modify(token, |record| {
            record.status = to;
            record.ended_at = Some(at);
        });
        true
    }

    /// Removes a token from the waiting line, poll times and active index.
    fn unindex(&mut self, record: &QueueToken) {
        match record.status {
            TokenStatus::Waiting => {
                if let Some(slot) = self.waiting.remove(record.seq) {
                    self.forget_poll(slot, record.seq);
                }
            }
            TokenStatus::Active => {
                if let Some(until) = record.active_until {
                    self.active.remove(&(until, record.seq));
                }
            }
            // The pre-queue keeps arrival indexes, so a token is not taken
            // out of it; commands never replace a live token anyway.
            TokenStatus::PreQueue | TokenStatus::Ended | TokenStatus::Expired => {}
        }
    }
}

/// The time an event carries.
fn event_time(event: &QueueEvent) -> Timestamp {
    match event {
        QueueEvent::Joined { at, .. }
        | QueueEvent::Admitted { at, .. }
        | QueueEvent::DroppedOut { at, .. }
        | QueueEvent::ActiveExpired { at, .. }
        | QueueEvent::Ended { at, .. }
        | QueueEvent::PreQueueJoined { at, .. }
        | QueueEvent::PreQueueShuffled { at, .. } => *at,
    }
}

/// Which optional fields each status must have.
fn check_token_fields(record: &QueueToken) -> Result<(), String> {
    let shape = (
        record.admitted_at.is_some(),
        record.active_until.is_some(),
        record.ended_at.is_some(),
    );
    let ok = match record.status {
        TokenStatus::PreQueue | TokenStatus::Waiting => shape == (false, false, false),
        TokenStatus::Active => shape == (true, true, false),
        TokenStatus::Ended => shape == (true, true, true),
        TokenStatus::Expired => shape.2 && shape.0 == shape.1,
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "token {} is {:?} with fields {shape:?}",
            record.token, record.status
        ))
    }
}
