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
            durable_records: 0,
            snapshots: 0,
            trims: 0,
        }
    );
    store.flush().unwrap();
    store.append("a", b"3").unwrap();
    assert_eq!(
        store.stats(),
        MemoryStoreStats {
            appends: 3,
            flushes: 1,
            durable_records: 2,
            snapshots: 0,
            trims: 0,
        }
    );
    store.crash();
    assert_eq!(
        store.stats(),
        MemoryStoreStats {
            appends: 3,
            flushes: 1,
            durable_records: 2,
            snapshots: 0,
            trims: 0,
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

#[test]
fn crash_after_snapshots_dies_between_the_snapshot_and_the_trim() {
    let store = MemoryStore::new();
    for _ in 0..4 {
        store.append("s", b"e").unwrap();
    }
    store.flush().unwrap();
    store.crash_after_snapshots(2);
    store.write_snapshot("s", 2, b"snap2").unwrap();
    assert!(!store.is_dead(), "one snapshot left");
    store.write_snapshot("s", 4, b"snap4").unwrap();
    assert!(store.is_dead());
    assert_eq!(store.trim("s", 4), Err(StoreError::Injected("crashed")));
    assert_eq!(
        store.append("s", b"e5"),
        Err(StoreError::Injected("crashed"))
    );
    // The flush on its way lands what came before the dying snapshot, once.
    store.flush().unwrap();
    assert_eq!(store.flush(), Err(StoreError::Injected("crashed")));
    store.crash();
    assert!(!store.is_dead());
    assert_eq!(
        store.read_snapshot("s").unwrap(),
        Some((2, b"snap2".to_vec()))
    );
    assert_eq!(lsns(&store, "s"), vec![1, 2, 3, 4]);
}

#[test]
fn a_crash_on_a_snapshot_lets_the_record_before_it_be_flushed_in_either_order() {
    // An actor appends a record, then snapshots; the group commit flushes the
    // record on another thread, before or after the snapshot. Either way the
    // record is durable and the dying snapshot is not.
    for flush_first in [true, false] {
        let store = MemoryStore::new();
        store.crash_after_snapshots(1);
        store.append("s", b"e1").unwrap();
        if flush_first {
            store.flush().unwrap();
        }
        store.write_snapshot("s", 1, b"snap1").unwrap();
        assert!(store.is_dead());
        if flush_first {
            assert_eq!(store.flush(), Err(StoreError::Injected("crashed")));
        } else {
            store.flush().unwrap();
        }
        assert_eq!(
            store.pending_operations(),
            1,
            "only the snapshot is pending"
        );
        store.crash();
        assert_eq!(lsns(&store, "s"), vec![1]);
        assert_eq!(store.read_snapshot("s").unwrap(), None);
    }
}

#[test]
fn a_crash_on_an_append_lets_nothing_more_be_flushed() {
    let store = MemoryStore::new();
    store.append("a", b"1").unwrap();
    store.crash_after_appends(1);
    store.append("a", b"2").unwrap();
    assert_eq!(store.flush(), Err(StoreError::Injected("crashed")));
    store.crash();
    assert!(lsns(&store, "a").is_empty());
}

#[test]
fn crash_mid_trim_removes_only_the_older_half_then_dies() {
    let store = MemoryStore::new();
    for _ in 0..5 {
        store.append("t", b"e").unwrap();
    }
    store.write_snapshot("t", 5, b"s").unwrap();
    store.flush().unwrap();
    store.crash_mid_trim(1);
    // A trim that removes nothing does not count.
    store.trim("t", 0).unwrap();
    assert!(!store.is_dead());
    store.trim("t", 5).unwrap();
    assert!(store.is_dead(), "the torn trim kills the store");
    assert_eq!(
        lsns(&store, "t"),
        vec![4, 5],
        "the older ⌈5/2⌉ records are gone"
    );
    assert_eq!(store.pending_operations(), 1);
    // Kept by a partial background flush, the torn trim survives the crash.
    store.crash_keeping(1);
    assert_eq!(lsns(&store, "t"), vec![4, 5]);
    assert_eq!(store.last_lsn("t").unwrap(), 5);
    assert_eq!(store.stats().durable_records, 2);
}

#[test]
fn a_torn_trim_that_is_not_kept_is_undone_whole() {
    let store = MemoryStore::new();
    for _ in 0..3 {
        store.append("t", b"e").unwrap();
    }
    store.write_snapshot("t", 3, b"s").unwrap();
    store.flush().unwrap();
    store.crash_mid_trim(2);
    store.trim("t", 1).unwrap();
    assert!(!store.is_dead(), "the first trim is whole");
    assert_eq!(lsns(&store, "t"), vec![2, 3]);
    store.trim("t", 3).unwrap();
    assert!(store.is_dead());
    assert_eq!(lsns(&store, "t"), vec![3]);
    store.crash();
    assert_eq!(lsns(&store, "t"), vec![1, 2, 3]);
}

#[test]
fn crash_after_writes_counts_every_kind_of_write_but_flushes() {
    let store = MemoryStore::new();
    store.crash_after_writes(4);
    store.append("a", b"1").unwrap(); // 1
    store.flush().unwrap(); // not counted
    store.write_snapshot("a", 1, b"s").unwrap(); // 2
    store.trim("a", 1).unwrap(); // 3
    assert!(!store.is_dead());
    store.put_meta("k", b"v").unwrap(); // 4
    assert!(store.is_dead());
    assert_eq!(
        store.append("a", b"2"),
        Err(StoreError::Injected("crashed"))
    );
    store.crash();
    // The append was flushed; the snapshot, trim and meta were not.
    assert_eq!(lsns(&store, "a"), vec![1]);
    assert_eq!(store.read_snapshot("a").unwrap(), None);
    assert_eq!(store.get_meta("k").unwrap(), None);
}

#[test]
fn crash_after_meta_writes_under_a_prefix_counts_only_writes_touching_it() {
    let store = MemoryStore::new();
    store.crash_after_meta_writes_under("idem/", 2);
    store.append("a", b"1").unwrap(); // not counted: an append
    store.put_meta("archive/u/1", b"v").unwrap(); // not counted: another prefix
    store
        .put_meta_batch(&[("archive/u/2".into(), b"v".to_vec())])
        .unwrap(); // not counted
    store.put_meta("idem/k/1", b"v").unwrap(); // 1
    assert!(!store.is_dead());
    store
        .put_meta_batch(&[
            ("archive/u/3".into(), b"v".to_vec()),
            ("idem/k/2".into(), b"v".to_vec()),
        ])
        .unwrap(); // 2: one of its keys is under the prefix
    assert!(store.is_dead());
    assert_eq!(
        store.put_meta("archive/u/4", b"v"),
        Err(StoreError::Injected("crashed"))
    );
    store.crash();
    assert_eq!(store.get_meta("idem/k/1").unwrap(), None);
    assert!(store.read_log("a", 0).unwrap().is_empty());
}

#[test]
fn crash_keeping_keeps_a_prefix_of_the_pending_operations() {
    let store = MemoryStore::new();
    store.append("a", b"1").unwrap();
    store.append("a", b"2").unwrap();
    store.put_meta("k", b"v").unwrap();
    store.append("a", b"3").unwrap();
    assert_eq!(store.pending_operations(), 4);
    store.crash_after_appends(0);
    store.crash_keeping(2);
    assert!(!store.is_dead());
    assert_eq!(store.pending_operations(), 0);
    assert_eq!(lsns(&store, "a"), vec![1, 2]);
    assert_eq!(store.get_meta("k").unwrap(), None);
    assert_eq!(store.append("a", b"3 again").unwrap(), 3);
    // Keeping more than is pending keeps everything.
    store.crash_keeping(10);
    assert_eq!(lsns(&store, "a"), vec![1, 2, 3]);
}

#[test]
fn crash_keeping_appends_counts_the_prefix_in_appends() {
    let store = MemoryStore::new();
    store.append("a", b"1").unwrap();
    store.write_snapshot("a", 1, b"s").unwrap();
    store.append("a", b"2").unwrap();
    store.append("a", b"3").unwrap();
    assert_eq!(store.pending_appends(), 3);
    store.crash_keeping_appends(1);
    assert_eq!(lsns(&store, "a"), vec![1]);
    assert_eq!(
        store.read_snapshot("a").unwrap(),
        Some((1, b"s".to_vec())),
        "writes between the kept append and the next are kept"
    );
    store.append("a", b"2").unwrap();
    store.crash_keeping_appends(5);
    assert_eq!(lsns(&store, "a"), vec![1, 2]);
    store.append("a", b"3").unwrap();
    store.crash_keeping_appends(0);
    assert_eq!(lsns(&store, "a"), vec![1, 2]);
}

#[test]
fn arming_a_crash_point_replaces_the_previous_one_and_crash_disarms_it() {
    let store = MemoryStore::new();
    store.crash_after_appends(1);
    store.crash_after_snapshots(1);
    store.append("a", b"1").unwrap();
    assert!(!store.is_dead(), "the append crash point was replaced");
    store.crash();
    store.append("a", b"1").unwrap();
    store.write_snapshot("a", 1, b"s").unwrap();
    assert!(
        !store.is_dead(),
        "crash() disarmed the snapshot crash point"
    );
}

#[test]
fn a_meta_delete_is_undone_by_a_crash_before_its_flush() {
    let store = MemoryStore::new();
    store.put_meta("idem/k/a", b"v").unwrap();
    store.flush().unwrap();
    store.delete_meta("idem/k/a").unwrap();
    assert_eq!(store.get_meta("idem/k/a").unwrap(), None);
    store.crash();
    assert_eq!(store.get_meta("idem/k/a").unwrap(), Some(b"v".to_vec()));
    store.delete_meta("idem/k/a").unwrap();
    store.flush().unwrap();
    store.crash();
    assert_eq!(store.get_meta("idem/k/a").unwrap(), None);
    assert!(store.list_meta("idem/", 10).unwrap().is_empty());
}

#[test]
fn a_meta_batch_is_one_write_a_crash_keeps_whole_or_undoes_whole() {
    let entries = |v: &str| -> Vec<(String, Vec<u8>)> {
        ["x/1", "x/2", "x/1"]
            .iter()
            .enumerate()
            .map(|(n, k)| (k.to_string(), format!("{v}{n}").into_bytes()))
            .collect()
    };
    let store = MemoryStore::new();
    store.put_meta("x/1", b"before").unwrap();
    store.flush().unwrap();
    store.put_meta_batch(&entries("a")).unwrap();
    assert_eq!(store.pending_operations(), 1, "one pending operation");
    store.crash();
    assert_eq!(store.get_meta("x/1").unwrap(), Some(b"before".to_vec()));
    assert_eq!(store.get_meta("x/2").unwrap(), None);

    // A crash point counts the batch as one write; keeping it keeps all of it.
    store.put_meta_batch(&entries("b")).unwrap();
    store.put_meta("x/3", b"after").unwrap();
    store.crash_keeping(1);
    assert_eq!(store.get_meta("x/1").unwrap(), Some(b"b2".to_vec()));
    assert_eq!(store.get_meta("x/2").unwrap(), Some(b"b1".to_vec()));
    assert_eq!(store.get_meta("x/3").unwrap(), None);
    store.crash_after_writes(1);
    store.put_meta_batch(&entries("c")).unwrap();
    assert!(
        store.put_meta("x/4", b"dead").is_err(),
        "died after the batch"
    );
    store.crash();
    assert_eq!(store.get_meta("x/1").unwrap(), Some(b"b2".to_vec()));
}

/// A pair append is two pending appends, the second record first (as
/// sled writes them): a crash keeps a prefix of them, so neither, the
/// second alone, or both, never the first alone; `remove_last` takes a
/// lone second back.
#[test]
fn a_crash_keeps_a_prefix_of_a_pair_second_record_first() {
    let both = |store: &MemoryStore| (lsns(store, "schedule/a"), lsns(store, "outbox"));
    for keep in 0..6 {
        let store = MemoryStore::new();
        store.append("schedule/a", b"1").unwrap();
        store
            .append_pair(("schedule/a", b"2"), ("outbox", b"o1"))
            .unwrap();
        store
            .append_pair(("outbox", b"o2"), ("schedule/a", b"3"))
            .unwrap();
        assert_eq!(store.pending_appends(), 5, "a pair is two appends");
        store.crash_keeping_appends(keep);
        let expected = match keep {
            0 => (vec![], vec![]),
            1 => (vec![1], vec![]),
            2 => (vec![1], vec![1]),
            3 => (vec![1, 2], vec![1]),
            4 => (vec![1, 2, 3], vec![1]),
            _ => (vec![1, 2, 3], vec![1, 2]),
        };
        assert_eq!(both(&store), expected, "keeping {keep} appends");
        // The lost lsns are assigned again.
        let next = store
            .append_pair(("schedule/a", b"n"), ("outbox", b"n"))
            .unwrap();
        assert_eq!(
            next,
            (expected.0.len() as u64 + 1, expected.1.len() as u64 + 1)
        );
    }
    for keep in 0..5 {
        let store = MemoryStore::new();
        store
            .append_pair(("schedule/a", b"1"), ("outbox", b"o1"))
            .unwrap();
        store
            .append_pair(("schedule/a", b"2"), ("outbox", b"o2"))
            .unwrap();
        store.crash_keeping(keep);
        let outbox: Vec<u64> = (1..=keep.div_ceil(2) as u64).collect();
        let schedule: Vec<u64> = (1..=(keep / 2) as u64).collect();
        assert_eq!(
            both(&store),
            (schedule, outbox),
            "keeping {keep} operations"
        );
    }
}

#[test]
fn remove_last_takes_back_a_lone_last_record_and_refuses_any_other() {
    let store = MemoryStore::new();
    store.append("outbox", b"o1").unwrap();
    store.append("outbox", b"o2").unwrap();
    store.flush().unwrap();
    assert!(store.remove_last("outbox", 1).is_err(), "not the last");
    assert!(store.remove_last("outbox", 3).is_err(), "no such record");
    assert!(store.remove_last("nothing", 1).is_err(), "no such log");
    store.remove_last("outbox", 2).unwrap();
    assert_eq!(lsns(&store, "outbox"), vec![1]);
    assert_eq!(
        store.append("outbox", b"o2'").unwrap(),
        2,
        "lsn given again"
    );
    // Unflushed, both the removal and the new append are undone by a crash.
    store.crash();
    assert_eq!(lsns(&store, "outbox"), vec![1, 2]);
    store.remove_last("outbox", 2).unwrap();
    store.flush().unwrap();
    store.crash();
    assert_eq!(lsns(&store, "outbox"), vec![1]);
}

#[test]
fn a_crash_point_counts_a_pair_as_one_append_and_a_flush_keeps_both() {
    let store = MemoryStore::new();
    store
        .append_pair(("schedule/a", b"1"), ("outbox", b"o1"))
        .unwrap();
    store.flush().unwrap();
    assert_eq!(store.stats().durable_records, 2);
    store.crash_after_appends(1);
    store
        .append_pair(("schedule/a", b"2"), ("outbox", b"o2"))
        .unwrap();
    assert!(store.is_dead());
    assert!(store
        .append_pair(("schedule/a", b"3"), ("outbox", b"o3"))
        .is_err());
    store.crash();
    assert_eq!(lsns(&store, "schedule/a"), vec![1]);
    assert_eq!(lsns(&store, "outbox"), vec![1]);
    store.fail_appends(1);
    assert!(store
        .append_pair(("schedule/a", b"2"), ("outbox", b"o2"))
        .is_err());
    assert_eq!(
        store.last_lsn("outbox").unwrap(),
        1,
        "a failed pair assigns no lsn"
    );
    assert_eq!(store.last_lsn("schedule/a").unwrap(), 1);
}

#[test]
fn fail_trims_fails_the_next_trims_and_removes_nothing() {
    let store = MemoryStore::new();
    for _ in 0..4 {
        store.append("t", b"e").unwrap();
    }
    store.write_snapshot("t", 3, b"s").unwrap();
    store.fail_trims(1);
    assert_eq!(store.trim("t", 3), Err(StoreError::Injected("trim")));
    assert_eq!(lsns(&store, "t"), vec![1, 2, 3, 4]);
    assert!(!store.is_dead(), "a failed trim is not a crash");
    // The next trim does what the failed one did not.
    store.trim("t", 3).unwrap();
    assert_eq!(lsns(&store, "t"), vec![4]);
}
