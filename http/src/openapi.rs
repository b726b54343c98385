//! The OpenAPI 3 document, generated from the handlers' and bodies'
//! annotations (utoipa), served at `/api/v1/openapi.json`, with interactive
//! docs at `/docs/` (Swagger UI assets vendored into the binary: no network at
//! build or run time).
//!
//! Both are served by our own handlers rather than utoipa's actix service, so
//! they get the API's behaviour: a wrong method is 405 and a missing docs file
//! is a JSON 404, never an empty or text body.

use actix_web::{web, HttpResponse};
use std::borrow::Cow;
use std::sync::Arc;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::Config;

use crate::error::{ApiError, ApiResult};
use crate::routes::{
    auth, catalog, checkins, ops, payments, queue, reservations, resource, tickets, wallet,
};

/// Where the document is served; the docs page loads it from here.
pub const DOCUMENT_PATH: &str = "/api/v1/openapi.json";

#[derive(OpenApi)]
#[openapi(
    info(title = "Boxoffice API", version = "1", description = "Concert ticket reservations: catalogue, waiting room, holds, wallet, payments, tickets, check-in. Errors are {\"error\": {code, message, details}, \"requestId\"}."),
    paths(
        auth::register, auth::login, auth::refresh, auth::me, auth::set_role,
        catalog::create_venue, catalog::list_venues, catalog::get_venue,
        catalog::create_concert, catalog::list_concerts, catalog::get_concert, catalog::list_schedules, catalog::seat_map,
        queue::join, queue::current,
        reservations::create, reservations::list, reservations::get, reservations::cancel,
        wallet::get, wallet::charge, wallet::transactions,
        payments::create, payments::get,
        tickets::list, tickets::get, tickets::qr_svg,
        checkins::check_in,
        ops::healthz, ops::readyz, ops::metrics,
        document, docs_page,
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "accounts and tokens"),
        (name = "catalogue", description = "venues, concerts, schedules, seat maps"),
        (name = "queue", description = "the waiting room"),
        (name = "reservations", description = "seat holds"),
        (name = "wallet", description = "prepaid balance"),
        (name = "payments", description = "paying for holds"),
        (name = "tickets", description = "tickets and check-in"),
        (name = "ops", description = "health, readiness, metrics and this document"),
    )
)]
pub struct ApiDoc;

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

/// The serialized document, built once per worker; `Bytes` so serving it is a
/// reference-count increment, not a copy.
struct Document(web::Bytes);

#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "ops",
    responses((status = 200, description = "this OpenAPI 3 document", content_type = "application/json")))]
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
#[utoipa::path(get, path = "/docs/", tag = "ops",
    responses((status = 200, description = "interactive documentation (HTML)", content_type = "text/html")))]
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

/// Serialization of a derived document cannot fail; the fallback keeps the
/// endpoint a valid (if empty) JSON document rather than a panic.
fn serialized_document() -> web::Bytes {
    web::Bytes::from(
        ApiDoc::openapi()
            .to_json()
            .unwrap_or_else(|_| "{}".to_string()),
    )
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
