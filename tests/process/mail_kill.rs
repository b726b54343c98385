//! Mail survives `kill -9`: the real binary, configured with `--smtp-url`
//! pointing at a port where nothing listens yet, confirms bookings whose
//! ticket mails cannot be sent; it is killed (SIGKILL) while the dispatcher
//! is retrying, restarted on the same data dir with the SMTP sink up, and
//! every buyer's tickets arrive, each QR image one of that buyer's tickets.
//! And with mail flowing: the first buyer's mail has arrived (the stored
//! position moved past it), more buyers pay and the binary is killed at
//! once, while their mails may be on the way; after the restart every
//! buyer's tickets have arrived at one of the two sinks: the position a
//! kill leaves behind skips nothing.

use crate::binary::{call, one_at_a_time, set_up_concert, ConcertPlan, Credentials, Server};
use awc::http::StatusCode;
use serde_json::json;
use std::time::Duration;
use test_support::smtp_sink::{free_port, SmtpSink};

const CREDENTIALS: Credentials = Credentials {
    secret: "mail-kill-secret-0123456789",
    admin_email: "admin@mail-kill.test",
    admin_password: "process-admin-passphrase",
};
const CONCERT: ConcertPlan = ConcertPlan {
    title: "Mail Kill",
    rows: 2,
    seats_per_row: 10,
    schedules: 1,
    price: 10_000,
};
const BUYERS: usize = 3;
const PASSWORD: &str = "buyer-long-passphrase";
const MAIL_WAIT: Duration = Duration::from_secs(60);

#[test]
fn a_kill_during_an_smtp_outage_loses_no_ticket_mail() {
    let _heavy = one_at_a_time();
    actix_rt::System::new().block_on(body());
}

fn env(port: u16) -> Vec<(&'static str, String)> {
    vec![
        ("BOXOFFICE_JWT_SECRET", CREDENTIALS.secret.to_string()),
        ("BOXOFFICE_ADMIN_EMAIL", CREDENTIALS.admin_email.to_string()),
        (
            "BOXOFFICE_ADMIN_PASSWORD",
            CREDENTIALS.admin_password.to_string(),
        ),
        ("BOXOFFICE_SMTP_URL", format!("smtp://127.0.0.1:{port}")),
        ("BOXOFFICE_MAIL_FROM", "tickets@mail-kill.test".to_string()),
    ]
}

fn start(data: &std::path::Path, logs: &std::path::Path, port: u16) -> Server {
    let env = env(port);
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Server::start_with_env(data, logs, &pairs)
}

async fn body() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let port = free_port();
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .finish();
    let mut server = start(&data, dir.path(), port);
    let base = server.base.clone();
    let schedule = set_up_concert(&client, &base, &CREDENTIALS, &CONCERT)
        .await
        .remove(0);
    let mut buyers = Vec::new();
    for n in 0..BUYERS {
        buyers.push(buyer_pays(&client, &base, &schedule, n).await);
    }
    // The dispatcher is retrying against a closed port: kill it there.
    actix_rt::time::sleep(Duration::from_millis(1_000)).await;
    server.assert_alive("before the kill");
    server.kill();

    let sink = SmtpSink::start_on(port);
    let mut again = start(&data, dir.path(), port);
    let deadline = std::time::Instant::now() + MAIL_WAIT;
    for (email, token) in &buyers {
        let mail = loop {
            let found = sink.mails().into_iter().find(|m| {
                m.rcpt_to.iter().any(|r| r == email)
                    && m.header("Subject")
                        .is_some_and(|s| s.starts_with("Your tickets"))
            });
            if let Some(mail) = found {
                break mail;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no tickets mail to {email} after the restart"
            );
            actix_rt::time::sleep(Duration::from_millis(50)).await;
        };
        let (status, tickets) = call(
            &client,
            "GET",
            format!("{}/api/v1/tickets", again.base),
            token,
            None,
            None,
        )
        .await
        .expect("tickets");
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            mail.parts("image/png").len(),
            tickets["items"].as_array().map_or(0, Vec::len),
            "one QR image per ticket of {email}"
        );
    }
    again.assert_alive("after the mail");
    again.sigterm_and_wait();
}

/// Registers buyer `n`, funds it and pays for seat A-1-(n+1): its email and token.
async fn buyer_pays(
    client: &awc::Client,
    base: &str,
    schedule: &str,
    n: usize,
) -> (String, String) {
    let email = format!("buyer{n}@mail-kill.test");
    let mut registered = client
        .post(format!("{base}/api/v1/auth/register"))
        .send_json(&json!({"email": email, "password": PASSWORD, "name": "Buyer"}))
        .await
        .expect("register");
    assert_eq!(registered.status(), StatusCode::CREATED);
    let _ = registered.body().await;
    let mut login = client
        .post(format!("{base}/api/v1/auth/login"))
        .send_json(&json!({"email": email, "password": PASSWORD}))
        .await
        .expect("login");
    let login: serde_json::Value = login.json().await.expect("login body");
    let token = login["accessToken"].as_str().expect("token").to_string();
    let charged = call(
        client,
        "POST",
        format!("{base}/api/v1/wallet/charges"),
        &token,
        Some(&format!("c{n}")),
        Some(json!({"amount": 100_000})),
    )
    .await
    .expect("charge");
    assert_eq!(charged.0, StatusCode::CREATED);
    let (status, hold) = call(
        client,
        "POST",
        format!("{base}/api/v1/reservations"),
        &token,
        Some(&format!("h{n}")),
        Some(json!({"scheduleId": schedule, "seatIds": [format!("A-1-{}", n + 1)]})),
    )
    .await
    .expect("hold");
    assert_eq!(status, StatusCode::CREATED, "{hold}");
    let (status, paid) = call(
        client,
        "POST",
        format!("{base}/api/v1/payments"),
        &token,
        Some(&format!("p{n}")),
        Some(json!({"reservationId": hold["reservationId"]})),
    )
    .await
    .expect("pay");
    assert_eq!(status, StatusCode::CREATED, "{paid}");
    (email, token)
}

/// Buyers in the second test, and the kill's moment after the last payment.
const FLOWING_BUYERS: usize = 6;

#[test]
fn a_kill_while_mail_flows_skips_no_ticket_mail() {
    let _heavy = one_at_a_time();
    actix_rt::System::new().block_on(flowing());
}

async fn flowing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let port = free_port();
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .finish();
    let first_sink = SmtpSink::start_on(port);
    let mut server = start(&data, dir.path(), port);
    let base = server.base.clone();
    let schedule = set_up_concert(&client, &base, &CREDENTIALS, &CONCERT)
        .await
        .remove(0);
    let mut buyers = vec![buyer_pays(&client, &base, &schedule, 0).await];
    first_sink.wait_for(1, MAIL_WAIT).await;
    for n in 1..FLOWING_BUYERS {
        buyers.push(buyer_pays(&client, &base, &schedule, n).await);
    }
    server.assert_alive("before the kill");
    server.kill();
    first_sink.stop();
    let before_kill = first_sink.mails();

    // A sink of its own (the first one's port may still be held): the
    // restarted server is pointed at it; its position is in the data dir.
    let sink = SmtpSink::start();
    let second_port = sink
        .url()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");
    let mut again = start(&data, dir.path(), second_port);
    let deadline = std::time::Instant::now() + MAIL_WAIT;
    for (email, _) in &buyers {
        loop {
            let tickets = |m: &test_support::smtp_sink::ReceivedMail| {
                m.rcpt_to.iter().any(|r| r == email)
                    && m.header("Subject")
                        .is_some_and(|s| s.starts_with("Your tickets"))
            };
            if before_kill.iter().any(tickets) || sink.mails().iter().any(tickets) {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no tickets mail to {email} before the kill or after the restart ({} before, {} after)",
                before_kill.len(),
                sink.mails().len()
            );
            actix_rt::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // The restarted server serves (and so has started whole) before its SIGTERM.
    let (email, token) = &buyers[FLOWING_BUYERS - 1];
    let (status, tickets) = call(
        &client,
        "GET",
        format!("{}/api/v1/tickets", again.base),
        token,
        None,
        None,
    )
    .await
    .expect("tickets");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        tickets["items"].as_array().map_or(0, Vec::len),
        1,
        "{email} has its ticket"
    );
    println!(
        "mail_kill flowing: {} tickets mails before the kill, {} after the restart, for {FLOWING_BUYERS} buyers",
        before_kill.len(),
        sink.mails().len()
    );
    again.assert_alive("after the mail");
    again.sigterm_and_wait();
}
