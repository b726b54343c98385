//! The one error type of the storage crate.
//!
//! Every store (sled in production, the in-memory one in tests) and the group
//! commit report failures as a [`StoreError`]. It is `Clone` because one failed
//! flush must be reported to every caller whose record it covered.

/// Why a storage operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The underlying store failed, or the caller broke the store's contract
    /// (an invalid log name, a record over its size limit): the message says which.
    #[error("storage failure: {0}")]
    Io(String),
    /// A fault injected on purpose by `MemoryStore` (tests and simulations only).
    #[error("injected storage fault: {0}")]
    Injected(&'static str),
    /// A record or snapshot that cannot be decoded; the message names what and where.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// A previous flush failed: memory may be ahead of disk, so the store (or
    /// group commit) refuses further writes until the process restarts (fail-stop).
    #[error("storage is poisoned by an earlier failed flush; restart to recover")]
    Poisoned,
}
