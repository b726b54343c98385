//! [`Limited`]: the caller of a rate-limited endpoint, authenticated and
//! within their limit; [`LimitedCaller`]: the same for an endpoint anyone
//! may call (counted per user with a valid access token, else per address).

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use boxoffice_engine::ids::UserId;
use serde_json::json;
use std::future::{ready, Ready};
use std::marker::PhantomData;

use super::{Caller, LimitedAction, RateLimitInfo};
use crate::auth::{bearer, AuthUser, TokenKind};
use crate::error::ApiError;
use crate::state::AppState;

/// Names the limit an endpoint is under (a marker type per endpoint).
pub trait LimitedEndpoint {
    const ACTION: LimitedAction;
    /// Counted per address even when a valid token is sent (see [`LoginPosts`]).
    const BY_ADDRESS_ONLY: bool = false;
}

/// POST /api/v1/reservations
pub struct ReservationPosts;
/// POST /api/v1/payments
pub struct PaymentPosts;
/// POST /api/v1/wallet/charges
pub struct ChargePosts;

impl LimitedEndpoint for ReservationPosts {
    const ACTION: LimitedAction = LimitedAction::Reservations;
}
impl LimitedEndpoint for PaymentPosts {
    const ACTION: LimitedAction = LimitedAction::Payments;
}
impl LimitedEndpoint for ChargePosts {
    const ACTION: LimitedAction = LimitedAction::Charges;
}
/// POST /api/v1/auth/login. Login and register count per address whatever
/// token comes with them: their callers are not signed in yet, and counting
/// a token's user would let one person with many accounts multiply the
/// allowance.
pub struct LoginPosts;
/// POST /api/v1/auth/register (per address, as [`LoginPosts`]).
pub struct RegisterPosts;
/// The catalogue and search GETs.
pub struct CatalogueGets;

impl LimitedEndpoint for LoginPosts {
    const ACTION: LimitedAction = LimitedAction::Login;
    const BY_ADDRESS_ONLY: bool = true;
}
impl LimitedEndpoint for RegisterPosts {
    const ACTION: LimitedAction = LimitedAction::Register;
    const BY_ADDRESS_ONLY: bool = true;
}
impl LimitedEndpoint for CatalogueGets {
    const ACTION: LimitedAction = LimitedAction::Catalogue;
}

/// An authenticated caller who is within `E`'s limit. Extracted first in a
/// handler, so a refusal comes before anything else the handler would do
/// (401 still comes before it: the limit is per user). The limit's state is
/// left in the request's extensions for [`super::headers`].
pub struct Limited<E> {
    pub user_id: UserId,
    endpoint: PhantomData<E>,
}

impl<E: LimitedEndpoint> FromRequest for Limited<E> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        ready(limit::<E>(req, payload))
    }
}

fn limit<E: LimitedEndpoint>(
    req: &HttpRequest,
    payload: &mut Payload,
) -> Result<Limited<E>, ApiError> {
    let user = AuthUser::from_request(req, payload).into_inner()?;
    let state = app_state(req)?;
    count::<E>(req, state, Caller::User(user.user_id))?;
    Ok(Limited {
        user_id: user.user_id,
        endpoint: PhantomData,
    })
}

/// A caller of an endpoint anyone may call, within `E`'s limit: counted as
/// the user of a valid access token, else (no token, or one that does not
/// verify: the endpoint does not need one) as the client's address; login
/// and register always as the address.
pub struct LimitedCaller<E> {
    endpoint: PhantomData<E>,
}

impl<E: LimitedEndpoint> FromRequest for LimitedCaller<E> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(limit_caller::<E>(req))
    }
}

fn limit_caller<E: LimitedEndpoint>(req: &HttpRequest) -> Result<LimitedCaller<E>, ApiError> {
    let state = app_state(req)?;
    if !state.rate_limits.enabled() {
        // Nothing to count: spare the token check and the address walk.
        return Ok(LimitedCaller {
            endpoint: PhantomData,
        });
    }
    let user = bearer(req)
        .filter(|_| !E::BY_ADDRESS_ONLY)
        .and_then(|token| state.jwt.verify(token, TokenKind::Access, state.now()).ok());
    let caller = match user {
        Some(user_id) => Caller::User(user_id),
        None => Caller::anonymous(state.trusted_proxies.client_ip(req)),
    };
    count::<E>(req, state, caller)?;
    Ok(LimitedCaller {
        endpoint: PhantomData,
    })
}

fn app_state(req: &HttpRequest) -> Result<&web::Data<AppState>, ApiError> {
    req.app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::internal("application state missing"))
}

/// Counts the request against `E`'s limit for `caller`: leaves the limit's
/// state for the headers, and refuses past it.
fn count<E: LimitedEndpoint>(
    req: &HttpRequest,
    state: &AppState,
    caller: Caller,
) -> Result<(), ApiError> {
    let Some(info) = state.rate_limits.check(E::ACTION, caller) else {
        return Ok(());
    };
    req.extensions_mut().insert(info);
    match info.retry_after_secs {
        Some(retry_after_secs) => Err(refusal(info, retry_after_secs)),
        None => Ok(()),
    }
}

/// 429 RATE_LIMITED, with `Retry-After`.
fn refusal(info: RateLimitInfo, retry_after_secs: u64) -> ApiError {
    let mut err = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "RATE_LIMITED",
        format!(
            "at most {} of these requests per minute: retry in {retry_after_secs} s",
            info.limit
        ),
    )
    .with_details(json!({
        "limitPerMinute": info.limit,
        "retryAfterSeconds": retry_after_secs,
    }));
    err.retry_after = Some(retry_after_secs);
    err
}
