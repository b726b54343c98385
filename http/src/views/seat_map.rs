//! A schedule's seat map: every seat on sale with its status, by section and
//! row, and the counts.

use boxoffice_actors::schedule_actor::SeatMapView;
use boxoffice_engine::schedule::SeatStatus;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
pub struct SeatMapQuery {
    /// Only this section (a `sectionId` of the schedule's venue, case
    /// sensitive); one the schedule does not sell is 400 naming those it does.
    #[param(example = "VIP")]
    pub section: Option<String>,
}

/// 400 for a `section` the schedule does not sell, naming the ones it does
/// (`all` is the unfiltered map). Section ids are compared exactly, as
/// seat ids contain them (`VIP-1-3`), so `vip` is not `VIP`.
pub fn unknown_section(asked: &str, all: &SeatMapView) -> ApiError {
    let known: Vec<&str> = all.sections.iter().map(|s| s.section_id.as_str()).collect();
    let near = known
        .iter()
        .find(|k| k.eq_ignore_ascii_case(asked))
        .map(|k| format!(" (section ids are case sensitive: did you mean {k:?}?)"))
        .unwrap_or_default();
    ApiError::validation(format!(
        "section {asked:?} is not on sale for this schedule; its sections are {}{near}",
        known.join(", ")
    ))
    .with_details(json!({ "section": asked, "knownSections": known }))
}

/// A seat's status in a seat map. BLOCKED (taken off sale by the box
/// office) is shown to admins only; anyone else sees such a seat as SOLD.
#[derive(ToSchema)]
#[schema(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SeatStatusName {
    Available,
    Held,
    Sold,
    Blocked,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SeatBody {
    pub seat_id: String,
    #[schema(value_type = SeatStatusName)]
    pub status: &'static str,
}

/// A row of a seat map. (A venue request's row is `RowRequestBody`.)
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RowBody {
    pub row: String,
    pub seats: Vec<SeatBody>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SectionBody {
    pub section_id: String,
    pub grade: String,
    pub price: i64,
    pub rows: Vec<RowBody>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SeatSummaryBody {
    pub total: u32,
    pub available: u32,
    pub held: u32,
    pub sold: u32,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SeatMapBody {
    pub schedule_id: String,
    pub sections: Vec<SectionBody>,
    pub summary: SeatSummaryBody,
}

/// Who looks at a seat map: a blocked seat is BLOCKED to an admin, SOLD to
/// anyone else, so that the public map reveals nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Viewer {
    Public,
    Admin,
}

fn seat_status(status: SeatStatus, viewer: Viewer) -> &'static str {
    match (status, viewer) {
        (SeatStatus::Available, _) => "AVAILABLE",
        (SeatStatus::Held, _) => "HELD",
        (SeatStatus::Sold, _) | (SeatStatus::Blocked, Viewer::Public) => "SOLD",
        (SeatStatus::Blocked, Viewer::Admin) => "BLOCKED",
    }
}

impl From<&SeatMapView> for SeatMapBody {
    fn from(m: &SeatMapView) -> Self {
        SeatMapBody::render(m, Viewer::Public)
    }
}

impl SeatMapBody {
    pub fn render(m: &SeatMapView, viewer: Viewer) -> Self {
        SeatMapBody {
            schedule_id: m.schedule_id.to_string(),
            sections: m
                .sections
                .iter()
                .map(|s| SectionBody {
                    section_id: s.section_id.clone(),
                    grade: s.grade.clone(),
                    price: s.price.0,
                    rows: s
                        .rows
                        .iter()
                        .map(|r| RowBody {
                            row: r.row.clone(),
                            seats: r
                                .seats
                                .iter()
                                .map(|seat| SeatBody {
                                    seat_id: seat.seat_id.clone(),
                                    status: seat_status(seat.status, viewer),
                                })
                                .collect(),
                        })
                        .collect(),
                })
                .collect(),
            summary: SeatSummaryBody {
                total: m.summary.total,
                available: m.summary.available,
                held: m.summary.held,
                sold: m.summary.sold,
            },
        }
    }
}
