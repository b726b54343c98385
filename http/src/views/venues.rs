//! Venues: the layout an admin sends (sections of rows of seats) and the
//! venue as it is read back, with every seat id spelled out.

use boxoffice_actors::catalog::{
    MAX_ROWS_PER_SECTION, MAX_SECTIONS_PER_VENUE, MAX_SECTION_NAME_CHARS, MAX_VENUE_ADDRESS_CHARS,
    MAX_VENUE_NAME_CHARS,
};
use boxoffice_actors::{Venue, VenueSection};
use boxoffice_engine::layout::{RowLayout, MAX_SEATS_PER_ROW};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Limit;
use crate::time_format::rfc3339;

const VENUE: &str = "VenueRequestBody";
const SECTION: &str = "SectionRequestBody";

pub const LIMITS: &[Limit] = &[
    Limit::max_length(VENUE, "name", MAX_VENUE_NAME_CHARS),
    Limit::max_length(VENUE, "address", MAX_VENUE_ADDRESS_CHARS),
    Limit::max_items(VENUE, "sections", MAX_SECTIONS_PER_VENUE),
    Limit::max_length(SECTION, "name", MAX_SECTION_NAME_CHARS),
    Limit::max_items(SECTION, "rows", MAX_ROWS_PER_SECTION),
    Limit::maximum("RowRequestBody", "seats", MAX_SEATS_PER_ROW as i64),
];

/// One row of a venue request. (Not `RowBody`: that is a seat map's row.)
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RowRequestBody {
    /// 1-32 ASCII letters or digits.
    #[schema(pattern = "^[A-Za-z0-9]{1,32}$")]
    pub row: String,
    /// Seats in the row, numbered 1..seats.
    #[schema(minimum = 1)]
    pub seats: u32,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SectionRequestBody {
    /// 1-32 ASCII letters or digits.
    #[schema(pattern = "^[A-Za-z0-9]{1,32}$")]
    pub section_id: String,
    #[schema(min_length = 1)]
    pub name: String,
    #[schema(min_items = 1)]
    pub rows: Vec<RowRequestBody>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VenueRequestBody {
    #[schema(min_length = 1)]
    pub name: String,
    /// One line of text.
    #[schema(min_length = 1)]
    pub address: String,
    /// Best section first.
    #[schema(min_items = 1)]
    pub sections: Vec<SectionRequestBody>,
}

impl VenueRequestBody {
    /// Name, address and sections as the actor layer takes them (it validates them all).
    pub fn into_parts(self) -> (String, String, Vec<VenueSection>) {
        let sections = self
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
        (self.name, self.address, sections)
    }
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

impl From<&Venue> for VenueBody {
    fn from(v: &Venue) -> Self {
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
}
