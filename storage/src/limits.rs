//! Explicit size limits and the checks that enforce them.
//!
//! Both stores call the same checks so that they refuse exactly the same
//! inputs: a test that passes on `MemoryStore` must not fail on `SledStore`
//! because of a name or size. The limits are far above what the actors write
//! (a record is one batch of events, a snapshot one actor's state); they exist
//! so that a bug produces a clear error instead of an unbounded allocation.

use crate::StoreError;

/// Longest log name (and meta key), in bytes.
pub const MAX_LOG_NAME_BYTES: usize = 128;
/// Largest record one `append` accepts (one batch of events).
pub const MAX_RECORD_BYTES: usize = 64 * 1024 * 1024;
/// Largest snapshot one `write_snapshot` accepts (one actor's whole state).
pub const MAX_SNAPSHOT_BYTES: usize = 1024 * 1024 * 1024;
/// Largest value one `put_meta` accepts (metadata is small by design).
pub const MAX_META_VALUE_BYTES: usize = 64 * 1024;

/// Accepts a log name (or meta key): non-empty, at most
/// [`MAX_LOG_NAME_BYTES`] bytes, no NUL byte (NUL separates the name from the
/// lsn in sled keys, which keeps every log a contiguous, prefix-free key range).
pub fn check_log_name(name: &str) -> Result<(), StoreError> {
    if name.is_empty() {
        return Err(StoreError::Io("invalid log name: empty".to_owned()));
    }
    if name.len() > MAX_LOG_NAME_BYTES {
        return Err(StoreError::Io(format!(
            "invalid log name: {} bytes, the limit is {MAX_LOG_NAME_BYTES}",
            name.len()
        )));
    }
    check_no_nul(name)
}

/// Accepts a `list_logs` prefix: any length up to the name limit (empty lists
/// everything), no NUL byte.
pub fn check_log_prefix(prefix: &str) -> Result<(), StoreError> {
    if prefix.len() > MAX_LOG_NAME_BYTES {
        return Err(StoreError::Io(format!(
            "invalid log prefix: {} bytes, the limit is {MAX_LOG_NAME_BYTES}",
            prefix.len()
        )));
    }
    check_no_nul(prefix)
}

fn check_no_nul(name: &str) -> Result<(), StoreError> {
    if name.as_bytes().contains(&0) {
        return Err(StoreError::Io(format!(
            "invalid log name {name:?}: contains a NUL byte"
        )));
    }
    Ok(())
}

/// Accepts a value of `len` bytes if it is at most `limit`; `what` names it in the error.
pub fn check_size(what: &str, len: usize, limit: usize) -> Result<(), StoreError> {
    if len > limit {
        return Err(StoreError::Io(format!(
            "{what} of {len} bytes is over the limit of {limit} bytes"
        )));
    }
    Ok(())
}
