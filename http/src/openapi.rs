//! The OpenAPI 3 document, generated from the handlers' and bodies'
//! annotations (utoipa), served at `/api/v1/openapi.json`, with interactive
//! docs at `/docs/` (Swagger UI assets vendored into the binary: no network at
//! build or run time).
//!
//! The annotations say what is particular to each operation (its success
//! body, its domain errors). What holds for whole classes of operations is
//! added here, once, by [`completed_document`], so no handler can forget it:
//! - every operation with a JSON body can answer 400, 413 and 415 (the one
//!   body extractor, `extract::JsonBody`, does all three);
//! - every operation that requires a token can answer 401;
//! - every `/api/v1` operation reaches the engine, so it can answer 500 (a
//!   change that could not be made durable) and 503 (overloaded, timed out,
//!   shutting down);
//! - every 4xx/5xx without a body of its own has the [`ErrorBody`] shape;
//! - every response carries `X-Request-Id`, and 429/503 errors `Retry-After`;
//!   every response header the document names is always sent, so each is
//!   marked required (schemathesis' header check relies on that), except
//!   the `X-RateLimit-*` headers: the rate-limited operations
//!   (`rate_limit::LIMITED_OPERATIONS`) can answer 429 RATE_LIMITED and
//!   name them on every response, not required, as
//!   `BOXOFFICE_RATE_LIMITS=off` (the fuzzer's setting) sends none.
//!
//! `scripts/fuzz.sh` holds the server to this document: an undocumented
//! status, body, content type or missing header fails CI.
//!
//! Both are served by our own handlers rather than utoipa's actix service, so
//! they get the API's behaviour: a wrong method is 405 and a missing docs file
//! is a JSON 404, never an empty or text body.

use actix_web::{web, HttpResponse};
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::borrow::Cow;
use std::sync::Arc;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_swagger_ui::Config;

use crate::error::{ApiError, ApiResult};
use crate::extract::MAX_BODY_BYTES;
use crate::routes::{
    admin, auth, catalog, checkins, email, events, ops, payments, provider_webhooks, queue,
    reservations, resource, schedule_admin, search, streams, tickets, wallet, webhooks,
};
use crate::views;

/// Where the document is served; the docs page loads it from here.
pub const DOCUMENT_PATH: &str = "/api/v1/openapi.json";

/// What the whole document says once: its info, tags, the error body and
/// security scheme, and the two documentation endpoints served here. Each
/// route module declares its own operations (`ROUTE_APIS`).
#[derive(OpenApi)]
#[openapi(
    info(title = "Boxoffice API", version = "1", description = "Concert ticket reservations: catalogue, waiting room, holds, wallet, payments, tickets, check-in. Errors are {\"error\": {code, message, details}, \"requestId\"} (the ErrorBody schema). Every response carries X-Request-Id."),
    paths(document, docs_page),
    components(schemas(ErrorBody, ErrorDetail, ErrorDetails)),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "accounts and tokens"),
        (name = "catalogue", description = "venues, concerts, schedules, seat maps"),
        (name = "search", description = "concert search and title autocomplete"),
        (name = "queue", description = "the waiting room"),
        (name = "reservations", description = "seat holds"),
        (name = "wallet", description = "prepaid balance"),
        (name = "payments", description = "paying for holds"),
        (name = "tickets", description = "tickets and check-in"),
        (name = "admin", description = "running a box office: cancelling dates, sales"),
        (name = "ops", description = "health, readiness, metrics and this document"),
    )
)]
pub struct ApiDoc;

/// Every error the API returns (API.md): what `ApiError::body` renders. This
/// type only describes it; a unit test below holds the two together.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    pub error: ErrorDetail,
    /// The request's `X-Request-Id`, for support and the server log.
    pub request_id: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Machine-readable: VALIDATION_ERROR, UNAUTHORIZED, FORBIDDEN, NOT_FOUND,
    /// CONFLICT, PAYLOAD_TOO_LARGE, UNSUPPORTED_MEDIA_TYPE, METHOD_NOT_ALLOWED,
    /// RATE_LIMITED, INTERNAL_ERROR, UNAVAILABLE, or a domain code
    /// (SEAT_UNAVAILABLE, INSUFFICIENT_BALANCE, ...) named by each operation.
    #[schema(example = "SEAT_UNAVAILABLE")]
    pub code: String,
    /// For people; wording may change.
    pub message: String,
    /// Code-specific facts (for example `unavailableSeats`); `{}` when none.
    #[schema(value_type = ErrorDetails)]
    pub details: Value,
}

/// The facts an error's `details` can carry, each only with the codes named
/// on it (`ApiError::with_details` sets them; every field is optional, and a
/// later version may add more, so clients must ignore unknown ones).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)] // describes `details`; never built
pub struct ErrorDetails {
    /// UNKNOWN_SEAT: the seat id that names no seat of the schedule.
    pub seat_id: Option<String>,
    /// SEAT_UNAVAILABLE: the requested seats that are held or sold.
    pub unavailable_seats: Option<Vec<String>>,
    /// SEAT_NOT_BLOCKED: the named seats that are not blocked.
    pub not_blocked_seats: Option<Vec<String>>,
    /// SEAT_LIMIT_EXCEEDED: the concert's per-user seat limit.
    pub max_seats_per_user: Option<u32>,
    /// SEAT_LIMIT_EXCEEDED: seats the caller already holds or bought.
    pub already_held_or_bought: Option<u32>,
    /// AMOUNT_MISMATCH: the reservation's total.
    pub expected_amount: Option<i64>,
    /// INSUFFICIENT_BALANCE: the wallet's balance.
    pub balance: Option<i64>,
    /// INSUFFICIENT_BALANCE: the amount the payment needs.
    pub required: Option<i64>,
    /// TICKET_ALREADY_USED: when the ticket was checked in.
    #[schema(format = DateTime)]
    pub used_at: Option<String>,
    /// RATE_LIMITED: seconds until a retry can succeed.
    pub retry_after_seconds: Option<u64>,
    /// QUEUE_NOT_OPEN: when the waiting room opens.
    #[schema(format = DateTime)]
    pub opens_at: Option<String>,
    /// VALIDATION_ERROR of a refused body: its fields the operation does not
    /// know (a typo, usually); the message lists the ones it does.
    pub unknown_fields: Option<Vec<String>>,
    /// VALIDATION_ERROR of a seat map: the section asked for.
    pub section: Option<String>,
    /// VALIDATION_ERROR of a seat map: the sections the schedule sells.
    pub known_sections: Option<Vec<String>>,
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

const OPERATION_KEYS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// The document as served: the derived one, completed with the statuses,
/// bodies and headers that hold for whole classes of operations.
pub fn completed_document() -> Value {
    let mut api = ApiDoc::openapi();
    for (part, _) in ROUTE_APIS {
        api.merge(part());
    }
    // Serializing derived types cannot fail; an empty object keeps the endpoint JSON.
    let mut doc = serde_json::to_value(api).unwrap_or_else(|_| json!({}));
    apply_limits(&mut doc);
    reference_list_items(&mut doc);
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for (method, operation) in item.iter_mut() {
                if OPERATION_KEYS.contains(&method.as_str()) {
                    complete_operation(path, operation);
                    if crate::rate_limit::LIMITED_OPERATIONS.contains(&(method.as_str(), path)) {
                        document_rate_limit(operation);
                    }
                }
            }
        }
    }
    doc
}

type Part = utoipa::openapi::OpenApi;
/// A route module's document, and its operations' own documents.
type RouteApi = (fn() -> Part, fn() -> Vec<Part>);

/// Every route module's part of the document (in the order the API lists
/// them), and the function giving each of its operations' own documents.
const ROUTE_APIS: [RouteApi; 17] = [
    (auth::AuthApi::openapi, auth::AuthApi::operations),
    (email::EmailApi::openapi, email::EmailApi::operations),
    (
        catalog::CatalogApi::openapi,
        catalog::CatalogApi::operations,
    ),
    (search::SearchApi::openapi, search::SearchApi::operations),
    (queue::QueueApi::openapi, queue::QueueApi::operations),
    (
        streams::StreamsApi::openapi,
        streams::StreamsApi::operations,
    ),
    (
        reservations::ReservationsApi::openapi,
        reservations::ReservationsApi::operations,
    ),
    (wallet::WalletApi::openapi, wallet::WalletApi::operations),
    (
        payments::PaymentsApi::openapi,
        payments::PaymentsApi::operations,
    ),
    (
        provider_webhooks::ProviderWebhooksApi::openapi,
        provider_webhooks::ProviderWebhooksApi::operations,
    ),
    (
        tickets::TicketsApi::openapi,
        tickets::TicketsApi::operations,
    ),
    (
        checkins::CheckinsApi::openapi,
        checkins::CheckinsApi::operations,
    ),
    (admin::AdminApi::openapi, admin::AdminApi::operations),
    (
        schedule_admin::ScheduleAdminApi::openapi,
        schedule_admin::ScheduleAdminApi::operations,
    ),
    (events::EventsApi::openapi, events::EventsApi::operations),
    (
        webhooks::WebhooksApi::openapi,
        webhooks::WebhooksApi::operations,
    ),
    (ops::OpsApi::openapi, ops::OpsApi::operations),
];

/// Copies the actor layer's limits into the schemas (see [`views::Limit`]).
fn apply_limits(doc: &mut Value) {
    for limit in views::limits() {
        let property =
            &mut doc["components"]["schemas"][limit.schema]["properties"][limit.property];
        if let Some(property) = property.as_object_mut() {
            property.insert(limit.keyword.into(), json!(limit.value));
        }
    }
}

/// utoipa inlines a copy of `T` into each `List<T>` schema (`List_T`); point
/// `items` at `T`'s own schema instead, so generated clients get one type per
/// resource and a list of it.
fn reference_list_items(doc: &mut Value) {
    let Some(schemas) = doc["components"]["schemas"].as_object_mut() else {
        return;
    };
    let names: Vec<String> = schemas.keys().cloned().collect();
    for name in names {
        let Some(item) = name.strip_prefix("List_") else {
            continue;
        };
        if !schemas.contains_key(item) {
            continue;
        }
        let reference = json!({ "$ref": format!("#/components/schemas/{item}") });
        if let Some(items) = schemas
            .get_mut(&name)
            .and_then(|list| list.pointer_mut("/properties/items"))
        {
            *items = json!({ "type": "array", "items": reference });
        }
    }
}

/// A response documented only by its description (the error shape is added later).
fn ensure_response(responses: &mut Map<String, Value>, status: u16, description: &str) {
    responses
        .entry(status.to_string())
        .or_insert_with(|| json!({ "description": description }));
}

/// Whether the operation cannot be called without a bearer token (an empty
/// security requirement makes the token optional).
fn token_required(operation: &Value) -> bool {
    operation["security"]
        .as_array()
        .is_some_and(|alternatives| {
            !alternatives.is_empty()
                && alternatives
                    .iter()
                    .all(|a| a.as_object().is_some_and(|a| a.contains_key("bearer")))
        })
}

fn complete_operation(path: &str, operation: &mut Value) {
    let has_body = operation.get("requestBody").is_some();
    let needs_token = token_required(operation);
    let Some(responses) = operation
        .get_mut("responses")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    if has_body {
        ensure_response(
            responses,
            400,
            "VALIDATION_ERROR: the body is not JSON, is ambiguous (a key twice), nested too deeply, or of the wrong shape",
        );
        ensure_response(
            responses,
            413,
            &format!("PAYLOAD_TOO_LARGE: the body is over {MAX_BODY_BYTES} bytes"),
        );
        ensure_response(
            responses,
            415,
            "UNSUPPORTED_MEDIA_TYPE: the body is not sent as application/json",
        );
    }
    if needs_token {
        ensure_response(
            responses,
            401,
            "UNAUTHORIZED: the access token is missing, malformed, expired, or not an access token",
        );
    }
    if path.starts_with("/api/v1/") && path != DOCUMENT_PATH {
        ensure_response(
            responses,
            500,
            "INTERNAL_ERROR: the change could not be made durable; retry (with the same Idempotency-Key where there is one)",
        );
        ensure_response(
            responses,
            503,
            "UNAVAILABLE: the engine is overloaded, did not answer in time, or is shutting down; retry after Retry-After seconds",
        );
    }
    for (status, response) in responses.iter_mut() {
        let Some(response) = response.as_object_mut() else {
            continue;
        };
        let is_error = status.starts_with('4') || status.starts_with('5');
        let has_content = response
            .get("content")
            .and_then(Value::as_object)
            .is_some_and(|c| !c.is_empty());
        let error_shaped = is_error && !has_content;
        if error_shaped {
            response.insert(
                "content".into(),
                json!({ "application/json": { "schema": { "$ref": "#/components/schemas/ErrorBody" } } }),
            );
        }
        let headers = response
            .entry("headers")
            .or_insert_with(|| json!({}))
            .as_object_mut();
        let Some(headers) = headers else {
            continue;
        };
        headers.insert(
            "X-Request-Id".into(),
            json!({ "description": "the request's id: the one sent when it was sane, else a generated one; also in error bodies", "schema": { "type": "string" } }),
        );
        if error_shaped && (status == "429" || status == "503") {
            headers.insert(
                "Retry-After".into(),
                json!({ "description": "seconds to wait before retrying", "schema": { "type": "integer", "minimum": 1 } }),
            );
        }
        // Only headers that are always sent are documented, so all are required.
        for header in headers.values_mut() {
            if let Some(header) = header.as_object_mut() {
                header.insert("required".into(), Value::Bool(true));
            }
        }
    }
}

/// A rate-limited operation's 429 and `X-RateLimit-*` headers (see the module doc).
fn document_rate_limit(operation: &mut Value) {
    let Some(responses) = operation
        .get_mut("responses")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    responses.entry("429").or_insert_with(|| {
        json!({
            "description": "RATE_LIMITED (details.limitPerMinute, details.retryAfterSeconds; header Retry-After): past this route group's per-minute limit for the caller (the user of a valid access token, else the client address); nothing was done",
            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/ErrorBody" } } },
            "headers": {
                "X-Request-Id": { "description": "the request's id", "schema": { "type": "string" }, "required": true },
                "Retry-After": { "description": "seconds to wait before retrying", "schema": { "type": "integer", "minimum": 1 }, "required": true },
            },
        })
    });
    for response in responses.values_mut() {
        let Some(headers) = response
            .as_object_mut()
            .map(|r| r.entry("headers").or_insert_with(|| json!({})))
            .and_then(Value::as_object_mut)
        else {
            continue;
        };
        for (name, description) in [
            (
                "X-RateLimit-Limit",
                "requests allowed per minute in this route group",
            ),
            (
                "X-RateLimit-Remaining",
                "requests the caller may still make at once",
            ),
            (
                "X-RateLimit-Reset",
                "seconds until the caller's allowance is whole again",
            ),
        ] {
            headers.insert(
                name.into(),
                json!({ "description": format!("{description} (sent when rate limits are on, the default)"), "schema": { "type": "integer", "minimum": 0 }, "required": false }),
            );
        }
    }
}

/// The serialized document, built once per worker; `Bytes` so serving it is a
/// reference-count increment, not a copy.
struct Document(web::Bytes);

#[utoipa::path(get, path = "/api/v1/openapi.json", summary = "This OpenAPI document", tag = "ops", operation_id = "openapi_document",
    responses((status = 200, description = "this OpenAPI 3 document", content_type = "application/json", body = Object, example = json!({"openapi": "3.1.0", "info": {"title": "Boxoffice API", "version": "1"}}))))]
async fn document(doc: web::Data<Document>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(doc.0.clone())
}

async fn docs_redirect() -> HttpResponse {
    HttpResponse::MovedPermanently()
        .insert_header(("Location", "/docs/"))
        .finish()
}

/// The Swagger UI page (`/docs/`) and its assets (`/docs/{file}`).
#[utoipa::path(get, path = "/docs/", summary = "Interactive API docs (Swagger UI)", tag = "ops",
    responses((status = 200, description = "interactive documentation (HTML)", content_type = "text/html", example = "<!DOCTYPE html>")))]
async fn docs_page(
    file: web::Path<String>,
    config: web::Data<Arc<Config<'static>>>,
) -> ApiResult<HttpResponse> {
    let served = utoipa_swagger_ui::serve(&file, Arc::clone(&config))
        .map_err(|e| ApiError::internal(format!("docs: {e}")))?;
    let file = served.ok_or_else(|| ApiError::not_found("no such docs file"))?;
    let mut response = HttpResponse::Ok();
    response.content_type(file.content_type);
    // The assets are embedded: serve them without copying when possible.
    Ok(match file.bytes {
        Cow::Borrowed(bytes) => response.body(bytes),
        Cow::Owned(bytes) => response.body(bytes),
    })
}

fn serialized_document() -> web::Bytes {
    web::Bytes::from(completed_document().to_string())
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    let docs_config = Arc::new(Config::new([DOCUMENT_PATH]));
    cfg.service(
        resource(DOCUMENT_PATH)
            .app_data(web::Data::new(Document(serialized_document())))
            .route(web::get().to(document)),
    )
    .service(resource("/docs").route(web::get().to(docs_redirect)))
    .service(
        resource("/docs/{file:.*}")
            .app_data(web::Data::new(docs_config))
            .route(web::get().to(docs_page)),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::StatusCode;
    use std::collections::BTreeSet;

    fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
        let mut found = Vec::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, operation) in item.as_object().expect("path item") {
                if OPERATION_KEYS.contains(&method.as_str()) {
                    found.push((path.clone(), method.clone(), operation));
                }
            }
        }
        found
    }

    #[test]
    fn the_error_schema_has_the_fields_error_bodies_have() {
        let rendered = ApiError::new(StatusCode::CONFLICT, "SEAT_UNAVAILABLE", "taken")
            .with_details(json!({"unavailableSeats": ["A-1-1"]}))
            .body();
        let described = serde_json::to_value(ErrorBody {
            error: ErrorDetail {
                code: "SEAT_UNAVAILABLE".into(),
                message: "taken".into(),
                details: json!({"unavailableSeats": ["A-1-1"]}),
            },
            request_id: String::new(),
        })
        .expect("serializes");
        assert_eq!(rendered, described);
        let doc = completed_document();
        let schema = &doc["components"]["schemas"]["ErrorBody"];
        let required: BTreeSet<&str> = schema["required"]
            .as_array()
            .expect("required")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(required, BTreeSet::from(["error", "requestId"]));
    }

    #[test]
    fn every_schema_reference_resolves() {
        let doc = completed_document();
        let text = doc.to_string();
        let schemas = doc["components"]["schemas"].as_object().expect("schemas");
        let prefix = "\"#/components/schemas/";
        for (at, _) in text.match_indices(prefix) {
            let rest = &text[at + prefix.len()..];
            let name = &rest[..rest.find('"').expect("closing quote")];
            assert!(schemas.contains_key(name), "unresolved schema {name}");
        }
    }

    /// Every operation's own document, and every module's: a schema name
    /// used twice for different shapes shows up as two different
    /// definitions across these, where one merged document would keep one.
    fn separate_documents() -> Vec<Part> {
        let mut docs = vec![ApiDoc::openapi()];
        for (part, operations) in ROUTE_APIS {
            docs.push(part());
            docs.extend(operations());
        }
        docs
    }

    #[test]
    fn no_two_schemas_share_a_name() {
        let mut seen: std::collections::BTreeMap<String, Value> = Default::default();
        for doc in separate_documents() {
            let Some(components) = doc.components else {
                continue;
            };
            for (name, schema) in components.schemas {
                let schema = serde_json::to_value(schema).expect("serializes");
                match seen.get(&name) {
                    Some(first) => assert_eq!(
                        first, &schema,
                        "two types are named {name}: the document would keep only one"
                    ),
                    None => {
                        seen.insert(name, schema);
                    }
                }
            }
        }
        // Every schema the document serves is one of those seen, unchanged
        // but for the limits copied in.
        let doc = completed_document();
        let served = doc["components"]["schemas"].as_object().expect("schemas");
        assert_eq!(
            served.keys().collect::<BTreeSet<_>>(),
            seen.keys().collect::<BTreeSet<_>>()
        );
    }

    #[test]
    fn every_limit_lands_on_a_property_of_the_document() {
        let doc = completed_document();
        let mut count = 0;
        for limit in views::limits() {
            let property =
                &doc["components"]["schemas"][limit.schema]["properties"][limit.property];
            assert_eq!(
                property[limit.keyword],
                json!(limit.value),
                "{}.{} {}",
                limit.schema,
                limit.property,
                limit.keyword
            );
            count += 1;
        }
        assert!(count > 20, "the limits are listed");
        // Spot check against API.md's numbers.
        let concert = &doc["components"]["schemas"]["ConcertRequestBody"]["properties"];
        assert_eq!(concert["maxSeatsPerUser"]["maximum"], json!(20));
        assert_eq!(concert["holdSeconds"]["maximum"], json!(3_600));
        let rows = &doc["components"]["schemas"]["SectionRequestBody"]["properties"]["rows"];
        assert_eq!(
            rows["items"]["$ref"],
            json!("#/components/schemas/RowRequestBody")
        );
    }

    /// The document as served, for comparing it across a change
    /// (`DUMP_OPENAPI=path cargo test -p boxoffice-http dump_document`).
    #[test]
    fn dump_document() {
        if let Ok(path) = std::env::var("DUMP_OPENAPI") {
            std::fs::write(path, completed_document().to_string()).expect("written");
        }
    }

    #[test]
    fn every_rate_limited_operation_documents_429_and_the_limit_headers() {
        let doc = completed_document();
        for (method, path) in crate::rate_limit::LIMITED_OPERATIONS {
            let operation = &doc["paths"][path][method];
            assert!(
                operation.is_object(),
                "{method} {path} is not in the document"
            );
            let responses = operation["responses"].as_object().expect("responses");
            assert!(responses.contains_key("429"), "{method} {path}: no 429");
            assert_eq!(
                responses["429"]["headers"]["Retry-After"]["required"],
                json!(true)
            );
            for response in responses.values() {
                assert_eq!(
                    response["headers"]["X-RateLimit-Remaining"]["required"],
                    json!(false),
                    "{method} {path}"
                );
            }
        }
        // The waiting room's polls are not limited.
        let poll = &doc["paths"]["/api/v1/queue/tokens/current"]["get"]["responses"];
        assert!(poll
            .as_object()
            .expect("poll")
            .values()
            .all(|r| r["headers"].get("X-RateLimit-Limit").is_none()));
    }

    #[test]
    fn operation_ids_are_unique() {
        let doc = completed_document();
        let mut seen = BTreeSet::new();
        for (path, method, operation) in operations(&doc) {
            let id = operation["operationId"].as_str().expect("operationId");
            assert!(seen.insert(id.to_string()), "{method} {path}: {id} twice");
        }
    }

    #[test]
    fn every_error_response_has_a_body_and_every_response_the_request_id() {
        let doc = completed_document();
        for (path, method, operation) in operations(&doc) {
            let responses = operation["responses"].as_object().expect("responses");
            assert!(
                responses.keys().any(|s| s.starts_with('2')),
                "{method} {path}: no success response"
            );
            for (status, response) in responses {
                let what = format!("{method} {path} {status}");
                assert!(
                    response["description"]
                        .as_str()
                        .is_some_and(|d| !d.is_empty()),
                    "{what}: no description"
                );
                assert_eq!(
                    response["headers"]["X-Request-Id"]["required"],
                    json!(true),
                    "{what}"
                );
                let is_error = status.starts_with('4') || status.starts_with('5');
                if is_error && path != "/readyz" {
                    assert_eq!(
                        response["content"]["application/json"]["schema"]["$ref"],
                        json!("#/components/schemas/ErrorBody"),
                        "{what}"
                    );
                }
            }
        }
    }

    #[test]
    fn body_token_and_engine_statuses_are_documented_where_they_can_happen() {
        let doc = completed_document();
        for (path, method, operation) in operations(&doc) {
            let responses = operation["responses"].as_object().expect("responses");
            let has = |s: &str| responses.contains_key(s);
            if operation.get("requestBody").is_some() {
                for s in ["400", "413", "415"] {
                    assert!(has(s), "{method} {path}: {s}");
                }
            }
            if token_required(operation) {
                assert!(has("401"), "{method} {path}: 401");
            }
            if path.starts_with("/api/v1/") && path != DOCUMENT_PATH {
                assert!(has("500") && has("503"), "{method} {path}: 500/503");
                assert_eq!(
                    responses["503"]["headers"]["Retry-After"]["required"],
                    json!(true),
                    "{method} {path}"
                );
            }
        }
        // Spot checks of the rules' inputs: what needs a token says so.
        let charge = &doc["paths"]["/api/v1/wallet/charges"]["post"];
        assert!(token_required(charge));
        assert!(!token_required(
            &doc["paths"]["/api/v1/schedules/{scheduleId}/seats"]["get"]
        ));
        assert!(!token_required(&doc["paths"]["/api/v1/concerts"]["get"]));
    }

    /// What generated clients need (issue 12): a summary and an example on
    /// every operation, lists that reference their item type, the paging
    /// bounds the server enforces, the payment answer's always-present
    /// fields, and typed error details.
    #[test]
    fn the_document_serves_generated_clients() {
        let doc = completed_document();
        for (path, method, operation) in operations(&doc) {
            assert!(
                operation["summary"].as_str().is_some_and(|s| !s.is_empty()),
                "{method} {path}: no summary"
            );
            assert!(
                operation.to_string().contains("\"example"),
                "{method} {path}: no example"
            );
        }
        let schemas = doc["components"]["schemas"].as_object().expect("schemas");
        let lists: Vec<_> = schemas.keys().filter(|k| k.starts_with("List_")).collect();
        assert!(lists.len() >= 6, "{lists:?}");
        for name in lists {
            let item = &name["List_".len()..];
            assert_eq!(
                schemas[name]["properties"]["items"]["items"]["$ref"],
                json!(format!("#/components/schemas/{item}")),
                "{name}"
            );
        }
        let venues = doc["paths"]["/api/v1/venues"]["get"]["parameters"]
            .as_array()
            .expect("parameters");
        let param = |name: &str| {
            venues
                .iter()
                .find(|p| p["name"] == json!(name))
                .map(|p| p["schema"].clone())
                .expect("paging parameter")
        };
        assert_eq!(param("page")["minimum"], json!(1));
        assert_eq!(param("pageSize")["minimum"], json!(1));
        assert_eq!(
            param("pageSize")["maximum"],
            json!(crate::pagination::MAX_PAGE_SIZE)
        );
        let paid = &doc["paths"]["/api/v1/payments"]["post"]["responses"]["201"]["content"]
            ["application/json"]["schema"]["$ref"];
        assert_eq!(paid, &json!("#/components/schemas/PaymentReceiptBody"));
        let required = &schemas["PaymentReceiptBody"]["required"];
        for field in ["balanceAfter", "queueTokenExpired", "tickets"] {
            assert!(
                required
                    .as_array()
                    .expect("required")
                    .contains(&json!(field)),
                "{field}"
            );
        }
        assert_eq!(
            schemas["ErrorDetail"]["properties"]["details"]["$ref"],
            json!("#/components/schemas/ErrorDetails")
        );
        assert_eq!(
            schemas["ErrorDetails"]["properties"]["unavailableSeats"]["items"]["type"],
            json!("string")
        );
    }
}
