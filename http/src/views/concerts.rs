//! Concerts and their schedules: what an admin sends to create one, the
//! concert as it is read back (each schedule with its seat counts and sale
//! status), the search's query and result lines, and a concert's schedule list.

use boxoffice_actors::catalog::{
    MAX_CATEGORY_CHARS, MAX_DESCRIPTION_CHARS, MAX_GRADE_NAME_CHARS, MAX_HOLD_SECONDS,
    MAX_PRICE_GRADES, MAX_SCHEDULES_PER_CONCERT, MAX_SEAT_PRICE, MAX_TITLE_CHARS,
};
use boxoffice_actors::{
    ConcertDetail, ConcertPatch, ConcertSearch, ConcertSort, ConcertStatus, ConcertSummary,
    NewConcert, NewSchedule, PriceGrade, SaleStatus, ScheduleFilter, ScheduleListing,
};
use boxoffice_engine::ids::{ConcertId, VenueId};
use boxoffice_engine::queue::{
    QueueConfig, ACTIVE_MS_RANGE, BATCH_SIZE_RANGE, INTERVAL_MS_RANGE, MAX_ACTIVE_RANGE,
    PRE_QUEUE_MS_RANGE,
};
use boxoffice_engine::schedule::MAX_SEATS_PER_USER_LIMIT;
use boxoffice_engine::{Money, Timestamp};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::Limit;
use crate::error::{ApiError, ApiResult};
use crate::time_format::{parse_rfc3339, rfc3339};

const CONCERT: &str = "ConcertRequestBody";
const GRADE: &str = "PriceGradeBody";
const QUEUE: &str = "QueueBody";

pub const LIMITS: &[Limit] = &[
    Limit::max_length(CONCERT, "title", MAX_TITLE_CHARS),
    Limit::max_length(CONCERT, "description", MAX_DESCRIPTION_CHARS),
    Limit::max_length(CONCERT, "category", MAX_CATEGORY_CHARS),
    Limit::max_items(CONCERT, "priceGrades", MAX_PRICE_GRADES),
    Limit::max_items(CONCERT, "schedules", MAX_SCHEDULES_PER_CONCERT),
    Limit::maximum(CONCERT, "maxSeatsPerUser", MAX_SEATS_PER_USER_LIMIT as i64),
    Limit::maximum(CONCERT, "holdSeconds", MAX_HOLD_SECONDS as i64),
    Limit::max_length(GRADE, "grade", MAX_GRADE_NAME_CHARS),
    Limit::maximum(GRADE, "price", MAX_SEAT_PRICE.0),
    Limit::minimum(QUEUE, "batchSize", *BATCH_SIZE_RANGE.start() as i64),
    Limit::maximum(QUEUE, "batchSize", *BATCH_SIZE_RANGE.end() as i64),
    Limit::minimum(QUEUE, "intervalMs", *INTERVAL_MS_RANGE.start()),
    Limit::maximum(QUEUE, "intervalMs", *INTERVAL_MS_RANGE.end()),
    Limit::minimum(QUEUE, "maxActive", *MAX_ACTIVE_RANGE.start() as i64),
    Limit::maximum(QUEUE, "maxActive", *MAX_ACTIVE_RANGE.end() as i64),
    // The API counts seconds where the engine counts milliseconds.
    Limit::minimum(QUEUE, "activeSeconds", *ACTIVE_MS_RANGE.start() / 1_000),
    Limit::maximum(QUEUE, "activeSeconds", *ACTIVE_MS_RANGE.end() / 1_000),
    Limit::minimum(
        QUEUE,
        "preQueueSeconds",
        *PRE_QUEUE_MS_RANGE.start() / 1_000,
    ),
    Limit::maximum(QUEUE, "preQueueSeconds", *PRE_QUEUE_MS_RANGE.end() / 1_000),
];

#[derive(Debug, Serialize, Deserialize, ToSchema, Clone)]
#[serde(rename_all = "camelCase")]
pub struct QueueBody {
    pub enabled: bool,
    /// Users admitted per batch.
    pub batch_size: u32,
    /// Milliseconds between batches.
    pub interval_ms: i64,
    /// Users ACTIVE at once.
    pub max_active: u32,
    /// Seconds an ACTIVE token lasts.
    pub active_seconds: i64,
    /// The waiting room opens this long before bookingOpensAt; whoever joins
    /// before bookingOpensAt is PRE_QUEUE, then placed in a random order
    /// ahead of later joiners. 0 (the default) = no pre-queue.
    #[serde(default)]
    pub pre_queue_seconds: i64,
    /// Joining the waiting room needs a verified e-mail address (POST
    /// /auth/verify-email); others get 403 EMAIL_NOT_VERIFIED. Default false.
    /// Set at creation. A schedule's `queue` shows its own rule; the
    /// concert-wide `queue` of an answer shows false.
    #[serde(default)]
    pub require_verified_email: bool,
}

impl QueueBody {
    fn config(&self) -> QueueConfig {
        QueueConfig {
            enabled: self.enabled,
            batch_size: self.batch_size,
            interval_ms: self.interval_ms,
            max_active: self.max_active,
            active_ms: self.active_seconds.saturating_mul(1_000),
            pre_queue_ms: self.pre_queue_seconds.saturating_mul(1_000),
            // The registry sets it from the schedule's bookingOpensAt.
            opens_at: Timestamp::MIN,
        }
    }

    fn from_config(c: &QueueConfig) -> Self {
        QueueBody {
            enabled: c.enabled,
            batch_size: c.batch_size,
            interval_ms: c.interval_ms,
            max_active: c.max_active,
            active_seconds: c.active_ms / 1_000,
            pre_queue_seconds: c.pre_queue_ms / 1_000,
            require_verified_email: false,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PriceGradeBody {
    #[schema(min_length = 1)]
    pub grade: String,
    /// Per seat, in the currency's smallest unit.
    #[schema(minimum = 0)]
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
    #[schema(min_length = 1)]
    pub title: String,
    #[serde(default)]
    pub description: String,
    #[schema(min_length = 1)]
    pub category: String,
    pub venue_id: String,
    #[schema(min_items = 1)]
    pub price_grades: Vec<PriceGradeBody>,
    #[schema(min_items = 1)]
    pub schedules: Vec<ScheduleRequestBody>,
    /// Default 4.
    #[schema(minimum = 1)]
    pub max_seats_per_user: Option<u32>,
    /// Default 300.
    #[schema(minimum = 1)]
    pub hold_seconds: Option<u32>,
    pub queue: Option<QueueBody>,
    /// DRAFT (seen by admins only) or PUBLISHED (the default).
    #[schema(value_type = Option<ConcertStatusName>)]
    pub status: Option<String>,
}

/// A concert's status: DRAFT (seen by admins only) or PUBLISHED.
#[derive(ToSchema)]
#[schema(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ConcertStatusName {
    Draft,
    Published,
}

fn concert_status(status: ConcertStatus) -> &'static str {
    match status {
        ConcertStatus::Draft => "DRAFT",
        ConcertStatus::Published => "PUBLISHED",
    }
}

/// The fields a PATCH may change; any other field is 400 (a PATCH that
/// silently changed nothing would mislead), and so is a PATCH naming none.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConcertPatchBody {
    #[schema(min_length = 1)]
    pub title: Option<String>,
    pub description: Option<String>,
    #[schema(min_length = 1)]
    pub category: Option<String>,
}

impl ConcertPatchBody {
    pub fn patch(self) -> ApiResult<ConcertPatch> {
        if self.title.is_none() && self.description.is_none() && self.category.is_none() {
            return Err(ApiError::validation(
                "name at least one of title, description, category",
            ));
        }
        Ok(ConcertPatch {
            title: self.title,
            description: self.description,
            category: self.category,
        })
    }
}

/// An RFC 3339 time from a body field or query parameter (400 otherwise).
pub fn time_field(text: &str, field: &str) -> ApiResult<Timestamp> {
    parse_rfc3339(text).ok_or_else(|| {
        ApiError::validation(format!(
            "{field} must be an RFC 3339 time such as 2026-03-15T10:00:00Z"
        ))
    })
}

fn time_filter(text: Option<&str>, field: &str) -> ApiResult<Option<Timestamp>> {
    text.map(|t| time_field(t, field)).transpose()
}

impl ConcertRequestBody {
    /// The status asked for: PUBLISHED unless `DRAFT` is given; 400 for anything else.
    pub fn status(&self) -> ApiResult<ConcertStatus> {
        match self.status.as_deref() {
            None | Some("PUBLISHED") => Ok(ConcertStatus::Published),
            Some("DRAFT") => Ok(ConcertStatus::Draft),
            Some(_) => Err(ApiError::validation("status must be DRAFT or PUBLISHED")),
        }
    }

    /// The concert as the actor layer takes it, with the defaults it sets;
    /// For each schedule, whether its waiting room requires a verified
    /// e-mail address: its own `queue`'s `requireVerifiedEmail`, else the
    /// concert's (a schedule's `queue` overrides the concert's whole).
    pub fn verified_email_rule(&self) -> Vec<bool> {
        self.schedules
            .iter()
            .map(|s| {
                s.queue
                    .as_ref()
                    .or(self.queue.as_ref())
                    .is_some_and(|q| q.require_verified_email)
            })
            .collect()
    }

    /// 400 for a time that is not RFC 3339 (the actor layer checks the rest).
    pub fn new_concert(self, venue_id: VenueId) -> ApiResult<NewConcert> {
        let mut schedules = Vec::with_capacity(self.schedules.len());
        for s in &self.schedules {
            schedules.push(NewSchedule {
                starts_at: time_field(&s.starts_at, "startsAt")?,
                ends_at: time_field(&s.ends_at, "endsAt")?,
                booking_opens_at: time_field(&s.booking_opens_at, "bookingOpensAt")?,
                booking_closes_at: time_field(&s.booking_closes_at, "bookingClosesAt")?,
                queue: s.queue.as_ref().map(QueueBody::config),
            });
        }
        let (max_seats_per_user, hold_seconds) =
            NewConcert::limits_or_defaults(self.max_seats_per_user, self.hold_seconds);
        Ok(NewConcert {
            title: self.title,
            description: self.description,
            category: self.category,
            venue_id,
            price_grades: self
                .price_grades
                .into_iter()
                .map(|g| PriceGrade {
                    grade: g.grade,
                    price: Money(g.price),
                    section_ids: g.section_ids,
                })
                .collect(),
            schedules,
            max_seats_per_user,
            hold_seconds,
            queue: self.queue.as_ref().map(QueueBody::config),
        })
    }
}

/// A schedule's sale status: UPCOMING (booking not open yet), ON_SALE,
/// SOLD_OUT, CLOSED, or CANCELLED (the date was called off).
#[derive(ToSchema)]
#[schema(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ScheduleStatusName {
    Upcoming,
    OnSale,
    SoldOut,
    Closed,
    Cancelled,
}

fn sale_status(status: SaleStatus) -> &'static str {
    match status {
        SaleStatus::Upcoming => "UPCOMING",
        SaleStatus::OnSale => "ON_SALE",
        SaleStatus::SoldOut => "SOLD_OUT",
        SaleStatus::Closed => "CLOSED",
        SaleStatus::Cancelled => "CANCELLED",
    }
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

/// One schedule on its own (GET /schedules/{scheduleId}): as a concert lists
/// it, plus the concert it belongs to, for a client that holds only the
/// schedule's id (a seat map's link) and must know if it is gated.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleDetailBody {
    pub concert_id: String,
    #[serde(flatten)]
    pub schedule: ScheduleBody,
}

impl ScheduleDetailBody {
    pub fn new(concert_id: ConcertId, listing: &ScheduleListing) -> Self {
        ScheduleDetailBody {
            concert_id: concert_id.to_string(),
            schedule: ScheduleBody::from(listing),
        }
    }
}

impl From<&ScheduleListing> for ScheduleBody {
    fn from(s: &ScheduleListing) -> Self {
        let info = &s.info;
        ScheduleBody {
            schedule_id: info.schedule_id.to_string(),
            starts_at: rfc3339(info.starts_at),
            ends_at: rfc3339(info.ends_at),
            booking_opens_at: rfc3339(info.booking_opens_at),
            booking_closes_at: rfc3339(info.booking_closes_at),
            total_seats: s.counts.total,
            available_seats: s.counts.available,
            status: sale_status(s.status),
            queue: info
                .queue
                .as_ref()
                .filter(|q| q.enabled)
                .map(|q| QueueBody {
                    require_verified_email: s.require_verified_email,
                    ..QueueBody::from_config(q)
                }),
        }
    }
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
    #[schema(value_type = ConcertStatusName)]
    pub status: &'static str,
}

impl From<&ConcertDetail> for ConcertBody {
    fn from(d: &ConcertDetail) -> Self {
        let c = &d.concert;
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
            schedules: d.schedules.iter().map(ScheduleBody::from).collect(),
            max_seats_per_user: c.max_seats_per_user,
            hold_seconds: c.hold_seconds,
            queue: c.queue.as_ref().map(QueueBody::from_config),
            created_at: rfc3339(c.created_at),
            status: concert_status(c.status),
        }
    }
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

impl ConcertQuery {
    /// The search the query asks for (DRAFTs listed when `include_drafts`);
    /// 400 for a bad time, sort or order.
    pub fn search(self, include_drafts: bool) -> ApiResult<ConcertSearch> {
        let from = time_filter(self.from.as_deref(), "from")?;
        let to = time_filter(self.to.as_deref(), "to")?;
        let sort = match self.sort.as_deref().unwrap_or("startsAt") {
            "startsAt" => ConcertSort::StartsAt,
            "price" => ConcertSort::Price,
            "createdAt" => ConcertSort::CreatedAt,
            _ => {
                return Err(ApiError::validation(
                    "sort must be startsAt, price or createdAt",
                ))
            }
        };
        let descending = match self.order.as_deref().unwrap_or("asc") {
            "asc" => false,
            "desc" => true,
            _ => return Err(ApiError::validation("order must be asc or desc")),
        };
        Ok(ConcertSearch {
            category: self.category,
            text: self.q.unwrap_or_default(),
            from,
            to,
            sort,
            descending,
            include_drafts,
        })
    }
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
    /// DRAFTs are listed to admins only.
    #[schema(value_type = ConcertStatusName)]
    pub status: &'static str,
}

impl From<&ConcertSummary> for ConcertSummaryBody {
    fn from(c: &ConcertSummary) -> Self {
        ConcertSummaryBody {
            concert_id: c.concert_id.to_string(),
            title: c.title.clone(),
            category: c.category.clone(),
            venue_name: c.venue_name.clone(),
            first_starts_at: c.first_starts_at.map(rfc3339),
            min_price: c.min_price.0,
            max_price: c.max_price.0,
            available_seats: c.available_seats,
            status: concert_status(c.status),
        }
    }
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

impl ScheduleQuery {
    /// The filter the query asks for; 400 for a bad time.
    pub fn filter(&self) -> ApiResult<ScheduleFilter> {
        Ok(ScheduleFilter {
            from: time_filter(self.from.as_deref(), "from")?,
            to: time_filter(self.to.as_deref(), "to")?,
            only_available: self.available.unwrap_or(true),
        })
    }
}
