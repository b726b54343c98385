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
//! accepted the mail: at least once, and at most the one mail in flight at
//! a crash twice. The stored position becomes durable with the next flush
//! of the store; a crash before it only repeats mails, never skips one.
//!
//! A send that fails for a passing reason (connection refused, timeout, a
//! 4xx) is retried with a backoff doubling from [`FIRST_RETRY_DELAY`] to
//! [`MAX_RETRY_DELAY`], for as long as it takes: an outage delays the mail
//! behind it, never drops it. A mail the server refuses for good (a 5xx,
//! e.g. an address it does not serve) or one that cannot be written is
//! logged and passed, so one bad address cannot stop everyone's tickets.
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
use lettre::Message;
use std::sync::Arc;
use std::time::Duration;

use super::compose::{self, Recipient};
use super::mailer::Mailer;
use crate::tickets_qr::QrSigner;

/// Events read from the feed at a time.
pub const MAIL_EVENTS_PER_PAGE: usize = 32;
/// Longest one feed read waits for a new event (the feed's long-poll).
pub const FEED_WAIT: Duration = Duration::from_secs(20);
/// The first wait after a failed send or read.
pub const FIRST_RETRY_DELAY: Duration = Duration::from_millis(500);
/// The longest wait between two attempts (the backoff stops doubling here).
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

pub struct Dispatcher {
    registry: Arc<Registry>,
    mailer: Arc<Mailer>,
    from: Mailbox,
    qr: QrSigner,
    start: Position,
}

impl Dispatcher {
    /// Reads (or, on a data dir that never had mail, stores) the position
    /// now, before the server takes requests: every event appended from
    /// here on is after it, so none is skipped.
    pub fn new(
        registry: Arc<Registry>,
        mailer: Arc<Mailer>,
        from: Mailbox,
        qr: QrSigner,
    ) -> Result<Self, String> {
        let start = start_position(registry.context().commit.store().as_ref())
            .map_err(|e| format!("mail: cannot read its position: {e}"))?;
        // Before the server takes requests (and before the webhook thread's
        // first retention pass): the events not mailed yet are kept.
        registry
            .context()
            .outbox
            .hold(OUTBOX_HOLD, start.hold_lsn());
        Ok(Dispatcher {
            registry,
            mailer,
            from,
            qr,
            start,
        })
    }

    fn store(&self) -> &Arc<dyn Store> {
        self.registry.context().commit.store()
    }

    /// Runs until the process (or the mail thread) stops.
    pub async fn run(self) {
        let mut position = self.start;
        loop {
            let page = self
                .retrying("read the booking events", || {
                    self.registry
                        .booking_events(position.page, MAIL_EVENTS_PER_PAGE, FEED_WAIT)
                })
                .await;
            let done = position.done as usize;
            for (i, event) in page.items.iter().enumerate().skip(done) {
                self.mail_for(event).await;
                position.done = (i + 1) as u32;
                self.save(position).await;
            }
            if !page.items.is_empty() {
                position = Position {
                    page: Some(page.next),
                    done: 0,
                };
                self.save(position).await;
            }
        }
    }

    async fn save(&self, position: Position) {
        let store = Arc::clone(self.store());
        self.retrying("store the mail position", || {
            let store = Arc::clone(&store);
            async move {
                store
                    .put_meta(CURSOR_KEY, &position.encode())
                    .map_err(|e| e.to_string())
            }
        })
        .await;
        self.registry
            .context()
            .outbox
            .hold(OUTBOX_HOLD, position.hold_lsn());
    }

    /// Sends the mail `event` calls for, if any (see the module doc).
    async fn mail_for(&self, event: &BookingEvent) {
        let reservation = match (&event.kind, &event.data) {
            (BookingEventKind::BookingConfirmed, BookingEventData::Reservation(r)) => r,
            (BookingEventKind::BookingCancelled, BookingEventData::Reservation(r))
                if r.refund_amount.is_some_and(|amount| amount.0 > 0) =>
            {
                r
            }
            _ => return,
        };
        let Some(to) = self.buyer(reservation).await else {
            tracing::warn!(event = %event.event_id, user = %reservation.user,
                "no account to mail: passed");
            return;
        };
        let message = match event.kind {
            BookingEventKind::BookingConfirmed => {
                compose::tickets(&self.from, &to, reservation, &self.qr)
            }
            _ => compose::refund(&self.from, &to, reservation),
        };
        match message {
            Ok(message) => {
                send_until_accepted(&self.mailer, message, &event.event_id.to_string()).await
            }
            Err(err) => {
                tracing::error!(event = %event.event_id, %err, "mail cannot be written: passed")
            }
        }
    }

    /// The buyer's address and name; `None` when the account is gone.
    async fn buyer(&self, reservation: &ReservationView) -> Option<Recipient> {
        let account = self
            .retrying("look up the buyer", || {
                self.registry.account(reservation.user)
            })
            .await?;
        Some(Recipient {
            email: account.email,
            name: account.name,
        })
    }

    /// `step` until it succeeds, backing off between failures.
    async fn retrying<T, E: std::fmt::Display, F: std::future::Future<Output = Result<T, E>>>(
        &self,
        what: &str,
        mut step: impl FnMut() -> F,
    ) -> T {
        let mut delay = FIRST_RETRY_DELAY;
        loop {
            match step().await {
                Ok(value) => return value,
                Err(err) => {
                    tracing::warn!(%err, retry_in_ms = delay.as_millis() as u64, "mail: cannot {what}");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(MAX_RETRY_DELAY);
                }
            }
        }
    }
}

/// Sends `message` until the server accepts it or refuses it for good.
async fn send_until_accepted(mailer: &Mailer, message: Message, what: &str) {
    let mut delay = FIRST_RETRY_DELAY;
    loop {
        match mailer.send(message.clone()).await {
            Ok(()) => return,
            Err(err) if err.permanent => {
                tracing::error!(mail = what, err = %err.message, "the SMTP server refused the mail for good: passed");
                return;
            }
            Err(err) => {
                tracing::warn!(mail = what, err = %err.message, retry_in_ms = delay.as_millis() as u64,
                    "mail not sent: retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(MAX_RETRY_DELAY);
            }
        }
    }
}

/// The stored position, or (first start with mail) the outbox's end,
/// stored. It becomes durable with the flush of any event appended after
/// it (a flush covers every write before it), so no event after it can be
/// durable while it is not.
fn start_position(store: &dyn Store) -> Result<Position, String> {
    if let Some(bytes) = store.get_meta(CURSOR_KEY).map_err(|e| e.to_string())? {
        return Position::decode(&bytes).ok_or_else(|| format!("{CURSOR_KEY} holds no position"));
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
