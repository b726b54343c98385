//! What the clients record while a scenario runs: per operation, a latency
//! histogram and a count of each outcome, limited to the measurement window.
//!
//! Each client thread owns one [`Recorder`] (no locks on the hot path); the
//! client runner (`crate::clients`) merges them when the threads finish.
//! A recorder may also feed the thread's [`Shard`] of the run's timeline
//! (`crate::timeline`), with the same requests.
//!
//! Over HTTP a request's latency is the time a user saw: its wait for a free
//! connection of the client's pool, then its time on the wire (sending,
//! the server's work, the answer read). Where the target tells the first
//! part (see `crate::target::Client::take_conn_wait`), [`Recorder::split`]
//! keeps both parts apart, for the same requests, beside `ops`.

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

/// One operation's latencies in two parts (see the module doc).
#[derive(Clone, Default)]
pub struct SplitStats {
    /// Waiting for a free connection of the client's pool.
    pub conn_wait: Histogram,
    /// The rest: from having a connection to the whole answer read.
    pub wire: Histogram,
}

pub struct Recorder {
    window: Window,
    pub ops: BTreeMap<Op, OpStats>,
    /// The requests of `ops` whose wait for a connection the target told.
    pub split: BTreeMap<Op, SplitStats>,
    /// How late the client thread's loop woke a probe that sleeps
    /// `crate::clients::LAG_PROBE_EVERY` (see `crate::clients`): the
    /// thread's own delay in running its clients, which is in every
    /// latency measured on it.
    pub loop_lag: Histogram,
    pub ignored: u64,
    /// The thread's window of the timeline, if the scenario keeps one.
    timeline: Option<Arc<Shard>>,
}

impl Recorder {
    pub fn new(window: Window) -> Self {
        Recorder {
            window,
            ops: BTreeMap::new(),
            split: BTreeMap::new(),
            loop_lag: Histogram::default(),
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

    /// The two parts of a request started at `started` (recorded in `ops`
    /// as a whole too): `conn_wait_nanos` waiting for a connection, then
    /// `wire_nanos`. Outside the window: nothing (it is counted as ignored
    /// by [`Recorder::record`]).
    pub fn record_split(
        &mut self,
        op: Op,
        started: Instant,
        conn_wait_nanos: u64,
        wire_nanos: u64,
    ) {
        if !self.window.contains(started) {
            return;
        }
        let split = self.split.entry(op).or_default();
        split.conn_wait.record(conn_wait_nanos);
        split.wire.record(wire_nanos);
    }

    pub fn merge(&mut self, other: Recorder) {
        for (op, stats) in other.ops {
            let mine = self.ops.entry(op).or_default();
            mine.latency.merge(&stats.latency);
            for (outcome, n) in stats.outcomes {
                *mine.outcomes.entry(outcome).or_default() += n;
            }
        }
        for (op, split) in other.split {
            let mine = self.split.entry(op).or_default();
            mine.conn_wait.merge(&split.conn_wait);
            mine.wire.merge(&split.wire);
        }
        self.loop_lag.merge(&other.loop_lag);
        self.ignored += other.ignored;
    }

    /// Facts of `split`: `<operation>_conn_wait_p50_ms` / `_p99_ms` and
    /// `<operation>_wire_p50_ms` / `_p99_ms` / `_max_ms` of each operation
    /// with any; and of `loop_lag`: `client_loop_lag_p99_ms` / `_max_ms`.
    pub fn split_facts(&self) -> BTreeMap<String, serde_json::Value> {
        let ms = |nanos: u64| serde_json::json!(nanos as f64 / 1e6);
        let mut facts = BTreeMap::new();
        if self.loop_lag.count() > 0 {
            facts.insert(
                "client_loop_lag_p99_ms".into(),
                ms(self.loop_lag.quantile(0.99)),
            );
            facts.insert("client_loop_lag_max_ms".into(), ms(self.loop_lag.max()));
        }
        for (op, split) in &self.split {
            let name = op.name();
            let wait = &split.conn_wait;
            let wire = &split.wire;
            facts.insert(format!("{name}_conn_wait_p50_ms"), ms(wait.quantile(0.50)));
            facts.insert(format!("{name}_conn_wait_p99_ms"), ms(wait.quantile(0.99)));
            facts.insert(format!("{name}_wire_p50_ms"), ms(wire.quantile(0.50)));
            facts.insert(format!("{name}_wire_p99_ms"), ms(wire.quantile(0.99)));
            facts.insert(format!("{name}_wire_max_ms"), ms(wire.max()));
        }
        facts
    }

    pub fn window(&self) -> Window {
        self.window
    }

    pub fn op(&self, op: Op) -> OpStats {
        self.ops.get(&op).cloned().unwrap_or_default()
    }
}
