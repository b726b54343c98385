//! The server's own view of its latency, read from its Prometheus
//! histogram (`boxoffice_http_request_duration_seconds`, `http/src/metrics.rs`)
//! at the end of an HTTP run.
//!
//! Why: over HTTP the harness's latencies are the clients' (the time from
//! handing a request to the client to its answer), so in the stadium, where
//! 100,000 users share 1,000 connections, they include the wait for a free
//! connection. The server's histogram times each request from the moment its
//! middleware sees it to the response, which is what the server's work and
//! its internal queues cost. Both are reported; neither replaces the other.
//!
//! The histogram has buckets, so a percentile is known only as "at most the
//! bucket bound where the cumulative count reaches it": reported as
//! `server_p99_le_ms` (an upper bound, in ms).

use serde_json::{json, Value};

const METRIC: &str = "boxoffice_http_request_duration_seconds_bucket";

/// Routes of the stadium's operations, by the harness's operation name.
pub const ROUTES: [(&str, &str, &str); 4] = [
    ("join", "POST", "/api/v1/queue/tokens"),
    ("poll", "GET", "/api/v1/queue/tokens/current"),
    ("hold", "POST", "/api/v1/reservations"),
    ("pay", "POST", "/api/v1/payments"),
];

/// The smallest bucket bound (ms) under which at least `quantile` of the
/// route's requests fell, and how many requests it saw; `None` without data.
pub fn quantile_upper_bound_ms(
    metrics: &str,
    method: &str,
    route: &str,
    quantile: f64,
) -> Option<(f64, u64)> {
    let labels_route = format!("route=\"{route}\"");
    let labels_method = format!("method=\"{method}\"");
    let mut buckets: Vec<(f64, u64)> = metrics
        .lines()
        .filter(|line| line.starts_with(METRIC))
        .filter(|line| line.contains(&labels_route) && line.contains(&labels_method))
        .filter_map(|line| {
            let le = line.split("le=\"").nth(1)?.split('"').next()?;
            let count = line.rsplit(' ').next()?.trim().parse::<u64>().ok()?;
            let bound = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse::<f64>().ok()?
            };
            Some((bound, count))
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total = buckets.last()?.1;
    if total == 0 {
        return None;
    }
    let needed = (quantile * total as f64).ceil() as u64;
    let bound = buckets.iter().find(|(_, count)| *count >= needed)?.0;
    Some((bound * 1_000.0, total))
}

/// `{op: {p99_le_ms, requests}}` for [`ROUTES`] found in `metrics`.
pub fn p99_facts(metrics: &str) -> Value {
    let mut facts = serde_json::Map::new();
    for (op, method, route) in ROUTES {
        if let Some((bound_ms, requests)) = quantile_upper_bound_ms(metrics, method, route, 0.99) {
            let bound = if bound_ms.is_finite() {
                json!(bound_ms)
            } else {
                json!("over the largest bucket")
            };
            facts.insert(op.into(), json!({"p99_le_ms": bound, "requests": requests}));
        }
    }
    Value::Object(facts)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"# TYPE boxoffice_http_request_duration_seconds histogram
boxoffice_http_request_duration_seconds_bucket{method="POST",route="/api/v1/reservations",le="0.005"} 90
boxoffice_http_request_duration_seconds_bucket{method="POST",route="/api/v1/reservations",le="0.01"} 98
boxoffice_http_request_duration_seconds_bucket{method="POST",route="/api/v1/reservations",le="0.02"} 100
boxoffice_http_request_duration_seconds_bucket{method="POST",route="/api/v1/reservations",le="+Inf"} 100
boxoffice_http_request_duration_seconds_bucket{method="GET",route="/api/v1/reservations",le="0.005"} 1
boxoffice_http_request_duration_seconds_bucket{method="GET",route="/api/v1/reservations",le="+Inf"} 1
"#;

    #[test]
    fn the_bound_is_the_first_bucket_holding_the_quantile() {
        assert_eq!(
            quantile_upper_bound_ms(SAMPLE, "POST", "/api/v1/reservations", 0.99),
            Some((20.0, 100))
        );
        assert_eq!(
            quantile_upper_bound_ms(SAMPLE, "POST", "/api/v1/reservations", 0.9),
            Some((5.0, 100))
        );
        assert_eq!(
            quantile_upper_bound_ms(SAMPLE, "POST", "/api/v1/payments", 0.99),
            None
        );
        let facts = p99_facts(SAMPLE);
        assert_eq!(facts["hold"]["p99_le_ms"], json!(20.0));
        assert!(facts.get("pay").is_none());
    }
}
