//! The scenarios: what the virtual clients do, the set-up they need, and the
//! invariants checked after them. Each is written once against
//! [`crate::target::Target`] and runs on Boxoffice in either mode and, for
//! hot-seats and stadium-onsale, on the PostgreSQL and Redis baselines.
//!
//! - [`hot_seats`]: N clients storm the 50 seats of one schedule, hold and release;
//! - [`stadium`]: V users through the waiting room of one big schedule until sold out;
//! - [`mixed`]: many schedules; browsing, holds, payments, cancellations, charges;
//! - [`open_holds`]: many schedules with room, short holds: the successful-hold rate
//!   (the scenario of the HTTP target);
//! - [`queue_polls`]: a line of 100,000 waiting users polled in a closed loop:
//!   what a poll costs, and what the crowd costs in memory;
//! - [`search`]: 10,000 concerts; searches and autocompletes in a closed loop.

pub mod hot_seats;
pub mod mixed;
pub mod open_holds;
pub mod queue_polls;
pub mod search;
pub mod stadium;
/// When the stadium's users arrive.
mod stadium_arrival;
/// The stadium's ETA accuracy facts.
mod stadium_eta;

use boxoffice_engine::ids::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::clients::Plan;
use crate::invariants::Check;
use crate::stats::{Recorder, Window};
use crate::timeline::Sample;

/// What the command line says about a scenario's size.
#[derive(Clone, Debug)]
pub struct Size {
    pub clients: usize,
    pub connections: usize,
    pub threads: usize,
    /// Measured seconds (the stadium: the longest it may run).
    pub seconds: f64,
    /// Unmeasured seconds before the window (connections, caches, first flushes).
    pub warmup: f64,
    pub seats: Option<u32>,
    pub users: usize,
    pub hold_seconds: Option<u32>,
    pub schedules: usize,
    pub seed: u64,
    /// open-holds' `--rate`: open loop at this many requests/s in all
    /// (see `crate::pace`); `None`: closed loop.
    pub rate: Option<u64>,
    /// The stadium's pre-queue (`queue.preQueueSeconds`); 0: none.
    pub pre_queue_seconds: u32,
    /// The stadium's arrivals: each user's first join uniform over this
    /// many seconds from the start; 0: all at once.
    pub arrival_seconds: f64,
    /// The stadium's `maxActive`; `None`: a tenth of the users.
    pub max_active: Option<u32>,
    /// The server process whose memory the stadium reports, if known, and
    /// what it is (for the report).
    pub server_pid: Option<u32>,
    pub server_rss_of: &'static str,
    /// The search scenario's catalogue size.
    pub concerts: usize,
}

impl Size {
    /// Warm-up then the measured window, from now.
    pub fn plan(&self) -> Plan {
        let start = Instant::now();
        let from = start + Duration::from_secs_f64(self.warmup);
        let until = from + Duration::from_secs_f64(self.seconds);
        Plan {
            clients: self.clients,
            connections: self.connections,
            threads: self.threads,
            window: Window { from, until },
            deadline: until,
            rate: self.rate,
            start,
        }
    }
}

/// What a scenario hands back to the report.
pub struct ScenarioRun {
    pub recorder: Recorder,
    /// The time the rates are computed over.
    pub elapsed: Duration,
    pub checks: Vec<Check>,
    pub facts: BTreeMap<String, Value>,
    pub notes: Vec<String>,
    /// Second by second (the stadium); empty for the other scenarios.
    pub timeline: Vec<Sample>,
}

/// A schedule id for schedule `n` of a run.
pub fn schedule_id(kind: u8, n: u64) -> ScheduleId {
    let mut bytes = [0u8; 16];
    bytes[0] = 0x5C;
    bytes[1] = kind;
    bytes[8..].copy_from_slice(&n.to_be_bytes());
    ScheduleId::from_random_bytes(bytes)
}

/// Runs `count` futures made by `make` at most `parallel` at a time (set-up work).
pub async fn in_batches<F, Fut, T>(count: usize, parallel: usize, make: F) -> Vec<T>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = T> + 'static,
    T: 'static,
{
    let mut results = Vec::with_capacity(count);
    let mut next = 0;
    while next < count {
        let end = (next + parallel.max(1)).min(count);
        let handles: Vec<_> = (next..end).map(|i| actix_rt::spawn(make(i))).collect();
        for handle in handles {
            if let Ok(result) = handle.await {
                results.push(result);
            }
        }
        next = end;
    }
    results
}
