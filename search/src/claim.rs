//! One writer thread per index directory in this process.
//!
//! tantivy's lock file cannot keep two writers of one process apart when
//! one of them rebuilds: a rebuild deletes the directory, lock file and all.
//! An in-process restart (the HTTP tests, the benchmarks) starts a new
//! writer while the old one may still be applying its last batch, so the
//! new one would find the index stale, delete it under the old writer and
//! fail with "directory not empty", leaving search 503 until the next start.
//! Separate processes are already kept apart by the store's lock on the
//! data dir, so a claim only has to be process-wide.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

static CLAIMED: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());
static RELEASED: Condvar = Condvar::new();

/// The claim on one index directory, given up when dropped.
#[derive(Debug)]
pub struct DirClaim {
    dir: PathBuf,
}

/// Claims `dir`, waiting at most `wait` for a writer of this process that
/// holds it to end; `None` if it still holds it then.
pub fn claim(dir: &Path, wait: Duration) -> Option<DirClaim> {
    let claimed = CLAIMED.lock().unwrap_or_else(|p| p.into_inner());
    let (mut claimed, timeout) = RELEASED
        .wait_timeout_while(claimed, wait, |claimed| claimed.contains(dir))
        .unwrap_or_else(|p| p.into_inner());
    if timeout.timed_out() && claimed.contains(dir) {
        return None;
    }
    claimed.insert(dir.to_path_buf());
    Some(DirClaim {
        dir: dir.to_path_buf(),
    })
}

impl Drop for DirClaim {
    fn drop(&mut self) {
        let mut claimed = CLAIMED.lock().unwrap_or_else(|p| p.into_inner());
        claimed.remove(&self.dir);
        RELEASED.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_second_claim_waits_for_the_first_to_end() {
        let dir = PathBuf::from("/claim-test/a");
        let first = claim(&dir, Duration::ZERO).expect("free");
        assert!(claim(&dir, Duration::from_millis(20)).is_none());
        let other = claim(Path::new("/claim-test/b"), Duration::ZERO);
        assert!(other.is_some(), "another directory is not held");
        let started = Instant::now();
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            drop(first);
        });
        let second = claim(&dir, Duration::from_secs(10));
        assert!(second.is_some());
        assert!(started.elapsed() >= Duration::from_millis(40));
        releaser.join().expect("releaser");
    }
}
