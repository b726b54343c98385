//! Read models the schedule actor hands out: plain data, detached from the
//! actor's state, so callers can render them without holding anything.

use boxoffice_engine::ids::*;
use boxoffice_engine::schedule::{
    Reservation, ReservationStatus, Schedule, SeatCounts, SeatStatus, TicketStatus,
};
use boxoffice_engine::{Money, Timestamp};
use serde::{Deserialize, Serialize};

use crate::receipt::{SeatLine, TicketLine};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReservationView {
    pub reservation_id: ReservationId,
    pub reservation_number: String,
    pub schedule_id: ScheduleId,
    pub user: UserId,
    pub seats: Vec<SeatLine>,
    pub total_amount: Money,
    pub status: ReservationStatus,
    pub held_at: Timestamp,
    pub expires_at: Timestamp,
    pub paid_at: Option<Timestamp>,
    pub tickets: Vec<TicketLine>,
    pub ended_at: Option<Timestamp>,
    /// Some for a cancelled paid reservation.
    pub refund_amount: Option<Money>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketView {
    pub ticket_id: TicketId,
    pub reservation_id: ReservationId,
    pub schedule_id: ScheduleId,
    pub user: UserId,
    pub seat_id: String,
    pub section_id: String,
    pub row: String,
    pub number: u32,
    pub price: Money,
    pub status: TicketStatus,
    pub issued_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatView {
    pub seat_id: String,
    pub status: SeatStatus,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowView {
    pub row: String,
    pub seats: Vec<SeatView>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SectionView {
    pub section_id: String,
    pub grade: String,
    pub price: Money,
    pub rows: Vec<RowView>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatMapView {
    pub schedule_id: ScheduleId,
    pub sections: Vec<SectionView>,
    pub summary: SeatCounts,
}

pub fn seat_lines(schedule: &Schedule, reservation: &Reservation) -> Vec<SeatLine> {
    reservation
        .seats
        .iter()
        .map(|&seat| {
            let info = schedule.seat_info(seat);
            SeatLine {
                seat_id: schedule.seat_id(seat),
                grade: info.grade.to_string(),
                price: info.price,
            }
        })
        .collect()
}

pub fn ticket_lines(schedule: &Schedule, reservation: &Reservation) -> Vec<TicketLine> {
    reservation
        .tickets
        .iter()
        .zip(&reservation.seats)
        .map(|(&ticket_id, &seat)| TicketLine {
            ticket_id,
            seat_id: schedule.seat_id(seat),
        })
        .collect()
}

pub fn reservation_view(schedule: &Schedule, reservation: &Reservation) -> ReservationView {
    ReservationView {
        reservation_id: reservation.id,
        reservation_number: reservation.number.clone(),
        schedule_id: schedule.id(),
        user: reservation.user,
        seats: seat_lines(schedule, reservation),
        total_amount: reservation.amount,
        status: reservation.status,
        held_at: reservation.held_at,
        expires_at: reservation.expires_at,
        paid_at: reservation.paid_at,
        tickets: ticket_lines(schedule, reservation),
        ended_at: reservation.ended_at,
        refund_amount: reservation.refund.as_ref().map(|r| r.amount),
    }
}

pub fn ticket_view(schedule: &Schedule, ticket_id: TicketId) -> Option<TicketView> {
    let ticket = schedule.ticket(ticket_id)?;
    let reservation = schedule.reservation(ticket.reservation_id)?;
    let info = schedule.seat_info(ticket.seat);
    Some(TicketView {
        ticket_id,
        reservation_id: ticket.reservation_id,
        schedule_id: schedule.id(),
        user: reservation.user,
        seat_id: schedule.seat_id(ticket.seat),
        section_id: info.section_id.to_string(),
        row: info.row.to_string(),
        number: info.number,
        price: ticket.price,
        status: ticket.status,
        issued_at: ticket.issued_at,
    })
}

pub fn seat_map(schedule: &Schedule, section_filter: Option<&str>) -> SeatMapView {
    let mut index = 0u32;
    let mut sections = Vec::new();
    for section in &schedule.layout().sections {
        let wanted = section_filter.is_none_or(|f| f == section.section_id);
        let mut rows = Vec::new();
        for row in &section.rows {
            let first = index;
            index += row.seats;
            if !wanted {
                continue;
            }
            let seats = (first..index)
                .map(|i| {
                    let seat = boxoffice_engine::schedule::SeatIndex(i);
                    SeatView {
                        seat_id: schedule.seat_id(seat),
                        status: schedule.seat_status(seat),
                    }
                })
                .collect();
            rows.push(RowView {
                row: row.row.clone(),
                seats,
            });
        }
        if wanted {
            sections.push(SectionView {
                section_id: section.section_id.clone(),
                grade: section.grade.clone(),
                price: section.price,
                rows,
            });
        }
    }
    SeatMapView {
        schedule_id: schedule.id(),
        sections,
        summary: schedule.counts(),
    }
}
