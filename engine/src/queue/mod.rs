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
//! Memory: at most `MAX_WAITING` waiting tokens, plus one finished token per
//! user who ever joined (a user's previous token is forgotten when they join
//! again; polling a forgotten token answers `UnknownToken`).

mod admission_rate;
mod config;
mod liveness;
#[cfg(test)]
mod tests;
mod waiting_line;

pub use admission_rate::{RATE_SAMPLES, RATE_WINDOW_MS};
pub use config::{
    QueueConfig, ACTIVE_MS_RANGE, BATCH_SIZE_RANGE, INTERVAL_MS_RANGE, MAX_ACTIVE_RANGE,
};
pub use waiting_line::MAX_SEQ_SPAN;

use crate::{QueueTokenId, Timestamp, UserId};
use admission_rate::AdmissionRate;
use liveness::Liveness;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use waiting_line::WaitingLine;

/// A WAITING token not polled for 2 minutes drops out.
pub const WAITING_DROP_MS: i64 = 120_000;
/// Explicit bound on the waiting line; a join beyond it is refused as `Full`.
pub const MAX_WAITING: usize = 2_000_000;
/// Most tokens one `DroppedOut` or `ActiveExpired` event carries, so one tick's
/// work and one log record stay bounded; the rest waits for the next tick
/// (`next_tick_at` then answers a time already past).
pub const MAX_TOKENS_PER_EVENT: usize = 10_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TokenStatus {
    Waiting,
    Active,
    /// Ended by a payment.
    Ended,
    /// Active lifetime over, or dropped out of the waiting line.
    Expired,
}

impl TokenStatus {
    /// Waiting or Active: the token still holds a place.
    pub fn is_live(self) -> bool {
        matches!(self, TokenStatus::Waiting | TokenStatus::Active)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueToken {
    pub token: QueueTokenId,
    pub user: UserId,
    pub status: TokenStatus,
    /// Join order: smaller joined earlier.
    pub seq: u64,
    pub joined_at: Timestamp,
    pub admitted_at: Option<Timestamp>,
    pub active_until: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
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
}

/// What a user sees when they poll their token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenView {
    pub token: QueueTokenId,
    pub user: UserId,
    pub status: TokenStatus,
    /// 1 = next in line; 0 when not waiting.
    pub position: u64,
    /// 0 when not waiting.
    pub estimated_wait_seconds: u64,
    /// Waiting: last poll + `WAITING_DROP_MS`; active: `active_until`;
    /// ended or expired: when it ended.
    pub expires_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinOutcome {
    pub token: QueueTokenId,
    /// False when the user already held a waiting or active token.
    pub created: bool,
    pub events: Vec<QueueEvent>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    #[error("unknown queue token")]
    UnknownToken,
    #[error("the waiting room is full")]
    Full,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Queue {
    config: QueueConfig,
    /// Each user's latest token (and only that one).
    tokens: HashMap<QueueTokenId, QueueToken>,
    latest_by_user: HashMap<UserId, QueueTokenId>,
    waiting: WaitingLine,
    /// Active tokens by (active_until, seq): expiry pops from the front.
    active: BTreeMap<(Timestamp, u64), QueueTokenId>,
    next_seq: u64,
    /// No admission before this; `Timestamp::MIN` until the first one.
    next_admission_at: Timestamp,
    /// The largest join number ever admitted: every waiting token is behind it.
    last_admitted_seq: Option<u64>,
    admission_rate: AdmissionRate,
    /// Transient; see `liveness`. Not serialized, always equal.
    #[serde(skip)]
    liveness: Liveness,
}

impl Queue {
    /// `config` must have passed [`QueueConfig::validate`].
    pub fn new(config: QueueConfig) -> Queue {
        debug_assert_eq!(config.validate(), Ok(()), "validate the config first");
        Queue {
            config,
            tokens: HashMap::new(),
            latest_by_user: HashMap::new(),
            waiting: WaitingLine::default(),
            active: BTreeMap::new(),
            next_seq: 0,
            next_admission_at: Timestamp::MIN,
            last_admitted_seq: None,
            admission_rate: AdmissionRate::default(),
            liveness: Liveness::default(),
        }
    }

    pub fn config(&self) -> &QueueConfig {
        &self.config
    }

    /// Puts `user` in line, or returns the place they already hold.
    ///
    /// A user already waiting or active gets the same token back
    /// (`created: false`, no events; a waiting token counts as polled). Anyone
    /// else joins at the back with `new_token`, which must be fresh. With the
    /// queue disabled, the new token is admitted at once.
    pub fn join(
        &mut self,
        user: UserId,
        new_token: QueueTokenId,
        now: Timestamp,
    ) -> Result<JoinOutcome, QueueError> {
        if let Some(current) = self.token_of_user(user).filter(|t| t.status.is_live()) {
            let (token, seq, status) = (current.token, current.seq, current.status);
            if status == TokenStatus::Waiting {
                self.liveness.record(token, seq, now);
            }
            return Ok(JoinOutcome {
                token,
                created: false,
                events: Vec::new(),
            });
        }
        // Ids come from the actor's random source, never from a client.
        assert!(
            !self.tokens.contains_key(&new_token),
            "queue token id {new_token} reused: the caller's id source repeated"
        );
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
        let record = self.tokens.get(&token).ok_or(QueueError::UnknownToken)?;
        if record.status == TokenStatus::Waiting {
            let seq = record.seq;
            self.liveness.record(token, seq, now);
        }
        Ok(())
    }

    /// Waiting tokens whose last poll this queue knows of is at or before
    /// `cutoff`, oldest first, at most `limit`: the ones `tick` would drop
    /// out. The actor may know of later polls (`touch` them first).
    pub fn silent_tokens(&self, cutoff: Timestamp, limit: usize) -> Vec<QueueTokenId> {
        self.liveness.polled_by(cutoff, limit)
    }

    /// Every token kept (each user's latest), in no particular order.
    pub fn tokens(&self) -> impl Iterator<Item = &QueueToken> {
        self.tokens.values()
    }

    pub fn view(&self, token: QueueTokenId, now: Timestamp) -> Option<TokenView> {
        let record = self.tokens.get(&token)?;
        let (position, estimated_wait_seconds, expires_at) = match record.status {
            TokenStatus::Waiting => {
                let position = self.waiting.position(record.seq).unwrap_or_else(|| {
                    debug_assert!(false, "waiting token {token} is not in the line");
                    0
                });
                // A token without a poll record (before after_recovery) is
                // treated as polled now, as after_recovery will.
                let last_poll = self.liveness.last_poll(token).unwrap_or(now);
                (
                    position,
                    self.estimated_wait_seconds(position),
                    last_poll.plus_millis(WAITING_DROP_MS),
                )
            }
            TokenStatus::Active => (0, 0, record.active_until.unwrap_or(now)),
            TokenStatus::Ended | TokenStatus::Expired => (0, 0, record.ended_at.unwrap_or(now)),
        };
        Some(TokenView {
            token,
            user: record.user,
            status: record.status,
            position,
            estimated_wait_seconds,
            expires_at,
        })
    }

    pub fn token(&self, token: QueueTokenId) -> Option<&QueueToken> {
        self.tokens.get(&token)
    }

    /// The user's latest token.
    pub fn token_of_user(&self, user: UserId) -> Option<&QueueToken> {
        self.latest_by_user
            .get(&user)
            .and_then(|token| self.tokens.get(token))
    }

    /// Drops silent waiting tokens, expires active ones past their lifetime,
    /// then admits a batch if it is time and there is room.
    pub fn tick(&mut self, now: Timestamp) -> Vec<QueueEvent> {
        let mut events = Vec::new();

        let silent = self
            .liveness
            .polled_by(now.plus_millis(-WAITING_DROP_MS), MAX_TOKENS_PER_EVENT);
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

        if self.config.enabled && now >= self.next_admission_at {
            let room = self.room();
            let batch: Vec<QueueTokenId> = self
                .waiting
                .front(room.min(self.config.batch_size as usize))
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
    /// again after `end_by_payment`.
    pub fn next_tick_at(&self) -> Option<Timestamp> {
        let drop_out = self
            .liveness
            .earliest()
            .map(|polled| polled.plus_millis(WAITING_DROP_MS));
        let expiry = self.active.keys().next().map(|&(until, _)| until);
        let admission = match self.waiting.front(1).next() {
            Some(front) if self.config.enabled && self.room() > 0 => {
                let joined = self
                    .tokens
                    .get(&front)
                    .map_or(Timestamp::MIN, |t| t.joined_at);
                Some(self.next_admission_at.max(joined))
            }
            _ => None,
        };
        [drop_out, expiry, admission].into_iter().flatten().min()
    }

    /// Ends an active token because its holder paid; `None` if not active.
    pub fn end_by_payment(&mut self, token: QueueTokenId, now: Timestamp) -> Option<QueueEvent> {
        if self.tokens.get(&token)?.status != TokenStatus::Active {
            return None;
        }
        let event = QueueEvent::Ended { token, at: now };
        self.apply(&event);
        Some(event)
    }

    /// Active tokens, soonest to expire first.
    pub fn active_tokens(&self) -> impl Iterator<Item = &QueueToken> {
        self.active
            .values()
            .filter_map(|token| self.tokens.get(token))
    }

    /// Tokens a hold may still be paid under: ACTIVE ones, and ones whose
    /// active time ran out after `cutoff` (API.md: a hold made under an ACTIVE
    /// token can be paid until the hold's own expiry). Linear: for restarts.
    pub fn payable_tokens_since(&self, cutoff: Timestamp) -> impl Iterator<Item = &QueueToken> {
        self.tokens.values().filter(move |t| match t.status {
            TokenStatus::Active => true,
            TokenStatus::Expired => t.active_until.is_some_and(|until| until > cutoff),
            TokenStatus::Waiting | TokenStatus::Ended => false,
        })
    }

    pub fn waiting_len(&self) -> usize {
        self.waiting.len()
    }

    pub fn active_len(&self) -> usize {
        self.active.len()
    }

    /// Admissions per second: measured from recent admissions, or the
    /// configured pace (batch_size per interval) before any. Only for the ETA.
    pub fn admission_rate_per_sec(&self) -> f64 {
        self.admission_rate
            .per_sec(self.config.interval_ms)
            .filter(|rate| rate.is_finite() && *rate > 0.0)
            .unwrap_or_else(|| self.configured_rate_per_sec())
    }

    /// Poll times are not durable: after a restart, every waiting token counts
    /// as polled now, so a restart does not drop the whole line.
    pub fn after_recovery(&mut self, now: Timestamp) {
        self.liveness.reset(self.waiting.iter(), now);
    }

    /// Applies an event. Total for every event the commands produce; an event
    /// naming a token not in the expected state (impossible from the commands)
    /// is skipped for that token, so recovery never stops on it.
    pub fn apply(&mut self, event: &QueueEvent) {
        match event {
            QueueEvent::Joined { token, user, at } => self.apply_joined(*token, *user, *at),
            QueueEvent::Admitted { tokens, at, until } => {
                for &token in tokens {
                    self.apply_admitted(token, *at, *until);
                }
                self.admission_rate.record(*at, tokens.len());
                self.next_admission_at = at.plus_millis(self.config.interval_ms);
            }
            QueueEvent::DroppedOut { tokens, at } => {
                for &token in tokens {
                    self.finish(token, TokenStatus::Waiting, TokenStatus::Expired, *at);
                }
            }
            QueueEvent::ActiveExpired { tokens, at } => {
                for &token in tokens {
                    self.finish(token, TokenStatus::Active, TokenStatus::Expired, *at);
                }
            }
            QueueEvent::Ended { token, at } => {
                self.finish(*token, TokenStatus::Active, TokenStatus::Ended, *at);
            }
        }
    }

    /// Checks every structural invariant. Linear (times log n): for tests.
    pub fn check_invariants(&self) -> Result<(), String> {
        self.waiting.check()?;
        self.liveness.check()?;
        if self.tokens.len() != self.latest_by_user.len() {
            return Err("a token is kept that is no user's latest".into());
        }
        for (user, token) in &self.latest_by_user {
            match self.tokens.get(token) {
                Some(record) if record.user == *user && record.token == *token => {}
                _ => {
                    return Err(format!(
                        "user {user}'s latest token {token} is missing or theirs not"
                    ))
                }
            }
        }
        let mut waiting = 0usize;
        let mut active = 0usize;
        for record in self.tokens.values() {
            check_token_fields(record)?;
            if record.seq >= self.next_seq {
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
                TokenStatus::Ended | TokenStatus::Expired => {}
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
        if waiting != self.waiting.len() {
            return Err(format!(
                "{waiting} waiting tokens, line holds {}",
                self.waiting.len()
            ));
        }
        for (seq, token) in self.waiting.iter() {
            if self.tokens.get(&token).map(|t| (t.seq, t.status))
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
        if self.admission_rate.samples() > RATE_SAMPLES {
            return Err("admission rate keeps more than RATE_SAMPLES samples".into());
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
        for (token, seq) in self.liveness.tokens() {
            if self.tokens.get(&token).map(|t| (t.seq, t.status))
                != Some((seq, TokenStatus::Waiting))
            {
                return Err(format!(
                    "poll time kept for token {token}, which is not waiting"
                ));
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

    fn estimated_wait_seconds(&self, position: u64) -> u64 {
        let seconds = (position as f64 / self.admission_rate_per_sec()).ceil();
        // `as` saturates for floats; the rate is positive so this is finite.
        seconds as u64
    }

    fn apply_joined(&mut self, token: QueueTokenId, user: UserId, at: Timestamp) {
        debug_assert!(
            !self.tokens.contains_key(&token),
            "token {token} joined twice"
        );
        if let Some(previous) = self.latest_by_user.insert(user, token) {
            if let Some(old) = self.tokens.remove(&previous) {
                debug_assert!(!old.status.is_live(), "user {user} joined twice while live");
                self.unindex(&old);
            }
        }
        let seq = self.next_seq;
        self.next_seq = seq
            .checked_add(1)
            .expect("2^64 joins cannot happen in one queue's life");
        self.tokens.insert(
            token,
            QueueToken {
                token,
                user,
                status: TokenStatus::Waiting,
                seq,
                joined_at: at,
                admitted_at: None,
                active_until: None,
                ended_at: None,
            },
        );
        self.waiting.push(seq, token);
        self.liveness.record(token, seq, at);
    }

    fn apply_admitted(&mut self, token: QueueTokenId, at: Timestamp, until: Timestamp) {
        let Some(record) = self.tokens.get_mut(&token) else {
            debug_assert!(false, "admitted unknown token {token}");
            return;
        };
        if record.status != TokenStatus::Waiting {
            debug_assert!(false, "admitted token {token} that was not waiting");
            return;
        }
        let seq = record.seq;
        record.status = TokenStatus::Active;
        record.admitted_at = Some(at);
        record.active_until = Some(until);
        self.waiting.remove(seq);
        self.liveness.forget(token);
        self.active.insert((until, seq), token);
        self.last_admitted_seq = Some(self.last_admitted_seq.map_or(seq, |last| last.max(seq)));
    }

    /// Moves `token` from `from` to the finished status `to`.
    fn finish(&mut self, token: QueueTokenId, from: TokenStatus, to: TokenStatus, at: Timestamp) {
        debug_assert!(!to.is_live());
        let Some(record) = self.tokens.get(&token) else {
            debug_assert!(false, "finished unknown token {token}");
            return;
        };
        if record.status != from {
            debug_assert!(
                false,
                "token {token} is {:?}, expected {from:?}",
                record.status
            );
            return;
        }
        let snapshot = record.clone();
        self.unindex(&snapshot);
        if let Some(record) = self.tokens.get_mut(&token) {
            record.status = to;
            record.ended_at = Some(at);
        }
    }

    /// Removes a token from the waiting line, poll times and active index.
    fn unindex(&mut self, record: &QueueToken) {
        match record.status {
            TokenStatus::Waiting => {
                self.waiting.remove(record.seq);
                self.liveness.forget(record.token);
            }
            TokenStatus::Active => {
                if let Some(until) = record.active_until {
                    self.active.remove(&(until, record.seq));
                }
            }
            TokenStatus::Ended | TokenStatus::Expired => {}
        }
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
        TokenStatus::Waiting => shape == (false, false, false),
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
