//! Catalogue operations as the API layer calls them: create and read venues
//! and concerts, and find the concert a schedule belongs to.
//!
//! Every rule of API.md's catalogue is checked here, before anything is
//! created, so a refused request leaves nothing behind. Creating a concert
//! then creates each of its schedules (a `ScheduleActor` with its own seat
//! layout) and only after all of them exist logs the concert. A crash in
//! between therefore leaves orphan schedules that no concert names: they
//! are invisible through the catalogue (`schedule_info` is `NotFound`), take
//! no bookings anyone can reach, and cost only their memory. The opposite
//! order could leave a concert whose schedules do not exist, which every
//! reader would trip over.

use boxoffice_engine::ids::*;
use boxoffice_engine::layout::{is_valid_name, SeatLayout, SectionLayout};
use boxoffice_engine::queue::QueueConfig;
use boxoffice_engine::schedule::{ScheduleRules, MAX_HOLD_MS, MAX_SEATS_PER_USER_LIMIT};
use boxoffice_engine::{Money, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

use std::sync::Arc;

use crate::catalog_actor::{
    CatalogCopy, Concert, ConcertStatus, CreateConcert, CreateVenue, FindSchedule, FollowCatalog,
    GetConcert, GetConcerts, GetVenue, ListConcerts, ListVenues, PriceGrade, ScheduleInfo, Venue,
    VenueSection,
};
use crate::catalog_feed::CatalogFollower;
use crate::entropy::IdSource;
use crate::error::{EngineError, EngineResult, Missing};
use crate::registry::Registry;
use crate::schedule_actor::ScheduleSpec;

/// Sections per venue.
pub const MAX_SECTIONS_PER_VENUE: usize = 100;
/// Rows per section: well below what the seat layout allows, so that one
/// venue request stays small.
pub const MAX_ROWS_PER_SECTION: usize = 500;
/// Venue name, in characters.
pub const MAX_VENUE_NAME_CHARS: usize = 200;
/// Venue address, in characters (one line).
pub const MAX_VENUE_ADDRESS_CHARS: usize = 500;
/// A section's display name, in characters.
pub const MAX_SECTION_NAME_CHARS: usize = 100;
/// Concert title, in characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// Concert description, in characters (may be several lines, may be empty).
pub const MAX_DESCRIPTION_CHARS: usize = 5_000;
/// Concert category, in characters.
pub const MAX_CATEGORY_CHARS: usize = 50;
/// Price grades per concert.
pub const MAX_PRICE_GRADES: usize = 50;
/// A price grade's name, in characters.
pub const MAX_GRADE_NAME_CHARS: usize = 32;
/// Highest price of one seat, so that a booking's total (at most 20 seats)
/// stays far from overflowing `Money`.
pub const MAX_SEAT_PRICE: Money = Money(1_000_000_000_000);
/// Schedules per concert.
pub const MAX_SCHEDULES_PER_CONCERT: usize = 100;
/// Longest hold, in seconds (API.md: holdSeconds 1-3600), from the engine's rule.
pub const MAX_HOLD_SECONDS: u32 = (MAX_HOLD_MS / 1_000) as u32;

/// A concert to create, as the API receives it (validated by `create_concert`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewConcert {
    pub title: String,
    pub description: String,
    pub category: String,
    pub venue_id: VenueId,
    pub price_grades: Vec<PriceGrade>,
    pub schedules: Vec<NewSchedule>,
    pub max_seats_per_user: u32,
    pub hold_seconds: u32,
    /// For every schedule that has no `queue` of its own.
    pub queue: Option<QueueConfig>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewSchedule {
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub booking_opens_at: Timestamp,
    pub booking_closes_at: Timestamp,
    /// Overrides the concert's `queue`.
    pub queue: Option<QueueConfig>,
}

impl Registry {
    /// Validates and creates a venue; its capacity is the total of its seats.
    pub async fn create_venue(
        &self,
        name: String,
        address: String,
        sections: Vec<VenueSection>,
    ) -> EngineResult<Venue> {
        let capacity = validate_venue(&name, &address, &sections)?;
        let venue = Venue {
            venue_id: VenueId::from_random_bytes(random_id_bytes(&self.context().ids)),
            name,
            address,
            sections,
            capacity,
            created_at: self.context().clock.now(),
        };
        self.catalog().command(CreateVenue(venue)).await
    }

    /// The venue, or `NotFound(Venue)`.
    pub async fn venue(&self, venue_id: VenueId) -> EngineResult<Venue> {
        self.catalog()
            .query(GetVenue { venue_id })
            .await?
            .ok_or(EngineError::NotFound(Missing::Venue))
    }

    /// Creation order; returns the page (at most `MAX_CATALOG_PAGE`) and the total.
    pub async fn venues(&self, offset: usize, limit: usize) -> EngineResult<(Vec<Venue>, usize)> {
        self.catalog().query(ListVenues { offset, limit }).await
    }

    /// Validates the concert, creates each schedule, then logs the concert
    /// (see the module comment for why in that order). It is PUBLISHED.
    pub async fn create_concert(&self, new: NewConcert) -> EngineResult<Concert> {
        self.create_concert_as(new, ConcertStatus::Published).await
    }

    /// [`Registry::create_concert`] with the status given. A DRAFT's
    /// schedules are put on the `DraftBoard` before they are created, so no
    /// one but an admin can reach them at any moment.
    pub async fn create_concert_as(
        &self,
        new: NewConcert,
        status: ConcertStatus,
    ) -> EngineResult<Concert> {
        self.create_concert_requiring(new, status, &[]).await
    }

    /// [`Registry::create_concert_as`], where `verified_email[i]` says
    /// whether joining the waiting room of `new.schedules[i]` needs a
    /// verified e-mail address (missing: no). Such schedules are put on the
    /// board before they are created (as drafts are hidden), so no join
    /// escapes the rule; the rule is logged with the concert.
    pub async fn create_concert_requiring(
        &self,
        new: NewConcert,
        status: ConcertStatus,
        verified_email: &[bool],
    ) -> EngineResult<Concert> {
        let venue = self.venue(new.venue_id).await?;
        validate_concert(&new, &venue)?;
        let layout = schedule_layout(&venue, &new.price_grades);
        layout
            .validate()
            .map_err(|e| EngineError::Validation(e.to_string()))?;

        let ids = &self.context().ids;
        let concert_id = ConcertId::from_random_bytes(random_id_bytes(ids));
        let mut schedules = Vec::with_capacity(new.schedules.len());
        let mut requiring = Vec::new();
        for (i, schedule) in new.schedules.iter().enumerate() {
            let queue = schedule.queue.clone().or_else(|| new.queue.clone());
            let spec = ScheduleSpec {
                schedule_id: ids.schedule_id(),
                layout: layout.clone(),
                rules: ScheduleRules {
                    max_seats_per_user: new.max_seats_per_user,
                    hold_ms: i64::from(new.hold_seconds) * 1_000,
                    booking_opens_at: schedule.booking_opens_at,
                    booking_closes_at: schedule.booking_closes_at,
                },
                queue: queue.clone(),
            };
            if status.is_draft() {
                self.drafts().hide([spec.schedule_id]);
            }
            if verified_email.get(i).copied().unwrap_or(false) {
                self.drafts().require_verified_email([spec.schedule_id]);
                requiring.push(spec.schedule_id);
            }
            let schedule_id = self.create_schedule(spec).await?;
            schedules.push(ScheduleInfo {
                schedule_id,
                starts_at: schedule.starts_at,
                ends_at: schedule.ends_at,
                booking_opens_at: schedule.booking_opens_at,
                booking_closes_at: schedule.booking_closes_at,
                queue,
            });
        }
        let concert = Concert {
            concert_id,
            title: new.title,
            description: new.description,
            category: new.category,
            venue_id: venue.venue_id,
            venue_name: venue.name,
            price_grades: new.price_grades,
            schedules,
            max_seats_per_user: new.max_seats_per_user,
            hold_seconds: new.hold_seconds,
            queue: new.queue,
            created_at: self.context().clock.now(),
            status,
        };
        self.catalog()
            .command(CreateConcert(concert, requiring))
            .await
    }

    /// The concert, or `NotFound(Concert)`.
    pub async fn concert(&self, concert_id: ConcertId) -> EngineResult<Concert> {
        self.catalog()
            .query(GetConcert { concert_id })
            .await?
            .ok_or(EngineError::NotFound(Missing::Concert))
    }

    /// Every concert, in creation order (at most `MAX_CONCERTS`).
    pub async fn concerts(&self) -> EngineResult<Vec<Concert>> {
        self.catalog().query(ListConcerts).await
    }

    /// The concerts named that exist, in the order named.
    pub async fn concerts_named(&self, ids: Vec<ConcertId>) -> EngineResult<Vec<Concert>> {
        self.catalog().query(GetConcerts(ids)).await
    }

    /// Makes `follower` follow the catalogue's durable changes and answers
    /// the catalogue as it is now (see `catalog_feed`).
    pub async fn follow_catalog(
        &self,
        follower: Arc<dyn CatalogFollower>,
    ) -> EngineResult<CatalogCopy> {
        self.catalog().query(FollowCatalog(follower)).await
    }

    /// The concert a schedule belongs to and its catalogue data, or
    /// `NotFound(Schedule)` (also for an orphan schedule no concert names).
    pub async fn schedule_info(
        &self,
        schedule_id: ScheduleId,
    ) -> EngineResult<(Concert, ScheduleInfo)> {
        self.catalog()
            .query(FindSchedule { schedule_id })
            .await?
            .ok_or(EngineError::NotFound(Missing::Schedule))
    }
}

/// 16 random bytes for an id kind `IdSource` has no method for.
fn random_id_bytes(ids: &IdSource) -> [u8; 16] {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&ids.next_u64().to_le_bytes());
    bytes[8..].copy_from_slice(&ids.next_u64().to_le_bytes());
    bytes
}

fn invalid<T>(why: impl Into<String>) -> EngineResult<T> {
    Err(EngineError::Validation(why.into()))
}

/// A line of 1..=`max` characters, not blank, with no control characters.
fn check_line(field: &str, text: &str, max: usize) -> EngineResult<()> {
    if text.trim().is_empty() || text.chars().count() > max {
        return invalid(format!("{field} must be 1-{max} characters"));
    }
    if text.chars().any(char::is_control) {
        return invalid(format!("{field} must be one line of text"));
    }
    Ok(())
}

/// Checks a venue; returns its seat total.
fn validate_venue(name: &str, address: &str, sections: &[VenueSection]) -> EngineResult<u32> {
    check_line("name", name, MAX_VENUE_NAME_CHARS)?;
    check_line("address", address, MAX_VENUE_ADDRESS_CHARS)?;
    if sections.is_empty() || sections.len() > MAX_SECTIONS_PER_VENUE {
        return invalid(format!("a venue has 1-{MAX_SECTIONS_PER_VENUE} sections"));
    }
    let mut seen = HashSet::new();
    for section in sections {
        if !is_valid_name(&section.section_id) {
            return invalid(format!(
                "sectionId {:?} must be 1-32 ASCII letters or digits",
                section.section_id
            ));
        }
        if !seen.insert(section.section_id.as_str()) {
            return invalid(format!("sectionId {} appears twice", section.section_id));
        }
        check_line("section name", &section.name, MAX_SECTION_NAME_CHARS)?;
        if section.rows.is_empty() || section.rows.len() > MAX_ROWS_PER_SECTION {
            return invalid(format!(
                "section {} must have 1-{MAX_ROWS_PER_SECTION} rows",
                section.section_id
            ));
        }
        if let Some(row) = section.rows.iter().find(|r| !is_valid_name(&r.row)) {
            return invalid(format!(
                "row {:?} must be 1-32 ASCII letters or digits",
                row.row
            ));
        }
    }
    // Every section on sale at price 0 is the largest layout any concert can build here.
    let everything = SeatLayout {
        sections: sections
            .iter()
            .map(|s| SectionLayout {
                section_id: s.section_id.clone(),
                grade: s.section_id.clone(),
                price: Money::ZERO,
                rows: s.rows.clone(),
            })
            .collect(),
    };
    let seats = everything
        .validate()
        .map_err(|e| EngineError::Validation(e.to_string()))?;
    u32::try_from(seats).map_err(|_| EngineError::Internal("seat total exceeds u32".into()))
}

/// A concert's title: one line of 1-`MAX_TITLE_CHARS` characters.
pub(crate) fn check_title(title: &str) -> EngineResult<()> {
    check_line("title", title, MAX_TITLE_CHARS)
}

/// A concert's description: at most `MAX_DESCRIPTION_CHARS` characters.
pub(crate) fn check_description(description: &str) -> EngineResult<()> {
    if description.chars().count() > MAX_DESCRIPTION_CHARS {
        return invalid(format!(
            "description must be at most {MAX_DESCRIPTION_CHARS} characters"
        ));
    }
    Ok(())
}

/// A concert's category: one line of 1-`MAX_CATEGORY_CHARS` characters.
pub(crate) fn check_category(category: &str) -> EngineResult<()> {
    check_line("category", category, MAX_CATEGORY_CHARS)
}

fn validate_concert(new: &NewConcert, venue: &Venue) -> EngineResult<()> {
    check_title(&new.title)?;
    check_description(&new.description)?;
    check_category(&new.category)?;
    validate_price_grades(&new.price_grades, venue)?;
    if new.schedules.is_empty() || new.schedules.len() > MAX_SCHEDULES_PER_CONCERT {
        return invalid(format!(
            "a concert has 1-{MAX_SCHEDULES_PER_CONCERT} schedules"
        ));
    }
    for schedule in &new.schedules {
        if schedule.starts_at >= schedule.ends_at {
            return invalid("startsAt must be before endsAt");
        }
        if schedule.booking_opens_at >= schedule.booking_closes_at {
            return invalid("bookingOpensAt must be before bookingClosesAt");
        }
        if let Some(queue) = &schedule.queue {
            queue.validate().map_err(invalid_queue)?;
        }
    }
    if !(1..=MAX_SEATS_PER_USER_LIMIT).contains(&new.max_seats_per_user) {
        return invalid(format!(
            "maxSeatsPerUser must be 1-{MAX_SEATS_PER_USER_LIMIT}"
        ));
    }
    if !(1..=MAX_HOLD_SECONDS).contains(&new.hold_seconds) {
        return invalid(format!("holdSeconds must be 1-{MAX_HOLD_SECONDS}"));
    }
    if let Some(queue) = &new.queue {
        queue.validate().map_err(invalid_queue)?;
    }
    Ok(())
}

fn invalid_queue(why: &str) -> EngineError {
    EngineError::Validation(format!("queue: {why}"))
}

fn validate_price_grades(grades: &[PriceGrade], venue: &Venue) -> EngineResult<()> {
    if grades.is_empty() || grades.len() > MAX_PRICE_GRADES {
        return invalid(format!("a concert has 1-{MAX_PRICE_GRADES} price grades"));
    }
    let venue_sections: HashSet<&str> = venue
        .sections
        .iter()
        .map(|s| s.section_id.as_str())
        .collect();
    let mut names = HashSet::new();
    let mut graded = HashSet::new();
    for grade in grades {
        check_line("grade", &grade.grade, MAX_GRADE_NAME_CHARS)?;
        if !names.insert(grade.grade.as_str()) {
            return invalid(format!("grade {} appears twice", grade.grade));
        }
        if grade.price < Money::ZERO || grade.price > MAX_SEAT_PRICE {
            return invalid(format!(
                "the price of grade {} must be 0-{MAX_SEAT_PRICE}",
                grade.grade
            ));
        }
        if grade.section_ids.is_empty() {
            return invalid(format!("grade {} names no section", grade.grade));
        }
        for section in &grade.section_ids {
            if !venue_sections.contains(section.as_str()) {
                return invalid(format!("section {section} is not in the venue"));
            }
            if !graded.insert(section.as_str()) {
                return invalid(format!("section {section} is in more than one grade"));
            }
        }
    }
    Ok(())
}

/// The venue's sections that have a grade, in the venue's (best-first) order,
/// each with its grade's name and price. Sections without a grade are not on sale.
fn schedule_layout(venue: &Venue, grades: &[PriceGrade]) -> SeatLayout {
    let grade_of: HashMap<&str, &PriceGrade> = grades
        .iter()
        .flat_map(|g| g.section_ids.iter().map(move |s| (s.as_str(), g)))
        .collect();
    SeatLayout {
        sections: venue
            .sections
            .iter()
            .filter_map(|section| {
                let grade = grade_of.get(section.section_id.as_str())?;
                Some(SectionLayout {
                    section_id: section.section_id.clone(),
                    grade: grade.grade.clone(),
                    price: grade.price,
                    rows: section.rows.clone(),
                })
            })
            .collect(),
    }
}
