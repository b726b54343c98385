//! Tickets: the caller's tickets, one ticket, and its QR code as an SVG image.

use actix_web::{web, HttpResponse};
use boxoffice_actors::schedule_actor::TicketView;
use boxoffice_engine::ids::TicketId;
use boxoffice_engine::schedule::TicketStatus;

use super::resource;
use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult};
use crate::extract::path_id;
use crate::pagination::{List, PageQuery};
use crate::state::AppState;
use crate::tickets_qr::svg;
use crate::time_format::rfc3339;
use crate::views::{ticket_seat, ticket_status, ConcertRefBody, ScheduleRefBody, TicketBody};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/tickets").route(web::get().to(list)))
        .service(resource("/tickets/{ticketId}").route(web::get().to(get)))
        .service(resource("/tickets/{ticketId}/qr.svg").route(web::get().to(qr_svg)));
}

pub async fn ticket_body(state: &AppState, ticket: &TicketView) -> TicketBody {
    // A schedule with no concert (made outside the catalogue, e.g. by the load tool) still renders.
    let (concert, schedule) = match state.registry.schedule_info(ticket.schedule_id).await {
        Ok((concert, info)) => (
            ConcertRefBody {
                concert_id: concert.concert_id.to_string(),
                title: concert.title.clone(),
            },
            ScheduleRefBody {
                schedule_id: ticket.schedule_id.to_string(),
                starts_at: rfc3339(info.starts_at),
            },
        ),
        Err(_) => (
            ConcertRefBody {
                concert_id: String::new(),
                title: String::new(),
            },
            ScheduleRefBody {
                schedule_id: ticket.schedule_id.to_string(),
                starts_at: String::new(),
            },
        ),
    };
    TicketBody {
        ticket_id: ticket.ticket_id.to_string(),
        reservation_id: ticket.reservation_id.to_string(),
        concert,
        schedule,
        seat: ticket_seat(ticket),
        price: ticket.price.0,
        status: ticket_status(ticket.status),
        qr_code: state.qr.code(ticket.ticket_id),
        issued_at: rfc3339(ticket.issued_at),
        used_at: match ticket.status {
            TicketStatus::Used { at } => Some(rfc3339(at)),
            _ => None,
        },
    }
}

#[utoipa::path(get, path = "/api/v1/tickets", tag = "tickets", operation_id = "list_tickets", params(PageQuery),
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
    let reservations = state
        .engine(state.registry.reservations_of(user.user_id))
        .await?;
    let ids: Vec<TicketId> = reservations
        .iter()
        .rev()
        .flat_map(|r| r.tickets.iter().map(|t| t.ticket_id))
        .collect();
    let total = ids.len();
    let mut items = Vec::new();
    for id in ids.into_iter().skip(page.offset()).take(page.limit()) {
        let ticket = state
            .engine(state.registry.ticket(Some(user.user_id), id))
            .await?;
        items.push(ticket_body(&state, &ticket).await);
    }
    Ok(HttpResponse::Ok().json(List {
        items,
        page: page.page,
        page_size: page.page_size,
        total,
    }))
}

#[utoipa::path(get, path = "/api/v1/tickets/{ticketId}", tag = "tickets", operation_id = "get_ticket",
    params(("ticketId" = String, Path)),
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
        .engine(state.registry.ticket(Some(user.user_id), id))
        .await?;
    Ok(HttpResponse::Ok().json(ticket_body(&state, &ticket).await))
}

#[utoipa::path(get, path = "/api/v1/tickets/{ticketId}/qr.svg", tag = "tickets", operation_id = "get_ticket_qr_svg",
    params(("ticketId" = String, Path)),
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
