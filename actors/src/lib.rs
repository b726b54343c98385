//! The actor layer of Boxoffice: actix actors around the pure engine.
//!
//! - [`schedule_actor`]: one `ScheduleActor` per schedule owns its seats and
//!   serializes holds, payments, cancellations, check-ins and expiries.
//! - [`wallet_actor`]: `WalletActor`s own users' balances, sharded by user id.
//! - [`queue_actor`]: one `QueueActor` runs every schedule's waiting room.
//! - [`accounts_actor`]: the `AccountsActor` owns user accounts and the login
//!   throttle; [`catalog_actor`]: the `CatalogActor` owns venues and concerts.
//! - [`journal`]: how each actor makes its events durable (one log record per
//!   batch, replies after the shared group-commit flush).
//! - [`registry`]: starts and recovers the actors, creates schedules, routes.
//! - [`booking`], [`payment`], [`payment_record`], [`wallets`],
//!   [`waiting_room`], [`accounts`], [`catalog`], [`catalog_query`]: the
//!   operations the API calls, including the payment saga, the catalogue
//!   search, the sale and payment statuses the API shows, tickets with
//!   their concerts ([`ticket_detail`]), the metrics' [`gauges`]; [`recovery`]
//!   finishes sagas a crash interrupted.
//! - [`clock`] and [`entropy`]: the injected time and randomness.
//!
//! Dependencies point one way: this crate uses `boxoffice-engine` and
//! `boxoffice-storage`; the HTTP layer uses this crate.

pub mod accounts;
pub mod accounts_actor;
pub mod booking;
pub mod catalog;
pub mod catalog_actor;
pub mod catalog_query;
pub mod clock;
pub mod config;
pub mod context;
pub mod directory;
pub mod entropy;
pub mod error;
pub mod gauges;
pub mod handle;
pub mod idempotency;
pub mod in_flight;
pub mod journal;
pub mod payment;
pub mod payment_record;
pub mod queue_actor;
pub mod receipt;
pub mod recovery;
pub mod registry;
pub mod schedule_actor;
pub mod ticket_detail;
pub mod waiting_room;
pub mod wallet_actor;
pub mod wallets;

pub use accounts_actor::{normalize_email, Account, Role};
pub use booking::{CancelReceipt, HoldCommand};
pub use catalog::{NewConcert, NewSchedule};
pub use catalog_actor::{Concert, PriceGrade, ScheduleInfo, Venue, VenueSection};
pub use catalog_query::{
    ConcertDetail, ConcertSearch, ConcertSort, ConcertSummary, SaleStatus, ScheduleFilter,
    ScheduleListing,
};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::EngineConfig;
pub use entropy::IdSource;
pub use error::{EngineError, EngineResult, Missing};
pub use payment::PayCommand;
pub use payment_record::{PaymentRecord, PaymentStatus};
pub use registry::Registry;
pub use schedule_actor::ScheduleSpec;
pub use ticket_detail::{TicketDetail, TicketEvent};
pub use waiting_room::QueueTarget;
