//! Wallet debit cost, from the pure engine up to a durable debit through the
//! wallet actor.
//!
//! - `engine/wallet_debit`: `Wallet::debit` of 1 cent under a fresh payment id
//!   on a wallet funded to its balance cap (50,000,000). The wallet keeps its
//!   whole ledger and every payment id, so the bench runs in chunks of at most
//!   `ENGINE_CHUNK` debits, each on a fresh clone of the funded wallet (the
//!   clone is not timed).
//! - `actors/wallet_debit`: the wallet actor's `Debit` message through
//!   `Registry::wallet(user).command(..)`, on a `SledStore` in a temp dir
//!   under `target/tmp` with the group commit, from 1 or 64 concurrent
//!   callers (one funded user each, spread over the wallet shards). Each reply
//!   waits for the flush covering its record, as in the payment saga.
//!
//! One criterion element is one debit. Run: `cargo bench --bench wallet_debit`
//! (about a minute after the build).

mod support;

use support::{data_dir, id_bytes};

use boxoffice_actors::journal::ReplyAt;
use boxoffice_actors::wallet_actor::Debit;
use boxoffice_actors::{EngineConfig, IdSource, Registry, SystemClock};
use boxoffice_engine::ids::{PaymentId, TransactionId, UserId};
use boxoffice_engine::wallet::{Wallet, WalletLimits};
use boxoffice_engine::{Money, Timestamp};
use boxoffice_storage::{SledStore, Store};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// 2026-11-24T00:00:00Z; the engine bench runs at this fixed "now".
const NOW: Timestamp = Timestamp(1_795_478_400_000);
/// Most debits made on one clone of the funded wallet.
const ENGINE_CHUNK: u64 = 100_000;
/// What one debit takes: the balance cap allows 50 million of them.
const DEBIT: Money = Money(1);
/// Concurrent callers of the actor bench.
const CALLERS: [usize; 2] = [1, 64];
/// Charges that fund each user to the default balance cap (5 x 10,000,000).
const FUNDING_CHARGES: usize = 5;

/// A wallet charged up to the default balance cap.
fn funded_wallet() -> Wallet {
    let limits = WalletLimits::default();
    let mut wallet = Wallet::new(UserId::from_random_bytes(id_bytes(1, 0)));
    for n in 0..FUNDING_CHARGES as u64 {
        wallet
            .charge(
                TransactionId::from_random_bytes(id_bytes(2, n)),
                limits.max_charge,
                &limits,
                NOW,
            )
            .expect("funding stays within the default limits");
    }
    wallet
}

fn engine_wallet_debit(c: &mut Criterion) {
    let mut group = c.benchmark_group("engine/wallet_debit");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::Elements(1));
    let base = funded_wallet();
    group.bench_function("debit_1_cent", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut done = 0;
            while done < iters {
                let chunk = (iters - done).min(ENGINE_CHUNK);
                let mut wallet = base.clone();
                let start = Instant::now();
                for n in done..done + chunk {
                    let event = wallet
                        .debit(
                            TransactionId::from_random_bytes(id_bytes(3, n)),
                            PaymentId::from_random_bytes(id_bytes(4, n)),
                            DEBIT,
                            NOW,
                        )
                        .expect("the funded wallet covers the debit");
                    black_box(event);
                }
                total += start.elapsed();
                done += chunk;
            }
            total
        })
    });
    group.finish();
}

/// One engine on sled in a temporary directory, with `callers` funded users.
struct ActorBench {
    system: actix_rt::System,
    runner: actix_rt::SystemRunner,
    registry: Arc<Registry>,
    users: Vec<UserId>,
    /// Next payment number, so successive runs never reuse a payment id.
    next_payment: AtomicU64,
    dir: tempfile::TempDir,
}

impl ActorBench {
    fn start(callers: usize) -> ActorBench {
        // Under target/tmp, i.e. on the disk being measured, not a tmpfs.
        let dir = data_dir("wallet_debit");
        let runner = actix_rt::System::new();
        let system = actix_rt::System::current();
        let store: Arc<dyn Store> = Arc::new(SledStore::open(dir.path()).expect("open sled store"));
        let users: Vec<UserId> = (0..callers as u64)
            .map(|n| UserId::from_random_bytes(id_bytes(1, n)))
            .collect();
        let registry = runner.block_on(async {
            let registry = Registry::start(
                store,
                Arc::new(SystemClock),
                Arc::new(IdSource::seeded(7)),
                EngineConfig::default(),
            )
            .await
            .expect("engine starts");
            let max_charge = WalletLimits::default().max_charge;
            for user in &users {
                for _ in 0..FUNDING_CHARGES {
                    registry
                        .charge(*user, max_charge, None)
                        .await
                        .expect("funding charge");
                }
            }
            registry
        });
        ActorBench {
            system,
            runner,
            registry,
            users,
            next_payment: AtomicU64::new(0),
            dir,
        }
    }

    /// Runs `iters` durable debits spread over the callers; returns the wall time.
    fn run(&self, iters: u64) -> Duration {
        let callers = self.users.len() as u64;
        let first = self.next_payment.fetch_add(iters, Ordering::Relaxed);
        let registry = &self.registry;
        self.runner.block_on(async {
            let tasks = self.users.iter().enumerate().map(|(k, user)| {
                let k = k as u64;
                let mine = iters / callers + u64::from(k < iters % callers);
                async move {
                    for i in 0..mine {
                        let payment = first + k + i * callers;
                        let balance = registry
                            .wallet(*user)
                            .command(Debit {
                                user: *user,
                                payment_id: PaymentId::from_random_bytes(id_bytes(4, payment)),
                                amount: DEBIT,
                                reply_at: ReplyAt::Durable,
                            })
                            .await
                            .expect("durable debit of a funded wallet");
                        black_box(balance);
                    }
                }
            });
            let start = Instant::now();
            futures_util::future::join_all(tasks).await;
            start.elapsed()
        })
    }

    fn stop(self) {
        self.registry.shutdown();
        drop(self.registry);
        self.system.stop();
        drop(self.runner);
        drop(self.dir);
    }
}

fn actors_wallet_debit(c: &mut Criterion) {
    let mut group = c.benchmark_group("actors/wallet_debit");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(8))
        .throughput(Throughput::Elements(1));
    for callers in CALLERS {
        let bench = ActorBench::start(callers);
        group.bench_function(BenchmarkId::new("callers", callers), |b| {
            b.iter_custom(|iters| bench.run(iters))
        });
        bench.stop();
    }
    group.finish();
}

criterion_group!(benches, engine_wallet_debit, actors_wallet_debit);
criterion_main!(benches);
