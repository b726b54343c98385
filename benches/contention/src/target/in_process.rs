//! Boxoffice's in-process client (see [`super::boxoffice`]): each operation
//! is one call on the engine's `Registry`, the same calls the HTTP handlers
//! make, minus HTTP, JSON, JWT and idempotency keys (which the engine API
//! makes optional).

use boxoffice_actors::queue_actor::QueueTicket;
use boxoffice_actors::{EngineError, HoldCommand, PayCommand, Registry};
use boxoffice_engine::ids::*;
use boxoffice_engine::queue::TokenStatus;
use boxoffice_engine::schedule::SeatSelection;
use boxoffice_engine::Money;
use boxoffice_search::sample::{self, SampleQuery};
use boxoffice_search::{SearchIndex, SearchRequest};
use std::sync::{Arc, OnceLock};

use super::{Client, Held, QueueCredential, QueuePlace, User};
use crate::stats::Outcome;

/// Concerts whose seat counts the list reads, as the HTTP list's first page does.
const CONCERT_PAGE: usize = 20;
/// Suggestions an autocomplete asks for (the API's default).
const AUTOCOMPLETE_LIMIT: usize = 10;

pub struct InProcess {
    registry: Arc<Registry>,
    /// The search index, once the search scenario has started it (as the
    /// HTTP server's start-up does; see `Boxoffice::create_search_catalogue`).
    search: SearchSlot,
}

/// Where the in-process target keeps its search index, shared by its clients.
pub type SearchSlot = Arc<OnceLock<SearchIndex>>;

/// The API's outcome for an engine error (error.rs of the HTTP crate, in short).
pub fn outcome_of(err: &EngineError) -> Outcome {
    match err {
        EngineError::SeatUnavailable(_) => Outcome::Conflict,
        EngineError::SeatLimitExceeded { .. } => Outcome::SeatLimit,
        EngineError::ReservationExpired => Outcome::Expired,
        EngineError::QueueNotActive => Outcome::QueueNotActive,
        EngineError::QueueTokenInvalid => Outcome::QueueTokenInvalid,
        EngineError::InsufficientBalance { .. } => Outcome::InsufficientBalance,
        EngineError::NotCancellable
        | EngineError::AlreadyPaid
        | EngineError::ReservationCancelled
        | EngineError::PaymentInProgress => Outcome::NotCancellable,
        EngineError::Unavailable => Outcome::Unavailable,
        _ => Outcome::Other,
    }
}

impl InProcess {
    pub fn new(registry: Arc<Registry>, search: SearchSlot) -> Self {
        InProcess { registry, search }
    }

    fn index(&self) -> Result<&SearchIndex, Outcome> {
        self.search.get().ok_or(Outcome::Other)
    }
}

impl Client for InProcess {
    async fn hold(
        &self,
        user: User,
        schedule_id: ScheduleId,
        selection: SeatSelection,
        queue_token: Option<&QueueCredential>,
    ) -> Result<Held, Outcome> {
        let command = HoldCommand {
            schedule_id,
            selection,
            queue_token: queue_token.and_then(QueueCredential::id),
            idem: None,
        };
        match self.registry.hold(user.id(), command).await {
            Ok(receipt) => Ok(Held {
                reservation_id: Some(receipt.reservation_id),
                seats: receipt.seats.into_iter().map(|s| s.seat_id).collect(),
                amount: receipt.total_amount.0,
            }),
            Err(err) => Err(outcome_of(&err)),
        }
    }

    async fn cancel(&self, user: User, held: &Held) -> Result<i64, Outcome> {
        let reservation = held.reservation_id.ok_or(Outcome::Other)?;
        match self.registry.cancel(user.id(), reservation).await {
            Ok(receipt) => Ok(receipt.refund_amount.0),
            Err(err) => Err(outcome_of(&err)),
        }
    }

    async fn pay(
        &self,
        user: User,
        held: &Held,
        queue_token: Option<&QueueCredential>,
    ) -> Result<i64, Outcome> {
        let command = PayCommand {
            reservation_id: held.reservation_id.ok_or(Outcome::Other)?,
            amount: None,
            queue_token: queue_token.and_then(QueueCredential::id),
            idem: None,
        };
        match self.registry.pay(user.id(), command).await {
            Ok(receipt) => Ok(receipt.amount.0),
            Err(err) => Err(outcome_of(&err)),
        }
    }

    async fn charge(&self, user: User, amount: i64) -> Result<(), Outcome> {
        match self.registry.charge(user.id(), Money(amount), None).await {
            Ok(_) => Ok(()),
            Err(err) => Err(outcome_of(&err)),
        }
    }

    async fn join(&self, user: User, schedule: ScheduleId) -> Result<QueuePlace, Outcome> {
        match self.registry.join_queue(user.id(), schedule).await {
            Ok(ticket) => Ok(place(&ticket)),
            Err(err) => Err(outcome_of(&err)),
        }
    }

    /// As `GET /queue/tokens/current`: only a WAITING or ACTIVE token is current.
    async fn poll(&self, user: User, token: &QueueCredential) -> Result<QueuePlace, Outcome> {
        let QueueCredential::Pass(pass) = token else {
            return Err(Outcome::QueueTokenInvalid);
        };
        match self.registry.poll_queue(user.id(), pass) {
            Ok(ticket) => Ok(place(&ticket)),
            Err(err) => Err(outcome_of(&err)),
        }
    }

    async fn seat_map(
        &self,
        user: User,
        schedule: ScheduleId,
        section: Option<&str>,
    ) -> Result<(), Outcome> {
        match self
            .registry
            .seat_map(
                schedule,
                Some((user.id(), None)),
                section.map(str::to_owned),
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(err) => Err(outcome_of(&err)),
        }
    }

    async fn concerts(&self) -> Result<(), Outcome> {
        let concerts = self.registry.concerts().await.map_err(|e| outcome_of(&e))?;
        for concert in concerts.iter().take(CONCERT_PAGE) {
            for schedule in &concert.schedules {
                self.registry
                    .seat_counts(schedule.schedule_id)
                    .await
                    .map_err(|e| outcome_of(&e))?;
            }
        }
        Ok(())
    }

    /// What the search handler does, minus HTTP and JSON: the index's
    /// page (queued for its query threads) and the page's list lines.
    async fn search(&self, query: &SampleQuery, now_ms: i64) -> Result<u64, Outcome> {
        let day = |days: Option<i64>| days.map(|d| now_ms + d * sample::DAY_MS);
        let request = SearchRequest {
            q: query.q.clone(),
            category: query.category.map(Into::into),
            min_price: query.min_price,
            max_price: query.max_price,
            from_ms: day(query.from_days),
            to_ms: day(query.to_days),
            location: None,
            offset: query.offset,
            limit: sample::PAGE,
        };
        let page = self
            .index()?
            .find_concerts(&self.registry, &request)
            .await
            .map_err(|e| outcome_of(&e))?;
        Ok(page.total as u64)
    }

    async fn autocomplete(&self, q: &str) -> Result<usize, Outcome> {
        let suggestions = self
            .index()?
            .queue_autocomplete(q.to_owned(), AUTOCOMPLETE_LIMIT)
            .answer()
            .await
            .map_err(|_| Outcome::Unavailable)?;
        Ok(suggestions.len())
    }
}

/// A place as the HTTP answer would show it (null position and ETA in PRE_QUEUE).
fn place(ticket: &QueueTicket) -> QueuePlace {
    let view = &ticket.view;
    let pre_queue = view.status == TokenStatus::PreQueue;
    QueuePlace {
        token: QueueCredential::Pass(ticket.pass),
        active: view.status == TokenStatus::Active,
        pre_queue,
        estimated_wait_seconds: (!pre_queue).then_some(view.estimated_wait_seconds),
        position: (!pre_queue).then_some(view.position),
        poll_after_ms: u64::try_from(view.poll_after_ms).ok(),
    }
}
