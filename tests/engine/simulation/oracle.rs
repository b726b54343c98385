//! What the model says a hold must answer, so that an engine that refuses a
//! free seat, sells a taken one, miscounts the per-user limit or misses a
//! best-available block is caught on the spot, not only after a crash.
//!
//! The model is exact between operations: every acknowledged effect is in it,
//! and every hold past its deadline has been swept (the clock only moves in
//! `advance`, which sweeps every schedule, and a restart sweeps too), so a
//! seat is taken exactly when a Held or Confirmed reservation has it.

use boxoffice_actors::receipt::HoldReceipt;
use boxoffice_actors::{EngineError, EngineResult};
use boxoffice_engine::ids::UserId;
use boxoffice_engine::schedule::SeatSelection;
use boxoffice_engine::Timestamp;
use std::collections::BTreeSet;

use super::model::{Model, ScheduleModel, Status};

/// The answer a hold must get.
#[derive(Debug, PartialEq, Eq)]
pub enum Expected {
    Ok,
    SeatLimitExceeded {
        limit: u32,
        already: u32,
    },
    /// By ids: these requested seats are taken (request order).
    Taken(Vec<String>),
    /// Best-available: no row has that many adjacent free seats.
    NoBlock,
}

/// Seats of `schedule` taken now, and how many of them `user` has.
fn taken_seats(
    model: &Model,
    schedule: &ScheduleModel,
    user: UserId,
    now: Timestamp,
) -> (BTreeSet<String>, u32) {
    // Blocked seats are off sale: no hold may take them.
    let mut taken: BTreeSet<String> = model
        .blocked
        .get(&schedule.id)
        .map(|b| b.keys().cloned().collect())
        .unwrap_or_default();
    let mut of_user = 0u32;
    for reservation in model.reservations.values() {
        if reservation.schedule != schedule.id {
            continue;
        }
        let live = match reservation.status {
            Status::Held => {
                assert!(
                    now < reservation.expires_at,
                    "the model has a hold past its deadline that no sweep expired"
                );
                true
            }
            Status::Confirmed { .. } => true,
            Status::Cancelled { .. } | Status::Expired => false,
        };
        if live {
            taken.extend(reservation.seats.iter().cloned());
            if reservation.user == user {
                of_user += reservation.seats.len() as u32;
            }
        }
    }
    (taken, of_user)
}

pub fn expected_hold(
    model: &Model,
    schedule: &ScheduleModel,
    user: UserId,
    selection: &SeatSelection,
    now: Timestamp,
) -> Expected {
    let (taken, already) = taken_seats(model, schedule, user, now);
    let wanted = match selection {
        SeatSelection::Ids(ids) => ids.len() as u32,
        SeatSelection::BestAvailable { quantity, .. } => *quantity,
    };
    if already + wanted > schedule.max_seats_per_user {
        return Expected::SeatLimitExceeded {
            limit: schedule.max_seats_per_user,
            already,
        };
    }
    match selection {
        SeatSelection::Ids(ids) => {
            let busy: Vec<String> = ids
                .iter()
                .filter(|id| taken.contains(*id))
                .cloned()
                .collect();
            if busy.is_empty() {
                Expected::Ok
            } else {
                Expected::Taken(busy)
            }
        }
        SeatSelection::BestAvailable {
            quantity, grade, ..
        } => {
            if best_section(schedule, &taken, *quantity as usize, grade.as_deref()).is_some() {
                Expected::Ok
            } else {
                Expected::NoBlock
            }
        }
    }
}

/// The first section (best first) with `quantity` adjacent free seats in a row.
fn best_section(
    schedule: &ScheduleModel,
    taken: &BTreeSet<String>,
    quantity: usize,
    grade: Option<&str>,
) -> Option<usize> {
    schedule
        .rows
        .iter()
        .filter(|row| grade.is_none_or(|g| row.grade == g))
        .find(|row| {
            row.seats
                .split(|seat| taken.contains(seat))
                .any(|run| run.len() >= quantity)
        })
        .map(|row| row.section)
}

/// Checks a hold's answer against the expectation; `queue_gated` answers
/// (QueueNotActive on a gated schedule) are not predicted.
pub fn check_hold(
    model: &Model,
    schedule: &ScheduleModel,
    user: UserId,
    selection: &SeatSelection,
    now: Timestamp,
    answer: &EngineResult<HoldReceipt>,
) {
    if schedule.gated && matches!(answer, Err(EngineError::QueueNotActive)) {
        return;
    }
    if model.cancelled.contains(&schedule.id) {
        assert!(
            matches!(answer, Err(EngineError::ScheduleCancelled)),
            "hold on the cancelled {}: {answer:?}",
            schedule.id
        );
        return;
    }
    let expected = expected_hold(model, schedule, user, selection, now);
    let fits = match (&expected, answer) {
        (Expected::Ok, Ok(receipt)) => {
            check_block(model, schedule, user, selection, now, receipt);
            true
        }
        (
            Expected::SeatLimitExceeded { limit, already },
            Err(EngineError::SeatLimitExceeded {
                limit: l,
                already: a,
            }),
        ) => limit == l && already == a,
        (Expected::Taken(busy), Err(EngineError::SeatUnavailable(seats))) => busy == seats,
        (Expected::NoBlock, Err(EngineError::SeatUnavailable(seats))) => seats.is_empty(),
        _ => false,
    };
    assert!(
        fits,
        "hold {selection:?} by {user} on {}: the model expects {expected:?}, the engine answered {answer:?}",
        schedule.id
    );
}

/// A best-available block: adjacent free seats of one row, in the best section that has any.
fn check_block(
    model: &Model,
    schedule: &ScheduleModel,
    user: UserId,
    selection: &SeatSelection,
    now: Timestamp,
    receipt: &HoldReceipt,
) {
    let SeatSelection::BestAvailable {
        quantity, grade, ..
    } = selection
    else {
        return;
    };
    let (taken, _) = taken_seats(model, schedule, user, now);
    let seats: Vec<String> = receipt.seats.iter().map(|s| s.seat_id.clone()).collect();
    let row = schedule
        .rows
        .iter()
        .find(|row| row.seats.contains(&seats[0]))
        .expect("a seat of the layout");
    let start = row
        .seats
        .iter()
        .position(|s| *s == seats[0])
        .expect("in its row");
    assert_eq!(
        row.seats.get(start..start + *quantity as usize),
        Some(seats.as_slice()),
        "best-available seats {seats:?} are not adjacent in one row"
    );
    assert!(
        seats.iter().all(|s| !taken.contains(s)),
        "best-available took a taken seat"
    );
    assert_eq!(
        Some(row.section),
        best_section(schedule, &taken, *quantity as usize, grade.as_deref()),
        "best-available chose a worse section than one with room: {seats:?}"
    );
}
