//! Payments: the request that pays for a hold, and the payment as its
//! receipt (at payment time) or its record (read back later).

use boxoffice_actors::receipt::PaymentReceipt;
use boxoffice_actors::{PaymentRecord, PaymentStatus};
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

/// A payment's status: REFUNDED once its reservation was cancelled.
#[derive(ToSchema)]
#[schema(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PaymentStatusName {
    Completed,
    Refunded,
}

#[derive(Debug, serde::Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentBody {
    pub payment_id: String,
    pub reservation_id: String,
    pub amount: i64,
    #[schema(value_type = PaymentStatusName)]
    pub status: &'static str,
    #[schema(format = DateTime)]
    pub paid_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub balance_after: Option<i64>,
    pub tickets: Vec<TicketLineBody>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_token_expired: Option<bool>,
}

/// At payment time, the body also tells the balance left and whether the
/// queue token was used up.
impl From<&PaymentReceipt> for PaymentBody {
    fn from(p: &PaymentReceipt) -> Self {
        PaymentBody {
            balance_after: Some(p.balance_after.0),
            queue_token_expired: Some(p.queue_token_expired),
            ..PaymentBody::from(&PaymentRecord::from(p))
        }
    }
}

/// Read back later, a payment has no balance or token news to tell.
impl From<&PaymentRecord> for PaymentBody {
    fn from(p: &PaymentRecord) -> Self {
        PaymentBody {
            payment_id: p.payment_id.to_string(),
            reservation_id: p.reservation_id.to_string(),
            amount: p.amount.0,
            status: match p.status {
                PaymentStatus::Completed => "COMPLETED",
                PaymentStatus::Refunded => "REFUNDED",
            },
            paid_at: p.paid_at.map(rfc3339).unwrap_or_default(),
            balance_after: None,
            tickets: p.tickets.iter().map(TicketLineBody::from).collect(),
            queue_token_expired: None,
        }
    }
}
