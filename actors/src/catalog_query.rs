//! Catalogue reads as the API shows them: a concert with each schedule's seat
//! counts and sale status, a concert search (words, category, dates, sort,
//! paging), a concert's schedules filtered by date and availability; and the
//! defaults a new concert gets.
//!
//! The catalogue actor knows concerts; the seat counts live in each
//! schedule's actor. A listing therefore asks every schedule it shows for its
//! counts, all at once (one join of futures, not one round trip after the
//! other), and a schedule that cannot answer fails the whole read: showing
//! "0 seats" for a schedule that did not answer would be a lie a client
//! cannot tell from "sold out".

use boxoffice_engine::ids::{ConcertId, ScheduleId};
use boxoffice_engine::schedule::SeatCounts;
use boxoffice_engine::{Money, Timestamp};
use futures_util::future::try_join_all;

use crate::catalog::NewConcert;
use crate::catalog_actor::{Concert, ScheduleInfo};
use crate::error::{EngineError, EngineResult};
use crate::registry::Registry;

/// A concert's `maxSeatsPerUser` when the request leaves it out (API.md).
pub const DEFAULT_MAX_SEATS_PER_USER: u32 = 4;
/// A concert's `holdSeconds` when the request leaves it out (API.md).
pub const DEFAULT_HOLD_SECONDS: u32 = 300;

/// Where a schedule's sale stands now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SaleStatus {
    /// Booking has not opened yet.
    Upcoming,
    OnSale,
    /// Inside the booking window with no seat available.
    SoldOut,
    /// Booking has closed.
    Closed,
}

impl SaleStatus {
    /// The booking window decides first: a full schedule whose window closed is CLOSED, not SOLD_OUT.
    pub fn of(info: &ScheduleInfo, counts: SeatCounts, now: Timestamp) -> Self {
        if now < info.booking_opens_at {
            SaleStatus::Upcoming
        } else if now >= info.booking_closes_at {
            SaleStatus::Closed
        } else if counts.available == 0 {
            SaleStatus::SoldOut
        } else {
            SaleStatus::OnSale
        }
    }
}

/// A schedule as listings show it: its catalogue data, seat counts and sale status.
#[derive(Clone, Debug, PartialEq)]
pub struct ScheduleListing {
    pub info: ScheduleInfo,
    pub counts: SeatCounts,
    pub status: SaleStatus,
}

/// A concert with each of its schedules listed, in the concert's order.
#[derive(Clone, Debug, PartialEq)]
pub struct ConcertDetail {
    pub concert: Concert,
    pub schedules: Vec<ScheduleListing>,
}

/// One line of a concert search.
#[derive(Clone, Debug, PartialEq)]
pub struct ConcertSummary {
    pub concert_id: ConcertId,
    pub title: String,
    pub category: String,
    pub venue_name: String,
    /// The earliest schedule's start (none for a concert without schedules).
    pub first_starts_at: Option<Timestamp>,
    /// The cheapest and dearest grade (0 without grades).
    pub min_price: Money,
    pub max_price: Money,
    /// Over every schedule of the concert.
    pub available_seats: u32,
}

/// What a concert search sorts by; ties go by concert id, so pages are stable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ConcertSort {
    /// The earliest schedule's start.
    #[default]
    StartsAt,
    /// The cheapest grade.
    Price,
    CreatedAt,
}

/// A concert search. Empty fields match everything.
#[derive(Clone, Debug, Default)]
pub struct ConcertSearch {
    /// Compared ignoring ASCII case.
    pub category: Option<String>,
    /// Whitespace-separated words that must all appear (ignoring case) in the
    /// title, the description or the venue's name.
    pub text: String,
    /// Only concerts with a schedule starting at or after this.
    pub from: Option<Timestamp>,
    /// Only concerts with a schedule starting before this.
    pub to: Option<Timestamp>,
    pub sort: ConcertSort,
    pub descending: bool,
}

/// Which of a concert's schedules to list.
#[derive(Clone, Debug)]
pub struct ScheduleFilter {
    /// Only schedules starting at or after this.
    pub from: Option<Timestamp>,
    /// Only schedules starting before this.
    pub to: Option<Timestamp>,
    /// Only schedules with at least one available seat.
    pub only_available: bool,
}

fn starts_between(info: &ScheduleInfo, from: Option<Timestamp>, to: Option<Timestamp>) -> bool {
    from.is_none_or(|f| info.starts_at >= f) && to.is_none_or(|t| info.starts_at < t)
}

fn min_price(concert: &Concert) -> Money {
    Money(
        concert
            .price_grades
            .iter()
            .map(|g| g.price.0)
            .min()
            .unwrap_or(0),
    )
}

fn max_price(concert: &Concert) -> Money {
    Money(
        concert
            .price_grades
            .iter()
            .map(|g| g.price.0)
            .max()
            .unwrap_or(0),
    )
}

fn first_starts_at(concert: &Concert) -> Option<Timestamp> {
    concert.schedules.iter().map(|s| s.starts_at).min()
}

impl ConcertSearch {
    fn matches(&self, concert: &Concert) -> bool {
        let words: Vec<String> = self
            .text
            .split_whitespace()
            .map(str::to_lowercase)
            .collect();
        let category = self
            .category
            .as_deref()
            .is_none_or(|cat| concert.category.eq_ignore_ascii_case(cat));
        let text = || {
            format!(
                "{} {} {}",
                concert.title, concert.description, concert.venue_name
            )
            .to_lowercase()
        };
        category
            && (words.is_empty() || {
                let text = text();
                words.iter().all(|w| text.contains(w.as_str()))
            })
            && concert
                .schedules
                .iter()
                .any(|s| starts_between(s, self.from, self.to))
    }

    fn order(&self, a: &Concert, b: &Concert) -> std::cmp::Ordering {
        let ordering = match self.sort {
            ConcertSort::Price => min_price(a).cmp(&min_price(b)),
            ConcertSort::CreatedAt => a.created_at.cmp(&b.created_at),
            ConcertSort::StartsAt => first_starts_at(a).cmp(&first_starts_at(b)),
        };
        let ordering = ordering.then_with(|| a.concert_id.cmp(&b.concert_id));
        if self.descending {
            ordering.reverse()
        } else {
            ordering
        }
    }
}

impl NewConcert {
    /// `maxSeatsPerUser` and `holdSeconds` as given, or their defaults.
    pub fn limits_or_defaults(
        max_seats_per_user: Option<u32>,
        hold_seconds: Option<u32>,
    ) -> (u32, u32) {
        (
            max_seats_per_user.unwrap_or(DEFAULT_MAX_SEATS_PER_USER),
            hold_seconds.unwrap_or(DEFAULT_HOLD_SECONDS),
        )
    }
}

impl Registry {
    /// Seat counts of many schedules, asked concurrently; the first failure
    /// fails the whole. A schedule the catalogue names but no actor owns is
    /// an internal error, not a missing resource the client asked for.
    async fn counts_of(&self, schedules: &[&ScheduleInfo]) -> EngineResult<Vec<SeatCounts>> {
        try_join_all(schedules.iter().map(|info| async move {
            self.seat_counts(info.schedule_id)
                .await
                .map_err(|err| named_schedule_error(info.schedule_id, err))
        }))
        .await
    }

    fn listings(
        &self,
        schedules: &[&ScheduleInfo],
        counts: Vec<SeatCounts>,
    ) -> Vec<ScheduleListing> {
        let now = self.context().clock.now();
        schedules
            .iter()
            .zip(counts)
            .map(|(info, counts)| ScheduleListing {
                info: (*info).clone(),
                counts,
                status: SaleStatus::of(info, counts, now),
            })
            .collect()
    }

    async fn detail(&self, concert: Concert) -> EngineResult<ConcertDetail> {
        let schedules: Vec<&ScheduleInfo> = concert.schedules.iter().collect();
        let counts = self.counts_of(&schedules).await?;
        let schedules = self.listings(&schedules, counts);
        Ok(ConcertDetail { concert, schedules })
    }

    /// The concert with its schedules' counts and statuses, or `NotFound(Concert)`.
    pub async fn concert_detail(&self, concert_id: ConcertId) -> EngineResult<ConcertDetail> {
        let concert = self.concert(concert_id).await?;
        self.detail(concert).await
    }

    /// Creates the concert (see `create_concert`) and answers it as
    /// [`Registry::concert_detail`] would.
    pub async fn create_concert_detail(&self, new: NewConcert) -> EngineResult<ConcertDetail> {
        let concert = self.create_concert(new).await?;
        self.detail(concert).await
    }

    /// One page (`offset`, at most `limit`) of the concerts matching `search`,
    /// in its order, and how many match in all. Only the page's schedules are
    /// asked for counts.
    pub async fn search_concerts(
        &self,
        search: &ConcertSearch,
        offset: usize,
        limit: usize,
    ) -> EngineResult<(Vec<ConcertSummary>, usize)> {
        let concerts = self.concerts().await?;
        let mut matching: Vec<&Concert> = concerts.iter().filter(|c| search.matches(c)).collect();
        matching.sort_by(|a, b| search.order(a, b));
        let total = matching.len();
        let page: Vec<&Concert> = matching.into_iter().skip(offset).take(limit).collect();
        let schedules: Vec<&ScheduleInfo> = page.iter().flat_map(|c| &c.schedules).collect();
        let mut counts = self.counts_of(&schedules).await?.into_iter();
        let summaries = page
            .into_iter()
            .map(|c| ConcertSummary {
                concert_id: c.concert_id,
                title: c.title.clone(),
                category: c.category.clone(),
                venue_name: c.venue_name.clone(),
                first_starts_at: first_starts_at(c),
                min_price: min_price(c),
                max_price: max_price(c),
                // `counts` is in the order of `schedules`: concert by concert.
                available_seats: counts
                    .by_ref()
                    .take(c.schedules.len())
                    .map(|n| n.available)
                    .sum(),
            })
            .collect();
        Ok((summaries, total))
    }

    /// The concert's schedules that pass `filter`, in the concert's order, or `NotFound(Concert)`.
    pub async fn concert_schedules(
        &self,
        concert_id: ConcertId,
        filter: &ScheduleFilter,
    ) -> EngineResult<Vec<ScheduleListing>> {
        let concert = self.concert(concert_id).await?;
        let schedules: Vec<&ScheduleInfo> = concert
            .schedules
            .iter()
            .filter(|s| starts_between(s, filter.from, filter.to))
            .collect();
        let counts = self.counts_of(&schedules).await?;
        Ok(self
            .listings(&schedules, counts)
            .into_iter()
            .filter(|s| !filter.only_available || s.counts.available > 0)
            .collect())
    }
}

fn named_schedule_error(schedule_id: ScheduleId, err: EngineError) -> EngineError {
    match err {
        EngineError::NotFound(_) => EngineError::Internal(format!(
            "the catalogue names schedule {schedule_id}, which has no actor"
        )),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(opens: i64, closes: i64) -> ScheduleInfo {
        ScheduleInfo {
            schedule_id: ScheduleId::from_random_bytes([1; 16]),
            starts_at: Timestamp::from_millis(10_000),
            ends_at: Timestamp::from_millis(20_000),
            booking_opens_at: Timestamp::from_millis(opens),
            booking_closes_at: Timestamp::from_millis(closes),
            queue: None,
        }
    }

    fn counts(available: u32) -> SeatCounts {
        SeatCounts {
            total: 10,
            available,
            held: 0,
            sold: 10 - available,
        }
    }

    #[test]
    fn the_booking_window_decides_before_the_seats() {
        let s = info(1_000, 2_000);
        let at = Timestamp::from_millis;
        assert_eq!(SaleStatus::of(&s, counts(3), at(999)), SaleStatus::Upcoming);
        assert_eq!(SaleStatus::of(&s, counts(3), at(1_000)), SaleStatus::OnSale);
        assert_eq!(
            SaleStatus::of(&s, counts(0), at(1_500)),
            SaleStatus::SoldOut
        );
        assert_eq!(SaleStatus::of(&s, counts(0), at(2_000)), SaleStatus::Closed);
        assert_eq!(SaleStatus::of(&s, counts(3), at(2_000)), SaleStatus::Closed);
    }

    #[test]
    fn defaults_apply_only_to_what_is_left_out() {
        assert_eq!(
            NewConcert::limits_or_defaults(None, None),
            (DEFAULT_MAX_SEATS_PER_USER, DEFAULT_HOLD_SECONDS)
        );
        assert_eq!(NewConcert::limits_or_defaults(Some(2), Some(60)), (2, 60));
    }
}
