//! Torn and damaged writes: what recovery does when the newest log records,
//! or the tail of sled's own file, are corrupt or cut.
//!
//! The rule: recovery either repairs (dropping only data that was never
//! acknowledged) or refuses to start with a message naming what is damaged;
//! it never silently serves a wrong state.
//!
//! - Our records (`[version][crc32][bincode]`, see `storage/src/codec.rs`): a
//!   damaged newest record in any actor's log (garbage, cut short, a flipped
//!   byte, empty, header only) is written after the real ones through
//!   `Store::append`, the way a torn payload would sit there. `Registry::start`
//!   must refuse, naming the log and lsn, and `boxoffice serve` must exit
//!   non-zero with that message on stderr, not a panic.
//! - sled's file: after a clean stop the `db` file is cut short or has bytes
//!   flipped near its end. sled treats a damaged tail as an interrupted write
//!   and drops everything after it. What must hold: the engine either refuses,
//!   or recovers to a consistent prefix of what was acknowledged (every
//!   invariant holds, nothing half done), and never starts without an
//!   acknowledged operation: the flush watermark next to sled's file
//!   (`storage/src/flush_watermark.rs`) makes the store refuse to open when
//!   sled lost flushed data, and `boxoffice serve` exits non-zero saying so.

use boxoffice_actors::schedule_actor::{log_name as schedule_log, GetUnfinishedWork};
use boxoffice_actors::{EngineConfig, HoldCommand, ManualClock, PayCommand, Registry};
use boxoffice_engine::ids::{PaymentId, ReservationId, ScheduleId, TransactionId, UserId};
use boxoffice_engine::layout::SeatLayout;
use boxoffice_engine::schedule::{ReservationStatus, ScheduleRules, SeatSelection};
use boxoffice_engine::Money;
use boxoffice_storage::{codec, SledStore, Store};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use test_support::engine::*;

use crate::binary::{exit_within, spawn_binary, Subcommand};

/// Users in the populated data dir; each charges, holds one seat, and every
/// second one pays: 3 to 5 acknowledged operations per user.
const USERS: u64 = 60;
/// Longest `boxoffice serve` may take to give up on a damaged data dir.
const SERVE_EXIT_TIMEOUT: Duration = Duration::from_secs(60);

/// One acknowledged operation, in the order it was acknowledged.
#[derive(Clone, Debug)]
enum Op {
    Charge(TransactionId),
    Hold(ReservationId),
    Pay(ReservationId, PaymentId),
}

/// A user whose wallet lands in a shard that depends on `n` (the shard is
/// chosen by the id's first bytes), so several wallet logs get records.
fn spread_user(n: u64) -> UserId {
    let mut bytes = id_bytes(1, n);
    bytes[0] = n as u8;
    UserId::from_random_bytes(bytes)
}

/// Fills `dir` through the engine, one acknowledged operation at a time,
/// and stops cleanly. Returns the operations in acknowledgement order.
fn populate(dir: &Path, config: EngineConfig) -> Vec<Op> {
    let system = actix_rt::System::new();
    system.block_on(async {
        let clock = ManualClock::new(T0);
        let registry = start_with(sled_store(dir), &clock, 1, config).await;
        let schedule = registry
            .create_schedule(spec(
                1,
                SeatLayout::uniform(1, 4, 20),
                ScheduleRules::default(),
                None,
            ))
            .await
            .expect("schedule");
        let mut ops = Vec::new();
        for n in 1..=USERS {
            let user = spread_user(n);
            let charge = registry
                .charge(user, Money(100_000), None)
                .await
                .expect("charge");
            ops.push(Op::Charge(charge.transaction_id));
            let hold = registry
                .hold(user, best_available(schedule))
                .await
                .expect("hold");
            ops.push(Op::Hold(hold.reservation_id));
            if n % 2 == 0 {
                let paid = registry
                    .pay(
                        user,
                        PayCommand {
                            reservation_id: hold.reservation_id,
                            amount: None,
                            queue_token: None,
                            idem: None,
                        },
                    )
                    .await
                    .expect("pay");
                ops.push(Op::Pay(hold.reservation_id, paid.payment_id));
            }
        }
        registry.shutdown();
        ops
    })
}

fn best_available(schedule_id: ScheduleId) -> HoldCommand {
    HoldCommand {
        schedule_id,
        selection: SeatSelection::BestAvailable {
            quantity: 1,
            grade: None,
            section_id: None,
        },
        queue_token: None,
        idem: None,
    }
}

/// What a recovered engine holds of the acknowledged operations.
struct Recovered {
    /// For each op (same order): is it there?
    present: Vec<bool>,
    /// (sum of balances, ledger entries, reservations, queue tokens): equal
    /// fingerprints of two recoveries of the same history.
    fingerprint: (i64, usize, usize, usize),
}

/// Opens `dir` and recovers the engine. `Err` is a refusal, with its message.
/// When it starts, every invariant must hold and nothing may be left between
/// saga steps (checked here: a consistent state is the least we require).
fn recover(dir: &Path, config: EngineConfig, ops: &[Op]) -> Result<Recovered, String> {
    let system = actix_rt::System::new();
    system.block_on(async {
        let store: Arc<dyn Store> =
            Arc::new(SledStore::open(dir).map_err(|e| format!("open: {e}"))?);
        let clock = ManualClock::new(T0);
        let registry = Registry::start(
            store,
            Arc::new(clock.clone()),
            Arc::new(boxoffice_actors::IdSource::seeded(2)),
            config,
        )
        .await
        .map_err(|e| format!("start: {e}"))?;
        check_all_invariants(&registry).await;
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
                "unfinished work: {work:?}"
            );
        }
        assert_eq!(registry.recovery_report().payments_stuck, 0);
        let state = export(&registry).await;
        let transactions: HashSet<TransactionId> = test_support::engine::ledger_transactions(
            registry.context().commit.store().as_ref(),
            &state,
        )
        .into_iter()
        .collect();
        let reservations: HashMap<ReservationId, ReservationStatus> = state
            .schedules
            .values()
            .flat_map(|s| s.schedule.reservations())
            .map(|r| (r.id, r.status))
            .collect();
        let present = ops
            .iter()
            .map(|op| match op {
                Op::Charge(tx) => transactions.contains(tx),
                Op::Hold(id) => reservations.contains_key(id),
                Op::Pay(id, payment) => {
                    reservations.get(id)
                        == Some(&ReservationStatus::Confirmed {
                            payment_id: *payment,
                        })
                }
            })
            .collect();
        let wallets = || state.wallets.iter().flat_map(|s| s.wallets.values());
        let fingerprint = (
            wallets().map(|w| w.balance().0).sum(),
            wallets().map(|w| w.ledger_len() as usize).sum(),
            reservations.len(),
            format!("{:?}", state.queue).len(),
        );
        registry.shutdown();
        Ok(Recovered {
            present,
            fingerprint,
        })
    })
}

// ------------------------------------------------------------ our records

/// Ways the newest record of a log can be torn or damaged.
#[derive(Clone, Copy, Debug)]
enum Damage {
    /// Bytes that were never a record.
    Garbage,
    /// The first half of a real record (a write cut short).
    CutShort,
    /// A real record with one payload byte flipped.
    FlippedByte,
    /// A zero-length value.
    Empty,
    /// Only the version byte and checksum.
    HeaderOnly,
}

const DAMAGES: [Damage; 5] = [
    Damage::Garbage,
    Damage::CutShort,
    Damage::FlippedByte,
    Damage::Empty,
    Damage::HeaderOnly,
];

/// Appends a damaged record to `log` after its real ones and flushes; returns its lsn.
fn append_damaged(dir: &Path, log: &str, damage: Damage) -> u64 {
    let store = SledStore::open(dir).expect("open store");
    let last = store.last_lsn(log).expect("last lsn");
    let newest = store
        .read_log(log, last.saturating_sub(1))
        .expect("read log")
        .pop()
        .map(|(_, bytes)| bytes)
        // A log trimmed behind a snapshot: a valid encoding stands in for a record.
        .unwrap_or_else(|| codec::encode(&vec![1u64, 2, 3]).expect("encode"));
    assert!(
        newest.len() > codec::HEADER_BYTES,
        "a real record has a payload"
    );
    let bytes = match damage {
        Damage::Garbage => (0..64u8).map(|i| i.wrapping_mul(37) ^ 0xA5).collect(),
        Damage::CutShort => newest[..newest.len() / 2].to_vec(),
        Damage::FlippedByte => {
            let mut bytes = newest.clone();
            let last_byte = bytes.len() - 1;
            bytes[last_byte] ^= 0x40;
            bytes
        }
        Damage::Empty => Vec::new(),
        Damage::HeaderOnly => newest[..codec::HEADER_BYTES].to_vec(),
    };
    let lsn = store.append(log, &bytes).expect("append");
    store.flush().expect("flush");
    lsn
}

/// Every log in a populated data dir: schedule, wallet shards, accounts, catalogue, queue.
fn logs_of(dir: &Path) -> Vec<String> {
    let store = SledStore::open(dir).expect("open store");
    store.list_logs("").expect("list logs")
}

#[test]
fn a_damaged_newest_record_in_any_log_is_refused_naming_log_and_lsn() {
    let template = tempfile::tempdir().expect("tempdir");
    let ops = populate(template.path(), test_config());
    // Control: the undamaged dir recovers everything.
    let control = recover(template.path(), test_config(), &ops).expect("undamaged dir starts");
    assert!(
        control.present.iter().all(|p| *p),
        "undamaged dir lost data"
    );
    let logs = logs_of(template.path());
    let schedule = schedule_log(schedule_id(1));
    assert!(logs.contains(&schedule), "{logs:?}");
    assert!(
        logs.iter().filter(|l| l.starts_with("wallet")).count() >= 2,
        "{logs:?}"
    );

    let mut cases = 0;
    for log in &logs {
        for damage in DAMAGES {
            let dir = tempfile::tempdir().expect("tempdir");
            copy_dir(template.path(), dir.path());
            let lsn = append_damaged(dir.path(), log, damage);
            let refusal = match recover(dir.path(), test_config(), &ops) {
                Ok(_) => panic!("{damage:?} record {lsn} of {log} was served silently"),
                Err(message) => message,
            };
            let names = format!("record {lsn} of log {log}");
            assert!(
                refusal.contains(&names),
                "{damage:?} in {log}: the refusal must name {names:?}, got {refusal:?}"
            );
            cases += 1;
        }
    }
    eprintln!(
        "{cases} damaged newest records over {} logs: every one refused with log and lsn",
        logs.len()
    );
}

#[test]
fn boxoffice_serve_on_a_damaged_log_exits_non_zero_with_a_clear_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    populate(&data, EngineConfig::default());
    let log = schedule_log(schedule_id(1));
    let lsn = append_damaged(&data, &log, Damage::CutShort);
    let (code, stderr) = serve_until_exit(&data);
    assert_ne!(code, Some(0), "serve must fail; stderr: {stderr}");
    assert!(
        code.is_some(),
        "serve was killed by a signal; stderr: {stderr}"
    );
    assert!(
        stderr.contains(&format!("record {lsn} of log {log}")),
        "stderr must name the log and lsn: {stderr}"
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "a refusal, not a panic: {stderr}"
    );
    eprintln!("boxoffice serve refused: {}", stderr.trim());
}

/// Runs `boxoffice serve` on `dir` and waits for it to exit (killing it,
/// and failing, if it is still up after `SERVE_EXIT_TIMEOUT`).
fn serve_until_exit(dir: &Path) -> (Option<i32>, String) {
    let mut child = spawn_binary(
        Subcommand::Serve,
        dir,
        &[],
        &[
            ("BOXOFFICE_JWT_SECRET", "torn-writes-secret-0123456789"),
            ("RUST_BACKTRACE", "1"),
        ],
        Stdio::null(),
        Stdio::piped(),
    );
    let Some(status) = exit_within(&mut child, SERVE_EXIT_TIMEOUT) else {
        panic!("boxoffice serve kept running on a damaged data dir");
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        use std::io::Read;
        let _ = pipe.read_to_string(&mut stderr);
    }
    (status.code(), stderr)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

// ------------------------------------------------------------ sled's file

/// Damage to the tail of sled's `db` file after a clean stop.
#[derive(Clone, Copy, Debug)]
enum TailDamage {
    /// The file cut short by this many bytes (the whole file when larger).
    Cut(u64),
    /// Four bytes XORed this many bytes before the end.
    Flip(u64),
    /// The file cut to this percentage of its length.
    CutToPercent(u64),
    /// Four bytes XORed at this percentage of the file's length.
    FlipAtPercent(u64),
}

const TAIL_DAMAGES: [TailDamage; 22] = [
    TailDamage::Cut(1),
    TailDamage::Cut(16),
    TailDamage::Cut(100),
    TailDamage::Cut(500),
    TailDamage::Cut(1_000),
    TailDamage::Cut(4_096),
    TailDamage::Cut(20_000),
    TailDamage::Cut(u64::MAX),
    TailDamage::Flip(4),
    TailDamage::Flip(30),
    TailDamage::Flip(100),
    TailDamage::Flip(200),
    TailDamage::Flip(500),
    TailDamage::Flip(1_000),
    TailDamage::Flip(3_000),
    TailDamage::Flip(10_000),
    TailDamage::CutToPercent(90),
    TailDamage::CutToPercent(50),
    TailDamage::CutToPercent(10),
    TailDamage::FlipAtPercent(95),
    TailDamage::FlipAtPercent(75),
    TailDamage::FlipAtPercent(50),
];

fn damage_tail(dir: &Path, damage: TailDamage) {
    let db = dir.join("db");
    let len = std::fs::metadata(&db).expect("db file").len();
    let from_end = |percent: u64| len - len * percent / 100;
    // (bytes to cut off the end, or bytes before the end to flip)
    let (cut, flip) = match damage {
        TailDamage::Cut(bytes) => (Some(bytes), None),
        TailDamage::CutToPercent(p) => (Some(from_end(p)), None),
        TailDamage::Flip(back) => (None, Some(back)),
        TailDamage::FlipAtPercent(p) => (None, Some(from_end(p))),
    };
    if let Some(bytes) = cut {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&db)
            .expect("open db");
        file.set_len(len.saturating_sub(bytes)).expect("truncate");
    }
    if let Some(back) = flip {
        let mut bytes = std::fs::read(&db).expect("read db");
        let at = bytes.len().saturating_sub(back as usize);
        let end = (at + 4).min(bytes.len());
        for byte in &mut bytes[at..end] {
            *byte ^= 0x5A;
        }
        std::fs::write(&db, &bytes).expect("write db");
    }
}

/// The outcome of one damaged tail: refused, or how many acknowledged
/// operations were lost (and whether what survived is a prefix of them).
#[derive(Debug)]
enum TailOutcome {
    Refused(String),
    Started { lost: usize, prefix: bool },
}

fn run_tail_cases() -> (usize, Vec<(TailDamage, TailOutcome)>) {
    let template = tempfile::tempdir().expect("tempdir");
    let ops = populate(template.path(), test_config());
    let db_len = std::fs::metadata(template.path().join("db"))
        .expect("db file")
        .len();
    eprintln!(
        "{} acknowledged operations, sled db file {db_len} bytes",
        ops.len()
    );
    let mut outcomes = Vec::new();
    for damage in TAIL_DAMAGES {
        let dir = tempfile::tempdir().expect("tempdir");
        copy_dir(template.path(), dir.path());
        damage_tail(dir.path(), damage);
        let outcome = match recover(dir.path(), test_config(), &ops) {
            Err(message) => TailOutcome::Refused(message),
            Ok(recovered) => {
                let lost = recovered.present.iter().filter(|p| !**p).count();
                // What survived is a prefix when nothing present follows something lost.
                let first_lost = recovered.present.iter().position(|p| !*p);
                let prefix =
                    first_lost.is_none_or(|first| recovered.present[first..].iter().all(|p| !*p));
                TailOutcome::Started { lost, prefix }
            }
        };
        eprintln!("{damage:?}: {outcome:?}");
        outcomes.push((damage, outcome));
    }
    (ops.len(), outcomes)
}

/// Passes today: a damaged tail never yields a state that breaks an
/// invariant or leaves a saga half done (checked in `recover`), and what
/// survives is a prefix of what was acknowledged, in order.
#[test]
fn sled_tail_damage_recovers_to_a_consistent_prefix_or_refuses() {
    let (total, outcomes) = run_tail_cases();
    for (damage, outcome) in &outcomes {
        match outcome {
            TailOutcome::Refused(message) => {
                assert!(!message.is_empty(), "{damage:?}: a refusal says why")
            }
            TailOutcome::Started { prefix, lost } => assert!(
                *prefix,
                "{damage:?}: {lost} of {total} operations lost, and not only the newest ones"
            ),
        }
    }
}

/// A damaged tail never lets the engine start without an acknowledged
/// operation (finding F1, fixed): sled drops a damaged tail as if it were an
/// interrupted write, but the flush watermark outside sled's file then
/// claims a flush that sled no longer holds, and the store refuses to open
/// (the "refuses to start with a clear message"). A refusal must
/// name both flush numbers.
#[test]
fn sled_tail_damage_never_loses_acknowledged_data() {
    let (total, outcomes) = run_tail_cases();
    let silent_losses: Vec<String> = outcomes
        .iter()
        .filter_map(|(damage, outcome)| match outcome {
            TailOutcome::Started { lost, .. } if *lost > 0 => Some(format!(
                "{damage:?}: started without {lost} of {total} acknowledged operations"
            )),
            TailOutcome::Refused(message)
                if message.contains("lost flushed data") && !message.contains("holds flush") =>
            {
                Some(format!(
                    "{damage:?}: the refusal does not name sled's flush: {message}"
                ))
            }
            _ => None,
        })
        .collect();
    let refused = outcomes
        .iter()
        .filter(|(_, outcome)| matches!(outcome, TailOutcome::Refused(_)))
        .count();
    eprintln!(
        "{} damaged tails: {refused} refused, {} started with nothing lost",
        outcomes.len(),
        outcomes.len() - refused
    );
    assert!(
        silent_losses.is_empty(),
        "damaged tails served silently:\n{}",
        silent_losses.join("\n")
    );
}

#[test]
fn boxoffice_serve_on_a_cut_sled_file_exits_non_zero_naming_the_lost_flushes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    populate(&data, EngineConfig::default());
    damage_tail(&data, TailDamage::CutToPercent(50));
    let (code, stderr) = serve_until_exit(&data);
    assert_ne!(code, Some(0), "serve must fail; stderr: {stderr}");
    assert!(
        code.is_some(),
        "serve was killed by a signal; stderr: {stderr}"
    );
    assert!(
        stderr.contains("lost flushed data") && stderr.contains("flush-watermark"),
        "stderr must say sled lost flushed data and name the watermark file: {stderr}"
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "a refusal, not a panic: {stderr}"
    );
    eprintln!("boxoffice serve refused: {}", stderr.trim());
}

// ------------------------------------------------------------ a replayed record

/// A record that is valid but appears twice (the newest one appended again,
/// as a buggy retry would) is refused or harmless (finding F2, fixed). Wallet
/// logs: a repeated charge, debit or refund is refused naming the record's
/// lsn and log (`WalletShardState::load`: a transaction already in the
/// ledger, or an event `Wallet::apply` refuses). Schedule logs: the
/// schedule's `apply` refuses an impossible transition. Before the fix a
/// repeated charge was served (the ledger held it twice) and a repeated
/// debit or confirmation panicked inside recovery.
#[test]
fn a_repeated_newest_record_is_refused_or_harmless() {
    let template = tempfile::tempdir().expect("tempdir");
    let config = EngineConfig::default(); // no snapshots: every log keeps its records
    let ops = populate(template.path(), config.clone());
    let control = recover(template.path(), config.clone(), &ops).expect("control starts");
    let mut wrong = Vec::new();
    for log in logs_of(template.path()) {
        let dir = tempfile::tempdir().expect("tempdir");
        copy_dir(template.path(), dir.path());
        {
            let store = SledStore::open(dir.path()).expect("open store");
            let last = store.last_lsn(&log).expect("last lsn");
            let Some((_, newest)) = store
                .read_log(&log, last.saturating_sub(1))
                .expect("read")
                .pop()
            else {
                continue;
            };
            store.append(&log, &newest).expect("append");
            store.flush().expect("flush");
        }
        let (path, config, all) = (dir.path().to_path_buf(), config.clone(), ops.clone());
        // A panic inside recovery is caught here so every log gets its verdict.
        match std::thread::spawn(move || recover(&path, config, &all)).join() {
            Ok(Err(refused)) => eprintln!("{log}: refused: {refused}"),
            Ok(Ok(recovered)) if recovered.fingerprint == control.fingerprint => {
                eprintln!("{log}: harmless (same state as the control)")
            }
            Ok(Ok(recovered)) => wrong.push(format!(
                "{log}: served a different state: {:?} instead of {:?}",
                recovered.fingerprint, control.fingerprint
            )),
            Err(panic) => wrong.push(format!(
                "{log}: recovery panicked: {:?}",
                panic.downcast_ref::<String>()
            )),
        }
    }
    assert!(wrong.is_empty(), "repeated records:\n{}", wrong.join("\n"));
}
