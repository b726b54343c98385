//! `boxoffice serve` as a newcomer starts it (issue 12): `--bind` takes a
//! host name, `--admin-password` has help text, a server with no ADMIN says
//! how to make one, every request gets an access log line at `info`, and logs
//! written to a file carry no colour codes.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::binary::{exit_within, spawn_binary, Subcommand};

const TIMEOUT: Duration = Duration::from_secs(60);

#[test]
fn the_admin_password_flag_has_help_text() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = spawn_binary(
        Subcommand::Serve,
        &dir.path().join("data"),
        &["--help"],
        &[],
        Stdio::piped(),
        Stdio::null(),
    );
    assert!(exit_within(&mut child, TIMEOUT).is_some_and(|s| s.success()));
    let mut help = String::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut help)
        .expect("help text");
    let line = help
        .lines()
        .skip_while(|l| !l.contains("--admin-password"))
        .take(3)
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        line.contains("Password of the --admin-email account") && line.contains("12 characters"),
        "{help}"
    );
    assert!(help.contains("may be a name (localhost)"), "{help}");
}

/// One GET over a fresh connection; the status line.
fn get(port: u16, path: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(TIMEOUT))
        .expect("read timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nX-Request-Id: newcomer-1\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut reply = String::new();
    let _ = stream.read_to_string(&mut reply);
    reply.lines().next().unwrap_or("").to_string()
}

#[test]
fn a_localhost_bind_serves_logs_each_request_and_says_how_to_make_an_admin() {
    let dir = tempfile::tempdir().expect("tempdir");
    let stderr_path = dir.path().join("stderr.log");
    let stderr = std::fs::File::create(&stderr_path).expect("stderr file");
    let mut child = spawn_binary(
        Subcommand::ServeAt("localhost:0"),
        &dir.path().join("data"),
        &[],
        &[
            ("RUST_LOG", "info"),
            ("BOXOFFICE_JWT_SECRET", "newcomer-secret-0123456789"),
        ],
        Stdio::piped(),
        Stdio::from(stderr),
    );
    let mut stdout = child.stdout.take().expect("stdout");
    let deadline = Instant::now() + TIMEOUT;
    let mut printed = String::new();
    let port = loop {
        let mut chunk = [0u8; 1024];
        let n = stdout.read(&mut chunk).unwrap_or(0);
        printed.push_str(&String::from_utf8_lossy(&chunk[..n]));
        if let Some(rest) = printed.split("listening on http://127.0.0.1:").nth(1) {
            if let Some(port) = rest
                .split_whitespace()
                .next()
                .and_then(|p| p.parse::<u16>().ok())
            {
                break port;
            }
        }
        assert!(
            n > 0 && Instant::now() < deadline,
            "no listening line on 127.0.0.1 for --bind localhost:0: {printed} {}",
            std::fs::read_to_string(&stderr_path).unwrap_or_default()
        );
    };
    assert_eq!(get(port, "/healthz"), "HTTP/1.1 200 OK");
    // The access line is written once the response is; give it a moment.
    let mut logs = String::new();
    while Instant::now() < deadline {
        logs = std::fs::read_to_string(&stderr_path).unwrap_or_default();
        if logs.contains("status=200") {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    let access = logs
        .lines()
        .find(|l| l.contains("boxoffice::access") && l.contains("path=/healthz"))
        .unwrap_or_else(|| panic!("no access line for GET /healthz in:\n{logs}"));
    for part in [
        "INFO",
        "request_id=newcomer-1",
        "method=GET",
        "status=200",
        "duration_ms=",
    ] {
        assert!(access.contains(part), "{part} missing from {access}");
    }
    assert!(
        logs.contains("no ADMIN account exists") && logs.contains("--admin-email"),
        "{logs}"
    );
    assert!(
        !logs.contains('\u{1b}'),
        "colour codes in a redirected log:\n{logs}"
    );
}
