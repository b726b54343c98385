//! MemoryStore's fault injection: crashes lose exactly the unflushed tail,
//! and every injected fault does what it says, deterministically.

use std::sync::Arc;
use std::time::Duration;

use boxoffice_storage::{MemoryStore, MemoryStoreStats, Store, StoreError};

fn lsns(store: &MemoryStore, log: &str) -> Vec<u64> {
    store
        .read_log(log, 0)
        .unwrap()
        .into_iter()
        .map(|(lsn, _)| lsn)
        .collect()
}

#[test]
fn crash_loses_exactly_the_unflushed_tail() {
    let store = MemoryStore::new();
    for _ in 0..5 {
        store.append("s", b"e").unwrap();
    }
    store.write_snapshot("s", 3, b"snap3").unwrap();
    store.put_meta("k", b"v1").unwrap();
    store.flush().unwrap();

    // Unflushed: more appends, a new log, a newer snapshot, a trim, meta changes.
    store.append("s", b"e6").unwrap();
    store.append("s", b"e7").unwrap();
    store.append("new", b"n").unwrap();
    store.write_snapshot("s", 7, b"snap7").unwrap();
    store.trim("s", 7).unwrap();
    store.put_meta("k", b"v2").unwrap();
    store.put_meta("fresh", b"x").unwrap();
    assert!(lsns(&store, "s").is_empty(), "reads see pending operations");

    store.crash();
    assert_eq!(lsns(&store, "s"), vec![1, 2, 3, 4, 5]);
    assert_eq!(store.last_lsn("s").unwrap(), 5);
    assert_eq!(
        store.read_snapshot("s").unwrap(),
        Some((3, b"snap3".to_vec()))
    );
    assert_eq!(store.get_meta("k").unwrap(), Some(b"v1".to_vec()));
    assert_eq!(store.get_meta("fresh").unwrap(), None);
    assert_eq!(store.last_lsn("new").unwrap(), 0);
    assert_eq!(store.list_logs("").unwrap(), vec!["s"]);
    // Lsn counters restart from the durable last lsn.
    assert_eq!(store.append("s", b"again").unwrap(), 6);
}

#[test]
fn a_flushed_trim_survives_a_crash_and_keeps_the_last_lsn() {
    let store = MemoryStore::new();
    for _ in 0..4 {
        store.append("t", b"e").unwrap();
    }
    store.write_snapshot("t", 4, b"s").unwrap();
    store.trim("t", 4).unwrap();
    store.flush().unwrap();
    store.crash();
    assert!(lsns(&store, "t").is_empty());
    assert_eq!(store.last_lsn("t").unwrap(), 4);
    assert_eq!(store.stats().durable_records, 0);
}

#[test]
fn stats_count_appends_flushes_and_durable_records() {
    let store = MemoryStore::new();
    assert_eq!(store.stats(), MemoryStoreStats::default());
    store.append("a", b"1").unwrap();
    store.append("a", b"2").unwrap();
    assert_eq!(
        store.stats(),
        MemoryStoreStats {
            appends: 2,
            flushes: 0,
            durable_records: 0
        }
    );
    store.flush().unwrap();
    store.append("a", b"3").unwrap();
    assert_eq!(
        store.stats(),
        MemoryStoreStats {
            appends: 3,
            flushes: 1,
            durable_records: 2
        }
    );
    store.crash();
    assert_eq!(
        store.stats(),
        MemoryStoreStats {
            appends: 3,
            flushes: 1,
            durable_records: 2
        }
    );
    store.flush().unwrap();
    assert_eq!(store.stats().flushes, 2, "an empty flush still counts");
}

#[test]
fn fail_appends_fails_the_next_n_without_using_lsns() {
    let store = MemoryStore::new();
    store.append("a", b"1").unwrap();
    store.fail_appends(2);
    assert_eq!(store.append("a", b"x"), Err(StoreError::Injected("append")));
    assert_eq!(store.append("b", b"x"), Err(StoreError::Injected("append")));
    assert_eq!(store.append("a", b"2").unwrap(), 2);
    assert_eq!(lsns(&store, "a"), vec![1, 2]);
    assert_eq!(store.stats().appends, 2);
}

#[test]
fn fail_flushes_keeps_operations_pending() {
    let store = MemoryStore::new();
    store.append("a", b"1").unwrap();
    store.fail_flushes(1);
    assert_eq!(store.flush(), Err(StoreError::Injected("flush")));
    assert_eq!(store.stats().durable_records, 0);
    // Still pending: a later successful flush makes it durable.
    store.flush().unwrap();
    store.crash();
    assert_eq!(lsns(&store, "a"), vec![1]);

    // And a crash after a failed flush loses it.
    store.append("a", b"2").unwrap();
    store.fail_flushes(1);
    assert!(store.flush().is_err());
    store.crash();
    assert_eq!(lsns(&store, "a"), vec![1]);
}

#[test]
fn fail_snapshots_fails_the_next_n_snapshot_writes() {
    let store = MemoryStore::new();
    store.append("s", b"1").unwrap();
    store.fail_snapshots(1);
    assert_eq!(
        store.write_snapshot("s", 1, b"x"),
        Err(StoreError::Injected("snapshot"))
    );
    assert_eq!(store.read_snapshot("s").unwrap(), None);
    store.write_snapshot("s", 1, b"y").unwrap();
    assert_eq!(store.read_snapshot("s").unwrap(), Some((1, b"y".to_vec())));
}

#[test]
fn crash_after_appends_kills_the_store_between_append_and_flush() {
    let store = MemoryStore::new();
    store.append("a", b"1").unwrap();
    store.flush().unwrap();
    store.crash_after_appends(2);
    store.append("a", b"2").unwrap();
    store.append("a", b"3").unwrap();
    // Dead now: every write fails, reads still show what the process had.
    assert_eq!(
        store.append("a", b"4"),
        Err(StoreError::Injected("crashed"))
    );
    assert_eq!(store.flush(), Err(StoreError::Injected("crashed")));
    assert_eq!(
        store.write_snapshot("a", 1, b"s"),
        Err(StoreError::Injected("crashed"))
    );
    assert_eq!(store.trim("a", 1), Err(StoreError::Injected("crashed")));
    assert_eq!(
        store.put_meta("k", b"v"),
        Err(StoreError::Injected("crashed"))
    );
    assert_eq!(lsns(&store, "a"), vec![1, 2, 3]);
    store.crash();
    assert_eq!(lsns(&store, "a"), vec![1]);
    assert_eq!(store.append("a", b"2 again").unwrap(), 2);
    store.flush().unwrap();
}

#[test]
fn crash_after_zero_appends_is_dead_at_once() {
    let store = MemoryStore::new();
    store.append("a", b"1").unwrap();
    store.crash_after_appends(0);
    assert_eq!(store.flush(), Err(StoreError::Injected("crashed")));
    store.crash();
    assert!(lsns(&store, "a").is_empty());
}

#[test]
fn a_flush_covers_only_what_was_pending_when_it_started() {
    let store = Arc::new(MemoryStore::new());
    store.set_flush_delay(Duration::from_millis(100));
    store.append("a", b"1").unwrap();
    let flusher = {
        let store = Arc::clone(&store);
        std::thread::spawn(move || store.flush())
    };
    std::thread::sleep(Duration::from_millis(30));
    store.append("a", b"2").unwrap();
    flusher.join().unwrap().unwrap();
    store.crash();
    assert_eq!(lsns(&store, "a"), vec![1]);
}

#[test]
fn a_crash_during_a_slow_flush_fails_that_flush() {
    let store = Arc::new(MemoryStore::new());
    store.set_flush_delay(Duration::from_millis(100));
    store.append("a", b"1").unwrap();
    let flusher = {
        let store = Arc::clone(&store);
        std::thread::spawn(move || store.flush())
    };
    std::thread::sleep(Duration::from_millis(30));
    store.crash();
    assert_eq!(
        flusher.join().unwrap(),
        Err(StoreError::Injected("crashed during flush"))
    );
    assert!(lsns(&store, "a").is_empty());
}
