//! SIGTERM with long-lived answers open. A seat stream never ends by itself
//! and an event-feed long-poll waits up to 30 s; actix's graceful stop waits
//! for answers in flight up to its shutdown timeout (10 s), so one open
//! stream used to hold every stop that long. The stop is now announced
//! first (`boxoffice_http::shutdown`): the stream ends, the long-poll
//! answers with what it has, and the process exits well within the timeout.

use crate::binary::{set_up_concert, ConcertPlan, Credentials, Server};
use awc::http::StatusCode;
use boxoffice_http::shutdown::SHUTDOWN_TIMEOUT_S;
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::process::Command;
use std::time::{Duration, Instant};

const CREDENTIALS: Credentials = Credentials {
    secret: "graceful-stop-secret-0123456789",
    admin_email: "admin@stop.test",
    admin_password: "process-admin-passphrase",
};
const CONCERT: ConcertPlan = ConcertPlan {
    title: "Graceful Stop",
    rows: 2,
    seats_per_row: 10,
    schedules: 1,
    price: 10_000,
};
/// Well under the shutdown timeout, which an open stream used to hold the
/// stop for; the engine's own stop (a flush, its threads) takes well under
/// a second.
const PROMPT_EXIT: Duration = Duration::from_secs(SHUTDOWN_TIMEOUT_S / 2);

#[test]
fn sigterm_ends_open_streams_and_long_polls_and_the_server_exits_promptly() {
    let data = tempfile::tempdir().expect("data dir");
    let logs = tempfile::tempdir().expect("logs dir");
    let mut server = Server::start(data.path(), logs.path(), &CREDENTIALS);
    let base = server.base.clone();
    let pid = server.pid().to_string();
    let sent_at = actix_rt::System::new().block_on(async move {
        let client = awc::Client::builder()
            .timeout(Duration::from_secs(60))
            .finish();
        let schedule = set_up_concert(&client, &base, &CREDENTIALS, &CONCERT).await[0].clone();
        let login: Value = client
            .post(format!("{base}/api/v1/auth/login"))
            .send_json(
                &json!({"email": CREDENTIALS.admin_email, "password": CREDENTIALS.admin_password}),
            )
            .await
            .expect("login")
            .json()
            .await
            .expect("json");
        let admin = format!("Bearer {}", login["accessToken"].as_str().expect("token"));

        // The feed's end: the long-poll must find nothing newer and wait.
        let mut after = String::new();
        loop {
            let page: Value = client
                .get(format!("{base}/api/v1/admin/events?limit=1000{after}"))
                .insert_header(("Authorization", admin.as_str()))
                .send()
                .await
                .expect("feed")
                .json()
                .await
                .expect("json");
            after = format!("&after={}", page["next"].as_str().expect("next"));
            if page["items"]
                .as_array()
                .is_none_or(|items| items.is_empty())
            {
                break;
            }
        }
        let long_poll = {
            let (client, base, admin) = (client.clone(), base.clone(), admin.clone());
            actix_rt::spawn(async move {
                let mut answer = client
                    .get(format!("{base}/api/v1/admin/events?waitSeconds=30{after}"))
                    .insert_header(("Authorization", admin.as_str()))
                    .send()
                    .await
                    .expect("the long-poll is answered");
                let body: Value = answer.json().await.expect("json");
                (answer.status(), body)
            })
        };
        let mut stream = client
            .get(format!("{base}/api/v1/schedules/{schedule}/stream"))
            .send()
            .await
            .expect("seat stream");
        assert_eq!(stream.status(), StatusCode::OK);
        let first = stream.next().await.expect("a first chunk").expect("bytes");
        assert!(String::from_utf8_lossy(&first).starts_with("retry:"));
        // Let the long-poll reach its wait.
        actix_rt::time::sleep(Duration::from_millis(500)).await;
        assert!(!long_poll.is_finished(), "the long-poll waits for an event");

        let sent_at = Instant::now();
        let status = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("send SIGTERM");
        assert!(status.success());
        let ended = actix_rt::time::timeout(PROMPT_EXIT, async {
            while let Some(chunk) = stream.next().await {
                if chunk.is_err() {
                    break;
                }
            }
        })
        .await;
        assert!(ended.is_ok(), "the seat stream ends when the stop begins");
        let (status, page) = actix_rt::time::timeout(PROMPT_EXIT, long_poll)
            .await
            .expect("the long-poll answers when the stop begins")
            .expect("the long-poll task");
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_eq!(page["items"], json!([]), "{page}");
        sent_at
    });
    let exit = crate::binary::exit_within(&mut server.child, PROMPT_EXIT)
        .expect("the server exits soon after SIGTERM with a stream and a long-poll open");
    assert!(
        exit.success(),
        "SIGTERM ends the server with exit code 0, got {exit:?}"
    );
    assert!(
        sent_at.elapsed() < PROMPT_EXIT,
        "the stop took {:?}, as if held for the shutdown timeout",
        sent_at.elapsed()
    );
}
