//! How long a client should wait before polling its token again
//! (`pollAfterMs` in every token answer).
//!
//! Polls are the waiting room's whole load: 100,000 users polling every second
//! would be 100,000 requests a second for answers that barely change. So the
//! line as a whole is given a budget of `POLL_BUDGET_PER_SEC` polls a second,
//! and each user's interval grows with the crowd: `waiting * 1000 / budget`
//! milliseconds. A user near the front would then learn of their admission
//! late, so nobody waits more than a quarter of their own estimated wait
//! between polls: the few at the front poll fast (their share of the budget
//! grows only with the log of the line, since the k-th user polls about
//! 4 / (their wait) times a second).
//!
//! Nor does anyone sleep more than `FORECAST_GRACE_MS` past the moment the
//! room's forecast expects to admit them. The quarter is taken of the longer
//! of the forecast's and the steady estimate's waits, so that a forecast
//! that is too short (as in a burst) does not multiply polls; but after a
//! minute of a room held by people who stay, the steady estimate is long:
//! the front of the line polled every 7-18 s, learned of its admission
//! seconds late when the stayers' time ran out, and the room refilled at
//! half the forecast's pace (the stadium run with `maxActive` 1,000: the
//! second wave was admitted 13-17 s after its forecast; 2026-12-08,
//! session 19). Pure: the queue calls it for each view.

use super::TokenStatus;
use std::ops::RangeInclusive;

/// Every answer's `poll_after_ms` lies in this range: never faster than 10
/// polls a second per user, never slower than a minute (liveness needs a
/// poll within `WAITING_DROP_MS`, two minutes).
pub const POLL_AFTER_MS_RANGE: RangeInclusive<i64> = 100..=60_000;
/// Polls a second the whole line (or pre-queue) should stay under.
pub const POLL_BUDGET_PER_SEC: u64 = 5_000;
/// A waiting user polls at least this many times over their own estimated
/// wait, and a pre-queue user this many times over the time until opening.
const POLLS_PER_OWN_WAIT: i64 = 4;
/// A waiting user's next poll comes at most this long after the moment the
/// forecast expects to admit them, so one told "now" polls four times a
/// second until admitted.
pub const FORECAST_GRACE_MS: i64 = 250;

/// The waits a waiting user's polls are paced by, in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PacingWaits {
    /// The longer of the forecast's and the steady estimate's waits.
    pub longer_ms: u64,
    /// The forecast's wait, when the room has a forecast.
    pub forecast_ms: Option<u64>,
}

/// Milliseconds until the client should poll again.
///
/// - `Waiting`: `min(crowd, longer / 4, forecast + FORECAST_GRACE_MS)`,
///   where `crowd = waiting * 1000 / POLL_BUDGET_PER_SEC` and `longer` and
///   `forecast` are `waits`' (the last term only with a forecast).
/// - `PreQueue`: nothing changes before opening, so polls are spread:
///   `max(crowd, until_opening_ms / 4)`, with `waiting` the pre-queue's size.
///   Close to opening the quarter shrinks, so people see their place soon
///   after opening, as far as the crowd allows.
/// - `Active`, `Ended`, `Expired`: the slowest pace. An active token's answer
///   already carries its expiry, and nothing else changes unless the holder
///   pays (which their own client knows); finished tokens never change.
///
/// Always within `POLL_AFTER_MS_RANGE`.
pub fn poll_after_ms(
    status: TokenStatus,
    waits: PacingWaits,
    waiting: u64,
    until_opening_ms: i64,
) -> i64 {
    let (fastest, slowest) = (*POLL_AFTER_MS_RANGE.start(), *POLL_AFTER_MS_RANGE.end());
    let crowd_ms =
        i64::try_from(waiting.saturating_mul(1_000) / POLL_BUDGET_PER_SEC).unwrap_or(i64::MAX);
    let interval_ms = match status {
        TokenStatus::Waiting => {
            let ms = |wait_ms: u64| i64::try_from(wait_ms).unwrap_or(i64::MAX);
            let by_forecast = waits.forecast_ms.map_or(i64::MAX, |forecast_ms| {
                ms(forecast_ms).saturating_add(FORECAST_GRACE_MS)
            });
            crowd_ms
                .min(ms(waits.longer_ms) / POLLS_PER_OWN_WAIT)
                .min(by_forecast)
        }
        TokenStatus::PreQueue => crowd_ms.max(until_opening_ms / POLLS_PER_OWN_WAIT),
        TokenStatus::Active | TokenStatus::Ended | TokenStatus::Expired => slowest,
    };
    let paced = interval_ms.clamp(fastest, slowest);
    debug_assert!(POLL_AFTER_MS_RANGE.contains(&paced));
    paced
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Waits of `seconds`, without a forecast.
    fn secs(seconds: u64) -> PacingWaits {
        PacingWaits {
            longer_ms: seconds.saturating_mul(1_000),
            forecast_ms: None,
        }
    }

    const ALL: [TokenStatus; 5] = [
        TokenStatus::Waiting,
        TokenStatus::Active,
        TokenStatus::Ended,
        TokenStatus::Expired,
        TokenStatus::PreQueue,
    ];

    #[test]
    fn extreme_inputs_stay_in_range() {
        for status in ALL {
            for eta in [0, 1, 59, u64::MAX] {
                for forecast_ms in [None, Some(0), Some(1_000), Some(u64::MAX)] {
                    let waits = PacingWaits {
                        forecast_ms,
                        ..secs(eta)
                    };
                    for waiting in [0, 1, 5_000, u64::MAX] {
                        for until in [i64::MIN, -1, 0, 399, 1_000_000, i64::MAX] {
                            let ms = poll_after_ms(status, waits, waiting, until);
                            assert!(
                                POLL_AFTER_MS_RANGE.contains(&ms),
                                "{status:?} {waits:?} {waiting} {until}: {ms}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn the_interval_grows_with_the_crowd() {
        for status in ALL {
            for eta in [1, 30, 600, 100_000] {
                let mut previous = 0;
                for waiting in (0..2_000_000u64).step_by(50_000) {
                    let ms = poll_after_ms(status, secs(eta), waiting, 3_600_000);
                    assert!(ms >= previous, "{status:?}: {ms} after {previous}");
                    previous = ms;
                }
            }
        }
        // 100,000 waiting with long waits: 20 s, so 5,000 polls a second.
        assert_eq!(
            poll_after_ms(TokenStatus::Waiting, secs(3_600), 100_000, 0),
            20_000
        );
        // A short line polls fast, but never faster than the floor.
        assert_eq!(poll_after_ms(TokenStatus::Waiting, secs(600), 10, 0), 100);
    }

    #[test]
    fn the_front_of_the_line_polls_faster_than_the_back() {
        let waiting = 200_000;
        let front = poll_after_ms(TokenStatus::Waiting, secs(2), waiting, 0);
        let middle = poll_after_ms(TokenStatus::Waiting, secs(60), waiting, 0);
        let back = poll_after_ms(TokenStatus::Waiting, secs(4_000), waiting, 0);
        assert_eq!(front, 500, "a quarter of a 2 s wait");
        assert_eq!(middle, 15_000);
        assert_eq!(back, 40_000, "the crowd's share of the budget");
        assert!(front < middle && middle < back);
    }

    #[test]
    fn nobody_sleeps_long_past_the_forecast() {
        let waiting = 200_000;
        // The steady estimate says a minute; the forecast, 2 s.
        let waits = PacingWaits {
            longer_ms: 60_000,
            forecast_ms: Some(2_000),
        };
        assert_eq!(
            poll_after_ms(TokenStatus::Waiting, waits, waiting, 0),
            2_000 + FORECAST_GRACE_MS
        );
        // Told "now": four polls a second, not the crowd's 40 s.
        let now = PacingWaits {
            forecast_ms: Some(0),
            ..waits
        };
        assert_eq!(
            poll_after_ms(TokenStatus::Waiting, now, waiting, 0),
            FORECAST_GRACE_MS
        );
        // A forecast far off changes nothing: a quarter of the longer wait.
        let far = PacingWaits {
            longer_ms: 60_000,
            forecast_ms: Some(60_000),
        };
        assert_eq!(poll_after_ms(TokenStatus::Waiting, far, waiting, 0), 15_000);
        // Only a waiting user is woken by it.
        for status in [TokenStatus::PreQueue, TokenStatus::Active] {
            assert_eq!(
                poll_after_ms(status, now, 10, 3_600_000),
                poll_after_ms(status, secs(60), 10, 3_600_000)
            );
        }
    }

    #[test]
    fn the_pre_queue_spreads_polls_until_opening() {
        // An hour before opening: the slowest pace.
        assert_eq!(
            poll_after_ms(TokenStatus::PreQueue, secs(0), 10, 3_600_000),
            60_000
        );
        // Two seconds before: a quarter of it, unless the crowd needs more.
        assert_eq!(
            poll_after_ms(TokenStatus::PreQueue, secs(0), 10, 2_000),
            500
        );
        assert_eq!(
            poll_after_ms(TokenStatus::PreQueue, secs(0), 50_000, 2_000),
            10_000
        );
        // Past opening, before the shuffle: poll soon.
        assert_eq!(poll_after_ms(TokenStatus::PreQueue, secs(0), 10, -5), 100);
    }

    #[test]
    fn settled_tokens_poll_slowly() {
        for status in [
            TokenStatus::Active,
            TokenStatus::Ended,
            TokenStatus::Expired,
        ] {
            assert_eq!(poll_after_ms(status, secs(0), 0, 0), 60_000);
        }
    }
}
