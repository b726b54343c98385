//! The extra `fdatasync` that makes a sled flush survive power loss.
//!
//! sled 0.34's `flush()` writes its log buffers and calls `sync_file_range`
//! on the `db` file (Linux). That pushes the data to the device, which is
//! enough to survive a process crash (kill -9: the kernel already holds the
//! pages anyway), but it neither flushes the drive's volatile write cache nor
//! the file's metadata (its size, for an extended file), so after a power
//! loss the tail can be missing. sled also writes values too large for a log
//! segment (over ~128 KiB, e.g. big snapshots) as separate files under
//! `blobs/` and never syncs them at all.
//!
//! [`PowerLossSync::sync`] therefore, after sled's flush, calls `sync_data`
//! (fdatasync) on the `db` file (one handle opened at start) and `sync_all`
//! on every blob file not synced before, then on the `blobs/` directory so
//! their directory entries persist too. sled's `conf` file and the data
//! directory itself are synced once at open.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use crate::StoreError;

/// Syncs sled's files after each flush (see the module doc).
#[derive(Debug)]
pub struct PowerLossSync {
    db_file: File,
    blobs_dir: PathBuf,
    /// Blob files already synced: blobs are written once and never modified,
    /// so each needs one sync. Pruned to the files still present.
    synced_blobs: Mutex<HashSet<OsString>>,
}

impl PowerLossSync {
    /// Opens sled's `db` file in `dir` (sled must have opened the directory
    /// already) and syncs the files sled created at start.
    pub fn open(dir: &Path) -> Result<PowerLossSync, StoreError> {
        let db_file = File::open(dir.join("db")).map_err(|e| io_error("open db file", &e))?;
        let conf = dir.join("conf");
        if conf.exists() {
            sync_path(&conf).map_err(|e| io_error("sync conf file", &e))?;
        }
        sync_path(dir).map_err(|e| io_error("sync data directory", &e))?;
        let sync = PowerLossSync {
            db_file,
            blobs_dir: dir.join("blobs"),
            synced_blobs: Mutex::new(HashSet::new()),
        };
        sync.sync()?;
        Ok(sync)
    }

    /// fdatasyncs the `db` file and syncs every new blob file (see module doc).
    pub fn sync(&self) -> Result<(), StoreError> {
        self.db_file
            .sync_data()
            .map_err(|e| io_error("fdatasync db file", &e))?;
        self.sync_new_blobs()
            .map_err(|e| io_error("sync blob files", &e))
    }

    fn sync_new_blobs(&self) -> io::Result<()> {
        let mut synced = self
            .synced_blobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let entries = match std::fs::read_dir(&self.blobs_dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let mut present = HashSet::new();
        let mut any_new = false;
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name();
            if !synced.contains(&name) {
                match sync_path(&entry.path()) {
                    Ok(()) => any_new = true,
                    // sled's garbage collection may remove a blob meanwhile.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                }
            }
            present.insert(name);
        }
        if any_new {
            sync_path(&self.blobs_dir)?;
        }
        *synced = present;
        Ok(())
    }
}

fn sync_path(path: &Path) -> io::Result<()> {
    File::open(path)?.sync_all()
}

fn io_error(what: &str, error: &io::Error) -> StoreError {
    StoreError::Io(format!("{what}: {error}"))
}
