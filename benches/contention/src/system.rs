//! What the harness asks of the operating system (Linux): a higher open-file
//! limit for 10,000 connections (each is two descriptors when the server runs
//! in this process: the client's end and the server's), the peak resident
//! memory of this process, reset before each run, and the resident memory
//! of the server's process (this one, or `--server-pid`).

/// Descriptors kept free for everything but connections (sled's files,
/// epoll and event fds, the listening sockets). Running out is not benign:
/// see `connections_within`.
pub const FD_SLACK: u64 = 4_096;

/// Descriptors wanted: 2 per connection, plus the slack.
pub fn wanted_fd_limit(connections: usize) -> u64 {
    (connections as u64 * 2 + FD_SLACK).max(8_192)
}

/// The most connections that fit under an open-file limit of `limit` when the
/// server runs in this process. Exceeding it made sled's appends fail with
/// EMFILE and then its flush hang (see the report), so the harness caps
/// connections rather than let a run hit the limit.
pub fn connections_within(limit: u64) -> usize {
    (limit.saturating_sub(FD_SLACK) / 2) as usize
}

/// Raises the soft (and if needed, as root, the hard) limit on open files to
/// at least `wanted`. Returns the soft limit in force afterwards.
pub fn raise_fd_limit(wanted: u64) -> Result<u64, String> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own; no other memory is touched.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(format!("getrlimit: {}", std::io::Error::last_os_error()));
    }
    if limit.rlim_cur >= wanted {
        return Ok(limit.rlim_cur);
    }
    let raised = libc::rlimit {
        rlim_cur: wanted,
        rlim_max: limit.rlim_max.max(wanted),
    };
    // SAFETY: setrlimit only reads the struct we pass.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
        return Ok(wanted);
    }
    // Not allowed above the hard limit: take what we may.
    let capped = libc::rlimit {
        rlim_cur: limit.rlim_max,
        rlim_max: limit.rlim_max,
    };
    // SAFETY: as above.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &capped) } == 0 {
        return Ok(limit.rlim_max);
    }
    Err(format!("setrlimit: {}", std::io::Error::last_os_error()))
}

/// Peak resident set size of this process in KiB (`VmHWM`), if readable.
pub fn peak_rss_kib() -> Option<u64> {
    status_kib("self", "VmHWM:")
}

/// Resident set size of process `pid` now, in KiB (`VmRSS`), if readable.
pub fn rss_kib_of(pid: u32) -> Option<u64> {
    status_kib(&pid.to_string(), "VmRSS:")
}

/// Peak resident set size of process `pid` in KiB (`VmHWM`: since it
/// started, or since its peak was last reset), if readable.
pub fn peak_rss_kib_of(pid: u32) -> Option<u64> {
    status_kib(&pid.to_string(), "VmHWM:")
}

/// A KiB field (`VmRSS:`, `VmHWM:`) of `/proc/<process>/status`.
fn status_kib(process: &str, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{process}/status")).ok()?;
    status
        .lines()
        .find(|line| line.starts_with(field))
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|kib| kib.parse().ok())
}

/// Resets the peak to the current RSS (Linux: `5` to `/proc/self/clear_refs`),
/// so each run reports its own peak. False if the kernel refused.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Cores the machine offers this process.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
