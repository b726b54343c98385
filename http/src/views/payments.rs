//! Payments: the request that pays for a hold, and the payment as its
//! receipt (at payment time) or its record (read back later).

use boxoffice_actors::receipt::{CardPaymentReceipt, PaymentReceipt};
use boxoffice_actors::{PaymentMethod, PaymentRecord, PaymentStatus};
use boxoffice_engine::ids::ReservationId;
use boxoffice_engine::Money;
use serde_json::Value;
use utoipa::ToSchema;

use super::reservations::TicketLineBody;
use crate::error::{ApiError, ApiResult};
use crate::extract::path_id;
use crate::time_format::rfc3339;

/// Pay for a held reservation. `amount`, when given, must equal the reservation's total.
#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentRequestBody {
    pub reservation_id: String,
    /// The total the client saw; when given it must equal the reservation's.
    pub amount: Option<i64>,
    /// `WALLET` (default) or `CARD` (202 PENDING with a checkout URL).
    #[schema(value_type = Option<PaymentMethodName>)]
    pub method: Option<String>,
}

impl PaymentRequestBody {
    /// The reservation a payment body names: 400 when it is missing or not a
    /// string, 404 when it is not a well-formed id.
    pub fn reservation_id(body: &Value) -> ApiResult<ReservationId> {
        if !body.is_object() {
            return Err(ApiError::validation("the body must be a JSON object"));
        }
        match body.get("reservationId") {
            Some(Value::String(id)) => path_id(id, ReservationId::parse, "reservation"),
            None | Some(Value::Null) => Err(ApiError::validation("reservationId is required")),
            Some(_) => Err(ApiError::validation("reservationId must be a string")),
        }
    }

    /// The optional amount of a payment body (400 when it is not a whole number).
    pub fn amount(body: &Value) -> ApiResult<Option<Money>> {
        match body.get("amount") {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .map(|v| Some(Money(v)))
                .ok_or_else(|| ApiError::validation("amount must be a whole number")),
            Some(_) => Err(ApiError::validation("amount must be a number")),
        }
    }
}

/// A payment's status: REFUNDED once its reservation was cancelled; a card
/// payment is PENDING until the provider answers, FAILED if it declined,
/// timed out, or its success could not be honoured (then refunded).
#[derive(ToSchema)]
#[schema(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PaymentStatusName {
    Completed,
    Refunded,
    Pending,
    Failed,
}

/// How a payment is paid: from the wallet (default) or by card through the payment provider.
#[derive(ToSchema)]
#[schema(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PaymentMethodName {
    Wallet,
    Card,
}

/// What a request's optional `method` names (400 when it is anything else).
pub fn method_of<'a>(body: &Value, allowed: &[&'a str]) -> ApiResult<Option<&'a str>> {
    match body.get("method") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(name)) => allowed
            .iter()
            .find(|a| **a == name.as_str())
            .map(|a| Some(*a))
            .ok_or_else(|| ApiError::validation(format!("method must be one of {allowed:?}"))),
        Some(_) => Err(ApiError::validation("method must be a string")),
    }
}

/// The answer to a card payment (202): pay on `checkoutUrl` before `expiresAt`.
#[derive(Debug, serde::Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CardPaymentBody {
    pub payment_id: String,
    pub reservation_id: String,
    pub amount: i64,
    /// Always PENDING here.
    #[schema(value_type = PaymentStatusName)]
    pub status: &'static str,
    /// The provider's hosted checkout page.
    pub checkout_url: String,
    /// The provider's timeout: still unpaid then, the payment fails and the hold resumes its expiry.
    #[schema(format = DateTime)]
    pub expires_at: String,
}

impl From<&CardPaymentReceipt> for CardPaymentBody {
    fn from(p: &CardPaymentReceipt) -> Self {
        CardPaymentBody {
            payment_id: p.payment_id.to_string(),
            reservation_id: p.reservation_id.to_string(),
            amount: p.amount.0,
            status: "PENDING",
            checkout_url: p.checkout_url.clone(),
            expires_at: rfc3339(p.expires_at),
        }
    }
}

/// A payment read back (GET): its record, with no balance or token news.
#[derive(Debug, serde::Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentBody {
    pub payment_id: String,
    pub reservation_id: String,
    pub amount: i64,
    #[schema(value_type = PaymentStatusName)]
    pub status: &'static str,
    #[schema(value_type = PaymentMethodName)]
    pub method: &'static str,
    /// Absent until it completes (a PENDING or FAILED card payment).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub paid_at: Option<String>,
    pub tickets: Vec<TicketLineBody>,
    /// Card payments only: true once the provider reported that the money
    /// went back (a cancellation, or a success that was not honoured).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refund_confirmed: Option<bool>,
}

/// The answer to a payment (201): the record, plus the balance left and
/// whether the queue token was used up. A type of its own so the document
/// marks both as always present.
#[derive(Debug, serde::Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentReceiptBody {
    pub payment_id: String,
    pub reservation_id: String,
    pub amount: i64,
    #[schema(value_type = PaymentStatusName)]
    pub status: &'static str,
    #[schema(format = DateTime)]
    pub paid_at: String,
    /// The wallet's balance after this payment (KRW).
    pub balance_after: i64,
    pub tickets: Vec<TicketLineBody>,
    /// Whether this payment used up the caller's queue token.
    pub queue_token_expired: bool,
}

impl From<&PaymentReceipt> for PaymentReceiptBody {
    fn from(p: &PaymentReceipt) -> Self {
        let record = PaymentBody::from(&PaymentRecord::from(p));
        PaymentReceiptBody {
            payment_id: record.payment_id,
            reservation_id: record.reservation_id,
            amount: record.amount,
            status: record.status,
            // A receipt is of a completed payment, which has its time.
            paid_at: record.paid_at.unwrap_or_default(),
            balance_after: p.balance_after.0,
            tickets: record.tickets,
            queue_token_expired: p.queue_token_expired,
        }
    }
}

impl From<&PaymentRecord> for PaymentBody {
    fn from(p: &PaymentRecord) -> Self {
        PaymentBody {
            payment_id: p.payment_id.to_string(),
            reservation_id: p.reservation_id.to_string(),
            amount: p.amount.0,
            status: match p.status {
                PaymentStatus::Completed => "COMPLETED",
                PaymentStatus::Refunded => "REFUNDED",
                PaymentStatus::Pending => "PENDING",
                PaymentStatus::Failed => "FAILED",
            },
            method: match p.method {
                PaymentMethod::Wallet => "WALLET",
                PaymentMethod::Card => "CARD",
            },
            paid_at: p.paid_at.map(rfc3339),
            tickets: p.tickets.iter().map(TicketLineBody::from).collect(),
            refund_confirmed: p.refund_confirmed,
        }
    }
}
