//! What the scenarios run against: one [`Target`] trait for every system the
//! harness measures, so each scenario is written once.
//!
//! - [`boxoffice`]: Boxoffice, in process (the engine's `Registry`, see
//!   [`in_process`]) or over HTTP (the whole server on loopback, see [`http`]);
//! - `crate::baselines`: PostgreSQL and Redis, seats as rows or keys.
//!
//! A target has two halves. The [`Target`] itself is shared (`Send + Sync`):
//! it sets a run up (schedules, wallets), watches it, and checks at the end
//! what the clients were told ([`Claims`]) against its own state. Each client
//! thread builds its own [`Client`] from it, because the HTTP client is not
//! `Send`; clients carry out the requests and map every answer to an
//! [`Outcome`], so all targets report the same outcome names.
//!
//! What a target cannot do (a baseline has no waiting room, no catalogue,
//! no best-available) it says in [`Features`], and the scenario works around
//! it as a client of such a system would (or refuses to run).

pub mod boxoffice;
pub mod http;
pub mod in_process;

use boxoffice_actors::queue_board::QueuePass;
use boxoffice_engine::ids::*;
use boxoffice_engine::queue::QueueConfig;
use boxoffice_engine::schedule::SeatSelection;
use boxoffice_search::sample::{SampleCatalogue, SampleQuery};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::invariants::{Check, MoneyAcks, QueueObservation};
use crate::stats::{Outcome, Window};

/// Virtual user `n` of a scenario `kind`. Boxoffice knows it by a
/// deterministic [`UserId`]; the baselines by the holder number `n + 1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct User {
    pub kind: u8,
    pub n: u64,
}

impl User {
    pub fn new(kind: u8, n: u64) -> User {
        User { kind, n }
    }

    pub fn id(self) -> UserId {
        let mut bytes = [0u8; 16];
        bytes[0] = 0xCE;
        bytes[1] = self.kind;
        bytes[8..].copy_from_slice(&self.n.to_be_bytes());
        UserId::from_random_bytes(bytes)
    }

    /// The baselines' user (and wallet) number: 1, 2, ...
    pub fn holder(self) -> i64 {
        self.n as i64 + 1
    }
}

/// A uniform seat layout, `sections` × `rows` × `per_row`. Seats are
/// numbered from 0, row after row, section after section, and named as
/// Boxoffice names them (`S<section>-<row>-<seat>`, rows and seats from 1);
/// the baselines store the numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seats {
    pub sections: u32,
    pub rows: u32,
    pub per_row: u32,
}

impl Seats {
    pub fn capacity(&self) -> u32 {
        self.sections * self.rows * self.per_row
    }

    /// Rows over every section.
    pub fn row_count(&self) -> u32 {
        self.sections * self.rows
    }

    /// The seat numbers of row `row` (0-based over every section), `from..to`.
    pub fn row_range(&self, row: u32) -> (u32, u32) {
        (row * self.per_row, (row + 1) * self.per_row)
    }

    pub fn name(&self, n: u32) -> String {
        let row = n / self.per_row;
        format!(
            "S{}-{}-{}",
            row / self.rows,
            row % self.rows + 1,
            n % self.per_row + 1
        )
    }

    /// The number of a seat named by [`Seats::name`]; None for another name.
    pub fn number(&self, name: &str) -> Option<u32> {
        let mut parts = name.strip_prefix('S')?.split('-');
        let section: u32 = parts.next()?.parse().ok()?;
        let row: u32 = parts.next()?.parse().ok()?;
        let seat: u32 = parts.next()?.parse().ok()?;
        let fits = parts.next().is_none()
            && section < self.sections
            && (1..=self.rows).contains(&row)
            && (1..=self.per_row).contains(&seat);
        fits.then(|| (section * self.rows + row - 1) * self.per_row + seat - 1)
    }
}

/// A section of a catalogue's venue: (id, rows, seats per row, price).
pub type VenueSpec = (&'static str, u32, u32, i64);

/// A schedule to create.
#[derive(Clone, Debug)]
pub struct NewSchedule {
    pub id: ScheduleId,
    pub seats: Seats,
    /// How long a hold lasts; None: the engine's default (5 minutes).
    pub hold_ms: Option<i64>,
    /// Most seats one user may hold; None: the engine's default.
    pub max_seats_per_user: Option<u32>,
    /// A waiting room in front of the schedule (needs [`Features::waiting_room`]).
    pub queue: Option<QueueConfig>,
    /// The waiting room opens this many seconds before booking does
    /// (`queue.preQueueSeconds`, 0-86,400); users who join before opening
    /// are PRE_QUEUE, then shuffled in at opening. None: no pre-queue.
    pub pre_queue_seconds: Option<u32>,
    /// Booking opens this long after the schedule is created
    /// (`bookingOpensAt`); None: open already, as before.
    pub booking_opens_in_ms: Option<i64>,
}

impl NewSchedule {
    /// Whether the schedule needs what only the API's concert creation
    /// says today: a pre-queue or an opening in the future.
    pub fn opens_later(&self) -> bool {
        self.pre_queue_seconds.is_some_and(|s| s > 0) || self.booking_opens_in_ms.is_some()
    }
}

/// What a target can do beyond holds, releases and payments.
#[derive(Clone, Copy, Debug)]
pub struct Features {
    /// Picks seats itself (`SeatSelection::BestAvailable`); without it, a
    /// client reads a row's free seats ([`Client::free_seats`]) and picks.
    pub best_available: bool,
    pub waiting_room: bool,
    /// Venues, concerts, the concert list, seat maps, wallet top-ups.
    pub catalogue: bool,
}

impl Features {
    pub const ALL: Features = Features {
        best_available: true,
        waiting_room: true,
        catalogue: true,
    };
    /// Holds of chosen seats, releases and payments only.
    pub const NONE: Features = Features {
        best_available: false,
        waiting_room: false,
        catalogue: false,
    };
}

/// A hold the target granted.
#[derive(Clone, Debug)]
pub struct Held {
    /// Boxoffice's reservation; the baselines know a hold by holder and seats.
    pub reservation_id: Option<ReservationId>,
    pub seats: Vec<String>,
    pub amount: i64,
}

/// What a user shows to prove its place in a waiting room (the
/// `Queue-Token` header): the engine's token id in process, or, over HTTP,
/// the `token` string exactly as the server sent it (an opaque signed
/// string; sent back verbatim, never parsed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueueCredential {
    /// In process: the place the engine's ticket proves (what HTTP signs).
    Pass(QueuePass),
    /// Over HTTP: the signed token string, sent back verbatim.
    Signed(String),
}

impl QueueCredential {
    /// The engine's token id, for a target that takes one (in process).
    pub fn id(&self) -> Option<QueueTokenId> {
        match self {
            QueueCredential::Pass(pass) => Some(pass.token),
            QueueCredential::Signed(_) => None,
        }
    }

    /// The `Queue-Token` header's value.
    pub fn header_value(&self) -> String {
        match self {
            QueueCredential::Pass(pass) => pass.token.to_string(),
            QueueCredential::Signed(token) => token.clone(),
        }
    }
}

/// A place in a waiting room, as one answer (join or poll) gave it.
#[derive(Clone, Debug)]
pub struct QueuePlace {
    pub token: QueueCredential,
    pub active: bool,
    /// PRE_QUEUE: the room is open but booking is not; no position yet.
    pub pre_queue: bool,
    /// None when the answer had none (PRE_QUEUE, or null).
    pub estimated_wait_seconds: Option<u64>,
    /// 1 = next in line, 0 = ACTIVE; None in PRE_QUEUE (or null).
    pub position: Option<u64>,
    /// How long the server asks the client to wait before polling again
    /// (`pollAfterMs`); None from a server that does not say.
    pub poll_after_ms: Option<u64>,
}

/// A payment a client was told succeeded: the schedule, who paid, the hold.
pub type Paid = (ScheduleId, User, Held);

/// The clients' own view of oversell, the same on every target: no seat in
/// two acknowledged payments.
pub fn check_paid_seats(paid: &[Paid]) -> Check {
    let seats: Vec<_> = paid
        .iter()
        .map(|(schedule, _, held)| (*schedule, held.seats.clone()))
        .collect();
    crate::invariants::check_paid_seats(&seats)
}

/// What the clients were told, for the end-of-run checks. Each field that is
/// set asks the target for the checks of that kind, against its own state.
#[derive(Default)]
pub struct Claims {
    /// Holds clients still have (won and not released), and how many hold
    /// requests got no answer (those may be live too).
    pub live_holds: Option<(Vec<(User, Held)>, u64)>,
    /// Payments acknowledged and not cancelled since, by schedule; and how
    /// many seats were in payments whose answer was lost.
    pub paid: Option<(Vec<Paid>, u64)>,
    pub money: Option<Arc<MoneyAcks>>,
    /// The waiting room of a schedule and what each user saw of it.
    pub admission: Option<(ScheduleId, Vec<(User, QueueObservation)>)>,
    /// Holds acknowledged and holds without an answer, over every schedule,
    /// when holds expire on their own (so "live" cannot be compared).
    pub holds_made: Option<(u64, u64)>,
}

/// The target's verdict on the claims, and what it counted on the way.
#[derive(Default)]
pub struct Verdict {
    pub checks: Vec<Check>,
    /// Seats sold, over every schedule.
    pub seats_sold: u64,
    /// Facts for the report (reservations by status, ...).
    pub facts: BTreeMap<String, Value>,
}

/// Something the harness measures. Set-up and checks go through here; each
/// client thread gets its own [`Client`].
pub trait Target: Send + Sync + 'static {
    type Client: Client + 'static;

    /// The report's `system`: "boxoffice", "pg-update", "redis-setnx-always", ...
    fn system(&self) -> String;

    fn features(&self) -> Features;

    /// One client thread's client, with at most `connections` connections
    /// (HTTP: its keep-alive pool; in process and the baselines: unused).
    fn client(&self, thread: usize, connections: usize) -> Self::Client;

    async fn create_schedule(&self, schedule: NewSchedule) -> Result<ScheduleId, String>;

    /// A catalogue of `schedules` schedules: a venue of `venue`'s sections
    /// and its concerts, holds of `hold_seconds`; needs [`Features::catalogue`].
    async fn create_catalogue(
        &self,
        _venue: &[VenueSpec],
        _schedules: usize,
        _hold_seconds: u32,
    ) -> Result<Vec<ScheduleId>, String> {
        Err(format!("{} has no catalogue", self.system()))
    }

    /// Loads the search scenario's catalogue (venues, concerts of one
    /// schedule each, booking open) and makes it searchable; returns the
    /// "now", in ms since the epoch, its days count from. Needs
    /// [`Features::catalogue`].
    async fn create_search_catalogue(&self, _catalogue: &SampleCatalogue) -> Result<i64, String> {
        Err(format!("{} has no catalogue", self.system()))
    }

    /// Gives users `0..users` of `kind` `amount` each, before the clock
    /// starts; returns how many wallets were funded.
    async fn fund(&self, kind: u8, users: usize, amount: i64) -> Result<usize, String>;

    /// Whether every seat of the schedule is sold, if the target can tell
    /// cheaply while clients run (the baselines cannot: None).
    async fn sold_out(&self, _schedule: ScheduleId) -> Option<bool> {
        None
    }

    /// Starts watching the target's server over `window` (or until `stop`);
    /// the facts it saw come back through the handle.
    fn observe(
        &self,
        _window: Window,
        _stop: Arc<AtomicBool>,
    ) -> Option<actix_rt::task::JoinHandle<BTreeMap<String, Value>>> {
        None
    }

    /// Checks the claims against the target's state; the clients have stopped.
    async fn verify(&self, claims: &Claims) -> Result<Verdict, String>;

    /// Connections the clients share, for the report.
    fn shared_connections(&self) -> Option<usize> {
        None
    }

    /// Stops the target and cleans up after it.
    async fn stop(self)
    where
        Self: Sized,
    {
    }
}

/// Waits for what [`Target::observe`] saw (nothing if it watched nothing).
pub async fn observed(
    observer: Option<actix_rt::task::JoinHandle<BTreeMap<String, Value>>>,
) -> Result<BTreeMap<String, Value>, String> {
    match observer {
        Some(handle) => handle.await.map_err(|e| format!("observer: {e}")),
        None => Ok(BTreeMap::new()),
    }
}

/// Creates `schedule`: through a client of the target's API when it opens
/// later or has a pre-queue and the client can ([`Client::create_schedule`]:
/// HTTP), else through [`Target::create_schedule`] (which may not know
/// those fields yet: the schedule then opens at once, without pre-queue).
pub async fn create_schedule<T: Target>(
    target: &T,
    schedule: NewSchedule,
) -> Result<ScheduleId, String> {
    if schedule.opens_later() {
        let client = target.client(0, 1);
        if let Some(created) = client.create_schedule(&schedule).await {
            return created;
        }
    }
    target.create_schedule(schedule).await
}

fn unsupported<T>() -> Result<T, Outcome> {
    Err(Outcome::Other)
}

/// One client thread's way of sending requests to a target. The operations
/// a target lacks answer [`Outcome::Other`] (the scenarios do not send them:
/// see [`Features`]).
pub trait Client {
    async fn hold(
        &self,
        user: User,
        schedule: ScheduleId,
        selection: SeatSelection,
        queue_token: Option<&QueueCredential>,
    ) -> Result<Held, Outcome>;

    /// Releases a hold or cancels a paid reservation; returns the refund (0 for a hold).
    async fn cancel(&self, user: User, held: &Held) -> Result<i64, Outcome>;

    /// Pays a hold; returns the amount paid.
    async fn pay(
        &self,
        user: User,
        held: &Held,
        queue_token: Option<&QueueCredential>,
    ) -> Result<i64, Outcome>;

    /// The free seats of row `row` (0-based over the schedule, see
    /// [`Seats::row_range`]): how a client picks where there is no best-available.
    async fn free_seats(
        &self,
        _user: User,
        _schedule: ScheduleId,
        _row: u32,
    ) -> Result<Vec<String>, Outcome> {
        unsupported()
    }

    async fn charge(&self, _user: User, _amount: i64) -> Result<(), Outcome> {
        unsupported()
    }

    async fn join(&self, _user: User, _schedule: ScheduleId) -> Result<QueuePlace, Outcome> {
        unsupported()
    }

    async fn poll(&self, _user: User, _token: &QueueCredential) -> Result<QueuePlace, Outcome> {
        unsupported()
    }

    /// The `Retry-After` of the last 503 answered to `user` (taken: asked
    /// again, None), if the target says; None from a target without one
    /// (in process). A user has one request in flight at a time, so this is
    /// the answer to its last request.
    fn take_retry_after(&self, _user: User) -> Option<std::time::Duration> {
        None
    }

    /// How long `user`'s last request waited for a free connection of this
    /// client's pool before it was sent, until taken; None from a target
    /// that does not say (in process, the baselines). The rest of the
    /// request's time was on the wire.
    fn take_conn_wait(&self, _user: User) -> Option<std::time::Duration> {
        None
    }

    /// Creates `schedule` through the target's own API (over HTTP: a venue
    /// and a concert, as an admin would), for what only the API can say (a
    /// pre-queue, a later opening; see [`NewSchedule::opens_later`]). None:
    /// this client cannot; set it up with [`Target::create_schedule`].
    async fn create_schedule(&self, _schedule: &NewSchedule) -> Option<Result<ScheduleId, String>> {
        None
    }

    /// A schedule's seat map (read and dropped).
    async fn seat_map(
        &self,
        _user: User,
        _schedule: ScheduleId,
        _section: Option<&str>,
    ) -> Result<(), Outcome> {
        unsupported()
    }

    /// The first page of the concert list.
    async fn concerts(&self) -> Result<(), Outcome> {
        unsupported()
    }

    /// A search of the sample mix, its days counted from `now_ms`; returns
    /// how many concerts match in all (`total`).
    async fn search(&self, _query: &SampleQuery, _now_ms: i64) -> Result<u64, Outcome> {
        unsupported()
    }

    /// An autocomplete of `q` (10 suggestions at most); returns how many came.
    async fn autocomplete(&self, _q: &str) -> Result<usize, Outcome> {
        unsupported()
    }
}

#[cfg(test)]
mod tests {
    use super::Seats;

    #[test]
    fn seat_names_and_numbers_round_trip() {
        let seats = Seats {
            sections: 5,
            rows: 2,
            per_row: 100,
        };
        assert_eq!(seats.name(0), "S0-1-1");
        assert_eq!(seats.name(199), "S0-2-100");
        assert_eq!(seats.name(200), "S1-1-1");
        for n in [0, 99, 100, 450, seats.capacity() - 1] {
            assert_eq!(seats.number(&seats.name(n)), Some(n));
        }
        assert_eq!(seats.number("S5-1-1"), None);
        assert_eq!(seats.number("S0-3-1"), None);
        assert_eq!(seats.number("S0-1-101"), None);
        assert_eq!(seats.row_range(2), (200, 300));
    }
}
