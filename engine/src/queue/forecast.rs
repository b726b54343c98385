//! A forecast of the line's movement when admission is limited by room
//! (`max_active`): how many more people will have been admitted after each
//! of the next seconds, for waiting-time estimates.
//!
//! Why not one measured exit rate: admitted users leave in two ways. Most
//! pay within seconds; the rest walk away without leaving and keep their
//! place in the room until their active time runs out (measured 2026-12-07,
//! session 17, stadium run with `maxActive` 1,000: a tenth of the admitted
//! held their ACTIVE token for the whole 60 s). The first minute's exits
//! are the fast payers only, so a rate taken from them promised waits of
//! seconds; meanwhile the room filled with those who stayed, nobody was
//! admitted until their active times ran out, and then, within seconds, a
//! whole room's worth of chains of fast payers went through. The line moves
//! in steps that a single rate cannot show.
//!
//! What the queue knows exactly, and what it measures, per cohort (the
//! users admitted within one `COHORT_MS`, kept for one active time):
//! - how many were admitted and how many of them have paid, and how long
//!   those payments took;
//! - so, once a cohort is older than the longest payment seen (the linger
//!   age), who of it is still in the room will stay until its active time
//!   ends, a moment the queue set itself.
//!
//! From the cohorts old enough, the share of admitted users who pay (`q`)
//! and the mean time they take; then a step-by-step fluid model of the full
//! room: free places are filled at the batch clock's pace, each newcomer
//! pays after the mean payment time with probability `q`, else stays until
//! its active time ends; the known stayers leave at their known times.
//! Beyond the horizon, the long-run pace: `max_active` per mean stay.
//!
//! The forecast is anchored at the latest event the queue applied (its
//! `as_of`), and an estimate made later subtracts the time since: a room of
//! stayers sends no events until their time runs out, and the estimate must
//! count down meanwhile.
//!
//! It is anchored at the start of the `FORECAST_STEP_MS` step that holds
//! that event, not at the event itself, and remembered ([`Memo`]) until the
//! cohorts, the room or that step change: every join moves the latest event,
//! and a forecast cost 6.1 µs against a join's ~4.5 µs (a release probe,
//! 2026-12-07, session 18), so a crowd's joins rebuilt it for nothing. Within
//! one step only time moves, and the estimate already counts that down.
//!
//! Transient: the cohorts are rebuilt from the kept tokens (their admission
//! and end times) when a stored queue is loaded, and from the events on
//! replay, so nothing new is stored. Bounded: at most `MAX_COHORTS` cohorts,
//! `MAX_FORECAST_STEPS` steps per forecast. Floats appear here and in the
//! ETA only.

use crate::Timestamp;
use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

/// Admissions within this span form one cohort.
pub const COHORT_MS: i64 = 1_000;
/// Most cohorts kept: one active time's worth (the longest allowed), plus
/// the one being filled.
pub const MAX_COHORTS: usize = (3_600_000 / COHORT_MS) as usize + 1;
/// The fluid model's step: finer than a second, as estimates are in seconds.
pub const FORECAST_STEP_MS: i64 = 250;
/// The model runs at most this far ahead (two active times when shorter:
/// the stayers admitted during the forecast leave within it too).
pub const MAX_FORECAST_MS: i64 = 600_000;
pub const MAX_FORECAST_STEPS: usize = (MAX_FORECAST_MS / FORECAST_STEP_MS) as usize;
/// Fewer admitted users than this in the cohorts old enough: no measured
/// share of payers, no forecast.
pub const MIN_RESOLVED: u64 = 20;
/// The linger age is never below this: a payment takes at least a request
/// or two, and a shorter age would count slow payers as stayers.
pub const MIN_LINGER_MS: i64 = 1_000;
/// Points of the published curve, at `CURVE_FIRST_MS * CURVE_RATIO^k`:
/// a relative spacing, since the estimate's error is judged relatively
/// (±25%). The line moves in steps (a room of stayers freed at once), and
/// a step between two points is smeared over the gap: 8% apart keeps that
/// error under 8% (tried 25%: the next in line was told 42 s for 50 s).
/// 96 points reach 747 s, past `MAX_FORECAST_MS`.
pub const CURVE_POINTS: usize = 96;
const CURVE_FIRST_MS: f64 = 500.0;
const CURVE_RATIO: f64 = 1.08;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Cohort {
    start: Timestamp,
    admitted: u32,
    paid: u32,
    paid_stay_sum_ms: i64,
    paid_stay_max_ms: i64,
}

/// Admissions by cohort over the last active time; see the module doc.
#[derive(Clone, Debug, Default)]
pub(super) struct Cohorts {
    /// Oldest first, one per `COHORT_MS` bucket that had admissions.
    recent: VecDeque<Cohort>,
    /// Counts every change, so that a remembered forecast knows it is stale.
    revision: u64,
}

/// Always equal, like the poll times: derived from the tokens and events,
/// so a queue rebuilt from its log or a snapshot may differ only in
/// cohorts already forgotten by the live one.
impl PartialEq for Cohorts {
    fn eq(&self, _other: &Self) -> bool {
        true
    }
}

impl Cohorts {
    /// `count` users admitted at `at`, for `active_ms`.
    pub fn record_admissions(&mut self, at: Timestamp, count: usize, active_ms: i64) {
        self.revision += 1;
        let start = bucket_of(at);
        let count = u32::try_from(count).unwrap_or(u32::MAX);
        match self.recent.back_mut() {
            Some(last) if last.start == start => {
                last.admitted = last.admitted.saturating_add(count)
            }
            Some(last) if last.start > start => {} // out of order: only a replayed straggler
            _ => self.recent.push_back(Cohort {
                start,
                admitted: count,
                paid: 0,
                paid_stay_sum_ms: 0,
                paid_stay_max_ms: 0,
            }),
        }
        self.trim(at, active_ms);
    }

    /// A user admitted at `admitted_at` paid at `at`.
    pub fn record_payment(&mut self, admitted_at: Timestamp, at: Timestamp) {
        let start = bucket_of(admitted_at);
        let Ok(index) = self.recent.binary_search_by_key(&start, |c| c.start) else {
            return; // admitted before the kept cohorts
        };
        let stay_ms = at.millis_since(admitted_at).max(0);
        let cohort = &mut self.recent[index];
        if cohort.paid < cohort.admitted {
            self.revision += 1;
            cohort.paid += 1;
            cohort.paid_stay_sum_ms = cohort.paid_stay_sum_ms.saturating_add(stay_ms);
            cohort.paid_stay_max_ms = cohort.paid_stay_max_ms.max(stay_ms);
        }
    }

    pub fn len(&self) -> usize {
        self.recent.len()
    }

    /// Forgets cohorts whose active time ended before `now`.
    fn trim(&mut self, now: Timestamp, active_ms: i64) {
        while self
            .recent
            .front()
            .is_some_and(|c| c.start.plus_millis(COHORT_MS + active_ms) <= now)
            || self.recent.len() > MAX_COHORTS
        {
            self.recent.pop_front();
        }
    }
}

/// What the forecast needs of the queue besides its cohorts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Room {
    pub as_of: Timestamp,
    pub max_active: u32,
    /// Free places now.
    pub free: u64,
    /// Users in the room now.
    pub active: u64,
    pub batch_per_sec: f64,
    pub active_ms: i64,
}

/// Admissions expected from `as_of` on: `admitted[k]` by
/// `CURVE_FIRST_MS * CURVE_RATIO^k` after it, then `after_per_sec`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Curve {
    pub as_of: Timestamp,
    pub admitted: [f32; CURVE_POINTS],
    pub after_per_sec: f64,
}

/// When the curve's point `k` is, in ms after `as_of`.
pub fn curve_point_ms(k: usize) -> f64 {
    CURVE_FIRST_MS * CURVE_RATIO.powi(k as i32)
}

impl Curve {
    /// Seconds from `now` until `position` (1 = next) is admitted, unrounded:
    /// the time the curve reaches `position` (linear between points), less
    /// the time since `as_of`, never below 0.
    pub fn seconds_at(&self, position: u64, now: Timestamp) -> f64 {
        let wanted = position as f64;
        let (mut before_ms, mut before) = (0.0, 0.0);
        let mut at_ms = None;
        for (k, &admitted) in self.admitted.iter().enumerate() {
            // A torn read of a published curve may not be monotone.
            let admitted = f64::from(admitted).max(before);
            let point_ms = curve_point_ms(k);
            if admitted >= wanted {
                let share = (wanted - before) / (admitted - before).max(f64::MIN_POSITIVE);
                at_ms = Some(before_ms + share * (point_ms - before_ms));
                break;
            }
            (before_ms, before) = (point_ms, admitted);
        }
        let at_ms = at_ms.unwrap_or_else(|| {
            let rate = if self.after_per_sec.is_finite() && self.after_per_sec > 0.0 {
                self.after_per_sec
            } else {
                f64::MIN_POSITIVE
            };
            before_ms + (wanted - before) / rate * 1_000.0
        });
        let elapsed_ms = now.millis_since(self.as_of).max(0) as f64;
        ((at_ms - elapsed_ms) / 1_000.0).max(0.0)
    }
}

/// The start of the forecast step that holds `at`: what a forecast made at
/// `at` is anchored at (see the module doc).
pub(super) fn anchor_of(at: Timestamp) -> Timestamp {
    // Saturating: a queue that applied no event yet is as of `Timestamp::MIN`.
    Timestamp(
        at.millis()
            .saturating_sub(at.millis().rem_euclid(FORECAST_STEP_MS)),
    )
}

/// The last forecast made and what it was made of; rebuilt when any of that
/// changes. A pure cache: the same cohorts and room give the same forecast
/// whether it is remembered or not, so a queue loaded from storage (which
/// starts empty) estimates exactly as the live one did.
#[derive(Debug, Default)]
pub(super) struct Memo(Mutex<Option<(u64, Room, Option<Curve>)>>);

/// A copy starts empty: it is only a cache.
impl Clone for Memo {
    fn clone(&self) -> Self {
        Memo::default()
    }
}

impl Memo {
    /// [`forecast`] of `cohorts` and `room`, remembered.
    pub fn forecast(&self, cohorts: &Cohorts, room: Room) -> Option<Curve> {
        debug_assert_eq!(room.as_of, anchor_of(room.as_of), "anchor the room first");
        // A panic while this lock was held left at worst a stale entry that
        // the key below no longer matches; recover it rather than fail.
        let mut memo = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((revision, made_of, curve)) = memo.as_ref() {
            if *revision == cohorts.revision && *made_of == room {
                return *curve;
            }
        }
        let curve = forecast(cohorts, room);
        *memo = Some((cohorts.revision, room, curve));
        curve
    }
}

/// The forecast for a full room, or None until a share of payers is
/// measured (see the module doc).
pub(super) fn forecast(cohorts: &Cohorts, room: Room) -> Option<Curve> {
    let stay_max_ms = cohorts.recent.iter().map(|c| c.paid_stay_max_ms).max()?;
    if cohorts.recent.iter().all(|c| c.paid == 0) {
        return None;
    }
    let linger_ms = (stay_max_ms + stay_max_ms / 4).clamp(MIN_LINGER_MS, room.active_ms / 2);
    let resolved = |c: &Cohort| c.start.plus_millis(COHORT_MS + linger_ms) <= room.as_of;
    let (resolved_admitted, resolved_paid) = cohorts
        .recent
        .iter()
        .filter(|c| resolved(c))
        .fold((0u64, 0u64), |(a, p), c| {
            (a + u64::from(c.admitted), p + u64::from(c.paid))
        });
    if resolved_admitted < MIN_RESOLVED {
        return None;
    }
    let payer_share = resolved_paid as f64 / resolved_admitted as f64;
    // The mean payment time of the resolved cohorts only: in the others the
    // fast payers have paid and the slow not yet, so their mean is short
    // (measured 2026-12-07, session 17: with it, a crowd of 10,000 shoppers
    // who took ever longer as seats ran out was told waits too short, and
    // polled 45-85% more).
    let (stay_sum_ms, stays) =
        cohorts
            .recent
            .iter()
            .filter(|c| resolved(c))
            .fold((0i64, 0u64), |(sum, n), c| {
                (
                    sum.saturating_add(c.paid_stay_sum_ms),
                    n + u64::from(c.paid),
                )
            });
    let mean_stay_ms = (stay_sum_ms as f64 / stays.max(1) as f64).max(1.0);

    let horizon_ms = (2 * room.active_ms).min(MAX_FORECAST_MS);
    let steps = (horizon_ms / FORECAST_STEP_MS) as usize;
    let step_of = |ms: i64| (ms.max(0) + FORECAST_STEP_MS - 1) / FORECAST_STEP_MS;
    let active_steps = step_of(room.active_ms) as usize;
    // Places freed at each step by stayers whose active time ends then.
    let mut expiring = vec![0.0f64; steps];
    // Payers still to come among those in the room, and the rate they pay
    // at (per ms).
    let (mut paying, mut paying_per_ms) = (0.0f64, 0.0f64);
    for cohort in &cohorts.recent {
        // Mid-cohort, and only the part whose active time has not ended:
        // those who left are already free places.
        let ends_in_ms = cohort
            .start
            .plus_millis(room.active_ms + COHORT_MS / 2)
            .millis_since(room.as_of);
        let still_in = ((ends_in_ms + COHORT_MS / 2) as f64 / COHORT_MS as f64).clamp(0.0, 1.0);
        let left = f64::from(cohort.admitted - cohort.paid) * still_in;
        let stayers = if resolved(cohort) {
            left
        } else {
            let payers_to_come = (payer_share * f64::from(cohort.admitted)
                - f64::from(cohort.paid))
            .clamp(0.0, left);
            // Those still in have already stayed this long: they pay no
            // faster than the cohort has paid so far, nor than the mean.
            // (Measured 2026-12-07, session 17: a crowd of 10,000 admitted
            // at once paid ever slower as seats ran out; at the resolved
            // cohorts' mean the forecast told the line about five times too
            // short, and it polled 69-129% more.)
            let age_ms = room
                .as_of
                .millis_since(cohort.start.plus_millis(COHORT_MS / 2))
                .max(1) as f64;
            let residual_ms = if cohort.paid > 0 {
                mean_stay_ms.max(payers_to_come * age_ms / f64::from(cohort.paid))
            } else {
                mean_stay_ms.max(age_ms)
            };
            paying += payers_to_come;
            paying_per_ms += payers_to_come / residual_ms;
            left - payers_to_come
        };
        if let Some(slot) = expiring.get_mut(step_of(ends_in_ms) as usize) {
            *slot += stayers;
        }
    }

    // Never more leavers than users in the room (cohorts partly expired
    // between ticks, or a changed active time).
    let counted = paying + expiring.iter().sum::<f64>();
    if counted > room.active as f64 {
        let scale = room.active as f64 / counted;
        paying *= scale;
        paying_per_ms *= scale;
        expiring.iter_mut().for_each(|slot| *slot *= scale);
    }

    let leave_share = |mean_ms: f64| 1.0 - (-(FORECAST_STEP_MS as f64) / mean_ms.max(1.0)).exp();
    // Those admitted during the forecast pay at the resolved mean.
    let in_room_share = leave_share(if paying_per_ms > 0.0 {
        paying / paying_per_ms
    } else {
        mean_stay_ms
    });
    let newcomer_share = leave_share(mean_stay_ms);
    let mut newcomers_paying = 0.0f64;
    let per_step_cap = room.batch_per_sec * FORECAST_STEP_MS as f64 / 1_000.0;
    let mut free = room.free as f64;
    let mut admitted = 0.0f64;
    let mut by_step = Vec::with_capacity(steps);
    for step in 0..steps {
        let paid_now = paying * in_room_share + newcomers_paying * newcomer_share;
        paying -= paying * in_room_share;
        newcomers_paying -= newcomers_paying * newcomer_share;
        free += paid_now + expiring[step];
        let admit = free.min(per_step_cap);
        free -= admit;
        admitted += admit;
        newcomers_paying += payer_share * admit;
        if let Some(slot) = expiring.get_mut(step + active_steps) {
            *slot += (1.0 - payer_share) * admit;
        }
        by_step.push(admitted);
    }

    let mean_total_stay_ms =
        payer_share * mean_stay_ms + (1.0 - payer_share) * room.active_ms as f64;
    let slowest = f64::from(room.max_active) * 1_000.0 / room.active_ms.max(1) as f64;
    let after_per_sec = (f64::from(room.max_active) * 1_000.0 / mean_total_stay_ms.max(1.0))
        .max(slowest)
        .min(room.batch_per_sec);
    let end = by_step.last().copied().unwrap_or(0.0);
    let mut curve = [0.0f32; CURVE_POINTS];
    for (k, point) in curve.iter_mut().enumerate() {
        let point_ms = curve_point_ms(k);
        let value = if point_ms >= horizon_ms as f64 {
            end + after_per_sec * (point_ms - horizon_ms as f64) / 1_000.0
        } else {
            // Linear between the steps around the point (step i ends at (i+1) * step).
            let steps_in = point_ms / FORECAST_STEP_MS as f64;
            let below = steps_in.floor() as usize;
            let at = |i: usize| {
                if i == 0 {
                    0.0
                } else {
                    by_step[(i - 1).min(steps - 1)]
                }
            };
            let fraction = steps_in - below as f64;
            at(below) + fraction * (at(below + 1) - at(below))
        };
        *point = value as f32;
    }
    Some(Curve {
        as_of: room.as_of,
        admitted: curve,
        after_per_sec,
    })
}

/// The start of the cohort holding `at`.
fn bucket_of(at: Timestamp) -> Timestamp {
    Timestamp(at.millis() - at.millis().rem_euclid(COHORT_MS))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn curve(points: impl Fn(f64) -> f64, after_per_sec: f64) -> Curve {
        Curve {
            as_of: Timestamp(10_000),
            admitted: std::array::from_fn(|k| points(curve_point_ms(k)) as f32),
            after_per_sec,
        }
    }

    #[test]
    fn the_curve_is_read_backwards_and_counts_down_from_its_time() {
        // 100 a second from the start.
        let steady = curve(|ms| ms / 10.0, 100.0);
        let at_start = Timestamp(10_000);
        assert!((steady.seconds_at(100, at_start) - 1.0).abs() < 1e-3);
        assert!((steady.seconds_at(5_000, at_start) - 50.0).abs() < 1e-2);
        // 3 s later, 3 s less; never below 0.
        assert!((steady.seconds_at(5_000, Timestamp(13_000)) - 47.0).abs() < 1e-2);
        assert_eq!(steady.seconds_at(100, Timestamp(20_000)), 0.0);
        // Beyond the last point (747 s, 74,700 admitted): the long-run pace.
        let far = steady.seconds_at(100_000, at_start);
        let last_ms = curve_point_ms(CURVE_POINTS - 1);
        assert!((far - (last_ms / 1_000.0 + (100_000.0 - last_ms / 10.0) / 100.0)).abs() < 0.5);
    }

    #[test]
    fn a_step_is_found_within_the_points_spacing_and_a_torn_curve_stays_monotone() {
        // Nobody for 50 s, then 1,000 at once.
        let step = curve(|ms| if ms < 50_000.0 { 0.0 } else { 1_000.0 }, 10.0);
        let next = step.seconds_at(1, Timestamp(10_000));
        assert!(
            (50.0 / CURVE_RATIO..=50.0 * CURVE_RATIO).contains(&next),
            "{next}"
        );
        // A point lower than the one before (a mixed read) counts as the
        // one before: still monotone, still found.
        let mut torn = step;
        torn.admitted[CURVE_POINTS - 1] = 0.0;
        assert!(torn.seconds_at(1_000, Timestamp(10_000)) <= 60.0);
        assert!(torn.seconds_at(2_000, Timestamp(10_000)).is_finite());
    }

    #[test]
    fn cohorts_forget_what_left_and_count_payments_once_per_admission() {
        let mut cohorts = Cohorts::default();
        cohorts.record_admissions(Timestamp(0), 2, 10_000);
        cohorts.record_payment(Timestamp(0), Timestamp(500));
        cohorts.record_payment(Timestamp(0), Timestamp(700));
        cohorts.record_payment(Timestamp(0), Timestamp(900));
        assert_eq!(cohorts.recent[0].paid, 2, "never more payers than admitted");
        assert_eq!(cohorts.recent[0].paid_stay_max_ms, 700);
        // Unknown cohort: ignored.
        cohorts.record_payment(Timestamp(-5_000), Timestamp(900));
        for second in 1..=20 {
            cohorts.record_admissions(Timestamp(second * 1_000), 1, 10_000);
        }
        // Only the last active time's cohorts (and the one being filled).
        assert_eq!(cohorts.len(), 11);
        let mut many = Cohorts::default();
        for second in 0..(MAX_COHORTS as i64 + 50) {
            many.record_admissions(Timestamp(second * 1_000), 1, 3_600_000);
        }
        assert!(many.len() <= MAX_COHORTS);
    }

    #[test]
    fn those_still_in_pay_no_faster_than_their_cohort_has() {
        let room = Room {
            as_of: Timestamp(20_000),
            max_active: 1_100,
            free: 0,
            active: 1_000,
            batch_per_sec: 5_000.0,
            active_ms: 60_000,
        };
        let cohort = |start, admitted, paid, stay_ms: i64| Cohort {
            start: Timestamp(start),
            admitted,
            paid,
            paid_stay_sum_ms: i64::from(paid) * stay_ms,
            paid_stay_max_ms: stay_ms,
        };
        // Resolved: 100 admitted at 0 s, 50 paid 0.5 s later (each place
        // freed lets about two through). Then 1,000 admitted at 10 s, not
        // resolved yet (its payments took up to 8 s).
        let with = |paid| Cohorts {
            recent: VecDeque::from([cohort(0, 100, 50, 500), cohort(10_000, 1_000, paid, 8_000)]),
            revision: 0,
        };
        // 100 of the 1,000 paid in 9.5 s: the 400 payers still to come are
        // expected over about 38 s, not at the first cohort's 0.5 s; had 450
        // paid, the 50 to come would go within about a second.
        let slow = forecast(&with(100), room).expect("slow");
        let fast = forecast(&with(450), room).expect("fast");
        let (slow_s, fast_s) = (
            slow.seconds_at(50, room.as_of),
            fast.seconds_at(50, room.as_of),
        );
        // Measured: 3.1 s against 1.3 s (chains of newcomers at 0.5 s narrow it).
        assert!(slow_s > 2.0 * fast_s, "slow {slow_s} s, fast {fast_s} s");
        assert!(slow_s > 2.5, "slow {slow_s} s");
    }

    /// A room of 100, full, as of 60 s.
    fn full_room_of_100() -> Room {
        Room {
            as_of: Timestamp(60_000),
            max_active: 100,
            free: 0,
            active: 100,
            batch_per_sec: 500.0,
            active_ms: 60_000,
        }
    }

    #[test]
    fn no_forecast_until_a_share_of_payers_is_measured() {
        let room = full_room_of_100();
        let mut cohorts = Cohorts::default();
        cohorts.record_admissions(Timestamp(0), 100, 60_000);
        assert_eq!(forecast(&cohorts, room), None, "nobody paid");
        cohorts.record_payment(Timestamp(0), Timestamp(1_000));
        let curve = forecast(&cohorts, room).expect("100 resolved, 1 paid");
        // 99 stayers end at 60.5 s: freed now (as of 60 s, half of the
        // cohort is past its end and left already: not counted twice).
        assert!(curve.seconds_at(1, room.as_of) < 1.0);
        let few = Cohorts {
            recent: VecDeque::from([Cohort {
                start: Timestamp(0),
                admitted: (MIN_RESOLVED - 1) as u32,
                paid: 1,
                paid_stay_sum_ms: 100,
                paid_stay_max_ms: 100,
            }]),
            revision: 0,
        };
        assert_eq!(forecast(&few, room), None, "too few resolved");
    }

    /// The memo answers what a fresh forecast would, through every change of
    /// the cohorts or the room, and only then makes a new one.
    #[test]
    fn the_memo_is_only_a_cache() {
        let memo = Memo::default();
        let mut room = full_room_of_100();
        let mut cohorts = Cohorts::default();
        cohorts.record_admissions(Timestamp(0), 100, 60_000);
        assert_eq!(memo.forecast(&cohorts, room), None);
        let mut curves = Vec::new();
        for paid_at in [1_000, 1_200, 1_400] {
            cohorts.record_payment(Timestamp(0), Timestamp(paid_at));
            let curve = memo.forecast(&cohorts, room);
            assert_eq!(curve, forecast(&cohorts, room), "after a payment");
            curves.push(curve.expect("resolved"));
        }
        assert_ne!(curves[0], curves[2], "the payments changed the forecast");
        room.as_of = Timestamp(60_250);
        assert_eq!(
            memo.forecast(&cohorts, room),
            forecast(&cohorts, room),
            "a step later"
        );
        room.free = 3;
        assert_eq!(
            memo.forecast(&cohorts, room),
            forecast(&cohorts, room),
            "places freed"
        );
        cohorts.record_admissions(Timestamp(60_250), 3, 60_000);
        let after = memo.forecast(&cohorts, room);
        assert_eq!(after, forecast(&cohorts, room), "admissions");
        // Nothing changed: the remembered curve, and a clone starts empty.
        assert_eq!(memo.forecast(&cohorts, room), after);
        assert_eq!(memo.clone().forecast(&cohorts, room), after);
    }
}
