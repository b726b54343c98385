//! One user hammering `POST /wallet/charges` of 1 with a fresh
//! Idempotency-Key each time (issue 20, item 3) against the real binary:
//! the server's memory must stay within a stated bound over what it used
//! before, because wallet ledgers move to the store at snapshots
//! (`actors/src/wallet_ledger.rs`) instead of staying in memory, and
//! `GET /wallet/transactions` must still page through every charge.
//!
//! - `a_charge_storm_stays_within_the_memory_bound_and_pages_every_charge`:
//!   [`DEFAULT_CHARGES`] charges (`BOXOFFICE_CHARGE_STORM` overrides), then
//!   RSS (`VmRSS`) against [`memory_bound_kib`], then the first, a middle and
//!   the last page and the total.
//!
//! Known limit (issue 20): RSS also moves with things other than the ledger
//! (sled's cache, allocator arenas, the idempotency keys of the last
//! seconds). In a debug build 20,000 charges rose +37 MiB against this bound
//! of +60 MiB, but one run of 60,000 (`BOXOFFICE_CHARGE_STORM=60000`) rose
//! +81 MiB and failed it, while `scripts/charge-storm.py` measured +42 MiB
//! for 60,000 on the same build, and as much for the binary that kept every
//! ledger in memory: what still grows there is not yet found.

use crate::binary::{call, one_at_a_time, user_token, Credentials, Server};
use awc::http::StatusCode;
use boxoffice_actors::wallet_ledger::LEDGER_ENTRIES_IN_MEMORY;
use boxoffice_actors::EngineConfig;
use boxoffice_engine::ids::UserId;
use futures_util::future::join_all;
use serde_json::{json, Value};
use std::cell::Cell;
use std::rc::Rc;

const CREDENTIALS: Credentials = Credentials {
    secret: "charge-storm-secret-0123456789abcdef",
    admin_email: "admin@charge-storm.test",
    admin_password: "process-admin-passphrase",
};
/// Charges of 1 by default: with a decided key each is two events (the
/// charge and its key), so 20,000 cross the default snapshot interval of
/// 20,000 events twice: the end is right after a snapshot.
const DEFAULT_CHARGES: usize = 20_000;
/// Requests in flight at once.
const CONCURRENCY: usize = 32;
/// The sled cache the test's server runs with (the smallest accepted), so
/// the store's cache is a small known term of the bound.
const STORE_CACHE_MB: u64 = 8;
/// Most bytes one event may hold in memory until the snapshot after it: its
/// ledger entry, its idempotency record in the wallet actor's table and in
/// the index, its share of the log record being built. Generous: a ledger
/// entry is about 100 bytes and a charge's key record about 300.
const BYTES_PER_EVENT_BETWEEN_SNAPSHOTS: u64 = 1_024;
/// What a process's memory moves by without holding anything more: heap
/// fragmentation, thread arenas, the HTTP connections of the storm.
const ALLOCATOR_SLACK_MIB: u64 = 32;
/// Page size of the page checks (the API's largest).
const PAGE_SIZE: usize = 100;

/// How far RSS may rise over its value before the storm, in KiB: the
/// store's cache, one snapshot interval of events, one wallet's ledger
/// kept in memory, and the slack. Nothing in it grows with the number of
/// charges; a ledger held in memory for ever would.
fn memory_bound_kib() -> u64 {
    let interval = EngineConfig::default().snapshot_every_events;
    let between_snapshots = interval * BYTES_PER_EVENT_BETWEEN_SNAPSHOTS;
    let kept = LEDGER_ENTRIES_IN_MEMORY as u64 * BYTES_PER_EVENT_BETWEEN_SNAPSHOTS;
    (STORE_CACHE_MB << 10) + (between_snapshots + kept) / 1_024 + (ALLOCATOR_SLACK_MIB << 10)
}

fn charges() -> usize {
    std::env::var("BOXOFFICE_CHARGE_STORM")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(DEFAULT_CHARGES)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_owned))
        })
        .and_then(|kib| kib.parse().ok())
        .expect("VmRSS of the server")
}

async fn page(client: &awc::Client, base: &str, token: &str, page: usize) -> Value {
    let (status, body) = call(
        client,
        "GET",
        format!("{base}/api/v1/wallet/transactions?page={page}&pageSize={PAGE_SIZE}"),
        token,
        None,
        None,
    )
    .await
    .expect("a page");
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// The page's entries must be charges of 1, newest first, whose balances
/// after count down from `newest_balance`.
fn check_page(body: &Value, total: usize, newest_balance: usize, len: usize) {
    assert_eq!(body["total"], json!(total), "{body}");
    let items = body["items"].as_array().expect("items");
    assert_eq!(items.len(), len, "page of {newest_balance}");
    for (i, item) in items.iter().enumerate() {
        assert_eq!(item["kind"], "CHARGE");
        assert_eq!(item["amount"], json!(1));
        assert_eq!(item["balanceAfter"], json!(newest_balance - i), "{item}");
    }
}

#[test]
fn a_charge_storm_stays_within_the_memory_bound_and_pages_every_charge() {
    let _heavy = one_at_a_time();
    actix_rt::System::new().block_on(storm());
}

async fn storm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let cache = STORE_CACHE_MB.to_string();
    let mut server = Server::start_with_env(
        &data,
        dir.path(),
        &[
            ("BOXOFFICE_JWT_SECRET", CREDENTIALS.secret),
            ("BOXOFFICE_ADMIN_EMAIL", CREDENTIALS.admin_email),
            ("BOXOFFICE_ADMIN_PASSWORD", CREDENTIALS.admin_password),
            ("BOXOFFICE_STORE_CACHE_MB", &cache),
            // Off: this test is about memory, not the per-user limits
            // (`tests/http/limits.rs` has those).
            ("BOXOFFICE_RATE_LIMITS", "off"),
            ("BOXOFFICE_MAX_CHARGES_PER_DAY", "4294967295"),
            ("BOXOFFICE_MAX_NEW_IDEMPOTENCY_KEYS_PER_DAY", "0"),
        ],
    );
    let base = server.base.clone();
    let token = user_token(&CREDENTIALS.keys(), UserId::from_random_bytes([42; 16]));
    let client = awc::Client::builder()
        .timeout(std::time::Duration::from_secs(60))
        .finish();
    // One charge first, so the user's wallet and the routes are warm.
    let (status, body) = call(
        &client,
        "POST",
        format!("{base}/api/v1/wallet/charges"),
        &token,
        Some("storm-warm-up"),
        Some(json!({"amount": 1})),
    )
    .await
    .expect("warm-up charge");
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let before_kib = rss_kib(server.pid());

    let total = charges();
    let next = Rc::new(Cell::new(1usize));
    let lanes = (0..CONCURRENCY).map(|_| {
        let (client, base, token, next) = (&client, &base, &token, next.clone());
        async move {
            loop {
                let n = next.get();
                if n >= total {
                    return;
                }
                next.set(n + 1);
                let (status, body) = call(
                    client,
                    "POST",
                    format!("{base}/api/v1/wallet/charges"),
                    token,
                    Some(&format!("storm-{n}")),
                    Some(json!({"amount": 1})),
                )
                .await
                .expect("a charge is answered");
                assert_eq!(status, StatusCode::CREATED, "charge {n}: {body}");
            }
        }
    });
    join_all(lanes).await;
    server.assert_alive("after the storm");
    let after_kib = rss_kib(server.pid());
    let bound_kib = memory_bound_kib();
    eprintln!(
        "charge storm: {total} charges; RSS {before_kib} KiB before, {after_kib} KiB after \
         (+{} KiB; bound +{bound_kib} KiB)",
        after_kib.saturating_sub(before_kib)
    );
    assert!(
        after_kib <= before_kib + bound_kib,
        "RSS rose from {before_kib} KiB to {after_kib} KiB, past the bound of +{bound_kib} KiB"
    );

    // Every charge is there, newest first: the balance after the newest is the total.
    let pages = total.div_ceil(PAGE_SIZE);
    check_page(
        &page(&client, &base, &token, 1).await,
        total,
        total,
        PAGE_SIZE.min(total),
    );
    let middle = pages / 2 + 1;
    check_page(
        &page(&client, &base, &token, middle).await,
        total,
        total - (middle - 1) * PAGE_SIZE,
        PAGE_SIZE.min(total - (middle - 1) * PAGE_SIZE),
    );
    let last_len = total - (pages - 1) * PAGE_SIZE;
    check_page(
        &page(&client, &base, &token, pages).await,
        total,
        last_len,
        last_len,
    );
    check_page(&page(&client, &base, &token, pages + 1).await, total, 0, 0);
    server.sigterm_and_wait();
}
