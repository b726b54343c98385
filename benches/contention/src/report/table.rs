//! The terminal table: one block per run (headline figures, then one line
//! per operation, then the invariant checks), and the comparisons.

use std::fmt::Write;

use super::{HarnessReport, RunReport};

/// A fact as a number with `decimals`, or "n/a".
fn number(run: &RunReport, fact: &str, decimals: usize) -> String {
    run.facts
        .get(fact)
        .and_then(|v| v.as_f64())
        .map_or("n/a".into(), |v| format!("{v:.decimals$}"))
}

/// The stadium's ETA accuracy and server memory, when the run has them.
fn stadium_lines(out: &mut String, run: &RunReport) {
    if run.facts.contains_key("eta_users") {
        let share = run
            .facts
            .get("eta_within_25pct_share")
            .and_then(|v| v.as_f64());
        let _ = writeln!(
            out,
            "   queue ETA: {} admitted users with one; {} within ±25% of the first ETA; |error| p50 {}%, p90 {}%",
            number(run, "eta_users", 0),
            share.map_or("n/a".into(), |s| format!("{:.1}%", s * 100.0)),
            number(run, "eta_error_p50_pct", 1),
            number(run, "eta_error_p90_pct", 1),
        );
        if let Some(share) = run
            .facts
            .get("eta_within_25pct_share_excl_conn_wait")
            .and_then(|v| v.as_f64())
        {
            let _ = writeln!(
                out,
                "   queue ETA, actual wait less the harness's connection waits: {:.1}% within ±25%; |error| p50 {}%, p90 {}%",
                share * 100.0,
                number(run, "eta_error_p50_pct_excl_conn_wait", 1),
                number(run, "eta_error_p90_pct_excl_conn_wait", 1),
            );
        }
    }
    split_line(out, run);
    if let Some(groups) = run.facts.get("eta_by_position").and_then(|v| v.as_array()) {
        let value = |g: &serde_json::Value, key: &str, scale: f64| {
            g.get(key)
                .and_then(|v| v.as_f64())
                .map_or("n/a".into(), |v| {
                    // Positions are whole numbers.
                    if key.starts_with("position") {
                        format!("{v:.0}")
                    } else {
                        format!("{:.1}", v * scale)
                    }
                })
        };
        for g in groups {
            let _ = writeln!(
                out,
                "     positions {}-{}: {}% within ±25%; first ETA p50 {} s (given at {} s), actual p10/p50/p90 {}/{}/{} s, actual÷ETA p50 {}; less connection waits: actual p50 {} s, {}% within ±25%",
                value(g, "position_from", 1.0),
                value(g, "position_to", 1.0),
                value(g, "within_25pct_share", 100.0),
                value(g, "eta_p50_s", 1.0),
                value(g, "eta_given_at_p50_s", 1.0),
                value(g, "actual_p10_s", 1.0),
                value(g, "actual_p50_s", 1.0),
                value(g, "actual_p90_s", 1.0),
                value(g, "actual_over_eta_p50", 1.0),
                value(g, "actual_excl_conn_wait_p50_s", 1.0),
                value(g, "within_25pct_share_excl_conn_wait", 100.0),
            );
        }
    }
    if run.facts.contains_key("server_rss_peak_mb") {
        let _ = writeln!(
            out,
            "   server RSS: {} MiB before the crowd, {} MiB with the crowd in line, {} MiB peak ({})",
            number(run, "server_rss_before_crowd_mb", 1),
            number(run, "server_rss_crowd_in_line_mb", 1),
            number(run, "server_rss_peak_mb", 1),
            run.facts
                .get("server_rss_of")
                .and_then(|v| v.as_str())
                .unwrap_or("unknown process"),
        );
    }
}

/// Each operation's wait for a connection and time on the wire (the
/// `<op>_conn_wait_p99_ms` and `<op>_wire_p99_ms` facts), when the run has them.
fn split_line(out: &mut String, run: &RunReport) {
    let parts: Vec<String> = run
        .facts
        .keys()
        .filter_map(|key| key.strip_suffix("_wire_p99_ms"))
        .map(|op| {
            format!(
                "{op} {} / {}",
                number(run, &format!("{op}_conn_wait_p99_ms"), 1),
                number(run, &format!("{op}_wire_p99_ms"), 1)
            )
        })
        .collect();
    if !parts.is_empty() {
        let _ = writeln!(
            out,
            "   p99 ms, waiting for a connection / on the wire: {}",
            parts.join(", ")
        );
    }
}

fn run_block(out: &mut String, run: &RunReport) {
    let _ = writeln!(
        out,
        "\n== {} | {} | {} clients{} | {:.1} s | {}",
        run.scenario,
        run.mode,
        run.clients,
        if run.connections > 0 {
            format!(", {} connections", run.connections)
        } else {
            String::new()
        },
        run.seconds,
        if run.passed() {
            "invariants OK"
        } else {
            "INVARIANT FAILED"
        }
    );
    let _ = writeln!(
        out,
        "   attempts {:>10.0}/s   successful holds {:>10.0}/s   all requests {:>10.0}/s   peak RSS {} ({})",
        run.attempts_per_sec,
        run.successful_holds_per_sec,
        run.requests_per_sec,
        run.peak_rss_mib
            .map_or("n/a".to_string(), |m| format!("{m:.0} MiB")),
        run.rss_of
    );
    let outcomes: Vec<String> = run
        .outcomes
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    let _ = writeln!(out, "   outcomes: {}", outcomes.join(", "));
    let _ = writeln!(
        out,
        "   {:<14} {:>10} {:>10} {:>9} {:>9} {:>9} {:>9}  outcomes",
        "operation", "count", "per s", "p50 ms", "p95 ms", "p99 ms", "max ms"
    );
    for (name, op) in &run.ops {
        let outcomes: Vec<String> = op
            .outcomes
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let _ = writeln!(
            out,
            "   {:<14} {:>10} {:>10.0} {:>9.3} {:>9.3} {:>9.3} {:>9.3}  {}",
            name,
            op.count,
            op.per_sec,
            op.p50_ms,
            op.p95_ms,
            op.p99_ms,
            op.max_ms,
            outcomes.join(" ")
        );
    }
    stadium_lines(out, run);
    if !run.facts.is_empty() {
        let facts: Vec<String> = run.facts.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let _ = writeln!(out, "   facts: {}", facts.join(", "));
    }
    for check in &run.invariants {
        let _ = writeln!(
            out,
            "   [{}] {}: {}",
            if check.ok { " ok " } else { "FAIL" },
            check.name,
            check.detail
        );
    }
}

/// Every run in one line each, then Boxoffice ÷ baseline (successful holds/s)
/// per (scenario, clients): one column per Boxoffice mode.
fn ratio_table(out: &mut String, report: &HarnessReport) {
    if !report.runs.iter().any(|r| r.mode == "baseline") {
        return;
    }
    let _ = writeln!(
        out,
        "== side by side\n   {:<26} {:<15} {:>8} {:>12} {:>12} {:>9} {:>9}",
        "system", "scenario", "clients", "attempts/s", "holds/s", "p50 ms", "p99 ms"
    );
    for run in &report.runs {
        let (p50, p99) = run
            .main_op()
            .map_or((f64::NAN, f64::NAN), |o| (o.p50_ms, o.p99_ms));
        let system = if run.system == "boxoffice" {
            format!("boxoffice {}", run.mode)
        } else {
            run.system.clone()
        };
        let _ = writeln!(
            out,
            "   {:<26} {:<15} {:>8} {:>12.0} {:>12.0} {:>9.2} {:>9.2}",
            system,
            run.scenario,
            run.clients,
            run.attempts_per_sec,
            run.successful_holds_per_sec,
            p50,
            p99
        );
    }
    let _ = writeln!(
        out,
        "== Boxoffice ÷ baseline, successful holds/s (same run)\n   {:<22} {:<15} {:>8} {:>12} {:>12}",
        "baseline", "scenario", "clients", "in-process", "http"
    );
    for base in report.runs.iter().filter(|r| r.mode == "baseline") {
        let cell = |mode: &str| {
            report
                .runs
                .iter()
                .find(|r| {
                    r.system == "boxoffice"
                        && r.mode == mode
                        && r.scenario == base.scenario
                        && r.clients == base.clients
                })
                .map_or("-".to_string(), |r| {
                    if base.successful_holds_per_sec > 0.0 {
                        format!(
                            "{:.2}",
                            r.successful_holds_per_sec / base.successful_holds_per_sec
                        )
                    } else {
                        "inf".to_string()
                    }
                })
        };
        let _ = writeln!(
            out,
            "   {:<22} {:<15} {:>8} {:>12} {:>12}",
            base.system,
            base.scenario,
            base.clients,
            cell("in-process"),
            cell("http")
        );
    }
}

/// One run's block.
pub fn render_run(run: &RunReport) -> String {
    let mut out = String::new();
    run_block(&mut out, run);
    out
}

/// The comparisons with the targets, and the notes (the runs were printed as they ended).
pub fn render_summary(report: &HarnessReport) -> String {
    let mut out = String::new();
    let failed: Vec<String> = report
        .runs
        .iter()
        .filter(|r| !r.passed())
        .map(|r| format!("{} {} {} clients", r.scenario, r.mode, r.clients))
        .collect();
    let _ = writeln!(
        out,
        "\n== {} run(s); invariants: {}",
        report.runs.len(),
        if failed.is_empty() {
            "all held".to_string()
        } else {
            format!("FAILED in {}", failed.join("; "))
        }
    );
    ratio_table(&mut out, report);
    if !report.comparisons.is_empty() {
        let _ = writeln!(
            out,
            "== comparisons with the issue's targets and the baselines"
        );
        for c in &report.comparisons {
            let _ = writeln!(out, "   {}: {:.3} ({})", c.name, c.ratio, c.detail);
        }
    }
    for note in &report.notes {
        let _ = writeln!(out, "note: {note}");
    }
    out
}
