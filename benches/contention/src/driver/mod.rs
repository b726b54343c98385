//! How a scenario's client talks to Boxoffice: one set of operations, two
//! ways of carrying them out.
//!
//! - [`in_process`]: straight to the engine's `Registry` (the actors), no HTTP.
//! - [`http`]: real HTTP/1.1 requests over a keep-alive connection pool against
//!   the server the harness started on loopback.
//!
//! Scenarios are written once against [`Driver`]; every answer is mapped to
//! an [`Outcome`] so the two modes report the same outcome names. A driver
//! lives on one client thread (the HTTP client is not `Send`); each thread
//! builds its own from a [`DriverSpec`].

pub mod http;
pub mod in_process;

use boxoffice_actors::Registry;
use boxoffice_engine::ids::*;
use boxoffice_engine::schedule::SeatSelection;
use std::sync::Arc;

use crate::stats::Outcome;

/// A hold the engine granted.
#[derive(Clone, Debug)]
pub struct Held {
    pub reservation_id: ReservationId,
    pub seats: Vec<String>,
    pub amount: i64,
}

/// A place in a waiting room.
#[derive(Clone, Copy, Debug)]
pub struct QueuePlace {
    pub token: QueueTokenId,
    pub active: bool,
    pub estimated_wait_seconds: u64,
}

/// What a client thread needs to build its driver (`Send`, unlike the driver).
#[derive(Clone)]
pub enum DriverSpec {
    InProcess(Arc<Registry>),
    Http(http::HttpSpec),
}

impl DriverSpec {
    /// `connections`: the most connections this thread's pool may open.
    pub fn build(&self, thread: usize, connections: usize) -> Driver {
        match self {
            DriverSpec::InProcess(registry) => {
                Driver::InProcess(in_process::InProcess::new(Arc::clone(registry)))
            }
            DriverSpec::Http(spec) => {
                Driver::Http(http::HttpDriver::new(spec, thread, connections))
            }
        }
    }
}

pub enum Driver {
    InProcess(in_process::InProcess),
    Http(http::HttpDriver),
}

impl Driver {
    pub async fn hold(
        &self,
        user: UserId,
        schedule: ScheduleId,
        selection: SeatSelection,
        queue_token: Option<QueueTokenId>,
    ) -> Result<Held, Outcome> {
        match self {
            Driver::InProcess(d) => d.hold(user, schedule, selection, queue_token).await,
            Driver::Http(d) => d.hold(user, schedule, selection, queue_token).await,
        }
    }

    /// Returns the refunded amount (0 for a hold).
    pub async fn cancel(&self, user: UserId, reservation: ReservationId) -> Result<i64, Outcome> {
        match self {
            Driver::InProcess(d) => d.cancel(user, reservation).await,
            Driver::Http(d) => d.cancel(user, reservation).await,
        }
    }

    /// Returns the amount paid.
    pub async fn pay(
        &self,
        user: UserId,
        reservation: ReservationId,
        queue_token: Option<QueueTokenId>,
    ) -> Result<i64, Outcome> {
        match self {
            Driver::InProcess(d) => d.pay(user, reservation, queue_token).await,
            Driver::Http(d) => d.pay(user, reservation, queue_token).await,
        }
    }

    pub async fn charge(&self, user: UserId, amount: i64) -> Result<(), Outcome> {
        match self {
            Driver::InProcess(d) => d.charge(user, amount).await,
            Driver::Http(d) => d.charge(user, amount).await,
        }
    }

    pub async fn join(&self, user: UserId, schedule: ScheduleId) -> Result<QueuePlace, Outcome> {
        match self {
            Driver::InProcess(d) => d.join(user, schedule).await,
            Driver::Http(d) => d.join(user, schedule).await,
        }
    }

    pub async fn poll(&self, user: UserId, token: QueueTokenId) -> Result<QueuePlace, Outcome> {
        match self {
            Driver::InProcess(d) => d.poll(token).await,
            Driver::Http(d) => d.poll(user, token).await,
        }
    }

    pub async fn seat_map(
        &self,
        user: UserId,
        schedule: ScheduleId,
        section: Option<&str>,
    ) -> Result<(), Outcome> {
        match self {
            Driver::InProcess(d) => d.seat_map(user, schedule, section).await,
            Driver::Http(d) => d.seat_map(user, schedule, section).await,
        }
    }

    /// The first page of the concert list.
    pub async fn concerts(&self) -> Result<(), Outcome> {
        match self {
            Driver::InProcess(d) => d.concerts().await,
            Driver::Http(d) => d.concerts().await,
        }
    }
}
