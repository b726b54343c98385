//! Durability under `kill -9`: the engine runs in a child process (`boxoffice
//! load`) under mixed load and prints every change it acknowledged; the test
//! SIGKILLs it mid-flight, reopens the data dir in-process, and requires every
//! acknowledged change to be there, the invariants to hold, and no saga to be
//! left between steps. Several rounds on the same data dir.

use boxoffice_actors::audit;
use boxoffice_actors::schedule_actor::GetUnfinishedWork;
use boxoffice_actors::ManualClock;
use boxoffice_engine::ids::*;
use boxoffice_engine::schedule::ReservationStatus;
use boxoffice_engine::Money;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};
use test_support::engine::*;

use crate::binary::{one_at_a_time, spawn_binary, Subcommand};

const ROUNDS: usize = 4;

/// What the reopened engine holds for a reservation: its schedule, status and refund (payment, amount).
type Found = (ScheduleId, ReservationStatus, Option<(PaymentId, Money)>);

/// Runs the load child until it has acknowledged at least `min_acks` changes
/// (and a random extra moment), then SIGKILLs it. Returns every ack line.
fn run_and_kill(dir: &std::path::Path, seed: u64, min_acks: usize) -> Vec<Value> {
    let mut child = spawn_binary(
        Subcommand::Load,
        dir,
        &[
            "--seed",
            &seed.to_string(),
            "--clients",
            "48",
            "--max-seconds",
            "60",
        ],
        &[],
        Stdio::piped(),
        Stdio::null(),
    );
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut acks = Vec::new();
    let started = Instant::now();
    let extra = Duration::from_millis(seed * 37 % 300);
    let mut reached_at = None;
    loop {
        match rx.recv_timeout(Duration::from_millis(20)) {
            Ok(line) => {
                acks.push(serde_json::from_str::<Value>(&line).expect("ack lines are JSON"))
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                panic!("load child exited early")
            }
        }
        if acks.len() >= min_acks && reached_at.is_none() {
            reached_at = Some(Instant::now());
        }
        if reached_at.is_some_and(|t| t.elapsed() >= extra) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "load child too slow: {} acks",
            acks.len()
        );
    }
    child.kill().expect("SIGKILL the child"); // std's kill() is SIGKILL on Unix
    child.wait().expect("reap child");
    reader.join().expect("reader thread");
    // Lines the child wrote before it died are still in the pipe: they were acknowledged too.
    acks.extend(
        rx.try_iter()
            .map(|line| serde_json::from_str::<Value>(&line).expect("JSON")),
    );
    acks
}

fn uuid_of(v: &Value, field: &str) -> uuid::Uuid {
    uuid::Uuid::parse_str(v[field].as_str().expect("string id")).expect("uuid")
}

#[test]
fn every_acknowledged_change_survives_kill_minus_nine() {
    let _heavy = one_at_a_time();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut all_acks: Vec<Value> = Vec::new();
    for round in 0..ROUNDS {
        let acks = run_and_kill(dir.path(), round as u64 + 1, 400);
        assert!(
            acks.iter().any(|a| a["op"] == "ready"),
            "child never got ready"
        );
        all_acks.extend(acks.into_iter().filter(|a| a["op"] != "ready"));
        verify(dir.path(), &all_acks, round);
    }
}

fn verify(dir: &std::path::Path, acks: &[Value], round: usize) {
    let system = actix_rt::System::new();
    system.block_on(async {
        let clock = ManualClock::new(T0);
        // A fresh id seed per round: ids minted by one recovery must not repeat in the next.
        let registry = start(sled_store(dir), &clock, 99 + round as u64).await;
        let state = export(&registry).await;

        // No saga left between steps after start-up recovery.
        for id in registry.schedule_ids() {
            let work = registry
                .schedule(id)
                .expect("schedule")
                .actor
                .query(GetUnfinishedWork)
                .await
                .expect("query");
            assert!(
                work.payments.is_empty() && work.refunds.is_empty(),
                "round {round}: unfinished work left: {work:?}"
            );
        }

        let ledger_txs: HashSet<TransactionId> = test_support::engine::ledger_transactions(
            registry.context().commit.store().as_ref(),
            &state,
        )
        .into_iter()
        .collect();
        let reservations: HashMap<ReservationId, Found> = state
            .schedules
            .values()
            .flat_map(|s| {
                s.schedule.reservations().map(move |r| {
                    (
                        r.id,
                        (
                            s.schedule.id(),
                            r.status,
                            r.refund.as_ref().map(|f| (f.payment_id, f.amount)),
                        ),
                    )
                })
            })
            .collect();
        let cancelled: HashSet<uuid::Uuid> = acks
            .iter()
            .filter(|a| a["op"] == "cancel")
            .map(|a| uuid_of(a, "reservation"))
            .collect();

        let mut counted = HashMap::<&str, usize>::new();
        for ack in acks {
            let op = ack["op"].as_str().expect("op");
            *counted.entry(op).or_default() += 1;
            match op {
                "charge" => assert!(
                    ledger_txs.contains(&TransactionId(uuid_of(ack, "tx"))),
                    "round {round}: lost charge {ack}"
                ),
                "hold" => assert!(
                    reservations.contains_key(&ReservationId(uuid_of(ack, "reservation"))),
                    "round {round}: lost hold {ack}"
                ),
                "pay" => {
                    let id = ReservationId(uuid_of(ack, "reservation"));
                    let (_, status, refund) = reservations
                        .get(&id)
                        .unwrap_or_else(|| panic!("round {round}: lost paid reservation {ack}"));
                    let payment = PaymentId(uuid_of(ack, "payment"));
                    // Paid, or paid and later cancelled (that cancel may have become
                    // durable without its acknowledgement reaching us before the kill).
                    let paid_then_cancelled = *status == ReservationStatus::Cancelled
                        && refund.is_some_and(|(p, _)| p == payment);
                    assert!(
                        *status
                            == ReservationStatus::Confirmed {
                                payment_id: payment
                            }
                            || paid_then_cancelled,
                        "round {round}: lost payment {ack}: {status:?}"
                    );
                    if cancelled.contains(&id.0) {
                        assert!(paid_then_cancelled, "round {round}: lost cancel of {ack}");
                    }
                }
                "cancel" => {
                    let id = ReservationId(uuid_of(ack, "reservation"));
                    let (_, status, refund) = reservations
                        .get(&id)
                        .unwrap_or_else(|| panic!("round {round}: lost cancel {ack}"));
                    assert_eq!(
                        *status,
                        ReservationStatus::Cancelled,
                        "round {round}: {ack}"
                    );
                    assert_eq!(
                        refund.map(|(_, m)| m.0),
                        ack["refund"].as_i64(),
                        "round {round}: {ack}"
                    );
                }
                other => panic!("unknown ack {other}"),
            }
        }
        assert!(
            counted.get("charge").copied().unwrap_or(0) > 0
                && counted.get("hold").copied().unwrap_or(0) > 0,
            "too little load: {counted:?}"
        );

        // Every invariant of the shared checker: seats, sagas, wallets equal
        // to their ledgers, money kept = price of seats sold.
        if let Err(broken) = audit::verdict(&audit::check_at_rest(&state)) {
            panic!("round {round}: invariants broken after recovery:\n{broken}");
        }
        eprintln!(
            "round {round}: verified {} acknowledged changes {counted:?}, recovery {:?}",
            acks.len(),
            registry.recovery_report()
        );
        registry.shutdown();
    });
}
