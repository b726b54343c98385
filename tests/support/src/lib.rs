//! Shared set-up for the integration tests, linked by each test binary
//! (`tests/engine`, `tests/http`, `tests/process`):
//! - [`engine`]: the engine alone on a temp sled dir or the fault-injecting
//!   memory store, a manual clock, seeded ids, and exports of its whole
//!   durable state for comparisons;
//! - [`app`]: `spawn_app`, the real application (`Application::build`, as the
//!   binary starts it) on port 0 with a temp data dir, and a small HTTP client;
//! - [`smtp_sink`]: a local SMTP server that keeps what it receives.
//!
//! The real binary as a child process (`spawn_binary`) is in
//! `tests/process/binary.rs`: only the root package's tests know its path.

pub mod app;
pub mod engine;
pub mod smtp_sink;
