//! Best-available search: `quantity` adjacent free seats in one row, best
//! section first, front row first, left to right, avoiding a stranded single
//! empty seat where the section allows.
//!
//! A block "strands" a seat when it leaves exactly one free seat between
//! itself and a taken seat or the row end, on either side. Within a maximal
//! run of `len` free seats, the leftmost block is clean unless `len ==
//! quantity + 1`, in which case every block in the run strands one seat. So the
//! first clean block of a row is the start of its first run whose length is at
//! least `quantity` and not `quantity + 1`.
//!
//! Cost: rows with fewer free seats than `quantity` are skipped by their
//! counter without touching their cells, so a nearly sold-out map is cheap;
//! a row that is scanned costs one pass over its (8-byte) cells.

use super::errors::ScheduleError;
use super::seat_map::{SeatIndex, SeatMap};
use super::seat_table::{SeatCell, SeatStatus, SeatTable};
use std::ops::Range;

/// Which sections a best-available request may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct SectionFilter<'a> {
    grade: Option<&'a str>,
    section: Option<u32>,
}

impl<'a> SectionFilter<'a> {
    /// Refuses a grade or section the layout does not have, and a section
    /// whose grade is not the requested one (nothing could ever match).
    pub fn new(
        map: &SeatMap,
        grade: Option<&'a str>,
        section_id: Option<&str>,
    ) -> Result<Self, ScheduleError> {
        let section = match section_id {
            None => None,
            Some(id) => Some(
                map.section_index(id)
                    .ok_or(ScheduleError::InvalidSelection("unknown section"))?,
            ),
        };
        if let Some(grade) = grade {
            if !(0..map.section_count()).any(|s| map.section_grade(s) == grade) {
                return Err(ScheduleError::InvalidSelection("unknown grade"));
            }
            if section.is_some_and(|s| map.section_grade(s) != grade) {
                return Err(ScheduleError::InvalidSelection(
                    "the section does not have that grade",
                ));
            }
        }
        Ok(SectionFilter { grade, section })
    }

    /// Candidate sections, best first; each still has to pass `admits`.
    fn candidates(&self, map: &SeatMap) -> Range<u32> {
        match self.section {
            Some(section) => section..section + 1,
            None => 0..map.section_count(),
        }
    }

    fn admits(&self, map: &SeatMap, section: u32) -> bool {
        self.grade
            .is_none_or(|grade| map.section_grade(section) == grade)
    }
}

/// The seats of the best block, in seat order; `None` when no row has one.
pub(super) fn find_block(
    map: &SeatMap,
    table: &SeatTable,
    quantity: u32,
    filter: &SectionFilter<'_>,
) -> Option<Vec<SeatIndex>> {
    debug_assert!(quantity > 0);
    for section in filter
        .candidates(map)
        .filter(|&section| filter.admits(map, section))
    {
        if let Some(first) =
            best_block_in_section(map, table, map.section(section).rows.clone(), quantity)
        {
            let block: Vec<SeatIndex> = (first..first + quantity).map(SeatIndex).collect();
            debug_assert!(block.iter().all(|&seat| table.is_available(seat)));
            debug_assert!(block
                .iter()
                .all(|&seat| map.row_of(seat) == map.row_of(block[0])));
            return Some(block);
        }
    }
    None
}

/// First seat of the section's first clean block, else of its first stranding block.
fn best_block_in_section(
    map: &SeatMap,
    table: &SeatTable,
    rows: Range<u32>,
    quantity: u32,
) -> Option<u32> {
    let mut first_stranding = None;
    let runs = table.runs();
    for row in rows {
        if table.free_in_row(row) < quantity {
            continue;
        }
        let span = map.row(row);
        let range = span.seat_range();
        let cells = &table.cells()[range.start as usize..range.end as usize];
        // Rows the run lengths rule out are skipped unscanned (debug builds
        // check that the scan agrees); the scan below still picks the seats.
        if !runs.may_fit(row, quantity)
            || (first_stranding.is_some() && !runs.may_fit_cleanly(row, quantity))
        {
            debug_assert!(
                scan_row(cells, quantity as usize).clean.is_none()
                    && (first_stranding.is_some()
                        || scan_row(cells, quantity as usize).stranding.is_none()),
                "row {row} skipped but has a block of {quantity}"
            );
            continue;
        }
        let scan = scan_row(cells, quantity as usize);
        if let Some(offset) = scan.clean {
            return Some(span.first_seat + offset as u32);
        }
        if first_stranding.is_none() {
            first_stranding = scan.stranding.map(|offset| span.first_seat + offset as u32);
        }
    }
    first_stranding
}

/// Offset (in the row) of the first clean block; `stranding` is the first
/// stranding block's offset, filled only when the row has no clean block.
#[derive(Debug, PartialEq, Eq)]
struct RowScan {
    clean: Option<usize>,
    stranding: Option<usize>,
}

fn scan_row(cells: &[SeatCell], quantity: usize) -> RowScan {
    let mut stranding = None;
    let mut run_start = 0;
    for end in 0..=cells.len() {
        if end < cells.len() && cells[end].status == SeatStatus::Available {
            continue;
        }
        // Seats run_start..end are a maximal run of free seats.
        let len = end - run_start;
        if len >= quantity {
            if len != quantity + 1 {
                return RowScan {
                    clean: Some(run_start),
                    stranding: None,
                };
            }
            stranding.get_or_insert(run_start);
        }
        run_start = end + 1;
    }
    RowScan {
        clean: None,
        stranding,
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_fixture::*;
    use super::super::*;
    use super::{scan_row, RowScan};
    use crate::layout::{RowLayout, SeatLayout, SectionLayout};
    use crate::Money;

    /// Cells from a picture: `.` free, `x` taken.
    fn cells(picture: &str) -> Vec<super::SeatCell> {
        picture
            .chars()
            .map(|c| super::SeatCell {
                status: if c == '.' {
                    SeatStatus::Available
                } else {
                    SeatStatus::Sold
                },
                holder: if c == '.' {
                    super::super::seat_table::NO_HOLDER
                } else {
                    0
                },
            })
            .collect()
    }

    fn scan(picture: &str, quantity: usize) -> RowScan {
        scan_row(&cells(picture), quantity)
    }

    #[test]
    fn row_scan_prefers_blocks_that_strand_no_seat() {
        // Seat 1 taken, 3 wanted from 4 free: every block strands one seat; the first is 2-4.
        assert_eq!(
            scan("x....", 3),
            RowScan {
                clean: None,
                stranding: Some(1)
            }
        );
        // An exact fit strands nothing.
        assert_eq!(
            scan("x...x", 3),
            RowScan {
                clean: Some(1),
                stranding: None
            }
        );
        // Two or more left over on the right is fine.
        assert_eq!(
            scan(".....", 3),
            RowScan {
                clean: Some(0),
                stranding: None
            }
        );
        // The first run would strand; the later exact run does not.
        assert_eq!(
            scan("x...x..x..", 2),
            RowScan {
                clean: Some(5),
                stranding: None
            }
        );
        assert_eq!(
            scan("x...x.....", 2),
            RowScan {
                clean: Some(5),
                stranding: None
            }
        );
        assert_eq!(
            scan("x...x..x.", 2),
            RowScan {
                clean: Some(5),
                stranding: None
            }
        );
        assert_eq!(
            scan("x...x...", 2),
            RowScan {
                clean: None,
                stranding: Some(1)
            }
        );
        // Free seats that are not adjacent are no block.
        assert_eq!(
            scan(".x.x.x.", 2),
            RowScan {
                clean: None,
                stranding: None
            }
        );
        assert_eq!(
            scan("..", 3),
            RowScan {
                clean: None,
                stranding: None
            }
        );
        // A single seat next to a gap of one strands; an isolated one does not.
        assert_eq!(
            scan("..x.x", 1),
            RowScan {
                clean: Some(3),
                stranding: None
            }
        );
        assert_eq!(
            scan("..x..", 1),
            RowScan {
                clean: None,
                stranding: Some(0)
            }
        );
    }

    /// A section per (id, grade, rows of seats).
    fn layout(sections: &[(&str, &str, &[u32])]) -> SeatLayout {
        SeatLayout {
            sections: sections
                .iter()
                .enumerate()
                .map(|(i, (id, grade, rows))| SectionLayout {
                    section_id: id.to_string(),
                    grade: grade.to_string(),
                    price: Money(1_000 * (10 - i as i64)),
                    rows: rows
                        .iter()
                        .enumerate()
                        .map(|(r, &seats)| RowLayout {
                            row: format!("{}", r + 1),
                            seats,
                        })
                        .collect(),
                })
                .collect(),
        }
    }

    /// Reservation number of holds that are expected to be refused.
    const REFUSED: u32 = 900_000;

    fn relaxed(layout: SeatLayout) -> Schedule {
        let rules = ScheduleRules {
            max_seats_per_user: MAX_SEATS_PER_USER_LIMIT,
            ..ScheduleRules::default()
        };
        with_rules(layout, rules)
    }

    fn sell(s: &mut Schedule, ids: &[&str]) {
        let seats: Vec<SeatIndex> = ids.iter().map(|id| seat(s, id)).collect();
        let n = 1_000 + s.reservations().count() as u32;
        sell_seats(s, &seats, n);
    }

    fn best(
        s: &mut Schedule,
        quantity: u32,
        grade: Option<&str>,
        section: Option<&str>,
    ) -> Vec<String> {
        let n = 10_000 + s.reservations().count() as u32;
        let event = hold_best(s, n, user(n), quantity, grade, section, T0).expect("a block");
        s.check_invariants().expect("invariants");
        held_ids(s, &event)
    }

    #[test]
    fn takes_adjacent_seats_front_row_first() {
        let mut s = relaxed(layout(&[("A", "R", &[10, 10])]));
        sell(&mut s, &["A-1-3", "A-1-8"]);
        // Row 1: free runs 1-2, 4-7, 9-10. Four seats fit only in 4-7.
        assert_eq!(
            best(&mut s, 4, None, None),
            ["A-1-4", "A-1-5", "A-1-6", "A-1-7"]
        );
        // Row 1 now has 1-2 and 9-10: two fit exactly at 1-2.
        assert_eq!(best(&mut s, 2, None, None), ["A-1-1", "A-1-2"]);
        // Three no longer fit in row 1.
        assert_eq!(best(&mut s, 3, None, None), ["A-2-1", "A-2-2", "A-2-3"]);
    }

    #[test]
    fn avoids_a_stranded_seat_when_the_section_allows() {
        // Row 1 of 5 with seat 1 taken: 2-4 would strand 5, 3-5 would strand 2.
        // Row 2 is empty, so 1-3 (leaving 4-5 together) is chosen.
        let mut s = relaxed(layout(&[("A", "R", &[5, 5])]));
        sell(&mut s, &["A-1-1"]);
        assert_eq!(best(&mut s, 3, None, None), ["A-2-1", "A-2-2", "A-2-3"]);
    }

    #[test]
    fn strands_a_seat_when_that_is_the_only_block_in_the_section() {
        let mut s = relaxed(layout(&[("A", "R", &[5]), ("B", "S", &[5])]));
        sell(&mut s, &["A-1-1"]);
        // The better section wins over avoiding a stray seat; its first block is 2-4.
        assert_eq!(best(&mut s, 3, None, None), ["A-1-2", "A-1-3", "A-1-4"]);
        assert_eq!(s.seat_status(seat(&s, "A-1-5")), SeatStatus::Available);
    }

    #[test]
    fn a_clean_block_in_a_later_row_beats_a_stranding_one_in_front() {
        let mut s = relaxed(layout(&[("A", "R", &[6, 6, 6])]));
        // Row 1: x....x  (run of 4 for 3 seats: strands). Row 2: full. Row 3: free.
        sell(
            &mut s,
            &[
                "A-1-1", "A-1-6", "A-2-1", "A-2-2", "A-2-3", "A-2-4", "A-2-5", "A-2-6",
            ],
        );
        assert_eq!(best(&mut s, 3, None, None), ["A-3-1", "A-3-2", "A-3-3"]);
    }

    #[test]
    fn sections_are_searched_best_first() {
        let mut s = relaxed(layout(&[
            ("A", "R", &[4]),
            ("B", "R", &[4]),
            ("C", "R", &[4]),
        ]));
        sell(&mut s, &["A-1-2", "A-1-3"]);
        // A has only single seats left; B is next.
        assert_eq!(best(&mut s, 2, None, None), ["B-1-1", "B-1-2"]);
        assert_eq!(best(&mut s, 2, None, None), ["B-1-3", "B-1-4"]);
        assert_eq!(best(&mut s, 1, None, None), ["A-1-1"]);
        assert_eq!(best(&mut s, 3, None, None), ["C-1-1", "C-1-2", "C-1-3"]);
    }

    #[test]
    fn grade_and_section_filters_restrict_the_search() {
        let mut s = relaxed(layout(&[
            ("A", "R", &[4]),
            ("B", "VIP", &[4]),
            ("C", "R", &[4]),
        ]));
        assert_eq!(best(&mut s, 2, Some("VIP"), None), ["B-1-1", "B-1-2"]);
        assert_eq!(best(&mut s, 2, None, Some("C")), ["C-1-1", "C-1-2"]);
        assert_eq!(best(&mut s, 2, Some("R"), Some("C")), ["C-1-3", "C-1-4"]);
        assert_eq!(
            best(&mut s, 4, Some("R"), None),
            ["A-1-1", "A-1-2", "A-1-3", "A-1-4"]
        );
        // Grade R is now full in both its sections, though VIP still has seats.
        assert_eq!(
            hold_best(&mut s, REFUSED, user(REFUSED), 1, Some("R"), None, T0),
            Err(ScheduleError::SeatUnavailable(vec![]))
        );
        assert_eq!(
            hold_best(
                &mut s,
                REFUSED,
                user(REFUSED),
                1,
                Some("VIP"),
                Some("A"),
                T0
            ),
            Err(ScheduleError::InvalidSelection(
                "the section does not have that grade"
            ))
        );
    }

    #[test]
    fn no_block_is_seat_unavailable_with_no_seats_listed() {
        let mut s = relaxed(layout(&[("A", "R", &[5])]));
        sell(&mut s, &["A-1-2", "A-1-4"]);
        // Three free seats, none adjacent.
        assert_eq!(s.counts().available, 3);
        let before = s.clone();
        assert_eq!(
            hold_best(&mut s, REFUSED, user(REFUSED), 2, None, None, T0),
            Err(ScheduleError::SeatUnavailable(vec![]))
        );
        assert_eq!(s, before);
        sell(&mut s, &["A-1-1", "A-1-3", "A-1-5"]);
        assert_eq!(
            hold_best(&mut s, REFUSED, user(REFUSED), 1, None, None, T0),
            Err(ScheduleError::SeatUnavailable(vec![]))
        );
    }

    #[test]
    fn finds_the_last_block_on_a_nearly_sold_out_50000_seat_map() {
        // 5 sections x 100 rows x 100 seats. Everything is sold except:
        // every other seat of the last row of each section (free, but no pairs), and
        // seats 40-44 of row 57 of section S3.
        let mut s = relaxed(SeatLayout::uniform(5, 100, 100));
        assert_eq!(s.seat_count(), 50_000);
        let keep_free = |id: &str| {
            let mut parts = id.split('-');
            let (_, row, number) = (parts.next(), parts.next(), parts.next());
            let number: u32 = number.and_then(|n| n.parse().ok()).unwrap_or(0);
            (row == Some("100") && number.is_multiple_of(2))
                || (id.starts_with("S3-57-") && (40..=44).contains(&number))
        };
        let to_sell: Vec<SeatIndex> = (0..s.seat_count())
            .map(SeatIndex)
            .filter(|&seat| !keep_free(&s.seat_id(seat)))
            .collect();
        sell_seats(&mut s, &to_sell, 1);
        let counts = s.counts();
        assert_eq!(counts.available, 5 * 50 + 5);
        assert!(
            counts.sold * 100 >= counts.total * 99,
            "99% sold: {counts:?}"
        );
        // Five free in a run: three leave two together, so 40-42 is clean.
        assert_eq!(
            best(&mut s, 3, None, None),
            ["S3-57-40", "S3-57-41", "S3-57-42"]
        );
        assert_eq!(best(&mut s, 2, None, None), ["S3-57-43", "S3-57-44"]);
        // Singles come from the best section's last row.
        assert_eq!(best(&mut s, 1, None, None), ["S0-100-2"]);
        assert_eq!(
            hold_best(&mut s, REFUSED, user(REFUSED), 2, None, None, T0),
            Err(ScheduleError::SeatUnavailable(vec![]))
        );
    }
}
