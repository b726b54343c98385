//! A durable flush watermark outside sled's file, so that a sled file which
//! lost flushed data is detected instead of served.
//!
//! sled checksums its log and, on open, treats the first damaged or missing
//! byte as the end of an interrupted write: everything after it is dropped,
//! consistently, but silently, even when it had been flushed and
//! acknowledged (a cut or bit-flipped `db` file; a file cut to nothing opens
//! as an empty store). sled alone cannot tell "interrupted write" from "lost
//! flushed data", so [`crate::SledStore`] keeps a flush sequence number in
//! two places:
//!
//! 1. inside sled (the `meta` tree, under a key no caller can use), written
//!    just *before* each `db.flush()`, so the flush makes it durable together
//!    with every write that returned before it (sled's log is ordered: losing
//!    any of those writes loses this one too, which was written after them);
//! 2. in this side file (`flush-watermark` in the data dir), written just
//!    *after* the flush returned Ok and before anyone is acknowledged.
//!
//! On open, side file ahead of sled means sled's file lost flushed data: the
//! store refuses to open, naming both numbers. Side file behind sled is
//! normal (a crash between the flush and the side-file write). A missing side
//! file (a fresh data dir, or one from before this check existed) makes no
//! claim: it is created with sled's number, and the check starts from there.
//!
//! # Torn-write safety and cost
//! The file has two fixed 32-byte slots, each `[magic 8][seq u64 LE][crc32
//! of the first 16 bytes, LE][12 zero bytes]`; flush `n` writes slot `n % 2`
//! in place, so a write torn by a crash damages at most that slot and the
//! other still holds `n - 1` (a weaker claim, never a false one). Reading
//! takes the highest valid slot; no valid slot at all is damage (refused).
//! The file itself is created once with write-temp + fsync + rename + fsync
//! of the directory.
//!
//! Per flush this costs one sled insert and one 32-byte `pwrite`. In
//! [`crate::Durability::ProcessCrash`] mode nothing more: a killed process
//! loses nothing the kernel already has, which is exactly that mode's promise
//! for sled's own file. In [`crate::Durability::PowerLoss`] mode the slot is
//! also `fdatasync`ed before the flush returns (one more sync per group
//! commit): a claim that could be lost in a power cut would let a damaged
//! tail pass unnoticed. The claim cannot be synced in parallel with sled's
//! file: a claim durable before sled's data would make a plain power cut at
//! that moment look like lost data and refuse a healthy store.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::StoreError;

/// Name of the side file in the data dir.
pub const WATERMARK_FILE: &str = "flush-watermark";
/// Key of the flush sequence number in sled's `meta` tree. It starts with a
/// NUL byte, which [`crate::limits::check_log_name`] refuses in callers' meta
/// keys, so no `put_meta` can overwrite it.
pub const SLED_FLUSH_SEQ_KEY: &[u8] = b"\0flush-seq";

const MAGIC: &[u8; 8] = b"BXFLUSH1";
const SLOT_BYTES: usize = 32;
const SLOTS: u64 = 2;

/// The side file, open for in-place slot writes.
#[derive(Debug)]
pub struct FlushWatermark {
    file: File,
    path: PathBuf,
    /// fdatasync each slot write (PowerLoss mode).
    sync_each: bool,
}

impl FlushWatermark {
    /// Opens the side file in `dir` and checks it against `sled_seq`, the
    /// flush sequence number sled's own file holds. Creates the file (claiming
    /// `sled_seq`) when it does not exist yet. Refuses when the file claims a
    /// flush sled does not have, or when the file holds no valid slot.
    pub fn open(dir: &Path, sled_seq: u64, sync_each: bool) -> Result<FlushWatermark, StoreError> {
        let path = dir.join(WATERMARK_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => {
                let claimed = read_claim(&bytes).ok_or_else(|| {
                    StoreError::Corrupt(format!(
                        "the flush watermark file {} is damaged (no valid slot in {} bytes); \
                         it says how much sled must hold, so the store cannot be checked. \
                         Refusing to start; restore the data dir from a backup, or delete \
                         that file to accept sled's content as it is",
                        path.display(),
                        bytes.len()
                    ))
                })?;
                if claimed > sled_seq {
                    return Err(StoreError::Corrupt(format!(
                        "sled's file lost flushed data: the flush watermark file {} records \
                         that flush {claimed} completed, but sled's file holds flush {sled_seq} \
                         (its tail is damaged or cut, and acknowledged writes may be missing). \
                         Refusing to start; restore the data dir from a backup, or delete \
                         that file to accept sled's content as it is",
                        path.display()
                    )));
                }
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {
                // No claim: a fresh data dir or one from before this check.
                create(dir, &path, sled_seq)?;
            }
            Err(e) => return Err(io_error(&format!("read {}", path.display()), &e)),
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| io_error(&format!("open {}", path.display()), &e))?;
        Ok(FlushWatermark {
            file,
            path,
            sync_each,
        })
    }

    /// Records that flush `seq` completed (see the module doc for its cost).
    pub fn record(&self, seq: u64) -> Result<(), StoreError> {
        let offset = (seq % SLOTS) * SLOT_BYTES as u64;
        self.file
            .write_all_at(&encode_slot(seq), offset)
            .map_err(|e| io_error(&format!("write {}", self.path.display()), &e))?;
        if self.sync_each {
            self.file
                .sync_data()
                .map_err(|e| io_error(&format!("fdatasync {}", self.path.display()), &e))?;
        }
        Ok(())
    }
}

/// Writes a new side file claiming `seq` in both slots, atomically.
fn create(dir: &Path, path: &Path, seq: u64) -> Result<(), StoreError> {
    let temp = dir.join(format!("{WATERMARK_FILE}.tmp"));
    let mut bytes = Vec::with_capacity(SLOT_BYTES * SLOTS as usize);
    for _ in 0..SLOTS {
        bytes.extend_from_slice(&encode_slot(seq));
    }
    let written = File::create(&temp)
        .and_then(|mut file| {
            file.write_all(&bytes)?;
            file.sync_all()
        })
        .and_then(|()| std::fs::rename(&temp, path))
        .and_then(|()| File::open(dir)?.sync_all());
    written.map_err(|e| io_error(&format!("create {}", path.display()), &e))
}

fn encode_slot(seq: u64) -> [u8; SLOT_BYTES] {
    let mut slot = [0u8; SLOT_BYTES];
    slot[..8].copy_from_slice(MAGIC);
    slot[8..16].copy_from_slice(&seq.to_le_bytes());
    let crc = crc32fast::hash(&slot[..16]);
    slot[16..20].copy_from_slice(&crc.to_le_bytes());
    slot
}

fn decode_slot(slot: &[u8]) -> Option<u64> {
    if slot.len() != SLOT_BYTES || &slot[..8] != MAGIC {
        return None;
    }
    let crc = u32::from_le_bytes(slot[16..20].try_into().ok()?);
    if crc != crc32fast::hash(&slot[..16]) {
        return None;
    }
    Some(u64::from_le_bytes(slot[8..16].try_into().ok()?))
}

/// The highest valid slot of a side file's bytes, if any.
fn read_claim(bytes: &[u8]) -> Option<u64> {
    bytes.chunks(SLOT_BYTES).filter_map(decode_slot).max()
}

/// Decodes sled's copy of the flush sequence number (absent: 0).
pub fn parse_sled_seq(value: Option<&[u8]>) -> Result<u64, StoreError> {
    match value {
        None => Ok(0),
        Some(bytes) => {
            let array: [u8; 8] = bytes.try_into().map_err(|_| {
                StoreError::Corrupt(format!(
                    "sled's flush sequence number has {} bytes, expected 8",
                    bytes.len()
                ))
            })?;
            Ok(u64::from_be_bytes(array))
        }
    }
}

fn io_error(what: &str, error: &std::io::Error) -> StoreError {
    StoreError::Io(format!("flush watermark: {what}: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_is_created_and_claims_sled_number() {
        let dir = tempfile::tempdir().unwrap();
        let mark = FlushWatermark::open(dir.path(), 7, false).unwrap();
        drop(mark);
        // Claims 7: sled holding 7 or more opens, less is refused.
        FlushWatermark::open(dir.path(), 7, false).unwrap();
        let err = FlushWatermark::open(dir.path(), 6, false).unwrap_err();
        assert!(err.to_string().contains("flush 7 completed"), "{err}");
        assert!(err.to_string().contains("holds flush 6"), "{err}");
    }

    #[test]
    fn the_newest_valid_slot_is_the_claim() {
        let dir = tempfile::tempdir().unwrap();
        let mark = FlushWatermark::open(dir.path(), 0, true).unwrap();
        for seq in 1..=5 {
            mark.record(seq).unwrap();
        }
        drop(mark);
        assert!(FlushWatermark::open(dir.path(), 4, false).is_err());
        FlushWatermark::open(dir.path(), 5, false).unwrap();
    }

    #[test]
    fn a_torn_slot_falls_back_to_the_other_one() {
        let dir = tempfile::tempdir().unwrap();
        let mark = FlushWatermark::open(dir.path(), 0, false).unwrap();
        mark.record(1).unwrap();
        mark.record(2).unwrap();
        drop(mark);
        // Tear the slot of flush 2 (slot 0): the claim falls back to 1.
        let path = dir.path().join(WATERMARK_FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[10] ^= 0xFF;
        std::fs::write(&path, &bytes).unwrap();
        FlushWatermark::open(dir.path(), 1, false).unwrap();
        assert!(FlushWatermark::open(dir.path(), 0, false).is_err());
    }

    #[test]
    fn a_file_with_no_valid_slot_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(WATERMARK_FILE), [0u8; 64]).unwrap();
        let err = FlushWatermark::open(dir.path(), 100, false).unwrap_err();
        assert!(err.to_string().contains("damaged"), "{err}");
    }

    #[test]
    fn sled_seq_parses_big_endian_and_absent_is_zero() {
        assert_eq!(parse_sled_seq(None).unwrap(), 0);
        assert_eq!(parse_sled_seq(Some(&9u64.to_be_bytes())).unwrap(), 9);
        assert!(parse_sled_seq(Some(&[1, 2, 3])).is_err());
    }
}
