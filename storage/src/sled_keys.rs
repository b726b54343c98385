//! Key layout of the sled `log` tree.
//!
//! A record of log `name` with sequence number `lsn` is stored under
//! `[name bytes][0x00][lsn u64 big-endian]`. Names contain no NUL, so the
//! keys of one log form one contiguous range that no other log's keys fall
//! into (even when one name is a prefix of another), and big-endian lsns sort
//! in numeric order, so a range scan reads a log in order.
//!
//! The key `[name bytes][0x00]` alone (the "high-water mark", sorting before
//! every record of the log) holds the log's last lsn. A trim writes it before its
//! first removal, so a log trimmed to empty still remembers its last lsn
//! across a restart (or a crash mid-trim) and lsns are never reused.

use crate::{Lsn, StoreError};

/// Bytes a record key adds to the name: the separator and the lsn.
const SUFFIX_BYTES: usize = 1 + 8;

/// Key of record `lsn` of log `name`.
pub fn record_key(name: &str, lsn: Lsn) -> Vec<u8> {
    let mut key = Vec::with_capacity(name.len() + SUFFIX_BYTES);
    key.extend_from_slice(name.as_bytes());
    key.push(0);
    key.extend_from_slice(&lsn.to_be_bytes());
    key
}

/// Key of the high-water mark of log `name` (sorts before all its records).
pub fn mark_key(name: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(name.len() + 1);
    key.extend_from_slice(name.as_bytes());
    key.push(0);
    key
}

/// First key after every key of log `name`: `[name][0x01]`.
pub fn end_key(name: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(name.len() + 1);
    key.extend_from_slice(name.as_bytes());
    key.push(1);
    key
}

/// What a key of the `log` tree is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogKey<'a> {
    /// The high-water mark of the named log.
    Mark(&'a str),
    /// A record of the named log.
    Record(&'a str, Lsn),
}

/// Parses a key of the `log` tree, or says why it is not one of ours.
pub fn parse(key: &[u8]) -> Result<LogKey<'_>, StoreError> {
    let Some(separator) = key.iter().position(|&b| b == 0) else {
        return Err(corrupt_key(key, "no separator"));
    };
    let name = std::str::from_utf8(&key[..separator])
        .map_err(|_| corrupt_key(key, "name is not UTF-8"))?;
    let suffix = &key[separator + 1..];
    match suffix.len() {
        0 => Ok(LogKey::Mark(name)),
        8 => {
            let mut lsn = [0u8; 8];
            lsn.copy_from_slice(suffix);
            Ok(LogKey::Record(name, Lsn::from_be_bytes(lsn)))
        }
        _ => Err(corrupt_key(key, "bad lsn length")),
    }
}

/// Decodes a big-endian u64 value (a high-water mark or a snapshot's `upto`).
pub fn parse_lsn(bytes: &[u8], what: &str) -> Result<Lsn, StoreError> {
    let array: [u8; 8] = bytes
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            StoreError::Corrupt(format!(
                "{what}: {} bytes, expected at least 8",
                bytes.len()
            ))
        })?;
    Ok(Lsn::from_be_bytes(array))
}

fn corrupt_key(key: &[u8], why: &str) -> StoreError {
    StoreError::Corrupt(format!("log tree key {key:?}: {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_keys_sort_by_lsn_inside_their_log_range() {
        let low = record_key("schedule/a", 2);
        let high = record_key("schedule/a", 300);
        assert!(mark_key("schedule/a") < low);
        assert!(low < high);
        assert!(high < end_key("schedule/a"));
        // A longer name sharing the prefix sorts outside the range.
        let other = record_key("schedule/ab", 1);
        assert!(other >= end_key("schedule/a") || other < mark_key("schedule/a"));
    }

    #[test]
    fn keys_parse_back() {
        assert_eq!(
            parse(&record_key("wallet/07", 9)).unwrap(),
            LogKey::Record("wallet/07", 9)
        );
        assert_eq!(
            parse(&mark_key("wallet/07")).unwrap(),
            LogKey::Mark("wallet/07")
        );
        assert!(matches!(
            parse(b"no-separator"),
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(parse(b"name\0abc"), Err(StoreError::Corrupt(_))));
    }
}
