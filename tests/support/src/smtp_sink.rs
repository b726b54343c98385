//! A minimal SMTP server for the mail tests: it accepts every mail, keeps
//! it, and lets a test wait for it. Written here rather than taken from
//! PyPI (`aiosmtpd`) so CI needs nothing but cargo.
//!
//! It speaks just what a client sending plain SMTP needs (EHLO/HELO, MAIL,
//! RCPT, DATA, RSET, NOOP, QUIT), one thread per connection. A sink can be
//! started on a port chosen before (`start_on`) so a test can start the
//! server with the sink down and bring it up later.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

/// One mail as the sink received it.
#[derive(Clone, Debug)]
pub struct ReceivedMail {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    /// The DATA, dot-unstuffed, with CRLF line ends.
    pub data: String,
}

impl ReceivedMail {
    /// The value of the first header `name` (case-insensitive), unfolded.
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next()?;
        let mut value: Option<String> = None;
        for line in head.split("\r\n") {
            if let Some(v) = value.as_mut() {
                if line.starts_with([' ', '\t']) {
                    v.push_str(line);
                    continue;
                }
                break;
            }
            if let Some((key, rest)) = line.split_once(':') {
                if key.eq_ignore_ascii_case(name) {
                    value = Some(rest.trim().to_string());
                }
            }
        }
        value
    }

    /// The bodies of every MIME part of this content type, decoded when
    /// base64 (the only transfer encoding binary parts get).
    pub fn parts(&self, content_type: &str) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let needle = format!("Content-Type: {content_type}");
        let mut rest = self.data.as_str();
        while let Some(at) = rest.find(&needle) {
            let part = &rest[at..];
            let Some(body_at) = part.find("\r\n\r\n") else {
                break;
            };
            let headers = &part[..body_at];
            let body = &part[body_at + 4..];
            let end = body.find("\r\n--").unwrap_or(body.len());
            let body = &body[..end];
            if headers
                .to_ascii_lowercase()
                .contains("content-transfer-encoding: base64")
            {
                let joined: String = body.split_whitespace().collect();
                if let Ok(bytes) = STANDARD.decode(joined) {
                    out.push(bytes);
                }
            } else {
                out.push(body.as_bytes().to_vec());
            }
            rest = &part[body_at..];
        }
        out
    }

    /// The text/plain parts, as text (quoted-printable soft breaks undone).
    pub fn text(&self) -> String {
        self.parts("text/plain")
            .into_iter()
            .map(|p| String::from_utf8_lossy(&p).replace("=\r\n", ""))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

pub struct SmtpSink {
    addr: SocketAddr,
    mails: Arc<Mutex<Vec<ReceivedMail>>>,
    stopped: Arc<AtomicBool>,
}

/// A port nothing listens on now (bound, then let go), for a sink that
/// starts later.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

impl SmtpSink {
    pub fn start() -> SmtpSink {
        SmtpSink::start_on(0)
    }

    /// A sink on 127.0.0.1:`port` (0: any).
    pub fn start_on(port: u16) -> SmtpSink {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("the sink binds");
        let addr = listener.local_addr().expect("addr");
        let mails = Arc::new(Mutex::new(Vec::new()));
        let stopped = Arc::new(AtomicBool::new(false));
        let (kept, stop) = (Arc::clone(&mails), Arc::clone(&stopped));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let kept = Arc::clone(&kept);
                std::thread::spawn(move || {
                    let _ = serve(stream, &kept);
                });
            }
        });
        SmtpSink {
            addr,
            mails,
            stopped,
        }
    }

    /// `smtp://127.0.0.1:<port>`: what `--smtp-url` takes.
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    pub fn mails(&self) -> Vec<ReceivedMail> {
        self.mails.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// Waits (asynchronously) until at least `count` mails arrived; all of them.
    pub async fn wait_for(&self, count: usize, timeout: Duration) -> Vec<ReceivedMail> {
        let deadline = Instant::now() + timeout;
        loop {
            let mails = self.mails();
            if mails.len() >= count {
                return mails;
            }
            assert!(
                Instant::now() < deadline,
                "{} mail(s) arrived, {count} expected",
                mails.len()
            );
            actix_rt::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Stops accepting (connections already open finish).
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.stop();
    }
}

fn serve(stream: TcpStream, kept: &Mutex<Vec<ReceivedMail>>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut out = stream.try_clone()?;
    let mut lines = BufReader::new(stream);
    out.write_all(b"220 sink.test ESMTP test sink\r\n")?;
    let (mut from, mut to) = (String::new(), Vec::new());
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_string();
        let verb = command
            .split([' ', ':'])
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        match verb.as_str() {
            "EHLO" => out.write_all(b"250-sink.test\r\n250 8BITMIME\r\n")?,
            "HELO" => out.write_all(b"250 sink.test\r\n")?,
            "MAIL" => {
                from = address(&command);
                to.clear();
                out.write_all(b"250 OK\r\n")?;
            }
            "RCPT" => {
                to.push(address(&command));
                out.write_all(b"250 OK\r\n")?;
            }
            "DATA" => {
                out.write_all(b"354 go ahead\r\n")?;
                let mut data = String::new();
                loop {
                    line.clear();
                    if lines.read_line(&mut line)? == 0 {
                        return Ok(());
                    }
                    if line == ".\r\n" || line == ".\n" {
                        break;
                    }
                    let unstuffed = line.strip_prefix('.').unwrap_or(&line);
                    data.push_str(unstuffed);
                }
                if let Ok(mut mails) = kept.lock() {
                    mails.push(ReceivedMail {
                        mail_from: from.clone(),
                        rcpt_to: to.clone(),
                        data,
                    });
                }
                out.write_all(b"250 OK: queued\r\n")?;
            }
            "RSET" | "NOOP" => out.write_all(b"250 OK\r\n")?,
            "QUIT" => {
                out.write_all(b"221 bye\r\n")?;
                return Ok(());
            }
            _ => out.write_all(b"502 not implemented\r\n")?,
        }
    }
}

/// The address of `MAIL FROM:<a@b>` or `RCPT TO:<a@b>`.
fn address(command: &str) -> String {
    let start = command.find('<').map_or(0, |i| i + 1);
    let end = command[start..]
        .find('>')
        .map_or(command.len(), |i| start + i);
    command[start..end].to_string()
}
