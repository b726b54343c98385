//! The mock's HTTP routes: thin handlers over [`MockProvider`]'s operations.
//! The API answers in Stripe's shape; the checkout pages are plain HTML.

use super::checkout_page;
use super::delivery::dispatch;
use super::{check_key, CheckoutOutcome, MockError, MockProvider, SwitchesUpdate};
use crate::payment_provider::is_valid_object_id;
use crate::wire::WireErrorBody;
use actix_web::http::{header, StatusCode};
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use std::sync::Arc;

/// Largest request body the mock reads (a form of an intent with full
/// metadata is under 30 KiB).
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;

type Mock = web::Data<MockProvider>;

impl MockProvider {
    /// Mounts the mock's routes (and its shared state) in an app. The sweeper
    /// of timed-out intents is separate: [`super::delivery::spawn_sweeper`].
    pub fn configure(provider: &Arc<MockProvider>, cfg: &mut web::ServiceConfig) {
        cfg.app_data(web::Data::from(provider.clone()))
            .app_data(web::PayloadConfig::new(MAX_REQUEST_BYTES))
            .route("/v1/payment_intents", web::post().to(create_intent))
            .route("/v1/payment_intents/{id}", web::get().to(retrieve_intent))
            .route(
                "/v1/payment_intents/{id}/cancel",
                web::post().to(cancel_intent),
            )
            .route("/v1/refunds", web::post().to(refund))
            .route("/v1/refunds", web::get().to(list_refunds))
            .route("/checkout/{id}", web::get().to(checkout_page))
            .route("/checkout/{id}/pay", web::post().to(pay))
            .route("/checkout/{id}/decline", web::post().to(decline))
            .route("/mock/switches", web::get().to(get_switches))
            .route("/mock/switches", web::post().to(set_switches));
    }
}

impl std::fmt::Display for MockError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.error.message)
    }
}

/// Stripe's error shape: the status and `{"error": {type, code, message}}`.
impl actix_web::ResponseError for MockError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST)
    }
    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status_code()).json(WireErrorBody {
            error: self.error.clone(),
        })
    }
}

/// The down switch and the secret key, before anything else of an API call.
fn admit(req: &HttpRequest, mock: &MockProvider) -> Result<(), MockError> {
    if mock.switches().down {
        return Err(MockError::new(
            503,
            "api_error",
            None,
            "The test provider is down (switch).",
        ));
    }
    check_bearer(req, mock)
}

fn idempotency_key(req: &HttpRequest) -> Result<Option<String>, MockError> {
    match req.headers().get("Idempotency-Key") {
        None => Ok(None),
        Some(value) => {
            let key = value
                .to_str()
                .map_err(|_| MockError::invalid("Invalid Idempotency-Key."))?;
            check_key(key)?;
            Ok(Some(key.to_string()))
        }
    }
}

fn form(body: &[u8]) -> Result<Vec<(String, String)>, MockError> {
    serde_urlencoded::from_bytes(body)
        .map_err(|_| MockError::invalid("The body is not form-encoded."))
}

/// Runs the timeout before an operation, so an answer never shows an
/// intent open past its deadline even between two sweeps.
fn expire(mock: &Mock) {
    let provider = mock.clone().into_inner();
    let events = provider.expire_due();
    dispatch(&provider, events);
}

async fn create_intent(
    req: HttpRequest,
    body: Bytes,
    mock: Mock,
) -> Result<HttpResponse, MockError> {
    admit(&req, &mock)?;
    let key = idempotency_key(&req)?;
    let fields = form(&body)?;
    expire(&mock);
    let intent = mock.create_intent(&fields, key.as_deref())?;
    Ok(HttpResponse::Ok().json(intent))
}

fn path_id(req: &HttpRequest) -> Result<String, MockError> {
    let id = req.match_info().get("id").unwrap_or_default();
    if is_valid_object_id(id) {
        Ok(id.to_string())
    } else {
        Err(MockError::missing(id))
    }
}

async fn retrieve_intent(req: HttpRequest, mock: Mock) -> Result<HttpResponse, MockError> {
    admit(&req, &mock)?;
    let id = path_id(&req)?;
    expire(&mock);
    let intent = mock.retrieve_intent(&id)?;
    Ok(HttpResponse::Ok().json(intent))
}

async fn cancel_intent(
    req: HttpRequest,
    body: Bytes,
    mock: Mock,
) -> Result<HttpResponse, MockError> {
    admit(&req, &mock)?;
    let id = path_id(&req)?;
    let key = idempotency_key(&req)?;
    let fields = form(&body)?;
    if let Some((name, _)) = fields
        .iter()
        .find(|(name, _)| name != "cancellation_reason")
    {
        return Err(MockError::invalid(format!(
            "Received unknown parameter: {}",
            super::clip(name)
        )));
    }
    expire(&mock);
    let (intent, events) = mock.cancel_intent(&id, key.as_deref())?;
    dispatch(&mock.clone().into_inner(), events);
    Ok(HttpResponse::Ok().json(intent))
}

async fn refund(req: HttpRequest, body: Bytes, mock: Mock) -> Result<HttpResponse, MockError> {
    admit(&req, &mock)?;
    let key = idempotency_key(&req)?;
    let fields = form(&body)?;
    expire(&mock);
    let (refund, events) = mock.refund(&fields, key.as_deref())?;
    dispatch(&mock.clone().into_inner(), events);
    Ok(HttpResponse::Ok().json(refund))
}

/// `GET /v1/refunds?payment_intent=<id>`: the refunds of one intent (the
/// mock lists by intent only).
async fn list_refunds(req: HttpRequest, mock: Mock) -> Result<HttpResponse, MockError> {
    admit(&req, &mock)?;
    let query = form(req.query_string().as_bytes())?;
    let intent = query
        .iter()
        .find(|(name, _)| name == "payment_intent")
        .map(|(_, id)| id.as_str())
        .filter(|id| is_valid_object_id(id))
        .ok_or_else(|| {
            MockError::invalid("The test provider lists the refunds of one payment_intent.")
        })?;
    expire(&mock);
    Ok(HttpResponse::Ok().json(mock.refunds_of(intent)?))
}

fn html(status: StatusCode, page: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(page)
}

async fn checkout_page(req: HttpRequest, mock: Mock) -> HttpResponse {
    let id = req.match_info().get("id").unwrap_or_default();
    if !is_valid_object_id(id) {
        return html(StatusCode::NOT_FOUND, checkout_page::not_found());
    }
    expire(&mock);
    match mock.checkout_view(id) {
        None => html(StatusCode::NOT_FOUND, checkout_page::not_found()),
        Some((amount_minor, currency, status)) => html(
            StatusCode::OK,
            checkout_page::page(id, amount_minor, &currency, &status),
        ),
    }
}

async fn click(req: HttpRequest, mock: Mock, pay: bool) -> HttpResponse {
    let id = req.match_info().get("id").unwrap_or_default();
    if !is_valid_object_id(id) {
        return html(StatusCode::NOT_FOUND, checkout_page::not_found());
    }
    expire(&mock);
    let Some((outcome, events)) = mock.checkout(id, pay) else {
        return html(StatusCode::NOT_FOUND, checkout_page::not_found());
    };
    dispatch(&mock.clone().into_inner(), events);
    match outcome {
        CheckoutOutcome::Paid {
            return_url: Some(url),
        } => HttpResponse::SeeOther()
            .insert_header((header::LOCATION, url))
            .finish(),
        CheckoutOutcome::Paid { return_url: None } => {
            html(StatusCode::OK, checkout_page::result("Payment succeeded"))
        }
        CheckoutOutcome::Declined { return_url } => html(
            StatusCode::OK,
            checkout_page::declined(return_url.as_deref()),
        ),
        CheckoutOutcome::NotPayable { status } => html(
            StatusCode::CONFLICT,
            checkout_page::result(&format!("This payment can no longer be paid ({status})")),
        ),
    }
}

async fn pay(req: HttpRequest, mock: Mock) -> HttpResponse {
    click(req, mock, true).await
}

async fn decline(req: HttpRequest, mock: Mock) -> HttpResponse {
    click(req, mock, false).await
}

fn check_bearer(req: &HttpRequest, mock: &MockProvider) -> Result<(), MockError> {
    let expected = format!("Bearer {}", mock.config.secret_key);
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if given == Some(expected.as_str()) {
        Ok(())
    } else {
        Err(MockError::new(
            401,
            "invalid_request_error",
            None,
            "Invalid API Key provided.",
        ))
    }
}

async fn get_switches(req: HttpRequest, mock: Mock) -> Result<HttpResponse, MockError> {
    check_bearer(&req, &mock)?;
    Ok(HttpResponse::Ok().json(mock.switches()))
}

/// Switches are controlled with the secret key even while "down" (so a test
/// can bring the provider back up).
async fn set_switches(
    req: HttpRequest,
    body: Bytes,
    mock: Mock,
) -> Result<HttpResponse, MockError> {
    check_bearer(&req, &mock)?;
    let update: SwitchesUpdate = serde_json::from_slice(&body)
        .map_err(|e| MockError::invalid(format!("Bad switches: {e}")))?;
    let switches = mock.update_switches(update).map_err(MockError::invalid)?;
    Ok(HttpResponse::Ok().json(switches))
}
