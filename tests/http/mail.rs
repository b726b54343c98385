//! E-mail (API.md, "E-mail") through real HTTP and a real SMTP conversation
//! with a local sink (`test_support::smtp_sink`): the tickets on
//! confirmation (recipient, subject, and each inline QR image decodes to
//! the ticket's `qrCode`), the refund notice and a cancelled schedule's
//! notices (a refund, or a cancellation for a comp), a retry after refused
//! connections, a restart during an outage that loses no mail; password
//! reset end to end (the code read from the mail), expired and reused
//! codes, the same answer for known and unknown addresses, verification
//! end to end, and bad inputs; and 30-day retention, which trims old
//! events and webhook deliveries but not the events mail still owes.

use awc::http::Method;
use boxoffice_actors::accounts::CODE_TTL_MS;
use boxoffice_actors::Role;
use boxoffice_http::mail::MailSettings;
use boxoffice_http::rate_limit::RateLimitSettings;
use boxoffice_http::Settings;
use serde_json::{json, Value};
use std::time::Duration;
use test_support::app::*;
use test_support::smtp_sink::{free_port, ReceivedMail, SmtpSink};

const MAIL_WAIT: Duration = Duration::from_secs(30);
/// Resets timed per address in the enumeration test, and the largest gap
/// between their median times it accepts: the answer comes before any
/// work that depends on the account. An SMTP conversation or a password
/// hash in the handler would take longer than this; a lone store write
/// might not (a bound that tight would fail on a busy machine).
const ENUMERATION_ROUNDS: usize = 25;
const ENUMERATION_MEDIAN_GAP_MS: f64 = 10.0;
const FROM: &str = "Box Office <tickets@boxoffice.test>";
const RESET: &str = "/api/v1/auth/password-reset";
const CONFIRM: &str = "/api/v1/auth/password-reset/confirm";
const VERIFY: &str = "/api/v1/auth/verify-email";
const NEW_PASSWORD: &str = "a-fresh-long-passphrase";

fn with_mail(url: String) -> impl FnOnce(&mut Settings) {
    move |s| {
        s.mail = Some(MailSettings {
            smtp_url: url,
            from: FROM.into(),
        })
    }
}

/// The mails whose subject starts with `prefix`.
fn subject_starts(mails: &[ReceivedMail], prefix: &str) -> Vec<ReceivedMail> {
    mails
        .iter()
        .filter(|m| m.header("Subject").is_some_and(|s| s.starts_with(prefix)))
        .cloned()
        .collect()
}

/// Waits for the first mail to `to` whose subject starts with `prefix`.
async fn mail_to(sink: &SmtpSink, to: &str, prefix: &str) -> ReceivedMail {
    let deadline = std::time::Instant::now() + MAIL_WAIT;
    loop {
        let found = subject_starts(&sink.mails(), prefix)
            .into_iter()
            .find(|m| m.rcpt_to.iter().any(|r| r == to));
        if let Some(mail) = found {
            return mail;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no {prefix:?} mail to {to}"
        );
        actix_rt::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The code in a code mail: the line that is four dash-separated groups of four.
fn code_in(mail: &ReceivedMail) -> String {
    mail.text()
        .lines()
        .map(str::trim)
        .find(|line| {
            let groups: Vec<&str> = line.split('-').collect();
            groups.len() == 4
                && groups
                    .iter()
                    .all(|g| g.len() == 4 && g.chars().all(|c| c.is_ascii_alphanumeric()))
        })
        .unwrap_or_else(|| panic!("no code in {}", mail.data))
        .to_string()
}

/// The text a PNG's QR code holds.
fn decode_qr(png_bytes: &[u8]) -> String {
    let mut decoder = png::Decoder::new(png_bytes);
    decoder.set_transformations(png::Transformations::EXPAND);
    let mut reader = decoder.read_info().expect("a PNG");
    let mut pixels = vec![0; reader.output_buffer_size()];
    let frame = reader.next_frame(&mut pixels).expect("a frame");
    let (width, height) = (frame.width as usize, frame.height as usize);
    let line = frame.line_size;
    let mut image =
        rqrr::PreparedImage::prepare_from_greyscale(width, height, |x, y| pixels[y * line + x]);
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code per image");
    grids[0].decode().expect("the QR code decodes").1
}

/// An account that can book (no password: made through the engine) with a
/// funded wallet: its email and token.
async fn buyer(app: &TestApp) -> (String, String) {
    let (user_id, token) = app.account_token(Role::User).await;
    let me = app.get("/api/v1/auth/me", Some(&token)).await;
    me.expect(200, "");
    assert_eq!(me.body["userId"], json!(user_id.to_string()));
    app.fund(&token, 1_000_000).await;
    (me.body["email"].as_str().expect("email").to_string(), token)
}

/// Holds `seats` on `schedule` and pays: the reservation as the payment left it.
async fn buy(app: &TestApp, token: &str, schedule: &str, seats: &[&str]) -> Value {
    let hold = app
        .post_keyed(
            "/api/v1/reservations",
            token,
            json!({"scheduleId": schedule, "seatIds": seats}),
        )
        .await;
    hold.expect(201, "");
    let id = hold.body["reservationId"].as_str().expect("id").to_string();
    app.post_keyed("/api/v1/payments", token, json!({"reservationId": id}))
        .await
        .expect(201, "");
    let reservation = app
        .get(&format!("/api/v1/reservations/{id}"), Some(token))
        .await;
    reservation.expect(200, "");
    reservation.body
}

/// The caller's tickets' QR codes, by ticket id.
async fn qr_codes(app: &TestApp, token: &str) -> Vec<(String, String)> {
    let tickets = app.get("/api/v1/tickets", Some(token)).await;
    tickets.expect(200, "");
    tickets.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|t| {
            (
                t["ticketId"].as_str().expect("ticketId").to_string(),
                t["qrCode"].as_str().expect("qrCode").to_string(),
            )
        })
        .collect()
}

#[actix_rt::test]
async fn a_confirmation_mails_the_tickets_with_qr_images_that_decode_to_their_codes() {
    let sink = SmtpSink::start();
    let app = spawn_app_with(with_mail(sink.url())).await;
    let admin = app.admin_token().await;
    let (_, schedule) = app.create_concert(&admin, None, 300).await;
    let (email, token) = buyer(&app).await;
    let reservation = buy(&app, &token, &schedule, &["VIP-1-1", "VIP-1-2"]).await;
    let number = reservation["reservationNumber"].as_str().expect("number");

    let mail = mail_to(&sink, &email, "Your tickets").await;
    assert_eq!(mail.rcpt_to, vec![email.clone()]);
    assert_eq!(
        mail.header("Subject").as_deref(),
        Some(format!("Your tickets: {number}").as_str())
    );
    assert!(mail.mail_from.ends_with("tickets@boxoffice.test"));
    assert!(!mail.parts("text/html").is_empty() && !mail.text().is_empty());
    let mut in_mail: Vec<String> = mail
        .parts("image/png")
        .iter()
        .map(|png| decode_qr(png))
        .collect();
    let mut shown: Vec<String> = qr_codes(&app, &token)
        .await
        .into_iter()
        .map(|(_, qr)| qr)
        .collect();
    in_mail.sort();
    shown.sort();
    assert_eq!(in_mail.len(), 2, "one image per ticket");
    assert_eq!(in_mail, shown, "each image is its ticket's qrCode");

    // A refund: the notice, to the same buyer.
    let id = reservation["reservationId"].as_str().expect("id");
    app.post(
        &format!("/api/v1/reservations/{id}/cancel"),
        Some(&token),
        json!({}),
    )
    .await
    .expect(200, "");
    let notice = mail_to(&sink, &email, "Refund").await;
    assert_eq!(
        notice.header("Subject").as_deref(),
        Some(format!("Refund: {number}").as_str())
    );
    assert!(notice.text().contains("300000"), "{}", notice.text());
    // A hold that ends unpaid mails nothing; only the two mails above came.
    let hold = app
        .post_keyed(
            "/api/v1/reservations",
            &token,
            json!({"scheduleId": schedule, "seatIds": ["R-1-1"]}),
        )
        .await;
    hold.expect(201, "");
    let held = hold.body["reservationId"].as_str().expect("id");
    app.post(
        &format!("/api/v1/reservations/{held}/cancel"),
        Some(&token),
        json!({}),
    )
    .await
    .expect(200, "");
    actix_rt::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sink.mails().len(), 2, "tickets and refund, nothing else");
    app.stop().await;
}

/// A schedule's cancel mails every ticket holder (API.md: "a notice when
/// it is refunded or its schedule cancelled"): the buyer who paid gets the
/// refund notice, the guest of a comp (paid nothing, refunded nothing) a
/// cancellation notice; the unpaid hold it releases mails nothing.
#[actix_rt::test]
async fn a_cancelled_schedule_mails_paid_buyers_a_refund_and_comp_guests_a_cancellation() {
    let sink = SmtpSink::start();
    let app = spawn_app_with(with_mail(sink.url())).await;
    let admin = app.admin_token().await;
    let (_, schedule) = app.create_concert(&admin, None, 300).await;
    let (buyer_email, buyer_token) = buyer(&app).await;
    let bought = buy(&app, &buyer_token, &schedule, &["VIP-1-1"]).await;
    let bought_number = bought["reservationNumber"].as_str().expect("number");
    let (guest_email, guest_token) = buyer(&app).await;
    let guest_id = app.get("/api/v1/auth/me", Some(&guest_token)).await.body["userId"].clone();
    // A comp is given from blocked seats.
    app.post(
        &format!("/api/v1/schedules/{schedule}/blocks"),
        Some(&admin),
        json!({"seatIds": ["VIP-1-2"], "reason": "guests"}),
    )
    .await
    .expect(200, "");
    let comp = app
        .post(
            &format!("/api/v1/schedules/{schedule}/comps"),
            Some(&admin),
            json!({"seatIds": ["VIP-1-2"], "userId": guest_id}),
        )
        .await;
    comp.expect(201, "");
    let comp_id = comp.body["reservationId"].as_str().expect("id");
    let comp_number = app
        .get(
            &format!("/api/v1/reservations/{comp_id}"),
            Some(&guest_token),
        )
        .await
        .body["reservationNumber"]
        .as_str()
        .expect("number")
        .to_string();
    mail_to(&sink, &buyer_email, "Your tickets").await;
    mail_to(&sink, &guest_email, "Your tickets").await;
    let (holder_email, holder_token) = buyer(&app).await;
    app.hold(&holder_token, &schedule, &["R-1-1"]).await;

    app.post(
        &format!("/api/v1/schedules/{schedule}/cancel"),
        Some(&admin),
        json!({}),
    )
    .await
    .expect(200, "");
    let refund = mail_to(&sink, &buyer_email, "Refund").await;
    assert_eq!(
        refund.header("Subject").as_deref(),
        Some(format!("Refund: {bought_number}").as_str())
    );
    let notice = mail_to(&sink, &guest_email, "Cancelled").await;
    assert_eq!(
        notice.header("Subject").as_deref(),
        Some(format!("Cancelled: {comp_number}").as_str())
    );
    assert!(notice.text().contains("VIP-1-2"), "{}", notice.text());
    assert!(
        notice.text().contains("no refund is due"),
        "{}",
        notice.text()
    );
    assert!(!notice.parts("text/html").is_empty());
    actix_rt::time::sleep(Duration::from_millis(500)).await;
    let mails = sink.mails();
    assert!(
        mails.iter().all(|m| !m.rcpt_to.contains(&holder_email)),
        "a released hold mails nothing"
    );
    assert_eq!(mails.len(), 4, "two tickets mails and two notices");
    app.stop().await;
}

#[actix_rt::test]
async fn mail_refused_while_the_server_is_down_is_sent_once_it_is_up() {
    let port = free_port();
    let url = format!("smtp://127.0.0.1:{port}");
    let app = spawn_app_with(with_mail(url)).await;
    let admin = app.admin_token().await;
    let (_, schedule) = app.create_concert(&admin, None, 300).await;
    let (email, token) = buyer(&app).await;
    buy(&app, &token, &schedule, &["VIP-1-1"]).await;
    // Connections are refused for a while: several attempts fail.
    actix_rt::time::sleep(Duration::from_millis(1_600)).await;
    let sink = SmtpSink::start_on(port);
    let mail = mail_to(&sink, &email, "Your tickets").await;
    assert_eq!(mail.parts("image/png").len(), 1);
    app.stop().await;
}

#[actix_rt::test]
async fn a_restart_during_an_smtp_outage_loses_no_mail() {
    let port = free_port();
    let url = format!("smtp://127.0.0.1:{port}");
    let app = spawn_app_with(with_mail(url)).await;
    let admin = app.admin_token().await;
    let (_, schedule) = app.create_concert(&admin, None, 300).await;
    let (email_a, token_a) = buyer(&app).await;
    let (email_b, token_b) = buyer(&app).await;
    buy(&app, &token_a, &schedule, &["VIP-1-1"]).await;
    buy(&app, &token_b, &schedule, &["VIP-1-2", "VIP-1-3"]).await;
    actix_rt::time::sleep(Duration::from_millis(600)).await;

    // The same settings (the SMTP URL, still refused) on the same data dir.
    let again = app.restart().await;
    let sink = SmtpSink::start_on(port);
    let a = mail_to(&sink, &email_a, "Your tickets").await;
    let b = mail_to(&sink, &email_b, "Your tickets").await;
    assert_eq!(a.parts("image/png").len(), 1);
    assert_eq!(b.parts("image/png").len(), 2);
    let mut shown: Vec<String> = qr_codes(&again, &token_b)
        .await
        .into_iter()
        .map(|(_, qr)| qr)
        .collect();
    let mut in_mail: Vec<String> = b.parts("image/png").iter().map(|p| decode_qr(p)).collect();
    shown.sort();
    in_mail.sort();
    assert_eq!(in_mail, shown);
    again.stop().await;
}

/// Registers through the API (with mail on, a verification mail follows):
/// the email and the login's answer.
async fn register_and_login_fresh(app: &TestApp, name: &str) -> (String, Value) {
    let email = format!("{}@test.boxoffice", app.unique(name));
    app.post(
        "/api/v1/auth/register",
        None,
        json!({"email": email, "password": USER_PASSWORD, "name": name}),
    )
    .await
    .expect(201, "");
    let login = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": email, "password": USER_PASSWORD}),
        )
        .await;
    login.expect(200, "");
    (email, login.body)
}

#[actix_rt::test]
async fn a_password_reset_through_the_mail_sets_the_password_and_ends_every_login() {
    let sink = SmtpSink::start();
    let app = spawn_app_with(with_mail(sink.url())).await;
    let (email, login) = register_and_login_fresh(&app, "reset").await;
    let refresh = login["refreshToken"].as_str().expect("refresh").to_string();

    let reply = app.post(RESET, None, json!({"email": email})).await;
    reply.expect(202, "");
    assert_eq!(reply.body, json!({}));
    let mail = mail_to(&sink, &email, "Your Boxoffice password reset code").await;
    let code = code_in(&mail);
    app.post(
        CONFIRM,
        None,
        json!({"code": code, "newPassword": NEW_PASSWORD}),
    )
    .await
    .expect(204, "");

    app.post(
        "/api/v1/auth/login",
        None,
        json!({"email": email, "password": NEW_PASSWORD}),
    )
    .await
    .expect(200, "");
    app.post(
        "/api/v1/auth/login",
        None,
        json!({"email": email, "password": USER_PASSWORD}),
    )
    .await
    .expect(401, "INVALID_CREDENTIALS");
    app.post(
        "/api/v1/auth/refresh",
        None,
        json!({"refreshToken": refresh}),
    )
    .await
    .expect(401, "UNAUTHORIZED");
    // Used once: the same code again is refused, and changes nothing.
    app.post(
        CONFIRM,
        None,
        json!({"code": code, "newPassword": "yet-another-passphrase"}),
    )
    .await
    .expect(400, "INVALID_CODE");
    app.post(
        "/api/v1/auth/login",
        None,
        json!({"email": email, "password": NEW_PASSWORD}),
    )
    .await
    .expect(200, "");
    app.stop().await;
}

#[actix_rt::test]
async fn an_expired_code_is_refused_and_a_weak_password_spends_no_code() {
    let sink = SmtpSink::start();
    let app = spawn_app_with(with_mail(sink.url())).await;
    let (email, _) = register_and_login_fresh(&app, "expiry").await;
    app.post(RESET, None, json!({"email": email}))
        .await
        .expect(202, "");
    let first = code_in(&mail_to(&sink, &email, "Your Boxoffice password reset code").await);

    // A weak password: 400 naming the rule, and the code still works.
    let weak = app
        .post(
            CONFIRM,
            None,
            json!({"code": first, "newPassword": "short"}),
        )
        .await;
    weak.expect(400, "VALIDATION_ERROR");
    app.clock.advance_ms(CODE_TTL_MS - 1);
    let still = app
        .post(
            CONFIRM,
            None,
            json!({"code": first, "newPassword": NEW_PASSWORD}),
        )
        .await;
    still.expect(204, "");

    // A second code, then 30 minutes pass: refused.
    app.post(RESET, None, json!({"email": email}))
        .await
        .expect(202, "");
    let deadline = std::time::Instant::now() + MAIL_WAIT;
    let second = loop {
        let codes: Vec<String> =
            subject_starts(&sink.mails(), "Your Boxoffice password reset code")
                .iter()
                .map(code_in)
                .collect();
        if codes.len() == 2 {
            break codes[1].clone();
        }
        assert!(std::time::Instant::now() < deadline, "no second code");
        actix_rt::time::sleep(Duration::from_millis(25)).await;
    };
    app.clock.advance_ms(CODE_TTL_MS);
    app.post(
        CONFIRM,
        None,
        json!({"code": second, "newPassword": "yet-another-passphrase"}),
    )
    .await
    .expect(400, "INVALID_CODE");
    app.post(
        "/api/v1/auth/login",
        None,
        json!({"email": email, "password": NEW_PASSWORD}),
    )
    .await
    .expect(200, "");
    app.stop().await;
}

#[actix_rt::test]
async fn a_reset_answers_the_same_for_known_and_unknown_addresses() {
    let sink = SmtpSink::start();
    let app = spawn_app_with(with_mail(sink.url())).await;
    let (known, _) = register_and_login_fresh(&app, "known").await;
    let unknown = "nobody-here@test.boxoffice";
    let a = app.post(RESET, None, json!({"email": known})).await;
    let b = app.post(RESET, None, json!({"email": unknown})).await;
    assert_eq!((a.status, &a.text), (b.status, &b.text));
    assert_eq!(a.status.as_u16(), 202);
    let names = |r: &Reply| {
        let mut names: Vec<String> = r.headers.keys().map(|k| k.to_string()).collect();
        names.sort();
        names
    };
    assert_eq!(names(&a), names(&b), "the same headers");
    mail_to(&sink, &known, "Your Boxoffice password reset code").await;
    // The unknown address's request was handled too (in order, after the
    // known one's): still no mail to it.
    actix_rt::time::sleep(Duration::from_millis(300)).await;
    assert!(sink
        .mails()
        .iter()
        .all(|m| m.rcpt_to.iter().all(|r| r != unknown)));

    // A similar time: the handler only queues the request; the look-up,
    // the code and the mail come after the answer. Alternated, so load on
    // the machine falls on both alike; the medians are compared.
    let mut took_ms: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    for round in 0..ENUMERATION_ROUNDS {
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for i in order {
            let email = [known.as_str(), unknown][i];
            let started = std::time::Instant::now();
            app.post(RESET, None, json!({"email": email}))
                .await
                .expect(202, "");
            took_ms[i].push(started.elapsed().as_secs_f64() * 1_000.0);
        }
    }
    let median = |times: &mut Vec<f64>| {
        times.sort_by(f64::total_cmp);
        times[times.len() / 2]
    };
    let (known_ms, unknown_ms) = (median(&mut took_ms[0]), median(&mut took_ms[1]));
    println!("password reset, median of {ENUMERATION_ROUNDS}: known {known_ms:.2} ms, unknown {unknown_ms:.2} ms");
    assert!(
        (known_ms - unknown_ms).abs() < ENUMERATION_MEDIAN_GAP_MS,
        "a reset's median time tells the addresses apart: known {known_ms:.2} ms, unknown {unknown_ms:.2} ms"
    );
    app.stop().await;
}

#[actix_rt::test]
async fn verification_through_the_mail_marks_the_address_verified_once() {
    let sink = SmtpSink::start();
    let app = spawn_app_with(with_mail(sink.url())).await;
    let (email, login) = register_and_login_fresh(&app, "verify").await;
    let token = login["accessToken"].as_str().expect("token").to_string();
    assert_eq!(login["user"]["emailVerified"], json!(false));
    let mail = mail_to(&sink, &email, "Confirm your e-mail address").await;
    let code = code_in(&mail);

    let verified = app.post(VERIFY, None, json!({"code": code})).await;
    verified.expect(200, "");
    assert_eq!(verified.body["emailVerified"], json!(true));
    assert_eq!(verified.body["email"], json!(email));
    let me = app.get("/api/v1/auth/me", Some(&token)).await;
    assert_eq!(me.body["emailVerified"], json!(true));
    app.post(VERIFY, None, json!({"code": code}))
        .await
        .expect(400, "INVALID_CODE");
    // A verification code is no reset code (and the other way round).
    app.post(
        CONFIRM,
        None,
        json!({"code": code, "newPassword": NEW_PASSWORD}),
    )
    .await
    .expect(400, "INVALID_CODE");

    // Durable: still verified after a restart.
    let again = app.restart().await;
    let me = again.get("/api/v1/auth/me", Some(&token)).await;
    me.expect(200, "");
    assert_eq!(me.body["emailVerified"], json!(true));
    again.stop().await;
}

#[actix_rt::test]
async fn bad_inputs_get_the_documented_errors() {
    let sink = SmtpSink::start();
    let app = spawn_app_with(with_mail(sink.url())).await;
    for (path, body, code) in [
        (RESET, json!({}), "VALIDATION_ERROR"),
        (RESET, json!({"email": 5}), "VALIDATION_ERROR"),
        (
            RESET,
            json!({"email": "not an address"}),
            "VALIDATION_ERROR",
        ),
        (RESET, json!("text"), "VALIDATION_ERROR"),
        (CONFIRM, json!({}), "VALIDATION_ERROR"),
        (
            CONFIRM,
            json!({"code": "ABCD-EFGH-JKMN-PQRS"}),
            "VALIDATION_ERROR",
        ),
        (
            CONFIRM,
            json!({"newPassword": NEW_PASSWORD}),
            "VALIDATION_ERROR",
        ),
        (
            CONFIRM,
            json!({"code": 5, "newPassword": NEW_PASSWORD}),
            "VALIDATION_ERROR",
        ),
        (
            CONFIRM,
            json!({"code": "ABCD-EFGH-JKMN-PQRS", "newPassword": ["x"]}),
            "VALIDATION_ERROR",
        ),
        (
            CONFIRM,
            json!({"code": "ABCD-EFGH-JKMN-PQRS", "newPassword": NEW_PASSWORD}),
            "INVALID_CODE",
        ),
        (
            CONFIRM,
            json!({"code": "X".repeat(10_000), "newPassword": NEW_PASSWORD}),
            "INVALID_CODE",
        ),
        (
            CONFIRM,
            json!({"code": "", "newPassword": NEW_PASSWORD}),
            "INVALID_CODE",
        ),
        (VERIFY, json!({}), "VALIDATION_ERROR"),
        (VERIFY, json!({"code": null}), "VALIDATION_ERROR"),
        (VERIFY, json!({"code": 7}), "VALIDATION_ERROR"),
        (
            VERIFY,
            json!({"code": "ABCD-EFGH-JKMN-PQRS"}),
            "INVALID_CODE",
        ),
        (VERIFY, json!({"code": "X".repeat(10_000)}), "INVALID_CODE"),
    ] {
        let reply = app.post(path, None, body.clone()).await;
        reply.expect_case(&format!("{path} {body}"), 400, code);
    }
    for path in [RESET, CONFIRM, VERIFY] {
        for (what, content_type, bytes, status, code) in [
            (
                "malformed JSON",
                "application/json",
                b"{\"code\": ".to_vec(),
                400,
                "VALIDATION_ERROR",
            ),
            (
                "text/plain",
                "text/plain",
                b"{}".to_vec(),
                415,
                "UNSUPPORTED_MEDIA_TYPE",
            ),
            (
                "empty body",
                "application/json",
                Vec::new(),
                400,
                "VALIDATION_ERROR",
            ),
        ] {
            let reply = app
                .raw(Method::POST, path, None, &[], Some((content_type, bytes)))
                .await;
            reply.expect_case(&format!("{path} {what}"), status, code);
        }
        app.get(path, None).await.expect(405, "METHOD_NOT_ALLOWED");
    }
    // None of it mailed anything.
    actix_rt::time::sleep(Duration::from_millis(200)).await;
    assert!(sink.mails().is_empty());
    app.stop().await;
}

#[actix_rt::test]
async fn without_mail_a_reset_still_answers_202_and_resets_are_rate_limited_like_register() {
    let app = spawn_app_with(|s| s.rate_limits = RateLimitSettings::default()).await;
    let limit = RateLimitSettings::default().register_per_minute;
    for i in 0..limit {
        let reply = app
            .post(
                RESET,
                None,
                json!({"email": format!("r{i}@test.boxoffice")}),
            )
            .await;
        reply.expect(202, "");
        assert_eq!(reply.body, json!({}));
    }
    let refused = app
        .post(RESET, None, json!({"email": "one-more@test.boxoffice"}))
        .await;
    refused.expect(429, "RATE_LIMITED");
    assert!(refused.header("retry-after").is_some());
    app.stop().await;
}

#[actix_rt::test]
async fn a_waiting_room_that_requires_a_verified_address_admits_only_verified_accounts() {
    let sink = SmtpSink::start();
    let app = spawn_app_with(with_mail(sink.url())).await;
    let admin = app.admin_token().await;
    let queue = json!({"enabled": true, "batchSize": 10, "intervalMs": 1000, "maxActive": 100,
        "activeSeconds": 600, "requireVerifiedEmail": true});
    let (concert, gated) = app.create_concert(&admin, Some(queue), 300).await;
    let shown = app.get(&format!("/api/v1/concerts/{concert}"), None).await;
    shown.expect(200, "");
    assert_eq!(
        shown.body["schedules"][0]["queue"]["requireVerifiedEmail"],
        json!(true)
    );
    let (_, open) = app.create_concert(&admin, None, 300).await;
    let (email, login) = register_and_login_fresh(&app, "fan").await;
    let token = login["accessToken"].as_str().expect("token").to_string();
    let join = |schedule: String, token: String| {
        let app = &app;
        async move {
            app.post(
                "/api/v1/queue/tokens",
                Some(&token),
                json!({"scheduleId": schedule}),
            )
            .await
        }
    };

    join(gated.clone(), token.clone())
        .await
        .expect(403, "EMAIL_NOT_VERIFIED");
    join(open.clone(), token.clone()).await.expect(201, "");
    let code = code_in(&mail_to(&sink, &email, "Confirm your e-mail address").await);
    app.post(VERIFY, None, json!({"code": code}))
        .await
        .expect(200, "");
    join(gated.clone(), token.clone()).await.expect(201, "");

    // The rule is durable: after a restart an unverified account is still refused.
    let (_, other) = app.account_token(Role::User).await;
    let again = app.restart().await;
    again
        .post(
            "/api/v1/queue/tokens",
            Some(&other),
            json!({"scheduleId": gated}),
        )
        .await
        .expect(403, "EMAIL_NOT_VERIFIED");
    again
        .post(
            "/api/v1/queue/tokens",
            Some(&token),
            json!({"scheduleId": gated}),
        )
        .await
        .expect(200, "");
    again.stop().await;
}

/// Retention (API.md: booking events and the delivery log are kept at
/// least 30 days) where it matters, with the app's clock moved 31 days:
/// the outbox's old records leave the feed and the webhook's finished
/// deliveries leave its log, but not what a consumer still needs: the mail
/// dispatcher, held up by an SMTP outage at B's tickets, keeps B's events
/// (31 days old too) and mails them once the server is back.
#[actix_rt::test]
async fn after_30_days_old_events_and_deliveries_go_but_not_what_mail_still_owes() {
    use super::webhooks::{deliveries, eventually, feed, register, Receiver};
    const DAY_MS: i64 = 24 * 60 * 60 * 1_000;
    let port = free_port();
    let sink = SmtpSink::start_on(port);
    let mail = with_mail(format!("smtp://127.0.0.1:{port}"));
    let app = spawn_app_with(|s| {
        mail(s);
        s.webhook_dispatch.retention_pass_every = Duration::from_millis(50);
    })
    .await;
    let admin = app.admin_token().await;
    let receiver = Receiver::start(200).await;
    let (webhook, _) = register(&app, &admin, &receiver.url(), &["booking.confirmed"]).await;
    let (_, schedule) = app.create_concert(&admin, None, 300).await;
    let of = |events: &[Value], reservation: &Value, kind: &str| {
        let id = &reservation["reservationId"];
        events
            .iter()
            .filter(|e| e["type"] == kind && e["data"]["reservationId"] == *id)
            .count()
    };
    let delivered = |log: &[Value]| log.iter().filter(|d| d["status"] == "DELIVERED").count();

    // A's tickets are mailed; then the SMTP server goes away before B's.
    let (email_a, token_a) = buyer(&app).await;
    let a = buy(&app, &token_a, &schedule, &["VIP-1-1"]).await;
    mail_to(&sink, &email_a, "Your tickets").await;
    sink.stop();
    drop(sink);
    let (email_b, token_b) = buyer(&app).await;
    let b = buy(&app, &token_b, &schedule, &["VIP-1-2"]).await;
    eventually("both confirmations are delivered", || async {
        delivered(&deliveries(&app, &admin, &webhook).await) == 2
    })
    .await;
    let before = feed(&app, &admin).await;
    assert_eq!(of(&before, &a, "booking.created"), 1);
    assert_eq!(of(&before, &b, "booking.confirmed"), 1);

    // 31 days on, C books: A's oldest events and the two old deliveries go.
    app.clock.advance_ms(31 * DAY_MS);
    let admin = app.admin_token().await;
    let (email_c, token_c) = buyer(&app).await;
    let c = buy(&app, &token_c, &schedule, &["VIP-1-3"]).await;
    eventually("the old events and deliveries are trimmed", || async {
        let log = deliveries(&app, &admin, &webhook).await;
        let events = feed(&app, &admin).await;
        log.len() == 1 && delivered(&log) == 1 && of(&events, &a, "booking.created") == 0
    })
    .await;
    let log = deliveries(&app, &admin, &webhook).await;
    let event_of_c = feed(&app, &admin)
        .await
        .into_iter()
        .find(|e| {
            e["type"] == "booking.confirmed" && e["data"]["reservationId"] == c["reservationId"]
        })
        .expect("C's confirmation is in the feed");
    assert_eq!(
        log[0]["eventId"], event_of_c["eventId"],
        "the new delivery is kept"
    );
    // Several more passes: what the mail still owes stays through them.
    actix_rt::time::sleep(Duration::from_millis(500)).await;
    let after = feed(&app, &admin).await;
    assert_eq!(
        of(&after, &b, "booking.confirmed"),
        1,
        "B's confirmation, not mailed yet, is kept though 31 days old"
    );
    assert!(after.len() < before.len() + 3, "old events left the feed");

    // The server is back: B's tickets come, then C's.
    let sink = SmtpSink::start_on(port);
    let mail_b = mail_to(&sink, &email_b, "Your tickets").await;
    assert_eq!(
        mail_b.header("Subject").as_deref(),
        Some(
            format!(
                "Your tickets: {}",
                b["reservationNumber"].as_str().expect("number")
            )
            .as_str()
        )
    );
    mail_to(&sink, &email_c, "Your tickets").await;
    app.stop().await;
}
