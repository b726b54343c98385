//! Tickets: the caller's tickets, one ticket, and its QR code as an SVG image.

use actix_web::{web, HttpResponse};
use boxoffice_engine::ids::TicketId;

use super::resource;
use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult};
use crate::extract::path_id;
use crate::pagination::{List, PageQuery};
use crate::state::AppState;
use crate::tickets_qr::svg;
use crate::views::tickets::TicketBody;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/tickets").route(web::get().to(list)))
        .service(resource("/tickets/{ticketId}").route(web::get().to(get)))
        .service(resource("/tickets/{ticketId}/qr.svg").route(web::get().to(qr_svg)));
}

route_api!(
    /// The tickets' operations.
    TicketsApi: [list, get, qr_svg]
);

#[utoipa::path(get, path = "/api/v1/tickets", summary = "The caller's tickets", tag = "tickets", operation_id = "list_tickets", params(PageQuery),
    responses(
        (status = 200, description = "one page of the caller's tickets, newest first", body = List<TicketBody>),
        (status = 400, description = "VALIDATION_ERROR: a bad page, pageSize or query string"),
    ),
    security(("bearer" = [])))]
pub async fn list(
    state: web::Data<AppState>,
    user: AuthUser,
    page: web::Query<PageQuery>,
) -> ApiResult<HttpResponse> {
    let page = page.validate()?;
    let (tickets, total) = state
        .engine(
            state
                .registry
                .tickets_page(user.user_id, page.offset(), page.limit()),
        )
        .await?;
    let items = tickets
        .iter()
        .map(|t| TicketBody::new(t, &state.qr))
        .collect();
    Ok(HttpResponse::Ok().json(page.of(items, total)))
}

#[utoipa::path(get, path = "/api/v1/tickets/{ticketId}", summary = "A ticket with its signed QR code", tag = "tickets", operation_id = "get_ticket",
    params(("ticketId" = String, Path, example = "7f3c2a10-5b6e-4c1d-9a8b-2e4f6d8c0a12")),
    responses(
        (status = 200, description = "the caller's ticket, with its signed QR code", body = TicketBody),
        (status = 404, description = "NOT_FOUND (also another user's ticket)"),
    ),
    security(("bearer" = [])))]
pub async fn get(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = path_id(&path, TicketId::parse, "ticket")?;
    let ticket = state
        .engine(state.registry.ticket_detail(user.user_id, id))
        .await?;
    Ok(HttpResponse::Ok().json(TicketBody::new(&ticket, &state.qr)))
}

#[utoipa::path(get, path = "/api/v1/tickets/{ticketId}/qr.svg", summary = "A ticket's QR code as SVG", tag = "tickets", operation_id = "get_ticket_qr_svg",
    params(("ticketId" = String, Path, example = "7f3c2a10-5b6e-4c1d-9a8b-2e4f6d8c0a12")),
    responses(
        (status = 200, description = "the ticket's QR code as an SVG image", content_type = "image/svg+xml", body = String),
        (status = 404, description = "NOT_FOUND (also another user's ticket)"),
    ),
    security(("bearer" = [])))]
pub async fn qr_svg(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = path_id(&path, TicketId::parse, "ticket")?;
    let ticket = state
        .engine(state.registry.ticket(Some(user.user_id), id))
        .await?;
    let image = svg(&state.qr.code(ticket.ticket_id))
        .ok_or_else(|| ApiError::internal("QR rendering failed"))?;
    Ok(HttpResponse::Ok().content_type("image/svg+xml").body(image))
}
