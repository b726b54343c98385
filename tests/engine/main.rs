//! Engine-level integration tests, one test binary: the actors and their
//! operations on a real sled dir or the fault-injecting memory store, with a
//! manual clock and seeded ids (`test_support::engine`). No HTTP, no child
//! process.

mod accounts_catalog;
mod archive;
mod behaviour;
mod cancellation;
mod contention;
mod idempotency_store;
mod money_conservation;
mod panic;
mod recovery;
mod simulation;
