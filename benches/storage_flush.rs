//! Storage cost per record at batch sizes 1, 16, 256 and 4,096: append that
//! many records, then make them durable.
//!
//! - `storage/append_flush`: `SledStore::append` of the batch to one log,
//!   then one `Store::flush` (sled's flush; `Durability::ProcessCrash`, the
//!   default: survives `kill -9`, not power loss).
//! - `storage/group_commit`: the same batch through `GroupCommit::append`
//!   (the way the engine writes: each record registers a callback), timed
//!   until the last callback has run. The flusher may cover the batch in one
//!   flush or several, as it would in production.
//!
//! Records are `RECORD_BYTES` bytes, about one actor batch of a few events
//! after the codec. The store lives in a temp dir under `target/tmp` (the
//! disk being measured, not a tmpfs). One criterion element is one record.
//! Run: `cargo bench --bench storage_flush` (about 1.5 minutes).

mod support;

use support::data_dir;

use boxoffice_storage::{GroupCommit, SledStore, Store};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

const BATCH_SIZES: [usize; 4] = [1, 16, 256, 4_096];
/// Bytes per record.
const RECORD_BYTES: usize = 256;
/// Batches written to one log before the bench moves to a fresh one, so no
/// log grows past a few hundred MB over a run.
const LOG_ROLL_RECORDS: u64 = 1_000_000;

fn store_in_target_tmp(prefix: &str) -> (tempfile::TempDir, Arc<SledStore>) {
    let dir = data_dir(prefix);
    let store = Arc::new(SledStore::open(dir.path()).expect("open sled store"));
    (dir, store)
}

/// The log the `written`-th record goes to.
fn log_for(written: u64) -> String {
    format!("bench/{}", written / LOG_ROLL_RECORDS)
}

fn append_flush(c: &mut Criterion) {
    let mut group = c.benchmark_group("storage/append_flush");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(6));
    let (_dir, store) = store_in_target_tmp("storage_flush");
    let record = vec![0xA5u8; RECORD_BYTES];
    let mut written = 0u64;
    for batch in BATCH_SIZES {
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_function(BenchmarkId::new("batch", batch), |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    let log = log_for(written);
                    for _ in 0..batch {
                        store.append(&log, &record).expect("append");
                    }
                    store.flush().expect("flush");
                    written += batch as u64;
                }
                start.elapsed()
            })
        });
    }
    group.finish();
}

fn group_commit(c: &mut Criterion) {
    let mut group = c.benchmark_group("storage/group_commit");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(6));
    let (_dir, store) = store_in_target_tmp("group_commit");
    let commit = GroupCommit::start(store);
    let record = vec![0x5Au8; RECORD_BYTES];
    let mut written = 0u64;
    for batch in BATCH_SIZES {
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_function(BenchmarkId::new("batch", batch), |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    let log = log_for(written);
                    let (tx, rx) = mpsc::channel();
                    for _ in 0..batch {
                        let tx = tx.clone();
                        commit
                            .append(
                                &log,
                                &record,
                                Box::new(move |durable| {
                                    let _ = tx.send(durable.is_ok());
                                }),
                            )
                            .expect("append");
                    }
                    drop(tx);
                    let durable = rx.iter().filter(|ok| *ok).count();
                    assert_eq!(durable, batch, "every record of the batch is durable");
                    written += batch as u64;
                }
                start.elapsed()
            })
        });
    }
    group.finish();
    let stats = commit.stats();
    eprintln!(
        "storage/group_commit: {} records in {} flushes ({:.1} records per flush, at most {} in one)",
        stats.records,
        stats.flushes,
        stats.records as f64 / stats.flushes.max(1) as f64,
        stats.max_batch_records
    );
    commit.shutdown();
}

criterion_group!(benches, append_flush, group_commit);
criterion_main!(benches);
