//! When each stadium user arrives (`--arrival-seconds N`).
//!
//! By default (N = 0) every user sends its first join at the start, all
//! 100,000 at once over the run's shared connections: a request's time then
//! includes its wait behind the whole crowd for a connection of the
//! harness's pool, which a real crowd, each fan on its own device, does not
//! have. With N > 0 each user's first join is due at an offset drawn
//! uniformly from [0, N) s, from the run's seed and the user's index alone:
//! the same seed gives the same arrivals, whatever the threads or timing,
//! and the users' own random draws (seats, abandon, jitter) are left as
//! they were (the offset comes from a generator of its own).

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::time::Duration;

/// Longest arrival window the flag takes (an hour).
pub const MAX_ARRIVAL_SECONDS: f64 = 3_600.0;
/// Mixed into the seed so the arrival draws differ from the user's own.
const ARRIVAL_SALT: u64 = 0xA441_7A15_5EED_0001;

/// User `index`'s first join, after the start: 0 when `window_s` is 0
/// (everyone at once), else uniform in [0, `window_s`) s.
pub fn offset(seed: u64, index: usize, window_s: f64) -> Duration {
    if window_s <= 0.0 {
        return Duration::ZERO;
    }
    let stream = seed ^ ARRIVAL_SALT ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut rng = SmallRng::seed_from_u64(stream);
    Duration::from_secs_f64(rng.gen_range(0.0..window_s.min(MAX_ARRIVAL_SECONDS)))
}

/// What the run's facts say of the arrival model.
pub fn describe(window_s: f64) -> String {
    if window_s <= 0.0 {
        "all at the start (t=0)".into()
    } else {
        format!("uniform over {window_s} s from the start, drawn from --seed")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrivals_are_seeded_within_the_window_and_spread_over_it() {
        let window_s = 10.0;
        let users = 20_000;
        let arrivals: Vec<Duration> = (0..users).map(|i| offset(7, i, window_s)).collect();
        // The same seed and user: the same arrival; another seed: others.
        let again: Vec<Duration> = (0..users).map(|i| offset(7, i, window_s)).collect();
        assert_eq!(arrivals, again);
        let other_seed = (0..users).filter(|&i| offset(8, i, window_s) != arrivals[i]);
        assert!(other_seed.count() > users * 99 / 100);
        // Within [0, window) and roughly uniform: each tenth of the window
        // holds 10% of the users, give or take 1.5 points (about 7 sigma).
        assert!(arrivals.iter().all(|a| a.as_secs_f64() < window_s));
        let mut tenths = [0usize; 10];
        for a in &arrivals {
            tenths[(a.as_secs_f64() / window_s * 10.0) as usize] += 1;
        }
        for (tenth, n) in tenths.iter().enumerate() {
            let share = *n as f64 / users as f64;
            assert!((0.085..=0.115).contains(&share), "tenth {tenth}: {share}");
        }
    }

    #[test]
    fn no_window_means_everyone_at_the_start() {
        assert!((0..1_000).all(|i| offset(1, i, 0.0).is_zero()));
        assert_eq!(describe(0.0), "all at the start (t=0)");
        assert!(describe(30.0).starts_with("uniform over 30 s"));
    }
}
