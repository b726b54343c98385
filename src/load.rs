//! `boxoffice load`: random mixed load against the engine on a real data dir,
//! printing one JSON line per acknowledged change to stdout.
//!
//! The kill tests run this as a child process, `kill -9` it mid-flight, then
//! reopen the data dir and look for every line it printed: a line is printed
//! only after the engine acknowledged the change, so each one must survive.
//! Each start audits the recovered engine with the shared checker
//! (`boxoffice_actors::audit`) before any load, and each run that ends by
//! itself audits what it leaves; a broken invariant exits non-zero.

use boxoffice_actors::audit;
use boxoffice_actors::booking::HoldCommand;
use boxoffice_actors::{
    EngineConfig, EngineError, IdSource, PayCommand, Registry, ScheduleSpec, SystemClock,
};
use boxoffice_engine::ids::*;
use boxoffice_engine::layout::SeatLayout;
use boxoffice_engine::schedule::{ScheduleRules, SeatSelection};
use boxoffice_engine::Money;
use boxoffice_storage::SledStore;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(clap::Args)]
pub struct LoadArgs {
    #[arg(long, env = "BOXOFFICE_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
    /// Seeds the workload (not the ids, which must differ between runs on one data dir).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Concurrent clients.
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// Stop by itself after this many seconds (the tests kill it sooner).
    #[arg(long, default_value_t = 60)]
    max_seconds: u64,
}

/// Fixed schedule ids, so every run on one data dir loads the same schedules.
pub fn load_schedule_id(n: u8) -> ScheduleId {
    ScheduleId::from_random_bytes([0xB0, n, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])
}

pub fn load_user(n: u64) -> UserId {
    let mut bytes = [0u8; 16];
    bytes[0] = 0xC0;
    bytes[8..].copy_from_slice(&n.to_be_bytes());
    UserId::from_random_bytes(bytes)
}

const SCHEDULES: u8 = 3;
const USERS: u64 = 256;

pub fn run(args: LoadArgs) -> Result<(), String> {
    std::fs::create_dir_all(&args.data_dir)
        .map_err(|e| format!("data dir {}: {e}", args.data_dir.display()))?;
    let system = actix::System::new();
    system.block_on(async move {
        let store = Arc::new(SledStore::open(&args.data_dir).map_err(|e| e.to_string())?);
        let registry = Registry::start(
            store,
            Arc::new(SystemClock),
            Arc::new(IdSource::from_os()),
            EngineConfig::default(),
        )
        .await
        .map_err(|e| e.to_string())?;
        for n in 0..SCHEDULES {
            let id = load_schedule_id(n);
            if registry.schedule(id).is_err() {
                let rules = ScheduleRules {
                    hold_ms: 3_000,
                    ..ScheduleRules::default()
                };
                let spec = ScheduleSpec {
                    schedule_id: id,
                    layout: SeatLayout::uniform(2, 10, 20),
                    rules,
                    queue: None,
                };
                registry
                    .create_schedule(spec)
                    .await
                    .map_err(|e| e.to_string())?;
            }
        }
        // What a kill left behind must pass the shared checker before any
        // new load runs on it; and so must what this run leaves.
        audit_engine(&registry, "after recovery").await?;
        println!("{}", json!({"op": "ready"}));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(args.max_seconds);
        let clients: Vec<_> = (0..args.clients)
            .map(|client| {
                let registry = Arc::clone(&registry);
                let seed = args.seed.wrapping_mul(1_000).wrapping_add(client as u64);
                actix::spawn(async move { client_loop(registry, seed, deadline).await })
            })
            .collect();
        for client in clients {
            let _ = client.await;
        }
        let audited = audit_engine(&registry, "after the load").await;
        registry.shutdown();
        audited
    })
}

/// Runs `boxoffice_actors::audit` over the engine at rest; an error names
/// every broken invariant.
async fn audit_engine(registry: &Registry, when: &str) -> Result<(), String> {
    let state = audit::export(registry)
        .await
        .map_err(|e| format!("export {when}: {e}"))?;
    audit::verdict(&audit::check_at_rest(&state))
        .map_err(|broken| format!("invariants broken {when}:\n{broken}"))
}

fn ack(value: serde_json::Value) {
    let mut out = std::io::stdout().lock();
    // A closed stdout means the test stopped listening: nothing else to do.
    let _ = writeln!(out, "{value}");
    let _ = out.flush();
}

async fn client_loop(registry: Arc<Registry>, seed: u64, deadline: std::time::Instant) {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut held: Vec<(UserId, ReservationId)> = Vec::new();
    let mut paid: Vec<(UserId, ReservationId)> = Vec::new();
    while std::time::Instant::now() < deadline {
        let user = load_user(rng.gen_range(0..USERS));
        match rng.gen_range(0..10) {
            0..=2 => {
                let amount = Money(rng.gen_range(1..=5) * 10_000);
                if let Ok(receipt) = registry.charge(user, amount, None).await {
                    ack(
                        json!({"op": "charge", "user": user, "tx": receipt.transaction_id, "amount": amount.0}),
                    );
                }
            }
            3..=6 => {
                let schedule_id = load_schedule_id(rng.gen_range(0..SCHEDULES));
                let selection = if rng.gen_bool(0.5) {
                    SeatSelection::BestAvailable {
                        quantity: rng.gen_range(1..=2),
                        grade: None,
                        section_id: None,
                    }
                } else {
                    let section = rng.gen_range(0..2);
                    let row = rng.gen_range(1..=10);
                    let first = rng.gen_range(1..=19);
                    SeatSelection::Ids(
                        (first..first + rng.gen_range(1..=2))
                            .map(|n| format!("S{section}-{row}-{n}"))
                            .collect(),
                    )
                };
                if let Ok(receipt) = registry
                    .hold(
                        user,
                        HoldCommand {
                            schedule_id,
                            selection,
                            queue_token: None,
                            idem: None,
                        },
                    )
                    .await
                {
                    let seats: Vec<_> = receipt.seats.iter().map(|s| s.seat_id.clone()).collect();
                    ack(
                        json!({"op": "hold", "user": user, "schedule": schedule_id, "reservation": receipt.reservation_id, "seats": seats}),
                    );
                    held.push((user, receipt.reservation_id));
                }
            }
            7..=8 => {
                if let Some((user, reservation_id)) = pop_random(&mut rng, &mut held) {
                    match registry
                        .pay(
                            user,
                            PayCommand {
                                reservation_id,
                                amount: None,
                                queue_token: None,
                                idem: None,
                            },
                        )
                        .await
                    {
                        Ok(receipt) => {
                            ack(
                                json!({"op": "pay", "user": user, "reservation": reservation_id, "payment": receipt.payment_id, "amount": receipt.amount.0}),
                            );
                            paid.push((user, reservation_id));
                        }
                        Err(EngineError::InsufficientBalance { .. }) => {
                            held.push((user, reservation_id))
                        }
                        Err(_) => {}
                    }
                }
            }
            _ => {
                if let Some((user, reservation_id)) = pop_random(&mut rng, &mut paid) {
                    if let Ok(receipt) = registry.cancel(user, reservation_id).await {
                        ack(
                            json!({"op": "cancel", "user": user, "reservation": reservation_id, "refund": receipt.refund_amount.0}),
                        );
                    }
                }
            }
        }
    }
}

fn pop_random<T>(rng: &mut SmallRng, items: &mut Vec<T>) -> Option<T> {
    if items.is_empty() {
        None
    } else {
        let i = rng.gen_range(0..items.len());
        Some(items.swap_remove(i))
    }
}
