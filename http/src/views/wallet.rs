//! The prepaid wallet: a charge request, the balance, a charge's receipt and
//! ledger entries.

use actix_web::http::StatusCode;
use boxoffice_actors::receipt::{CardChargeReceipt, ChargeReceipt};
use boxoffice_actors::wallet_actor::WalletView;
use boxoffice_engine::wallet::{LedgerEntry, LedgerKind};
use boxoffice_engine::Money;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::error::{ApiError, ApiResult};
use crate::time_format::rfc3339;

/// `amount`: a positive integer in the currency's smallest unit.
#[derive(Debug, serde::Deserialize, ToSchema)]
pub struct ChargeRequestBody {
    /// At most the per-charge maximum (default 10,000,000).
    #[schema(minimum = 1)]
    pub amount: i64,
    /// `DIRECT` (default; refused 403 when the server takes no direct top-ups) or `CARD`.
    #[schema(value_type = Option<ChargeMethodName>)]
    pub method: Option<String>,
}

/// How a top-up is paid: credited at once (DIRECT) or through the payment provider (CARD).
#[derive(ToSchema)]
#[schema(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ChargeMethodName {
    Direct,
    Card,
}

/// A card top-up opened (202): the balance grows once the provider confirms.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CardChargeBody {
    pub transaction_id: String,
    pub amount: i64,
    /// Always PENDING here.
    pub status: &'static str,
    /// The provider's hosted checkout page.
    pub checkout_url: String,
    /// The provider's timeout: unpaid by then, nothing is credited.
    #[schema(format = DateTime)]
    pub expires_at: String,
}

impl From<&CardChargeReceipt> for CardChargeBody {
    fn from(c: &CardChargeReceipt) -> Self {
        CardChargeBody {
            transaction_id: c.transaction_id.to_string(),
            amount: c.amount.0,
            status: "PENDING",
            checkout_url: c.checkout_url.clone(),
            expires_at: rfc3339(c.expires_at),
        }
    }
}

fn invalid_amount(why: &str) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "INVALID_AMOUNT",
        format!("amount {why}"),
    )
}

impl ChargeRequestBody {
    /// The amount of a charge body. Read from the JSON value rather than
    /// typed, because API.md tells apart INVALID_AMOUNT (a number that is not
    /// a positive whole one that fits, or over the per-charge maximum
    /// `max_charge`, which the message states) from VALIDATION_ERROR (not a
    /// number). The wallet checks the maximum again; checking it here first
    /// is what lets the answer name it.
    pub fn amount(body: &Value, max_charge: Money) -> ApiResult<Money> {
        if !body.is_object() {
            return Err(ApiError::validation("the body must be a JSON object"));
        }
        match body.get("amount") {
            None | Some(Value::Null) => Err(ApiError::validation("amount is required")),
            Some(Value::Number(n)) => match n.as_i64() {
                Some(v) if v > max_charge.0 => Err(invalid_amount(&format!(
                    "{v} is over the per-charge maximum of {}",
                    max_charge.0
                ))),
                Some(v) if v > 0 => Ok(Money(v)),
                Some(_) => Err(invalid_amount("must be positive")),
                None => Err(invalid_amount(
                    "must be a whole number that fits in 64 bits",
                )),
            },
            Some(_) => Err(ApiError::validation("amount must be a number")),
        }
    }
}

/// A wallet ledger entry's kind.
#[derive(ToSchema)]
#[schema(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LedgerKindName {
    Charge,
    Payment,
    Refund,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WalletBody {
    pub user_id: String,
    pub balance: i64,
    pub total_charged: i64,
    pub total_used: i64,
    pub total_refunded: i64,
    #[schema(format = DateTime)]
    pub updated_at: Option<String>,
}

impl From<&WalletView> for WalletBody {
    fn from(w: &WalletView) -> Self {
        WalletBody {
            user_id: w.user.to_string(),
            balance: w.balance.0,
            total_charged: w.total_charged.0,
            total_used: w.total_used.0,
            total_refunded: w.total_refunded.0,
            updated_at: w.updated_at.map(rfc3339),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChargeBody {
    pub transaction_id: String,
    pub amount: i64,
    pub balance: i64,
    #[schema(format = DateTime)]
    pub charged_at: String,
}

impl From<&ChargeReceipt> for ChargeBody {
    fn from(c: &ChargeReceipt) -> Self {
        ChargeBody {
            transaction_id: c.transaction_id.to_string(),
            amount: c.amount.0,
            balance: c.balance.0,
            charged_at: rfc3339(c.charged_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LedgerEntryBody {
    pub transaction_id: String,
    #[schema(value_type = LedgerKindName)]
    pub kind: &'static str,
    pub amount: i64,
    pub balance_after: i64,
    #[schema(format = DateTime)]
    pub at: String,
    /// The payment a PAYMENT or REFUND belongs to.
    pub reference: Option<String>,
}

impl From<&LedgerEntry> for LedgerEntryBody {
    fn from(e: &LedgerEntry) -> Self {
        LedgerEntryBody {
            transaction_id: e.transaction_id.to_string(),
            kind: match e.kind {
                LedgerKind::Charge => "CHARGE",
                LedgerKind::Payment => "PAYMENT",
                LedgerKind::Refund => "REFUND",
            },
            amount: e.amount.0,
            balance_after: e.balance_after.0,
            at: rfc3339(e.at),
            reference: e.reference.map(|p| p.to_string()),
        }
    }
}
