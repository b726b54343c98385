//! The `boxoffice` binary.
//!
//! - `serve`: the HTTP API on an embedded data dir (see `boxoffice serve --help`).
//! - `mock-provider`: the built-in test payment provider on its own port.
//! - `load` (hidden): drives the engine on a data dir under random load and
//!   prints every acknowledged change; the engine-level kill test runs it.

mod load;
mod mock_provider;
mod serve;

/// mimalloc instead of glibc's malloc: allocation is the largest single cost
/// on the hold path, and glibc keeps memory freed on worker threads in
/// per-thread arenas instead of giving it back (BENCHMARKS.md, "Allocator").
/// `main` sets it up for a crowd's memory (`memory_release::use_mimalloc`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "boxoffice",
    version,
    about = "Boxoffice: an actor-based ticket reservation engine"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP API server.
    Serve(Box<serve::ServeArgs>),
    /// Run the built-in test payment provider (Stripe's wire format) on its own port.
    MockProvider(Box<mock_provider::MockProviderArgs>),
    /// Drives the engine on a data dir with random load and prints each
    /// acknowledged change as a JSON line (used by the kill tests).
    #[command(hide = true)]
    Load(load::LoadArgs),
}

fn main() -> std::process::ExitCode {
    // THP off and the memory release hook (see `memory_release`'s doc).
    boxoffice_actors::memory_release::use_mimalloc();
    // Colour only for a person at a terminal: redirected logs stay plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .init();
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Serve(args) => serve::run(*args),
        Command::MockProvider(args) => mock_provider::run(*args),
        Command::Load(args) => load::run(args),
    };
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("boxoffice: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}
