//! Secrets at rest (issue 20, item 5), against the real binary:
//! - the data dir is 0700 and every file in it 0600, also one an older
//!   version left readable; the token secret and the QR key are files under
//!   `<data>/keys/`, outside the store, and independent;
//! - rotating the token secret voids no ticket: a QR code sold before the
//!   restart checks in after it;
//! - a data dir whose token secret sat in the store's metadata (as older
//!   versions kept it) migrates: tokens it signed stay valid, codes signed
//!   under the key derived from it stay valid, and the secret leaves the store;
//!   one served under a configured secret keeps its codes valid too.

use crate::binary::{call, set_up_concert, ConcertPlan, Credentials, Server};
use awc::http::StatusCode;
use boxoffice_actors::{IdSource, Role};
use boxoffice_engine::ids::{TicketId, UserId};
use boxoffice_engine::Timestamp;
use boxoffice_http::auth::{JwtKeys, TokenKind};
use boxoffice_http::secrets::{JWT_KEY_FILE, KEYS_DIR, QR_KEY_FILE};
use boxoffice_http::tickets_qr::QrSigner;
use boxoffice_storage::{SledStore, Store};
use serde_json::{json, Value};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const ADMIN_EMAIL: &str = "admin@secrets.test";
const ADMIN_PASSWORD: &str = "process-admin-passphrase";
const BEFORE: Credentials = Credentials {
    secret: "secrets-test-token-secret-one-0123",
    admin_email: ADMIN_EMAIL,
    admin_password: ADMIN_PASSWORD,
};
const ROTATED: Credentials = Credentials {
    secret: "secrets-test-token-secret-two-4567",
    admin_email: ADMIN_EMAIL,
    admin_password: ADMIN_PASSWORD,
};
/// The admin alone, no secret configured: the key files hold both.
const ADMIN_ONLY: [(&str, &str); 2] = [
    ("BOXOFFICE_ADMIN_EMAIL", ADMIN_EMAIL),
    ("BOXOFFICE_ADMIN_PASSWORD", ADMIN_PASSWORD),
];
/// Where older versions kept a generated token secret.
const LEGACY_SECRET_META: &str = "jwt-secret";
const CONCERT: ConcertPlan = ConcertPlan {
    title: "Secrets",
    rows: 1,
    seats_per_row: 10,
    schedules: 1,
    price: 1_000,
};

fn client() -> awc::Client {
    awc::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .finish()
}

/// Logs in as the admin: (access token, user id).
async fn admin_login(client: &awc::Client, base: &str) -> (String, UserId) {
    let body: Value = client
        .post(format!("{base}/api/v1/auth/login"))
        .send_json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
        .await
        .expect("login")
        .json()
        .await
        .expect("json");
    let token = body["accessToken"].as_str().expect("token").to_string();
    let id = UserId::parse(body["user"]["userId"].as_str().expect("id")).expect("user id");
    (token, id)
}

async fn post(client: &awc::Client, url: String, token: &str, key: &str, body: Value) -> Value {
    let (status, body) = call(client, "POST", url, token, Some(key), Some(body))
        .await
        .expect("answered");
    assert!(status.is_success(), "{status} {body}");
    body
}

/// Sells seat `seat` of `schedule` to the admin; (ticket id, its QR code).
async fn sell(
    client: &awc::Client,
    base: &str,
    admin: &str,
    schedule: &str,
    seat: &str,
) -> (String, String) {
    let api = format!("{base}/api/v1");
    post(
        client,
        format!("{api}/wallet/charges"),
        admin,
        &format!("charge-{seat}"),
        json!({"amount": CONCERT.price}),
    )
    .await;
    let held = post(
        client,
        format!("{api}/reservations"),
        admin,
        &format!("hold-{seat}"),
        json!({"scheduleId": schedule, "seatIds": [seat]}),
    )
    .await;
    let paid = post(
        client,
        format!("{api}/payments"),
        admin,
        &format!("pay-{seat}"),
        json!({"reservationId": held["reservationId"]}),
    )
    .await;
    let ticket = paid["tickets"][0]["ticketId"]
        .as_str()
        .expect("ticket id")
        .to_string();
    let (status, read) = call(
        client,
        "GET",
        format!("{api}/tickets/{ticket}"),
        admin,
        None,
        None,
    )
    .await
    .expect("ticket");
    assert_eq!(status, StatusCode::OK, "{read}");
    let qr = read["qrCode"].as_str().expect("qrCode").to_string();
    (ticket, qr)
}

async fn check_in(client: &awc::Client, base: &str, staff: &str, qr: &str) -> (StatusCode, Value) {
    call(
        client,
        "POST",
        format!("{base}/api/v1/checkins"),
        staff,
        None,
        Some(json!({"qrCode": qr})),
    )
    .await
    .expect("check-in answered")
}

async fn me(client: &awc::Client, base: &str, token: &str) -> StatusCode {
    call(
        client,
        "GET",
        format!("{base}/api/v1/auth/me"),
        token,
        None,
        None,
    )
    .await
    .expect("me answered")
    .0
}

/// Every path under `dir` (itself included) that is not private: dirs must
/// be 0700, files 0600.
fn loose_modes(dir: &Path) -> Vec<(PathBuf, u32)> {
    let mut loose = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        let meta = std::fs::symlink_metadata(&path).expect("metadata");
        let mode = meta.permissions().mode() & 0o777;
        if meta.is_dir() {
            if mode != 0o700 {
                loose.push((path.clone(), mode));
            }
            for entry in std::fs::read_dir(&path).expect("read dir") {
                pending.push(entry.expect("entry").path());
            }
        } else if meta.is_file() && mode != 0o600 {
            loose.push((path, mode));
        }
    }
    loose
}

fn files_under(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").path())
        .map(|p| if p.is_dir() { files_under(&p) } else { 1 })
        .sum()
}

fn key_file(data: &Path, name: &str) -> String {
    std::fs::read_to_string(data.join(KEYS_DIR).join(name))
        .expect("key file")
        .trim()
        .to_string()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn the_data_dir_is_private_and_the_secrets_are_independent_key_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    actix_rt::System::new().block_on(async {
        let mut server = Server::start_with_env(&data, dir.path(), &ADMIN_ONLY);
        let client = client();
        let schedule = set_up_concert(&client, &server.base, &BEFORE, &CONCERT).await[0].clone();
        let (admin, _) = admin_login(&client, &server.base).await;
        sell(&client, &server.base, &admin, &schedule, "A-1-1").await;
        assert_eq!(loose_modes(&data), vec![], "while serving");
        server.sigterm_and_wait();
    });
    assert!(files_under(&data) > 3, "the store wrote its files");
    assert_eq!(loose_modes(&data), vec![], "after a clean stop");
    let (jwt, qr) = (key_file(&data, JWT_KEY_FILE), key_file(&data, QR_KEY_FILE));
    assert_eq!((jwt.len(), qr.len()), (64, 64), "32-byte keys, hex");
    assert_ne!(jwt, qr, "independent keys");
    let store = SledStore::open(&data).expect("store");
    assert_eq!(
        store.get_meta(LEGACY_SECRET_META).expect("meta"),
        None,
        "no secret in the store"
    );
}

#[test]
fn rotating_the_token_secret_keeps_sold_tickets_valid() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    actix_rt::System::new().block_on(async {
        let client = client();
        let mut server = Server::start(&data, dir.path(), &BEFORE);
        let schedule = set_up_concert(&client, &server.base, &BEFORE, &CONCERT).await[0].clone();
        let (old_token, _) = admin_login(&client, &server.base).await;
        let (ticket, qr) = sell(&client, &server.base, &old_token, &schedule, "A-1-1").await;
        server.sigterm_and_wait();

        let mut server = Server::start(&data, dir.path(), &ROTATED);
        assert_eq!(
            me(&client, &server.base, &old_token).await,
            StatusCode::UNAUTHORIZED,
            "the rotation ended the old tokens"
        );
        let (admin, _) = admin_login(&client, &server.base).await;
        let (status, body) = check_in(&client, &server.base, &admin, &qr).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "the ticket sold before the rotation: {body}"
        );
        assert_eq!(body["ticketId"], ticket.as_str(), "{body}");
        server.sigterm_and_wait();
    });
}

#[test]
fn a_secret_kept_in_the_store_moves_to_key_files_keeping_tokens_and_tickets_valid() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    // A data dir as older versions left it: the token secret in the store's
    // metadata, files as the default umask makes them (readable by all).
    let secret: Vec<u8> = (0..32).map(|i| i * 7 + 3).collect();
    {
        let store = SledStore::open(&data).expect("store");
        store.put_meta(LEGACY_SECRET_META, &secret).expect("put");
        store.flush().expect("flush");
    }
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    assert!(
        !loose_modes(&data).is_empty(),
        "the old dir is readable by all"
    );
    let legacy_qr = QrSigner::new(&QrSigner::legacy_key(&secret));

    actix_rt::System::new().block_on(async {
        let client = client();
        let mut server = Server::start_with_env(&data, dir.path(), &ADMIN_ONLY);
        // A token the old server could have issued: signed with the stored secret.
        let (_, admin_id) = admin_login(&client, &server.base).await;
        let keys = JwtKeys::new(&secret, 3_600, 3_600, Arc::new(IdSource::seeded(3)));
        let now = Timestamp(crate::binary::now_ms());
        let old_token = keys
            .issue(admin_id, Role::Admin, TokenKind::Access, now)
            .expect("token");
        assert_eq!(me(&client, &server.base, &old_token).await, StatusCode::OK);

        let schedule = set_up_concert(&client, &server.base, &BEFORE, &CONCERT).await[0].clone();
        let (ticket, qr) = sell(&client, &server.base, &old_token, &schedule, "A-1-1").await;
        let ticket_id = TicketId::parse(&ticket).expect("ticket id");
        assert_eq!(
            qr,
            legacy_qr.code(ticket_id),
            "the code is the one the old server would have issued"
        );
        server.sigterm_and_wait();

        // Again, with a new token secret: the ticket still checks in.
        let mut server = Server::start(&data, dir.path(), &ROTATED);
        let (admin, _) = admin_login(&client, &server.base).await;
        let (status, body) = check_in(&client, &server.base, &admin, &qr).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        server.sigterm_and_wait();
    });
    assert_eq!(
        key_file(&data, JWT_KEY_FILE),
        hex(&secret),
        "moved, not replaced"
    );
    assert_eq!(
        key_file(&data, QR_KEY_FILE),
        hex(&QrSigner::legacy_key(&secret)),
        "the key today's codes verify under"
    );
    assert_eq!(loose_modes(&data), vec![], "tightened at start");
    let store = SledStore::open(&data).expect("store");
    assert_eq!(
        store.get_meta(LEGACY_SECRET_META).expect("meta"),
        None,
        "the secret left the store"
    );
}

#[test]
fn an_existing_store_served_under_a_configured_secret_keeps_its_tickets_valid() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    // A store an older version served with BOXOFFICE_JWT_SECRET set: nothing
    // in the metadata, its QR codes signed under a key derived from that secret.
    drop(SledStore::open(&data).expect("store"));
    let legacy_qr = QrSigner::new(&QrSigner::legacy_key(BEFORE.secret.as_bytes()));
    actix_rt::System::new().block_on(async {
        let client = client();
        let mut server = Server::start(&data, dir.path(), &BEFORE);
        let schedule = set_up_concert(&client, &server.base, &BEFORE, &CONCERT).await[0].clone();
        let (admin, _) = admin_login(&client, &server.base).await;
        let (ticket, qr) = sell(&client, &server.base, &admin, &schedule, "A-1-1").await;
        let ticket_id = TicketId::parse(&ticket).expect("ticket id");
        assert_eq!(qr, legacy_qr.code(ticket_id), "as the old server signed it");
        server.sigterm_and_wait();

        let mut server = Server::start(&data, dir.path(), &ROTATED);
        let (admin, _) = admin_login(&client, &server.base).await;
        let (status, body) = check_in(&client, &server.base, &admin, &qr).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        server.sigterm_and_wait();
    });
    assert_eq!(
        key_file(&data, QR_KEY_FILE),
        hex(&QrSigner::legacy_key(BEFORE.secret.as_bytes()))
    );
    assert!(
        !data.join(KEYS_DIR).join(JWT_KEY_FILE).exists(),
        "a configured secret is not copied to disk"
    );
}
