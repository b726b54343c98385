//! The pure reservation domain of Boxoffice.
//!
//! Everything here is a deterministic state machine: no I/O, no async, no clock
//! reads, no randomness. Time arrives as a `now: Timestamp` argument and every
//! identifier a command creates (reservation ids, ticket ids, transaction ids)
//! is chosen by the caller, so the same inputs always give the same events.
//!
//! Each aggregate follows one pattern: a command method checks the rules and
//! returns an event (or a typed error), and `apply(&event)` is the only code
//! that changes state. Command methods call `apply` themselves before they
//! return, so callers see the new state at once; recovery feeds logged events
//! through the same `apply`, which is why a restart rebuilds identical state.
//!
//! - [`schedule`]: one performance date: its seat map, holds, payments, tickets.
//! - [`wallet`]: one user's prepaid balance and ledger.
//! - [`queue`]: the virtual waiting room of one gated schedule.

pub mod ids;
pub mod layout;
pub mod money;
pub mod queue;
pub mod schedule;
pub mod time;
pub mod wallet;

pub use ids::*;
pub use money::Money;
pub use time::Timestamp;
