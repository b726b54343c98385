//! What the clients record while a scenario runs: per operation, a latency
//! histogram and a count of each outcome, limited to the measurement window.
//!
//! Each client thread owns one [`Recorder`] (no locks on the hot path); the
//! client runner (`crate::clients`) merges them when the threads finish.
//! A recorder may also feed the thread's [`Shard`] of the run's timeline
//! (`crate::timeline`), with the same requests.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::histogram::Histogram;
use crate::timeline::Shard;

/// How one request ended, as the API would name it. Every target maps its
/// answers here (engine errors in process, status and error code over HTTP,
/// SQL errors and script replies for the baselines).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    Ok,
    /// 409 SEAT_UNAVAILABLE: someone else holds the seat (a lost race).
    Conflict,
    /// 422 SEAT_LIMIT_EXCEEDED.
    SeatLimit,
    /// 410 RESERVATION_EXPIRED: paid too late.
    Expired,
    /// 403 QUEUE_NOT_ACTIVE.
    QueueNotActive,
    /// 401 QUEUE_TOKEN_INVALID: the token is no longer WAITING or ACTIVE
    /// (its admission ran out before the user noticed, or it dropped out).
    QueueTokenInvalid,
    /// 402 INSUFFICIENT_BALANCE.
    InsufficientBalance,
    /// 409 NOT_CANCELLABLE and the other 409s of a reservation that moved on.
    NotCancellable,
    /// 503 UNAVAILABLE: the actor's in-flight bound or the request timeout.
    Unavailable,
    /// No answer: connection error or client timeout (the effect is unknown).
    Transport,
    /// Anything else (a 4xx the scenario did not expect, a 5xx).
    Other,
}

impl Outcome {
    pub fn code(self) -> &'static str {
        match self {
            Outcome::Ok => "OK",
            Outcome::Conflict => "SEAT_UNAVAILABLE",
            Outcome::SeatLimit => "SEAT_LIMIT_EXCEEDED",
            Outcome::Expired => "RESERVATION_EXPIRED",
            Outcome::QueueNotActive => "QUEUE_NOT_ACTIVE",
            Outcome::QueueTokenInvalid => "QUEUE_TOKEN_INVALID",
            Outcome::InsufficientBalance => "INSUFFICIENT_BALANCE",
            Outcome::NotCancellable => "NOT_CANCELLABLE",
            Outcome::Unavailable => "UNAVAILABLE_503",
            Outcome::Transport => "TRANSPORT_ERROR",
            Outcome::Other => "OTHER",
        }
    }

    /// True when the server may or may not have carried the request out.
    pub fn effect_unknown(self) -> bool {
        matches!(self, Outcome::Transport | Outcome::Other)
    }
}

/// The operations the scenarios send, as reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Op {
    Hold,
    Cancel,
    Pay,
    Charge,
    Join,
    Poll,
    SeatMap,
    Concerts,
    Hello,
    /// `GET /search/concerts` (the `search` scenario).
    Search,
    /// `GET /search/autocomplete`.
    Autocomplete,
}

impl Op {
    pub fn name(self) -> &'static str {
        match self {
            Op::Hold => "hold",
            Op::Cancel => "cancel",
            Op::Pay => "pay",
            Op::Charge => "charge",
            Op::Join => "queue_join",
            Op::Poll => "queue_poll",
            Op::SeatMap => "seat_map",
            Op::Concerts => "concert_list",
            Op::Hello => "hello",
            Op::Search => "search",
            Op::Autocomplete => "autocomplete",
        }
    }
}

#[derive(Clone, Default)]
pub struct OpStats {
    pub latency: Histogram,
    pub outcomes: BTreeMap<Outcome, u64>,
}

impl OpStats {
    pub fn count(&self) -> u64 {
        self.outcomes.values().sum()
    }

    pub fn outcome(&self, outcome: Outcome) -> u64 {
        self.outcomes.get(&outcome).copied().unwrap_or(0)
    }
}

/// Requests that start inside [from, until) are recorded; the rest (warm-up,
/// stragglers after the deadline) are only counted as `ignored`.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    pub from: Instant,
    pub until: Instant,
}

impl Window {
    pub fn contains(&self, at: Instant) -> bool {
        at >= self.from && at < self.until
    }

    pub fn length(&self) -> Duration {
        self.until.saturating_duration_since(self.from)
    }
}

pub struct Recorder {
    window: Window,
    pub ops: BTreeMap<Op, OpStats>,
    pub ignored: u64,
    /// The thread's window of the timeline, if the scenario keeps one.
    timeline: Option<Arc<Shard>>,
}

impl Recorder {
    pub fn new(window: Window) -> Self {
        Recorder {
            window,
            ops: BTreeMap::new(),
            ignored: 0,
            timeline: None,
        }
    }

    /// Records into `shard` too from now on (see `crate::timeline`).
    pub fn sample_into(&mut self, shard: Arc<Shard>) {
        self.timeline = Some(shard);
    }

    /// A request started at `started` and answered now.
    pub fn record(&mut self, op: Op, started: Instant, outcome: Outcome) {
        let nanos = started.elapsed().as_nanos().min(u64::MAX as u128) as u64;
        self.record_latency(op, started, nanos, outcome);
    }

    /// A request started at `started` that took `nanos`.
    pub fn record_latency(&mut self, op: Op, started: Instant, nanos: u64, outcome: Outcome) {
        if !self.window.contains(started) {
            self.ignored += 1;
            return;
        }
        if let Some(shard) = &self.timeline {
            shard.record(op, nanos);
        }
        let stats = self.ops.entry(op).or_default();
        stats.latency.record(nanos);
        *stats.outcomes.entry(outcome).or_default() += 1;
    }

    pub fn merge(&mut self, other: Recorder) {
        for (op, stats) in other.ops {
            let mine = self.ops.entry(op).or_default();
            mine.latency.merge(&stats.latency);
            for (outcome, n) in stats.outcomes {
                *mine.outcomes.entry(outcome).or_default() += n;
            }
        }
        self.ignored += other.ignored;
    }

    pub fn window(&self) -> Window {
        self.window
    }

    pub fn op(&self, op: Op) -> OpStats {
        self.ops.get(&op).cloned().unwrap_or_default()
    }
}
