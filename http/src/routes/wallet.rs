//! The caller's prepaid wallet: balance, charges (with an idempotency key), ledger.

use actix_web::{web, HttpRequest, HttpResponse};
use boxoffice_actors::idempotency::Endpoint;

use super::resource;
use crate::auth::AuthUser;
use crate::card_provider::{as_reached, reached_origin};
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;
use crate::idempotency_key::IdempotencyKey;
use crate::pagination::{List, PageQuery};
use crate::rate_limit::{ChargePosts, Limited};
use crate::state::AppState;
use crate::views::payments::method_of;
use crate::views::wallet::{
    CardChargeBody, ChargeBody, ChargeRequestBody, LedgerEntryBody, WalletBody,
};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/wallet").route(web::get().to(get)))
        .service(resource("/wallet/charges").route(web::post().to(charge)))
        .service(resource("/wallet/transactions").route(web::get().to(transactions)));
}

route_api!(
    /// The wallet's operations.
    WalletApi: [get, charge, transactions]
);

#[utoipa::path(get, path = "/api/v1/wallet", summary = "The caller's wallet balance", tag = "wallet", operation_id = "get_wallet",
    responses((status = 200, description = "the caller's balance and totals", body = WalletBody, example = json!({"userId": "7f3c2a10-5b6e-4c1d-9a8b-2e4f6d8c0a12", "balance": 560000, "totalCharged": 1000000, "totalUsed": 440000, "totalRefunded": 0, "updatedAt": "2026-12-06T10:00:00Z"}))),
    security(("bearer" = [])))]
pub async fn get(state: web::Data<AppState>, user: AuthUser) -> ApiResult<HttpResponse> {
    let view = state
        .engine(state.registry.wallet_view(user.user_id))
        .await?;
    Ok(HttpResponse::Ok().json(WalletBody::from(&view)))
}

#[utoipa::path(post, path = "/api/v1/wallet/charges", summary = "Top up the wallet", tag = "wallet", operation_id = "charge_wallet", request_body(content = ChargeRequestBody, examples(("direct" = (value = json!({"amount": 100000}))), ("card" = (value = json!({"amount": 100000, "method": "CARD"}))))),
    params(("Idempotency-Key" = String, Header, min_length = 1, max_length = 255, pattern = "^[!-~]+$", description = "1-255 visible ASCII characters; the same key and body replay the first answer")),
    responses(
        (status = 201, description = "the charge and the new balance", body = ChargeBody),
        (status = 202, description = "method CARD: the top-up is PENDING; the payer pays on checkoutUrl and the balance grows (once) when the provider confirms", body = CardChargeBody, example = json!({"transactionId": "7f3c2a10-5b6e-4c1d-9a8b-2e4f6d8c0a12", "amount": 100000, "status": "PENDING", "checkoutUrl": "http://127.0.0.1:8080/mock-provider/checkout/pi_3MtwBwLkdIwHu7ix28a3tqPa", "expiresAt": "2026-12-06T10:10:00Z"})),
        (status = 400, description = "INVALID_AMOUNT (not a positive whole number that fits, or over the per-charge maximum), VALIDATION_ERROR (not a number, or a method other than DIRECT or CARD), or IDEMPOTENCY_KEY_REQUIRED"),
        (status = 403, description = "FORBIDDEN: a DIRECT top-up on a server started with --direct-wallet-charges off"),
        (status = 409, description = "IDEMPOTENCY_IN_PROGRESS, or PAYMENT_METHOD_UNAVAILABLE (method CARD on a server without a payment provider)"),
        (status = 422, description = "CHARGE_LIMIT_EXCEEDED (the balance cap, the monthly limit, or the daily count of charges: details.maxChargesPerDay), or IDEMPOTENCY_KEY_REUSED"),
        (status = 429, description = "RATE_LIMITED (details.retryAfterSeconds, header Retry-After): past the caller's per-minute limit of these requests, or past their daily quota of new Idempotency-Keys; nothing was run or stored, so the same key can be sent again later. With rate limits on, every answer to an authenticated caller carries X-RateLimit-Limit, X-RateLimit-Remaining and X-RateLimit-Reset (seconds until the allowance is whole)"),
        (status = 503, description = "UNAVAILABLE: method CARD and the payment provider could not be reached; nothing is pending, retry with the same key"),
    ),
    security(("bearer" = [])))]
pub async fn charge(
    state: web::Data<AppState>,
    user: Limited<ChargePosts>,
    key: IdempotencyKey,
    req: HttpRequest,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    let tag = key.tag(user.user_id, Endpoint::Charges, body.value()?);
    let method = method_of(body.value()?, &["DIRECT", "CARD"])?;
    if method != Some("CARD") && !state.direct_wallet_charges {
        return Err(ApiError::forbidden(
            "this server takes top-ups by card only (method CARD)",
        ));
    }
    let max_charge = state.registry.context().config.wallet_limits.max_charge;
    let amount = ChargeRequestBody::amount(body.value()?, max_charge)?;
    if method == Some("CARD") {
        // After paying, the provider sends the payer to this site's wallet page.
        let return_url =
            reached_origin(&state.trusted_proxies, &req).map(|origin| format!("{origin}/wallet"));
        let receipt = state
            .engine(
                state
                    .registry
                    .charge_by_card(user.user_id, amount, Some(tag), return_url),
            )
            .await?;
        let mut body = CardChargeBody::from(&receipt);
        body.checkout_url = as_reached(
            state.mock_origin.get(),
            &state.trusted_proxies,
            &req,
            body.checkout_url,
        );
        return Ok(HttpResponse::Accepted().json(body));
    }
    let receipt = state
        .engine(state.registry.charge(user.user_id, amount, Some(tag)))
        .await?;
    Ok(HttpResponse::Created().json(ChargeBody::from(&receipt)))
}

#[utoipa::path(get, path = "/api/v1/wallet/transactions", summary = "The caller's wallet ledger", tag = "wallet", operation_id = "list_wallet_transactions", params(PageQuery),
    responses(
        (status = 200, description = "one page of the caller's ledger", body = List<LedgerEntryBody>),
        (status = 400, description = "VALIDATION_ERROR: a bad page, pageSize or query string"),
    ),
    security(("bearer" = [])))]
pub async fn transactions(
    state: web::Data<AppState>,
    user: AuthUser,
    page: web::Query<PageQuery>,
) -> ApiResult<HttpResponse> {
    let page = page.validate()?;
    let (entries, total) = state
        .engine(
            state
                .registry
                .ledger(user.user_id, page.offset(), page.limit()),
        )
        .await?;
    let items = entries.iter().map(LedgerEntryBody::from).collect();
    Ok(HttpResponse::Ok().json(page.of(items, total)))
}
