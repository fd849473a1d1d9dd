//! `irlhf`: the command line of the workspace.

mod smoke;

use clap::{Parser, Subcommand};

/// Inverse RL on RLHF'd language models (arXiv 2410.12491 and beyond).
#[derive(Parser)]
#[command(name = "irlhf", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check the installation: load libtorch, build a small model, generate.
    Smoke(smoke::SmokeArgs),
    /// The main job. Until the full pipeline lands this is the smoke run.
    Demo(smoke::SmokeArgs),
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Smoke(args) | Command::Demo(args) => smoke::run(&args),
    }
}
