//! Shared helpers for the schedule's unit tests: deterministic ids, small
//! schedules, and one-line commands.

use super::*;
use crate::{PaymentId, ReservationId, ScheduleId, TicketId, Timestamp, UserId};

pub const T0: Timestamp = Timestamp(1_000_000);

fn id_bytes(kind: u8, n: u32) -> [u8; 16] {
    let mut bytes = [0u8; 16];
    bytes[0] = kind;
    bytes[12..].copy_from_slice(&n.to_be_bytes());
    bytes
}

pub fn schedule_id() -> ScheduleId {
    ScheduleId::from_random_bytes(id_bytes(0, 0))
}

pub fn user(n: u32) -> UserId {
    UserId::from_random_bytes(id_bytes(1, n))
}

pub fn rid(n: u32) -> ReservationId {
    ReservationId::from_random_bytes(id_bytes(2, n))
}

pub fn pid(n: u32) -> PaymentId {
    PaymentId::from_random_bytes(id_bytes(3, n))
}

/// The `index`th ticket of reservation `n`.
pub fn tid(n: u32, index: u32) -> TicketId {
    TicketId::from_random_bytes(id_bytes(4, n * 1_000 + index))
}

pub fn uniform_schedule(sections: usize, rows: usize, seats_per_row: u32) -> Schedule {
    Schedule::new(
        schedule_id(),
        SeatLayout::uniform(sections, rows, seats_per_row),
        ScheduleRules::default(),
    )
    .expect("valid layout")
}

pub fn with_rules(layout: SeatLayout, rules: ScheduleRules) -> Schedule {
    Schedule::new(schedule_id(), layout, rules).expect("valid layout")
}

pub fn seat(s: &Schedule, id: &str) -> SeatIndex {
    s.seat_index(id).unwrap_or_else(|| panic!("no seat {id}"))
}

pub fn hold_ids(
    s: &mut Schedule,
    n: u32,
    user: UserId,
    ids: &[&str],
    now: Timestamp,
) -> Result<ScheduleEvent, ScheduleError> {
    let selection = SeatSelection::Ids(ids.iter().map(|id| id.to_string()).collect());
    s.hold(
        HoldRequest {
            reservation_id: rid(n),
            number: format!("BX-{n}"),
            user,
            selection,
        },
        now,
    )
}

#[allow(clippy::too_many_arguments)]
pub fn hold_best(
    s: &mut Schedule,
    n: u32,
    user: UserId,
    quantity: u32,
    grade: Option<&str>,
    section_id: Option<&str>,
    now: Timestamp,
) -> Result<ScheduleEvent, ScheduleError> {
    let selection = SeatSelection::BestAvailable {
        quantity,
        grade: grade.map(str::to_owned),
        section_id: section_id.map(str::to_owned),
    };
    s.hold(
        HoldRequest {
            reservation_id: rid(n),
            number: format!("BX-{n}"),
            user,
            selection,
        },
        now,
    )
}

/// The seats a `Held` event took.
pub fn held_seats(event: &ScheduleEvent) -> Vec<SeatIndex> {
    match event {
        ScheduleEvent::Held { seats, .. } => seats.clone(),
        other => panic!("expected Held, got {other:?}"),
    }
}

/// Seat ids of a `Held` event's seats, for readable assertions.
pub fn held_ids(s: &Schedule, event: &ScheduleEvent) -> Vec<String> {
    held_seats(event)
        .into_iter()
        .map(|seat| s.seat_id(seat))
        .collect()
}

/// Begins and confirms payment `pid(n)` on reservation `rid(n)`, with tickets `tid(n, i)`.
pub fn pay(
    s: &mut Schedule,
    n: u32,
    user: UserId,
    now: Timestamp,
) -> Result<ScheduleEvent, ScheduleError> {
    s.begin_payment(rid(n), user, pid(n), None, now)?;
    let seats = s.reservation(rid(n)).map_or(0, |r| r.seats.len() as u32);
    s.confirm(rid(n), pid(n), (0..seats).map(|i| tid(n, i)).collect(), now)
}

/// Sells the given seats, one fresh user per hold, reservation numbers from
/// `first_n` upwards; returns the next free number.
pub fn sell_seats(s: &mut Schedule, seats: &[SeatIndex], first_n: u32) -> u32 {
    let mut n = first_n;
    let per_hold = s.rules().max_seats_per_user as usize;
    for chunk in seats.chunks(per_hold) {
        let ids: Vec<String> = chunk.iter().map(|&seat| s.seat_id(seat)).collect();
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        hold_ids(s, n, user(n), &ids, T0).expect("seats to sell are free");
        pay(s, n, user(n), T0).expect("payment of a fresh hold");
        n += 1;
    }
    n
}
