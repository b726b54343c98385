//! SledStore specifics: what survives closing and reopening the directory,
//! many threads on many logs with a shared flush, the power-loss mode, the
//! flush watermark that refuses a sled file which lost flushed data, and
//! informal measurements (printed, never asserted).

use std::sync::Arc;
use std::time::Instant;

use boxoffice_storage::flush_watermark::{FlushWatermark, WATERMARK_FILE};
use boxoffice_storage::{Durability, GroupCommit, SledStore, Store, StoreError};

#[test]
fn everything_flushed_is_there_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SledStore::open(dir.path()).unwrap();
        for i in 1..=5u8 {
            store.append("schedule/x", &[i]).unwrap();
        }
        store.append("wallet/03", b"w").unwrap();
        store.write_snapshot("schedule/x", 3, b"snap3").unwrap();
        store.trim("schedule/x", 3).unwrap();
        store.put_meta("jwt_secret", b"s3cr3t").unwrap();
        store.flush().unwrap();
    }
    let store = SledStore::open(dir.path()).unwrap();
    assert_eq!(
        store.read_log("schedule/x", 0).unwrap(),
        vec![(4, vec![4]), (5, vec![5])]
    );
    assert_eq!(
        store.read_snapshot("schedule/x").unwrap(),
        Some((3, b"snap3".to_vec()))
    );
    assert_eq!(store.last_lsn("schedule/x").unwrap(), 5);
    assert_eq!(store.last_lsn("wallet/03").unwrap(), 1);
    assert_eq!(
        store.get_meta("jwt_secret").unwrap(),
        Some(b"s3cr3t".to_vec())
    );
    assert_eq!(
        store.list_logs("").unwrap(),
        vec!["schedule/x", "wallet/03"]
    );
    assert_eq!(store.append("schedule/x", b"6").unwrap(), 6);
}

#[test]
fn flushed_pairs_are_there_after_reopen_and_trimming_one_log_leaves_the_other() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SledStore::open(dir.path()).unwrap();
        for i in 1..=4u8 {
            store
                .append_pair(("schedule/x", &[i]), ("outbox", &[10 + i]))
                .unwrap();
        }
        store.write_snapshot("schedule/x", 4, b"snap").unwrap();
        store.trim("schedule/x", 4).unwrap();
        store.flush().unwrap();
    }
    let store = SledStore::open(dir.path()).unwrap();
    assert!(store.read_log("schedule/x", 0).unwrap().is_empty());
    assert_eq!(store.last_lsn("schedule/x").unwrap(), 4);
    assert_eq!(
        store.read_log("outbox", 0).unwrap(),
        vec![(1, vec![11]), (2, vec![12]), (3, vec![13]), (4, vec![14])]
    );
    assert_eq!(
        store
            .append_pair(("schedule/x", b"5"), ("outbox", b"15"))
            .unwrap(),
        (5, 5)
    );
}

#[test]
fn the_last_lsn_survives_a_full_trim_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SledStore::open(dir.path()).unwrap();
        for _ in 0..4 {
            store.append("q", b"e").unwrap();
        }
        store.write_snapshot("q", 4, b"all").unwrap();
        store.trim("q", 4).unwrap();
        store.flush().unwrap();
    }
    {
        let store = SledStore::open(dir.path()).unwrap();
        assert!(store.read_log("q", 0).unwrap().is_empty());
        assert_eq!(store.last_lsn("q").unwrap(), 4);
        // Even if the snapshot is replaced by an older-looking one, the mark holds.
        store.write_snapshot("q", 2, b"older").unwrap();
        store.flush().unwrap();
    }
    let store = SledStore::open(dir.path()).unwrap();
    assert_eq!(store.append("q", b"five").unwrap(), 5);
}

#[test]
fn many_threads_on_many_logs_with_a_shared_flush() {
    const THREADS: usize = 8;
    const LOGS_PER_THREAD: usize = 4;
    const APPENDS_PER_LOG: u64 = 100;
    let dir = tempfile::tempdir().unwrap();
    {
        let store: Arc<dyn Store> = Arc::new(SledStore::open(dir.path()).unwrap());
        let commit = GroupCommit::start(Arc::clone(&store));
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let commit = Arc::clone(&commit);
                std::thread::spawn(move || {
                    let (tx, rx) = std::sync::mpsc::channel();
                    for i in 0..APPENDS_PER_LOG {
                        for l in 0..LOGS_PER_THREAD {
                            let log = format!("schedule/{t:02}-{l}");
                            let tx = tx.clone();
                            let lsn = commit
                                .append(
                                    &log,
                                    &i.to_be_bytes(),
                                    Box::new(move |r| tx.send(r).unwrap()),
                                )
                                .unwrap();
                            assert_eq!(lsn, i + 1);
                        }
                    }
                    drop(tx);
                    rx.iter().map(|r| r.unwrap()).count()
                })
            })
            .collect();
        let acknowledged: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(
            acknowledged,
            THREADS * LOGS_PER_THREAD * APPENDS_PER_LOG as usize
        );
        let stats = commit.stats();
        println!("sled group commit: {stats:?}");
        assert_eq!(stats.records, acknowledged as u64);
        assert!(stats.flushes <= stats.records);
    }
    let store = SledStore::open(dir.path()).unwrap();
    let logs = store.list_logs("schedule/").unwrap();
    assert_eq!(logs.len(), THREADS * LOGS_PER_THREAD);
    for log in logs {
        let records = store.read_log(&log, 0).unwrap();
        let expected: Vec<(u64, Vec<u8>)> = (0..APPENDS_PER_LOG)
            .map(|i| (i + 1, i.to_be_bytes().to_vec()))
            .collect();
        assert_eq!(records, expected, "{log}");
    }
}

#[test]
fn power_loss_mode_syncs_and_keeps_large_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    // Over sled's blob threshold (~128 KiB), so it lands in a separate blob file.
    let big: Vec<u8> = (0..400_000u32).map(|i| (i % 251) as u8).collect();
    {
        let store = SledStore::open_with(dir.path(), Durability::PowerLoss).unwrap();
        assert_eq!(store.durability(), Durability::PowerLoss);
        store.append("schedule/big", b"e").unwrap();
        store.write_snapshot("schedule/big", 1, &big).unwrap();
        store.flush().unwrap();
        let blobs = std::fs::read_dir(dir.path().join("blobs")).unwrap().count();
        assert!(
            blobs > 0,
            "the big snapshot exercises the blob-file sync path"
        );
        store.flush().unwrap();
    }
    let store = SledStore::open(dir.path()).unwrap();
    assert_eq!(store.durability(), Durability::ProcessCrash);
    assert_eq!(store.read_snapshot("schedule/big").unwrap(), Some((1, big)));
}

/// A restart within one process: sled releases the directory's lock from a
/// background thread after the last handle is dropped, so an open that finds
/// the lock taken must wait for it (up to 2 s) instead of failing at once.
/// (It failed at once in CI: sled reports the lock as `ErrorKind::Other`.)
#[test]
fn an_open_waits_for_a_lock_released_within_two_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let first = SledStore::open(dir.path()).unwrap();
    first.append("schedule/r", b"x").unwrap();
    first.flush().unwrap();
    let path = dir.path().to_path_buf();
    let second =
        std::thread::spawn(move || SledStore::open(&path).map(|s| s.last_lsn("schedule/r")));
    std::thread::sleep(std::time::Duration::from_millis(300));
    drop(first);
    let reopened = second.join().unwrap();
    assert!(
        matches!(reopened, Ok(Ok(1))),
        "the second open should have waited for the lock: {reopened:?}"
    );
}

/// Another live handle keeps the lock: the open gives up after the wait,
/// with a message that says why.
#[test]
fn an_open_gives_up_on_a_lock_held_longer() {
    let dir = tempfile::tempdir().unwrap();
    let _held = SledStore::open(dir.path()).unwrap();
    let started = std::time::Instant::now();
    let err = SledStore::open(dir.path()).expect_err("the lock is held");
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(2),
        "it waited first"
    );
    assert!(err.to_string().contains("another boxoffice"), "{err}");
}

/// Informal measurement for the closing note; run with
/// `cargo test --release -p boxoffice-storage --test store sled_store:: -- --ignored --nocapture`.
/// Compares raw sled inserts with `SledStore::append` (which adds the per-log
/// lock and the key encoding), by thread count and record size.
#[test]
#[ignore = "a measurement, not a test: run in release with --nocapture"]
fn measure_append_and_flush_rates() {
    const TOTAL: usize = 200_000;
    for record_bytes in [64usize, 1024] {
        for threads in [1usize, 2, 4] {
            let dir = tempfile::tempdir().unwrap();
            let db = sled::Config::new()
                .path(dir.path())
                .mode(sled::Mode::HighThroughput)
                .open()
                .unwrap();
            let tree = db.open_tree("raw").unwrap();
            let rate = run_threads(threads, TOTAL, |t, i| {
                let mut key = format!("schedule/{t}-{}", i % 8).into_bytes();
                key.push(0);
                key.extend_from_slice(&(i as u64).to_be_bytes());
                tree.insert(key, vec![7u8; record_bytes]).unwrap();
            });
            println!("raw sled insert   {record_bytes:>5} B x {threads} threads: {rate:>8.0}/s");
            drop((tree, db));

            let dir = tempfile::tempdir().unwrap();
            let store = SledStore::open(dir.path()).unwrap();
            let record = vec![7u8; record_bytes];
            let rate = run_threads(threads, TOTAL, |t, i| {
                store
                    .append(&format!("schedule/{t}-{}", i % 8), &record)
                    .unwrap();
            });
            println!("SledStore::append {record_bytes:>5} B x {threads} threads: {rate:>8.0}/s");

            // Every thread on one log: its lock serializes them, as one global mutex would.
            let dir = tempfile::tempdir().unwrap();
            let store = SledStore::open(dir.path()).unwrap();
            let rate = run_threads(threads, TOTAL, |_, _| {
                store.append("schedule/one", &record).unwrap();
            });
            println!("  same log (=one mutex)             {rate:>8.0}/s");
        }
    }
    for durability in [Durability::ProcessCrash, Durability::PowerLoss] {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open_with(dir.path(), durability).unwrap();
        let flushes: u32 = 2_000;
        let started = Instant::now();
        for _ in 0..flushes {
            store.append("flush/probe", &[7u8; 1024]).unwrap();
            store.flush().unwrap();
        }
        println!(
            "{durability:?}: append + flush of one 1 KiB record: {:?} each",
            started.elapsed() / flushes
        );
    }
}

/// Runs `op(thread, i)` `total` times split over `threads` threads; returns ops/s.
fn run_threads(threads: usize, total: usize, op: impl Fn(usize, usize) + Sync) -> f64 {
    let started = Instant::now();
    std::thread::scope(|scope| {
        for t in 0..threads {
            let op = &op;
            scope.spawn(move || {
                for i in 0..total / threads {
                    op(t, i);
                }
            });
        }
    });
    total as f64 / started.elapsed().as_secs_f64()
}

/// Copies a data dir (sled's files and the side file).
fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn refusal(dir: &std::path::Path) -> String {
    match SledStore::open(dir) {
        Ok(_) => panic!("a sled file that lost flushed data was opened"),
        Err(StoreError::Corrupt(message)) => message,
        Err(other) => panic!("expected a Corrupt refusal, got {other}"),
    }
}

#[test]
fn a_fresh_dir_gets_a_watermark_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SledStore::open(dir.path()).unwrap();
        assert!(dir.path().join(WATERMARK_FILE).exists());
        store.append("a", b"1").unwrap();
        store.flush().unwrap();
        store.flush().unwrap();
    }
    let store = SledStore::open(dir.path()).unwrap();
    assert_eq!(store.read_log("a", 0).unwrap().len(), 1);
}

#[test]
fn a_dir_without_a_watermark_file_opens_as_making_no_claim() {
    // A data dir written before the watermark existed has no side file.
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SledStore::open(dir.path()).unwrap();
        store.append("a", b"1").unwrap();
        store.flush().unwrap();
    }
    std::fs::remove_file(dir.path().join(WATERMARK_FILE)).unwrap();
    {
        let store = SledStore::open(dir.path()).unwrap();
        assert!(dir.path().join(WATERMARK_FILE).exists(), "created again");
        store.append("a", b"2").unwrap();
        store.flush().unwrap();
    }
    let store = SledStore::open(dir.path()).unwrap();
    assert_eq!(store.read_log("a", 0).unwrap().len(), 2);
}

#[test]
fn a_sled_file_behind_its_watermark_is_refused_naming_both_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let older = tempfile::tempdir().unwrap();
    {
        let store = SledStore::open(dir.path()).unwrap();
        for i in 0..3u8 {
            store.append("a", &[i]).unwrap();
            store.flush().unwrap();
        }
    }
    copy_dir(dir.path(), older.path());
    {
        let store = SledStore::open(dir.path()).unwrap();
        for i in 3..5u8 {
            store.append("a", &[i]).unwrap();
            store.flush().unwrap();
        }
    }
    // sled's file as it was after flush 3, with the claim of flush 5: what a
    // tail lost from sled's file looks like.
    std::fs::copy(
        dir.path().join(WATERMARK_FILE),
        older.path().join(WATERMARK_FILE),
    )
    .unwrap();
    let message = refusal(older.path());
    assert!(
        message.contains("flush 5 completed") && message.contains("holds flush 3"),
        "{message}"
    );
    // The untouched dir opens.
    SledStore::open(dir.path()).unwrap();
}

#[test]
fn a_db_file_cut_to_nothing_is_refused_not_opened_empty() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SledStore::open(dir.path()).unwrap();
        store.append("a", b"1").unwrap();
        store.put_meta("secret", b"s").unwrap();
        store.flush().unwrap();
    }
    std::fs::OpenOptions::new()
        .write(true)
        .open(dir.path().join("db"))
        .unwrap()
        .set_len(0)
        .unwrap();
    let message = refusal(dir.path());
    assert!(message.contains("holds flush 0"), "{message}");
}

#[test]
fn power_loss_mode_keeps_the_watermark_too() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SledStore::open_with(dir.path(), Durability::PowerLoss).unwrap();
        store.append("a", b"1").unwrap();
        store.flush().unwrap();
    }
    // Reopen a copy: sled releases its directory lock from a background
    // thread, which on a loaded machine can take longer than open waits.
    let copy = tempfile::tempdir().unwrap();
    copy_dir(dir.path(), copy.path());
    let store = SledStore::open_with(copy.path(), Durability::PowerLoss).unwrap();
    assert_eq!(store.read_log("a", 0).unwrap().len(), 1);
}

/// What the flush watermark adds to each flush; run with
/// `cargo test --release -p boxoffice-storage --test store sled_store::measure_watermark -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement, not a test: run in release with --nocapture"]
fn measure_watermark_cost() {
    const ROUNDS: u32 = 2_000;
    for sync_each in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let mark = FlushWatermark::open(dir.path(), 0, sync_each).unwrap();
        let started = Instant::now();
        for seq in 1..=u64::from(ROUNDS) {
            mark.record(seq).unwrap();
        }
        println!(
            "watermark record (fdatasync: {sync_each}): {:?} each",
            started.elapsed() / ROUNDS
        );
    }
    for durability in [Durability::ProcessCrash, Durability::PowerLoss] {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open_with(dir.path(), durability).unwrap();
        let started = Instant::now();
        for _ in 0..ROUNDS {
            store.append("flush/probe", &[7u8; 256]).unwrap();
            store.flush().unwrap();
        }
        println!(
            "{durability:?}: append + flush (with the watermark) of one 256 B record: {:?} each",
            started.elapsed() / ROUNDS
        );
    }
}
