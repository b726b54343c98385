//! `boxoffice serve` refuses settings outside their documented ranges before
//! it touches the data dir: it exits non-zero, names the setting and its
//! range, and leaves no store behind. Exercised with the sled page cache
//! (`--store-cache-mb`, 8-65,536 MiB), from both the flag and its variable,
//! and with an admin password the password policy refuses.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use crate::binary::{exit_within, spawn_binary, Subcommand};

/// A refusal happens before the listener or the store: seconds at most.
const EXIT_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs `serve` with `args` and `env` on `data`; the exit success and stderr.
fn serve(data: &Path, args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let mut env = env.to_vec();
    env.push(("BOXOFFICE_JWT_SECRET", "serve-settings-secret-0123456789"));
    let mut child = spawn_binary(
        Subcommand::Serve,
        data,
        args,
        &env,
        Stdio::null(),
        Stdio::piped(),
    );
    let Some(status) = exit_within(&mut child, EXIT_TIMEOUT) else {
        panic!("serve {args:?} {env:?} did not exit: it accepted the setting");
    };
    let output = child.wait_with_output().expect("stderr");
    (
        status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn assert_refused(args: &[&str], env: &[(&str, &str)], value: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let (success, stderr) = serve(&data, args, env);
    assert!(!success, "serve {args:?} {env:?} must exit non-zero");
    assert!(
        stderr.contains("store cache must be 8-65,536 MiB") && stderr.contains(value),
        "the message names the setting, its range and the value: {stderr}"
    );
    assert!(
        !data.join("db").exists(),
        "nothing is stored when the settings are refused"
    );
}

#[test]
fn a_store_cache_outside_its_range_is_refused_before_the_store_opens() {
    assert_refused(&["--store-cache-mb", "7"], &[], "got 7");
    assert_refused(&["--store-cache-mb", "65537"], &[], "got 65537");
    assert_refused(&[], &[("BOXOFFICE_STORE_CACHE_MB", "0")], "got 0");
}

#[test]
fn a_store_cache_that_is_not_a_number_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let (success, stderr) = serve(&data, &["--store-cache-mb", "lots"], &[]);
    assert!(!success, "a non-number must be refused");
    assert!(stderr.contains("--store-cache-mb"), "{stderr}");
    assert!(!data.join("db").exists());
}

#[test]
fn an_admin_password_the_policy_refuses_stops_the_start() {
    for (password, rule) in [
        ("short-pw", "at least 12 characters"),
        ("password1234", "most common leaked passwords"),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        let env = [
            ("BOXOFFICE_ADMIN_EMAIL", "admin@settings.test"),
            ("BOXOFFICE_ADMIN_PASSWORD", password),
        ];
        let (success, stderr) = serve(&data, &[], &env);
        assert!(!success, "{password:?} must be refused");
        assert!(
            stderr.contains("BOXOFFICE_ADMIN_PASSWORD") && stderr.contains(rule),
            "the message names the setting and the rule: {stderr}"
        );
        assert!(!data.join("db").exists(), "nothing is stored");
    }
}
