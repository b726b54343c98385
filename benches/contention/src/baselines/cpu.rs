//! CPU time over a run, from `/proc` (Linux): the whole machine's busy
//! share, this harness process's, and the processes of one name (the
//! PostgreSQL backends), so the report can say who used the cores. The
//! machine is shared, so "machine" includes other people's work.

use std::time::Instant;

/// Cumulative CPU counters at one instant, in clock ticks.
#[derive(Clone, Copy, Debug)]
pub struct CpuSample {
    at: Instant,
    machine_busy: u64,
    harness: u64,
    named: u64,
}

fn ticks_per_second() -> f64 {
    // SAFETY: sysconf reads a constant of the system; no memory is touched.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

fn machine_busy() -> u64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(cpu) = stat.lines().next() else {
        return 0;
    };
    let fields: Vec<u64> = cpu
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal: busy = all - idle - iowait.
    let all: u64 = fields.iter().take(8).sum();
    let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
    all.saturating_sub(idle)
}

/// utime + stime of the process whose `/proc/<pid>/stat` text this is.
fn process_ticks(stat: &str) -> Option<(String, u64)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = stat.get(open + 1..close)?.to_string();
    let rest: Vec<&str> = stat.get(close + 2..)?.split_whitespace().collect();
    // After the name: state is field 3, utime field 14, stime field 15.
    let utime: u64 = rest.get(11)?.parse().ok()?;
    let stime: u64 = rest.get(12)?.parse().ok()?;
    Some((name, utime + stime))
}

fn named_ticks(name: &str) -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    dir.filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter_map(|s| process_ticks(&s))
        .filter(|(n, _)| n == name)
        .map(|(_, t)| t)
        .sum()
}

impl CpuSample {
    /// `name`: the server processes to add up (e.g. "postgres"), if any.
    pub fn now(name: Option<&str>) -> CpuSample {
        let harness = std::fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|s| process_ticks(&s))
            .map_or(0, |(_, t)| t);
        CpuSample {
            at: Instant::now(),
            machine_busy: machine_busy(),
            harness,
            named: name.map_or(0, named_ticks),
        }
    }

    /// Cores used on average since `earlier`: (machine, harness, named).
    pub fn cores_since(&self, earlier: &CpuSample) -> (f64, f64, f64) {
        let seconds = self
            .at
            .saturating_duration_since(earlier.at)
            .as_secs_f64()
            .max(1e-9);
        let per = |a: u64, b: u64| a.saturating_sub(b) as f64 / ticks_per_second() / seconds;
        (
            per(self.machine_busy, earlier.machine_busy),
            per(self.harness, earlier.harness),
            per(self.named, earlier.named),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_utime_and_stime_after_a_name_with_spaces() {
        let stat = "42 (post gres) S 1 2 3 4 5 6 7 8 9 10 100 23 0 0";
        assert_eq!(process_ticks(stat), Some(("post gres".to_string(), 123)));
    }
}
