//! Identity hardening (issue 20, items 4 and 8; API.md, "Account and token
//! rules"), through real HTTP against the real server:
//! - the password policy: fewer than 12 characters, or one of the most
//!   common leaked passwords, is 400 VALIDATION_ERROR naming the rule; a
//!   good one is 201;
//! - emails compare after NFKC and case folding: an NFD spelling of an NFC
//!   address is the same account (409 EMAIL_TAKEN; login with either works);
//! - bad bodies of register and login are their documented 4xx, never 500;
//! - password hashing is bounded: past the permits, a register or login is
//!   503 UNAVAILABLE with Retry-After (never 500), and logins work after;
//! - `--demo` sets the demo passwords only when it creates the accounts, and
//!   warns when served on a non-loopback address.

use awc::http::Method;
use boxoffice_actors::{IdSource, ManualClock, Passwords};
use boxoffice_http::auth::Argon2Passwords;
use boxoffice_http::{demo, Application, Settings};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};
use test_support::app::*;

const REGISTER: &str = "/api/v1/auth/register";
const LOGIN: &str = "/api/v1/auth/login";

async fn register(app: &TestApp, email: &str, password: &str) -> Reply {
    app.post(
        REGISTER,
        None,
        json!({"email": email, "password": password, "name": "Identity"}),
    )
    .await
}

async fn login(app: &TestApp, email: &str, password: &str) -> Reply {
    app.post(LOGIN, None, json!({"email": email, "password": password}))
        .await
}

fn fresh_email(app: &TestApp) -> String {
    format!("{}@identity.test", app.unique("id"))
}

fn message(reply: &Reply) -> String {
    reply.body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[actix_rt::test]
async fn a_short_password_is_refused_naming_the_length_rule() {
    let app = spawn_app().await;
    for short in [
        "12345678",
        "password",
        "        ",
        "short-pass1",
        "ελληνικά",
    ] {
        let email = fresh_email(&app);
        let reply = register(&app, &email, short).await;
        reply.expect_case(short, 400, "VALIDATION_ERROR");
        assert!(
            message(&reply).contains("at least 12 characters"),
            "{short:?}: {}",
            reply.text
        );
        // Nothing was stored: the address is still free.
        login(&app, &email, short)
            .await
            .expect(401, "INVALID_CREDENTIALS");
    }
    app.stop().await;
}

#[actix_rt::test]
async fn a_common_password_is_refused_naming_the_rule() {
    let app = spawn_app().await;
    for common in [
        "password1234",
        "Password1234",
        "123456789012",
        "qwertyuiop123",
        "1q2w3e4r5t6y",
        "iloveyou1234",
        "            ",
        "aaaaaaaaaaaaaaaa",
    ] {
        let reply = register(&app, &fresh_email(&app), common).await;
        reply.expect_case(common, 400, "VALIDATION_ERROR");
        assert!(
            message(&reply).contains("most common leaked passwords"),
            "{common:?}: {}",
            reply.text
        );
    }
    app.stop().await;
}

#[actix_rt::test]
async fn a_good_password_of_twelve_characters_or_more_registers_and_logs_in() {
    let app = spawn_app().await;
    for good in ["sea otter 42", "violet-harbour-4711", "Überfahrt–Mond☾"] {
        let email = fresh_email(&app);
        register(&app, &email, good)
            .await
            .expect_case(good, 201, "");
        login(&app, &email, good).await.expect_case(good, 200, "");
    }
    app.stop().await;
}

#[actix_rt::test]
async fn nfc_and_nfd_spellings_of_an_email_are_one_account() {
    let app = spawn_app().await;
    let nfc = "Jos\u{e9}.Ren\u{e9}e@identity.test";
    let nfd = "jose\u{301}.rene\u{301}e@identity.test";
    let fullwidth = "\u{FF2A}OS\u{c9}.REN\u{c9}E@identity.test";
    assert_ne!(nfc.to_lowercase(), nfd.to_lowercase(), "different bytes");
    let first = register(&app, nfc, USER_PASSWORD).await;
    first.expect(201, "");
    for spelling in [nfd, fullwidth, nfc] {
        register(&app, spelling, "another-password-77")
            .await
            .expect_case(spelling, 409, "EMAIL_TAKEN");
    }
    for spelling in [nfc, nfd, fullwidth] {
        let reply = login(&app, spelling, USER_PASSWORD).await;
        reply.expect_case(spelling, 200, "");
        assert_eq!(reply.body["user"]["userId"], first.body["userId"]);
    }
    // The losing registrations changed nothing: their password does not work.
    login(&app, nfd, "another-password-77")
        .await
        .expect(401, "INVALID_CREDENTIALS");
    app.stop().await;
}

#[actix_rt::test]
async fn bad_register_and_login_bodies_are_their_documented_4xx_never_500() {
    let app = spawn_app().await;
    let email = fresh_email(&app);
    let register_cases = [
        json!({"email": email, "password": 123456789012_i64, "name": "N"}),
        json!({"email": email, "password": ["violet-harbour-4711"], "name": "N"}),
        json!({"email": email, "password": null, "name": "N"}),
        json!({"email": email, "password": {"plain": "violet-harbour-4711"}, "name": "N"}),
        json!({"email": email, "password": true, "name": "N"}),
        json!({"email": {"address": email}, "password": USER_PASSWORD, "name": "N"}),
        json!({"email": email, "name": "N"}),
        json!({"password": USER_PASSWORD, "name": "N"}),
        json!({"email": email, "password": USER_PASSWORD}),
        json!({"email": email, "password": USER_PASSWORD, "name": 7}),
        json!({}),
        json!([]),
        json!(42),
    ];
    for body in register_cases {
        let reply = app.post(REGISTER, None, body.clone()).await;
        reply.expect_case(&body.to_string(), 400, "VALIDATION_ERROR");
    }
    let login_cases = [
        json!({"email": email, "password": 123456789012_i64}),
        json!({"email": email, "password": null}),
        json!({"email": email}),
        json!({"password": USER_PASSWORD}),
        json!({"email": 5, "password": USER_PASSWORD}),
        json!("text"),
    ];
    for body in login_cases {
        let reply = app.post(LOGIN, None, body.clone()).await;
        reply.expect_case(&body.to_string(), 400, "VALIDATION_ERROR");
    }
    for path in [REGISTER, LOGIN] {
        for (what, content_type, bytes, status, code) in [
            (
                "malformed JSON",
                "application/json",
                b"{\"email\": ".to_vec(),
                400,
                "VALIDATION_ERROR",
            ),
            (
                "not UTF-8",
                "application/json",
                vec![0xff, 0xfe, b'{'],
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
    }
    // None of them made the account.
    register(&app, &email, USER_PASSWORD).await.expect(201, "");
    app.stop().await;
}

/// Concurrent logins in the storm: far more than one permit can hash within
/// `HASH_PERMIT_WAIT` (an argon2 hash takes tens of milliseconds).
const STORM_LOGINS: usize = 150;
/// Registrations mixed into the storm.
const STORM_REGISTRATIONS: usize = 10;

#[actix_rt::test]
async fn saturated_password_hashing_answers_503_with_retry_after_and_recovers() {
    let app = spawn_app_with(|s| s.password_hashing_permits = 1).await;
    let known = fresh_email(&app);
    register(&app, &known, USER_PASSWORD).await.expect(201, "");
    // A client with no connection limit (awc's default is 100), so every
    // request of the storm is at the server at once.
    let client = awc::Client::builder()
        .connector(awc::Connector::new().limit(0))
        .timeout(Duration::from_secs(60))
        .finish();
    let send = |path: &'static str, body: Value| {
        let request = client.post(format!("{}{path}", app.base));
        async move {
            let mut response = request.send_json(&body).await.expect("answered");
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let body: Value = response.json().await.unwrap_or(Value::Null);
            (response.status().as_u16(), retry_after, body)
        }
    };
    let logins = (0..STORM_LOGINS).map(|n| {
        send(
            LOGIN,
            json!({"email": format!("nobody-{n}@identity.test"), "password": "unknown-password-1"}),
        )
    });
    let registrations: Vec<String> = (0..STORM_REGISTRATIONS)
        .map(|_| fresh_email(&app))
        .collect();
    let registers = registrations.iter().map(|email| {
        send(
            REGISTER,
            json!({"email": email, "password": USER_PASSWORD, "name": "Storm"}),
        )
    });
    let storm = futures_util::future::join(
        futures_util::future::join_all(logins),
        futures_util::future::join_all(registers),
    );
    // The ops endpoint is answered during the storm.
    let probe = async {
        actix_rt::time::sleep(Duration::from_millis(200)).await;
        let started = Instant::now();
        let health = app.get("/healthz", None).await;
        (health.status.as_u16(), started.elapsed())
    };
    let ((login_replies, register_replies), (health, health_took)) =
        futures_util::future::join(storm, probe).await;
    assert_eq!(health, 200, "/healthz during the storm ({health_took:?})");

    let mut unavailable = 0;
    for (status, retry_after, body) in login_replies.iter().chain(&register_replies) {
        assert!(
            matches!(status, 201 | 401 | 503),
            "never another answer, never 500: {status} {body}"
        );
        if *status == 503 {
            unavailable += 1;
            assert_eq!(body["error"]["code"], "UNAVAILABLE", "{body}");
            let seconds: u64 = retry_after
                .as_deref()
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("503 without a Retry-After in seconds: {body}"));
            assert!(seconds >= 1);
        }
    }
    assert!(
        unavailable > 0,
        "{} requests on one permit must saturate it",
        STORM_LOGINS + STORM_REGISTRATIONS
    );
    for (status, _, body) in &login_replies {
        if *status != 503 {
            assert_eq!(body["error"]["code"], "INVALID_CREDENTIALS", "{body}");
        }
    }

    // After the storm: logins work, and a registration refused with 503
    // stored nothing (it can be made now).
    login(&app, &known, USER_PASSWORD).await.expect(200, "");
    for (email, (status, _, _)) in registrations.iter().zip(&register_replies) {
        let again = register(&app, email, USER_PASSWORD).await;
        match status {
            201 => again.expect(409, "EMAIL_TAKEN"),
            _ => again.expect(201, ""),
        };
        login(&app, email, USER_PASSWORD).await.expect(200, "");
    }
    app.stop().await;
}

/// A demo server on `data` bound to `bind`, serving; stop it with [`stop`].
async fn demo_server(data: &std::path::Path, bind: &str) -> (Application, String) {
    let mut settings = Settings::new(data.to_path_buf());
    settings.bind = bind.parse().expect("address");
    settings.demo = true;
    settings.jwt_secret = Some(JWT_SECRET.into());
    let app = Application::build(
        settings,
        Arc::new(ManualClock::new(START)),
        Arc::new(IdSource::seeded(11)),
    )
    .await
    .expect("demo server builds");
    let base = format!("http://127.0.0.1:{}", app.port());
    (app, base)
}

/// Serves `app` until stopped, then waits until its engine has shut down, so
/// the data dir can be opened again.
async fn serve_then_stop(app: Application, work: impl std::future::Future<Output = ()>) {
    let handle = app.handle();
    let serving = actix_rt::spawn(app.run_until_stopped());
    work.await;
    handle.stop(true).await;
    serving.await.expect("joined").expect("stopped cleanly");
}

async fn demo_login(base: &str, email: &str, password: &str) -> u16 {
    awc::Client::default()
        .post(format!("{base}{LOGIN}"))
        .send_json(&json!({"email": email, "password": password}))
        .await
        .expect("answered")
        .status()
        .as_u16()
}

#[actix_rt::test]
async fn demo_passwords_are_set_only_when_the_accounts_are_created() {
    let data = tempfile::tempdir().expect("tempdir");
    let changed = "changed-by-the-owner-2026";
    let (app, base) = demo_server(data.path(), "127.0.0.1:0").await;
    assert!(app.warnings.is_empty(), "loopback: {:?}", app.warnings);
    let registry = Arc::clone(app.registry());
    serve_then_stop(app, async {
        assert_eq!(demo_login(&base, demo::ADMIN.0, demo::ADMIN.1).await, 200);
        let admin = registry
            .account_by_email(demo::ADMIN.0)
            .await
            .expect("lookup")
            .expect("the demo admin exists");
        let hash = Argon2Passwords::new(1)
            .hash(changed.to_string(), [5; 16])
            .await
            .expect("hash");
        registry
            .set_password(admin.user_id, hash)
            .await
            .expect("password changed");
    })
    .await;
    drop(registry);

    let (app, base) = demo_server(data.path(), "127.0.0.1:0").await;
    serve_then_stop(app, async {
        assert_eq!(
            demo_login(&base, demo::ADMIN.0, changed).await,
            200,
            "the owner's password stands"
        );
        assert_eq!(
            demo_login(&base, demo::ADMIN.0, demo::ADMIN.1).await,
            401,
            "the restart did not reset it"
        );
        assert_eq!(
            demo_login(&base, demo::USER.0, demo::USER.1).await,
            200,
            "untouched accounts keep theirs"
        );
    })
    .await;
}

#[actix_rt::test]
async fn demo_on_a_non_loopback_address_is_warned_about() {
    let data = tempfile::tempdir().expect("tempdir");
    let (app, _) = demo_server(data.path(), "0.0.0.0:0").await;
    assert!(
        app.warnings
            .iter()
            .any(|w| w.contains("--demo") && w.contains("not a loopback address")),
        "{:?}",
        app.warnings
    );
    serve_then_stop(app, async {}).await;
}
