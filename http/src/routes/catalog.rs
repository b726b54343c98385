//! The catalogue: venues with seat maps, concerts with price grades and
//! schedules, schedule lists with availability, and a schedule's seat map.
//! Reads are public (except a gated schedule's seat map); writes are ADMIN.

use actix_web::{web, HttpRequest, HttpResponse};
use boxoffice_actors::catalog::{NewConcert, NewSchedule};
use boxoffice_actors::catalog_actor::{Concert, PriceGrade, ScheduleInfo, Venue, VenueSection};
use boxoffice_actors::Role;
use boxoffice_engine::ids::{ConcertId, ScheduleId, VenueId};
use boxoffice_engine::layout::RowLayout;
use boxoffice_engine::queue::QueueConfig;
use boxoffice_engine::schedule::SeatCounts;
use boxoffice_engine::{Money, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use utoipa::{IntoParams, ToSchema};

use super::{queue_token, resource};
use crate::auth::{AuthUser, MaybeAuthUser};
use crate::error::{ApiError, ApiResult};
use crate::extract::{path_id, JsonBody};
use crate::pagination::{List, PageQuery};
use crate::state::AppState;
use crate::time_format::{parse_rfc3339, rfc3339};
use crate::views::SeatMapBody;

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
    .service(resource("/concerts/{concertId}").route(web::get().to(get_concert)))
    .service(resource("/concerts/{concertId}/schedules").route(web::get().to(list_schedules)))
    .service(resource("/schedules/{scheduleId}/seats").route(web::get().to(seat_map)));
}

// ---- venues ----

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RowBody {
    /// 1-32 ASCII letters or digits.
    #[schema(pattern = "^[A-Za-z0-9]{1,32}$")]
    pub row: String,
    /// Seats in the row, numbered 1..seats.
    #[schema(minimum = 1, maximum = 1000)]
    pub seats: u32,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SectionRequestBody {
    /// 1-32 ASCII letters or digits.
    #[schema(pattern = "^[A-Za-z0-9]{1,32}$")]
    pub section_id: String,
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    #[schema(min_items = 1, max_items = 500)]
    pub rows: Vec<RowBody>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VenueRequestBody {
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// One line of text.
    #[schema(min_length = 1, max_length = 500)]
    pub address: String,
    /// Best section first.
    #[schema(min_items = 1, max_items = 100)]
    pub sections: Vec<SectionRequestBody>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VenueRowBody {
    pub row: String,
    pub seats: u32,
    pub seat_ids: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VenueSectionBody {
    pub section_id: String,
    pub name: String,
    pub rows: Vec<VenueRowBody>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VenueBody {
    pub venue_id: String,
    pub name: String,
    pub address: String,
    pub capacity: u32,
    pub sections: Vec<VenueSectionBody>,
    #[schema(format = DateTime)]
    pub created_at: String,
}

fn venue_body(v: &Venue) -> VenueBody {
    VenueBody {
        venue_id: v.venue_id.to_string(),
        name: v.name.clone(),
        address: v.address.clone(),
        capacity: v.capacity,
        sections: v
            .sections
            .iter()
            .map(|s| VenueSectionBody {
                section_id: s.section_id.clone(),
                name: s.name.clone(),
                rows: s
                    .rows
                    .iter()
                    .map(|r| VenueRowBody {
                        row: r.row.clone(),
                        seats: r.seats,
                        seat_ids: (1..=r.seats)
                            .map(|n| format!("{}-{}-{n}", s.section_id, r.row))
                            .collect(),
                    })
                    .collect(),
            })
            .collect(),
        created_at: rfc3339(v.created_at),
    }
}

/// Venue rows are capped well below the engine's limits so one request stays small.
const MAX_SECTIONS: usize = 100;
const MAX_ROWS_PER_SECTION: usize = 500;

#[utoipa::path(post, path = "/api/v1/venues", tag = "catalogue", request_body = VenueRequestBody,
    responses(
        (status = 201, description = "the venue, with its capacity and seat ids", body = VenueBody),
        (status = 400, description = "VALIDATION_ERROR: a bad name, address or layout"),
        (status = 403, description = "FORBIDDEN: the caller is not ADMIN"),
    ),
    security(("bearer" = [])))]
pub async fn create_venue(
    state: web::Data<AppState>,
    user: AuthUser,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    user.require(Role::Admin)?;
    let input: VenueRequestBody = body.parse()?;
    if input.sections.len() > MAX_SECTIONS
        || input
            .sections
            .iter()
            .any(|s| s.rows.len() > MAX_ROWS_PER_SECTION)
    {
        return Err(ApiError::validation(format!(
            "at most {MAX_SECTIONS} sections of {MAX_ROWS_PER_SECTION} rows"
        )));
    }
    let sections = input
        .sections
        .into_iter()
        .map(|s| VenueSection {
            section_id: s.section_id,
            name: s.name,
            rows: s
                .rows
                .into_iter()
                .map(|r| RowLayout {
                    row: r.row,
                    seats: r.seats,
                })
                .collect(),
        })
        .collect();
    let venue = state
        .engine(
            state
                .registry
                .create_venue(input.name, input.address, sections),
        )
        .await?;
    Ok(HttpResponse::Created().json(venue_body(&venue)))
}

#[utoipa::path(get, path = "/api/v1/venues", tag = "catalogue", params(PageQuery),
    responses(
        (status = 200, description = "one page of venues", body = List<VenueBody>),
        (status = 400, description = "VALIDATION_ERROR: a bad page, pageSize or query string"),
    ))]
pub async fn list_venues(
    state: web::Data<AppState>,
    page: web::Query<PageQuery>,
) -> ApiResult<HttpResponse> {
    let page = page.validate()?;
    let (venues, total) = state
        .engine(state.registry.venues(page.offset(), page.limit()))
        .await?;
    Ok(HttpResponse::Ok().json(List {
        items: venues.iter().map(venue_body).collect(),
        page: page.page,
        page_size: page.page_size,
        total,
    }))
}

#[utoipa::path(get, path = "/api/v1/venues/{venueId}", tag = "catalogue", params(("venueId" = String, Path)),
    responses(
        (status = 200, description = "the venue with its seat map", body = VenueBody),
        (status = 404, description = "NOT_FOUND"),
    ))]
pub async fn get_venue(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = path_id(&path, VenueId::parse, "venue")?;
    let venue = state.engine(state.registry.venue(id)).await?;
    Ok(HttpResponse::Ok().json(venue_body(&venue)))
}

// ---- concerts ----

#[derive(Debug, Serialize, Deserialize, ToSchema, Clone)]
#[serde(rename_all = "camelCase")]
pub struct QueueBody {
    pub enabled: bool,
    /// Users admitted per batch.
    #[schema(minimum = 1, maximum = 10_000)]
    pub batch_size: u32,
    /// Milliseconds between batches.
    #[schema(minimum = 100, maximum = 60_000)]
    pub interval_ms: i64,
    /// Users ACTIVE at once.
    #[schema(minimum = 1, maximum = 1_000_000)]
    pub max_active: u32,
    /// Seconds an ACTIVE token lasts.
    #[schema(minimum = 10, maximum = 3_600)]
    pub active_seconds: i64,
}

impl QueueBody {
    fn config(&self) -> QueueConfig {
        QueueConfig {
            enabled: self.enabled,
            batch_size: self.batch_size,
            interval_ms: self.interval_ms,
            max_active: self.max_active,
            active_ms: self.active_seconds.saturating_mul(1_000),
        }
    }

    fn from_config(c: &QueueConfig) -> Self {
        QueueBody {
            enabled: c.enabled,
            batch_size: c.batch_size,
            interval_ms: c.interval_ms,
            max_active: c.max_active,
            active_seconds: c.active_ms / 1_000,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PriceGradeBody {
    #[schema(min_length = 1, max_length = 32)]
    pub grade: String,
    /// Per seat, in the currency's smallest unit.
    #[schema(minimum = 0, maximum = 1_000_000_000_000_i64)]
    pub price: i64,
    /// The venue sections sold at this grade (each in one grade at most).
    #[schema(min_items = 1)]
    pub section_ids: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleRequestBody {
    #[schema(format = DateTime)]
    pub starts_at: String,
    /// After startsAt.
    #[schema(format = DateTime)]
    pub ends_at: String,
    #[schema(format = DateTime)]
    pub booking_opens_at: String,
    /// After bookingOpensAt.
    #[schema(format = DateTime)]
    pub booking_closes_at: String,
    /// Overrides the concert's queue for this schedule.
    pub queue: Option<QueueBody>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConcertRequestBody {
    #[schema(min_length = 1, max_length = 200)]
    pub title: String,
    #[serde(default)]
    #[schema(max_length = 5_000)]
    pub description: String,
    #[schema(min_length = 1, max_length = 50)]
    pub category: String,
    pub venue_id: String,
    #[schema(min_items = 1, max_items = 50)]
    pub price_grades: Vec<PriceGradeBody>,
    #[schema(min_items = 1, max_items = 100)]
    pub schedules: Vec<ScheduleRequestBody>,
    /// Default 4.
    #[schema(minimum = 1, maximum = 20)]
    pub max_seats_per_user: Option<u32>,
    /// Default 300.
    #[schema(minimum = 1, maximum = 3_600)]
    pub hold_seconds: Option<u32>,
    pub queue: Option<QueueBody>,
}

/// A schedule's sale status: UPCOMING (booking not open yet), ON_SALE,
/// SOLD_OUT or CLOSED.
#[derive(ToSchema)]
#[schema(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ScheduleStatusName {
    Upcoming,
    OnSale,
    SoldOut,
    Closed,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleBody {
    pub schedule_id: String,
    #[schema(format = DateTime)]
    pub starts_at: String,
    #[schema(format = DateTime)]
    pub ends_at: String,
    #[schema(format = DateTime)]
    pub booking_opens_at: String,
    #[schema(format = DateTime)]
    pub booking_closes_at: String,
    pub total_seats: u32,
    pub available_seats: u32,
    #[schema(value_type = ScheduleStatusName)]
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue: Option<QueueBody>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConcertBody {
    pub concert_id: String,
    pub title: String,
    pub description: String,
    pub category: String,
    pub venue_id: String,
    pub venue_name: String,
    pub price_grades: Vec<PriceGradeBody>,
    pub schedules: Vec<ScheduleBody>,
    pub max_seats_per_user: u32,
    pub hold_seconds: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue: Option<QueueBody>,
    #[schema(format = DateTime)]
    pub created_at: String,
}

fn schedule_status(info: &ScheduleInfo, counts: SeatCounts, now: Timestamp) -> &'static str {
    if now < info.booking_opens_at {
        "UPCOMING"
    } else if now >= info.booking_closes_at {
        "CLOSED"
    } else if counts.available == 0 {
        "SOLD_OUT"
    } else {
        "ON_SALE"
    }
}

async fn counts_of(state: &AppState, concert: &Concert) -> HashMap<ScheduleId, SeatCounts> {
    let mut counts = HashMap::new();
    for s in &concert.schedules {
        if let Ok(c) = state.registry.seat_counts(s.schedule_id).await {
            counts.insert(s.schedule_id, c);
        }
    }
    counts
}

fn schedule_body(info: &ScheduleInfo, counts: Option<&SeatCounts>, now: Timestamp) -> ScheduleBody {
    let counts = counts.copied().unwrap_or(SeatCounts {
        total: 0,
        available: 0,
        held: 0,
        sold: 0,
    });
    ScheduleBody {
        schedule_id: info.schedule_id.to_string(),
        starts_at: rfc3339(info.starts_at),
        ends_at: rfc3339(info.ends_at),
        booking_opens_at: rfc3339(info.booking_opens_at),
        booking_closes_at: rfc3339(info.booking_closes_at),
        total_seats: counts.total,
        available_seats: counts.available,
        status: schedule_status(info, counts, now),
        queue: info
            .queue
            .as_ref()
            .filter(|q| q.enabled)
            .map(QueueBody::from_config),
    }
}

async fn concert_body(state: &AppState, c: &Concert) -> ConcertBody {
    let counts = counts_of(state, c).await;
    let now = state.now();
    ConcertBody {
        concert_id: c.concert_id.to_string(),
        title: c.title.clone(),
        description: c.description.clone(),
        category: c.category.clone(),
        venue_id: c.venue_id.to_string(),
        venue_name: c.venue_name.clone(),
        price_grades: c
            .price_grades
            .iter()
            .map(|g| PriceGradeBody {
                grade: g.grade.clone(),
                price: g.price.0,
                section_ids: g.section_ids.clone(),
            })
            .collect(),
        schedules: c
            .schedules
            .iter()
            .map(|s| schedule_body(s, counts.get(&s.schedule_id), now))
            .collect(),
        max_seats_per_user: c.max_seats_per_user,
        hold_seconds: c.hold_seconds,
        queue: c.queue.as_ref().map(QueueBody::from_config),
        created_at: rfc3339(c.created_at),
    }
}

fn time_field(text: &str, field: &str) -> ApiResult<Timestamp> {
    parse_rfc3339(text).ok_or_else(|| {
        ApiError::validation(format!(
            "{field} must be an RFC 3339 time such as 2026-03-15T10:00:00Z"
        ))
    })
}

#[utoipa::path(post, path = "/api/v1/concerts", tag = "catalogue", request_body = ConcertRequestBody,
    responses(
        (status = 201, description = "the concert, as GET returns it, its schedules with their new ids", body = ConcertBody),
        (status = 400, description = "VALIDATION_ERROR: bad fields, times, grades or queue settings"),
        (status = 403, description = "FORBIDDEN: the caller is not ADMIN"),
        (status = 404, description = "NOT_FOUND: venueId names nothing"),
    ),
    security(("bearer" = [])))]
pub async fn create_concert(
    state: web::Data<AppState>,
    user: AuthUser,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    user.require(Role::Admin)?;
    let input: ConcertRequestBody = body.parse()?;
    let venue_id = path_id(&input.venue_id, VenueId::parse, "venue")?;
    state.engine(state.registry.venue(venue_id)).await?;
    let mut schedules = Vec::new();
    for s in &input.schedules {
        schedules.push(NewSchedule {
            starts_at: time_field(&s.starts_at, "startsAt")?,
            ends_at: time_field(&s.ends_at, "endsAt")?,
            booking_opens_at: time_field(&s.booking_opens_at, "bookingOpensAt")?,
            booking_closes_at: time_field(&s.booking_closes_at, "bookingClosesAt")?,
            queue: s.queue.as_ref().map(QueueBody::config),
        });
    }
    let concert = NewConcert {
        title: input.title,
        description: input.description,
        category: input.category,
        venue_id,
        price_grades: input
            .price_grades
            .into_iter()
            .map(|g| PriceGrade {
                grade: g.grade,
                price: Money(g.price),
                section_ids: g.section_ids,
            })
            .collect(),
        schedules,
        max_seats_per_user: input.max_seats_per_user.unwrap_or(4),
        hold_seconds: input.hold_seconds.unwrap_or(300),
        queue: input.queue.as_ref().map(QueueBody::config),
    };
    let created = state.engine(state.registry.create_concert(concert)).await?;
    Ok(HttpResponse::Created().json(concert_body(&state, &created).await))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
pub struct ConcertQuery {
    pub category: Option<String>,
    /// Words that must all appear in the title, description or venue name.
    pub q: Option<String>,
    /// Only concerts with a schedule starting at or after this time (RFC 3339).
    #[param(format = DateTime)]
    pub from: Option<String>,
    /// Only concerts with a schedule starting before this time (RFC 3339).
    #[param(format = DateTime)]
    pub to: Option<String>,
    /// startsAt (default), price or createdAt.
    #[param(value_type = Option<ConcertSortName>)]
    pub sort: Option<String>,
    /// asc (default) or desc.
    #[param(value_type = Option<SortOrderName>)]
    pub order: Option<String>,
}

/// What a concert list can be sorted by.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub enum ConcertSortName {
    StartsAt,
    Price,
    CreatedAt,
}

/// A sort direction.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum SortOrderName {
    Asc,
    Desc,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConcertSummaryBody {
    pub concert_id: String,
    pub title: String,
    pub category: String,
    pub venue_name: String,
    #[schema(format = DateTime)]
    pub first_starts_at: Option<String>,
    pub min_price: i64,
    pub max_price: i64,
    pub available_seats: u32,
}

fn time_filter(text: Option<&str>, field: &str) -> ApiResult<Option<Timestamp>> {
    text.map(|t| time_field(t, field)).transpose()
}

#[utoipa::path(get, path = "/api/v1/concerts", tag = "catalogue", params(ConcertQuery, PageQuery),
    responses(
        (status = 200, description = "one page of matching concerts", body = List<ConcertSummaryBody>),
        (status = 400, description = "VALIDATION_ERROR: a bad page, pageSize, from, to, sort, order or query string"),
    ))]
pub async fn list_concerts(
    state: web::Data<AppState>,
    query: web::Query<ConcertQuery>,
    page: web::Query<PageQuery>,
) -> ApiResult<HttpResponse> {
    let page = page.validate()?;
    let from = time_filter(query.from.as_deref(), "from")?;
    let to = time_filter(query.to.as_deref(), "to")?;
    let sort = query.sort.as_deref().unwrap_or("startsAt");
    if !["startsAt", "price", "createdAt"].contains(&sort) {
        return Err(ApiError::validation(
            "sort must be startsAt, price or createdAt",
        ));
    }
    let descending = match query.order.as_deref().unwrap_or("asc") {
        "asc" => false,
        "desc" => true,
        _ => return Err(ApiError::validation("order must be asc or desc")),
    };
    let words: Vec<String> = query
        .q
        .as_deref()
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_lowercase)
        .collect();
    let concerts = state.engine(state.registry.concerts()).await?;
    let mut matching: Vec<(&Concert, Option<Timestamp>)> = concerts
        .iter()
        .filter(|c| {
            query
                .category
                .as_deref()
                .is_none_or(|cat| c.category.eq_ignore_ascii_case(cat))
        })
        .filter(|c| {
            let text = format!("{} {} {}", c.title, c.description, c.venue_name).to_lowercase();
            words.iter().all(|w| text.contains(w.as_str()))
        })
        .filter(|c| {
            c.schedules.iter().any(|s| {
                from.is_none_or(|f| s.starts_at >= f) && to.is_none_or(|t| s.starts_at < t)
            })
        })
        .map(|c| (c, c.schedules.iter().map(|s| s.starts_at).min()))
        .collect();
    let min_price = |c: &Concert| c.price_grades.iter().map(|g| g.price.0).min().unwrap_or(0);
    matching.sort_by(|(a, a_first), (b, b_first)| {
        let ordering = match sort {
            "price" => min_price(a).cmp(&min_price(b)),
            "createdAt" => a.created_at.cmp(&b.created_at),
            _ => a_first.cmp(b_first),
        };
        let ordering = ordering.then_with(|| a.concert_id.cmp(&b.concert_id));
        if descending {
            ordering.reverse()
        } else {
            ordering
        }
    });
    let total = matching.len();
    let mut items = Vec::new();
    for (c, first) in matching.into_iter().skip(page.offset()).take(page.limit()) {
        let counts = counts_of(&state, c).await;
        items.push(ConcertSummaryBody {
            concert_id: c.concert_id.to_string(),
            title: c.title.clone(),
            category: c.category.clone(),
            venue_name: c.venue_name.clone(),
            first_starts_at: first.map(rfc3339),
            min_price: min_price(c),
            max_price: c.price_grades.iter().map(|g| g.price.0).max().unwrap_or(0),
            available_seats: counts.values().map(|s| s.available).sum(),
        });
    }
    Ok(HttpResponse::Ok().json(List {
        items,
        page: page.page,
        page_size: page.page_size,
        total,
    }))
}

#[utoipa::path(get, path = "/api/v1/concerts/{concertId}", tag = "catalogue", params(("concertId" = String, Path)),
    responses(
        (status = 200, description = "the concert with its price grades and schedules", body = ConcertBody),
        (status = 404, description = "NOT_FOUND"),
    ))]
pub async fn get_concert(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = path_id(&path, ConcertId::parse, "concert")?;
    let concert = state.engine(state.registry.concert(id)).await?;
    Ok(HttpResponse::Ok().json(concert_body(&state, &concert).await))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleQuery {
    /// Only schedules starting at or after this time (RFC 3339).
    #[param(format = DateTime)]
    pub from: Option<String>,
    /// Only schedules starting before this time (RFC 3339).
    #[param(format = DateTime)]
    pub to: Option<String>,
    /// Default true: only schedules with at least one free seat.
    pub available: Option<bool>,
}

#[utoipa::path(get, path = "/api/v1/concerts/{concertId}/schedules", tag = "catalogue", params(("concertId" = String, Path), ScheduleQuery, PageQuery),
    responses(
        (status = 200, description = "one page of the concert's schedules", body = List<ScheduleBody>),
        (status = 400, description = "VALIDATION_ERROR: a bad page, pageSize, from, to, available or query string"),
        (status = 404, description = "NOT_FOUND"),
    ))]
pub async fn list_schedules(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<ScheduleQuery>,
    page: web::Query<PageQuery>,
) -> ApiResult<HttpResponse> {
    let id = path_id(&path, ConcertId::parse, "concert")?;
    let page = page.validate()?;
    let from = time_filter(query.from.as_deref(), "from")?;
    let to = time_filter(query.to.as_deref(), "to")?;
    let concert = state.engine(state.registry.concert(id)).await?;
    let counts = counts_of(&state, &concert).await;
    let now = state.now();
    let only_available = query.available.unwrap_or(true);
    let bodies: Vec<ScheduleBody> = concert
        .schedules
        .iter()
        .filter(|s| from.is_none_or(|f| s.starts_at >= f) && to.is_none_or(|t| s.starts_at < t))
        .filter(|s| !only_available || counts.get(&s.schedule_id).is_some_and(|c| c.available > 0))
        .map(|s| schedule_body(s, counts.get(&s.schedule_id), now))
        .collect();
    Ok(HttpResponse::Ok().json(page.slice(bodies)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
pub struct SeatMapQuery {
    /// Only this section.
    pub section: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/schedules/{scheduleId}/seats", tag = "catalogue",
    params(("scheduleId" = String, Path), SeatMapQuery, ("Queue-Token" = Option<String>, Header, description = "an ACTIVE token of the caller for this schedule, when it is gated")),
    responses(
        (status = 200, description = "the seat map (public unless the schedule is gated)", body = SeatMapBody),
        (status = 400, description = "VALIDATION_ERROR: a query string that cannot be read"),
        (status = 401, description = "UNAUTHORIZED: a gated schedule without a user token, or a bad token sent"),
        (status = 403, description = "QUEUE_NOT_ACTIVE: a gated schedule without the caller's ACTIVE token for it"),
        (status = 404, description = "NOT_FOUND"),
    ),
    security((), ("bearer" = [])))]
pub async fn seat_map(
    state: web::Data<AppState>,
    user: MaybeAuthUser,
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<SeatMapQuery>,
) -> ApiResult<HttpResponse> {
    let id = path_id(&path, ScheduleId::parse, "schedule")?;
    let handle = state.registry.schedule(id).map_err(ApiError::from)?;
    if handle.gated && user.0.is_none() {
        return Err(ApiError::unauthorized(
            "this schedule is gated by a waiting room: sign in and send your Queue-Token",
        ));
    }
    let access = user.0.map(|u| (u.user_id, queue_token(&req)));
    let map = state
        .engine(
            state
                .registry
                .seat_map(id, access, query.into_inner().section),
        )
        .await?;
    Ok(HttpResponse::Ok().json(SeatMapBody::from(&map)))
}
