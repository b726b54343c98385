//! The mails, from the templates in `http/templates/mail/` (compiled in):
//! `{{key}}` placeholders filled by [`fill`], HTML-escaped in the HTML parts.
//! A template naming a key the code does not give is an error, so a typo
//! fails the unit tests below rather than mailing `{{nmae}}`.

use boxoffice_actors::schedule_actor::ReservationView;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::Message;

use super::qr_png;
use crate::tickets_qr::QrSigner;

const TICKETS_TXT: &str = include_str!("../../templates/mail/tickets.txt");
const TICKETS_HTML: &str = include_str!("../../templates/mail/tickets.html");
const TICKET_ROW_TXT: &str = include_str!("../../templates/mail/ticket_row.txt");
const TICKET_ROW_HTML: &str = include_str!("../../templates/mail/ticket_row.html");
const REFUND_TXT: &str = include_str!("../../templates/mail/refund.txt");
const REFUND_HTML: &str = include_str!("../../templates/mail/refund.html");
const CANCELLATION_TXT: &str = include_str!("../../templates/mail/cancellation.txt");
const CANCELLATION_HTML: &str = include_str!("../../templates/mail/cancellation.html");
const PASSWORD_RESET_TXT: &str = include_str!("../../templates/mail/password_reset.txt");
const VERIFY_EMAIL_TXT: &str = include_str!("../../templates/mail/verify_email.txt");
/// One `name=template` per line.
const SUBJECTS: &str = include_str!("../../templates/mail/subjects.txt");

/// Who a mail goes to.
#[derive(Clone, Debug)]
pub struct Recipient {
    pub email: String,
    pub name: String,
}

/// What a code mail is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeMailKind {
    PasswordReset,
    VerifyEmail,
}

/// `template` with each `{{key}}` replaced by its value in `values`
/// (HTML-escaped when `html`); an unknown key or an unclosed `{{` is an error.
pub fn fill(template: &str, values: &[(&str, &str)], html: bool) -> Result<String, String> {
    fill_with(template, values, html, &[])
}

/// [`fill`], with `raw` values too: parts rendered already (inserted as they are).
fn fill_with(
    template: &str,
    values: &[(&str, &str)],
    html: bool,
    raw: &[(&str, &str)],
) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| "a template has an unclosed {{".to_string())?;
        let key = after[..end].trim();
        let find = |values: &[(&str, &str)]| {
            values
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.to_string())
        };
        if let Some(value) = find(raw) {
            out.push_str(&value);
        } else {
            let value =
                find(values).ok_or_else(|| format!("a template names the unknown key {key:?}"))?;
            if html {
                escape_html_into(&value, &mut out);
            } else {
                out.push_str(&value);
            }
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn escape_html_into(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// The subject template called `name`, filled.
fn subject(name: &str, values: &[(&str, &str)]) -> Result<String, String> {
    let template = SUBJECTS
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix('='))
        .ok_or_else(|| format!("no subject template {name:?}"))?;
    fill(template, values, false)
}

fn envelope(
    from: &Mailbox,
    to: &Recipient,
    subject: String,
) -> Result<lettre::message::MessageBuilder, String> {
    let to = Mailbox::new(
        Some(to.name.clone()),
        to.email
            .parse()
            .map_err(|e| format!("{:?} is not an address mail can go to: {e}", to.email))?,
    );
    Ok(Message::builder()
        .from(from.clone())
        .to(to)
        .subject(subject))
}

/// The tickets of a confirmed reservation: text and HTML, each ticket's QR
/// code (signed by `qr`, as `GET /tickets` shows it) an inline PNG of the HTML part.
pub fn tickets(
    from: &Mailbox,
    to: &Recipient,
    reservation: &ReservationView,
    qr: &QrSigner,
) -> Result<Message, String> {
    let number = reservation.reservation_number.as_str();
    let count = reservation.tickets.len().to_string();
    let total = reservation.total_amount.0.to_string();
    let (mut rows_txt, mut rows_html, mut images) = (String::new(), String::new(), Vec::new());
    for (i, ticket) in reservation.tickets.iter().enumerate() {
        let code = qr.code(ticket.ticket_id);
        let ticket_id = ticket.ticket_id.to_string();
        let content_id = format!("ticket-{i}@boxoffice");
        let (png, side) = qr_png::png(&code)?;
        let side = side.to_string();
        let values = [
            ("seatId", ticket.seat_id.as_str()),
            ("ticketId", ticket_id.as_str()),
            ("qrCode", code.as_str()),
            ("contentId", content_id.as_str()),
            ("sizePx", side.as_str()),
        ];
        rows_txt.push_str(&fill(TICKET_ROW_TXT, &values, false)?);
        rows_html.push_str(&fill(TICKET_ROW_HTML, &values, true)?);
        images.push((content_id, png));
    }
    let values = [
        ("name", to.name.as_str()),
        ("reservationNumber", number),
        ("ticketCount", count.as_str()),
        ("totalAmount", total.as_str()),
    ];
    let text = fill_with(TICKETS_TXT, &values, false, &[("tickets", &rows_txt)])?;
    // The rows are HTML already (escaped when they were filled).
    let html = fill_with(TICKETS_HTML, &values, true, &[("tickets", &rows_html)])?;
    let png_type = ContentType::parse("image/png").map_err(|e| e.to_string())?;
    let mut related = MultiPart::related().singlepart(SinglePart::html(html));
    for (content_id, png) in images {
        related =
            related.singlepart(Attachment::new_inline(content_id).body(png, png_type.clone()));
    }
    let body = MultiPart::alternative()
        .singlepart(SinglePart::plain(text))
        .multipart(related);
    envelope(
        from,
        to,
        subject("tickets", &[("reservationNumber", number)])?,
    )?
    .multipart(body)
    .map_err(|e| e.to_string())
}

/// The notice of a cancelled paid reservation: what is refunded, which tickets end.
pub fn refund(
    from: &Mailbox,
    to: &Recipient,
    reservation: &ReservationView,
) -> Result<Message, String> {
    let amount = reservation
        .refund_amount
        .unwrap_or(reservation.total_amount)
        .0
        .to_string();
    notice(
        from,
        to,
        reservation,
        ("refund", REFUND_TXT, REFUND_HTML),
        &amount,
    )
}

/// The notice of a cancelled reservation that was paid nothing.
pub fn cancellation(
    from: &Mailbox,
    to: &Recipient,
    reservation: &ReservationView,
) -> Result<Message, String> {
    notice(
        from,
        to,
        reservation,
        ("cancellation", CANCELLATION_TXT, CANCELLATION_HTML),
        "0",
    )
}

/// A notice about one reservation from its subject's name and its two
/// templates (text and HTML), which may use `name`, `reservationNumber`,
/// `refundAmount` and `seats`.
fn notice(
    from: &Mailbox,
    to: &Recipient,
    reservation: &ReservationView,
    (name, text, html): (&str, &str, &str),
    refund_amount: &str,
) -> Result<Message, String> {
    let number = reservation.reservation_number.as_str();
    let seats = reservation
        .seats
        .iter()
        .map(|s| s.seat_id.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let values = [
        ("name", to.name.as_str()),
        ("reservationNumber", number),
        ("refundAmount", refund_amount),
        ("seats", seats.as_str()),
    ];
    let body = MultiPart::alternative()
        .singlepart(SinglePart::plain(fill(text, &values, false)?))
        .singlepart(SinglePart::html(fill(html, &values, true)?));
    envelope(from, to, subject(name, &[("reservationNumber", number)])?)?
        .multipart(body)
        .map_err(|e| e.to_string())
}

/// A password-reset or verification code, valid `valid_minutes`.
pub fn code(
    from: &Mailbox,
    to: &Recipient,
    kind: CodeMailKind,
    code: &str,
    valid_minutes: i64,
) -> Result<Message, String> {
    let minutes = valid_minutes.to_string();
    let values = [
        ("name", to.name.as_str()),
        ("code", code),
        ("validMinutes", minutes.as_str()),
    ];
    let (template, subject_name) = match kind {
        CodeMailKind::PasswordReset => (PASSWORD_RESET_TXT, "password_reset"),
        CodeMailKind::VerifyEmail => (VERIFY_EMAIL_TXT, "verify_email"),
    };
    envelope(from, to, subject(subject_name, &[])?)?
        .header(ContentType::TEXT_PLAIN)
        .body(fill(template, &values, false)?)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use boxoffice_actors::receipt::{SeatLine, TicketLine};
    use boxoffice_engine::ids::{ReservationId, ScheduleId, TicketId, UserId};
    use boxoffice_engine::schedule::ReservationStatus;
    use boxoffice_engine::{Money, Timestamp};

    fn reservation() -> ReservationView {
        ReservationView {
            reservation_id: ReservationId::from_random_bytes([1; 16]),
            reservation_number: "R-<1>".into(),
            schedule_id: ScheduleId::from_random_bytes([2; 16]),
            user: UserId::from_random_bytes([3; 16]),
            seats: vec![SeatLine {
                seat_id: "VIP-1-1".into(),
                grade: "VIP".into(),
                price: Money(5_000),
            }],
            total_amount: Money(5_000),
            status: ReservationStatus::Cancelled,
            held_at: Timestamp(0),
            expires_at: Timestamp(0),
            paid_at: None,
            tickets: vec![TicketLine {
                ticket_id: TicketId::from_random_bytes([4; 16]),
                seat_id: "VIP-1-1".into(),
            }],
            ended_at: None,
            refund_amount: Some(Money(5_000)),
        }
    }

    #[test]
    fn placeholders_fill_escape_and_refuse_unknown_keys() {
        assert_eq!(
            fill("a {{x}} b", &[("x", "<i>")], true).as_deref(),
            Ok("a &lt;i&gt; b")
        );
        assert_eq!(
            fill("a {{ x }} b", &[("x", "<i>")], false).as_deref(),
            Ok("a <i> b")
        );
        assert!(fill("{{y}}", &[("x", "1")], false).is_err());
        assert!(fill("{{x", &[("x", "1")], false).is_err());
    }

    #[test]
    fn every_template_renders_with_the_keys_the_code_gives() {
        let from: Mailbox = "Box Office <tickets@example.com>".parse().expect("address");
        let to = Recipient {
            email: "kim@example.com".into(),
            name: "Kim".into(),
        };
        let qr = QrSigner::new(b"0123456789abcdef");
        let r = reservation();
        let tickets = tickets(&from, &to, &r, &qr).expect("tickets render");
        let raw = String::from_utf8(tickets.formatted()).expect("utf-8");
        assert!(raw.contains("Subject: Your tickets: R-<1>"), "{raw}");
        assert!(raw.contains("image/png"));
        assert!(raw.contains("R-&lt;1&gt;"), "escaped in HTML");
        assert!(!raw.contains("{{"), "every placeholder filled");
        let refund = refund(&from, &to, &r).expect("refund renders");
        assert!(!String::from_utf8_lossy(&refund.formatted()).contains("{{"));
        for kind in [CodeMailKind::PasswordReset, CodeMailKind::VerifyEmail] {
            let mail = code(&from, &to, kind, "ABCD-EFGH", 30).expect("code renders");
            let raw = String::from_utf8_lossy(&mail.formatted()).to_string();
            assert!(raw.contains("ABCD-EFGH") && !raw.contains("{{"), "{raw}");
        }
    }
}
