//! ncagent: command line, logging, signals. Everything else is in the library.

use std::io::BufRead;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use ncagent::config::Config;

#[derive(Parser)]
#[command(
    version,
    about = "NETCONF/YANG agent: BGP VPN-Target soft reset over NETCONF"
)]
struct Cli {
    /// The TOML configuration file (without one, the embedded default).
    /// Global, so that it may follow the subcommand too
    /// (`ncagent check-config --config FILE`, as the documentation writes it).
    #[arg(long, short, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Read a password on standard input and print its hash for `password_hash`.
    HashPassword,
    /// Check the configuration and exit.
    CheckConfig,
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ncagent: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Command::HashPassword) = cli.command {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        let pw = line.trim_end_matches(['\r', '\n']);
        anyhow::ensure!(!pw.is_empty(), "empty password");
        println!(
            "{}",
            ncagent::auth::hash_password(pw).map_err(anyhow::Error::msg)?
        );
        return Ok(());
    }
    let config = match &cli.config {
        Some(path) => Config::load(path)?,
        None => Config::embedded_default(),
    };
    if let Some(Command::CheckConfig) = cli.command {
        ncagent::agent::check(&config)?;
        println!("configuration OK");
        return Ok(());
    }
    let rt = tokio::runtime::Runtime::new().context("cannot start the runtime")?;
    rt.block_on(async {
        let running = ncagent::agent::start(config).await?;
        println!("ncagent listening on {}", running.local_addr);
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
        }
        running.stop().await;
        tracing::info!("stopped");
        Ok(())
    })
}
