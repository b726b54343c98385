//! `boxoffice mock-provider`: the built-in test payment provider
//! (`boxoffice_provider::mock`) on its own port, as its own process, so a
//! kill test can `kill -9` the server while the provider keeps its intents
//! and retries its webhooks. (`serve --payment-provider mock` mounts the same
//! provider in the server itself: `boxoffice_http::card_provider`.)

use boxoffice_actors::{Clock, IdSource, SystemClock};
use boxoffice_provider::mock::{self, delivery, MockConfig, Switches};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::sync::Arc;

#[derive(clap::Args)]
pub struct MockProviderArgs {
    /// Port to listen on; 0 picks a free port (the chosen one is printed).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Address to listen on.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    host: IpAddr,
    /// Where the provider POSTs its webhooks (the server's /api/v1/webhooks/payments/mock).
    #[arg(long)]
    webhook_url: String,
    /// Signs the webhooks (Stripe-Signature).
    #[arg(long, env = "BOXOFFICE_MOCK_WEBHOOK_SECRET", hide_env_values = true)]
    webhook_secret: String,
    /// The secret key API calls must carry as Bearer auth.
    #[arg(
        long,
        env = "BOXOFFICE_MOCK_SECRET_KEY",
        hide_env_values = true,
        default_value = "sk_test_mock"
    )]
    secret_key: String,
    /// The provider's address as payers reach it, for checkout URLs (default: http://HOST:PORT).
    #[arg(long)]
    public_url: Option<String>,
    /// An intent still open this long after its creation is canceled.
    #[arg(long, default_value_t = mock::DEFAULT_INTENT_TIMEOUT_MS)]
    intent_timeout_ms: i64,
    /// First retry delay of a failed webhook (it doubles per attempt).
    #[arg(long, default_value_t = delivery::DEFAULT_RETRY_INITIAL_MS)]
    retry_initial_ms: u64,
    /// Switch: every webhook waits this long before its first attempt.
    #[arg(long, default_value_t = 0)]
    late_webhook_ms: u64,
    /// Switch: every webhook is delivered twice.
    #[arg(long)]
    duplicate_webhook: bool,
    /// Switch: a success is held back until after the next event.
    #[arg(long)]
    out_of_order: bool,
    /// Switch: a success captures one minor unit more than asked.
    #[arg(long)]
    wrong_amount: bool,
    /// Switch: the API answers 503.
    #[arg(long)]
    down: bool,
}

/// Prints a line, ignoring a closed stdout.
fn say(line: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stdout(), "{line}");
}

pub fn run(args: MockProviderArgs) -> Result<(), String> {
    if !(args.webhook_url.starts_with("http://") || args.webhook_url.starts_with("https://")) {
        return Err("--webhook-url must be an http(s) URL".into());
    }
    if args.webhook_secret.is_empty() || args.secret_key.is_empty() {
        return Err("--webhook-secret and --secret-key must not be empty".into());
    }
    if args.intent_timeout_ms <= 0 || args.late_webhook_ms > mock::MAX_LATE_WEBHOOK_MS {
        return Err(format!(
            "--intent-timeout-ms must be positive and --late-webhook-ms at most {}",
            mock::MAX_LATE_WEBHOOK_MS
        ));
    }
    let listener = TcpListener::bind(SocketAddr::new(args.host, args.port))
        .map_err(|e| format!("cannot listen on {}:{}: {e}", args.host, args.port))?;
    let seed = IdSource::from_os().next_u64();
    let mut config = MockConfig::new(
        args.secret_key,
        args.webhook_secret,
        Arc::new(|| SystemClock.now().0),
        seed,
    );
    config.webhook_url = Some(args.webhook_url);
    config.public_base_url = args
        .public_url
        .map(|url| url.trim_end_matches('/').to_string())
        .unwrap_or_default();
    config.intent_timeout_ms = args.intent_timeout_ms;
    config.retry_initial_ms = args.retry_initial_ms;
    config.switches = Switches {
        late_webhook_ms: args.late_webhook_ms,
        duplicate_webhook: args.duplicate_webhook,
        out_of_order: args.out_of_order,
        wrong_amount: args.wrong_amount,
        down: args.down,
    };
    actix::System::new().block_on(async move {
        let running = mock::start(config, listener, 1).map_err(|e| e.to_string())?;
        say(&format!(
            "mock provider listening on http://{}",
            running.addr
        ));
        running.server.await.map_err(|e| e.to_string())
    })
}
