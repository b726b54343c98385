//! The booking-event feed (ADMIN): `GET /admin/events`, a page of the
//! outbox after a cursor, long-polling when nothing is newer. Reading and
//! waiting are the actor layer's (`Registry::booking_events`).

use actix_web::{web, HttpResponse};
use boxoffice_actors::Role;

use super::resource;
use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::views::events::{EventFeedQuery, EventPageBody};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/admin/events").route(web::get().to(list_events)));
}

route_api!(
    /// The booking-event feed.
    EventsApi: [list_events]
);

#[utoipa::path(get, path = "/api/v1/admin/events", summary = "Booking events in commit order, after a cursor, with long-poll (ADMIN)", tag = "admin", params(EventFeedQuery),
    description = "Every change of a reservation, payment or schedule is an event, written in the same batch as the change and served once durable. Follow `next` (always present, also on an empty page) as `after`: nothing is skipped or repeated. With waitSeconds, a request that finds nothing newer waits up to that long for an event. Events are kept 30 days: without `after`, or with a cursor into events no longer kept, the page starts at the oldest event kept.",
    responses(
        (status = 200, description = "one page of events after the cursor, in commit order", body = EventPageBody,
            example = json!({"items": [{"eventId": "3d5e7f90-1a2b-4c3d-8e4f-5a6b7c8d9e0f", "type": "booking.created", "createdAt": "2027-01-02T10:00:00Z", "data": {"reservationId": "0b6e2f51-3a4c-4e8d-8f1a-9c2d7e6b5a40", "reservationNumber": "BX-7K3Q9D", "scheduleId": "7f3c2a10-5b6e-4c1d-9a8b-2e4f6d8c0a12", "seats": [{"seatId": "A-1-3", "grade": "R", "price": 50000}], "totalAmount": 50000, "status": "HELD", "heldAt": "2027-01-02T10:00:00Z", "expiresAt": "2027-01-02T10:05:00Z"}}], "next": "17-1"})),
        (status = 400, description = "VALIDATION_ERROR: after is not a cursor this feed gave out, limit is not 1-1000, or waitSeconds is not 0-30"),
        (status = 401, description = "UNAUTHORIZED: no valid access token, or its account does not exist"),
        (status = 403, description = "FORBIDDEN: the caller's account is not ADMIN now"),
    ),
    security(("bearer" = [])))]
pub async fn list_events(
    state: web::Data<AppState>,
    user: AuthUser,
    query: web::Query<EventFeedQuery>,
) -> ApiResult<HttpResponse> {
    user.require(&state, Role::Admin)?;
    let request = query.into_inner().validate()?;
    // Not under `state.engine`'s request timeout: the wait (at most 30 s)
    // is the point; the read itself touches only the store. A stop ends the
    // wait: the page is read again without one.
    let registry = &state.registry;
    let page = tokio::select! {
        page = registry.booking_events(request.after, request.limit, request.wait) => page,
        _ = state.shutdown.begun() => {
            registry.booking_events(request.after, request.limit, std::time::Duration::ZERO).await
        }
    }
    .map_err(ApiError::from)?;
    Ok(HttpResponse::Ok().json(EventPageBody::from(&page)))
}
