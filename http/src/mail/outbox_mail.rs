//! The mail dispatcher: follows the durable booking events in order and
//! mails what they call for.
//!
//! - `booking.confirmed`: the tickets, to the buyer.
//! - `booking.cancelled` of a paid reservation (a refund: the customer's or
//!   the admin's cancel, or the schedule's): the refund notice. Its
//!   `refund.issued`, in the same outbox record, names no buyer, and
//!   `schedule.cancelled` none either: the `booking.cancelled` of each
//!   refunded reservation that follows it is what reaches each buyer, so
//!   every refund is mailed once.
//!
//! Position: the dispatcher reads pages of [`MAIL_EVENTS_PER_PAGE`] events
//! from a feed cursor, and stores under [`CURSOR_KEY`] that page's cursor and
//! how many of its events are done. A page read again from the same cursor
//! starts with the same events (positions are fixed at append), so after a
//! restart the dispatcher resumes at the first event whose mail the server
//! did not accept yet. The count advances only after the SMTP server
//! accepted the mail: at least once. The stored position becomes durable
//! with the next flush of the store; a crash before it repeats the mails
//! sent since the last one (the one in flight at least), never skips one.
//!
//! A pass ([`Dispatcher::pass`]) reads one page and mails its events in
//! order; it stops at the first failure that may pass (connection refused,
//! timeout, a 4xx, a store error), with the position at the mail not sent
//! yet. [`Dispatcher::run`] repeats passes, waiting after a failed one with
//! a backoff doubling from [`FIRST_RETRY_DELAY`] to [`MAX_RETRY_DELAY`],
//! for as long as it takes: an outage delays the mail behind it, never
//! drops it. A mail the server refuses for good (a 5xx, e.g. an address it
//! does not serve) or one that cannot be written is logged and passed, so
//! one bad address cannot stop everyone's tickets. The mail goes out
//! through a [`MailTransport`]: the SMTP client, or a seeded simulation's
//! (`tests/engine/simulation/mail.rs`), which runs passes one by one.
//!
//! On a data dir that never had mail, the dispatcher starts at the end of
//! the outbox: turning mail on does not mail every past booking.

use boxoffice_actors::booking_events::{
    BookingEvent, BookingEventData, BookingEventKind, EventCursor, OutboxRecord, OUTBOX_LOG,
};
use boxoffice_actors::schedule_actor::ReservationView;
use boxoffice_actors::Registry;
use boxoffice_storage::{codec, Store};
use lettre::message::Mailbox;
use std::sync::Arc;
use std::time::Duration;

use super::compose::{self, Recipient};
use super::mailer::{MailTransport, Mailer};
use crate::tickets_qr::QrSigner;

/// Events read from the feed at a time.
pub const MAIL_EVENTS_PER_PAGE: usize = 32;
/// Longest one feed read waits for a new event (the feed's long-poll).
pub const FEED_WAIT: Duration = Duration::from_secs(20);
/// The first wait after a failed pass.
pub const FIRST_RETRY_DELAY: Duration = Duration::from_millis(500);
/// The longest wait between two passes (the backoff stops doubling here).
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(60);
/// The store's meta key of the dispatcher's position.
pub const CURSOR_KEY: &str = "mail/outbox-position";
/// The mail dispatcher's name among the outbox's holds (retention keeps
/// what it has not mailed yet).
const OUTBOX_HOLD: &str = "mail";

/// Where the dispatcher is: the page it reads (`None`: the outbox's
/// beginning) and how many of its events are done.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Position {
    pub page: Option<EventCursor>,
    pub done: u32,
}

impl Position {
    /// The first outbox record this position still reads.
    fn hold_lsn(self) -> u64 {
        self.page.map_or(0, |page| page.lsn)
    }

    /// 16 bytes: the page cursor's lsn and consumed count, and `done`
    /// (little-endian); lsn 0 is the outbox's beginning.
    fn encode(self) -> Vec<u8> {
        let page = self.page.unwrap_or_default();
        let mut out = page.lsn.to_le_bytes().to_vec();
        out.extend_from_slice(&page.consumed.to_le_bytes());
        out.extend_from_slice(&self.done.to_le_bytes());
        out
    }

    fn decode(bytes: &[u8]) -> Option<Position> {
        let lsn = u64::from_le_bytes(bytes.get(0..8)?.try_into().ok()?);
        let consumed = u32::from_le_bytes(bytes.get(8..12)?.try_into().ok()?);
        let done = u32::from_le_bytes(bytes.get(12..16)?.try_into().ok()?);
        let page = (lsn != 0).then_some(EventCursor { lsn, consumed });
        Some(Position { page, done })
    }
}

/// The mails the booking events call for (the module doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutboxMail {
    /// The tickets of a confirmed reservation.
    Tickets,
    /// The notice of a refunded one.
    Refund,
    /// The notice of a cancelled one that had tickets but was paid nothing
    /// (a comp, free seats), so it has no refund to announce: API.md mails a
    /// notice when a reservation's schedule is cancelled, refund or not.
    Cancellation,
}

/// The mail `event` calls for, and the reservation it is about; `None`
/// for an event that calls for none.
pub fn mail_called_for(event: &BookingEvent) -> Option<(OutboxMail, &ReservationView)> {
    match (&event.kind, &event.data) {
        (BookingEventKind::BookingConfirmed, BookingEventData::Reservation(r)) => {
            Some((OutboxMail::Tickets, r))
        }
        // A refund amount is there exactly when the reservation had tickets
        // (a released or expired hold has none, and calls for no mail).
        (BookingEventKind::BookingCancelled, BookingEventData::Reservation(r)) => {
            match r.refund_amount {
                Some(amount) if amount.0 > 0 => Some((OutboxMail::Refund, r)),
                Some(_) => Some((OutboxMail::Cancellation, r)),
                None => None,
            }
        }
        _ => None,
    }
}

/// What one [`Dispatcher::pass`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PassReport {
    /// Events the page held from where the pass started.
    pub events_read: usize,
    /// Mails the server accepted.
    pub mails_sent: usize,
}

pub struct Dispatcher {
    registry: Arc<Registry>,
    from: Mailbox,
    qr: QrSigner,
    position: Position,
}

impl Dispatcher {
    /// Reads (or, on a data dir that never had mail, stores) the position
    /// now, before the server takes requests: every event appended from
    /// here on is after it, so none is skipped.
    pub fn new(registry: Arc<Registry>, from: Mailbox, qr: QrSigner) -> Result<Self, String> {
        let position = start_position(registry.context().commit.store().as_ref())
            .map_err(|e| format!("mail: cannot read its position: {e}"))?;
        // Before the server takes requests (and before the webhook thread's
        // first retention pass): the events not mailed yet are kept.
        registry
            .context()
            .outbox
            .hold(OUTBOX_HOLD, position.hold_lsn());
        Ok(Dispatcher {
            registry,
            from,
            qr,
            position,
        })
    }

    /// Where the dispatcher is (in memory; the stored one may be behind).
    pub fn position(&self) -> Position {
        self.position
    }

    /// Runs passes until the process (or the mail thread) stops, backing
    /// off after a failed one (see the module doc).
    pub async fn run(mut self, mailer: Arc<Mailer>) {
        let mut delay = FIRST_RETRY_DELAY;
        loop {
            let before = self.position;
            match self.pass(mailer.as_ref(), FEED_WAIT).await {
                Ok(_) => delay = FIRST_RETRY_DELAY,
                Err(err) => {
                    // Mail went out before the failure: the backoff is
                    // for the mail that did not, from its start.
                    if self.position != before {
                        delay = FIRST_RETRY_DELAY;
                    }
                    tracing::warn!(%err, retry_in_ms = delay.as_millis() as u64, "mail: retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(MAX_RETRY_DELAY);
                }
            }
        }
    }

    /// One pass: reads the page at the position (waiting up to `wait` for
    /// a new event when there is none) and sends what its events call for,
    /// one after another, storing the position after each; past the page's
    /// end, stores the next page's. Stops at the first failure that may
    /// pass, with the position at the event whose mail is not sent yet.
    pub async fn pass(
        &mut self,
        transport: &dyn MailTransport,
        wait: Duration,
    ) -> Result<PassReport, String> {
        let mut report = PassReport::default();
        let page = self
            .registry
            .booking_events(self.position.page, MAIL_EVENTS_PER_PAGE, wait)
            .await
            .map_err(|e| format!("cannot read the booking events: {e}"))?;
        let done = self.position.done as usize;
        report.events_read = page.items.len().saturating_sub(done);
        for (i, event) in page.items.iter().enumerate().skip(done) {
            if self.mail_for(transport, event).await? {
                report.mails_sent += 1;
            }
            self.position.done = (i + 1) as u32;
            self.save()?;
        }
        if !page.items.is_empty() {
            self.position = Position {
                page: Some(page.next),
                done: 0,
            };
            self.save()?;
        }
        Ok(report)
    }

    /// Stores the position (durable with the store's next flush).
    fn save(&self) -> Result<(), String> {
        self.registry
            .context()
            .commit
            .store()
            .put_meta(CURSOR_KEY, &self.position.encode())
            .map_err(|e| format!("cannot store the mail position: {e}"))?;
        self.registry
            .context()
            .outbox
            .hold(OUTBOX_HOLD, self.position.hold_lsn());
        Ok(())
    }

    /// Sends the mail `event` calls for, if any (see the module doc):
    /// true once the server accepted it, false when there was none to send
    /// or it was passed.
    async fn mail_for(
        &self,
        transport: &dyn MailTransport,
        event: &BookingEvent,
    ) -> Result<bool, String> {
        let Some((mail, reservation)) = mail_called_for(event) else {
            return Ok(false);
        };
        let Some(to) = self.buyer(reservation).await? else {
            tracing::warn!(event = %event.event_id, user = %reservation.user,
                "no account to mail: passed");
            return Ok(false);
        };
        let message = match mail {
            OutboxMail::Tickets => compose::tickets(&self.from, &to, reservation, &self.qr),
            OutboxMail::Refund => compose::refund(&self.from, &to, reservation),
            OutboxMail::Cancellation => compose::cancellation(&self.from, &to, reservation),
        };
        let message = match message {
            Ok(message) => message,
            Err(err) => {
                tracing::error!(event = %event.event_id, %err, "mail cannot be written: passed");
                return Ok(false);
            }
        };
        match transport.send(message).await {
            Ok(()) => Ok(true),
            Err(err) if err.permanent => {
                tracing::error!(event = %event.event_id, err = %err.message,
                    "the SMTP server refused the mail for good: passed");
                Ok(false)
            }
            Err(err) => Err(format!(
                "the mail of event {} was not sent: {}",
                event.event_id, err.message
            )),
        }
    }

    /// The buyer's address and name; `None` when the account is gone.
    async fn buyer(&self, reservation: &ReservationView) -> Result<Option<Recipient>, String> {
        let account = self
            .registry
            .account(reservation.user)
            .await
            .map_err(|e| format!("cannot look up the buyer: {e}"))?;
        Ok(account.map(|account| Recipient {
            email: account.email,
            name: account.name,
        }))
    }
}

/// The stored position (`None`: mail never started on this data dir), for checks.
pub fn stored_position(store: &dyn Store) -> Result<Option<Position>, String> {
    store
        .get_meta(CURSOR_KEY)
        .map_err(|e| e.to_string())?
        .map(|bytes| {
            Position::decode(&bytes).ok_or_else(|| format!("{CURSOR_KEY} holds no position"))
        })
        .transpose()
}

/// The stored position, or (first start with mail) the outbox's end,
/// stored. It becomes durable with the flush of any event appended after
/// it (a flush covers every write before it), so no event after it can be
/// durable while it is not.
fn start_position(store: &dyn Store) -> Result<Position, String> {
    if let Some(position) = stored_position(store)? {
        return Ok(position);
    }
    let position = Position {
        page: end_of_outbox(store)?,
        done: 0,
    };
    store
        .put_meta(CURSOR_KEY, &position.encode())
        .map_err(|e| e.to_string())?;
    Ok(position)
}

/// The feed position after every event the outbox holds now (`None` when
/// it holds none): its last record with events, fully consumed.
fn end_of_outbox(store: &dyn Store) -> Result<Option<EventCursor>, String> {
    let mut lsn = store.last_lsn(OUTBOX_LOG).map_err(|e| e.to_string())?;
    while lsn > 0 {
        let records = store
            .read_log_page(OUTBOX_LOG, lsn - 1, 1)
            .map_err(|e| e.to_string())?;
        if let Some((at, bytes)) = records.into_iter().next() {
            let record: OutboxRecord =
                codec::decode_record(OUTBOX_LOG, at, &bytes).map_err(|e| e.to_string())?;
            if !record.events.is_empty() {
                return Ok(Some(EventCursor {
                    lsn: at,
                    consumed: record.events.len() as u32,
                }));
            }
        }
        lsn -= 1;
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip() {
        for position in [
            Position::default(),
            Position {
                page: Some(EventCursor {
                    lsn: 7,
                    consumed: 3,
                }),
                done: 2,
            },
        ] {
            assert_eq!(Position::decode(&position.encode()), Some(position));
        }
        assert_eq!(Position::decode(b"short"), None);
    }
}
