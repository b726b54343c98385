//! The durable home of decided idempotency keys once they have left their
//! actor's table, so that memory holds only recent keys while every key is
//! still honoured for [`RETENTION_MS`](super::RETENTION_MS).
//!
//! Why: keys must be kept at least 24 hours (API.md). Keeping them in the
//! actors' tables (and so in every snapshot) and in the in-memory index made
//! memory and snapshots grow with every keyed request of the last two days.
//!
//! Layout, in the store's metadata:
//! - `idem/k/<sha256 of the key, hex>`: the [`IdemRecord`] (key, digest,
//!   reply, time). The full key is in the value, so a lookup checks it. A
//!   cryptographic hash because keys are chosen by clients: a collision
//!   between two users' keys would let one overwrite the other's reply.
//! - `idem/t/<newest time, hex>/<first key's hash>`: up to
//!   [`KEYS_PER_EXPIRY_ENTRY`] key hashes archived together, listed in time
//!   order so that pruning reads only what has expired.
//!
//! Writers: a schedule's decided records come here continuously, a few
//! hundred milliseconds' worth at a time, through the key writer thread
//! (`key_writer.rs`); a wallet's (and, in deterministic runs, a schedule's)
//! on the actor's own thread. Either way a record is written here before
//! its actor's table forgets it, and so before the snapshot that lacks it:
//! such a snapshot is never durable without the record here (a flush makes
//! a prefix of the writes durable). [`KeyStore::put_all`] writes chunks of
//! up to [`KEYS_PER_EXPIRY_ENTRY`] records, each record and then the chunk's
//! expiry entry as plain inserts in that order (not an atomic batch, see
//! `write_chunk`): a durable expiry entry implies its records. Pruning deletes a record only if it is still the expired one: a
//! key reused after expiry is rewritten with a newer time. Each put and each
//! prune takes one lock so that check and delete are not split by a rewrite.

use boxoffice_engine::Timestamp;
use boxoffice_storage::limits::MAX_META_VALUE_BYTES;
use boxoffice_storage::{codec, put_meta_in_order, Store, StoreError};
use sha2::{Digest, Sha256};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::{IdemKey, IdemRecord, IdemState, RETENTION_MS};
use crate::store_writer;
use crate::work_times::Timings;

/// Every key-store name starts with this (crash points aim at its writes).
pub const KEY_STORE_PREFIX: &str = "idem/";
const KEY_PREFIX: &str = "idem/k/";
const EXPIRY_PREFIX: &str = "idem/t/";
/// Key hashes per expiry entry: 512 × 32 bytes stays well under the store's
/// limit on a metadata value.
pub const KEYS_PER_EXPIRY_ENTRY: usize = 512;
/// Expiry entries one prune call reads at most (it is called again later).
const PRUNE_PAGE: usize = 64;

/// How [`KeyStore::put_all`] spaces its store writes.
#[derive(Clone, Copy, Debug)]
pub struct KeyPacing {
    /// Keys per store write (1 to [`KEYS_PER_EXPIRY_ENTRY`]).
    pub keys_per_write: usize,
    /// The longest pause after a write (see [`store_writer::write_paced`]).
    pub longest_pause: Duration,
}

impl KeyPacing {
    /// As many keys per write as an expiry entry lists, no pause: for a
    /// writer on an actor's own thread, which should finish soon.
    pub const INLINE: KeyPacing = KeyPacing {
        keys_per_write: KEYS_PER_EXPIRY_ENTRY,
        longest_pause: Duration::ZERO,
    };
}

type KeyHash = [u8; 32];

/// Records being archived together (one store write): their store entries,
/// their key hashes (the expiry entry) and the newest time among them.
struct Chunk<'a> {
    entries: Vec<(String, Vec<u8>)>,
    hashes: Vec<KeyHash>,
    newest: Timestamp,
    records: Vec<&'a IdemRecord>,
}

impl Default for Chunk<'_> {
    fn default() -> Self {
        Chunk {
            entries: Vec::with_capacity(KEYS_PER_EXPIRY_ENTRY + 1),
            hashes: Vec::with_capacity(KEYS_PER_EXPIRY_ENTRY),
            newest: Timestamp::MIN,
            records: Vec::with_capacity(KEYS_PER_EXPIRY_ENTRY),
        }
    }
}

fn hash(key: &IdemKey) -> Result<KeyHash, StoreError> {
    Ok(Sha256::digest(codec::encode(key)?).into())
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    push_hex(&mut out, bytes);
    out
}

/// Lower-case hex, two digits a byte, as `{:02x}` writes it. A table, not
/// `format!` per byte: every new key's lookup names its record (issue 21's
/// profile put 32 formatted bytes at 5% of an HTTP worker's time).
fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
}

fn record_name(hash: &KeyHash) -> String {
    let mut name = String::with_capacity(KEY_PREFIX.len() + 2 * hash.len());
    name.push_str(KEY_PREFIX);
    push_hex(&mut name, hash);
    name
}

fn expiry_name(newest: Timestamp, first: &KeyHash) -> String {
    // Times before the epoch never occur in practice; clamping keeps the
    // fixed-width hex sortable.
    format!("{EXPIRY_PREFIX}{:016x}/{}", newest.0.max(0), hex(first))
}

/// The time encoded in an expiry entry's name.
fn expiry_time(name: &str) -> Option<Timestamp> {
    let rest = name.strip_prefix(EXPIRY_PREFIX)?;
    let (time, _) = rest.split_once('/')?;
    i64::from_str_radix(time, 16).ok().map(Timestamp)
}

pub struct KeyStore {
    store: Arc<dyn Store>,
    writes: Mutex<()>,
}

impl KeyStore {
    pub fn new(store: Arc<dyn Store>) -> KeyStore {
        KeyStore {
            store,
            writes: Mutex::new(()),
        }
    }

    /// Writes every decided record that fits, `pacing.keys_per_write` per
    /// store write (each with its expiry entry), pausing between writes as
    /// [`store_writer::write_paced`] does and timing each write into
    /// `timings`; returns the ones written (a reply too large for a metadata
    /// value stays with its actor).
    pub fn put_all<'a>(
        &self,
        records: impl IntoIterator<Item = &'a IdemRecord>,
        pacing: KeyPacing,
        timings: &Timings,
    ) -> Result<Vec<&'a IdemRecord>, StoreError> {
        let per_write = pacing.keys_per_write.clamp(1, KEYS_PER_EXPIRY_ENTRY);
        let mut chunks = Vec::new();
        let mut chunk = Chunk::default();
        for record in records {
            debug_assert!(matches!(record.state, IdemState::Done(_)));
            let bytes = codec::encode(record)?;
            if bytes.len() > MAX_META_VALUE_BYTES {
                tracing::warn!(
                    bytes = bytes.len(),
                    "idempotency reply too large to archive; kept in memory"
                );
                continue;
            }
            let key_hash = hash(&record.key)?;
            chunk.entries.push((record_name(&key_hash), bytes));
            chunk.hashes.push(key_hash);
            chunk.newest = chunk.newest.max(record.at);
            chunk.records.push(record);
            if chunk.hashes.len() == per_write {
                chunks.push(std::mem::take(&mut chunk));
            }
        }
        if !chunk.hashes.is_empty() {
            chunks.push(chunk);
        }
        let mut written = Vec::new();
        store_writer::write_paced(chunks.len(), pacing.longest_pause, timings, |n| {
            let chunk = &mut chunks[n];
            let took = store_writer::timed(|| self.write_chunk(chunk))?;
            written.extend(chunk.records.iter().copied());
            Ok(took)
        })?;
        Ok(written)
    }

    /// Writes a chunk's records and then their expiry entry, as plain
    /// inserts in that order ([`put_meta_in_order`]), not as one store batch:
    /// sled applies a batch under its global write lock, and the key
    /// writer's batches of 128 keys held it about a fifth of the time in an
    /// on-sale (8.2 s of 40, issue 21), every log append waiting behind
    /// them. An insert costs the same either way (~8-12 µs for a 187-byte
    /// record under its 71-byte name; raw `2026-12-07/keys21-session14.txt`,
    /// section session 15). In that order, a durable expiry entry implies its
    /// records; records a crash leaves without their entry are still in
    /// their actor's table (it forgets them only after this returned) and
    /// are written again, with an entry. [`KeyStore`]'s own lock is taken per
    /// chunk, so that a paced writer does not hold it through its pauses.
    fn write_chunk(&self, chunk: &mut Chunk<'_>) -> Result<(), StoreError> {
        debug_assert!(!chunk.hashes.is_empty() && chunk.hashes.len() <= KEYS_PER_EXPIRY_ENTRY);
        let expiry = (
            expiry_name(chunk.newest, &chunk.hashes[0]),
            codec::encode(&chunk.hashes)?,
        );
        chunk.entries.push(expiry);
        let _writes = self.writes.lock().unwrap_or_else(PoisonError::into_inner);
        put_meta_in_order(self.store.as_ref(), &chunk.entries)
    }

    /// The archived record of `key`, if any (expired or not: the caller decides).
    pub fn get(&self, key: &IdemKey) -> Result<Option<IdemRecord>, StoreError> {
        let name = record_name(&hash(key)?);
        let Some(bytes) = self.store.get_meta(&name)? else {
            return Ok(None);
        };
        let record: IdemRecord = codec::decode(&bytes)
            .map_err(|e| StoreError::Corrupt(format!("idempotency record {name}: {e}")))?;
        // Equal hashes of different keys would need a SHA-256 collision.
        assert_eq!(
            &record.key, key,
            "idempotency record {name} holds another key"
        );
        Ok(Some(record))
    }

    /// Deletes the records whose retention ended before `now`, reading at
    /// most `max_entries` expiry entries. Returns how many records it deleted.
    pub fn prune(&self, now: Timestamp, max_entries: usize) -> Result<usize, StoreError> {
        let _writes = self.writes.lock().unwrap_or_else(PoisonError::into_inner);
        let horizon = now.plus_millis(-RETENTION_MS);
        let mut deleted = 0;
        let mut read = 0;
        while read < max_entries {
            let page = self
                .store
                .list_meta(EXPIRY_PREFIX, PRUNE_PAGE.min(max_entries - read))?;
            let page_len = page.len();
            for name in page {
                let newest = expiry_time(&name).ok_or_else(|| {
                    StoreError::Corrupt(format!("idempotency expiry entry {name}"))
                })?;
                if newest >= horizon {
                    return Ok(deleted);
                }
                read += 1;
                deleted += self.prune_entry(&name, horizon)?;
            }
            if page_len == 0 {
                break;
            }
        }
        Ok(deleted)
    }

    fn prune_entry(&self, name: &str, horizon: Timestamp) -> Result<usize, StoreError> {
        let mut deleted = 0;
        if let Some(bytes) = self.store.get_meta(name)? {
            let hashes: Vec<KeyHash> = codec::decode(&bytes).map_err(|e| {
                StoreError::Corrupt(format!("idempotency expiry entry {name}: {e}"))
            })?;
            for key_hash in &hashes {
                let record_name = record_name(key_hash);
                let Some(bytes) = self.store.get_meta(&record_name)? else {
                    continue;
                };
                let record: IdemRecord = codec::decode(&bytes).map_err(|e| {
                    StoreError::Corrupt(format!("idempotency record {record_name}: {e}"))
                })?;
                // A key reused after it expired was archived again, newer.
                if record.at < horizon {
                    self.store.delete_meta(&record_name)?;
                    deleted += 1;
                }
            }
        }
        self.store.delete_meta(name)?;
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idempotency::{Endpoint, RequestDigest};
    use crate::receipt::{ChargeReceipt, StoredReply};
    use boxoffice_engine::ids::{TransactionId, UserId};
    use boxoffice_engine::Money;
    use boxoffice_storage::MemoryStore;

    fn record(key: &str, at: i64) -> IdemRecord {
        IdemRecord {
            key: IdemKey {
                user: UserId::from_random_bytes([1; 16]),
                endpoint: Endpoint::Charges,
                key: key.into(),
            },
            digest: RequestDigest([7; 32]),
            state: IdemState::Done(StoredReply::Charge(Ok(ChargeReceipt {
                transaction_id: TransactionId::from_random_bytes([2; 16]),
                amount: Money(5),
                balance: Money(5),
                charged_at: Timestamp(at),
            }))),
            at: Timestamp(at),
        }
    }

    #[test]
    fn record_names_are_spelled_as_before_the_hex_table() {
        // Names already in data dirs were written with `format!("{b:02x}")`
        // per byte: a record must be found under the same name.
        let all: Vec<u8> = (0..=255).collect();
        let formatted: String = all.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex(&all), formatted);
        let key_hash: KeyHash = std::array::from_fn(|i| (i * 37 + 11) as u8);
        let old_name = format!(
            "{KEY_PREFIX}{}",
            key_hash
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        );
        assert_eq!(record_name(&key_hash), old_name);
    }

    #[test]
    fn archived_records_are_found_until_pruned_after_retention() {
        let store = Arc::new(MemoryStore::new());
        let keys = KeyStore::new(store.clone());
        let records: Vec<IdemRecord> = (0..1_200).map(|i| record(&format!("k{i}"), i)).collect();
        assert_eq!(
            keys.put_all(&records, KeyPacing::INLINE, &Timings::default())
                .unwrap()
                .len(),
            1_200
        );
        // 1,200 keys in entries of 512: three entries.
        assert_eq!(store.list_meta(EXPIRY_PREFIX, 100).unwrap().len(), 3);
        assert_eq!(
            keys.get(&records[7].key).unwrap().as_ref(),
            Some(&records[7])
        );
        assert_eq!(keys.get(&record("absent", 0).key).unwrap(), None);

        // Within retention nothing goes.
        assert_eq!(keys.prune(Timestamp(RETENTION_MS), 100).unwrap(), 0);
        // The first entry (keys 0..512, newest 511) expires first.
        assert_eq!(keys.prune(Timestamp(RETENTION_MS + 512), 100).unwrap(), 512);
        assert_eq!(keys.get(&records[511].key).unwrap(), None);
        assert!(keys.get(&records[512].key).unwrap().is_some());
        assert_eq!(store.list_meta(EXPIRY_PREFIX, 100).unwrap().len(), 2);
    }

    #[test]
    fn a_key_archived_again_after_expiry_survives_the_old_entry_prune() {
        let store = Arc::new(MemoryStore::new());
        let keys = KeyStore::new(store.clone());
        keys.put_all([&record("k", 0)], KeyPacing::INLINE, &Timings::default())
            .unwrap();
        let again = record("k", RETENTION_MS + 10);
        keys.put_all([&again], KeyPacing::INLINE, &Timings::default())
            .unwrap();
        assert_eq!(keys.prune(Timestamp(RETENTION_MS + 5), 100).unwrap(), 0);
        assert_eq!(keys.get(&again.key).unwrap(), Some(again.clone()));
        assert_eq!(store.list_meta(EXPIRY_PREFIX, 100).unwrap().len(), 1);
        assert_eq!(keys.prune(Timestamp(2 * RETENTION_MS + 11), 1).unwrap(), 1);
        assert!(store.list_meta("idem/", 100).unwrap().is_empty());
    }
}
