//! Every error the API returns, in the one shape API.md fixes:
//! `{"error": {"code", "message", "details"}, "requestId"}` with the status of
//! its code. Engine errors map to codes here, in one place; so do actix's own
//! extractor errors (malformed JSON, wrong content type, oversized bodies,
//! bad query strings), so no client ever sees a bare text or HTML error.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use boxoffice_actors::{EngineError, Missing};
use serde_json::{json, Value};
use std::fmt;

use crate::request_id;
use crate::time_format::rfc3339;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Value,
    /// Seconds, for 429 and 503 answers.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            details: json!({}),
            retry_after: None,
        }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "FORBIDDEN", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR", message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        let mut err = Self::new(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", message);
        err.retry_after = Some(1);
        err
    }

    /// The JSON body of this error.
    pub fn body(&self) -> Value {
        json!({
            "error": { "code": self.code, "message": self.message, "details": self.details },
            "requestId": request_id::current(),
        })
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if let Some(seconds) = self.retry_after {
            response.insert_header(("Retry-After", seconds.to_string()));
        }
        response.json(self.body())
    }
}

fn missing_name(what: Missing) -> &'static str {
    match what {
        Missing::Schedule => "schedule",
        Missing::Reservation => "reservation",
        Missing::Payment => "payment",
        Missing::Ticket => "ticket",
        Missing::User => "user",
        Missing::Venue => "venue",
        Missing::Concert => "concert",
    }
}

impl From<EngineError> for ApiError {
    fn from(err: EngineError) -> Self {
        use EngineError as E;
        use StatusCode as S;
        let message = err.to_string();
        match err {
            E::Validation(m) => ApiError::validation(m),
            E::UnknownSeat(seat) => ApiError::new(S::BAD_REQUEST, "UNKNOWN_SEAT", message)
                .with_details(json!({ "seatId": seat })),
            E::SeatUnavailable(seats) => ApiError::new(S::CONFLICT, "SEAT_UNAVAILABLE", message)
                .with_details(json!({ "unavailableSeats": seats })),
            E::SeatLimitExceeded { limit, already } => {
                ApiError::new(S::UNPROCESSABLE_ENTITY, "SEAT_LIMIT_EXCEEDED", message).with_details(
                    json!({ "maxSeatsPerUser": limit, "alreadyHeldOrBought": already }),
                )
            }
            E::BookingClosed => ApiError::new(S::CONFLICT, "BOOKING_CLOSED", message),
            E::NotFound(what) => ApiError::not_found(format!("{} not found", missing_name(what))),
            E::NotCancellable => ApiError::new(S::CONFLICT, "NOT_CANCELLABLE", message),
            E::PaymentInProgress => ApiError::new(S::CONFLICT, "CONFLICT", message),
            E::AlreadyPaid => ApiError::new(S::CONFLICT, "ALREADY_PAID", message),
            E::ReservationCancelled => ApiError::new(S::CONFLICT, "RESERVATION_CANCELLED", message),
            E::ReservationExpired => ApiError::new(S::GONE, "RESERVATION_EXPIRED", message),
            E::AmountMismatch { expected } => {
                ApiError::new(S::CONFLICT, "AMOUNT_MISMATCH", message)
                    .with_details(json!({ "expectedAmount": expected.0 }))
            }
            E::InsufficientBalance { balance, required } => {
                ApiError::new(S::PAYMENT_REQUIRED, "INSUFFICIENT_BALANCE", message)
                    .with_details(json!({ "balance": balance.0, "required": required.0 }))
            }
            E::InvalidAmount => ApiError::new(S::BAD_REQUEST, "INVALID_AMOUNT", message),
            E::ChargeLimitExceeded => {
                ApiError::new(S::UNPROCESSABLE_ENTITY, "CHARGE_LIMIT_EXCEEDED", message)
            }
            E::InvalidTicket => ApiError::new(S::BAD_REQUEST, "INVALID_TICKET", message),
            E::TicketAlreadyUsed { at } => {
                ApiError::new(S::CONFLICT, "TICKET_ALREADY_USED", message)
                    .with_details(json!({ "usedAt": rfc3339(at) }))
            }
            E::QueueNotActive => ApiError::new(S::FORBIDDEN, "QUEUE_NOT_ACTIVE", message),
            E::QueueTokenInvalid => ApiError::new(S::UNAUTHORIZED, "QUEUE_TOKEN_INVALID", message),
            E::IdempotencyInProgress => {
                ApiError::new(S::CONFLICT, "IDEMPOTENCY_IN_PROGRESS", message)
            }
            E::IdempotencyKeyReused => {
                ApiError::new(S::UNPROCESSABLE_ENTITY, "IDEMPOTENCY_KEY_REUSED", message)
            }
            E::Unavailable => ApiError::unavailable(message),
            E::Storage(m) => {
                tracing::error!(error = %m, "storage failure");
                ApiError::internal(
                    "the change could not be made durable; retry with the same Idempotency-Key",
                )
            }
            E::Internal(m) => {
                tracing::error!(error = %m, "internal error");
                ApiError::internal("internal error")
            }
            E::EmailTaken => ApiError::new(S::CONFLICT, "EMAIL_TAKEN", message),
            E::RateLimited { retry_after_secs } => {
                let mut err = ApiError::new(S::TOO_MANY_REQUESTS, "RATE_LIMITED", message)
                    .with_details(json!({ "retryAfterSeconds": retry_after_secs }));
                err.retry_after = Some(retry_after_secs.max(1));
                err
            }
            E::DailyChargeCountExceeded { limit } => {
                ApiError::new(S::UNPROCESSABLE_ENTITY, "CHARGE_LIMIT_EXCEEDED", message)
                    .with_details(json!({ "maxChargesPerDay": limit }))
            }
            E::KeyQuotaExceeded {
                limit,
                retry_after_secs,
            } => {
                let mut err = ApiError::new(S::TOO_MANY_REQUESTS, "RATE_LIMITED", message)
                    .with_details(json!({
                        "maxNewKeysPerDay": limit,
                        "retryAfterSeconds": retry_after_secs,
                    }));
                err.retry_after = Some(retry_after_secs.max(1));
                err
            }
            E::InvalidCredentials => ApiError::new(S::UNAUTHORIZED, "INVALID_CREDENTIALS", message),
            E::LastAdmin => ApiError::new(S::CONFLICT, "CONFLICT", message),
            E::InvalidRefreshToken => ApiError::unauthorized(message),
            E::QueueNotOpen { opens_at } => ApiError::new(S::CONFLICT, "QUEUE_NOT_OPEN", message)
                .with_details(json!({ "opensAt": crate::time_format::rfc3339(opens_at) })),
            E::AlreadyPublished => ApiError::new(S::CONFLICT, "CONFLICT", message),
            E::WrongSchedule {
                concert_id,
                title,
                schedule_id,
                starts_at,
            } => ApiError::new(S::CONFLICT, "WRONG_SCHEDULE", message).with_details(json!({
                "concert": { "concertId": concert_id, "title": title },
                "schedule": {
                    "scheduleId": schedule_id,
                    "startsAt": starts_at.map(rfc3339).unwrap_or_default(),
                },
            })),
            E::ScheduleCancelled => ApiError::new(S::CONFLICT, "SCHEDULE_CANCELLED", message),
            E::AlreadyCancelled => ApiError::new(S::CONFLICT, "CONFLICT", message),
            E::SeatsNotBlocked(seats) => ApiError::new(S::CONFLICT, "SEAT_NOT_BLOCKED", message)
                .with_details(json!({ "notBlockedSeats": seats })),
            E::InvalidCode => ApiError::new(S::BAD_REQUEST, "INVALID_CODE", message),
            E::EmailNotVerified => ApiError::new(S::FORBIDDEN, "EMAIL_NOT_VERIFIED", message),
            E::PaymentMethodUnavailable => {
                ApiError::new(S::CONFLICT, "PAYMENT_METHOD_UNAVAILABLE", message)
            }
            E::CardPaymentFailed => ApiError::new(S::CONFLICT, "PAYMENT_FAILED", message),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
