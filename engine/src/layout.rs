//! The seat layout a schedule is built from: the venue's sections in
//! best-first order, their rows and seat counts, and the price grade that the
//! concert assigns to each section.
//!
//! Seat ids are `sectionId-row-number` (for example `VIP-1-3`); section ids and
//! row names are letters and digits only, so the id splits unambiguously.

use crate::Money;
use serde::{Deserialize, Serialize};

/// Explicit limits on a layout, so one schedule's memory is bounded.
pub const MAX_SEATS_PER_SCHEDULE: usize = 200_000;
pub const MAX_SEATS_PER_ROW: u32 = 1_000;
pub const MAX_NAME_LEN: usize = 32;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatLayout {
    /// Best section first: best-available search walks them in this order.
    pub sections: Vec<SectionLayout>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SectionLayout {
    pub section_id: String,
    /// Price grade name (for example `VIP`, `R`), from the concert's price grades.
    pub grade: String,
    pub price: Money,
    pub rows: Vec<RowLayout>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowLayout {
    pub row: String,
    /// Seats in the row, numbered 1..=seats.
    pub seats: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    #[error("the layout has no seats")]
    Empty,
    #[error("the layout has more than {MAX_SEATS_PER_SCHEDULE} seats")]
    TooManySeats,
    #[error("row {0} has no seats or more than {MAX_SEATS_PER_ROW}")]
    BadRowSize(String),
    #[error("name {0:?} must be 1-{MAX_NAME_LEN} ASCII letters or digits")]
    BadName(String),
    #[error("section {0} appears twice")]
    DuplicateSection(String),
    #[error("row {0} appears twice in its section")]
    DuplicateRow(String),
    #[error("price {0} is negative")]
    NegativePrice(Money),
}

/// True for 1..=MAX_NAME_LEN ASCII letters and digits.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name.bytes().all(|b| b.is_ascii_alphanumeric())
}

impl SeatLayout {
    /// Checks names, sizes and uniqueness; returns the total seat count.
    pub fn validate(&self) -> Result<usize, LayoutError> {
        let mut total = 0usize;
        let mut sections = std::collections::HashSet::new();
        for section in &self.sections {
            if !is_valid_name(&section.section_id) {
                return Err(LayoutError::BadName(section.section_id.clone()));
            }
            if !sections.insert(section.section_id.as_str()) {
                return Err(LayoutError::DuplicateSection(section.section_id.clone()));
            }
            if section.price.0 < 0 {
                return Err(LayoutError::NegativePrice(section.price));
            }
            let mut rows = std::collections::HashSet::new();
            for row in &section.rows {
                if !is_valid_name(&row.row) {
                    return Err(LayoutError::BadName(row.row.clone()));
                }
                if !rows.insert(row.row.as_str()) {
                    return Err(LayoutError::DuplicateRow(row.row.clone()));
                }
                if row.seats == 0 || row.seats > MAX_SEATS_PER_ROW {
                    return Err(LayoutError::BadRowSize(row.row.clone()));
                }
                total += row.seats as usize;
                if total > MAX_SEATS_PER_SCHEDULE {
                    return Err(LayoutError::TooManySeats);
                }
            }
        }
        if total == 0 {
            return Err(LayoutError::Empty);
        }
        Ok(total)
    }

    /// A simple layout for tests and benchmarks: `sections` sections named
    /// `S0, S1, ...` (grade = section id, price 10,000 × (sections − index)),
    /// each with `rows` rows of `seats_per_row` seats.
    pub fn uniform(sections: usize, rows: usize, seats_per_row: u32) -> SeatLayout {
        SeatLayout {
            sections: (0..sections)
                .map(|s| SectionLayout {
                    section_id: format!("S{s}"),
                    grade: format!("S{s}"),
                    price: Money(10_000 * (sections - s) as i64),
                    rows: (0..rows)
                        .map(|r| RowLayout {
                            row: format!("{}", r + 1),
                            seats: seats_per_row,
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}
