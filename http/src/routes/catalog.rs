//! The catalogue: venues with seat maps, concerts with price grades and
//! schedules, a concert search, schedule lists with availability, and a
//! schedule's seat map. Reads are public (except a gated schedule's seat
//! map); writes are ADMIN, and so is editing and publishing a concert. A
//! DRAFT concert and its schedules are 404 to everyone but admins, so the
//! reads pass the caller, if any, to the actor layer, which decides
//! (`boxoffice_actors::concert_lifecycle`). The search, the sale statuses and
//! the defaults are the actor layer's (`boxoffice_actors::catalog_query`).

use actix_web::{web, HttpRequest, HttpResponse};
use boxoffice_actors::Role;
use boxoffice_engine::ids::{ConcertId, ScheduleId, VenueId};

use super::{queue_token, resource};
use crate::auth::{AuthUser, MaybeAuthUser};
use crate::checks::{body_after, role_then_body};
use crate::error::{ApiError, ApiResult};
use crate::extract::{path_id, JsonBody};
use crate::pagination::{List, PageQuery};
use crate::rate_limit::{CatalogueGets, LimitedCaller};
use crate::state::AppState;
use crate::views::concerts::{
    ConcertBody, ConcertPatchBody, ConcertQuery, ConcertRequestBody, ConcertSortName,
    ConcertStatusName, ConcertSummaryBody, ScheduleBody, ScheduleDetailBody, ScheduleQuery,
    SortOrderName,
};
use crate::views::seat_map::{unknown_section, SeatMapBody, SeatMapQuery, Viewer};
use crate::views::venues::{VenueBody, VenueRequestBody};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/venues")
            .route(web::post().to(create_venue))
            .route(web::get().to(list_venues)),
    )
    .service(resource("/venues/{venueId}").route(web::get().to(get_venue)))
    .service(
        resource("/concerts")
            .route(web::post().to(create_concert))
            .route(web::get().to(list_concerts)),
    )
    .service(
        resource("/concerts/{concertId}")
            .route(web::get().to(get_concert))
            .route(web::patch().to(patch_concert)),
    )
    .service(resource("/concerts/{concertId}/publish").route(web::post().to(publish_concert)))
    .service(resource("/concerts/{concertId}/schedules").route(web::get().to(list_schedules)))
    .service(resource("/schedules/{scheduleId}").route(web::get().to(get_schedule)))
    .service(resource("/schedules/{scheduleId}/seats").route(web::get().to(seat_map)));
}

route_api!(
    /// The catalogue's operations.
    CatalogApi: [
        create_venue, list_venues, get_venue,
        create_concert, list_concerts, get_concert, patch_concert, publish_concert,
        list_schedules, get_schedule, seat_map,
    ],
    schemas: [ConcertSortName, SortOrderName, ConcertStatusName]
);

#[utoipa::path(post, path = "/api/v1/venues", summary = "Create a venue (ADMIN)", tag = "catalogue", request_body(content = VenueRequestBody, example = json!({"name": "Riverside Hall", "address": "1 River Road, Seoul", "sections": [{"sectionId": "A", "name": "Stalls", "rows": [{"row": "1", "seats": 20}, {"row": "2", "seats": 20}]}]})),
    responses(
        (status = 201, description = "the venue, with its capacity and seat ids", body = VenueBody),
        (status = 400, description = "VALIDATION_ERROR: a bad name, address or layout"),
        (status = 401, description = "UNAUTHORIZED: no valid access token, or its account does not exist"),
        (status = 403, description = "FORBIDDEN: the caller's account is not ADMIN now (the token's role claim is not trusted)"),
    ),
    security(("bearer" = [])))]
pub async fn create_venue(
    state: web::Data<AppState>,
    user: AuthUser,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    let input: VenueRequestBody = role_then_body(&state, &user, Role::Admin, &body)?;
    let (name, address, sections) = input.into_parts();
    let venue = state
        .engine(state.registry.create_venue(name, address, sections))
        .await?;
    Ok(HttpResponse::Created().json(VenueBody::from(&venue)))
}

#[utoipa::path(get, path = "/api/v1/venues", summary = "List venues", tag = "catalogue", params(PageQuery),
    responses(
        (status = 200, description = "one page of venues", body = List<VenueBody>),
        (status = 400, description = "VALIDATION_ERROR: a bad page, pageSize or query string"),
    ))]
pub async fn list_venues(
    state: web::Data<AppState>,
    _limit: LimitedCaller<CatalogueGets>,
    page: web::Query<PageQuery>,
) -> ApiResult<HttpResponse> {
    let page = page.validate()?;
    let (venues, total) = state
        .engine(state.registry.venues(page.offset(), page.limit()))
        .await?;
    Ok(HttpResponse::Ok().json(page.of(venues.iter().map(VenueBody::from).collect(), total)))
}

#[utoipa::path(get, path = "/api/v1/venues/{venueId}", summary = "A venue with its seat map", tag = "catalogue", params(("venueId" = String, Path, example = "7f3c2a10-5b6e-4c1d-9a8b-2e4f6d8c0a12")),
    responses(
        (status = 200, description = "the venue with its seat map", body = VenueBody),
        (status = 404, description = "NOT_FOUND"),
    ))]
pub async fn get_venue(
    state: web::Data<AppState>,
    _limit: LimitedCaller<CatalogueGets>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = path_id(&path, VenueId::parse, "venue")?;
    let venue = state.engine(state.registry.venue(id)).await?;
    Ok(HttpResponse::Ok().json(VenueBody::from(&venue)))
}

#[utoipa::path(post, path = "/api/v1/concerts", summary = "Create a concert and its schedules (ADMIN)", tag = "catalogue", request_body(content = ConcertRequestBody, example = json!({"title": "Spring Strings", "description": "A string quartet evening", "category": "CLASSICAL", "venueId": "7f3c2a10-5b6e-4c1d-9a8b-2e4f6d8c0a12", "priceGrades": [{"grade": "R", "price": 50000, "sectionIds": ["A"]}], "schedules": [{"startsAt": "2027-04-01T19:00:00Z", "endsAt": "2027-04-01T21:00:00Z", "bookingOpensAt": "2027-01-01T00:00:00Z", "bookingClosesAt": "2027-04-01T18:00:00Z"}], "maxSeatsPerUser": 4, "holdSeconds": 300, "status": "PUBLISHED"})),
    responses(
        (status = 201, description = "the concert, as GET returns it, its schedules with their new ids; a DRAFT (`status`) is seen by admins only", body = ConcertBody),
        (status = 400, description = "VALIDATION_ERROR: bad fields, times, grades, queue settings or status"),
        (status = 401, description = "UNAUTHORIZED: no valid access token, or its account does not exist"),
        (status = 403, description = "FORBIDDEN: the caller's account is not ADMIN now (the token's role claim is not trusted)"),
        (status = 404, description = "NOT_FOUND: venueId names nothing"),
    ),
    security(("bearer" = [])))]
pub async fn create_concert(
    state: web::Data<AppState>,
    user: AuthUser,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    let input: ConcertRequestBody = role_then_body(&state, &user, Role::Admin, &body)?;
    let venue_id = path_id(&input.venue_id, VenueId::parse, "venue")?;
    // The venue's existence (404) before the fields' (400); creating checks it too.
    let status = input.status();
    let verified_email = input.verified_email_rule();
    let new = body_after(
        status.and_then(|status| Ok((input.new_concert(venue_id)?, status))),
        state.engine(state.registry.venue(venue_id)),
    )
    .await?;
    let created = state
        .engine(
            state
                .registry
                .create_concert_detail(new.0, new.1, &verified_email),
        )
        .await?;
    Ok(HttpResponse::Created().json(ConcertBody::from(&created)))
}

#[utoipa::path(get, path = "/api/v1/concerts", summary = "Browse and search concerts", tag = "catalogue", params(ConcertQuery, PageQuery),
    responses(
        (status = 200, description = "one page of matching concerts (DRAFTs listed to admins only)", body = List<ConcertSummaryBody>),
        (status = 400, description = "VALIDATION_ERROR: a bad page, pageSize, from, to, sort, order or query string"),
        (status = 401, description = "UNAUTHORIZED: a token was sent and is not valid (none is needed)"),
    ),
    security((), ("bearer" = [])))]
pub async fn list_concerts(
    state: web::Data<AppState>,
    _limit: LimitedCaller<CatalogueGets>,
    user: MaybeAuthUser,
    query: web::Query<ConcertQuery>,
    page: web::Query<PageQuery>,
) -> ApiResult<HttpResponse> {
    let page = page.validate()?;
    let drafts = state.registry.sees_drafts(user.0.map(|u| u.user_id));
    let search = query.into_inner().search(drafts)?;
    let (concerts, total) = state
        .engine(
            state
                .registry
                .search_concerts(&search, page.offset(), page.limit()),
        )
        .await?;
    let items = concerts.iter().map(ConcertSummaryBody::from).collect();
    Ok(HttpResponse::Ok().json(page.of(items, total)))
}

#[utoipa::path(get, path = "/api/v1/concerts/{concertId}", summary = "A concert with its price grades and schedules", tag = "catalogue", params(("concertId" = String, Path, example = "7f3c2a10-5b6e-4c1d-9a8b-2e4f6d8c0a12")),
    responses(
        (status = 200, description = "the concert with its price grades and schedules", body = ConcertBody),
        (status = 401, description = "UNAUTHORIZED: a token was sent and is not valid (none is needed)"),
        (status = 404, description = "NOT_FOUND (also a DRAFT, to anyone but an admin)"),
    ),
    security((), ("bearer" = [])))]
pub async fn get_concert(
    state: web::Data<AppState>,
    _limit: LimitedCaller<CatalogueGets>,
    user: MaybeAuthUser,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = path_id(&path, ConcertId::parse, "concert")?;
    let viewer = user.0.map(|u| u.user_id);
    let concert = state
        .engine(state.registry.concert_detail(id, viewer))
        .await?;
    Ok(HttpResponse::Ok().json(ConcertBody::from(&concert)))
}

#[utoipa::path(patch, path = "/api/v1/concerts/{concertId}", summary = "Edit a concert's title, description or category (ADMIN)", tag = "catalogue", params(("concertId" = String, Path, example = "7f3c2a10-5b6e-4c1d-9a8b-2e4f6d8c0a12")),
    request_body(content = ConcertPatchBody, example = json!({"title": "Spring Strings (second night added)", "category": "CLASSICAL"})),
    responses(
        (status = 200, description = "the concert as it now is (as GET returns it); search follows within a second", body = ConcertBody),
        (status = 400, description = "VALIDATION_ERROR: a field other than title, description and category, none of them, or one that creation would refuse"),
        (status = 401, description = "UNAUTHORIZED: no valid access token, or its account does not exist"),
        (status = 403, description = "FORBIDDEN: the caller's account is not ADMIN now"),
        (status = 404, description = "NOT_FOUND: concertId names nothing"),
    ),
    security(("bearer" = [])))]
pub async fn patch_concert(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    user.require(&state, Role::Admin)?;
    let id = path_id(&path, ConcertId::parse, "concert")?;
    // The concert's existence (404) before the body's (400); editing checks it too.
    let patch = body_after(
        body.parse::<ConcertPatchBody>()
            .and_then(ConcertPatchBody::patch),
        state.engine(state.registry.concert(id)),
    )
    .await?;
    let edited = state.engine(state.registry.edit_concert(id, patch)).await?;
    Ok(HttpResponse::Ok().json(ConcertBody::from(&edited)))
}

#[utoipa::path(post, path = "/api/v1/concerts/{concertId}/publish", summary = "Publish a DRAFT concert (ADMIN)", tag = "catalogue", params(("concertId" = String, Path, example = "7f3c2a10-5b6e-4c1d-9a8b-2e4f6d8c0a12")),
    responses(
        (status = 200, description = "the concert, now PUBLISHED: listed, searchable within a second, its schedules open to everyone", body = ConcertBody,
            example = json!({"concertId": "7f3c2a10-5b6e-4c1d-9a8b-2e4f6d8c0a12", "title": "Spring Strings", "description": "A string quartet evening", "category": "CLASSICAL", "venueId": "0b6e2f51-3a4c-4e8d-8f1a-9c2d7e6b5a40", "venueName": "Riverside Hall", "priceGrades": [{"grade": "R", "price": 50000, "sectionIds": ["A"]}], "schedules": [], "maxSeatsPerUser": 4, "holdSeconds": 300, "createdAt": "2027-01-01T00:00:00Z", "status": "PUBLISHED"})),
        (status = 401, description = "UNAUTHORIZED: no valid access token, or its account does not exist"),
        (status = 403, description = "FORBIDDEN: the caller's account is not ADMIN now"),
        (status = 404, description = "NOT_FOUND: concertId names nothing"),
        (status = 409, description = "CONFLICT: the concert is already published"),
    ),
    security(("bearer" = [])))]
pub async fn publish_concert(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    user.require(&state, Role::Admin)?;
    let id = path_id(&path, ConcertId::parse, "concert")?;
    let published = state.engine(state.registry.publish_concert(id)).await?;
    Ok(HttpResponse::Ok().json(ConcertBody::from(&published)))
}

#[utoipa::path(get, path = "/api/v1/concerts/{concertId}/schedules", summary = "A concert's schedules (dates)", tag = "catalogue", params(("concertId" = String, Path, example = "7f3c2a10-5b6e-4c1d-9a8b-2e4f6d8c0a12"), ScheduleQuery, PageQuery),
    responses(
        (status = 200, description = "one page of the concert's schedules", body = List<ScheduleBody>),
        (status = 400, description = "VALIDATION_ERROR: a bad page, pageSize, from, to, available or query string"),
        (status = 401, description = "UNAUTHORIZED: a token was sent and is not valid (none is needed)"),
        (status = 404, description = "NOT_FOUND (also a DRAFT's, to anyone but an admin)"),
    ),
    security((), ("bearer" = [])))]
pub async fn list_schedules(
    state: web::Data<AppState>,
    _limit: LimitedCaller<CatalogueGets>,
    user: MaybeAuthUser,
    path: web::Path<String>,
    query: web::Query<ScheduleQuery>,
    page: web::Query<PageQuery>,
) -> ApiResult<HttpResponse> {
    let id = path_id(&path, ConcertId::parse, "concert")?;
    let page = page.validate()?;
    let filter = query.filter()?;
    let schedules = state
        .engine(
            state
                .registry
                .concert_schedules(id, &filter, user.0.map(|u| u.user_id)),
        )
        .await?;
    Ok(HttpResponse::Ok().json(page.slice(schedules.iter().map(ScheduleBody::from).collect())))
}

#[utoipa::path(get, path = "/api/v1/schedules/{scheduleId}", summary = "A schedule (date) with its concert's id", tag = "catalogue", params(("scheduleId" = String, Path, example = "7f3c2a10-5b6e-4c1d-9a8b-2e4f6d8c0a12")),
    responses(
        (status = 200, description = "the schedule as its concert lists it (with `queue` when gated), plus `concertId`: public, also for a gated schedule, so a client can tell before asking for the seat map", body = ScheduleDetailBody),
        (status = 401, description = "UNAUTHORIZED: a token was sent and is not valid (none is needed)"),
        (status = 404, description = "NOT_FOUND (also a DRAFT concert's schedule, to anyone but an admin)"),
    ),
    security((), ("bearer" = [])))]
pub async fn get_schedule(
    state: web::Data<AppState>,
    _limit: LimitedCaller<CatalogueGets>,
    user: MaybeAuthUser,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = path_id(&path, ScheduleId::parse, "schedule")?;
    let (concert_id, listing) = state
        .engine(
            state
                .registry
                .schedule_detail(id, user.0.map(|u| u.user_id)),
        )
        .await?;
    Ok(HttpResponse::Ok().json(ScheduleDetailBody::new(concert_id, &listing)))
}

#[utoipa::path(get, path = "/api/v1/schedules/{scheduleId}/seats", summary = "A schedule's seat map", tag = "catalogue",
    params(("scheduleId" = String, Path, example = "7f3c2a10-5b6e-4c1d-9a8b-2e4f6d8c0a12"), SeatMapQuery, ("Queue-Token" = Option<String>, Header, description = "an ACTIVE token of the caller for this schedule, when it is gated")),
    responses(
        (status = 200, description = "the seat map (public unless the schedule is gated); a seat the box office blocked is BLOCKED to an admin and SOLD to anyone else", body = SeatMapBody),
        (status = 400, description = "VALIDATION_ERROR: a query string that cannot be read, or a section the schedule does not sell (details.knownSections; section ids are case sensitive)"),
        (status = 401, description = "UNAUTHORIZED: a gated schedule without a user token, or a bad token sent"),
        (status = 403, description = "QUEUE_NOT_ACTIVE: a gated schedule without the caller's ACTIVE token for it"),
        (status = 404, description = "NOT_FOUND (also a DRAFT concert's schedule, to anyone but an admin)"),
    ),
    security((), ("bearer" = [])))]
pub async fn seat_map(
    state: web::Data<AppState>,
    user: MaybeAuthUser,
    _limit: LimitedCaller<CatalogueGets>,
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<SeatMapQuery>,
) -> ApiResult<HttpResponse> {
    let id = path_id(&path, ScheduleId::parse, "schedule")?;
    // A DRAFT's schedule is 404 to anyone but an admin, before anything else.
    (state.registry)
        .reachable(id, user.0.as_ref().map(|u| u.user_id))
        .map_err(ApiError::from)?;
    // Public unless gated; a gated one needs to know who asks (401) before
    // the schedule actor judges their token (403).
    let handle = state.registry.schedule(id).map_err(ApiError::from)?;
    if handle.gated && user.0.is_none() {
        return Err(ApiError::unauthorized(
            "this schedule is gated by a waiting room: sign in and send your Queue-Token",
        ));
    }
    let access = user.0.map(|u| (u.user_id, queue_token(&req)));
    let section = query.into_inner().section;
    let map = state
        .engine(state.registry.seat_map(id, access, section.clone()))
        .await?;
    // Access and existence were judged by the first read; an empty map for
    // a named section means the schedule does not sell it (400).
    if let (Some(asked), true) = (&section, map.sections.is_empty()) {
        let all = state
            .engine(state.registry.seat_map(id, access, None))
            .await?;
        return Err(unknown_section(asked, &all));
    }
    // Blocked seats are BLOCKED to admins only (their role as it is now).
    let admin = user
        .0
        .and_then(|u| state.registry.role_of(u.user_id))
        .is_some_and(|role| role == Role::Admin);
    let viewer = if admin { Viewer::Admin } else { Viewer::Public };
    Ok(HttpResponse::Ok().json(SeatMapBody::render(&map, viewer)))
}
