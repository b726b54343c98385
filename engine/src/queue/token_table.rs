//! Every token a queue keeps (each user's latest), stored compactly: the
//! waiting room's memory is mostly this table, one entry per user who ever
//! joined (issue 13: 100,000 waiting users under 50 MB for the whole server).
//!
//! Each user has one slot, a fixed-size [`Record`] in chunks that never move
//! (no doubling reallocation of the whole table while a crowd joins); a new
//! token of the same user overwrites the slot. Lookups by token and by user
//! are hash tables of slot numbers (4 bytes an entry) that hash the id found
//! in the slot, so no id is stored twice. Optional times are stored with
//! `Timestamp::MIN` for "none" (the clock never gives it). Other parts of the
//! queue (the waiting line) name a token by its slot.
//!
//! The table answers [`QueueToken`]s by value: callers never hold a
//! reference into it. It is not serialized itself: `Queue` writes it as the
//! map of tokens it always wrote (see `queue::wire`).

use super::{QueueToken, TokenStatus};
use crate::{QueueTokenId, Timestamp, UserId};
use hashbrown::HashTable;
use std::hash::{BuildHasher, Hash, RandomState};

/// Records per chunk: 4,096 × 88 bytes, about 360 KB; at most one chunk is
/// partly empty.
const CHUNK: usize = 4_096;
/// "None" for an optional time.
const NO_TIME: Timestamp = Timestamp::MIN;
/// "None" for a pre-queue arrival index (the pre-queue holds at most
/// `MAX_WAITING`, far below it).
const NO_INDEX: u32 = u32::MAX;

/// One token, 88 bytes (a `QueueToken` is 120, and a hash map entry keyed by
/// its id 137 more per user before).
#[derive(Clone, Debug)]
struct Record {
    token: QueueTokenId,
    user: UserId,
    seq: u64,
    joined_at: Timestamp,
    admitted_at: Timestamp,
    active_until: Timestamp,
    ended_at: Timestamp,
    /// Transient (see `liveness`): the last poll this queue knows of, while
    /// waiting; `NO_TIME` otherwise.
    last_poll: Timestamp,
    pre_queue_index: u32,
    status: TokenStatus,
}

fn some(at: Timestamp) -> Option<Timestamp> {
    (at != NO_TIME).then_some(at)
}

impl Record {
    fn of(token: &QueueToken) -> Record {
        let time = |at: Option<Timestamp>| {
            debug_assert!(at != Some(NO_TIME), "Timestamp::MIN is no clock time");
            at.unwrap_or(NO_TIME)
        };
        Record {
            token: token.token,
            user: token.user,
            seq: token.seq,
            joined_at: token.joined_at,
            admitted_at: time(token.admitted_at),
            active_until: time(token.active_until),
            ended_at: time(token.ended_at),
            last_poll: NO_TIME,
            pre_queue_index: token
                .pre_queue_index
                .map_or(NO_INDEX, |index| u32::try_from(index).unwrap_or(NO_INDEX)),
            status: token.status,
        }
    }

    fn to_token(&self) -> QueueToken {
        QueueToken {
            token: self.token,
            user: self.user,
            status: self.status,
            seq: self.seq,
            joined_at: self.joined_at,
            admitted_at: some(self.admitted_at),
            active_until: some(self.active_until),
            ended_at: some(self.ended_at),
            pre_queue_index: (self.pre_queue_index != NO_INDEX)
                .then_some(u64::from(self.pre_queue_index)),
        }
    }
}

#[derive(Clone, Debug, Default)]
pub(super) struct TokenTable {
    chunks: Vec<Vec<Record>>,
    by_token: HashTable<u32>,
    by_user: HashTable<u32>,
    hasher: RandomState,
}

/// Equal when they keep the same tokens, whatever slots they sit in (a
/// queue loaded from a snapshot numbers its slots in another order).
impl PartialEq for TokenTable {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len()
            && self
                .values()
                .all(|token| other.get(token.token).as_ref() == Some(&token))
    }
}

impl TokenTable {
    pub fn len(&self) -> usize {
        self.by_user.len()
    }

    fn record(&self, slot: u32) -> &Record {
        in_chunks(&self.chunks, slot)
    }

    fn record_mut(&mut self, slot: u32) -> &mut Record {
        in_chunks_mut(&mut self.chunks, slot)
    }

    fn hash<T: Hash>(hasher: &RandomState, id: &T) -> u64 {
        hasher.hash_one(id)
    }

    /// The slot holding `token`.
    pub fn slot_of(&self, token: QueueTokenId) -> Option<u32> {
        let hash = Self::hash(&self.hasher, &token);
        self.by_token
            .find(hash, |&slot| self.record(slot).token == token)
            .copied()
    }

    fn slot_of_user(&self, user: UserId) -> Option<u32> {
        let hash = Self::hash(&self.hasher, &user);
        self.by_user
            .find(hash, |&slot| self.record(slot).user == user)
            .copied()
    }

    /// The token in `slot` (a slot the waiting line got from this table).
    pub fn token_at(&self, slot: u32) -> QueueTokenId {
        self.record(slot).token
    }

    pub fn contains(&self, token: QueueTokenId) -> bool {
        self.slot_of(token).is_some()
    }

    pub fn get(&self, token: QueueTokenId) -> Option<QueueToken> {
        self.slot_of(token).map(|slot| self.record(slot).to_token())
    }

    pub fn of_user(&self, user: UserId) -> Option<QueueToken> {
        self.slot_of_user(user)
            .map(|slot| self.record(slot).to_token())
    }

    /// Every token, in slot order.
    pub fn values(&self) -> impl Iterator<Item = QueueToken> + '_ {
        self.chunks
            .iter()
            .flat_map(|chunk| chunk.iter().map(Record::to_token))
    }

    /// Keeps `token` as its user's latest, in the user's slot; returns the
    /// user's previous token, now forgotten, and the slot.
    pub fn insert(&mut self, token: &QueueToken) -> (Option<QueueToken>, u32) {
        let record = Record::of(token);
        let user_hash = Self::hash(&self.hasher, &token.user);
        let token_hash = Self::hash(&self.hasher, &token.token);
        let Self {
            chunks,
            by_token,
            by_user,
            hasher,
        } = self;
        let existing = by_user
            .find(user_hash, |&slot| {
                in_chunks(chunks, slot).user == token.user
            })
            .copied();
        let (previous, slot) = match existing {
            Some(slot) => {
                let old = in_chunks(chunks, slot).to_token();
                let old_hash = Self::hash(hasher, &old.token);
                if let Ok(entry) = by_token.find_entry(old_hash, |&s| s == slot) {
                    entry.remove();
                }
                *in_chunks_mut(chunks, slot) = record;
                (Some(old), slot)
            }
            None => {
                let slot =
                    u32::try_from(by_user.len()).expect("fewer than 2^32 users join one queue");
                if chunks.last().is_none_or(|chunk| chunk.len() == CHUNK) {
                    chunks.push(Vec::with_capacity(CHUNK));
                }
                if let Some(chunk) = chunks.last_mut() {
                    chunk.push(record);
                }
                by_user.insert_unique(user_hash, slot, |&s| {
                    Self::hash(hasher, &in_chunks(chunks, s).user)
                });
                (None, slot)
            }
        };
        by_token.insert_unique(token_hash, slot, |&s| {
            Self::hash(hasher, &in_chunks(chunks, s).token)
        });
        (previous, slot)
    }

    /// Changes the token in place; false if it is not kept. The id and user
    /// must not change.
    pub fn modify(&mut self, token: QueueTokenId, change: impl FnOnce(&mut QueueToken)) -> bool {
        let Some(slot) = self.slot_of(token) else {
            return false;
        };
        let mut value = self.record(slot).to_token();
        change(&mut value);
        debug_assert_eq!((value.token, value.user), (token, self.record(slot).user));
        let last_poll = self.record(slot).last_poll;
        let record = self.record_mut(slot);
        *record = Record::of(&value);
        record.last_poll = last_poll;
        true
    }

    pub fn last_poll(&self, slot: u32) -> Option<Timestamp> {
        some(self.record(slot).last_poll)
    }

    pub fn set_last_poll(&mut self, slot: u32, at: Option<Timestamp>) {
        self.record_mut(slot).last_poll = at.unwrap_or(NO_TIME);
    }

    /// Both lookups find every record, and only those. Linear: for tests.
    pub fn check(&self) -> Result<(), String> {
        let count: usize = self.chunks.iter().map(Vec::len).sum();
        if self.by_user.len() != count || self.by_token.len() != count {
            return Err(format!(
                "{count} token records, {} by user, {} by token",
                self.by_user.len(),
                self.by_token.len()
            ));
        }
        for slot in 0..count as u32 {
            let record = self.record(slot);
            if self.slot_of(record.token) != Some(slot)
                || self.slot_of_user(record.user) != Some(slot)
            {
                return Err(format!("token {} is not found in its slot", record.token));
            }
        }
        Ok(())
    }
}

fn in_chunks(chunks: &[Vec<Record>], slot: u32) -> &Record {
    let slot = slot as usize;
    &chunks[slot / CHUNK][slot % CHUNK]
}

fn in_chunks_mut(chunks: &mut [Vec<Record>], slot: u32) -> &mut Record {
    let slot = slot as usize;
    &mut chunks[slot / CHUNK][slot % CHUNK]
}
