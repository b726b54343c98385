//! The `boxoffice` binary.
//!
//! Today it only carries the hidden `load` subcommand that the crash tests
//! drive (run the engine on a data dir under load and print every
//! acknowledged change); `serve` arrives with the HTTP API.

mod load;

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
    /// Drives the engine on a data dir with random load and prints each
    /// acknowledged change as a JSON line (used by the kill tests).
    #[command(hide = true)]
    Load(load::LoadArgs),
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let outcome = match cli.command {
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
