//! A provider webhook's body, parsed into what the saga acts on. Check the
//! signature first ([`crate::signature::verify`]); this only reads the body.
//!
//! The four event types the saga needs are typed; any other type parses to
//! [`EventKind::Ignored`] (Stripe sends many, and new ones over time), so an
//! unknown type is answered 200 and dropped rather than retried forever.

use crate::payment_provider::{is_valid_object_id, Metadata, ProviderError};
use crate::wire::{WireCharge, WireEvent, WireIntent};

/// Largest webhook body read; Stripe's events are a few KiB.
pub const MAX_WEBHOOK_BODY_BYTES: usize = 64 * 1024;

/// One webhook event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderEvent {
    /// The provider's event id: the same id is the same event, however often delivered.
    pub id: String,
    /// When the provider created it, in Unix seconds.
    pub created_s: i64,
    pub kind: EventKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// `payment_intent.succeeded`: the money is captured.
    IntentSucceeded(IntentFacts),
    /// `payment_intent.payment_failed`: an attempt failed (a declined card).
    IntentPaymentFailed(IntentFacts),
    /// `payment_intent.canceled`: closed unpaid (a cancel or the provider's timeout).
    IntentCanceled(IntentFacts),
    /// `charge.refunded`: the intent's charge was refunded.
    ChargeRefunded(RefundFacts),
    /// Any other type: acknowledged and dropped.
    Ignored { event_type: String },
}

/// What an intent event says about its intent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IntentFacts {
    pub intent_id: String,
    /// The amount asked.
    pub amount_minor: i64,
    /// The amount captured: what a success must be compared with.
    pub amount_received_minor: i64,
    pub currency: String,
    pub metadata: Metadata,
}

/// What a `charge.refunded` event says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefundFacts {
    pub charge_id: String,
    pub intent_id: String,
    pub amount_minor: i64,
    pub amount_refunded_minor: i64,
    pub currency: String,
    pub metadata: Metadata,
}

fn bad(reason: impl Into<String>) -> ProviderError {
    ProviderError::BadAnswer(reason.into())
}

/// Parses a webhook body. A body that is not an event, or a known type whose
/// object is malformed, is a [`ProviderError::BadAnswer`].
pub fn parse_event(body: &[u8]) -> Result<ProviderEvent, ProviderError> {
    if body.len() > MAX_WEBHOOK_BODY_BYTES {
        return Err(bad("the event body is too large"));
    }
    let event: WireEvent =
        serde_json::from_slice(body).map_err(|e| bad(format!("not an event: {e}")))?;
    if !is_valid_object_id(&event.id) {
        return Err(bad("an event id with unsafe characters"));
    }
    let intent = |object: serde_json::Value| -> Result<IntentFacts, ProviderError> {
        let wire: WireIntent = serde_json::from_value(object)
            .map_err(|e| bad(format!("not a payment intent: {e}")))?;
        let intent = wire.into_intent()?;
        Ok(IntentFacts {
            intent_id: intent.id,
            amount_minor: intent.amount_minor,
            amount_received_minor: intent.amount_received_minor,
            currency: intent.currency,
            metadata: intent.metadata,
        })
    };
    let kind = match event.kind.as_str() {
        "payment_intent.succeeded" => EventKind::IntentSucceeded(intent(event.data.object)?),
        "payment_intent.payment_failed" => {
            EventKind::IntentPaymentFailed(intent(event.data.object)?)
        }
        "payment_intent.canceled" => EventKind::IntentCanceled(intent(event.data.object)?),
        "charge.refunded" => {
            let charge: WireCharge = serde_json::from_value(event.data.object)
                .map_err(|e| bad(format!("not a charge: {e}")))?;
            if !is_valid_object_id(&charge.id) || !is_valid_object_id(&charge.payment_intent) {
                return Err(bad("a charge id with unsafe characters"));
            }
            if charge.amount <= 0 || charge.amount_refunded < 0 {
                return Err(bad("a charge amount out of range"));
            }
            crate::payment_provider::check_currency(&charge.currency).map_err(bad)?;
            EventKind::ChargeRefunded(RefundFacts {
                charge_id: charge.id,
                intent_id: charge.payment_intent,
                amount_minor: charge.amount,
                amount_refunded_minor: charge.amount_refunded,
                currency: charge.currency,
                metadata: charge.metadata,
            })
        }
        other => EventKind::Ignored {
            event_type: other.chars().take(100).collect(),
        },
    };
    Ok(ProviderEvent {
        id: event.id,
        created_s: event.created,
        kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn intent_object() -> serde_json::Value {
        json!({"id": "pi_1", "object": "payment_intent", "amount": 1250, "amount_received": 1250,
               "currency": "eur", "status": "succeeded", "metadata": {"paymentId": "p-1"}})
    }

    #[test]
    fn known_types_parse_with_their_facts() {
        let body = json!({"id": "evt_1", "object": "event", "type": "payment_intent.succeeded",
                          "created": 1_700_000_000, "data": {"object": intent_object()}});
        let event = parse_event(body.to_string().as_bytes()).unwrap();
        assert_eq!(event.id, "evt_1");
        assert_eq!(event.created_s, 1_700_000_000);
        let EventKind::IntentSucceeded(facts) = event.kind else {
            panic!("{:?}", event.kind)
        };
        assert_eq!(facts.intent_id, "pi_1");
        assert_eq!(facts.amount_received_minor, 1250);
        assert_eq!(facts.currency, "eur");
        assert_eq!(facts.metadata["paymentId"], "p-1");

        let refunded = json!({"id": "evt_2", "type": "charge.refunded", "created": 1,
            "data": {"object": {"id": "ch_1", "object": "charge", "amount": 1250, "amount_refunded": 1250,
                                "currency": "eur", "payment_intent": "pi_1", "refunded": true, "metadata": {}}}});
        let event = parse_event(refunded.to_string().as_bytes()).unwrap();
        assert!(
            matches!(event.kind, EventKind::ChargeRefunded(ref r) if r.intent_id == "pi_1" && r.amount_refunded_minor == 1250)
        );
    }

    #[test]
    fn unknown_types_are_ignored_not_errors() {
        let body = json!({"id": "evt_3", "type": "customer.created", "created": 1,
                          "data": {"object": {"anything": true}}});
        let event = parse_event(body.to_string().as_bytes()).unwrap();
        assert_eq!(
            event.kind,
            EventKind::Ignored {
                event_type: "customer.created".into()
            }
        );
    }

    #[test]
    fn malformed_bodies_are_bad_answers() {
        let mut wrong_amount = intent_object();
        wrong_amount["amount"] = json!("12");
        let mut negative = intent_object();
        negative["amount"] = json!(-5);
        let mut unsafe_id = intent_object();
        unsafe_id["id"] = json!("pi_1/../../x");
        for body in [
            "not json".to_string(),
            "{}".to_string(),
            json!({"id": "evt 1", "type": "x", "data": {"object": {}}}).to_string(),
            json!({"id": "evt_1", "type": "payment_intent.succeeded", "data": {"object": wrong_amount}}).to_string(),
            json!({"id": "evt_1", "type": "payment_intent.succeeded", "data": {"object": negative}}).to_string(),
            json!({"id": "evt_1", "type": "payment_intent.canceled", "data": {"object": unsafe_id}}).to_string(),
            json!({"id": "evt_1", "type": "charge.refunded", "data": {"object": intent_object()}}).to_string(),
            r#"{"id":"evt_1","type":"payment_intent.succeeded","data":{"object":{"id":"pi_1","amount":99999999999999999999,"currency":"eur","status":"succeeded"}}}"#.to_string(),
            "x".repeat(MAX_WEBHOOK_BODY_BYTES + 1),
        ] {
            assert!(
                matches!(parse_event(body.as_bytes()), Err(ProviderError::BadAnswer(_))),
                "{body:.200}"
            );
        }
    }
}
