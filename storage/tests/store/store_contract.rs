//! One behavioural suite, written once over `Arc<dyn Store>`, run against both
//! `SledStore` (on a temporary directory) and `MemoryStore`, so the fake the
//! simulations use behaves like the real thing.

use std::sync::Arc;

use boxoffice_storage::limits::{MAX_LOG_NAME_BYTES, MAX_META_VALUE_BYTES};
use boxoffice_storage::{Store, StoreError};

fn records(store: &dyn Store, log: &str, after: u64) -> Vec<(u64, Vec<u8>)> {
    store.read_log(log, after).unwrap()
}

fn appends_assign_increasing_lsns_per_log(store: Arc<dyn Store>) {
    assert_eq!(store.last_lsn("schedule/a").unwrap(), 0);
    assert_eq!(store.append("schedule/a", b"a1").unwrap(), 1);
    assert_eq!(store.append("schedule/a", b"a2").unwrap(), 2);
    assert_eq!(store.append("wallet/07", b"w1").unwrap(), 1);
    assert_eq!(store.append("schedule/a", b"").unwrap(), 3);
    assert_eq!(store.last_lsn("schedule/a").unwrap(), 3);
    assert_eq!(store.last_lsn("wallet/07").unwrap(), 1);
    assert_eq!(
        records(&*store, "schedule/a", 0),
        vec![(1, b"a1".to_vec()), (2, b"a2".to_vec()), (3, Vec::new())]
    );
}

fn read_log_returns_records_after_the_given_lsn(store: Arc<dyn Store>) {
    for i in 1..=10u8 {
        store.append("q", &[i]).unwrap();
    }
    let after7: Vec<u64> = records(&*store, "q", 7)
        .into_iter()
        .map(|(lsn, _)| lsn)
        .collect();
    assert_eq!(after7, vec![8, 9, 10]);
    assert!(records(&*store, "q", 10).is_empty());
    assert!(records(&*store, "q", u64::MAX).is_empty());
    assert!(records(&*store, "unknown", 0).is_empty());
    // Names that extend another name are separate logs.
    store.append("qq", b"x").unwrap();
    store.append("q/1", b"y").unwrap();
    assert_eq!(records(&*store, "q", 0).len(), 10);
}

fn snapshots_replace_each_other(store: Arc<dyn Store>) {
    assert_eq!(store.read_snapshot("s").unwrap(), None);
    for _ in 0..5 {
        store.append("s", b"e").unwrap();
    }
    store.write_snapshot("s", 3, b"state@3").unwrap();
    assert_eq!(
        store.read_snapshot("s").unwrap(),
        Some((3, b"state@3".to_vec()))
    );
    store.write_snapshot("s", 5, b"").unwrap();
    assert_eq!(store.read_snapshot("s").unwrap(), Some((5, Vec::new())));
}

fn snapshot_beyond_the_last_lsn_is_refused(store: Arc<dyn Store>) {
    store.append("s", b"e").unwrap();
    assert!(matches!(
        store.write_snapshot("s", 2, b"x"),
        Err(StoreError::Io(_))
    ));
    assert_eq!(store.read_snapshot("s").unwrap(), None);
    // A snapshot at 0 of an empty log is allowed (an actor's initial state).
    store.write_snapshot("empty", 0, b"init").unwrap();
    assert_eq!(
        store.read_snapshot("empty").unwrap(),
        Some((0, b"init".to_vec()))
    );
}

fn trim_keeps_the_last_lsn(store: Arc<dyn Store>) {
    for i in 1..=6u8 {
        store.append("t", &[i]).unwrap();
    }
    store.write_snapshot("t", 4, b"s4").unwrap();
    store.trim("t", 4).unwrap();
    assert_eq!(records(&*store, "t", 0), vec![(5, vec![5]), (6, vec![6])]);
    store.write_snapshot("t", 6, b"s6").unwrap();
    store.trim("t", 6).unwrap();
    assert!(records(&*store, "t", 0).is_empty());
    assert_eq!(store.last_lsn("t").unwrap(), 6);
    assert_eq!(
        store.append("t", b"7").unwrap(),
        7,
        "lsns are never reused after a trim"
    );
    store.trim("t", 0).unwrap();
    store.trim("t", 6).unwrap();
    assert_eq!(records(&*store, "t", 0), vec![(7, b"7".to_vec())]);
}

/// A trim runs on a background thread while the log's owner appends (the
/// engine's log trimmer): the appends land whole, after the trimmed range.
fn a_trim_on_another_thread_leaves_concurrent_appends_whole(store: Arc<dyn Store>) {
    const BEFORE: u64 = 2_000;
    const DURING: u64 = 500;
    for _ in 0..BEFORE {
        store.append("t", b"old").unwrap();
    }
    store.write_snapshot("t", BEFORE, b"s").unwrap();
    let trimmer = {
        let store = Arc::clone(&store);
        std::thread::spawn(move || store.trim("t", BEFORE))
    };
    for n in 1..=DURING {
        assert_eq!(store.append("t", b"new").unwrap(), BEFORE + n);
    }
    trimmer.join().unwrap().unwrap();
    let lsns: Vec<u64> = records(&*store, "t", 0)
        .into_iter()
        .map(|(lsn, _)| lsn)
        .collect();
    assert_eq!(lsns, (BEFORE + 1..=BEFORE + DURING).collect::<Vec<_>>());
    assert_eq!(store.last_lsn("t").unwrap(), BEFORE + DURING);
}

fn trim_beyond_the_snapshot_is_refused(store: Arc<dyn Store>) {
    for _ in 0..3 {
        store.append("t", b"e").unwrap();
    }
    assert!(
        matches!(store.trim("t", 1), Err(StoreError::Io(_))),
        "no snapshot yet"
    );
    store.write_snapshot("t", 2, b"s").unwrap();
    assert!(matches!(store.trim("t", 3), Err(StoreError::Io(_))));
    assert_eq!(
        records(&*store, "t", 0).len(),
        3,
        "a refused trim removes nothing"
    );
}

fn list_logs_is_sorted_unique_and_prefixed(store: Arc<dyn Store>) {
    for name in [
        "schedule/b",
        "schedule/a",
        "wallet/01",
        "schedule/a",
        "schedulex",
        "a",
    ] {
        store.append(name, b"r").unwrap();
    }
    store.write_snapshot("schedule/a", 1, b"s").unwrap();
    store
        .write_snapshot("schedule/c", 0, b"snapshot only")
        .unwrap();
    // A log trimmed to empty still exists.
    store.write_snapshot("schedule/b", 1, b"s").unwrap();
    store.trim("schedule/b", 1).unwrap();
    assert_eq!(
        store.list_logs("schedule/").unwrap(),
        vec!["schedule/a", "schedule/b", "schedule/c"]
    );
    assert_eq!(
        store.list_logs("").unwrap(),
        vec![
            "a",
            "schedule/a",
            "schedule/b",
            "schedule/c",
            "schedulex",
            "wallet/01"
        ]
    );
    assert_eq!(store.list_logs("wallet/").unwrap(), vec!["wallet/01"]);
    assert!(store.list_logs("zzz").unwrap().is_empty());
}

fn meta_is_a_small_key_value_map(store: Arc<dyn Store>) {
    assert_eq!(store.get_meta("jwt_secret").unwrap(), None);
    store.put_meta("jwt_secret", b"one").unwrap();
    store.put_meta("jwt_secret", b"two").unwrap();
    store.put_meta("other", b"").unwrap();
    assert_eq!(store.get_meta("jwt_secret").unwrap(), Some(b"two".to_vec()));
    assert_eq!(store.get_meta("other").unwrap(), Some(Vec::new()));
    let too_big = vec![0u8; MAX_META_VALUE_BYTES + 1];
    assert!(matches!(
        store.put_meta("big", &too_big),
        Err(StoreError::Io(_))
    ));
    assert_eq!(store.get_meta("big").unwrap(), None);
}

fn meta_keys_can_be_deleted_and_listed_by_prefix(store: Arc<dyn Store>) {
    for key in [
        "idem/t/02",
        "idem/t/01",
        "idem/k/aa",
        "idem/t/03",
        "idemx",
        "other",
    ] {
        store.put_meta(key, key.as_bytes()).unwrap();
    }
    assert_eq!(
        store.list_meta("idem/t/", 10).unwrap(),
        vec!["idem/t/01", "idem/t/02", "idem/t/03"]
    );
    assert_eq!(
        store.list_meta("idem/t/", 2).unwrap(),
        vec!["idem/t/01", "idem/t/02"]
    );
    assert!(store.list_meta("idem/t/", 0).unwrap().is_empty());
    assert!(store.list_meta("zzz", 10).unwrap().is_empty());
    store.delete_meta("idem/t/02").unwrap();
    store.delete_meta("never-there").unwrap();
    assert_eq!(store.get_meta("idem/t/02").unwrap(), None);
    assert_eq!(
        store.list_meta("idem/", 10).unwrap(),
        vec!["idem/k/aa", "idem/t/01", "idem/t/03"]
    );
    store.put_meta("idem/t/02", b"again").unwrap();
    assert_eq!(
        store.get_meta("idem/t/02").unwrap(),
        Some(b"again".to_vec())
    );
    store.flush().unwrap();
    // Internal keys (the flush counter) never show under a caller's prefix.
    assert!(store
        .list_meta("", 100)
        .unwrap()
        .iter()
        .all(|key| !key.contains('\0')));
    assert!(matches!(store.delete_meta(""), Err(StoreError::Io(_))));
}

fn bad_names_are_refused(store: Arc<dyn Store>) {
    let long = "x".repeat(MAX_LOG_NAME_BYTES + 1);
    let longest = "x".repeat(MAX_LOG_NAME_BYTES);
    for bad in ["", "nul\0inside", long.as_str()] {
        assert!(
            matches!(store.append(bad, b"r"), Err(StoreError::Io(_))),
            "{bad:?}"
        );
        assert!(matches!(store.read_log(bad, 0), Err(StoreError::Io(_))));
        assert!(matches!(store.last_lsn(bad), Err(StoreError::Io(_))));
        assert!(matches!(
            store.write_snapshot(bad, 0, b""),
            Err(StoreError::Io(_))
        ));
        assert!(matches!(store.read_snapshot(bad), Err(StoreError::Io(_))));
        assert!(matches!(store.trim(bad, 0), Err(StoreError::Io(_))));
        assert!(matches!(store.put_meta(bad, b""), Err(StoreError::Io(_))));
        assert!(matches!(store.get_meta(bad), Err(StoreError::Io(_))));
    }
    assert!(matches!(store.list_logs("a\0"), Err(StoreError::Io(_))));
    assert_eq!(store.append(&longest, b"r").unwrap(), 1);
    assert_eq!(store.list_logs("").unwrap(), vec![longest]);
}

fn flush_keeps_everything_readable(store: Arc<dyn Store>) {
    store.flush().unwrap();
    store.append("f", b"1").unwrap();
    store.put_meta("m", b"v").unwrap();
    store.flush().unwrap();
    store.flush().unwrap();
    assert_eq!(records(&*store, "f", 0), vec![(1, b"1".to_vec())]);
    assert_eq!(store.get_meta("m").unwrap(), Some(b"v".to_vec()));
}

fn concurrent_appends_to_one_log_get_distinct_contiguous_lsns(store: Arc<dyn Store>) {
    const THREADS: usize = 4;
    const PER_THREAD: usize = 250;
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                (0..PER_THREAD)
                    .map(|i| {
                        store
                            .append("shared", format!("{t}-{i}").as_bytes())
                            .unwrap()
                    })
                    .collect::<Vec<u64>>()
            })
        })
        .collect();
    let mut lsns: Vec<u64> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    lsns.sort_unstable();
    let expected: Vec<u64> = (1..=(THREADS * PER_THREAD) as u64).collect();
    assert_eq!(lsns, expected);
    let read: Vec<u64> = records(&*store, "shared", 0)
        .into_iter()
        .map(|(lsn, _)| lsn)
        .collect();
    assert_eq!(read, expected);
}

fn a_meta_batch_puts_every_entry_or_none(store: Arc<dyn Store>) {
    let entry = |k: &str, v: &str| (k.to_owned(), v.as_bytes().to_vec());
    store.put_meta("b/1", b"old").unwrap();
    store
        .put_meta_batch(&[
            entry("b/1", "new"),
            entry("b/2", "two"),
            entry("b/2", "last"),
        ])
        .unwrap();
    assert_eq!(store.get_meta("b/1").unwrap(), Some(b"new".to_vec()));
    assert_eq!(
        store.get_meta("b/2").unwrap(),
        Some(b"last".to_vec()),
        "the later entry wins"
    );
    store.put_meta_batch(&[]).unwrap();
    // One bad entry refuses the whole batch before anything is written.
    let big = vec![0u8; MAX_META_VALUE_BYTES + 1];
    for bad in [
        vec![entry("b/3", "x"), ("b/4".to_owned(), big)],
        vec![entry("b/3", "x"), entry("", "empty key")],
        vec![
            entry("b/3", "x"),
            entry(&"k".repeat(MAX_LOG_NAME_BYTES + 1), "long"),
        ],
    ] {
        assert!(matches!(store.put_meta_batch(&bad), Err(StoreError::Io(_))));
        assert_eq!(store.get_meta("b/3").unwrap(), None);
    }
    store.flush().unwrap();
    assert_eq!(store.list_meta("b/", 10).unwrap(), vec!["b/1", "b/2"]);
}

fn scan_meta_pages_through_a_prefix_with_values(store: Arc<dyn Store>) {
    for key in ["s/3", "s/1", "s/2", "s0", "r/9", "s/10"] {
        store.put_meta(key, key.as_bytes()).unwrap();
    }
    let keys = |page: Vec<(String, Vec<u8>)>| -> Vec<String> {
        page.into_iter()
            .map(|(key, value)| {
                assert_eq!(key.as_bytes(), value.as_slice(), "each key with its value");
                key
            })
            .collect()
    };
    assert_eq!(
        keys(store.scan_meta("s/", None, 10).unwrap()),
        vec!["s/1", "s/10", "s/2", "s/3"]
    );
    assert_eq!(
        keys(store.scan_meta("s/", None, 2).unwrap()),
        vec!["s/1", "s/10"]
    );
    assert_eq!(
        keys(store.scan_meta("s/", Some("s/10"), 2).unwrap()),
        vec!["s/2", "s/3"],
        "strictly after the key given"
    );
    assert!(store.scan_meta("s/", Some("s/3"), 10).unwrap().is_empty());
    // A resume key outside the prefix: before it starts at the prefix, after it ends.
    assert_eq!(
        keys(store.scan_meta("s/", Some("a"), 1).unwrap()),
        vec!["s/1"]
    );
    assert!(store.scan_meta("s/", Some("t"), 10).unwrap().is_empty());
    assert!(store.scan_meta("s/", None, 0).unwrap().is_empty());
    store.flush().unwrap();
    // Internal keys (the flush counter) never show.
    assert!(store
        .scan_meta("", None, 100)
        .unwrap()
        .iter()
        .all(|(key, _)| !key.contains('\0')));
}

fn remove_last_takes_back_only_the_last_record(store: Arc<dyn Store>) {
    store.append("outbox", b"o1").unwrap();
    store.append("outbox", b"o2").unwrap();
    assert!(store.remove_last("outbox", 1).is_err(), "not the last");
    assert!(store.remove_last("outbox", 3).is_err(), "no such record");
    store.remove_last("outbox", 2).unwrap();
    assert_eq!(store.last_lsn("outbox").unwrap(), 1);
    assert_eq!(records(store.as_ref(), "outbox", 0).len(), 1);
    assert_eq!(
        store.append("outbox", b"o2'").unwrap(),
        2,
        "lsn given again"
    );
    assert_eq!(
        records(store.as_ref(), "outbox", 1),
        vec![(2, b"o2'".to_vec())]
    );
}

fn a_pair_append_assigns_each_log_its_next_lsn(store: Arc<dyn Store>) {
    store.append("schedule/a", b"a1").unwrap();
    assert_eq!(
        store
            .append_pair(("schedule/a", b"a2"), ("outbox", b"o1"))
            .unwrap(),
        (2, 1)
    );
    // Either order of names: each half still goes to its own log.
    assert_eq!(
        store
            .append_pair(("outbox", b"o2"), ("schedule/b", b"b1"))
            .unwrap(),
        (2, 1)
    );
    assert_eq!(store.append("outbox", b"o3").unwrap(), 3);
    assert_eq!(
        records(&*store, "schedule/a", 0),
        vec![(1, b"a1".to_vec()), (2, b"a2".to_vec())]
    );
    assert_eq!(
        records(&*store, "outbox", 0),
        vec![
            (1, b"o1".to_vec()),
            (2, b"o2".to_vec()),
            (3, b"o3".to_vec())
        ]
    );
    assert_eq!(records(&*store, "schedule/b", 0), vec![(1, b"b1".to_vec())]);
    store.flush().unwrap();
    assert_eq!(store.last_lsn("outbox").unwrap(), 3);
}

fn a_pair_append_refuses_one_log_twice_and_writes_nothing_when_refused(store: Arc<dyn Store>) {
    assert!(store
        .append_pair(("outbox", b"x"), ("outbox", b"y"))
        .is_err());
    assert!(store
        .append_pair(("bad\0name", b"x"), ("outbox", b"y"))
        .is_err());
    let too_big = vec![0u8; boxoffice_storage::limits::MAX_RECORD_BYTES + 1];
    assert!(store
        .append_pair(("schedule/a", b"x"), ("outbox", &too_big))
        .is_err());
    assert_eq!(store.last_lsn("outbox").unwrap(), 0);
    assert_eq!(store.last_lsn("schedule/a").unwrap(), 0);
}

fn read_log_page_reads_at_most_the_page(store: Arc<dyn Store>) {
    for i in 1..=10u8 {
        store.append("q", &[i]).unwrap();
    }
    let page = |after, max| -> Vec<u64> {
        store
            .read_log_page("q", after, max)
            .unwrap()
            .into_iter()
            .map(|(lsn, _)| lsn)
            .collect()
    };
    assert_eq!(page(0, 3), vec![1, 2, 3]);
    assert_eq!(page(3, 3), vec![4, 5, 6]);
    assert_eq!(page(8, 5), vec![9, 10]);
    assert!(page(10, 5).is_empty());
    assert!(page(u64::MAX, 5).is_empty());
    assert!(page(0, 0).is_empty());
    store.append("qq", b"other log").unwrap();
    assert_eq!(page(9, 100), vec![10]);
}

fn concurrent_pair_appends_keep_both_logs_contiguous(store: Arc<dyn Store>) {
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                let log = format!("schedule/{t}");
                for i in 0..50u32 {
                    let (own, outbox) = store
                        .append_pair((&log, &i.to_be_bytes()), ("outbox", log.as_bytes()))
                        .unwrap();
                    assert_eq!(own, u64::from(i) + 1);
                    assert!(outbox >= 1);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let outbox: Vec<u64> = records(&*store, "outbox", 0)
        .into_iter()
        .map(|(lsn, _)| lsn)
        .collect();
    assert_eq!(outbox, (1..=200).collect::<Vec<u64>>());
}

macro_rules! contract {
    ($($case:ident),* $(,)?) => {
        mod sled_store {
            $(
                #[test]
                fn $case() {
                    let dir = tempfile::tempdir().unwrap();
                    let store = std::sync::Arc::new(boxoffice_storage::SledStore::open(dir.path()).unwrap());
                    super::$case(store);
                }
            )*
        }
        mod memory_store {
            $(
                #[test]
                fn $case() {
                    super::$case(std::sync::Arc::new(boxoffice_storage::MemoryStore::new()));
                }
            )*
        }
    };
}

contract!(
    appends_assign_increasing_lsns_per_log,
    read_log_returns_records_after_the_given_lsn,
    snapshots_replace_each_other,
    snapshot_beyond_the_last_lsn_is_refused,
    trim_keeps_the_last_lsn,
    a_trim_on_another_thread_leaves_concurrent_appends_whole,
    trim_beyond_the_snapshot_is_refused,
    list_logs_is_sorted_unique_and_prefixed,
    meta_is_a_small_key_value_map,
    meta_keys_can_be_deleted_and_listed_by_prefix,
    bad_names_are_refused,
    flush_keeps_everything_readable,
    concurrent_appends_to_one_log_get_distinct_contiguous_lsns,
    a_meta_batch_puts_every_entry_or_none,
    scan_meta_pages_through_a_prefix_with_values,
    a_pair_append_assigns_each_log_its_next_lsn,
    a_pair_append_refuses_one_log_twice_and_writes_nothing_when_refused,
    read_log_page_reads_at_most_the_page,
    concurrent_pair_appends_keep_both_logs_contiguous,
    remove_last_takes_back_only_the_last_record,
);
