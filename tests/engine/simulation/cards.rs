//! Card payments and card top-ups under injected crashes (issue 18,
//! `actors/src/card_payments/`), with the provider in memory.
//!
//! Each seed builds the main simulation's world (store, clock, schedules,
//! users) and attaches card payments to it with a fake provider that
//! outlives every restart, as a real one would: it keeps its intents,
//! refunds and the webhooks it still owes. No sweeper runs on its own; the
//! workload runs it. Operations, by seeded choice: holds; card payments of
//! holds and card top-ups (the payer only ever pays an intent whose 202 was
//! answered); the payer paying (now and then for another amount than asked)
//! or declining on the provider's page; webhooks delivered in any order,
//! late (the clock moves meanwhile), and again after they were taken;
//! cancels of holds and of CARD-paid reservations; the clock moving past
//! holds and card deadlines (then the expiry sweep and the card sweeper);
//! the provider going down and coming back.
//!
//! One operation in [`CRASH_PERCENT`] has a crash point aimed into it: the
//! store dies after its n-th write (1-5), which lands on each durable step of
//! a card record in turn (the record before the intent, the intent's id, the
//! schedule's begin, the confirmation or the wallet credit, the status,
//! a refund owed, the refund done) and on the writes between them. The
//! process is then killed (a seeded part of the unflushed tail kept, as in
//! the main simulation), restarted, and card payments attached again, which
//! reconciles what the crash left.
//!
//! After every restart: no payment is COMPLETED without its money captured
//! (the same amount), no reservation is CONFIRMED by a card payment that is
//! not, and no wallet holds more than its captured top-ups (nor less than
//! its completed ones). At the end the provider comes back, every owed
//! webhook is delivered, the clock passes every deadline and the sweeper runs
//! until nothing is pending or owed, and:
//! - each captured intent is exactly one kept payment (COMPLETED, its
//!   reservation CONFIRMED by it, or its top-up credited) or exactly one full
//!   refund (FAILED, or REFUNDED after its reservation was cancelled);
//! - no intent that was not captured is completed or refunded;
//! - each wallet holds exactly its completed top-ups (credited once);
//! - money is conserved: captured = kept payments + wallets + refunds.
//!
//! Seeds: `BOXOFFICE_SIM_CARD_SEEDS=N` (default [`DEFAULT_SEEDS`]) or `A..B`;
//! `BOXOFFICE_SIM_CARD_SEED=n` replays one with its whole trace.

use boxoffice_actors::card_payments::record::{self, CardId, CardRecord, CardStatus, RefundState};
use boxoffice_actors::card_payments::CardSettings;
use boxoffice_actors::schedule_actor::ExpireNow;
use boxoffice_actors::{Clock, EngineError, HoldCommand, PayCommand};
use boxoffice_engine::ids::{ReservationId, ScheduleId, UserId};
use boxoffice_engine::schedule::{ReservationStatus, SeatSelection};
use boxoffice_engine::Money;
use boxoffice_provider::signature::sign;
use boxoffice_provider::{
    Intent, IntentStatus, Metadata, NewIntent, NewRefund, PaymentProvider, ProviderError, Refund,
};
use futures_util::future::LocalBoxFuture;
use futures_util::FutureExt;
use rand::Rng;
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::ops::{Range, RangeInclusive};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::crash::CrashPoint;
use super::world::{Trace, World};

/// Seeds run by default: 800 took 61 s in a debug build on 2 busy cores,
/// so these take about 23 s.
pub const DEFAULT_SEEDS: u64 = 300;
/// Operations per seed.
const OPERATIONS_PER_SEED: RangeInclusive<usize> = 60..=160;
/// The chance (in 100) that an operation gets a crash point aimed into it.
const CRASH_PERCENT: u32 = 10;
/// A crash aimed into an operation dies after this many of its store writes.
const WRITES_INTO_AN_OPERATION: RangeInclusive<u64> = 1..=5;
/// Operations an armed crash point may wait before the process is killed anyway.
const ARMED_PATIENCE_OPS: usize = 6;
/// The provider's timeout: short, so the clock passes it within a seed.
const CARD_TIMEOUT_MS: i64 = 90_000;
/// How far the clock moves at a time.
const CLOCK_STEP_MS: RangeInclusive<i64> = 1_000..=40_000;
/// A card payment pays one of this many newest holds.
const RECENT_HOLDS: usize = 3;
/// Top-up amounts.
const TOP_UP: Range<i64> = 1_000..60_000;
const WEBHOOK_SECRET: &str = "whsec_simulation";
/// Rounds of delivering and sweeping the final drain may take.
const DRAIN_ROUNDS_MAX: usize = 50;

/// An intent as the fake provider keeps it.
#[derive(Clone, Debug)]
struct FakeIntent {
    amount: i64,
    currency: String,
    metadata: Metadata,
    /// `requires_payment_method`, `succeeded` or `canceled`.
    status: &'static str,
    captured: i64,
    /// The refund's idempotency key, once refunded (in full).
    refunded_by: Option<String>,
}

#[derive(Default)]
struct ProviderState {
    intents: BTreeMap<String, FakeIntent>,
    /// Create keys → intent id.
    created: HashMap<String, String>,
    /// Webhook bodies not yet taken by the server, in the order they were made.
    owed: Vec<String>,
    next_id: u64,
    down: bool,
}

/// A provider in memory that answers the adapter's calls and owes webhooks.
#[derive(Default)]
struct FakeProvider {
    state: Mutex<ProviderState>,
}

fn ready<'a, T: 'a>(value: T) -> LocalBoxFuture<'a, T> {
    async move { value }.boxed_local()
}

fn rejected(code: &str) -> ProviderError {
    ProviderError::Rejected {
        status: 400,
        code: Some(code.into()),
        message: code.into(),
    }
}

impl FakeIntent {
    fn wire(&self, id: &str) -> serde_json::Value {
        json!({"id": id, "object": "payment_intent", "amount": self.amount,
               "amount_received": self.captured, "currency": self.currency,
               "status": self.status, "metadata": self.metadata})
    }

    fn typed(&self, id: &str) -> Intent {
        Intent {
            id: id.to_string(),
            amount_minor: self.amount,
            amount_received_minor: self.captured,
            currency: self.currency.clone(),
            status: match self.status {
                "succeeded" => IntentStatus::Succeeded,
                "canceled" => IntentStatus::Canceled,
                other => IntentStatus::Pending(other.into()),
            },
            metadata: self.metadata.clone(),
            checkout_url: Some(format!("https://provider.test/checkout/{id}")),
            last_error: None,
        }
    }
}

impl ProviderState {
    fn owe(&mut self, kind: &str, object: serde_json::Value) {
        self.next_id += 1;
        let body = json!({"id": format!("evt_{}", self.next_id), "object": "event",
                          "type": kind, "created": 0, "data": {"object": object}});
        self.owed.push(body.to_string());
    }

    fn intent(&mut self, id: &str) -> Result<&mut FakeIntent, ProviderError> {
        self.intents.get_mut(id).ok_or(ProviderError::Rejected {
            status: 404,
            code: Some("resource_missing".into()),
            message: id.into(),
        })
    }
}

impl FakeProvider {
    fn lock(&self) -> std::sync::MutexGuard<'_, ProviderState> {
        self.state.lock().expect("provider state")
    }

    fn call<T>(
        &self,
        work: impl FnOnce(&mut ProviderState) -> Result<T, ProviderError>,
    ) -> Result<T, ProviderError> {
        let mut state = self.lock();
        if state.down {
            return Err(ProviderError::Unavailable("down (simulated)".into()));
        }
        work(&mut state)
    }

    /// The payer pays `id` on the checkout page (for `extra` more than asked).
    fn pay(&self, id: &str, extra: i64) -> bool {
        let mut state = self.lock();
        let Some(intent) = state.intents.get_mut(id) else {
            return false;
        };
        if intent.status != "requires_payment_method" {
            return false;
        }
        intent.status = "succeeded";
        intent.amount += extra;
        intent.captured = intent.amount;
        let object = intent.wire(id);
        state.owe("payment_intent.succeeded", object);
        true
    }

    /// The payer's card is declined on the checkout page (the intent stays open).
    fn decline(&self, id: &str) -> bool {
        let mut state = self.lock();
        let Some(intent) = state.intents.get(id) else {
            return false;
        };
        if intent.status != "requires_payment_method" {
            return false;
        }
        let object = intent.wire(id);
        state.owe("payment_intent.payment_failed", object);
        true
    }
}

impl PaymentProvider for FakeProvider {
    fn create_intent<'a>(
        &'a self,
        new: &'a NewIntent,
    ) -> LocalBoxFuture<'a, Result<Intent, ProviderError>> {
        ready(self.call(|state| {
            if new.amount_minor < 1 {
                return Err(rejected("amount_too_small"));
            }
            if let Some(id) = state.created.get(&new.idempotency_key).cloned() {
                return Ok(state.intent(&id)?.typed(&id));
            }
            state.next_id += 1;
            let id = format!("pi_{}", state.next_id);
            let intent = FakeIntent {
                amount: new.amount_minor,
                currency: new.currency.clone(),
                metadata: new.metadata.clone(),
                status: "requires_payment_method",
                captured: 0,
                refunded_by: None,
            };
            let typed = intent.typed(&id);
            state.intents.insert(id.clone(), intent);
            state.created.insert(new.idempotency_key.clone(), id);
            Ok(typed)
        }))
    }

    fn retrieve_intent<'a>(
        &'a self,
        id: &'a str,
    ) -> LocalBoxFuture<'a, Result<Intent, ProviderError>> {
        ready(self.call(|state| Ok(state.intent(id)?.typed(id))))
    }

    fn cancel_intent<'a>(
        &'a self,
        id: &'a str,
        _key: &'a str,
    ) -> LocalBoxFuture<'a, Result<Intent, ProviderError>> {
        ready(self.call(|state| {
            let intent = state.intent(id)?;
            if intent.status != "requires_payment_method" {
                return Err(rejected("payment_intent_unexpected_state"));
            }
            intent.status = "canceled";
            let (typed, object) = (intent.typed(id), intent.wire(id));
            state.owe("payment_intent.canceled", object);
            Ok(typed)
        }))
    }

    fn refund<'a>(
        &'a self,
        refund: &'a NewRefund,
    ) -> LocalBoxFuture<'a, Result<Refund, ProviderError>> {
        ready(self.call(|state| {
            let id = refund.intent_id.as_str();
            let intent = state.intent(id)?;
            if intent.status != "succeeded" {
                return Err(rejected("payment_intent_unexpected_state"));
            }
            match &intent.refunded_by {
                Some(key) if *key != refund.idempotency_key => {
                    return Err(rejected("charge_already_refunded"))
                }
                Some(_) => {}
                None => {
                    intent.refunded_by = Some(refund.idempotency_key.clone());
                    let charge = json!({"id": format!("ch_{id}"), "object": "charge",
                        "amount": intent.captured, "amount_refunded": intent.captured,
                        "currency": intent.currency, "payment_intent": id, "refunded": true,
                        "metadata": intent.metadata});
                    state.owe("charge.refunded", charge);
                }
            }
            let intent = state.intent(id)?;
            Ok(Refund {
                id: format!("re_{id}"),
                intent_id: id.to_string(),
                amount_minor: intent.captured,
                currency: intent.currency.clone(),
                status: "succeeded".into(),
            })
        }))
    }
}

#[derive(Default)]
struct CardStats {
    operations: u64,
    restarts: u64,
    crashes_aimed: u64,
    crashes_fired: u64,
    payments_opened: u64,
    top_ups_opened: u64,
    paid: u64,
    wrong_amounts: u64,
    declined: u64,
    webhooks_taken: u64,
    webhooks_repeated: u64,
    webhooks_refused: u64,
    cancels: u64,
    captured: u64,
    kept: u64,
    refunded: u64,
    credited_amount: i64,
}

/// One seed's card world.
struct Sim {
    provider: Arc<FakeProvider>,
    /// Holds made: (owner, reservation).
    holds: Vec<(UserId, ReservationId)>,
    /// Intents whose 202 was answered: the payer may pay these.
    answered: Vec<String>,
}

fn settings() -> CardSettings {
    CardSettings {
        provider_name: "mock".into(),
        webhook_secret: WEBHOOK_SECRET.into(),
        timeout_ms: CARD_TIMEOUT_MS,
        currency: "krw".into(),
        sweep_every_ms: None,
    }
}

fn intent_of(checkout_url: &str) -> String {
    checkout_url
        .rsplit('/')
        .next()
        .expect("intent id")
        .to_string()
}

/// Whether a refusal is one the engine may give on a good request: a dead
/// store, the provider down, a wallet limit; never a bad signature or a bug.
fn expected_refusal(err: &EngineError) -> bool {
    !matches!(err, EngineError::Validation(_) | EngineError::Internal(_))
}

impl Sim {
    async fn attach(&self, w: &World) {
        let provider: Arc<dyn PaymentProvider> = self.provider.clone();
        w.registry
            .attach_card_payments(provider, settings())
            .await
            .unwrap_or_else(|err| panic!("card payments do not attach after a restart: {err}"));
    }

    async fn step(&mut self, w: &mut World, stats: &mut CardStats) {
        match w.rng.gen_range(0..100) {
            0..=14 => self.hold(w).await,
            15..=29 => self.pay_by_card(w, stats).await,
            30..=36 => self.top_up(w, stats).await,
            37..=51 => self.payer(w, stats),
            52..=71 => self.deliver(w, stats).await,
            72..=78 => self.cancel(w, stats).await,
            79..=90 => self.advance(w).await,
            91..=96 => {
                w.trace.push("sweep".into());
                w.run("sweep", w.registry.sweep_card_payments_now()).await;
            }
            _ => {
                let mut state = self.provider.lock();
                state.down = !state.down;
                w.trace.push(format!("provider down: {}", state.down));
            }
        }
    }

    async fn hold(&mut self, w: &mut World) {
        let user = w.pick_user();
        let open: Vec<ScheduleId> = w
            .model
            .schedules
            .iter()
            .filter(|s| !s.gated)
            .map(|s| s.id)
            .collect();
        let Some(schedule_id) = w.pick(&open) else {
            return;
        };
        let command = HoldCommand {
            schedule_id,
            selection: SeatSelection::BestAvailable {
                quantity: w.rng.gen_range(1..=2),
                grade: None,
                section_id: None,
            },
            queue_token: None,
            idem: None,
        };
        let answer = w.run("hold", w.registry.hold(user, command)).await;
        w.trace.push(format!(
            "hold {user}: {:?}",
            answer
                .as_ref()
                .map(|a| a.as_ref().map(|r| r.reservation_id))
        ));
        if let Some(Ok(receipt)) = answer {
            self.holds.push((user, receipt.reservation_id));
        }
    }

    async fn pay_by_card(&mut self, w: &mut World, stats: &mut CardStats) {
        // Mostly one of the newest holds: older ones have often ended.
        let recent = &self.holds[self.holds.len().saturating_sub(RECENT_HOLDS)..];
        let Some((user, reservation_id)) = w.pick(recent) else {
            return;
        };
        let command = PayCommand {
            reservation_id,
            amount: None,
            queue_token: None,
            idem: None,
        };
        let answer = w
            .run("card payment", w.registry.pay_by_card(user, command, None))
            .await;
        w.trace
            .push(format!("pay {reservation_id} by card: {answer:?}"));
        match answer {
            Some(Ok(receipt)) => {
                stats.payments_opened += 1;
                self.answered.push(intent_of(&receipt.checkout_url));
            }
            Some(Err(err)) => {
                assert!(
                    !matches!(err, EngineError::Internal(_)),
                    "card payment: {err:?}"
                );
            }
            None => {}
        }
    }

    async fn top_up(&mut self, w: &mut World, stats: &mut CardStats) {
        let user = w.pick_user();
        let amount = Money(w.rng.gen_range(TOP_UP));
        let answer = w
            .run(
                "card top-up",
                w.registry.charge_by_card(user, amount, None, None),
            )
            .await;
        w.trace
            .push(format!("top up {user} by {} by card: {answer:?}", amount.0));
        match answer {
            Some(Ok(receipt)) => {
                stats.top_ups_opened += 1;
                self.answered.push(intent_of(&receipt.checkout_url));
            }
            Some(Err(err)) => assert!(
                !matches!(err, EngineError::Internal(_)),
                "card top-up: {err:?}"
            ),
            None => {}
        }
    }

    /// The payer on the provider's page: pays (1 in 8 for another amount) or declines.
    fn payer(&mut self, w: &mut World, stats: &mut CardStats) {
        let Some(id) = w.pick(&(0..self.answered.len()).collect::<Vec<_>>()) else {
            return;
        };
        let id = self.answered[id].clone();
        if w.rng.gen_range(0..4) == 0 {
            if self.provider.decline(&id) {
                stats.declined += 1;
                w.trace.push(format!("payer declines {id}"));
            }
            return;
        }
        let extra = i64::from(w.rng.gen_range(0..8) == 0);
        if self.provider.pay(&id, extra) {
            stats.paid += 1;
            stats.wrong_amounts += extra as u64;
            w.trace.push(format!("payer pays {id} (+{extra})"));
        }
    }

    /// Delivers one owed webhook, any of them; 1 in 4 stays owed (delivered again later).
    async fn deliver(&mut self, w: &mut World, stats: &mut CardStats) {
        let body = {
            let state = self.provider.lock();
            if state.owed.is_empty() {
                return;
            }
            let at = w.rng.gen_range(0..state.owed.len());
            (at, state.owed[at].clone())
        };
        let (at, body) = body;
        let taken = self.send(w, &body).await;
        w.trace.push(format!("webhook {body}: taken {taken}"));
        if taken {
            stats.webhooks_taken += 1;
            if w.rng.gen_range(0..4) == 0 {
                stats.webhooks_repeated += 1;
            } else {
                self.provider.lock().owed.remove(at);
            }
        } else {
            stats.webhooks_refused += 1;
        }
    }

    /// One signed delivery; true when the server took it (200).
    async fn send(&self, w: &World, body: &str) -> bool {
        let Some(card) = w.registry.card_payments().cloned() else {
            panic!("card payments are attached");
        };
        let header = sign(WEBHOOK_SECRET, w.clock.now().0 / 1_000, body.as_bytes());
        let answer = w
            .run(
                "webhook",
                w.registry
                    .receive_card_webhook(&card, Some(&header), body.as_bytes()),
            )
            .await;
        match answer {
            Some(Ok(())) => true,
            Some(Err(err)) if expected_refusal(&err) => false,
            Some(Err(err)) => panic!("a signed webhook was refused: {err:?}\n{body}"),
            None => false,
        }
    }

    async fn cancel(&mut self, w: &mut World, stats: &mut CardStats) {
        let Some((user, reservation_id)) = w.pick(&self.holds) else {
            return;
        };
        let answer = w
            .run("cancel", w.registry.cancel(user, reservation_id))
            .await;
        w.trace.push(format!(
            "cancel {reservation_id}: {:?}",
            answer.as_ref().map(|a| a.as_ref().map(|_| ()))
        ));
        if let Some(Ok(_)) = answer {
            stats.cancels += 1;
        }
    }

    /// Moves the clock; holds and card deadlines pass; the sweeps run.
    async fn advance(&mut self, w: &mut World) {
        let ms = w.rng.gen_range(CLOCK_STEP_MS);
        w.clock.advance_ms(ms);
        w.trace.push(format!("clock +{ms} ms"));
        sweep(w).await;
    }
}

/// Expiry sweeps of every schedule, then the card sweeper.
async fn sweep(w: &World) {
    for schedule in w.schedule_ids() {
        let handle = w.registry.schedule(schedule).expect("schedule exists");
        w.run("expiry", handle.actor.command(ExpireNow)).await;
    }
    w.run("card sweep", w.registry.sweep_card_payments_now())
        .await;
}

fn records(w: &World) -> Vec<CardRecord> {
    record::load_all(w.store.as_ref()).expect("the card records read")
}

/// What a captured intent's record and reservation say.
async fn reservation_status(
    w: &World,
    user: UserId,
    reservation: (ScheduleId, ReservationId),
) -> ReservationStatus {
    w.registry
        .reservation(Some(user), reservation.1)
        .await
        .unwrap_or_else(|err| panic!("reservation {} unreadable: {err}", reservation.1))
        .status
}

/// The checks that hold after any restart (see the module doc).
async fn check_anytime(w: &World, sim: &Sim) {
    let intents = sim.provider.lock().intents.clone();
    let mut completed_top_ups: HashMap<UserId, i64> = HashMap::new();
    let mut captured_top_ups: HashMap<UserId, i64> = HashMap::new();
    for record in records(w) {
        let intent = record.intent_id.as_ref().and_then(|id| intents.get(id));
        if matches!(record.status, CardStatus::Completed | CardStatus::Refunded) {
            let intent = intent.unwrap_or_else(|| panic!("{record:?} completed without an intent"));
            assert_eq!(
                intent.status, "succeeded",
                "{record:?} completed uncaptured"
            );
            assert_eq!(intent.captured, record.amount.0, "{record:?}: {intent:?}");
        }
        if let CardId::Payment(payment_id) = record.id {
            if let Some(reservation) = record.reservation {
                let status = reservation_status(w, record.user, reservation).await;
                if status == (ReservationStatus::Confirmed { payment_id }) {
                    assert_eq!(
                        record.status,
                        CardStatus::Completed,
                        "confirmed by a card payment not completed: {record:?}"
                    );
                }
            }
        } else {
            if record.status == CardStatus::Completed {
                *completed_top_ups.entry(record.user).or_default() += record.amount.0;
            }
            if let Some(intent) = intent.filter(|i| i.status == "succeeded") {
                *captured_top_ups.entry(record.user).or_default() += intent.captured;
            }
        }
    }
    for &user in &w.model.users {
        let balance = w
            .registry
            .wallet_view(user)
            .await
            .expect("wallet readable")
            .balance
            .0;
        let completed = completed_top_ups.get(&user).copied().unwrap_or(0);
        let captured = captured_top_ups.get(&user).copied().unwrap_or(0);
        assert!(
            completed <= balance && balance <= captured,
            "wallet of {user} holds {balance}: completed top-ups {completed}, captured {captured}"
        );
    }
}

/// The provider comes back and everything owed is delivered, every deadline
/// passes and the sweeper runs, until nothing is pending or owed.
async fn drain(w: &mut World, sim: &mut Sim, stats: &mut CardStats) {
    sim.provider.lock().down = false;
    for _ in 0..DRAIN_ROUNDS_MAX {
        loop {
            let body = sim.provider.lock().owed.first().cloned();
            let Some(body) = body else { break };
            assert!(
                sim.send(w, &body).await,
                "a webhook refused on a healthy store: {body}"
            );
            stats.webhooks_taken += 1;
            sim.provider.lock().owed.remove(0);
        }
        let open = records(w)
            .into_iter()
            .any(|r| r.status == CardStatus::Pending || r.refund == RefundState::Owed);
        if !open {
            return;
        }
        w.clock.advance_ms(CARD_TIMEOUT_MS);
        sweep(w).await;
    }
    panic!("card payments still pending or owed after the drain");
}

/// The final checks (see the module doc).
async fn check_final(w: &World, sim: &Sim, stats: &mut CardStats) {
    let intents = sim.provider.lock().intents.clone();
    let by_intent: HashMap<String, CardRecord> = records(w)
        .into_iter()
        .filter_map(|r| r.intent_id.clone().map(|id| (id, r)))
        .collect();
    let (mut captured, mut kept_payments, mut refunded) = (0i64, 0i64, 0i64);
    let mut credited: HashMap<UserId, i64> = HashMap::new();
    for (id, intent) in &intents {
        let record = by_intent.get(id);
        if intent.status != "succeeded" {
            assert!(intent.refunded_by.is_none());
            if let Some(record) = record {
                assert!(
                    matches!(record.status, CardStatus::Failed | CardStatus::Pending)
                        && record.refund == RefundState::None,
                    "not captured, yet {record:?}"
                );
            }
            continue;
        }
        let record = record.unwrap_or_else(|| panic!("captured {id} has no record"));
        captured += intent.captured;
        stats.captured += 1;
        match (record.status, &intent.refunded_by) {
            (CardStatus::Completed, None) => {
                stats.kept += 1;
                match (record.id, record.reservation) {
                    (CardId::Payment(payment_id), Some(reservation)) => {
                        assert_eq!(
                            reservation_status(w, record.user, reservation).await,
                            ReservationStatus::Confirmed { payment_id },
                            "{record:?}"
                        );
                        kept_payments += intent.captured;
                    }
                    (CardId::TopUp(_), None) => {
                        *credited.entry(record.user).or_default() += intent.captured
                    }
                    _ => panic!("a record of neither kind: {record:?}"),
                }
            }
            (CardStatus::Failed | CardStatus::Refunded, Some(_)) => {
                assert_eq!(record.refund, RefundState::Done, "{record:?}");
                refunded += intent.captured;
                stats.refunded += 1;
                if let (CardId::Payment(payment_id), Some(reservation)) =
                    (record.id, record.reservation)
                {
                    assert_ne!(
                        reservation_status(w, record.user, reservation).await,
                        ReservationStatus::Confirmed { payment_id },
                        "refunded, yet confirmed: {record:?}"
                    );
                }
            }
            (status, refund) => panic!(
                "captured {id} ended as {status:?} with provider refund {refund:?}: {record:?}"
            ),
        }
    }
    let mut wallets = 0i64;
    for &user in &w.model.users {
        let balance = w
            .registry
            .wallet_view(user)
            .await
            .expect("wallet readable")
            .balance
            .0;
        assert_eq!(
            balance,
            credited.get(&user).copied().unwrap_or(0),
            "the wallet of {user} is not its completed top-ups"
        );
        wallets += balance;
    }
    stats.credited_amount += wallets;
    assert_eq!(
        captured,
        kept_payments + wallets + refunded,
        "money: captured {captured}, kept payments {kept_payments}, wallets {wallets}, refunded {refunded}"
    );
}

async fn restart(w: &mut World, sim: &Sim, stats: &mut CardStats) {
    stats.restarts += 1;
    stats.crashes_fired += u64::from(w.store.is_dead());
    w.kill_and_restart().await;
    sim.attach(w).await;
    w.quiesce().await;
    check_anytime(w, sim).await;
}

async fn run_seed(seed: u64, trace: Trace) -> CardStats {
    let mut w = World::create(seed, trace).await;
    let mut stats = CardStats::default();
    let mut sim = Sim {
        provider: Arc::new(FakeProvider::default()),
        holds: Vec::new(),
        answered: Vec::new(),
    };
    sim.attach(&w).await;
    let operations = w.rng.gen_range(OPERATIONS_PER_SEED);
    let mut armed_at: Option<usize> = None;
    for op in 0..operations {
        if armed_at.is_none() && w.rng.gen_range(0..100) < CRASH_PERCENT {
            let writes = w.rng.gen_range(WRITES_INTO_AN_OPERATION);
            w.arm(CrashPoint::Writes(writes));
            stats.crashes_aimed += 1;
            armed_at = Some(op);
        }
        w.trace.push(format!("#{op}"));
        sim.step(&mut w, &mut stats).await;
        w.quiesce().await;
        stats.operations += 1;
        if w.store.is_dead() || armed_at.is_some_and(|at| op - at >= ARMED_PATIENCE_OPS) {
            restart(&mut w, &sim, &mut stats).await;
            armed_at = None;
        }
    }
    restart(&mut w, &sim, &mut stats).await;
    drain(&mut w, &mut sim, &mut stats).await;
    check_final(&w, &sim, &mut stats).await;
    w.registry.shutdown();
    stats
}

fn seeds_from_env() -> Range<u64> {
    super::seed_range(
        "BOXOFFICE_SIM_CARD_SEED",
        "BOXOFFICE_SIM_CARD_SEEDS",
        DEFAULT_SEEDS,
    )
}

#[actix_rt::test]
async fn simulated_crashes_settle_every_card_payment_once() {
    let seeds = seeds_from_env();
    let started = Instant::now();
    let mut total = CardStats::default();
    super::run_seeds(
        "card simulation",
        seeds.clone(),
        "BOXOFFICE_SIM_CARD_SEED={seed} cargo test --test engine simulated_crashes_settle_every_card_payment_once -- --nocapture",
        run_seed,
        |s| {
            total.operations += s.operations;
            total.restarts += s.restarts;
            total.crashes_aimed += s.crashes_aimed;
            total.crashes_fired += s.crashes_fired;
            total.payments_opened += s.payments_opened;
            total.top_ups_opened += s.top_ups_opened;
            total.paid += s.paid;
            total.wrong_amounts += s.wrong_amounts;
            total.declined += s.declined;
            total.webhooks_taken += s.webhooks_taken;
            total.webhooks_repeated += s.webhooks_repeated;
            total.webhooks_refused += s.webhooks_refused;
            total.cancels += s.cancels;
            total.captured += s.captured;
            total.kept += s.kept;
            total.refunded += s.refunded;
            total.credited_amount += s.credited_amount;
        },
    )
    .await;
    println!(
        "card simulation: {} seeds from {} in {:.1} s; {} operations, {} restarts ({} crash points aimed into an operation, {} fired); \
         {} card payments and {} top-ups opened; the payer paid {} ({} for another amount) and was declined {} times; \
         {} webhooks taken ({} delivered again later, {} refused during a crash or outage); {} cancels; \
         {} intents captured: {} kept, {} refunded; {} credited to wallets",
        seeds.end - seeds.start,
        seeds.start,
        started.elapsed().as_secs_f64(),
        total.operations,
        total.restarts,
        total.crashes_aimed,
        total.crashes_fired,
        total.payments_opened,
        total.top_ups_opened,
        total.paid,
        total.wrong_amounts,
        total.declined,
        total.webhooks_taken,
        total.webhooks_repeated,
        total.webhooks_refused,
        total.cancels,
        total.captured,
        total.kept,
        total.refunded,
        total.credited_amount,
    );
}
