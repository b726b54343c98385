//! What the account operations need from a password hasher.
//!
//! Registration and login are account rules and live here (`super`), but
//! hashing is deliberately slow (argon2: tens of milliseconds and megabytes
//! per call) and must never run on an actor's thread, where it would stall
//! every account behind it. So the hasher is injected: the HTTP layer
//! implements [`Passwords`] with argon2 on actix's blocking pool, and this
//! crate needs no hashing library. Tests may inject a cheap one.

use std::future::Future;

use crate::error::EngineResult;

/// A password hasher. Hashes are opaque strings in the hasher's own format
/// (salt and parameters included), stored with the account.
pub trait Passwords {
    /// A well-formed hash no one knows a password for. Login verifies the
    /// password of an unknown email against it, so that the answer takes as
    /// long whether or not the account exists.
    const DECOY_HASH: &'static str;

    /// The hash of `password` with `salt` (drawn by the caller from the
    /// injected random source). `Unavailable` when the hashing pool is gone,
    /// `Internal` when hashing fails.
    fn hash(
        &self,
        password: String,
        salt: [u8; 16],
    ) -> impl Future<Output = EngineResult<String>> + Send;

    /// Whether `password` matches `hash`; a malformed hash matches nothing.
    fn verify(
        &self,
        password: String,
        hash: String,
    ) -> impl Future<Output = EngineResult<bool>> + Send;
}
