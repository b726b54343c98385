//! The per-user limits of the real binary, set by its environment: the daily
//! count of wallet charges survives `kill -9` (it is rebuilt from the log),
//! `BOXOFFICE_RATE_LIMITS` and the per-minute limits are read from the
//! environment, and out-of-range values stop the start. So are the trusted
//! proxies and CORS origins (issue 14), in their comma-separated env form.

use crate::binary::{call, exit_within, spawn_binary, user_token, Credentials, Server, Subcommand};
use awc::http::StatusCode;
use boxoffice_engine::ids::UserId;
use serde_json::json;
use std::process::Stdio;
use std::time::Duration;

const CREDENTIALS: Credentials = Credentials {
    secret: "limits-test-secret-0123456789",
    admin_email: "admin@limits.test",
    admin_password: "process-admin-passphrase",
};

fn env<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut env = vec![
        ("BOXOFFICE_JWT_SECRET", CREDENTIALS.secret),
        ("BOXOFFICE_ADMIN_EMAIL", CREDENTIALS.admin_email),
        ("BOXOFFICE_ADMIN_PASSWORD", CREDENTIALS.admin_password),
    ];
    env.extend_from_slice(extra);
    env
}

async fn charge(base: &str, token: &str, key: &str) -> (StatusCode, serde_json::Value) {
    call(
        &awc::Client::default(),
        "POST",
        format!("{base}/api/v1/wallet/charges"),
        token,
        Some(key),
        Some(json!({"amount": 1})),
    )
    .await
    .expect("the server answers")
}

#[test]
fn the_daily_charge_count_survives_kill_minus_nine() {
    actix_rt::System::new().block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        let settings = env(&[("BOXOFFICE_MAX_CHARGES_PER_DAY", "2")]);
        let mut server = Server::start_with_env(&data, dir.path(), &settings);
        let user = UserId::from_random_bytes([3; 16]);
        let token = user_token(&CREDENTIALS.keys(), user);
        for key in ["a", "b"] {
            assert_eq!(
                charge(&server.base, &token, key).await.0,
                StatusCode::CREATED
            );
        }
        server.kill();
        let server = Server::start_with_env(&data, dir.path(), &settings);
        // (A run that crosses 00:00 UTC between the charges would start a new day.)
        let (status, body) = charge(&server.base, &token, "c").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["error"]["code"], "CHARGE_LIMIT_EXCEEDED");
        assert_eq!(body["error"]["details"]["maxChargesPerDay"], 2);
    });
}

#[test]
fn rate_limits_are_read_from_the_environment() {
    actix_rt::System::new().block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let on = env(&[
            ("BOXOFFICE_RATE_LIMITS", "on"),
            ("BOXOFFICE_CHARGES_PER_MINUTE", "2"),
        ]);
        let server = Server::start_with_env(&dir.path().join("on"), dir.path(), &on);
        let token = user_token(&CREDENTIALS.keys(), UserId::from_random_bytes([4; 16]));
        let statuses = [
            charge(&server.base, &token, "a").await.0,
            charge(&server.base, &token, "b").await.0,
            charge(&server.base, &token, "c").await.0,
        ];
        assert_eq!(
            statuses,
            [
                StatusCode::CREATED,
                StatusCode::CREATED,
                StatusCode::TOO_MANY_REQUESTS
            ]
        );
        drop(server);

        // `spawn_binary` sets BOXOFFICE_RATE_LIMITS=off: the same limit is not applied.
        let off = env(&[("BOXOFFICE_CHARGES_PER_MINUTE", "2")]);
        let server = Server::start_with_env(&dir.path().join("off"), dir.path(), &off);
        for key in ["a", "b", "c", "d"] {
            assert_eq!(
                charge(&server.base, &token, key).await.0,
                StatusCode::CREATED
            );
        }
    });
}

async fn venues_from(
    base: &str,
    client: &str,
    origin: &str,
) -> awc::ClientResponse<impl futures_util::Stream> {
    awc::Client::default()
        .get(format!("{base}/api/v1/venues"))
        .insert_header(("X-Forwarded-For", client))
        .insert_header(("Origin", origin))
        .send()
        .await
        .expect("the server answers")
}

#[test]
fn trusted_proxies_and_cors_origins_are_read_from_the_environment() {
    actix_rt::System::new().block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let settings = env(&[
            ("BOXOFFICE_RATE_LIMITS", "on"),
            ("BOXOFFICE_CATALOGUE_PER_MINUTE", "2"),
            ("BOXOFFICE_TRUSTED_PROXIES", "10.0.0.0/8,127.0.0.1"),
            (
                "BOXOFFICE_CORS_ORIGINS",
                "https://a.example,https://b.example",
            ),
        ]);
        let server = Server::start_with_env(&dir.path().join("data"), dir.path(), &settings);
        let allowed = "https://b.example";
        for _ in 0..2 {
            let reply = venues_from(&server.base, "198.51.100.1", allowed).await;
            assert_eq!(reply.status(), StatusCode::OK);
            assert_eq!(
                reply
                    .headers()
                    .get("access-control-allow-origin")
                    .map(|v| v.as_bytes()),
                Some(allowed.as_bytes())
            );
            assert_eq!(
                reply
                    .headers()
                    .get("x-ratelimit-limit")
                    .map(|v| v.as_bytes()),
                Some(&b"2"[..])
            );
        }
        // That client (behind the trusted proxy 127.0.0.1) is at its limit...
        let refused = venues_from(&server.base, "198.51.100.1", allowed).await;
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(refused.headers().get("retry-after").is_some());
        // ...another is not; and an origin not listed gets no CORS header.
        let other = venues_from(&server.base, "198.51.100.2", "https://c.example").await;
        assert_eq!(other.status(), StatusCode::OK);
        assert!(other.headers().get("access-control-allow-origin").is_none());
    });
}

#[test]
fn out_of_range_limits_stop_the_start() {
    for (env_extra, names) in [
        (("BOXOFFICE_CHARGES_PER_MINUTE", "0"), "charges per minute"),
        (
            ("BOXOFFICE_RESERVATIONS_PER_MINUTE", "0"),
            "reservations per minute",
        ),
        (
            ("BOXOFFICE_MAX_CHARGES_PER_DAY", "0"),
            "max_charges_per_day",
        ),
        (("BOXOFFICE_RATE_LIMITS", "maybe"), "--rate-limits"),
        (("BOXOFFICE_LOGINS_PER_MINUTE", "0"), "logins per minute"),
        (
            ("BOXOFFICE_TRUSTED_PROXIES", "proxy.local"),
            "--trusted-proxy",
        ),
        (("BOXOFFICE_CORS_ORIGINS", "*"), "--cors-origin"),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        let mut child = spawn_binary(
            Subcommand::Serve,
            &data,
            &[],
            &env(&[env_extra]),
            Stdio::null(),
            Stdio::piped(),
        );
        let status = exit_within(&mut child, Duration::from_secs(30))
            .unwrap_or_else(|| panic!("{env_extra:?} was accepted"));
        let output = child.wait_with_output().expect("stderr");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!status.success(), "{env_extra:?} must be refused");
        assert!(stderr.contains(names), "{env_extra:?}: {stderr}");
        assert!(!data.join("db").exists(), "nothing is stored");
    }
}
