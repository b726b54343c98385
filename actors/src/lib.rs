//! The actor layer of Boxoffice: actix actors around the pure engine.
//!
//! - [`schedule_actor`]: one `ScheduleActor` per schedule owns its seats and
//!   serializes holds, payments, cancellations, check-ins and expiries.
//! - [`wallet_actor`]: `WalletActor`s own users' balances, sharded by user id;
//!   [`wallet_ledger`]: the store's archive of their older ledger entries.
//! - [`queue_actor`]: one `QueueActor` runs every schedule's waiting room.
//!   It and the schedule actors know each other only as `actix::Recipient`s
//!   of the messages in [`queue_link`], so neither module names the other.
//!   It publishes each line, once durable, on a [`queue_board`], which polls
//!   read without a message to any actor.
//! - [`accounts`]: the `AccountsActor` ([`accounts::actor`]) owns user
//!   accounts ([`accounts::model`]) and the login throttle
//!   ([`accounts::throttle`]); the password hasher is injected
//!   ([`accounts::passwords`]); [`catalog_actor`]: the `CatalogActor` owns
//!   venues and concerts and tells their durable changes to its
//!   [`catalog_feed`] (the search index follows it); [`concert_lifecycle`]:
//!   editing, publishing and who sees DRAFT concerts.
//! - [`journal`]: how each actor makes its events durable (one log record per
//!   batch, replies after the shared group-commit flush).
//! - [`handle`]: a bounded handle on any actor; [`routing`]: the table of
//!   schedule handles by id, shared by the registry and the queue actor.
//! - [`registry`]: starts and recovers the actors, creates schedules, routes.
//! - [`booking`], [`payment`], [`payment_record`], [`wallets`],
//!   [`waiting_room`], [`accounts`], [`catalog`], [`catalog_query`]: the
//!   operations the API calls (`impl Registry` blocks), including the
//!   payment saga, the catalogue
//!   search, the sale and payment statuses the API shows, tickets with
//!   their concerts ([`ticket_detail`]), the metrics' [`gauges`]; [`recovery`],
//!   another `impl Registry` block, finishes sagas a crash interrupted.
//! - [`booking_events`]: the outbox of booking events each schedule batch
//!   writes with its own record, and the admin feed that reads it.
//! - [`schedule_reservations`]: every user's reservations of one schedule,
//!   paged for admins.
//! - [`clock`] and [`entropy`]: the injected time and randomness.
//! - [`audit`]: the engine's invariants checked over an export of every
//!   actor's state; the simulation, the kill tests, `boxoffice load` and the
//!   contention harness share it.
//!
//! Dependencies point one way: this crate uses `boxoffice-engine` and
//! `boxoffice-storage`; the HTTP layer uses this crate. Inside it, the
//! operation modules depend on `registry`, `registry` on `routing` and the
//! actors, and the actors on `journal`, `queue_link` and the engine.
//!
//! The `test-hooks` cargo feature adds messages only tests may send (inject a
//! panic, lower the archiving threshold, run expiries or queue ticks on
//! demand, export the accounts or catalogue state). The root package enables
//! it for its tests only, through `[dev-dependencies]`; production builds
//! never compile them.

pub mod accounts;
pub mod archive_writer;
pub mod audit;
pub mod booking;
pub mod booking_events;
pub mod card_payments;
pub mod catalog;
pub mod catalog_actor;
pub mod catalog_feed;
pub mod catalog_query;
pub mod clock;
pub mod concert_lifecycle;
pub mod config;
pub mod context;
pub mod directory;
pub mod entropy;
pub mod error;
pub mod event_retention;
pub mod gauges;
pub mod handle;
pub mod idempotency;
pub mod in_flight;
pub mod journal;
pub mod live_updates;
pub mod log_trimmer;
pub mod memory_release;
pub mod payment;
pub mod payment_record;
pub mod queue_actor;
pub mod queue_board;
pub mod queue_link;
pub mod receipt;
pub mod recovery;
pub mod registry;
pub mod reservation_pages;
pub mod routing;
pub mod schedule_actor;
pub mod schedule_admin;
pub mod schedule_reservations;
pub mod seat_board;
pub mod seat_feed;
pub mod store_writer;
pub mod ticket_detail;
pub mod waiting_room;
pub mod wallet_actor;
pub mod wallet_ledger;
pub mod wallets;
pub mod webhooks;
pub mod work_times;

pub use accounts::{normalize_email, Account, Passwords, Role};
pub use booking::{CancelReceipt, CustomerStatus, HoldCommand};
pub use catalog::{NewConcert, NewSchedule};
pub use catalog_actor::{Concert, ConcertStatus, PriceGrade, ScheduleInfo, Venue, VenueSection};
pub use catalog_query::{
    ConcertDetail, ConcertSearch, ConcertSort, ConcertSummary, SaleStatus, ScheduleFilter,
    ScheduleListing,
};
pub use clock::{Clock, ManualClock, SystemClock};
pub use concert_lifecycle::ConcertPatch;
pub use config::EngineConfig;
pub use entropy::IdSource;
pub use error::{EngineError, EngineResult, Missing};
pub use payment::PayCommand;
pub use payment_record::{PaymentMethod, PaymentRecord, PaymentStatus};
pub use registry::Registry;
pub use schedule_actor::ScheduleSpec;
pub use ticket_detail::{TicketDetail, TicketEvent};
pub use waiting_room::QueueTarget;
