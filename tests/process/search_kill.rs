//! The search index under `kill -9` (issue 16): a concert acknowledged (201)
//! is found by search after the server is killed at once and restarted,
//! whether or not the index had committed it (the start-up id check
//! rebuilds an index behind the catalogue), and after a kill with a segment
//! file of the index damaged on top.

use crate::binary::{one_at_a_time, set_up_concert, ConcertPlan, Credentials, Server};
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

const CREDENTIALS: Credentials = Credentials {
    secret: "search-kill-secret-0123456789",
    admin_email: "admin@search-kill.test",
    admin_password: "process-admin-passphrase",
};
/// How long a restarted server may take to answer a search.
const FOUND_WAIT: Duration = Duration::from_secs(30);

/// Searches `q` until a result has `title` (503 while the index starts is
/// waited out; a 500 fails at once).
async fn found(client: &awc::Client, base: &str, q: &str, title: &str) {
    let deadline = Instant::now() + FOUND_WAIT;
    loop {
        let url = format!("{base}/api/v1/search/concerts?q={q}");
        if let Ok(mut response) = client.get(url).send().await {
            let status = response.status().as_u16();
            assert_ne!(status, 500, "search answered 500");
            let body: Value = response.json().await.unwrap_or(Value::Null);
            let titles: Vec<&str> = body["items"]
                .as_array()
                .map(|items| items.iter().filter_map(|i| i["title"].as_str()).collect())
                .unwrap_or_default();
            if status == 200 && titles.contains(&title) {
                return;
            }
        }
        assert!(Instant::now() < deadline, "{q:?} did not find {title:?}");
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
}

fn damage_a_segment_file(data: &Path) {
    let mut files: Vec<(u64, std::path::PathBuf)> = std::fs::read_dir(data.join("search"))
        .expect("index dir")
        .filter_map(Result::ok)
        .filter_map(|e| Some((e.metadata().ok()?.len(), e.path())))
        .filter(|(_, p)| {
            let name = p.to_string_lossy();
            p.is_file() && !name.ends_with(".json") && !name.contains("lock")
        })
        .collect();
    files.sort_by_key(|f| std::cmp::Reverse(f.0));
    let victim = &files.first().expect("a segment file").1;
    let mut bytes = std::fs::read(victim).expect("read");
    let middle = bytes.len() / 2;
    for b in bytes.iter_mut().skip(middle).take(64) {
        *b ^= 0x5A;
    }
    std::fs::write(victim, bytes).expect("damage");
}

#[test]
fn an_acknowledged_concert_is_found_after_kill_9() {
    let _heavy = one_at_a_time();
    actix_rt::System::new().block_on(body());
}

async fn body() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(10))
        .finish();
    let plan = |title| ConcertPlan {
        title,
        rows: 1,
        seats_per_row: 5,
        schedules: 1,
        price: 1_000,
    };

    // Killed right after the 201: the index may not have committed it yet.
    let mut server = Server::start(&data, dir.path(), &CREDENTIALS);
    set_up_concert(&client, &server.base, &CREDENTIALS, &plan("Kestrel Gala")).await;
    server.kill();
    let mut server = Server::start(&data, dir.path(), &CREDENTIALS);
    found(&client, &server.base, "Kestrl", "Kestrel Gala").await;

    // Killed once indexed, then a segment file damaged: rebuilt at start-up.
    set_up_concert(&client, &server.base, &CREDENTIALS, &plan("Osprey Night")).await;
    found(&client, &server.base, "Osprey", "Osprey Night").await;
    server.kill();
    damage_a_segment_file(&data);
    let mut server = Server::start(&data, dir.path(), &CREDENTIALS);
    found(&client, &server.base, "Kestrel", "Kestrel Gala").await;
    found(&client, &server.base, "Ospray", "Osprey Night").await;
    server.kill();
}
