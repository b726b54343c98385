//! [`Limited`]: the caller of a rate-limited endpoint, authenticated and
//! within their limit.

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use boxoffice_engine::ids::UserId;
use serde_json::json;
use std::future::{ready, Ready};
use std::marker::PhantomData;

use super::LimitedAction;
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::state::AppState;

/// Names the limit an endpoint is under (a marker type per endpoint).
pub trait LimitedEndpoint {
    const ACTION: LimitedAction;
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
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::internal("application state missing"))?;
    let info = state.rate_limits.check(E::ACTION, user.user_id);
    if let Some(info) = info {
        req.extensions_mut().insert(info);
        if let Some(retry_after_secs) = info.retry_after_secs {
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
            return Err(err);
        }
    }
    Ok(Limited {
        user_id: user.user_id,
        endpoint: PhantomData,
    })
}
