//! The built-in test provider ("mock"): Stripe's wire format over HTTP with
//! in-memory state, so card payments work offline and tests can drive every
//! outcome. It is an actix-web service: [`MockProvider::configure`] mounts its
//! routes in any app, [`start`] runs it on its own listener (what
//! `boxoffice mock-provider` does, so it survives the server's `kill -9`).
//!
//! - API (`/v1/…`, Bearer secret key): create, retrieve and cancel payment
//!   intents (idempotent by `Idempotency-Key`), full refunds, and the list of
//!   an intent's refunds (what a test checks the money against).
//! - The hosted checkout page `GET /checkout/{id}` with "Pay" and "Decline".
//! - Webhooks to the configured URL, signed with the webhook secret and
//!   retried with doubling delays ([`delivery`]).
//! - An open intent is canceled (`payment_intent.canceled`) once it is older
//!   than the provider's timeout on the injected clock.
//! - [`Switches`] for tests, at start and by `POST /mock/switches`.
//!
//! State is bounded ([`MAX_INTENTS`]); a process restart forgets it, as a
//! real provider's test mode never would, so kill tests run it as its own
//! process.

mod checkout_page;
pub mod delivery;
mod routes;

use crate::payment_provider::{check_currency, check_idempotency_key, check_metadata, Metadata};
use crate::wire::{
    NextAction, RedirectToUrl, WireCharge, WireError, WireEvent, WireEventData, WireIntent,
    WireRefund,
};
use crate::NowMs;
use actix_web::web::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex, MutexGuard};

pub use routes::MAX_REQUEST_BYTES;

/// Most intents the mock keeps by default; past it a create is refused (429).
pub const MAX_INTENTS: usize = 100_000;
/// Most idempotency keys remembered (creates, cancels and refunds); past it
/// a new key is refused (429).
pub const MAX_IDEMPOTENCY_KEYS: usize = 3 * MAX_INTENTS;
/// The provider's timeout: an intent still open this long after its creation
/// is canceled (API.md: "default 10 minutes").
pub const DEFAULT_INTENT_TIMEOUT_MS: i64 = 10 * 60 * 1_000;
/// How often the sweeper looks for intents past their timeout.
pub const DEFAULT_SWEEP_INTERVAL_MS: u64 = 1_000;
/// What the wrong-amount switch adds to the captured amount.
pub const WRONG_AMOUNT_DELTA_MINOR: i64 = 1;
/// Longest the late-webhook switch may delay a webhook.
pub const MAX_LATE_WEBHOOK_MS: u64 = 10 * 60 * 1_000;
/// Longest the out-of-order switch holds a success back when no later event
/// comes to overtake it.
pub const DEFAULT_OUT_OF_ORDER_MAX_HOLD_MS: u64 = 5_000;
/// Longest amount accepted, as Stripe's (99,999,999.99 in a two-decimal currency).
pub const MAX_AMOUNT_MINOR: i64 = 99_999_999_999;
/// Longest return URL accepted.
pub const MAX_RETURN_URL_CHARS: usize = 2_048;

/// Test switches. Each applies to what happens after it is set.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Switches {
    /// Every webhook waits this long before its first attempt.
    #[serde(default)]
    pub late_webhook_ms: u64,
    /// Every webhook is delivered twice (same event id and body).
    #[serde(default)]
    pub duplicate_webhook: bool,
    /// A success is held back until after the next event (or at most
    /// the configured hold), so it arrives after a later event.
    #[serde(default)]
    pub out_of_order: bool,
    /// A success captures and reports the asked amount plus [`WRONG_AMOUNT_DELTA_MINOR`].
    #[serde(default)]
    pub wrong_amount: bool,
    /// The API (`/v1/…`) answers 503.
    #[serde(default)]
    pub down: bool,
}

/// A partial update of the switches: fields left out keep their value.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SwitchesUpdate {
    pub late_webhook_ms: Option<u64>,
    pub duplicate_webhook: Option<bool>,
    pub out_of_order: Option<bool>,
    pub wrong_amount: Option<bool>,
    pub down: Option<bool>,
}

impl Switches {
    fn apply(&mut self, update: SwitchesUpdate) -> Result<(), String> {
        if let Some(ms) = update.late_webhook_ms {
            if ms > MAX_LATE_WEBHOOK_MS {
                return Err(format!("lateWebhookMs is at most {MAX_LATE_WEBHOOK_MS}"));
            }
            self.late_webhook_ms = ms;
        }
        if let Some(on) = update.duplicate_webhook {
            self.duplicate_webhook = on;
        }
        if let Some(on) = update.out_of_order {
            self.out_of_order = on;
        }
        if let Some(on) = update.wrong_amount {
            self.wrong_amount = on;
        }
        if let Some(on) = update.down {
            self.down = on;
        }
        Ok(())
    }
}

/// How the mock is set up.
#[derive(Clone)]
pub struct MockConfig {
    /// API calls must carry `Authorization: Bearer <secret_key>`.
    pub secret_key: String,
    /// Where webhooks go; none: events are dropped (logged).
    pub webhook_url: Option<String>,
    /// Signs the webhooks.
    pub webhook_secret: String,
    /// The mock's own address as the payer reaches it (`http://host:port`,
    /// plus any prefix it is mounted under): the checkout URLs start with it.
    pub public_base_url: String,
    pub intent_timeout_ms: i64,
    pub sweep_interval_ms: u64,
    /// First retry delay of a failed webhook; it doubles per attempt.
    pub retry_initial_ms: u64,
    pub out_of_order_max_hold_ms: u64,
    /// Most intents kept ([`MAX_INTENTS`]; lower in tests of the bound).
    pub max_intents: usize,
    pub switches: Switches,
    /// Seeds the ids it hands out.
    pub seed: u64,
    pub now_ms: NowMs,
}

impl MockConfig {
    /// Defaults for everything but the keys, the clock and the seed.
    pub fn new(
        secret_key: impl Into<String>,
        webhook_secret: impl Into<String>,
        now_ms: NowMs,
        seed: u64,
    ) -> Self {
        MockConfig {
            secret_key: secret_key.into(),
            webhook_url: None,
            webhook_secret: webhook_secret.into(),
            public_base_url: String::new(),
            intent_timeout_ms: DEFAULT_INTENT_TIMEOUT_MS,
            sweep_interval_ms: DEFAULT_SWEEP_INTERVAL_MS,
            retry_initial_ms: delivery::DEFAULT_RETRY_INITIAL_MS,
            out_of_order_max_hold_ms: DEFAULT_OUT_OF_ORDER_MAX_HOLD_MS,
            max_intents: MAX_INTENTS,
            switches: Switches::default(),
            seed,
            now_ms,
        }
    }
}

/// An error in Stripe's shape: the status and `{"error": {type, code, message}}`.
#[derive(Debug, Clone)]
pub(crate) struct MockError {
    pub status: u16,
    pub error: WireError,
}

impl MockError {
    fn new(status: u16, kind: &str, code: Option<&str>, message: impl Into<String>) -> Self {
        MockError {
            status,
            error: WireError {
                kind: kind.into(),
                code: code.map(str::to_string),
                message: message.into(),
            },
        }
    }
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(
            400,
            "invalid_request_error",
            Some("parameter_invalid"),
            message,
        )
    }
    fn state(message: impl Into<String>, code: &str) -> Self {
        Self::new(400, "invalid_request_error", Some(code), message)
    }
    fn missing(id: &str) -> Self {
        Self::new(
            404,
            "invalid_request_error",
            Some("resource_missing"),
            format!("No such payment_intent: '{id}'"),
        )
    }
    fn full(message: &str) -> Self {
        Self::new(429, "rate_limit_error", Some("mock_capacity"), message)
    }
}

/// An event ready to deliver: its id, type and serialized body.
#[derive(Clone, Debug)]
pub(crate) struct Outgoing {
    pub id: String,
    pub kind: &'static str,
    pub body: Bytes,
}

struct MockIntent {
    wire: WireIntent,
    deadline_ms: i64,
    return_url: Option<String>,
    refund: Option<WireRefund>,
}

/// A remembered answer to an idempotency key.
struct Replay {
    /// The request it answered: the same key with other parameters is refused.
    fingerprint: String,
    answer: serde_json::Value,
}

struct State {
    intents: HashMap<String, MockIntent>,
    /// Open intents by deadline, for the timeout.
    deadlines: BTreeSet<(i64, String)>,
    idempotency: HashMap<(&'static str, String), Replay>,
    switches: Switches,
    held: Vec<(u64, Outgoing)>,
    next_hold: u64,
    rng: StdRng,
}

/// What a click on the checkout page did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CheckoutOutcome {
    Paid {
        return_url: Option<String>,
    },
    /// Declined; the page links back to `return_url` (the payer may try
    /// again there, as Stripe's page offers a way back to the shop).
    Declined {
        return_url: Option<String>,
    },
    /// Already paid or closed: nothing changed.
    NotPayable {
        status: String,
    },
}

/// The mock's state and settings; share it as `Arc` (actix `web::Data`).
pub struct MockProvider {
    config: MockConfig,
    state: Mutex<State>,
}

const ID_ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const ID_RANDOM_CHARS: usize = 24;

impl MockProvider {
    pub fn new(config: MockConfig) -> Arc<Self> {
        let state = State {
            intents: HashMap::new(),
            deadlines: BTreeSet::new(),
            idempotency: HashMap::new(),
            switches: config.switches.clone(),
            held: Vec::new(),
            next_hold: 0,
            rng: StdRng::seed_from_u64(config.seed),
        };
        Arc::new(MockProvider {
            config,
            state: Mutex::new(state),
        })
    }

    pub fn config(&self) -> &MockConfig {
        &self.config
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means a thread panicked holding it; the maps
        // are still consistent (every change is made after its checks).
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn now_ms(&self) -> i64 {
        (self.config.now_ms)()
    }

    pub fn switches(&self) -> Switches {
        self.lock().switches.clone()
    }

    pub fn update_switches(&self, update: SwitchesUpdate) -> Result<Switches, String> {
        let mut state = self.lock();
        let mut next = state.switches.clone();
        next.apply(update)?;
        state.switches = next.clone();
        Ok(next)
    }

    pub fn intent_count(&self) -> usize {
        self.lock().intents.len()
    }

    fn checkout_url(&self, id: &str) -> String {
        format!("{}/checkout/{id}", self.config.public_base_url)
    }

    fn event(&self, state: &mut State, kind: &'static str, object: serde_json::Value) -> Outgoing {
        let id = new_id(&mut state.rng, "evt_");
        let event = WireEvent {
            id: id.clone(),
            object: "event".into(),
            kind: kind.into(),
            created: self.now_ms().div_euclid(1_000),
            data: WireEventData { object },
            livemode: false,
        };
        // Serializing plain structs of strings and numbers cannot fail.
        let body = serde_json::to_vec(&event).unwrap_or_default();
        Outgoing {
            id,
            kind,
            body: Bytes::from(body),
        }
    }

    fn intent_json(intent: &MockIntent) -> serde_json::Value {
        serde_json::to_value(&intent.wire).unwrap_or_default()
    }

    /// Cancels every open intent past its deadline; their events.
    pub(crate) fn expire_due(&self) -> Vec<Outgoing> {
        let now = self.now_ms();
        let mut state = self.lock();
        let mut events = Vec::new();
        while let Some((deadline, id)) = state.deadlines.first().cloned() {
            if deadline > now {
                break;
            }
            state.deadlines.remove(&(deadline, id.clone()));
            let Some(intent) = state.intents.get_mut(&id) else {
                continue;
            };
            intent.wire.status = "canceled".into();
            intent.wire.cancellation_reason = Some("abandoned".into());
            intent.wire.next_action = None;
            let object = Self::intent_json(intent);
            let event = self.event(&mut state, "payment_intent.canceled", object);
            events.push(event);
        }
        events
    }

    /// Looks up a remembered answer: `Some` to replay it, an error when the
    /// key was used with other parameters.
    fn replay(
        state: &State,
        scope: &'static str,
        key: &str,
        fingerprint: &str,
    ) -> Result<Option<serde_json::Value>, MockError> {
        match state.idempotency.get(&(scope, key.to_string())) {
            None => Ok(None),
            Some(replay) if replay.fingerprint == fingerprint => Ok(Some(replay.answer.clone())),
            Some(_) => Err(MockError::new(
                400,
                "idempotency_error",
                None,
                "Keys for idempotent requests can only be used with the same parameters they were first used with.",
            )),
        }
    }

    fn remember(
        state: &mut State,
        scope: &'static str,
        key: &str,
        fingerprint: String,
        answer: &serde_json::Value,
    ) {
        state.idempotency.insert(
            (scope, key.to_string()),
            Replay {
                fingerprint,
                answer: answer.clone(),
            },
        );
    }

    fn check_key_room(state: &State) -> Result<(), MockError> {
        if state.idempotency.len() >= MAX_IDEMPOTENCY_KEYS {
            return Err(MockError::full(
                "the mock remembers no more idempotency keys",
            ));
        }
        Ok(())
    }

    pub(crate) fn create_intent(
        &self,
        fields: &[(String, String)],
        idempotency_key: Option<&str>,
    ) -> Result<serde_json::Value, MockError> {
        let mut amount = None;
        let mut currency = None;
        let mut return_url = None;
        let mut metadata = Metadata::new();
        for (name, value) in fields {
            match name.as_str() {
                "amount" => amount = Some(value.as_str()),
                "currency" => currency = Some(value.as_str()),
                "return_url" => return_url = Some(value.clone()),
                other => match metadata_key(other) {
                    Some(key) => {
                        metadata.insert(key.to_string(), value.clone());
                    }
                    None => {
                        return Err(MockError::invalid(format!(
                            "Received unknown parameter: {}",
                            clip(other)
                        )))
                    }
                },
            }
        }
        let amount = amount
            .ok_or_else(|| MockError::invalid("Missing required param: amount."))?
            .parse::<i64>()
            .ok()
            .filter(|a| (1..=MAX_AMOUNT_MINOR).contains(a))
            .ok_or_else(|| {
                MockError::invalid(format!(
                    "amount must be an integer from 1 to {MAX_AMOUNT_MINOR}"
                ))
            })?;
        let currency = currency
            .ok_or_else(|| MockError::invalid("Missing required param: currency."))?
            .to_string();
        check_currency(&currency).map_err(MockError::invalid)?;
        check_metadata(&metadata).map_err(MockError::invalid)?;
        if let Some(url) = &return_url {
            check_return_url(url)?;
        }
        let fingerprint = format!("{fields:?}");
        let mut state = self.lock();
        if let Some(key) = idempotency_key {
            if let Some(answer) = Self::replay(&state, "create", key, &fingerprint)? {
                return Ok(answer);
            }
            Self::check_key_room(&state)?;
        }
        if state.intents.len() >= self.config.max_intents.min(MAX_INTENTS) {
            return Err(MockError::full("the mock holds its maximum of intents"));
        }
        let id = new_id(&mut state.rng, "pi_");
        let now = self.now_ms();
        let deadline_ms = now.saturating_add(self.config.intent_timeout_ms);
        let intent = MockIntent {
            wire: WireIntent {
                id: id.clone(),
                object: "payment_intent".into(),
                amount,
                amount_received: 0,
                currency,
                status: "requires_payment_method".into(),
                metadata,
                created: now.div_euclid(1_000),
                next_action: Some(NextAction {
                    kind: "redirect_to_url".into(),
                    redirect_to_url: Some(RedirectToUrl {
                        url: self.checkout_url(&id),
                        return_url: return_url.clone(),
                    }),
                }),
                last_payment_error: None,
                cancellation_reason: None,
                latest_charge: None,
            },
            deadline_ms,
            return_url,
            refund: None,
        };
        let answer = Self::intent_json(&intent);
        state.intents.insert(id.clone(), intent);
        state.deadlines.insert((deadline_ms, id));
        if let Some(key) = idempotency_key {
            Self::remember(&mut state, "create", key, fingerprint, &answer);
        }
        Ok(answer)
    }

    pub(crate) fn retrieve_intent(&self, id: &str) -> Result<serde_json::Value, MockError> {
        let state = self.lock();
        state
            .intents
            .get(id)
            .map(Self::intent_json)
            .ok_or_else(|| MockError::missing(id))
    }

    pub(crate) fn cancel_intent(
        &self,
        id: &str,
        idempotency_key: Option<&str>,
    ) -> Result<(serde_json::Value, Vec<Outgoing>), MockError> {
        let fingerprint = id.to_string();
        let mut state = self.lock();
        if let Some(key) = idempotency_key {
            if let Some(answer) = Self::replay(&state, "cancel", key, &fingerprint)? {
                return Ok((answer, Vec::new()));
            }
            Self::check_key_room(&state)?;
        }
        let intent = state
            .intents
            .get_mut(id)
            .ok_or_else(|| MockError::missing(id))?;
        if intent.wire.status == "succeeded" || intent.wire.status == "canceled" {
            return Err(MockError::state(
                format!(
                    "You cannot cancel this PaymentIntent because it has a status of {}.",
                    intent.wire.status
                ),
                "payment_intent_unexpected_state",
            ));
        }
        intent.wire.status = "canceled".into();
        intent.wire.cancellation_reason = Some("requested_by_customer".into());
        intent.wire.next_action = None;
        let deadline = (intent.deadline_ms, id.to_string());
        let answer = Self::intent_json(intent);
        state.deadlines.remove(&deadline);
        let event = self.event(&mut state, "payment_intent.canceled", answer.clone());
        if let Some(key) = idempotency_key {
            Self::remember(&mut state, "cancel", key, fingerprint, &answer);
        }
        Ok((answer, vec![event]))
    }

    pub(crate) fn refund(
        &self,
        fields: &[(String, String)],
        idempotency_key: Option<&str>,
    ) -> Result<(serde_json::Value, Vec<Outgoing>), MockError> {
        let mut intent_id = None;
        let mut amount = None;
        let mut metadata = Metadata::new();
        for (name, value) in fields {
            match name.as_str() {
                "payment_intent" => intent_id = Some(value.clone()),
                "amount" => amount = Some(value.clone()),
                other => match metadata_key(other) {
                    Some(key) => {
                        metadata.insert(key.to_string(), value.clone());
                    }
                    None => {
                        return Err(MockError::invalid(format!(
                            "Received unknown parameter: {}",
                            clip(other)
                        )))
                    }
                },
            }
        }
        check_metadata(&metadata).map_err(MockError::invalid)?;
        let intent_id = intent_id
            .ok_or_else(|| MockError::invalid("Missing required param: payment_intent."))?;
        let fingerprint = format!("{fields:?}");
        let mut state = self.lock();
        if let Some(key) = idempotency_key {
            if let Some(answer) = Self::replay(&state, "refund", key, &fingerprint)? {
                return Ok((answer, Vec::new()));
            }
            Self::check_key_room(&state)?;
        }
        let refund_id = new_id(&mut state.rng, "re_");
        let now_s = self.now_ms().div_euclid(1_000);
        let intent = state
            .intents
            .get_mut(&intent_id)
            .ok_or_else(|| MockError::missing(&intent_id))?;
        if intent.wire.status != "succeeded" {
            return Err(MockError::state(
                "This PaymentIntent does not have a successful charge to refund.",
                "payment_intent_unexpected_state",
            ));
        }
        if intent.refund.is_some() {
            return Err(MockError::state(
                format!("Charge for {intent_id} has already been refunded."),
                "charge_already_refunded",
            ));
        }
        if let Some(amount) = amount {
            if amount != intent.wire.amount_received.to_string() {
                return Err(MockError::invalid(
                    "The test provider refunds in full only: leave out amount or give the whole amount.",
                ));
            }
        }
        let charge_id = intent.wire.latest_charge.clone().unwrap_or_default();
        let refund = WireRefund {
            id: refund_id,
            object: "refund".into(),
            amount: intent.wire.amount_received,
            currency: intent.wire.currency.clone(),
            payment_intent: intent_id.clone(),
            charge: Some(charge_id.clone()),
            status: "succeeded".into(),
            metadata,
            created: now_s,
        };
        intent.refund = Some(refund.clone());
        let charge = WireCharge {
            id: charge_id,
            object: "charge".into(),
            amount: intent.wire.amount_received,
            amount_refunded: intent.wire.amount_received,
            currency: intent.wire.currency.clone(),
            payment_intent: intent_id,
            refunded: true,
            metadata: intent.wire.metadata.clone(),
        };
        let answer = serde_json::to_value(&refund).unwrap_or_default();
        let event = self.event(
            &mut state,
            "charge.refunded",
            serde_json::to_value(&charge).unwrap_or_default(),
        );
        if let Some(key) = idempotency_key {
            Self::remember(&mut state, "refund", key, fingerprint, &answer);
        }
        Ok((answer, vec![event]))
    }

    /// The refunds of an intent (the mock makes at most one), as Stripe's
    /// `GET /v1/refunds?payment_intent=` lists them.
    pub(crate) fn refunds_of(&self, intent_id: &str) -> Result<serde_json::Value, MockError> {
        let state = self.lock();
        let intent = state
            .intents
            .get(intent_id)
            .ok_or_else(|| MockError::missing(intent_id))?;
        let data: Vec<serde_json::Value> = intent
            .refund
            .iter()
            .map(|refund| serde_json::to_value(refund).unwrap_or_default())
            .collect();
        Ok(serde_json::json!({
            "object": "list", "url": "/v1/refunds", "has_more": false, "data": data,
        }))
    }

    /// The checkout page's view of an intent: amount, currency, status.
    pub(crate) fn checkout_view(&self, id: &str) -> Option<(i64, String, String)> {
        let state = self.lock();
        state.intents.get(id).map(|intent| {
            (
                intent.wire.amount,
                intent.wire.currency.clone(),
                intent.wire.status.clone(),
            )
        })
    }

    /// The payer clicked "Pay" (`pay`) or "Decline" on the checkout page.
    pub(crate) fn checkout(&self, id: &str, pay: bool) -> Option<(CheckoutOutcome, Vec<Outgoing>)> {
        let mut state = self.lock();
        let wrong_amount = state.switches.wrong_amount;
        let charge_id = new_id(&mut state.rng, "ch_");
        let intent = state.intents.get_mut(id)?;
        if intent.wire.status == "succeeded" || intent.wire.status == "canceled" {
            let status = intent.wire.status.clone();
            return Some((CheckoutOutcome::NotPayable { status }, Vec::new()));
        }
        if !pay {
            intent.wire.last_payment_error = Some(WireError {
                kind: "card_error".into(),
                code: Some("card_declined".into()),
                message: "Your card was declined.".into(),
            });
            let return_url = intent.return_url.clone();
            let object = Self::intent_json(intent);
            let event = self.event(&mut state, "payment_intent.payment_failed", object);
            return Some((CheckoutOutcome::Declined { return_url }, vec![event]));
        }
        if wrong_amount {
            // The provider captured another amount than was asked: the intent
            // says so everywhere, as a real mismatch would.
            intent.wire.amount = intent.wire.amount.saturating_add(WRONG_AMOUNT_DELTA_MINOR);
        }
        intent.wire.status = "succeeded".into();
        intent.wire.amount_received = intent.wire.amount;
        intent.wire.latest_charge = Some(charge_id);
        intent.wire.next_action = None;
        intent.wire.last_payment_error = None;
        let return_url = intent.return_url.clone();
        let deadline = (intent.deadline_ms, id.to_string());
        let object = Self::intent_json(intent);
        state.deadlines.remove(&deadline);
        let event = self.event(&mut state, "payment_intent.succeeded", object);
        Some((CheckoutOutcome::Paid { return_url }, vec![event]))
    }
}

/// `metadata[key]` → `key`.
fn metadata_key(field: &str) -> Option<&str> {
    field.strip_prefix("metadata[")?.strip_suffix(']')
}

fn clip(text: &str) -> String {
    text.chars().take(100).collect()
}

fn check_return_url(url: &str) -> Result<(), MockError> {
    if url.len() > MAX_RETURN_URL_CHARS
        || !(url.starts_with("http://") || url.starts_with("https://"))
        || url.parse::<awc::http::Uri>().is_err()
    {
        return Err(MockError::invalid(format!(
            "return_url must be an http(s) URL of at most {MAX_RETURN_URL_CHARS} characters"
        )));
    }
    Ok(())
}

fn new_id(rng: &mut StdRng, prefix: &str) -> String {
    let mut id = String::with_capacity(prefix.len() + ID_RANDOM_CHARS);
    id.push_str(prefix);
    for _ in 0..ID_RANDOM_CHARS {
        id.push(ID_ALPHABET[rng.gen_range(0..ID_ALPHABET.len())] as char);
    }
    id
}

/// Checks an `Idempotency-Key` header value.
pub(crate) fn check_key(key: &str) -> Result<(), MockError> {
    check_idempotency_key(key).map_err(MockError::invalid)
}

/// A mock running on its own listener.
pub struct RunningMock {
    pub addr: SocketAddr,
    pub provider: Arc<MockProvider>,
    pub server: actix_web::dev::Server,
}

/// Runs the mock on `listener` with `workers` HTTP workers and starts its
/// sweeper. Call inside an actix system; await `server` to run until stopped.
/// An empty `config.public_base_url` becomes `http://<listener's address>`.
pub fn start(
    mut config: MockConfig,
    listener: TcpListener,
    workers: usize,
) -> std::io::Result<RunningMock> {
    let addr = listener.local_addr()?;
    if config.public_base_url.is_empty() {
        config.public_base_url = format!("http://{addr}");
    }
    let provider = MockProvider::new(config);
    let shared = provider.clone();
    let server = actix_web::HttpServer::new(move || {
        let shared = shared.clone();
        actix_web::App::new().configure(move |cfg| MockProvider::configure(&shared, cfg))
    })
    .workers(workers.max(1))
    .listen(listener)?
    .run();
    delivery::spawn_sweeper(&provider);
    Ok(RunningMock {
        addr,
        provider,
        server,
    })
}
