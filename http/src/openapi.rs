//! The OpenAPI 3 document, generated from the handlers' and bodies'
//! annotations (utoipa), served at `/api/v1/openapi.json`, with interactive
//! docs at `/docs/` (Swagger UI assets vendored into the binary: no network at
//! build or run time).

use actix_web::{web, HttpResponse};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

use crate::routes::{auth, catalog, checkins, payments, queue, reservations, tickets, wallet};

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

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(SwaggerUi::new("/docs/{_:.*}").url("/api/v1/openapi.json", ApiDoc::openapi()))
        .service(web::resource("/docs").route(web::get().to(|| async {
            HttpResponse::MovedPermanently()
                .insert_header(("Location", "/docs/"))
                .finish()
        })));
}
