//! The booking-event outbox against the recovered state, after every
//! restart (called from `checks::after_restart`):
//!
//! - pairing: every surviving schedule log record whose engine events make
//!   booking events has exactly one outbox record naming it (log and lsn),
//!   and every outbox record names a record its log has assigned (still
//!   there unless trimmed behind a snapshot) — the pair append survived a
//!   crash whole or not at all;
//! - agreement: every reservation in a schedule's state or in the archive
//!   has events, and the status of the last reservation its events show is
//!   its status now; no event names a reservation that does not exist;
//! - event ids are unique.

use boxoffice_actors::booking_events::{BookingEvent, BookingEventData, OutboxRecord, OUTBOX_LOG};
use boxoffice_actors::journal::Record;
use boxoffice_actors::schedule_actor::archive::ArchivedReservation;
use boxoffice_actors::schedule_actor::{log_name, ScheduleLogEvent};
use boxoffice_engine::ids::*;
use boxoffice_engine::schedule::{ReservationStatus, Schedule, ScheduleEvent};
use boxoffice_storage::{codec, Lsn, Store};
use std::collections::{BTreeMap, BTreeSet};

use super::world::World;

/// Whether `event` makes at least one booking event (see `booking_events`).
fn makes_booking_events(event: &ScheduleEvent) -> bool {
    match event {
        ScheduleEvent::Held { .. }
        | ScheduleEvent::Released { .. }
        | ScheduleEvent::PaymentAborted { .. }
        | ScheduleEvent::Confirmed { .. }
        | ScheduleEvent::Cancelled { .. }
        | ScheduleEvent::ScheduleCancelled { .. }
        | ScheduleEvent::Comped { .. } => true,
        ScheduleEvent::Expired {
            reservation_ids, ..
        } => !reservation_ids.is_empty(),
        ScheduleEvent::CancellationBatch {
            released, refunded, ..
        } => !released.is_empty() || !refunded.is_empty(),
        ScheduleEvent::PaymentBegun { .. }
        | ScheduleEvent::RefundSettled { .. }
        | ScheduleEvent::CheckedIn { .. }
        | ScheduleEvent::SeatsBlocked { .. }
        | ScheduleEvent::SeatsUnblocked { .. } => false,
    }
}

pub fn check_outbox(
    w: &World,
    schedules: &BTreeMap<ScheduleId, &Schedule>,
    archived: &BTreeMap<ReservationId, ArchivedReservation>,
) {
    let store: &dyn Store = w.store.as_ref();
    let outbox: Vec<(Lsn, OutboxRecord)> = store
        .read_log(OUTBOX_LOG, 0)
        .expect("outbox readable")
        .into_iter()
        .map(|(lsn, bytes)| {
            let record =
                codec::decode_record(OUTBOX_LOG, lsn, &bytes).expect("outbox record decodes");
            (lsn, record)
        })
        .collect();
    assert_eq!(
        outbox.last().map_or(0, |(lsn, _)| *lsn),
        store.last_lsn(OUTBOX_LOG).expect("outbox lsn"),
        "retention never trims the newest outbox record: its last record is its last lsn"
    );

    // Pairing.
    let mut named: BTreeMap<(String, Lsn), Lsn> = BTreeMap::new();
    for (lsn, record) in &outbox {
        assert!(!record.events.is_empty(), "outbox record {lsn} is empty");
        let source = (record.source_log.clone(), record.source_lsn);
        assert!(
            named.insert(source.clone(), *lsn).is_none(),
            "two outbox records name {source:?}"
        );
        let last = store.last_lsn(&record.source_log).expect("source lsn");
        assert!(
            record.source_lsn <= last,
            "outbox record {lsn} names {source:?}, past that log's last lsn {last}: an event without its change"
        );
    }
    for schedule in schedules.keys() {
        let log = log_name(*schedule);
        let upto = store
            .read_snapshot(&log)
            .expect("snapshot readable")
            .map_or(0, |(upto, _)| upto);
        let mut present = BTreeSet::new();
        for (lsn, bytes) in store.read_log(&log, upto).expect("log readable") {
            present.insert(lsn);
            let record: Record<ScheduleLogEvent> =
                codec::decode_record(&log, lsn, &bytes).expect("schedule record decodes");
            let makes = record.events.iter().any(|event| match event {
                ScheduleLogEvent::Engine(event) => makes_booking_events(event),
                ScheduleLogEvent::PaymentStarted { .. } => false,
            });
            assert_eq!(
                makes,
                named.contains_key(&(log.clone(), lsn)),
                "{log} record {lsn} (events {:?}) and the outbox disagree: a change without its events, or events for no change",
                record.events
            );
        }
        for (source_log, source_lsn) in named.keys() {
            if *source_log == log && *source_lsn > upto {
                assert!(
                    present.contains(source_lsn),
                    "the outbox names {log} record {source_lsn}, which is gone"
                );
            }
        }
    }

    // Agreement with the state.
    let mut ids = BTreeSet::new();
    let mut last_status: BTreeMap<ReservationId, ReservationStatus> = BTreeMap::new();
    for event in outbox.iter().flat_map(|(_, record)| &record.events) {
        assert!(
            ids.insert(event.event_id),
            "event id {} twice",
            event.event_id
        );
        match &event.data {
            BookingEventData::Reservation(view)
            | BookingEventData::Payment {
                reservation: view, ..
            }
            | BookingEventData::CardPayment {
                reservation: view, ..
            } => {
                last_status.insert(view.reservation_id, view.status);
            }
            BookingEventData::Refund { reservation_id, .. } => assert!(
                last_status.contains_key(reservation_id),
                "a refund of {reservation_id} before any event of it"
            ),
            BookingEventData::ScheduleCancelled { schedule_id, .. } => assert!(
                schedules.contains_key(schedule_id),
                "schedule.cancelled of unknown {schedule_id}"
            ),
        }
    }
    let mut existing = BTreeSet::new();
    for schedule in schedules.values() {
        for reservation in schedule.reservations() {
            existing.insert(reservation.id);
            assert_eq!(
                last_status.get(&reservation.id),
                Some(&reservation.status),
                "reservation {} is {:?}, its events say otherwise",
                reservation.id,
                reservation.status
            );
        }
    }
    for (id, entry) in archived {
        existing.insert(*id);
        assert_eq!(
            last_status.get(id),
            Some(&entry.view.status),
            "archived reservation {id} is {:?}, its events say otherwise",
            entry.view.status
        );
    }
    for id in last_status.keys() {
        assert!(
            existing.contains(id),
            "events name reservation {id}, which does not exist"
        );
    }
}

/// Every event of the durable outbox (records up to the outbox's durable
/// lsn), in feed order, with its feed position (lsn, index + 1): what a
/// consumer of the feed may have seen. For the dispatchers' simulations.
pub fn durable_events(w: &World) -> Vec<(Lsn, u32, BookingEvent)> {
    durable_events_in(w.store.as_ref(), w.registry.context().outbox.durable_lsn())
}

/// [`durable_events`] of `store`, up to `durable`.
pub fn durable_events_in(store: &dyn Store, durable: Lsn) -> Vec<(Lsn, u32, BookingEvent)> {
    let mut events = Vec::new();
    for (lsn, bytes) in store.read_log(OUTBOX_LOG, 0).expect("outbox readable") {
        if lsn > durable {
            break;
        }
        let record: OutboxRecord =
            codec::decode_record(OUTBOX_LOG, lsn, &bytes).expect("outbox record decodes");
        for (index, event) in record.events.into_iter().enumerate() {
            events.push((lsn, index as u32 + 1, event));
        }
    }
    events
}
