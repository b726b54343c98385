//! The archive of wallet ledgers: where a wallet's older entries go so that
//! memory (and every wallet snapshot) holds only the newest ones, however
//! many charges, payments and refunds a user makes.
//!
//! When: at snapshot time, for each wallet holding more than
//! `EngineConfig::archive_ledger_after` (default
//! [`LEDGER_ENTRIES_IN_MEMORY`]) entries; all of them move. The wallet keeps
//! their count and sums (`boxoffice_engine::wallet::ArchivedLedger`), so an
//! entry's sequence number (0-based, oldest first) is fixed for ever.
//!
//! Layout, in the store's metadata, keyed by owner:
//! - `ledger/<user>/e/<sequence, 16 hex digits>`: the `LedgerEntry`. A page
//!   (newest first) is a range of sequence numbers: at most a page of point
//!   reads, whatever the history.
//! - `ledger/<user>/t/<transaction>`: the entry's sequence number. Replay
//!   uses it to refuse a logged event repeating an archived transaction.
//! - `ledger/<user>/d/<payment>` and `ledger/<user>/r/<payment>`: the
//!   sequence number of a payment's debit and refund entries, for the
//!   balance a retried saga step answers with once its entry left memory.
//!
//! Crash safety, as for the reservation archive (`schedule_actor/archive.rs`):
//! the entries are written before the snapshot that forgets them, and a
//! flush makes a prefix of the writes durable in order, so a snapshot that
//! forgot an entry is never durable without it. A crash before that
//! snapshot recovers the older snapshot and its log, which rebuild the same
//! entries at the same sequence numbers; the next snapshot writes them
//! again (the same bytes). If a write fails, the wallet forgets nothing and
//! the next snapshot retries. Entries are never deleted.

use boxoffice_engine::ids::*;
use boxoffice_engine::wallet::{LedgerEntry, LedgerKind, Wallet};
use boxoffice_storage::{codec, Store, StoreError};
use std::ops::Range;

/// Ledger entries a wallet keeps in memory before a snapshot archives them.
/// Bounds a wallet's ledger in memory at this plus the entries made in one
/// snapshot interval (`EngineConfig::snapshot_every_events` per shard).
pub const LEDGER_ENTRIES_IN_MEMORY: usize = 64;

/// Every ledger archive name starts with this.
pub const LEDGER_PREFIX: &str = "ledger/";

fn entry_key(user: UserId, sequence: u64) -> String {
    format!("{LEDGER_PREFIX}{user}/e/{sequence:016x}")
}

fn transaction_key(user: UserId, transaction: TransactionId) -> String {
    format!("{LEDGER_PREFIX}{user}/t/{transaction}")
}

fn payment_key(user: UserId, payment: PaymentId, kind: LedgerKind) -> Option<String> {
    let tag = match kind {
        LedgerKind::Payment => "d",
        LedgerKind::Refund => "r",
        LedgerKind::Charge => return None,
    };
    Some(format!("{LEDGER_PREFIX}{user}/{tag}/{payment}"))
}

/// Writes every entry `wallet` holds in memory (durable with the next
/// flush) and returns how many, for `Wallet::forget_archived`.
pub fn write_recent(store: &dyn Store, wallet: &Wallet) -> Result<usize, StoreError> {
    let user = wallet.user();
    let first = wallet.archived_ledger().entries;
    let entries = wallet.recent_ledger();
    for (offset, entry) in entries.iter().enumerate() {
        let sequence = first + offset as u64;
        let encoded_sequence = codec::encode(&sequence)?;
        store.put_meta(&entry_key(user, sequence), &codec::encode(entry)?)?;
        store.put_meta(
            &transaction_key(user, entry.transaction_id),
            &encoded_sequence,
        )?;
        if let Some(key) = entry
            .reference
            .and_then(|payment| payment_key(user, payment, entry.kind))
        {
            store.put_meta(&key, &encoded_sequence)?;
        }
    }
    Ok(entries.len())
}

fn decode_sequence(key: &str, bytes: &[u8]) -> Result<u64, StoreError> {
    codec::decode(bytes).map_err(|e| StoreError::Corrupt(format!("ledger index {key}: {e}")))
}

/// The archived entry `sequence` of `user`'s ledger.
pub fn read_entry(
    store: &dyn Store,
    user: UserId,
    sequence: u64,
) -> Result<LedgerEntry, StoreError> {
    let key = entry_key(user, sequence);
    // Present: the wallet counted it archived only once it was written.
    let bytes = store
        .get_meta(&key)?
        .ok_or_else(|| StoreError::Corrupt(format!("archived ledger entry {key} is missing")))?;
    codec::decode(&bytes).map_err(|e| StoreError::Corrupt(format!("ledger entry {key}: {e}")))
}

/// The archived entries `sequences` of `user`'s ledger, newest first.
pub fn read_newest_first(
    store: &dyn Store,
    user: UserId,
    sequences: Range<u64>,
) -> Result<Vec<LedgerEntry>, StoreError> {
    sequences
        .rev()
        .map(|sequence| read_entry(store, user, sequence))
        .collect()
}

/// The sequence number of `transaction` in `user`'s archived ledger, if it
/// was archived.
pub fn archived_sequence_of(
    store: &dyn Store,
    user: UserId,
    transaction: TransactionId,
) -> Result<Option<u64>, StoreError> {
    let key = transaction_key(user, transaction);
    store
        .get_meta(&key)?
        .map(|bytes| decode_sequence(&key, &bytes))
        .transpose()
}

/// The archived entry of `payment`'s debit (`LedgerKind::Payment`) or
/// refund, if it was archived.
pub fn archived_payment_entry(
    store: &dyn Store,
    user: UserId,
    payment: PaymentId,
    kind: LedgerKind,
) -> Result<Option<LedgerEntry>, StoreError> {
    let Some(key) = payment_key(user, payment, kind) else {
        return Ok(None);
    };
    let Some(bytes) = store.get_meta(&key)? else {
        return Ok(None);
    };
    let sequence = decode_sequence(&key, &bytes)?;
    read_entry(store, user, sequence).map(Some)
}

/// The whole ledger of `wallet`, oldest first: the archived entries read
/// back, then those in memory. Linear in the history: for audits and tests.
pub fn full_ledger(store: &dyn Store, wallet: &Wallet) -> Result<Vec<LedgerEntry>, StoreError> {
    let mut entries = read_archived(store, wallet)?;
    entries.extend_from_slice(wallet.recent_ledger());
    Ok(entries)
}

/// The archived part of `wallet`'s ledger, oldest first.
pub fn read_archived(store: &dyn Store, wallet: &Wallet) -> Result<Vec<LedgerEntry>, StoreError> {
    (0..wallet.archived_ledger().entries)
        .map(|sequence| read_entry(store, wallet.user(), sequence))
        .collect()
}

/// `Wallet::check_with_archive` against the entries in the store.
pub fn check_with_archive(store: &dyn Store, wallet: &Wallet) -> Result<(), StoreError> {
    let archived = read_archived(store, wallet)?;
    wallet
        .check_with_archive(&archived)
        .map_err(|broken| StoreError::Corrupt(format!("wallet {}: {broken}", wallet.user())))
}

/// Where a page of a ledger (newest first) lies: entries still in memory,
/// and a range of archived sequence numbers to read from the store.
#[derive(Debug, Default)]
pub struct LedgerPage {
    /// The page's entries still in memory, newest first (they come first).
    pub recent: Vec<LedgerEntry>,
    /// The page's archived entries, read newest first after `recent`.
    pub archived: Range<u64>,
    /// Entries in the whole ledger.
    pub total: u64,
}

impl LedgerPage {
    /// The page `offset..offset + limit` (newest first) of `wallet`'s ledger.
    pub fn of(wallet: &Wallet, offset: usize, limit: usize) -> LedgerPage {
        let total = wallet.ledger_len();
        let archived = wallet.archived_ledger().entries;
        // Newest first: position p is sequence total - 1 - p.
        let end = total.saturating_sub(offset as u64);
        let start = end.saturating_sub(limit as u64);
        let recent = wallet.recent_ledger()
            [(start.max(archived) - archived) as usize..(end.max(archived) - archived) as usize]
            .iter()
            .rev()
            .cloned()
            .collect();
        LedgerPage {
            recent,
            archived: start.min(archived)..end.min(archived),
            total,
        }
    }
}

#[cfg(test)]
mod tests {
    //! Through the registry on the memory store: a long ledger moves to the
    //! store at a snapshot, pages read the same before and after and across
    //! a restart, a retried saga step finds its archived entry, replay
    //! refuses a record repeating an archived charge, and a snapshot of the
    //! previous format (whole ledger inside) loads and is archived later.

    use super::*;
    use crate::journal::Record;
    use crate::journal::ReplyAt;
    use crate::wallet_actor::{
        log_name, Debit, ExportWallets, Refund, WalletLogEvent, WalletShardState,
    };
    use crate::{EngineConfig, IdSource, ManualClock, Registry};
    use boxoffice_engine::wallet::{WalletEvent, WalletPreviousFormat};
    use boxoffice_engine::{Money, Timestamp};
    use boxoffice_storage::MemoryStore;
    use serde::Serialize;
    use std::collections::HashMap;
    use std::sync::Arc;

    const T0: Timestamp = Timestamp(1_773_568_800_000);
    const KEEP: usize = 4;

    async fn engine(store: Arc<MemoryStore>, seed: u64) -> Arc<Registry> {
        let config = EngineConfig {
            wallet_shards: 1,
            snapshot_every_events: 8,
            archive_ledger_after: KEEP,
            // These tests charge one user hundreds of times in one day.
            wallet_limits: boxoffice_engine::wallet::WalletLimits {
                max_charges_per_day: u32::MAX,
                ..Default::default()
            },
            ..EngineConfig::default()
        };
        Registry::start(
            store,
            Arc::new(ManualClock::new(T0)),
            Arc::new(IdSource::seeded(seed)),
            config,
        )
        .await
        .expect("engine starts")
    }

    fn user() -> UserId {
        UserId::from_random_bytes([3; 16])
    }

    /// (kind, amount, balance after) of every entry, newest first, read page by page.
    async fn read_all_pages(
        registry: &Registry,
        page: usize,
    ) -> (Vec<(LedgerKind, i64, i64)>, usize) {
        let mut all = Vec::new();
        let mut total = 0;
        for offset in (0..).step_by(page) {
            let (entries, count) = registry.ledger(user(), offset, page).await.expect("page");
            total = count;
            if entries.is_empty() {
                break;
            }
            all.extend(
                entries
                    .iter()
                    .map(|e| (e.kind, e.amount.0, e.balance_after.0)),
            );
        }
        (all, total)
    }

    async fn wallet(registry: &Registry) -> Wallet {
        let shard = registry
            .wallet(user())
            .query(ExportWallets)
            .await
            .expect("export");
        shard.wallets[&user()].clone()
    }

    #[actix_rt::test]
    async fn a_long_ledger_moves_to_the_store_and_reads_the_same_across_a_restart() {
        let store = Arc::new(MemoryStore::new());
        let registry = engine(store.clone(), 1).await;
        let mut expected = Vec::new();
        let mut balance = 0;
        for amount in 1..=40 {
            registry
                .charge(user(), Money(amount), None)
                .await
                .expect("charge");
            balance += amount;
            expected.push((LedgerKind::Charge, amount, balance));
        }
        let payment = PaymentId::from_random_bytes([9; 16]);
        let debit = |reply_at| Debit {
            user: user(),
            payment_id: payment,
            amount: Money(100),
            reply_at,
        };
        let after_debit = registry
            .wallet(user())
            .finish(debit(ReplyAt::Durable))
            .await
            .expect("debit");
        balance -= 100;
        assert_eq!(after_debit, Money(balance));
        expected.push((LedgerKind::Payment, 100, balance));
        for amount in 41..=60 {
            registry
                .charge(user(), Money(amount), None)
                .await
                .expect("charge");
            balance += amount;
            expected.push((LedgerKind::Charge, amount, balance));
        }
        expected.reverse();

        let held = wallet(&registry).await;
        assert!(
            held.archived_ledger().entries > 40,
            "the debit's entry was archived: {:?}",
            held.archived_ledger()
        );
        assert!(
            held.recent_ledger().len() <= KEEP + 8,
            "{}",
            held.recent_ledger().len()
        );
        check_with_archive(store.as_ref(), &held).expect("the archive matches the wallet");

        for page in [1, 7, 100] {
            assert_eq!(
                read_all_pages(&registry, page).await,
                (expected.clone(), 61)
            );
        }
        // Past the end: empty, with the total.
        assert_eq!(
            registry.ledger(user(), 61, 10).await.unwrap(),
            (Vec::new(), 61)
        );
        // A retried debit answers the balance right after its (archived) entry.
        assert_eq!(
            registry
                .wallet(user())
                .finish(debit(ReplyAt::Durable))
                .await,
            Ok(after_debit)
        );
        let refunded = registry
            .wallet(user())
            .finish(Refund {
                user: user(),
                payment_id: payment,
            })
            .await
            .expect("refund");
        balance += 100;
        assert_eq!(refunded, Money(balance));
        expected.insert(0, (LedgerKind::Refund, 100, balance));
        registry.shutdown();

        let registry = engine(store.clone(), 2).await;
        assert_eq!(read_all_pages(&registry, 9).await, (expected.clone(), 62));
        check_with_archive(store.as_ref(), &wallet(&registry).await).expect("after a restart");
        registry.shutdown();
    }

    #[actix_rt::test]
    async fn replay_refuses_a_record_repeating_an_archived_charge() {
        let store = Arc::new(MemoryStore::new());
        let registry = engine(store.clone(), 1).await;
        let first = registry
            .charge(user(), Money(5), None)
            .await
            .expect("charge");
        for _ in 0..20 {
            registry
                .charge(user(), Money(1), None)
                .await
                .expect("charge");
        }
        assert!(wallet(&registry).await.archived_ledger().entries > 0);
        registry.shutdown();
        let log = log_name(0);
        // Loads as it is.
        WalletShardState::load(store.as_ref(), &log).expect("loads");
        let repeat = Record {
            events: vec![WalletLogEvent {
                user: user(),
                event: WalletEvent::Charged {
                    transaction_id: first.transaction_id,
                    amount: Money(5),
                    at: first.charged_at,
                },
            }],
            idempotency: Vec::new(),
        };
        store
            .append(&log, &codec::encode(&repeat).unwrap())
            .unwrap();
        let refused = WalletShardState::load(store.as_ref(), &log).expect_err("refused");
        assert!(
            refused
                .to_string()
                .contains("already in the archived ledger"),
            "{refused}"
        );
    }

    /// The shard snapshot before ledgers were archived.
    #[derive(Serialize)]
    struct PreviousShard {
        wallets: HashMap<UserId, WalletPreviousFormat>,
        idempotency: crate::idempotency::IdempotencyTable,
    }

    #[actix_rt::test]
    async fn a_snapshot_of_the_previous_format_loads_and_is_archived_at_the_next_snapshot() {
        let mut state = WalletShardState::default();
        let mut expected = Vec::new();
        for n in 1..=100u8 {
            let event = WalletEvent::Charged {
                transaction_id: TransactionId::from_random_bytes([n; 16]),
                amount: Money(i64::from(n)),
                at: T0,
            };
            state
                .apply(&WalletLogEvent {
                    user: user(),
                    event,
                })
                .expect("applies");
        }
        for entry in state.wallets[&user()].recent_ledger() {
            expected.push((entry.kind, entry.amount.0, entry.balance_after.0));
        }
        expected.reverse();
        let previous = PreviousShard {
            wallets: state
                .wallets
                .iter()
                .map(|(user, wallet)| {
                    (
                        *user,
                        wallet.as_previous_format().expect("nothing archived"),
                    )
                })
                .collect(),
            idempotency: state.idempotency.clone(),
        };
        let store = Arc::new(MemoryStore::new());
        let bytes = codec::encode(&previous).unwrap();
        assert!(
            codec::decode::<WalletShardState>(&bytes).is_err(),
            "the formats differ"
        );
        store.write_snapshot(&log_name(0), 0, &bytes).unwrap();

        let registry = engine(store.clone(), 1).await;
        assert_eq!(read_all_pages(&registry, 30).await, (expected.clone(), 100));
        assert_eq!(wallet(&registry).await.archived_ledger().entries, 0);
        // The next snapshot archives the old ledger.
        let mut balance = expected[0].2;
        for _ in 0..10 {
            registry
                .charge(user(), Money(1), None)
                .await
                .expect("charge");
            balance += 1;
            expected.insert(0, (LedgerKind::Charge, 1, balance));
        }
        let held = wallet(&registry).await;
        assert!(
            held.archived_ledger().entries >= 100,
            "{:?}",
            held.archived_ledger()
        );
        registry.shutdown();
        let registry = engine(store.clone(), 2).await;
        assert_eq!(read_all_pages(&registry, 30).await, (expected, 110));
        check_with_archive(store.as_ref(), &wallet(&registry).await).expect("archive");
        registry.shutdown();
    }
}
