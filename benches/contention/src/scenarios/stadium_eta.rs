//! How good the stadium's first estimated waits were (`eta_*` facts).
//!
//! Each admitted user's first `estimatedWaitSeconds` (after PRE_QUEUE) is
//! compared with the wait it actually had: from sending the request whose
//! answer carried it to receiving the first ACTIVE answer. Besides the
//! overall share within ±25%, the users are split by the position they were
//! told with that first estimate (`eta_by_position`: ten groups of equal
//! size, front to back), so a run shows where in the line the estimate is
//! wrong, how (actual ÷ estimate) and when those estimates were given.
//!
//! Two actual waits, over the same users:
//! - `actual` (facts `eta_within_25pct_share`, `eta_error_*`,
//!   `eta_by_position`: the definition the target was first
//!   reported with): as the user saw it, so over HTTP it includes the two
//!   requests' waits for a free connection of the harness's pool, which,
//!   with all users arriving at once, is their wait behind the rest of the
//!   crowd's requests, not the server's line;
//! - `actual_excl_conn_wait` (facts `eta_*_excl_conn_wait`): the same span
//!   with those two waits taken out (equal to `actual` in process, where
//!   there is no pool). The time on the wire and the polling pace
//!   (admission is seen at the next poll) stay in both.

use serde_json::{json, Value};
use std::time::{Duration, Instant};

use crate::target::QueuePlace;

/// Groups of `eta_by_position`: deciles of the admitted users.
const POSITION_GROUPS: usize = 10;

/// One admitted user's first estimate and actual wait.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EtaRecord {
    pub eta_seconds: u64,
    pub actual_seconds: f64,
    /// `actual_seconds` less the two requests' waits for a connection.
    pub actual_excl_conn_wait_seconds: f64,
    /// The position told with that estimate (0 if the answer had none).
    pub position: u64,
    /// When the request that brought the estimate was sent.
    pub sent: Instant,
}

/// A user's first estimated wait while it waits for admission: the
/// estimate, the position told with it, when its request was sent and how
/// long that request waited for a connection.
#[derive(Default)]
pub struct FirstEta(Option<(u64, u64, Instant, Duration)>);

impl FirstEta {
    /// Notes an answer to a request sent at `sent` that waited `conn_wait`
    /// for a connection; on the first ACTIVE one, returns the first
    /// estimate against the actual wait.
    pub fn answered(
        &mut self,
        place: &QueuePlace,
        sent: Instant,
        conn_wait: Duration,
    ) -> Option<EtaRecord> {
        if self.0.is_none() && !place.pre_queue {
            self.0 = place
                .estimated_wait_seconds
                .map(|eta| (eta, place.position.unwrap_or(0), sent, conn_wait));
        }
        if !place.active {
            return None;
        }
        let (eta_seconds, position, sent, first_conn_wait) = self.0.take()?;
        let actual = sent.elapsed();
        Some(EtaRecord {
            eta_seconds,
            actual_seconds: actual.as_secs_f64(),
            actual_excl_conn_wait_seconds: actual
                .saturating_sub(first_conn_wait + conn_wait)
                .as_secs_f64(),
            position,
            sent,
        })
    }
}

/// The first estimated waits against the actual ones.
#[derive(Debug, PartialEq)]
pub struct EtaAccuracy {
    pub users: usize,
    pub within_25pct_share: Option<f64>,
    pub error_p50_pct: Option<f64>,
    pub error_p90_pct: Option<f64>,
    /// The same three against `actual_excl_conn_wait` (see the module doc).
    pub excl_conn_wait_within_25pct_share: Option<f64>,
    pub excl_conn_wait_error_p50_pct: Option<f64>,
    pub excl_conn_wait_error_p90_pct: Option<f64>,
    /// `eta_by_position`: see the module doc.
    pub by_position: Value,
}

impl EtaAccuracy {
    /// From each admitted user's record; `start` is the run's start, for
    /// when the estimates were given.
    pub fn of(records: &[EtaRecord], start: Instant) -> EtaAccuracy {
        let errors = sorted(records.iter().map(error_pct));
        let errors_excl = sorted(
            records
                .iter()
                .map(|r| eta_error_pct(r.eta_seconds, r.actual_excl_conn_wait_seconds)),
        );
        let mut by_position = records.to_vec();
        by_position.sort_by_key(|r| r.position);
        let size = by_position.len().div_ceil(POSITION_GROUPS).max(1);
        let groups: Vec<Value> = by_position
            .chunks(size)
            .map(|group| group_summary(group, start))
            .collect();
        EtaAccuracy {
            users: errors.len(),
            within_25pct_share: within_share(&errors),
            error_p50_pct: percentile(&errors, 0.50),
            error_p90_pct: percentile(&errors, 0.90),
            excl_conn_wait_within_25pct_share: within_share(&errors_excl),
            excl_conn_wait_error_p50_pct: percentile(&errors_excl, 0.50),
            excl_conn_wait_error_p90_pct: percentile(&errors_excl, 0.90),
            by_position: Value::Array(groups),
        }
    }
}

/// One group of users of adjacent positions.
fn group_summary(group: &[EtaRecord], start: Instant) -> Value {
    let errors = sorted(group.iter().map(error_pct));
    let etas = sorted(group.iter().map(|r| r.eta_seconds as f64));
    let actuals = sorted(group.iter().map(|r| r.actual_seconds));
    let actuals_excl = sorted(group.iter().map(|r| r.actual_excl_conn_wait_seconds));
    let errors_excl = sorted(
        group
            .iter()
            .map(|r| eta_error_pct(r.eta_seconds, r.actual_excl_conn_wait_seconds)),
    );
    let ratios = sorted(
        group
            .iter()
            .filter(|r| r.eta_seconds > 0)
            .map(|r| r.actual_seconds / r.eta_seconds as f64),
    );
    let given = sorted(
        group
            .iter()
            .map(|r| r.sent.saturating_duration_since(start).as_secs_f64()),
    );
    json!({
        "position_from": group.first().map(|r| r.position),
        "position_to": group.last().map(|r| r.position),
        "users": group.len(),
        "within_25pct_share": within_share(&errors),
        "eta_p50_s": percentile(&etas, 0.50),
        "actual_p10_s": percentile(&actuals, 0.10),
        "actual_p50_s": percentile(&actuals, 0.50),
        "actual_p90_s": percentile(&actuals, 0.90),
        "actual_over_eta_p50": percentile(&ratios, 0.50),
        "within_25pct_share_excl_conn_wait": within_share(&errors_excl),
        "actual_excl_conn_wait_p50_s": percentile(&actuals_excl, 0.50),
        "eta_given_at_p50_s": percentile(&given, 0.50),
    })
}

fn error_pct(record: &EtaRecord) -> f64 {
    eta_error_pct(record.eta_seconds, record.actual_seconds)
}

fn sorted(values: impl Iterator<Item = f64>) -> Vec<f64> {
    let mut values: Vec<f64> = values.collect();
    values.sort_by(f64::total_cmp);
    values
}

fn within_share(errors: &[f64]) -> Option<f64> {
    let within = errors.iter().filter(|e| **e <= 25.0).count();
    (!errors.is_empty()).then(|| within as f64 / errors.len() as f64)
}

/// |actual − ETA| / ETA, in percent. An ETA of 0 promises admission at
/// once: 0% if it came within 1 s, else the actual wait against 1 s.
pub fn eta_error_pct(eta_seconds: u64, actual_seconds: f64) -> f64 {
    if eta_seconds == 0 {
        return if actual_seconds < 1.0 {
            0.0
        } else {
            actual_seconds * 100.0
        };
    }
    let eta = eta_seconds as f64;
    (actual_seconds - eta).abs() / eta * 100.0
}

/// The nearest-rank `q` quantile of sorted `values`.
fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(eta_seconds: u64, actual_seconds: f64, position: u64, start: Instant) -> EtaRecord {
        EtaRecord {
            eta_seconds,
            actual_seconds,
            actual_excl_conn_wait_seconds: actual_seconds,
            position,
            sent: start,
        }
    }

    #[test]
    fn eta_error_is_relative_and_zero_means_within_a_second() {
        let start = Instant::now();
        assert_eq!(eta_error_pct(10, 12.5), 25.0);
        assert_eq!(eta_error_pct(10, 5.0), 50.0);
        assert_eq!(eta_error_pct(0, 0.4), 0.0);
        assert_eq!(eta_error_pct(0, 3.0), 300.0);
        let records = [
            record(10, 10.0, 3, start),
            record(10, 12.0, 4, start),
            record(0, 0.2, 1, start),
            record(4, 8.0, 2, start),
        ];
        let accuracy = EtaAccuracy::of(&records, start);
        assert_eq!(accuracy.users, 4);
        assert_eq!(accuracy.within_25pct_share, Some(0.75));
        assert_eq!(accuracy.error_p50_pct, Some(0.0));
        assert_eq!(accuracy.error_p90_pct, Some(100.0));
        assert_eq!(EtaAccuracy::of(&[], start).within_25pct_share, None);
    }

    #[test]
    fn the_variant_without_connection_waits_is_judged_on_its_own_wait() {
        let start = Instant::now();
        // Told 10 s; waited 14 s as seen, of which 4 s for connections.
        let mut queued = record(10, 14.0, 1, start);
        queued.actual_excl_conn_wait_seconds = 10.0;
        let accuracy = EtaAccuracy::of(&[queued, record(10, 10.0, 2, start)], start);
        assert_eq!(accuracy.within_25pct_share, Some(0.5));
        assert_eq!(accuracy.excl_conn_wait_within_25pct_share, Some(1.0));
        assert_eq!(accuracy.error_p90_pct, Some(40.0));
        assert_eq!(accuracy.excl_conn_wait_error_p90_pct, Some(0.0));
    }

    #[test]
    fn groups_split_the_users_by_position_front_to_back() {
        let start = Instant::now();
        // 20 users: the front half told 1 s and admitted in 1 s, the back
        // half told 10 s and admitted in 2 s.
        let records: Vec<EtaRecord> = (1..=20u64)
            .rev()
            .map(|p| {
                if p <= 10 {
                    record(1, 1.0, p, start)
                } else {
                    record(10, 2.0, p, start)
                }
            })
            .collect();
        let accuracy = EtaAccuracy::of(&records, start);
        let groups = accuracy.by_position.as_array().expect("an array");
        assert_eq!(groups.len(), 10);
        assert_eq!(groups[0]["position_from"], json!(1));
        assert_eq!(groups[0]["position_to"], json!(2));
        assert_eq!(groups[0]["within_25pct_share"], json!(1.0));
        assert_eq!(groups[9]["position_to"], json!(20));
        assert_eq!(groups[9]["within_25pct_share"], json!(0.0));
        assert_eq!(groups[9]["actual_over_eta_p50"], json!(0.2));
        assert_eq!(groups[9]["eta_given_at_p50_s"], json!(0.0));
        let users: u64 = groups.iter().filter_map(|g| g["users"].as_u64()).sum();
        assert_eq!(users, 20);
    }
}
