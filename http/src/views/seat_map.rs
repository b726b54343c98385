//! A schedule's seat map: every seat on sale with its status, by section and
//! row, and the counts.

use boxoffice_actors::schedule_actor::SeatMapView;
use boxoffice_engine::schedule::SeatStatus;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
pub struct SeatMapQuery {
    /// Only this section.
    pub section: Option<String>,
}

/// A seat's status in a seat map.
#[derive(ToSchema)]
#[schema(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SeatStatusName {
    Available,
    Held,
    Sold,
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

fn seat_status(status: SeatStatus) -> &'static str {
    match status {
        SeatStatus::Available => "AVAILABLE",
        SeatStatus::Held => "HELD",
        SeatStatus::Sold => "SOLD",
    }
}

impl From<&SeatMapView> for SeatMapBody {
    fn from(m: &SeatMapView) -> Self {
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
                                    status: seat_status(seat.status),
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
