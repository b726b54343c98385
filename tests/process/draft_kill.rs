//! Concert edits and drafts under `kill -9` (issue 15): a PATCH and a DRAFT
//! acknowledged (200, 201) survive a kill right after the answer; the draft
//! stays hidden from anonymous readers and search, the edited title is what
//! GET and search show after the restart (the search index's start-up check
//! compares each concert's stamp, so an index a kill left behind an edit is
//! rebuilt), and a publish after the restart survives the next kill.

use crate::binary::{one_at_a_time, set_up_concert, ConcertPlan, Credentials, Server};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const CREDENTIALS: Credentials = Credentials {
    secret: "draft-kill-secret-0123456789",
    admin_email: "admin@draft-kill.test",
    admin_password: "process-admin-passphrase",
};
/// How long a restarted server may take to answer a search.
const FOUND_WAIT: Duration = Duration::from_secs(30);

async fn admin_token(client: &awc::Client, base: &str) -> String {
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
    login["accessToken"].as_str().expect("token").to_string()
}

/// (status, body) of a request with an optional bearer token and JSON body.
async fn send(
    client: &awc::Client,
    method: awc::http::Method,
    url: String,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = client.request(method, url);
    if let Some(token) = token {
        request = request.insert_header(("Authorization", format!("Bearer {token}")));
    }
    let mut response = match body {
        Some(body) => request.send_json(&body).await,
        None => request.send().await,
    }
    .expect("answered");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The concert ids a search for `q` finds, each followed by its title as
/// the search shows it, once the index answers (503 while it starts is
/// waited out).
async fn searched(client: &awc::Client, base: &str, q: &str) -> Vec<String> {
    let deadline = Instant::now() + FOUND_WAIT;
    loop {
        let url = format!("{base}/api/v1/search/concerts?q={q}");
        let (status, body) = send(client, awc::http::Method::GET, url, None, None).await;
        assert_ne!(status, 500, "search answered 500");
        if status == 200 {
            return (body["items"].as_array().into_iter().flatten())
                .flat_map(|i| [&i["concertId"], &i["title"]])
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect();
        }
        assert!(Instant::now() < deadline, "search never answered");
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn edits_drafts_and_publishing_survive_kill_9() {
    let _heavy = one_at_a_time();
    actix_rt::System::new().block_on(body());
}

async fn body() {
    use awc::http::Method;
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(10))
        .finish();
    let plan = ConcertPlan {
        title: "Pelican Parade",
        rows: 1,
        seats_per_row: 5,
        schedules: 1,
        price: 1_000,
    };
    let mut server = Server::start(&data, dir.path(), &CREDENTIALS);
    let base = server.base.clone();
    let schedule = set_up_concert(&client, &base, &CREDENTIALS, &plan).await[0].clone();
    let admin = admin_token(&client, &base).await;
    let (_, published) = send(
        &client,
        Method::GET,
        format!("{base}/api/v1/concerts?q=Pelican"),
        None,
        None,
    )
    .await;
    let edited = published["items"][0]["concertId"]
        .as_str()
        .expect("concert id")
        .to_string();
    let venue = send(
        &client,
        Method::GET,
        format!("{base}/api/v1/concerts/{edited}"),
        None,
        None,
    )
    .await
    .1["venueId"]
        .clone();
    // Searchable under its first title before the edit.
    let deadline = Instant::now() + FOUND_WAIT;
    while !searched(&client, &base, "Pelican").await.contains(&edited) {
        assert!(Instant::now() < deadline, "never indexed");
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, draft) = send(&client, Method::POST, format!("{base}/api/v1/concerts"), Some(&admin), Some(json!({
        "title": "Cormorant Chorale", "category": "TEST", "venueId": venue, "status": "DRAFT",
        "priceGrades": [{"grade": "A", "price": 1000, "sectionIds": ["A"]}],
        "schedules": [{"startsAt": "2099-02-01T10:00:00Z", "endsAt": "2099-02-01T12:00:00Z",
            "bookingOpensAt": "2020-01-01T00:00:00Z", "bookingClosesAt": "2099-02-01T09:00:00Z"}],
    }))).await;
    assert_eq!(status, 201, "{draft}");
    let draft = draft["concertId"].as_str().expect("draft id").to_string();
    let (status, _) = send(
        &client,
        Method::PATCH,
        format!("{base}/api/v1/concerts/{edited}"),
        Some(&admin),
        Some(json!({"title": "Albatross Anthem"})),
    )
    .await;
    assert_eq!(status, 200);
    // Killed right after the answers: the index may not have committed the edit.
    server.kill();

    let mut server = Server::start(&data, dir.path(), &CREDENTIALS);
    let base = server.base.clone();
    let admin = admin_token(&client, &base).await;
    let (status, body) = send(
        &client,
        Method::GET,
        format!("{base}/api/v1/concerts/{edited}"),
        None,
        None,
    )
    .await;
    assert_eq!(
        (status, body["title"].as_str()),
        (200, Some("Albatross Anthem"))
    );
    assert!(
        searched(&client, &base, "Albatross")
            .await
            .contains(&edited),
        "the edit is not searchable after the kill"
    );
    // (The venue, "Pelican Parade Hall", still matches the old words: the
    // document found must be the edited one.)
    let by_venue = searched(&client, &base, "Pelican").await;
    let at = by_venue
        .iter()
        .position(|v| v == &edited)
        .expect("found by its venue");
    assert_eq!(
        by_venue[at + 1],
        "Albatross Anthem",
        "the index kept the old title"
    );
    let (status, _) = send(
        &client,
        Method::GET,
        format!("{base}/api/v1/concerts/{draft}"),
        None,
        None,
    )
    .await;
    assert_eq!(status, 404, "the draft is visible after the kill");
    let (status, _) = send(
        &client,
        Method::GET,
        format!("{base}/api/v1/schedules/{schedule}/seats"),
        None,
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = send(
        &client,
        Method::GET,
        format!("{base}/api/v1/concerts/{draft}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!((status, body["status"].as_str()), (200, Some("DRAFT")));
    assert!(!searched(&client, &base, "Cormorant").await.contains(&draft));

    let (status, _) = send(
        &client,
        Method::POST,
        format!("{base}/api/v1/concerts/{draft}/publish"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, 200);
    server.kill();
    let mut server = Server::start(&data, dir.path(), &CREDENTIALS);
    let base = server.base.clone();
    let (status, body) = send(
        &client,
        Method::GET,
        format!("{base}/api/v1/concerts/{draft}"),
        None,
        None,
    )
    .await;
    assert_eq!((status, body["status"].as_str()), (200, Some("PUBLISHED")));
    assert!(
        searched(&client, &base, "Cormorant").await.contains(&draft),
        "the publish is not searchable after the kill"
    );
    server.kill();
}
