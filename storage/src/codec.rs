//! The one place that turns values into stored bytes and back.
//!
//! Layout of every encoded value (records and snapshots alike):
//! `[version u8][crc32 of payload, u32 little-endian][payload]`, where the
//! payload is bincode 2's serde encoding with `bincode::config::standard()`.
//! The version byte lets a later format coexist with data already on disk;
//! the CRC turns a flipped bit or torn write in our payload into a clear
//! [`StoreError::Corrupt`] rather than a silently different value (sled
//! checksums its own pages, but not against every path a value travels).

use crate::{Lsn, StoreError};

/// Format version written in the first byte of every encoded value.
pub const RECORD_VERSION: u8 = 1;
/// Bytes before the payload: version byte + CRC32.
pub const HEADER_BYTES: usize = 1 + 4;

/// Encodes `value` as `[RECORD_VERSION][crc32 LE][bincode payload]`.
///
/// Fails (with `Corrupt`, since the value cannot be represented) only for
/// types bincode cannot encode, such as maps with non-serializable keys.
pub fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    let payload = bincode::serde::encode_to_vec(value, bincode::config::standard())
        .map_err(|e| StoreError::Corrupt(format!("cannot encode value: {e}")))?;
    let mut bytes = Vec::with_capacity(HEADER_BYTES + payload.len());
    bytes.push(RECORD_VERSION);
    bytes.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    bytes.extend_from_slice(&payload);
    Ok(bytes)
}

/// Decodes bytes written by [`encode`]. An empty or short buffer, an unknown
/// version byte, a CRC mismatch, an undecodable payload or trailing bytes
/// after the value are all `StoreError::Corrupt`.
pub fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    let Some((&version, rest)) = bytes.split_first() else {
        return Err(StoreError::Corrupt("empty value".to_owned()));
    };
    if version != RECORD_VERSION {
        return Err(StoreError::Corrupt(format!(
            "unknown format version {version} (expected {RECORD_VERSION})"
        )));
    }
    if rest.len() < 4 {
        return Err(StoreError::Corrupt(format!(
            "value of {} bytes is shorter than its {HEADER_BYTES}-byte header",
            bytes.len()
        )));
    }
    let (crc_bytes, payload) = rest.split_at(4);
    let stored_crc = u32::from_le_bytes([crc_bytes[0], crc_bytes[1], crc_bytes[2], crc_bytes[3]]);
    let actual_crc = crc32fast::hash(payload);
    if stored_crc != actual_crc {
        return Err(StoreError::Corrupt(format!(
            "checksum mismatch: stored {stored_crc:#010x}, computed {actual_crc:#010x}"
        )));
    }
    let (value, consumed) =
        bincode::serde::decode_from_slice::<T, _>(payload, bincode::config::standard())
            .map_err(|e| StoreError::Corrupt(format!("undecodable payload: {e}")))?;
    if consumed != payload.len() {
        return Err(StoreError::Corrupt(format!(
            "{} trailing bytes after the value",
            payload.len() - consumed
        )));
    }
    Ok(value)
}

/// [`decode`] for a record read from a log: the error names the log and lsn,
/// so a recovery failure points at the exact record.
pub fn decode_record<T: serde::de::DeserializeOwned>(
    log: &str,
    lsn: Lsn,
    bytes: &[u8],
) -> Result<T, StoreError> {
    decode(bytes).map_err(|e| match e {
        StoreError::Corrupt(why) => {
            StoreError::Corrupt(format!("record {lsn} of log {log}: {why}"))
        }
        other => other,
    })
}
