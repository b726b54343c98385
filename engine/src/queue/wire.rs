//! How a [`Queue`] is stored in snapshots, and when two queues are equal.
//!
//! The stored shape is the one the queue always had (a map of each kept
//! token by id, each user's latest token, the line as a map of join number
//! to token, then the other fields in their order), written from and read
//! into the compact form the queue keeps in memory (`token_table`, the
//! line's slots). So a data dir written before the compact form loads, and
//! one written now loads in a build from before: bincode is positional and
//! the bytes have not changed shape. Reading goes through the old shape
//! (`Stored`), so a load briefly holds both forms.

use super::exit_rate::ExitRate;
use super::forecast::{Cohorts, Memo};
use super::liveness::Liveness;
use super::token_table::TokenTable;
use super::waiting_line::{WaitingLine, MAX_SEQ_SPAN};
use super::{Queue, QueueConfig, QueueToken, TokenStatus};
use crate::{QueueTokenId, Timestamp, UserId};
use serde::ser::{SerializeMap, SerializeStruct};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::{BTreeMap, HashMap};

/// The stored shape, field for field (the live-only poll times were never
/// stored).
#[derive(Deserialize)]
#[serde(rename = "Queue")]
struct Stored {
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

/// The kept tokens as the map `tokens` was.
struct Tokens<'a>(&'a TokenTable);

impl Serialize for Tokens<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for token in self.0.values() {
            map.serialize_entry(&token.token, &token)?;
        }
        map.end()
    }
}

/// Each user's latest token, as the map `latest_by_user` was.
struct Latest<'a>(&'a TokenTable);

impl Serialize for Latest<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for token in self.0.values() {
            map.serialize_entry(&token.user, &token.token)?;
        }
        map.end()
    }
}

/// The line as the map of join number to token it was.
struct Line<'a>(&'a Queue);

impl Serialize for Line<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let queue = self.0;
        let mut map = serializer.serialize_map(Some(queue.waiting.len()))?;
        for (seq, slot) in queue.waiting.iter() {
            map.serialize_entry(&seq, &queue.table.token_at(slot))?;
        }
        map.end()
    }
}

impl Serialize for Queue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut stored = serializer.serialize_struct("Queue", 12)?;
        stored.serialize_field("config", &self.config)?;
        stored.serialize_field("tokens", &Tokens(&self.table))?;
        stored.serialize_field("latest_by_user", &Latest(&self.table))?;
        stored.serialize_field("waiting", &Line(self))?;
        stored.serialize_field("active", &self.active)?;
        stored.serialize_field("next_seq", &self.next_seq)?;
        stored.serialize_field("next_admission_at", &self.next_admission_at)?;
        stored.serialize_field("last_admitted_seq", &self.last_admitted_seq)?;
        stored.serialize_field("exit_rate", &self.exit_rate)?;
        stored.serialize_field("pre_queue", &self.pre_queue)?;
        stored.serialize_field("pre_queue_seqs", &self.pre_queue_seqs)?;
        stored.serialize_field("shuffled", &self.shuffled)?;
        stored.end()
    }
}

impl<'de> Deserialize<'de> for Queue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let stored = Stored::deserialize(deserializer)?;
        Queue::from_stored(stored).map_err(serde::de::Error::custom)
    }
}

impl Queue {
    fn from_stored(stored: Stored) -> Result<Queue, String> {
        if stored.tokens.len() != stored.latest_by_user.len() {
            return Err("a stored queue keeps a token that is no user's latest".into());
        }
        let mut table = TokenTable::default();
        for (id, token) in &stored.tokens {
            if token.token != *id || stored.latest_by_user.get(&token.user) != Some(id) {
                return Err(format!("stored queue token {id} is not its user's latest"));
            }
            table.insert(token);
        }
        if let (Some((&first, _)), Some((&last, _))) = (
            stored.waiting.first_key_value(),
            stored.waiting.last_key_value(),
        ) {
            if last - first >= MAX_SEQ_SPAN {
                return Err("waiting line spans more than MAX_SEQ_SPAN join numbers".into());
            }
        }
        let mut waiting = WaitingLine::default();
        for (&seq, token) in &stored.waiting {
            let slot = table
                .slot_of(*token)
                .ok_or_else(|| format!("waiting token {token} is not kept"))?;
            waiting.push(seq, slot);
        }
        Ok(Queue {
            config: stored.config,
            table,
            waiting,
            active: stored.active,
            next_seq: stored.next_seq,
            next_admission_at: stored.next_admission_at,
            last_admitted_seq: stored.last_admitted_seq,
            exit_rate: stored.exit_rate,
            cohorts: Cohorts::default(),
            latest_event_at: Timestamp::MIN,
            forecast_memo: Memo::default(),
            pre_queue: stored.pre_queue,
            pre_queue_seqs: stored.pre_queue_seqs,
            shuffled: stored.shuffled,
            liveness: Liveness::default(),
            expected_stay_ms: None,
        }
        .with_derived_forecast_state())
    }

    /// The forecast's transient state, derived from the kept tokens: the
    /// latest time any of them shows, and the cohorts of those admitted
    /// within the last active time (a user's earlier tokens are not kept,
    /// so a cohort may count fewer than were admitted).
    fn with_derived_forecast_state(mut self) -> Queue {
        let mut admissions: Vec<(Timestamp, Option<Timestamp>)> = Vec::new();
        for token in self.table.values() {
            let times = [Some(token.joined_at), token.admitted_at, token.ended_at];
            if let Some(latest) = times.into_iter().flatten().max() {
                self.latest_event_at = self.latest_event_at.max(latest);
            }
            if let Some(admitted_at) = token.admitted_at {
                let paid_at = (token.status == TokenStatus::Ended)
                    .then_some(token.ended_at)
                    .flatten();
                admissions.push((admitted_at, paid_at));
            }
        }
        let active_ms = self.config.active_ms;
        let since = self.latest_event_at.plus_millis(-active_ms);
        admissions.retain(|&(admitted_at, _)| admitted_at >= since);
        admissions.sort();
        for &(admitted_at, _) in &admissions {
            self.cohorts.record_admissions(admitted_at, 1, active_ms);
        }
        for &(admitted_at, paid_at) in &admissions {
            if let Some(paid_at) = paid_at {
                self.cohorts.record_payment(admitted_at, paid_at);
            }
        }
        self
    }

    /// The line as (join number, token), front first.
    fn line(&self) -> Vec<(u64, QueueTokenId)> {
        self.waiting
            .iter()
            .map(|(seq, slot)| (seq, self.table.token_at(slot)))
            .collect()
    }
}

/// Equal when they keep the same tokens, line and counters, whatever slots,
/// poll times and expected stay each has (a queue rebuilt from its log
/// equals the live one).
impl PartialEq for Queue {
    fn eq(&self, other: &Self) -> bool {
        self.config == other.config
            && self.table == other.table
            && self.line() == other.line()
            && self.active == other.active
            && self.next_seq == other.next_seq
            && self.next_admission_at == other.next_admission_at
            && self.last_admitted_seq == other.last_admitted_seq
            && self.exit_rate == other.exit_rate
            && self.pre_queue == other.pre_queue
            && self.pre_queue_seqs == other.pre_queue_seqs
            && self.shuffled == other.shuffled
    }
}
