//! The mail dispatcher under injected crashes: its stored position and the
//! mails it sends (`http/src/mail/outbox_mail.rs`), through a seeded fake
//! [`MailTransport`] instead of the SMTP client.
//!
//! The main workload runs as in `mod.rs` (same world, same checks after
//! every restart), its users given accounts (all but about one in five,
//! whose mails are passed), and after about one operation in three the
//! dispatcher runs passes on the same store and clock until it caught up
//! or a pass stopped (so a page holds several mails).
//! The transport, by seeded choice, accepts a mail, refuses the connection,
//! times out, refuses the mail for good (5xx: passed), or kills the process
//! just before the send or just after the server accepted it (before the
//! position is stored). Of the planned crashes, a third are aimed inside
//! the next passes (the n-th store write after arming, 1-6: the position's
//! stores), the rest are the main simulation's.
//!
//! Checked at each send: the mail is for a durable event that calls for
//! one (`booking.confirmed`, or `booking.cancelled` with a refund, of a
//! buyer with an account), to that buyer; and no event's mail is accepted
//! twice in one life of the process (a repeat only across a crash).
//!
//! After each restart, before the dispatcher runs again: the stored
//! position is within the durable outbox, and every event before it that
//! calls for a mail had it accepted (or refused for good): the position
//! never passes an unsent mail. Then the dispatcher runs with a transport
//! that always accepts until a pass finds nothing, and every durable event
//! that calls for a mail has had it accepted at least once (or refused for
//! good), and every mail accepted is for an event still in the outbox.
//!
//! Seeds: `BOXOFFICE_SIM_MAIL_SEEDS=N` (default [`DEFAULT_SEEDS`]) or
//! `A..B`; `BOXOFFICE_SIM_MAIL_SEED=n` replays one with its whole trace.

use boxoffice_actors::booking_events::{BookingEvent, BookingEventData, BookingEventKind};
use boxoffice_actors::{Registry, Role};
use boxoffice_engine::ids::UserId;
use boxoffice_http::mail::mailer::{MailTransport, Message, SendError};
use boxoffice_http::mail::outbox_mail::{stored_position, Dispatcher, Position};
use boxoffice_http::mail::MailSettings;
use boxoffice_http::tickets_qr::QrSigner;
use boxoffice_storage::{Lsn, MemoryStore, Store};
use futures_util::future::LocalBoxFuture;
use futures_util::FutureExt;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::{Range, RangeInclusive};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::outbox::{durable_events, durable_events_in};
use super::side_crashes::{Aim, SideCrashes};
use super::world::{Trace, World};
use super::{restart_and_check, workload};

/// Seeds run by default: 200 took 32.9 s of a debug build on 2 busy cores
/// (load 9.6), so about 20 s (RELIABILITY.md); `BOXOFFICE_SIM_MAIL_SEEDS`
/// runs more.
pub const DEFAULT_SEEDS: u64 = 120;
/// Operations per seed.
const OPERATIONS_PER_SEED: RangeInclusive<usize> = 60..=140;
/// A crash aimed inside the passes dies after this many of their store writes.
const WRITES_INTO_A_PASS: RangeInclusive<u64> = 1..=6;
/// Users in 100 given an account (the others' mails are passed).
const ACCOUNT_PERCENT: u32 = 80;
/// The chance (in 100) that the dispatcher runs after an operation: it
/// lags, so a page holds several mails (and a failure can fall between).
const PASS_PERCENT: u32 = 35;
/// Passes after one operation at most (each reads a page of 32 events).
const PASSES_PER_STEP_MAX: usize = 200;
const FROM: &str = "Box Office <tickets@sim.test>";

/// The mail a durable event calls for, as the simulation keys it: the
/// recipient and the subject (`http/templates/mail/subjects.txt`).
type MailKey = (String, String);

/// What the receivers saw, over the seed's lives.
#[derive(Default)]
struct Inbox {
    /// Event id → the lives in which its mail was accepted.
    accepted: BTreeMap<uuid::Uuid, Vec<u64>>,
    /// Events whose mail the server refused for good (passed).
    refused: BTreeSet<uuid::Uuid>,
}

/// What the transport does with the next mail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Answer {
    Accept,
    ConnectionRefused,
    TimedOut,
    RefusedForGood,
    CrashBeforeSend,
    CrashAfterAccept,
}

/// The fake SMTP server: it looks each mail up among the durable events
/// that call for one (a mail for any other event is a bug).
struct FakeTransport {
    rng: RefCell<SmallRng>,
    /// Always accepts (the settle after a restart).
    reliable: bool,
    registry: Arc<Registry>,
    store: Arc<MemoryStore>,
    rule: Rc<MailRule>,
    inbox: Rc<RefCell<Inbox>>,
    life: u64,
    trace: Trace,
}

impl FakeTransport {
    fn answer(&self) -> Answer {
        if self.reliable {
            return Answer::Accept;
        }
        match self.rng.borrow_mut().gen_range(0..20) {
            0..=11 => Answer::Accept,
            12..=13 => Answer::ConnectionRefused,
            14..=15 => Answer::TimedOut,
            16 => Answer::RefusedForGood,
            17..=18 => Answer::CrashBeforeSend,
            _ => Answer::CrashAfterAccept,
        }
    }
}

impl MailTransport for FakeTransport {
    fn send(&self, message: Message) -> LocalBoxFuture<'_, Result<(), SendError>> {
        let to: Vec<String> = message
            .envelope()
            .to()
            .iter()
            .map(ToString::to_string)
            .collect();
        let subject = message
            .headers()
            .get_raw("Subject")
            .unwrap_or_default()
            .to_string();
        let [to] = to.as_slice() else {
            panic!("a mail to {to:?}: one buyer expected");
        };
        let key = (to.clone(), subject);
        let durable = self.registry.context().outbox.durable_lsn();
        let (owed, _) = self.rule.owed(self.store.as_ref(), durable, None);
        let Some(&event) = owed.get(&key) else {
            panic!("a mail {key:?} for no durable event that calls for one");
        };
        let answer = self.answer();
        self.trace
            .push(format!("  mail {key:?} (event {event}): {answer:?}"));
        let transient = |message: &str| {
            Err(SendError {
                message: message.into(),
                permanent: false,
            })
        };
        let result = match answer {
            Answer::Accept | Answer::CrashAfterAccept => {
                let mut inbox = self.inbox.borrow_mut();
                let lives = inbox.accepted.entry(event).or_default();
                assert!(
                    !lives.contains(&self.life),
                    "event {event}'s mail {key:?} was accepted twice without a crash between"
                );
                lives.push(self.life);
                if answer == Answer::CrashAfterAccept {
                    self.store.crash_after_writes(0);
                }
                Ok(())
            }
            Answer::ConnectionRefused => transient("connection refused"),
            Answer::TimedOut => transient("timed out"),
            Answer::RefusedForGood => {
                self.inbox.borrow_mut().refused.insert(event);
                Err(SendError {
                    message: "550 no such mailbox".into(),
                    permanent: true,
                })
            }
            Answer::CrashBeforeSend => {
                self.store.crash_after_writes(0);
                transient("the process died")
            }
        };
        async move { result }.boxed_local()
    }
}

#[derive(Default)]
struct MailStats {
    operations: u64,
    restarts: u64,
    crashes_aimed_at_passes: u64,
    crashes_in_a_pass: u64,
    passes: u64,
    mails_accepted: u64,
    failed_passes: u64,
    passed_checked: u64,
    /// Mails owed at the seed's last check (every one accepted or refused for good).
    owed_at_end: u64,
    refused_for_good: u64,
    repeats_across_crashes: u64,
}

/// Which durable events call for a mail (API.md "E-mail", independently
/// of the dispatcher's own rule).
struct MailRule {
    /// The buyers with an account: user → address.
    addresses: BTreeMap<UserId, String>,
    /// Where the dispatcher started on the fresh data dir: only events
    /// after it call for mail.
    first: Position,
}

impl MailRule {
    /// The mail `event` calls for: the tickets of a confirmation, the
    /// notice of a refunded cancellation, to a buyer with an account.
    fn mail_key(&self, event: &BookingEvent) -> Option<MailKey> {
        let BookingEventData::Reservation(r) = &event.data else {
            return None;
        };
        let subject = match event.kind {
            BookingEventKind::BookingConfirmed => format!("Your tickets: {}", r.reservation_number),
            BookingEventKind::BookingCancelled => match r.refund_amount {
                Some(amount) if amount.0 > 0 => format!("Refund: {}", r.reservation_number),
                Some(_) => format!("Cancelled: {}", r.reservation_number),
                None => return None,
            },
            _ => return None,
        };
        Some((self.addresses.get(&r.user)?.clone(), subject))
    }

    /// The durable events (up to `durable`) after the first position that
    /// call for a mail, by their mail, and those of them before `position`.
    fn owed(
        &self,
        store: &dyn Store,
        durable: Lsn,
        position: Option<Position>,
    ) -> (BTreeMap<MailKey, uuid::Uuid>, Vec<uuid::Uuid>) {
        let events = durable_events_in(store, durable);
        let from = passed_by(&events, self.first);
        let upto = position.map_or(from, |p| passed_by(&events, p));
        let mut owed = BTreeMap::new();
        let mut passed = Vec::new();
        for (i, (_, _, event)) in events.iter().enumerate().skip(from) {
            let Some(key) = self.mail_key(event) else {
                continue;
            };
            if let Some(other) = owed.insert(key.clone(), event.event_id) {
                panic!(
                    "events {other} and {} call for the same mail {key:?}",
                    event.event_id
                );
            }
            if i < upto {
                passed.push(event.event_id);
            }
        }
        (owed, passed)
    }
}

/// The seed's dispatcher and what its receivers saw.
struct Sim {
    dispatcher: Dispatcher,
    rule: Rc<MailRule>,
    inbox: Rc<RefCell<Inbox>>,
    rng: SmallRng,
    life: u64,
}

fn dispatcher(w: &World) -> Dispatcher {
    let settings = MailSettings {
        smtp_url: "smtp://localhost:25".into(),
        from: FROM.into(),
    };
    let from = settings.sender().expect("the sender is an address");
    Dispatcher::new(
        Arc::clone(&w.registry),
        from,
        QrSigner::new(b"simulated qr key"),
    )
    .unwrap_or_else(|err| panic!("the mail dispatcher does not start: {err}"))
}

/// How many of `events` (in feed order) are before `position`.
fn passed_by(events: &[(Lsn, u32, BookingEvent)], position: Position) -> usize {
    let page = position.page.unwrap_or_default();
    let start = events
        .iter()
        .take_while(|(lsn, index, _)| (*lsn, *index) <= (page.lsn, page.consumed))
        .count();
    (start + position.done as usize).min(events.len())
}

impl Sim {
    fn owed(
        &self,
        w: &World,
        position: Option<Position>,
    ) -> (BTreeMap<MailKey, uuid::Uuid>, Vec<uuid::Uuid>) {
        let durable = w.registry.context().outbox.durable_lsn();
        self.rule.owed(w.store.as_ref(), durable, position)
    }

    fn transport(&mut self, w: &World, reliable: bool) -> FakeTransport {
        FakeTransport {
            rng: RefCell::new(SmallRng::seed_from_u64(self.rng.gen())),
            reliable,
            registry: Arc::clone(&w.registry),
            store: Arc::clone(&w.store),
            rule: Rc::clone(&self.rule),
            inbox: Rc::clone(&self.inbox),
            life: self.life,
            trace: w.trace.clone(),
        }
    }

    /// Passes until one finds nothing to do or stops; false when one
    /// stopped (a refused send, or the store died).
    async fn catch_up(&mut self, w: &World, reliable: bool, stats: &mut MailStats) -> bool {
        let transport = self.transport(w, reliable);
        for _ in 0..PASSES_PER_STEP_MAX {
            stats.passes += 1;
            let pass = self.dispatcher.pass(&transport, Duration::ZERO);
            match w.run("mail pass", pass).await {
                Some(Ok(report)) => {
                    stats.mails_accepted += report.mails_sent as u64;
                    if report.events_read == 0 {
                        return true;
                    }
                }
                Some(Err(err)) => {
                    assert!(
                        !reliable || w.store.is_dead(),
                        "a mail pass failed with a reliable server and a live store: {err}"
                    );
                    w.trace.push(format!("  mail pass stopped: {err}"));
                    stats.failed_passes += 1;
                    return false;
                }
                None => {
                    assert!(
                        w.store.is_dead(),
                        "a mail pass was abandoned on a live store"
                    );
                    return false;
                }
            }
        }
        panic!("the mail dispatcher did not catch up in {PASSES_PER_STEP_MAX} passes");
    }

    /// Every event of `events` had its mail accepted, or refused for good.
    fn assert_mailed(&self, events: &[uuid::Uuid], what: &str) {
        let inbox = self.inbox.borrow();
        for event in events {
            assert!(
                inbox.accepted.contains_key(event) || inbox.refused.contains(event),
                "event {event}: {what}"
            );
        }
    }
}

/// The checks after a restart (the module doc).
async fn check(w: &mut World, sim: &mut Sim, stats: &mut MailStats) {
    sim.life += 1;
    let stored = stored_position(w.store.as_ref()).expect("the position reads");
    if let Some(page) = stored.and_then(|p| p.page) {
        let durable = w.registry.context().outbox.durable_lsn();
        assert!(
            page.lsn <= durable,
            "the mail position {page:?} is past the durable outbox ({durable})"
        );
    }
    let (_, passed) = sim.owed(w, stored);
    stats.passed_checked += passed.len() as u64;
    sim.assert_mailed(&passed, "the stored mail position passed it, unmailed");

    sim.dispatcher = dispatcher(w);
    assert!(
        sim.catch_up(w, true, stats).await,
        "the dispatcher did not catch up with a reliable server"
    );
    let (owed, _) = sim.owed(w, None);
    let owed: Vec<uuid::Uuid> = owed.into_values().collect();
    sim.assert_mailed(&owed, "a durable event's mail never accepted");
    stats.owed_at_end = owed.len() as u64;
    let in_outbox: BTreeSet<uuid::Uuid> = durable_events(w)
        .into_iter()
        .map(|(_, _, event)| event.event_id)
        .collect();
    let inbox = sim.inbox.borrow();
    for event in inbox.accepted.keys() {
        assert!(
            in_outbox.contains(event),
            "event {event} was mailed and is not in the durable outbox after a restart"
        );
    }
    stats.refused_for_good = inbox.refused.len() as u64;
    stats.repeats_across_crashes = inbox
        .accepted
        .values()
        .map(|lives| lives.len() as u64 - 1)
        .sum();
}

async fn kill_and_check(w: &mut World, sim: &mut Sim, stats: &mut MailStats) {
    stats.restarts += 1;
    restart_and_check(w).await;
    check(w, sim, stats).await;
}

/// Accounts for most of the world's users, in their place: the workload
/// books as them.
async fn give_accounts(w: &mut World) -> BTreeMap<UserId, String> {
    let mut addresses = BTreeMap::new();
    let mut users = Vec::new();
    for (i, user) in w.model.users.clone().into_iter().enumerate() {
        if w.rng.gen_range(0..100) >= ACCOUNT_PERCENT {
            users.push(user);
            continue;
        }
        let email = format!("buyer{i}@sim.test");
        let registered = w
            .registry
            .register(
                email.clone(),
                format!("Buyer {i}"),
                None,
                "hash".into(),
                Role::User,
            )
            .await
            .unwrap_or_else(|err| panic!("registering {email}: {err}"));
        addresses.insert(registered.user_id, email);
        users.push(registered.user_id);
    }
    w.model.users = users;
    w.trace.push(format!("accounts: {addresses:?}"));
    addresses
}

async fn run_seed(seed: u64, trace: Trace) -> MailStats {
    let mut w = World::create(seed, trace).await;
    let mut stats = MailStats::default();
    let addresses = give_accounts(&mut w).await;
    let dispatcher = dispatcher(&w);
    let mut sim = Sim {
        rule: Rc::new(MailRule {
            addresses,
            first: dispatcher.position(),
        }),
        dispatcher,
        inbox: Rc::default(),
        rng: SmallRng::seed_from_u64(seed ^ 0x6d61_696c),
        life: 0,
    };
    let operations = w.rng.gen_range(OPERATIONS_PER_SEED);
    let aim = Aim {
        one_in: 3,
        writes: WRITES_INTO_A_PASS,
        what: "the next mail passes",
    };
    let mut crashes = SideCrashes::plan(&mut w, operations, aim);
    for op in 0..operations {
        if crashes.before(&mut w, op) {
            stats.crashes_aimed_at_passes += 1;
        }
        w.trace.push(format!("#{op}"));
        workload::step(&mut w, &mut crashes.pay_crash).await;
        w.quiesce().await;
        stats.operations += 1;
        if !w.store.is_dead() && w.rng.gen_range(0..100) < PASS_PERCENT {
            crashes.arm_aimed(&mut w);
            let caught_up = sim.catch_up(&w, false, &mut stats).await;
            w.trace.push(format!(
                "  mail: {:?}{}",
                sim.dispatcher.position(),
                if caught_up { "" } else { " (stopped)" }
            ));
            if w.store.is_dead() {
                stats.crashes_in_a_pass += 1;
            }
        }
        if crashes.kill_now(&w, op) {
            kill_and_check(&mut w, &mut sim, &mut stats).await;
        }
    }
    kill_and_check(&mut w, &mut sim, &mut stats).await;
    w.registry.shutdown();
    stats
}

fn seeds_from_env() -> Range<u64> {
    super::seed_range(
        "BOXOFFICE_SIM_MAIL_SEED",
        "BOXOFFICE_SIM_MAIL_SEEDS",
        DEFAULT_SEEDS,
    )
}

#[actix_rt::test]
async fn simulated_crashes_lose_no_mail() {
    let seeds = seeds_from_env();
    let started = Instant::now();
    let mut total = MailStats::default();
    super::run_seeds(
        "mail simulation",
        seeds.clone(),
        "BOXOFFICE_SIM_MAIL_SEED={seed} cargo test --test engine simulated_crashes_lose_no_mail -- --nocapture",
        run_seed,
        |stats| {
            total.operations += stats.operations;
            total.restarts += stats.restarts;
            total.crashes_aimed_at_passes += stats.crashes_aimed_at_passes;
            total.crashes_in_a_pass += stats.crashes_in_a_pass;
            total.passes += stats.passes;
            total.mails_accepted += stats.mails_accepted;
            total.failed_passes += stats.failed_passes;
            total.passed_checked += stats.passed_checked;
            total.owed_at_end += stats.owed_at_end;
            total.refused_for_good += stats.refused_for_good;
            total.repeats_across_crashes += stats.repeats_across_crashes;
        },
    )
    .await;
    println!(
        "mail simulation: {} seeds from {} in {:.1} s; {} operations, {} restarts; {} crashes aimed inside the mail passes, \
         {} crashes fired in a pass (at a stored position or around a send); {} passes, {} stopped; {} mails accepted; \
         {} mailed events behind a recovered position checked; {} mails owed at the end, each accepted ({} refused for good); \
         {} mails repeated across a crash",
        seeds.end - seeds.start,
        seeds.start,
        started.elapsed().as_secs_f64(),
        total.operations,
        total.restarts,
        total.crashes_aimed_at_passes,
        total.crashes_in_a_pass,
        total.passes,
        total.failed_passes,
        total.mails_accepted,
        total.passed_checked,
        total.owed_at_end,
        total.refused_for_good,
        total.repeats_across_crashes,
    );
}
