//! Webhook endpoints (ADMIN): register, list, delete, and each one's
//! delivery log. The table and the deliveries are the actor layer's
//! (`boxoffice_actors::webhooks`); the calls go out through
//! `crate::webhook_transport`.

use actix_web::{web, HttpResponse};
use boxoffice_actors::webhooks::{WebhookError, WebhookId};
use boxoffice_actors::Role;

use super::resource;
use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult};
use crate::extract::{path_id, JsonBody};
use crate::pagination::{List, PageQuery};
use crate::state::AppState;
use crate::views::webhooks::{CreatedWebhookBody, DeliveryBody, WebhookBody, WebhookRequestBody};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/admin/webhooks")
            .route(web::get().to(list_webhooks))
            .route(web::post().to(create_webhook)),
    )
    .service(resource("/admin/webhooks/{webhookId}").route(web::delete().to(delete_webhook)))
    .service(
        resource("/admin/webhooks/{webhookId}/deliveries").route(web::get().to(list_deliveries)),
    );
}

route_api!(
    /// Webhook endpoints and their deliveries.
    WebhooksApi: [create_webhook, list_webhooks, delete_webhook, list_deliveries]
);

fn api_error(err: WebhookError) -> ApiError {
    match err {
        WebhookError::NotFound => ApiError::not_found("webhook not found"),
        WebhookError::Validation(message) => ApiError::validation(message),
        WebhookError::TooMany => ApiError::new(
            actix_web::http::StatusCode::CONFLICT,
            "CONFLICT",
            err.to_string(),
        ),
        WebhookError::Storage(message) => {
            tracing::error!(error = %message, "webhook storage failure");
            ApiError::internal("the change could not be made durable; retry")
        }
    }
}

fn webhook_id(text: &str) -> ApiResult<WebhookId> {
    path_id(text, |t| uuid::Uuid::parse_str(t).ok(), "webhook")
}

#[utoipa::path(post, path = "/api/v1/admin/webhooks", summary = "Register a webhook endpoint for booking events (ADMIN)", tag = "admin",
    description = "Each booking event of the types named is POSTed to `url` as the admin feed shows it, with `Boxoffice-Event-Id` and `Boxoffice-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, \"<t>.<body>\")>`. A 2xx within 10 s is delivered; anything else is retried (first retry within 10 s, then doubling) for up to 3 days, across restarts; a 410 Gone disables the webhook. At least once: deduplicate by Boxoffice-Event-Id. Only events after the registration are sent.",
    request_body(content = WebhookRequestBody, example = json!({"url": "https://example.com/hooks/boxoffice", "events": ["booking.confirmed", "refund.issued"], "description": "ticket mailer"})),
    responses(
        (status = 201, description = "registered; the secret is shown this once", body = CreatedWebhookBody,
            example = json!({"webhookId": "5b1e7c3a-2d4f-4e6a-8b9c-0d1e2f3a4b5c", "url": "https://example.com/hooks/boxoffice", "events": ["booking.confirmed", "refund.issued"], "description": "ticket mailer", "createdAt": "2027-01-02T10:00:00Z", "status": "ACTIVE", "secret": "whsec_3f9a0c2e7b6d4a1f8e5c2b9a6d3f0e7c4b1a8d5e2f9c6b3a0d7e4f1a8b5c2d9e"})),
        (status = 400, description = "VALIDATION_ERROR: malformed body; url missing, not an absolute http(s) URL or over 2,048 characters; events missing, empty or naming an unknown type; description over 500 characters"),
        (status = 401, description = "UNAUTHORIZED: no valid access token, or its account does not exist"),
        (status = 403, description = "FORBIDDEN: the caller's account is not ADMIN now"),
        (status = 409, description = "CONFLICT: 100 webhooks are registered already"),
    ),
    security(("bearer" = [])))]
pub async fn create_webhook(
    state: web::Data<AppState>,
    user: AuthUser,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    user.require(&state, Role::Admin)?;
    let new = body.parse::<WebhookRequestBody>()?.validate()?;
    let webhook = state.webhooks.create(new).await.map_err(api_error)?;
    Ok(HttpResponse::Created().json(CreatedWebhookBody::from(&webhook)))
}

#[utoipa::path(get, path = "/api/v1/admin/webhooks", summary = "List the webhook endpoints (ADMIN)", tag = "admin",
    params(PageQuery),
    responses(
        (status = 200, description = "one page of the endpoints, oldest first (at most 100 exist; no secrets)", body = List<WebhookBody>,
            example = json!({"items": [{"webhookId": "5b1e7c3a-2d4f-4e6a-8b9c-0d1e2f3a4b5c", "url": "https://example.com/hooks/boxoffice", "events": ["booking.confirmed"], "description": null, "createdAt": "2027-01-02T10:00:00Z", "status": "ACTIVE"}], "page": 1, "pageSize": 20, "total": 1})),
        (status = 400, description = "VALIDATION_ERROR: a bad page or pageSize"),
        (status = 401, description = "UNAUTHORIZED: no valid access token, or its account does not exist"),
        (status = 403, description = "FORBIDDEN: the caller's account is not ADMIN now"),
    ),
    security(("bearer" = [])))]
pub async fn list_webhooks(
    state: web::Data<AppState>,
    user: AuthUser,
    page: web::Query<PageQuery>,
) -> ApiResult<HttpResponse> {
    user.require(&state, Role::Admin)?;
    let page = page.validate()?;
    let all: Vec<WebhookBody> = state
        .webhooks
        .list()
        .iter()
        .map(WebhookBody::from)
        .collect();
    Ok(HttpResponse::Ok().json(page.slice(all)))
}

#[utoipa::path(delete, path = "/api/v1/admin/webhooks/{webhookId}", summary = "Remove a webhook endpoint (ADMIN)", tag = "admin",
    description = "Nothing more is sent to it (a call already out finishes), and its delivery log goes.",
    params(("webhookId" = String, Path, example = "5b1e7c3a-2d4f-4e6a-8b9c-0d1e2f3a4b5c")),
    responses(
        (status = 204, description = "removed"),
        (status = 401, description = "UNAUTHORIZED: no valid access token, or its account does not exist"),
        (status = 403, description = "FORBIDDEN: the caller's account is not ADMIN now"),
        (status = 404, description = "NOT_FOUND: webhookId names no webhook"),
    ),
    security(("bearer" = [])))]
pub async fn delete_webhook(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    user.require(&state, Role::Admin)?;
    let id = webhook_id(&path)?;
    state.webhooks.delete(id).await.map_err(api_error)?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(get, path = "/api/v1/admin/webhooks/{webhookId}/deliveries", summary = "A webhook's delivery log, oldest first (ADMIN)", tag = "admin",
    description = "One delivery per event sent to the endpoint, in commit order, with its attempts so far. The newest 100,000 are kept (pending ones always).",
    params(("webhookId" = String, Path, example = "5b1e7c3a-2d4f-4e6a-8b9c-0d1e2f3a4b5c"), PageQuery),
    responses(
        (status = 200, description = "one page of the log", body = List<DeliveryBody>,
            example = json!({"items": [{"eventId": "3d5e7f90-1a2b-4c3d-8e4f-5a6b7c8d9e0f", "type": "booking.confirmed", "attempt": 2, "status": "PENDING", "responseStatus": 503, "at": "2027-01-02T10:00:10Z", "nextAttemptAt": "2027-01-02T10:00:30Z"}], "page": 1, "pageSize": 20, "total": 1})),
        (status = 400, description = "VALIDATION_ERROR: a bad page or pageSize"),
        (status = 401, description = "UNAUTHORIZED: no valid access token, or its account does not exist"),
        (status = 403, description = "FORBIDDEN: the caller's account is not ADMIN now"),
        (status = 404, description = "NOT_FOUND: webhookId names no webhook"),
    ),
    security(("bearer" = [])))]
pub async fn list_deliveries(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
    page: web::Query<PageQuery>,
) -> ApiResult<HttpResponse> {
    user.require(&state, Role::Admin)?;
    let id = webhook_id(&path)?;
    if state.webhooks.get(id).is_none() {
        return Err(ApiError::not_found("webhook not found"));
    }
    let page = page.validate()?;
    let (deliveries, total) = state
        .webhooks
        .deliveries(id, page.offset(), page.limit())
        .await
        .map_err(api_error)?;
    Ok(
        HttpResponse::Ok()
            .json(page.of(deliveries.iter().map(DeliveryBody::from).collect(), total)),
    )
}
