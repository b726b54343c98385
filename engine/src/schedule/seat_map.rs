//! The immutable geometry of a schedule's seats: the layout flattened into a
//! dense seat index (sections in layout order, rows in order, seat numbers
//! ascending), plus the lookups that turn a seat id such as `VIP-1-3` into a
//! [`SeatIndex`] and back without scanning the map.
//!
//! Built once from a validated [`SeatLayout`]; it serializes as just that
//! layout and rebuilds its lookups on the way back in, so a decoded schedule
//! compares equal to the original.

use crate::layout::{LayoutError, SeatLayout, MAX_SEATS_PER_ROW};
use crate::Money;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::ops::Range;

/// A seat's position in the schedule's dense seat table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SeatIndex(pub u32);

/// Everything the layout says about one seat, borrowed from the layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeatInfo<'a> {
    pub section_id: &'a str,
    pub row: &'a str,
    pub number: u32,
    pub grade: &'a str,
    pub price: Money,
}

/// Digits in the largest seat number ([`MAX_SEATS_PER_ROW`] = 1,000), so a
/// seat id with a longer number is rejected before it is parsed.
const MAX_SEAT_NUMBER_DIGITS: usize = 4;

/// Where one section's rows and seats sit in the dense tables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct SectionSpan {
    pub rows: Range<u32>,
    pub seats: Range<u32>,
}

/// Where one row sits: its section, its position in the section, its seats.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct RowSpan {
    pub section: u32,
    pub row_in_section: u32,
    pub first_seat: u32,
    pub seats: u32,
}

impl RowSpan {
    pub fn seat_range(&self) -> Range<u32> {
        self.first_seat..self.first_seat + self.seats
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "SeatLayout", into = "SeatLayout")]
pub(super) struct SeatMap {
    layout: SeatLayout,
    sections: Vec<SectionSpan>,
    /// All rows of all sections, in seat-index order.
    rows: Vec<RowSpan>,
    section_by_id: BTreeMap<String, u32>,
    /// Per section: row name to global row number.
    row_by_name: Vec<BTreeMap<String, u32>>,
    seat_count: u32,
}

impl TryFrom<SeatLayout> for SeatMap {
    type Error = LayoutError;

    fn try_from(layout: SeatLayout) -> Result<Self, LayoutError> {
        SeatMap::new(layout)
    }
}

impl From<SeatMap> for SeatLayout {
    fn from(map: SeatMap) -> SeatLayout {
        map.layout
    }
}

impl SeatMap {
    pub fn new(layout: SeatLayout) -> Result<SeatMap, LayoutError> {
        let total = layout.validate()?;
        let seat_count = u32::try_from(total).map_err(|_| LayoutError::TooManySeats)?;
        let mut sections = Vec::with_capacity(layout.sections.len());
        let mut rows = Vec::new();
        let mut section_by_id = BTreeMap::new();
        let mut row_by_name = Vec::with_capacity(layout.sections.len());
        let mut next_seat = 0u32;
        for (section_number, section) in layout.sections.iter().enumerate() {
            let section_number = section_number as u32;
            let first_row = rows.len() as u32;
            let first_seat = next_seat;
            let mut names = BTreeMap::new();
            for (row_in_section, row) in section.rows.iter().enumerate() {
                names.insert(row.row.clone(), rows.len() as u32);
                rows.push(RowSpan {
                    section: section_number,
                    row_in_section: row_in_section as u32,
                    first_seat: next_seat,
                    seats: row.seats,
                });
                next_seat += row.seats;
            }
            sections.push(SectionSpan {
                rows: first_row..rows.len() as u32,
                seats: first_seat..next_seat,
            });
            section_by_id.insert(section.section_id.clone(), section_number);
            row_by_name.push(names);
        }
        assert_eq!(next_seat, seat_count, "validate() counted the same seats");
        Ok(SeatMap {
            layout,
            sections,
            rows,
            section_by_id,
            row_by_name,
            seat_count,
        })
    }

    pub fn layout(&self) -> &SeatLayout {
        &self.layout
    }

    pub fn seat_count(&self) -> u32 {
        self.seat_count
    }

    pub fn section_count(&self) -> u32 {
        self.sections.len() as u32
    }

    pub fn section(&self, section: u32) -> &SectionSpan {
        &self.sections[section as usize]
    }

    pub fn row_count(&self) -> u32 {
        self.rows.len() as u32
    }

    pub fn row(&self, row: u32) -> &RowSpan {
        &self.rows[row as usize]
    }

    pub fn section_index(&self, section_id: &str) -> Option<u32> {
        self.section_by_id.get(section_id).copied()
    }

    pub fn section_grade(&self, section: u32) -> &str {
        &self.layout.sections[section as usize].grade
    }

    /// The global row number holding `seat`. Panics when `seat` is out of range.
    pub fn row_of(&self, seat: SeatIndex) -> u32 {
        assert!(
            seat.0 < self.seat_count,
            "seat index {} out of range {}",
            seat.0,
            self.seat_count
        );
        // Rows are sorted by first seat; the seat's row is the last one starting at or before it.
        let after = self.rows.partition_point(|row| row.first_seat <= seat.0);
        debug_assert!(after > 0, "row 0 starts at seat 0");
        (after - 1) as u32
    }

    pub fn price(&self, seat: SeatIndex) -> Money {
        let row = self.row(self.row_of(seat));
        self.layout.sections[row.section as usize].price
    }

    pub fn info(&self, seat: SeatIndex) -> SeatInfo<'_> {
        let row = self.row(self.row_of(seat));
        let section = &self.layout.sections[row.section as usize];
        SeatInfo {
            section_id: &section.section_id,
            row: &section.rows[row.row_in_section as usize].row,
            number: seat.0 - row.first_seat + 1,
            grade: &section.grade,
            price: section.price,
        }
    }

    /// `sectionId-row-number`, the inverse of [`SeatMap::index_of`].
    pub fn seat_id(&self, seat: SeatIndex) -> String {
        let info = self.info(seat);
        format!("{}-{}-{}", info.section_id, info.row, info.number)
    }

    /// Parses a seat id without allocating. Only the canonical spelling
    /// resolves (no sign, no leading zero), so ids round-trip exactly.
    pub fn index_of(&self, seat_id: &str) -> Option<SeatIndex> {
        let (section_id, rest) = seat_id.split_once('-')?;
        let (row_name, number) = rest.split_once('-')?;
        let number = parse_seat_number(number)?;
        let section = self.section_index(section_id)?;
        let row = *self.row_by_name[section as usize].get(row_name)?;
        let row = self.row(row);
        if number > row.seats {
            return None;
        }
        Some(SeatIndex(row.first_seat + number - 1))
    }

    /// Sum of the seats' prices; `None` on overflow.
    pub fn total_price(&self, seats: &[SeatIndex]) -> Option<Money> {
        seats
            .iter()
            .try_fold(Money::ZERO, |sum, &seat| sum.checked_add(self.price(seat)))
    }
}

/// `1..=MAX_SEATS_PER_ROW` written in plain decimal digits.
fn parse_seat_number(text: &str) -> Option<u32> {
    if text.is_empty() || text.len() > MAX_SEAT_NUMBER_DIGITS || text.starts_with('0') {
        return None;
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let number: u32 = text.parse().ok()?;
    (1..=MAX_SEATS_PER_ROW).contains(&number).then_some(number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::{RowLayout, SectionLayout};

    fn two_sections() -> SeatMap {
        SeatMap::new(SeatLayout {
            sections: vec![
                SectionLayout {
                    section_id: "VIP".into(),
                    grade: "VIP".into(),
                    price: Money(150_000),
                    rows: vec![
                        RowLayout {
                            row: "A".into(),
                            seats: 3,
                        },
                        RowLayout {
                            row: "B".into(),
                            seats: 2,
                        },
                    ],
                },
                SectionLayout {
                    section_id: "R1".into(),
                    grade: "R".into(),
                    price: Money(90_000),
                    rows: vec![RowLayout {
                        row: "1".into(),
                        seats: 12,
                    }],
                },
            ],
        })
        .expect("valid layout")
    }

    #[test]
    fn indexes_are_dense_in_layout_order() {
        let map = two_sections();
        assert_eq!(map.seat_count(), 17);
        assert_eq!(map.index_of("VIP-A-1"), Some(SeatIndex(0)));
        assert_eq!(map.index_of("VIP-A-3"), Some(SeatIndex(2)));
        assert_eq!(map.index_of("VIP-B-1"), Some(SeatIndex(3)));
        assert_eq!(map.index_of("R1-1-1"), Some(SeatIndex(5)));
        assert_eq!(map.index_of("R1-1-12"), Some(SeatIndex(16)));
        assert_eq!(map.row_of(SeatIndex(4)), 1);
        assert_eq!(map.row_of(SeatIndex(5)), 2);
        assert_eq!(map.section(1).seats, 5..17);
    }

    #[test]
    fn every_seat_id_round_trips() {
        let map = two_sections();
        for seat in 0..map.seat_count() {
            let id = map.seat_id(SeatIndex(seat));
            assert_eq!(map.index_of(&id), Some(SeatIndex(seat)), "{id}");
        }
        assert_eq!(map.seat_id(SeatIndex(16)), "R1-1-12");
    }

    #[test]
    fn non_canonical_or_unknown_ids_do_not_resolve() {
        let map = two_sections();
        for id in [
            "",
            "VIP",
            "VIP-A",
            "VIP-A-",
            "VIP-A-0",
            "VIP-A-4",
            "VIP-A-01",
            "VIP-A-+1",
            "VIP-A--1",
            "VIP-A-1-1",
            "VIP-C-1",
            "vip-A-1",
            "XX-A-1",
            "R1-1-13",
            "R1-1-99999999999",
            "VIP-A-1 ",
            "-VIP-A-1",
        ] {
            assert_eq!(map.index_of(id), None, "{id:?}");
        }
    }

    #[test]
    fn info_reports_layout_facts() {
        let map = two_sections();
        let info = map.info(SeatIndex(7));
        assert_eq!(
            info,
            SeatInfo {
                section_id: "R1",
                row: "1",
                number: 3,
                grade: "R",
                price: Money(90_000)
            }
        );
        assert_eq!(
            map.total_price(&[SeatIndex(0), SeatIndex(7)]),
            Some(Money(240_000))
        );
    }

    #[test]
    fn invalid_layouts_are_refused() {
        assert_eq!(
            SeatMap::new(SeatLayout { sections: vec![] }),
            Err(LayoutError::Empty)
        );
    }

    #[test]
    fn price_overflow_is_none() {
        let mut layout = SeatLayout::uniform(1, 1, 2);
        layout.sections[0].price = Money(i64::MAX);
        let map = SeatMap::new(layout).expect("valid layout");
        assert_eq!(map.total_price(&[SeatIndex(0), SeatIndex(1)]), None);
    }

    #[test]
    #[should_panic(expected = "out of range")]
    fn out_of_range_seat_is_a_caller_bug() {
        two_sections().row_of(SeatIndex(17));
    }
}
