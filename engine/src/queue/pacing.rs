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
//! 4 / (their wait) times a second). Pure: the queue calls it for each view.

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

/// Milliseconds until the client should poll again.
///
/// - `Waiting`: `min(crowd, own wait / 4)`, where `crowd = waiting * 1000 /
///   POLL_BUDGET_PER_SEC` and own wait is `estimated_wait_seconds`.
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
    estimated_wait_seconds: u64,
    waiting: u64,
    until_opening_ms: i64,
) -> i64 {
    let (fastest, slowest) = (*POLL_AFTER_MS_RANGE.start(), *POLL_AFTER_MS_RANGE.end());
    let crowd_ms =
        i64::try_from(waiting.saturating_mul(1_000) / POLL_BUDGET_PER_SEC).unwrap_or(i64::MAX);
    let interval_ms = match status {
        TokenStatus::Waiting => {
            let own_wait_ms =
                i64::try_from(estimated_wait_seconds.saturating_mul(1_000)).unwrap_or(i64::MAX);
            crowd_ms.min(own_wait_ms / POLLS_PER_OWN_WAIT)
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
                for waiting in [0, 1, 5_000, u64::MAX] {
                    for until in [i64::MIN, -1, 0, 399, 1_000_000, i64::MAX] {
                        let ms = poll_after_ms(status, eta, waiting, until);
                        assert!(
                            POLL_AFTER_MS_RANGE.contains(&ms),
                            "{status:?} {eta} {waiting} {until}: {ms}"
                        );
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
                    let ms = poll_after_ms(status, eta, waiting, 3_600_000);
                    assert!(ms >= previous, "{status:?}: {ms} after {previous}");
                    previous = ms;
                }
            }
        }
        // 100,000 waiting with long waits: 20 s, so 5,000 polls a second.
        assert_eq!(
            poll_after_ms(TokenStatus::Waiting, 3_600, 100_000, 0),
            20_000
        );
        // A short line polls fast, but never faster than the floor.
        assert_eq!(poll_after_ms(TokenStatus::Waiting, 600, 10, 0), 100);
    }

    #[test]
    fn the_front_of_the_line_polls_faster_than_the_back() {
        let waiting = 200_000;
        let front = poll_after_ms(TokenStatus::Waiting, 2, waiting, 0);
        let middle = poll_after_ms(TokenStatus::Waiting, 60, waiting, 0);
        let back = poll_after_ms(TokenStatus::Waiting, 4_000, waiting, 0);
        assert_eq!(front, 500, "a quarter of a 2 s wait");
        assert_eq!(middle, 15_000);
        assert_eq!(back, 40_000, "the crowd's share of the budget");
        assert!(front < middle && middle < back);
    }

    #[test]
    fn the_pre_queue_spreads_polls_until_opening() {
        // An hour before opening: the slowest pace.
        assert_eq!(
            poll_after_ms(TokenStatus::PreQueue, 0, 10, 3_600_000),
            60_000
        );
        // Two seconds before: a quarter of it, unless the crowd needs more.
        assert_eq!(poll_after_ms(TokenStatus::PreQueue, 0, 10, 2_000), 500);
        assert_eq!(
            poll_after_ms(TokenStatus::PreQueue, 0, 50_000, 2_000),
            10_000
        );
        // Past opening, before the shuffle: poll soon.
        assert_eq!(poll_after_ms(TokenStatus::PreQueue, 0, 10, -5), 100);
    }

    #[test]
    fn settled_tokens_poll_slowly() {
        for status in [
            TokenStatus::Active,
            TokenStatus::Ended,
            TokenStatus::Expired,
        ] {
            assert_eq!(poll_after_ms(status, 0, 0, 0), 60_000);
        }
    }
}
