//! GroupCommit: callbacks only after a covering flush, batching under
//! concurrency, fail-stop on a failed flush, and a clean shutdown.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use boxoffice_storage::{DurableCallback, GroupCommit, MemoryStore, Store, StoreError};

type Outcome = Result<(), StoreError>;

fn reply(tx: &Sender<Outcome>) -> DurableCallback {
    let tx = tx.clone();
    Box::new(move |result| tx.send(result).unwrap())
}

fn start(store: &Arc<MemoryStore>) -> Arc<GroupCommit> {
    GroupCommit::start(Arc::clone(store) as Arc<dyn Store>)
}

fn recv(rx: &Receiver<Outcome>) -> Outcome {
    rx.recv_timeout(Duration::from_secs(10))
        .expect("callback within 10 s")
}

#[test]
fn a_callback_fires_only_after_a_flush_covering_its_record() {
    let store = Arc::new(MemoryStore::new());
    store.set_flush_delay(Duration::from_millis(100));
    let commit = start(&store);
    let (tx, rx) = channel();
    assert_eq!(commit.append("a", b"1", reply(&tx)).unwrap(), 1);
    assert!(rx.try_recv().is_err(), "not durable yet");
    assert_eq!(store.stats().durable_records, 0);
    assert_eq!(recv(&rx), Ok(()));
    assert_eq!(
        store.stats().durable_records,
        1,
        "durable when the callback runs"
    );
}

#[test]
fn every_acknowledged_record_survives_a_crash_between_append_and_flush() {
    const THREADS: u64 = 4;
    const FIRST: u64 = 200;
    const CRASH_AFTER: u64 = 1_000;
    let store = Arc::new(MemoryStore::new());
    store.set_flush_delay(Duration::from_micros(200));
    let commit = start(&store);
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    // Appends records [from, to) to log/t on each of THREADS threads.
    let run = |from: u64, to: u64| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let (commit, acknowledged) = (Arc::clone(&commit), Arc::clone(&acknowledged));
                std::thread::spawn(move || {
                    let log = format!("log/{t}");
                    for i in from..to {
                        // One thread per log on a fresh store: record i gets lsn i + 1.
                        let (acknowledged, log_name, lsn) =
                            (Arc::clone(&acknowledged), log.clone(), i + 1);
                        let callback: DurableCallback = Box::new(move |result| {
                            if result.is_ok() {
                                acknowledged.lock().unwrap().push((log_name, lsn));
                            }
                        });
                        match commit.append(&log, &i.to_be_bytes(), callback) {
                            Ok(assigned) => assert_eq!(assigned, lsn),
                            Err(_) => break,
                        }
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.join().unwrap();
        }
    };
    // First a batch that is surely acknowledged, then the crash point is armed
    // in the middle of a second, concurrent batch.
    run(0, FIRST);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while (acknowledged.lock().unwrap().len() as u64) < THREADS * FIRST {
        assert!(
            std::time::Instant::now() < deadline,
            "first batch never acknowledged"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    store.crash_after_appends(CRASH_AFTER);
    run(FIRST, FIRST + 2_000);
    commit.shutdown();
    store.crash();
    let acknowledged = acknowledged.lock().unwrap();
    for (log, lsn) in acknowledged.iter() {
        assert!(*lsn > 0);
        let present = store.read_log(log, lsn - 1).unwrap();
        assert_eq!(
            present.first().map(|(l, _)| *l),
            Some(*lsn),
            "acknowledged {log}#{lsn} was lost"
        );
    }
    assert!(
        acknowledged.len() as u64 <= THREADS * FIRST + CRASH_AFTER,
        "nothing past the crash point is acknowledged"
    );
}

#[test]
fn concurrent_appenders_share_flushes() {
    const THREADS: usize = 8;
    const PER_THREAD: usize = 2_000;
    let store = Arc::new(MemoryStore::new());
    store.set_flush_delay(Duration::from_micros(300));
    let commit = start(&store);
    let (tx, rx) = channel();
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (commit, tx) = (Arc::clone(&commit), tx.clone());
            std::thread::spawn(move || {
                for i in 0..PER_THREAD {
                    commit
                        .append(&format!("schedule/{t}"), &i.to_le_bytes(), reply(&tx))
                        .unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    for handle in handles {
        handle.join().unwrap();
    }
    let outcomes: Vec<Outcome> = rx.iter().collect();
    assert_eq!(outcomes.len(), THREADS * PER_THREAD);
    assert!(outcomes.iter().all(Result::is_ok));
    let stats = commit.stats();
    println!("memory group commit: {stats:?}");
    assert_eq!(stats.records, (THREADS * PER_THREAD) as u64);
    assert_eq!(stats.callbacks, stats.records);
    assert!(stats.flushes < stats.records / 2, "{stats:?}");
    assert!(stats.max_batch_records > 1);
    assert_eq!(store.stats().durable_records, stats.records);
}

#[test]
fn a_failed_flush_fails_its_callbacks_and_poisons() {
    let store = Arc::new(MemoryStore::new());
    store.fail_flushes(1);
    let commit = start(&store);
    let (tx, rx) = channel();
    commit.append("a", b"1", reply(&tx)).unwrap();
    assert_eq!(recv(&rx), Err(StoreError::Injected("flush")));
    assert_eq!(
        commit.append("a", b"2", reply(&tx)),
        Err(StoreError::Poisoned)
    );
    commit.after_pending(reply(&tx));
    assert_eq!(recv(&rx), Err(StoreError::Poisoned));
    assert_eq!(
        store.stats().appends,
        1,
        "a poisoned group commit does not append"
    );
    assert!(
        rx.try_recv().is_err(),
        "the refused append's callback is never called"
    );
}

#[test]
fn a_crash_between_append_and_flush_fails_the_callback() {
    let store = Arc::new(MemoryStore::new());
    store.crash_after_appends(1);
    let commit = start(&store);
    let (tx, rx) = channel();
    commit.append("a", b"1", reply(&tx)).unwrap();
    assert_eq!(recv(&rx), Err(StoreError::Injected("crashed")));
    assert_eq!(
        commit.append("a", b"2", reply(&tx)),
        Err(StoreError::Poisoned)
    );
}

#[test]
fn a_failed_append_returns_err_and_never_calls_back() {
    let store = Arc::new(MemoryStore::new());
    store.fail_appends(1);
    let commit = start(&store);
    let called = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&called);
    let result = commit.append(
        "a",
        b"1",
        Box::new(move |_| flag.store(true, Ordering::SeqCst)),
    );
    assert_eq!(result, Err(StoreError::Injected("append")));
    commit.shutdown();
    assert!(!called.load(Ordering::SeqCst));
    assert_eq!(commit.stats().records, 0);
}

#[test]
fn after_pending_waits_for_the_batch_in_flight() {
    let store = Arc::new(MemoryStore::new());
    let commit = start(&store);
    let (tx, rx) = channel();
    // Nothing pending: answered at once, on this thread.
    commit.after_pending(reply(&tx));
    assert_eq!(rx.try_recv().unwrap(), Ok(()));

    store.set_flush_delay(Duration::from_millis(100));
    commit.append("a", b"1", reply(&tx)).unwrap();
    commit.after_pending(reply(&tx));
    assert!(rx.try_recv().is_err(), "the record is not durable yet");
    assert_eq!(recv(&rx), Ok(()));
    assert_eq!(recv(&rx), Ok(()));
    assert_eq!(store.stats().durable_records, 1);
}

#[test]
fn shutdown_completes_outstanding_callbacks_and_is_idempotent() {
    let store = Arc::new(MemoryStore::new());
    store.set_flush_delay(Duration::from_millis(20));
    let commit = start(&store);
    let (tx, rx) = channel();
    for i in 0..100u32 {
        commit.append("a", &i.to_be_bytes(), reply(&tx)).unwrap();
    }
    commit.shutdown();
    let done: Vec<Outcome> = rx.try_iter().collect();
    assert_eq!(
        done.len(),
        100,
        "every callback completed before shutdown returned"
    );
    assert!(done.iter().all(Result::is_ok));
    assert!(commit.append("a", b"late", reply(&tx)).is_err());
    commit.shutdown();
    store.crash();
    assert_eq!(store.read_log("a", 0).unwrap().len(), 100);
}

#[test]
fn dropping_the_group_commit_completes_callbacks() {
    let store = Arc::new(MemoryStore::new());
    store.set_flush_delay(Duration::from_millis(20));
    let (tx, rx) = channel();
    {
        let commit = start(&store);
        commit.append("a", b"1", reply(&tx)).unwrap();
    }
    assert_eq!(rx.try_recv().unwrap(), Ok(()));
}

#[test]
fn a_panicking_callback_does_not_stall_the_others() {
    let store = Arc::new(MemoryStore::new());
    let commit = start(&store);
    let (tx, rx) = channel();
    commit
        .append("a", b"1", Box::new(|_| panic!("callback bug")))
        .unwrap();
    commit.append("a", b"2", reply(&tx)).unwrap();
    assert_eq!(recv(&rx), Ok(()));
    commit.append("a", b"3", reply(&tx)).unwrap();
    assert_eq!(recv(&rx), Ok(()));
}

#[test]
fn the_store_is_reachable_through_the_group_commit() {
    let store = Arc::new(MemoryStore::new());
    let commit = start(&store);
    commit.store().append("direct", b"x").unwrap();
    assert_eq!(store.last_lsn("direct").unwrap(), 1);
}

fn start_with_timeout(store: &Arc<MemoryStore>, timeout: Duration) -> Arc<GroupCommit> {
    GroupCommit::start_with_flush_timeout(Arc::clone(store) as Arc<dyn Store>, timeout)
}

#[test]
fn a_hung_flush_poisons_the_group_commit_after_the_timeout() {
    const TIMEOUT: Duration = Duration::from_millis(300);
    let store = Arc::new(MemoryStore::new());
    store.block_flushes();
    let commit = start_with_timeout(&store, TIMEOUT);
    let (tx, rx) = channel();
    let started = std::time::Instant::now();
    commit.append("a", b"1", reply(&tx)).unwrap();
    // Give the flusher time to start flushing record 1, then queue record 2
    // behind the hung flush.
    std::thread::sleep(Duration::from_millis(50));
    commit.append("a", b"2", reply(&tx)).unwrap();
    assert_eq!(commit.health(), Ok(()), "healthy before the timeout");
    let first = recv(&rx);
    let waited = started.elapsed();
    let Err(StoreError::Io(message)) = &first else {
        panic!("the covered record gets the hang as an I/O error, got {first:?}");
    };
    assert!(message.contains("did not return within"), "{message}");
    assert_eq!(recv(&rx), Err(StoreError::Poisoned));
    assert!(
        waited >= TIMEOUT && waited < TIMEOUT + Duration::from_secs(5),
        "answered after {waited:?}, the timeout is {TIMEOUT:?}"
    );
    assert_eq!(
        commit.append("a", b"3", Box::new(|_| {})),
        Err(StoreError::Poisoned)
    );
    let (after_tx, after_rx) = channel();
    commit.after_pending(reply(&after_tx));
    assert_eq!(after_rx.try_recv(), Ok(Err(StoreError::Poisoned)));
    assert!(
        matches!(commit.health(), Err(StoreError::Io(m)) if m.contains("did not return")),
        "health reports the hang"
    );
    // Shutting down does not wait for the flush that never returns.
    let shutdown_started = std::time::Instant::now();
    drop(commit);
    assert!(shutdown_started.elapsed() < Duration::from_secs(5));
    assert_eq!(store.stats().durable_records, 0);
    store.unblock_flushes();
}

#[test]
fn a_hung_flush_that_returns_late_changes_nothing() {
    let store = Arc::new(MemoryStore::new());
    store.block_flushes();
    let commit = start_with_timeout(&store, Duration::from_millis(100));
    let (tx, rx) = channel();
    commit.append("a", b"1", reply(&tx)).unwrap();
    assert!(matches!(recv(&rx), Err(StoreError::Io(_))));
    store.unblock_flushes();
    // The late flush lands the record, but the caller was told it failed and
    // the group commit stays poisoned (fail-stop): restart and recover.
    std::thread::sleep(Duration::from_millis(100));
    assert!(commit.health().is_err());
    assert_eq!(
        commit.append("a", b"2", Box::new(|_| {})),
        Err(StoreError::Poisoned)
    );
    assert!(rx.try_recv().is_err(), "each callback runs once");
    commit.shutdown();
}

#[test]
fn slow_flushes_under_the_timeout_do_not_poison() {
    let store = Arc::new(MemoryStore::new());
    store.set_flush_delay(Duration::from_millis(60));
    let commit = start_with_timeout(&store, Duration::from_millis(500));
    let (tx, rx) = channel();
    for i in 0..5u8 {
        commit.append("a", &[i], reply(&tx)).unwrap();
        assert_eq!(recv(&rx), Ok(()));
    }
    assert_eq!(commit.health(), Ok(()));
    assert_eq!(store.stats().durable_records, 5);
}

#[test]
fn a_failed_flush_is_reported_by_health() {
    let store = Arc::new(MemoryStore::new());
    store.fail_flushes(1);
    let commit = start(&store);
    let (tx, rx) = channel();
    commit.append("a", b"1", reply(&tx)).unwrap();
    assert_eq!(recv(&rx), Err(StoreError::Injected("flush")));
    assert_eq!(commit.health(), Err(StoreError::Injected("flush")));
}

#[test]
fn a_pair_callback_gets_both_lsns_after_a_flush_covering_both_records() {
    let store = Arc::new(MemoryStore::new());
    store.set_flush_delay(Duration::from_millis(50));
    let commit = start(&store);
    commit
        .append("schedule/a", b"0", reply(&channel().0))
        .unwrap();
    let (tx, rx) = channel();
    let lsns = commit
        .append_pair(
            ("schedule/a", b"1"),
            ("outbox", b"o1"),
            Box::new(move |lsns, result| tx.send((lsns, result)).unwrap()),
        )
        .unwrap();
    assert_eq!(lsns, (2, 1));
    let (told, result) = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("callback within 10 s");
    assert_eq!((told, result), ((2, 1), Ok(())));
    assert_eq!(
        store.stats().durable_records,
        3,
        "both records durable when told"
    );
    assert_eq!(
        commit.stats().records,
        2,
        "a pair is one append of the group commit"
    );
    // A refused pair registers nothing and assigns nothing.
    let called = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&called);
    assert!(commit
        .append_pair(
            ("outbox", b"x"),
            ("outbox", b"y"),
            Box::new(move |_, _| flag.store(true, Ordering::SeqCst)),
        )
        .is_err());
    commit.shutdown();
    assert!(!called.load(Ordering::SeqCst));
    assert_eq!(store.last_lsn("outbox").unwrap(), 1);
}
