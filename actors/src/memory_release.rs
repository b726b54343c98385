//! Giving memory back after a burst, at moments that cost the hot path
//! nothing, and the allocator settings that let it be given back.
//!
//! What a waiting crowd costs in RSS (issue 13) was mostly not data: about
//! 1,100 of 1,400 B per waiting user were pages the allocator kept after
//! transient peaks (a snapshot's encoding, a join burst's buffers). Two
//! causes, two remedies:
//! - mimalloc madvises its arenas for transparent huge pages, so the kernel
//!   backs them with 2 MiB pages: resident memory grows in 2 MiB steps and a
//!   purge of a few freed 64 KiB pages inside one frees nothing. The binaries
//!   turn THP off for the process ([`use_mimalloc`]); holds/s did not drop.
//! - mimalloc returns freed pages only from the thread that owns them, when
//!   it allocates again, after `MIMALLOC_PURGE_DELAY`. Purging eagerly
//!   everywhere slowed holds (0.76-0.81 of the default's holds/s), so
//!   instead an actor that just finished large transient work (the queue
//!   actor after a snapshot, every few thousand joins) calls
//!   [`release_retained`] on its own thread.
//!
//! This crate does not choose the allocator: a binary does, and installs the
//! release hook for it ([`install_release_hook`], or [`use_mimalloc`] with
//! the `mimalloc` feature). Without one (tests, the system allocator) a
//! release does nothing.

use std::sync::OnceLock;

static RELEASE_HOOK: OnceLock<fn()> = OnceLock::new();

/// Sets how this process gives retained memory back (once; a second call is
/// ignored and returns false).
pub fn install_release_hook(hook: fn()) -> bool {
    RELEASE_HOOK.set(hook).is_ok()
}

/// Gives the memory the allocator retains for the calling thread (and freed
/// large blocks of any thread) back to the system, if a hook is installed.
/// Takes up to a millisecond or so: call it after rare, large work, never
/// per request.
pub fn release_retained() {
    if let Some(hook) = RELEASE_HOOK.get() {
        hook();
    }
}

/// For a binary whose global allocator is mimalloc: call first thing in
/// `main`. Turns transparent huge pages off for this process (every later
/// page fault; see the module doc for why) and installs a forced
/// `mi_collect` as the release hook.
#[cfg(feature = "mimalloc")]
pub fn use_mimalloc() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes integers only. It fails only on
    // kernels before 3.15, which then keep THP as they were: not an error.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
    install_release_hook(collect_mimalloc);
}

#[cfg(feature = "mimalloc")]
fn collect_mimalloc() {
    // SAFETY: mi_collect takes no pointers; any thread may call it.
    unsafe { libmimalloc_sys::mi_collect(true) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static RELEASES: AtomicUsize = AtomicUsize::new(0);

    fn count_release() {
        RELEASES.fetch_add(1, Ordering::Relaxed);
    }

    #[test]
    fn a_release_runs_the_installed_hook_and_the_first_hook_stays() {
        // The hook is process-wide: this is the only test that installs one.
        assert!(install_release_hook(count_release));
        assert!(!install_release_hook(|| {}), "a second hook is refused");
        let before = RELEASES.load(Ordering::Relaxed);
        release_retained();
        assert!(RELEASES.load(Ordering::Relaxed) > before);
    }
}
