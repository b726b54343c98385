//! Catalogue reads as the API shows them: a concert with each schedule's seat
//! counts and sale status, a concert search (words, category, dates, sort,
//! paging), a concert's schedules filtered by date and availability; and the
//! defaults a new concert gets. A list's words go to the search index when
//! one is attached ([`ConcertTextIndex`]).
//!
//! The catalogue actor knows concerts; the seat counts live in each
//! schedule's actor, which publishes them on its handle's `SeatBoard` (see
//! `seat_board` for the freshness rule). A listing reads those boards: no
//! actor round trip, so its cost does not grow with the schedules' load. A
//! schedule the catalogue names but no actor owns fails the whole read:
//! showing "0 seats" for it would be a lie a client cannot tell from "sold out".

use boxoffice_engine::ids::{ConcertId, ScheduleId, UserId};
use boxoffice_engine::schedule::SeatCounts;
use boxoffice_engine::{Money, Timestamp};
use std::collections::HashSet;

use crate::catalog::NewConcert;
use crate::catalog_actor::{Concert, ConcertStatus, ScheduleInfo};
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
    /// The schedule was cancelled (whatever its booking window says).
    Cancelled,
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
    /// Joining its waiting room needs a verified e-mail address.
    pub require_verified_email: bool,
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
    pub status: ConcertStatus,
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
    /// List DRAFT concerts too (for admins: see `concert_lifecycle`).
    pub include_drafts: bool,
}

/// What answers the words of a concert list (`GET /concerts?q=`) from the
/// search index, so that the list and the search find the same concerts.
/// Attached with [`Registry::attach_text_index`]; the engine alone (tests,
/// `boxoffice load`) has none and scans substrings instead.
pub trait ConcertTextIndex: Send + Sync {
    /// The concerts whose title, description or venue match every word of
    /// `text`, or `None` while the index cannot answer (being built): the
    /// list then falls back to its substring scan rather than failing.
    fn matching(&self, text: &str) -> Option<TextMatches>;
}

/// The index's answer for a list's words.
#[derive(Clone, Debug, Default)]
pub struct TextMatches {
    pub ids: HashSet<ConcertId>,
    /// The index holds the catalogue's first `indexed` concerts in creation
    /// order (it follows the catalogue in that order). Concerts created since
    /// its last commit (milliseconds) are matched by the substring scan, so
    /// a list never misses a concert the catalogue has.
    pub indexed: usize,
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

/// The cheapest and the dearest grade's price (0 and 0 without grades).
fn price_range(concert: &Concert) -> (Money, Money) {
    let prices = || concert.price_grades.iter().map(|g| g.price);
    (
        prices().min().unwrap_or(Money::ZERO),
        prices().max().unwrap_or(Money::ZERO),
    )
}

fn first_starts_at(concert: &Concert) -> Option<Timestamp> {
    concert.schedules.iter().map(|s| s.starts_at).min()
}

impl ConcertSearch {
    /// The search's words, lower-cased once per search.
    fn words(&self) -> Vec<String> {
        self.text
            .split_whitespace()
            .map(str::to_lowercase)
            .collect()
    }

    fn matches(&self, concert: &Concert, words: &[String]) -> bool {
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
        (self.include_drafts || !concert.status.is_draft())
            && category
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
            ConcertSort::Price => price_range(a).0.cmp(&price_range(b).0),
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
    /// Seat counts of many schedules, as their actors last published them
    /// (`seat_board`: no round trip). A schedule the catalogue names but no
    /// actor owns is an internal error, not a missing resource the client
    /// asked for.
    fn counts_of(&self, schedules: &[&ScheduleInfo]) -> EngineResult<Vec<SeatCounts>> {
        let ids: Vec<ScheduleId> = schedules.iter().map(|info| info.schedule_id).collect();
        self.schedules()
            .seat_counts(&ids)
            .into_iter()
            .zip(&ids)
            .map(|(counts, &id)| counts.ok_or_else(|| missing_schedule(id)))
            .collect()
    }

    /// As the schedule's actor last published it (`seat_board`).
    fn schedule_cancelled(&self, id: ScheduleId) -> bool {
        self.schedule(id)
            .is_ok_and(|handle| handle.seats.cancelled())
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
                status: if self.schedule_cancelled(info.schedule_id) {
                    SaleStatus::Cancelled
                } else {
                    SaleStatus::of(info, counts, now)
                },
                require_verified_email: self.drafts().requires_verified_email(info.schedule_id),
            })
            .collect()
    }

    pub(crate) async fn detail_of(&self, concert: Concert) -> EngineResult<ConcertDetail> {
        let schedules: Vec<&ScheduleInfo> = concert.schedules.iter().collect();
        let counts = self.counts_of(&schedules)?;
        let schedules = self.listings(&schedules, counts);
        Ok(ConcertDetail { concert, schedules })
    }

    /// The concert with its schedules' counts and statuses, or
    /// `NotFound(Concert)` (also for a DRAFT that `viewer` may not see).
    pub async fn concert_detail(
        &self,
        concert_id: ConcertId,
        viewer: Option<UserId>,
    ) -> EngineResult<ConcertDetail> {
        let concert = self.visible_concert(concert_id, viewer).await?;
        self.detail_of(concert).await
    }

    /// Creates the concert (see `create_concert`) and answers it as
    /// [`Registry::concert_detail`] would.
    pub async fn create_concert_detail(
        &self,
        new: NewConcert,
        status: ConcertStatus,
        verified_email: &[bool],
    ) -> EngineResult<ConcertDetail> {
        let concert = self
            .create_concert_requiring(new, status, verified_email)
            .await?;
        self.detail_of(concert).await
    }

    /// One page (`offset`, at most `limit`) of the concerts matching `search`,
    /// in its order, and how many match in all. Only the page's schedules are
    /// asked for counts. The words are matched by the attached
    /// [`ConcertTextIndex`] (the search index); without one, or while it
    /// cannot answer, by the substring scan of [`ConcertSearch::text`].
    pub async fn search_concerts(
        &self,
        search: &ConcertSearch,
        offset: usize,
        limit: usize,
    ) -> EngineResult<(Vec<ConcertSummary>, usize)> {
        let concerts = self.concerts().await?;
        let indexed = match self.text_index() {
            Some(index) if !search.text.trim().is_empty() => index.matching(&search.text),
            _ => None,
        };
        let words = search.words();
        let mut matching: Vec<&Concert> = concerts
            .iter()
            .enumerate()
            .filter(|(n, c)| match &indexed {
                // The index holds drafts unpublished (never matched): an
                // admin's list matches them by the scan below.
                Some(found) if *n < found.indexed && !c.status.is_draft() => {
                    found.ids.contains(&c.concert_id) && search.matches(c, &[])
                }
                _ => search.matches(c, &words),
            })
            .map(|(_, c)| c)
            .collect();
        matching.sort_by(|a, b| search.order(a, b));
        let total = matching.len();
        let page: Vec<&Concert> = matching.into_iter().skip(offset).take(limit).collect();
        Ok((self.summaries(&page).await?, total))
    }

    /// The list lines of the concerts named, in that order (a search's page);
    /// an id the catalogue does not know is left out.
    pub async fn concert_summaries(
        &self,
        ids: Vec<ConcertId>,
    ) -> EngineResult<Vec<ConcertSummary>> {
        let concerts = self.concerts_named(ids).await?;
        self.summaries(&concerts.iter().collect::<Vec<_>>()).await
    }

    /// The list lines of `page`, in its order, with each one's seats over all
    /// its schedules.
    async fn summaries(&self, page: &[&Concert]) -> EngineResult<Vec<ConcertSummary>> {
        let schedules: Vec<&ScheduleInfo> = page.iter().flat_map(|c| &c.schedules).collect();
        let mut counts = self.counts_of(&schedules)?.into_iter();
        Ok(page
            .iter()
            .map(|c| {
                let (min_price, max_price) = price_range(c);
                ConcertSummary {
                    concert_id: c.concert_id,
                    title: c.title.clone(),
                    category: c.category.clone(),
                    venue_name: c.venue_name.clone(),
                    first_starts_at: first_starts_at(c),
                    min_price,
                    max_price,
                    // `counts` is in the order of `schedules`: concert by concert.
                    available_seats: counts
                        .by_ref()
                        .take(c.schedules.len())
                        .map(|n| n.available)
                        .sum(),
                    status: c.status,
                }
            })
            .collect())
    }

    /// One schedule as listings show it, with the concert it belongs to, or
    /// `NotFound(Schedule)` (also a DRAFT's, for a `viewer` who may not see
    /// it). Pages that know only a schedule id start here: whether it is
    /// gated must be known before its seat map is asked for (a gated map
    /// answers 401/403 to a caller without an ACTIVE queue token).
    pub async fn schedule_detail(
        &self,
        schedule_id: ScheduleId,
        viewer: Option<UserId>,
    ) -> EngineResult<(ConcertId, ScheduleListing)> {
        self.reachable(schedule_id, viewer)?;
        let (concert, info) = self.schedule_info(schedule_id).await?;
        let counts = self.counts_of(&[&info])?;
        let listing = self
            .listings(&[&info], counts)
            .pop()
            .ok_or_else(|| missing_schedule(schedule_id))?;
        Ok((concert.concert_id, listing))
    }

    /// The concert's schedules that pass `filter`, in the concert's order,
    /// or `NotFound(Concert)` (also for a DRAFT that `viewer` may not see).
    pub async fn concert_schedules(
        &self,
        concert_id: ConcertId,
        filter: &ScheduleFilter,
        viewer: Option<UserId>,
    ) -> EngineResult<Vec<ScheduleListing>> {
        let concert = self.visible_concert(concert_id, viewer).await?;
        let schedules: Vec<&ScheduleInfo> = concert
            .schedules
            .iter()
            .filter(|s| starts_between(s, filter.from, filter.to))
            .collect();
        let counts = self.counts_of(&schedules)?;
        Ok(self
            .listings(&schedules, counts)
            .into_iter()
            .filter(|s| !filter.only_available || s.counts.available > 0)
            .collect())
    }
}

fn missing_schedule(schedule_id: ScheduleId) -> EngineError {
    EngineError::Internal(format!(
        "the catalogue names schedule {schedule_id}, which has no actor"
    ))
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

    mod through_the_registry {
        use super::super::*;
        use crate::catalog_actor::{CreateConcert, PriceGrade, VenueSection};
        use crate::{EngineConfig, IdSource, ManualClock, NewSchedule};
        use boxoffice_engine::ids::VenueId;
        use boxoffice_engine::layout::RowLayout;
        use boxoffice_storage::memory_store::MemoryStore;
        use std::sync::Arc;

        const T0: Timestamp = Timestamp(1_773_568_800_000);
        const DAY_MS: i64 = 86_400_000;

        async fn engine() -> Arc<Registry> {
            let clock = ManualClock::new(T0);
            Registry::start(
                Arc::new(MemoryStore::new()),
                Arc::new(clock),
                Arc::new(IdSource::seeded(7)),
                EngineConfig::default(),
            )
            .await
            .expect("engine starts")
        }

        fn concert(venue_id: VenueId, title: &str, price: i64, days: &[i64]) -> NewConcert {
            NewConcert {
                title: title.to_string(),
                description: String::new(),
                category: "MUSIC".to_string(),
                venue_id,
                price_grades: vec![PriceGrade {
                    grade: "A".to_string(),
                    price: Money(price),
                    section_ids: vec!["A".to_string()],
                }],
                schedules: days
                    .iter()
                    .map(|d| {
                        let starts = T0.plus_millis(d * DAY_MS);
                        NewSchedule {
                            starts_at: starts,
                            ends_at: starts.plus_millis(3_600_000),
                            booking_opens_at: T0,
                            booking_closes_at: starts,
                            queue: None,
                        }
                    })
                    .collect(),
                max_seats_per_user: DEFAULT_MAX_SEATS_PER_USER,
                hold_seconds: DEFAULT_HOLD_SECONDS,
                queue: None,
            }
        }

        #[actix_rt::test]
        async fn listings_carry_every_schedule_s_counts_and_a_failing_one_fails_the_read() {
            let registry = engine().await;
            let venue = registry
                .create_venue(
                    "Hall".into(),
                    "1 Main St".into(),
                    vec![VenueSection {
                        section_id: "A".into(),
                        name: "All".into(),
                        rows: vec![RowLayout {
                            row: "1".into(),
                            seats: 4,
                        }],
                    }],
                )
                .await
                .expect("venue");
            let spring = registry
                .create_concert_detail(
                    concert(venue.venue_id, "Spring Symphony", 50_000, &[10, 11]),
                    ConcertStatus::Published,
                    &[],
                )
                .await
                .expect("concert");
            assert_eq!(spring.schedules.len(), 2);
            assert!(spring
                .schedules
                .iter()
                .all(|s| s.counts.available == 4 && s.status == SaleStatus::OnSale));
            registry
                .create_concert(concert(venue.venue_id, "Jazz Night", 30_000, &[5]))
                .await
                .expect("concert");

            let search = |text: &str, sort, descending| ConcertSearch {
                text: text.to_string(),
                sort,
                descending,
                ..ConcertSearch::default()
            };
            let titles =
                |page: &[ConcertSummary]| page.iter().map(|c| c.title.clone()).collect::<Vec<_>>();
            let (page, total) = registry
                .search_concerts(&search("", ConcertSort::StartsAt, false), 0, 10)
                .await
                .expect("search");
            assert_eq!(
                (titles(&page), total),
                (vec!["Jazz Night".into(), "Spring Symphony".into()], 2)
            );
            assert_eq!(page[1].available_seats, 8, "over both schedules");
            let (page, _) = registry
                .search_concerts(&search("", ConcertSort::Price, true), 0, 1)
                .await
                .expect("search");
            assert_eq!(titles(&page), vec!["Spring Symphony".to_string()]);
            let (page, total) = registry
                .search_concerts(
                    &search("SYMPHONY spring", ConcertSort::StartsAt, false),
                    0,
                    10,
                )
                .await
                .expect("search");
            assert_eq!((page.len(), total), (1, 1));

            let later = ScheduleFilter {
                from: Some(T0.plus_millis(11 * DAY_MS)),
                to: None,
                only_available: true,
            };
            let schedules = registry
                .concert_schedules(spring.concert.concert_id, &later, None)
                .await
                .expect("schedules");
            assert_eq!(schedules.len(), 1);

            // A concert naming a schedule no actor owns: an error, never "0 seats".
            let mut broken = spring.concert.clone();
            broken.concert_id = ConcertId::from_random_bytes([9; 16]);
            broken.schedules.truncate(1);
            broken.schedules[0].schedule_id = ScheduleId::from_random_bytes([9; 16]);
            registry
                .catalog()
                .command(CreateConcert(broken.clone(), Vec::new()))
                .await
                .expect("logged");
            assert!(matches!(
                registry.concert_detail(broken.concert_id, None).await,
                Err(EngineError::Internal(_))
            ));
            assert!(matches!(
                registry
                    .search_concerts(&ConcertSearch::default(), 0, 10)
                    .await,
                Err(EngineError::Internal(_))
            ));
        }
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
