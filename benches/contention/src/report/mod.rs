//! The harness's results: one [`RunReport`] per (scenario, mode, client
//! count), gathered in a [`HarnessReport`]. The same schema is the JSON
//! output (`--json`) and the input of `--baseline-json`, so the baselines
//! work (PostgreSQL, Redis) can write files of this shape and have them
//! drawn on the same chart: set `system` to name the baseline.
//!
//! - [`table`]: the terminal table; [`svg`]: the chart; [`timeline_svg`]:
//!   the stadium's timeline chart.

pub mod svg;
pub mod table;
pub mod timeline_svg;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

use crate::invariants::Check;
use crate::scenarios::ScenarioRun;
use crate::stats::{Op, OpStats, Outcome};
use crate::timeline::Sample;

/// Schema version of the JSON; bump on an incompatible change.
pub const SCHEMA: u32 = 1;

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct OpReport {
    pub count: u64,
    pub per_sec: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub outcomes: BTreeMap<String, u64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunReport {
    /// "boxoffice", or the baseline's name ("postgres-update", "redis-setnx", ...).
    pub system: String,
    pub scenario: String,
    /// "in-process", "http" or "hello".
    pub mode: String,
    pub clients: usize,
    /// Client connections (HTTP pool size); 0 in process.
    pub connections: usize,
    pub client_threads: usize,
    pub offered_load: String,
    pub seconds: f64,
    /// Hold attempts (in `hello` mode: requests).
    pub attempts: u64,
    pub attempts_per_sec: f64,
    /// Holds answered 201 / Ok.
    pub successful_holds: u64,
    pub successful_holds_per_sec: f64,
    /// Every request of every operation.
    pub requests: u64,
    pub requests_per_sec: f64,
    pub ops: BTreeMap<String, OpReport>,
    /// won, conflict, expired, paid, unavailable_503, no_answer.
    pub outcomes: BTreeMap<String, u64>,
    pub peak_rss_mib: Option<f64>,
    pub rss_of: String,
    pub invariants: Vec<Check>,
    pub facts: BTreeMap<String, Value>,
    pub notes: Vec<String>,
    /// stadium-onsale: one sample per second of the run (seats sold, users
    /// waiting and active, each operation's count, p50 and p99 over that
    /// second); see `crate::timeline`. Added to schema 1: absent from the
    /// other scenarios and from older files.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub timeline: Vec<Sample>,
}

impl RunReport {
    pub fn passed(&self) -> bool {
        self.invariants.iter().all(|c| c.ok)
    }

    /// The hold row, or the hello row in `hello` mode.
    pub fn main_op(&self) -> Option<&OpReport> {
        self.ops
            .get(Op::Hold.name())
            .or_else(|| self.ops.get(Op::Hello.name()))
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Comparison {
    pub name: String,
    pub ratio: f64,
    pub detail: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HarnessReport {
    pub schema: u32,
    pub tool: String,
    pub command: Vec<String>,
    pub unix_time: u64,
    pub cores: usize,
    pub runs: Vec<RunReport>,
    pub comparisons: Vec<Comparison>,
    pub notes: Vec<String>,
}

fn ms(nanos: u64) -> f64 {
    nanos as f64 / 1e6
}

fn op_report(stats: &OpStats, seconds: f64) -> OpReport {
    debug_assert_eq!(
        stats.latency.count(),
        stats.count(),
        "one sample per outcome"
    );
    OpReport {
        count: stats.count(),
        per_sec: stats.count() as f64 / seconds,
        p50_ms: ms(stats.latency.quantile(0.50)),
        p95_ms: ms(stats.latency.quantile(0.95)),
        p99_ms: ms(stats.latency.quantile(0.99)),
        max_ms: ms(stats.latency.max()),
        outcomes: stats
            .outcomes
            .iter()
            .map(|(o, n)| (o.code().to_string(), *n))
            .collect(),
    }
}

/// Where a run happened and how it was loaded.
pub struct RunContext {
    pub scenario: String,
    pub mode: String,
    pub clients: usize,
    pub connections: usize,
    pub client_threads: usize,
    pub peak_rss_kib: Option<u64>,
    pub rss_of: String,
}

pub fn build(ctx: RunContext, run: ScenarioRun) -> RunReport {
    let seconds = run.elapsed.as_secs_f64().max(1e-9);
    let recorder = &run.recorder;
    let ops: BTreeMap<String, OpReport> = recorder
        .ops
        .iter()
        .map(|(op, stats)| (op.name().to_string(), op_report(stats, seconds)))
        .collect();
    let main = recorder
        .ops
        .get(&Op::Hold)
        .or_else(|| recorder.ops.get(&Op::Hello))
        .cloned()
        .unwrap_or_default();
    let attempts = main.count();
    let won = recorder.op(Op::Hold).outcome(Outcome::Ok);
    let requests: u64 = recorder.ops.values().map(|s| s.count()).sum();
    let across =
        |outcome: Outcome| -> u64 { recorder.ops.values().map(|s| s.outcome(outcome)).sum() };
    let mut outcomes = BTreeMap::new();
    outcomes.insert("won".to_string(), won);
    outcomes.insert(
        "conflict".to_string(),
        recorder.op(Op::Hold).outcome(Outcome::Conflict),
    );
    outcomes.insert(
        "expired".to_string(),
        run.facts
            .get("reservations_expired")
            .and_then(Value::as_u64)
            .unwrap_or(0)
            + recorder.op(Op::Pay).outcome(Outcome::Expired),
    );
    outcomes.insert(
        "paid".to_string(),
        recorder.op(Op::Pay).outcome(Outcome::Ok),
    );
    outcomes.insert("unavailable_503".to_string(), across(Outcome::Unavailable));
    outcomes.insert(
        "no_answer".to_string(),
        across(Outcome::Transport) + across(Outcome::Other),
    );
    let offered_load = if ctx.scenario == "stadium-onsale" {
        format!(
            "{} virtual users, each one request at a time with waits between polls and after refusals; {} connection(s)",
            ctx.clients, ctx.connections
        )
    } else {
        format!(
            "closed loop: {} clients, each with one request in flight at all times (no think time){}",
            ctx.clients,
            if ctx.connections > 0 {
                format!(", over {} keep-alive connection(s)", ctx.connections)
            } else {
                String::new()
            }
        )
    };
    RunReport {
        system: "boxoffice".into(),
        scenario: ctx.scenario,
        mode: ctx.mode,
        clients: ctx.clients,
        connections: ctx.connections,
        client_threads: ctx.client_threads,
        offered_load,
        seconds,
        attempts,
        attempts_per_sec: attempts as f64 / seconds,
        successful_holds: won,
        successful_holds_per_sec: won as f64 / seconds,
        requests,
        requests_per_sec: requests as f64 / seconds,
        ops,
        outcomes,
        peak_rss_mib: ctx.peak_rss_kib.map(|k| k as f64 / 1024.0),
        rss_of: ctx.rss_of,
        invariants: run.checks,
        facts: run.facts,
        notes: run.notes,
        timeline: run.timeline,
    }
}

/// Successful holds/s over HTTP against the hello world's requests/s, per
/// scenario and client count, when both ran.
pub fn compare(runs: &[RunReport]) -> Vec<Comparison> {
    let mut out = Vec::new();
    for http in runs
        .iter()
        .filter(|r| r.mode == "http" && r.system == "boxoffice")
    {
        let hello = runs
            .iter()
            .find(|h| h.mode == "hello" && h.clients == http.clients);
        if let Some(hello) = hello {
            if hello.requests_per_sec > 0.0 && http.scenario == "search" {
                // No holds: what is compared is answered searches and autocompletes.
                let ok = |op: &str| {
                    http.ops.get(op).map_or(0, |o| {
                        o.outcomes.get(Outcome::Ok.code()).copied().unwrap_or(0)
                    })
                };
                let answered = (ok("search") + ok("autocomplete")) as f64 / http.seconds;
                out.push(Comparison {
                    name: format!(
                        "search http searches+autocompletes/s ÷ hello world req/s @ {} clients",
                        http.clients
                    ),
                    ratio: answered / hello.requests_per_sec,
                    detail: format!(
                        "{answered:.0} answered/s (200) vs {:.0} req/s (no target)",
                        hello.requests_per_sec
                    ),
                });
            } else if hello.requests_per_sec > 0.0 {
                out.push(Comparison {
                    name: format!(
                        "{} http successful holds/s ÷ hello world req/s @ {} clients",
                        http.scenario, http.clients
                    ),
                    ratio: http.successful_holds_per_sec / hello.requests_per_sec,
                    detail: format!(
                        "{:.0} holds/s (201) vs {:.0} req/s; target ≥ 0.5",
                        http.successful_holds_per_sec, hello.requests_per_sec
                    ),
                });
            }
        }
    }
    out
}

/// Boxoffice ÷ baseline for every (scenario, clients) pair measured in the
/// same run, for each Boxoffice mode (in-process, HTTP) and each baseline:
/// the ratio of successful holds/s (the headline), with attempts/s and p99
/// hold latency side by side in the detail.
pub fn compare_baselines(runs: &[RunReport]) -> Vec<Comparison> {
    let mut out = Vec::new();
    let is_boxoffice = |r: &RunReport| r.system == "boxoffice" && r.mode != "hello";
    for base in runs.iter().filter(|r| r.mode == "baseline") {
        for ours in runs
            .iter()
            .filter(|r| is_boxoffice(r) && r.scenario == base.scenario && r.clients == base.clients)
        {
            let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::INFINITY };
            let p99 = |r: &RunReport| r.main_op().map_or(f64::NAN, |o| o.p99_ms);
            out.push(Comparison {
                name: format!(
                    "ratio {} {} ÷ {} @ {} clients: successful holds/s",
                    base.scenario, ours.mode, base.system, base.clients
                ),
                ratio: ratio(ours.successful_holds_per_sec, base.successful_holds_per_sec),
                detail: format!(
                    "holds/s {:.0} vs {:.0}; attempts/s {:.0} vs {:.0} (ratio {:.2}); p99 hold {:.2} vs {:.2} ms",
                    ours.successful_holds_per_sec,
                    base.successful_holds_per_sec,
                    ours.attempts_per_sec,
                    base.attempts_per_sec,
                    ratio(ours.attempts_per_sec, base.attempts_per_sec),
                    p99(ours),
                    p99(base)
                ),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(system: &str, mode: &str, clients: usize, holds: f64) -> RunReport {
        RunReport {
            system: system.into(),
            scenario: "hot-seats".into(),
            mode: mode.into(),
            clients,
            connections: 0,
            client_threads: 1,
            offered_load: String::new(),
            seconds: 1.0,
            attempts: 0,
            attempts_per_sec: holds * 2.0,
            successful_holds: 0,
            successful_holds_per_sec: holds,
            requests: 0,
            requests_per_sec: 0.0,
            ops: BTreeMap::new(),
            outcomes: BTreeMap::new(),
            peak_rss_mib: None,
            rss_of: String::new(),
            invariants: Vec::new(),
            facts: BTreeMap::new(),
            notes: Vec::new(),
            timeline: Vec::new(),
        }
    }

    #[test]
    fn baseline_ratios_pair_runs_of_the_same_scenario_and_clients() {
        let runs = vec![
            run("boxoffice", "in-process", 100, 9_000.0),
            run("boxoffice", "http", 100, 3_000.0),
            run("boxoffice", "in-process", 1_000, 1.0),
            run("pg-update", "baseline", 100, 1_000.0),
        ];
        let ratios = compare_baselines(&runs);
        assert_eq!(ratios.len(), 2, "one per Boxoffice mode at 100 clients");
        assert!((ratios[0].ratio - 9.0).abs() < 1e-9);
        assert!((ratios[1].ratio - 3.0).abs() < 1e-9);
        assert!(ratios[1].name.contains("http ÷ pg-update @ 100"));
    }
}
