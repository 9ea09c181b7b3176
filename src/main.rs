//! ncagent: command line, logging, signals. Everything else is in the library.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use ncagent::config::Config;

/// mimalloc instead of glibc's malloc: with 200 sessions it doubled the
/// soak's RPC rate (glibc's malloc and heap consolidation were ~40 % of the
/// agent's CPU), and with [`ALLOCATOR_ENV`] it gives the memory of ended
/// sessions back to the system, which glibc did not (+62 MB over idle
/// after 200 sessions). docs/performance.md ("Soak") has the runs.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Log line format on standard error: `text` (coloured only when standard
    /// error is a terminal) or `json` (one object per line, for log
    /// collectors). Default: $NCAGENT_LOG_FORMAT, else text.
    #[arg(long, global = true, value_enum)]
    log_format: Option<LogFormat>,
    #[command(subcommand)]
    command: Option<Command>,
}

/// Environment variable read when `--log-format` is not given.
const LOG_FORMAT_ENV: &str = "NCAGENT_LOG_FORMAT";

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Read a password on standard input and print its hash for `password_hash`.
    HashPassword,
    /// Check the configuration and exit.
    CheckConfig,
}

/// mimalloc options, read by the allocator from the environment when the
/// process starts: purge freed memory at once and commit arenas lazily, so
/// that RSS comes back down once a load ends (docs/configuration.md,
/// "Memory"). An operator's own value wins.
const ALLOCATOR_ENV: [(&str, &str); 2] = [
    ("MIMALLOC_PURGE_DELAY", "0"),
    ("MIMALLOC_ARENA_EAGER_COMMIT", "0"),
];

/// At most this often per worker thread, the allocator is asked to return
/// what has been freed (see [`collect_freed_memory`]).
const COLLECT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Called when a runtime worker thread parks (has nothing to run): lets
/// mimalloc reclaim this thread's pages that other threads freed. It only
/// does so when the owning thread allocates or collects again, and a worker
/// left idle after a load never would, so the memory of ended sessions
/// stayed resident (docs/performance.md, Soak). At most once per
/// [`COLLECT_EVERY`] per thread, so a busy runtime pays for it rarely.
#[allow(unsafe_code)]
fn collect_freed_memory() {
    thread_local! {
        static LAST: std::cell::Cell<Option<std::time::Instant>> =
            const { std::cell::Cell::new(None) };
    }
    let now = std::time::Instant::now();
    let due = LAST.with(|last| match last.get() {
        Some(t) if now.duration_since(t) < COLLECT_EVERY => false,
        _ => {
            last.set(Some(now));
            true
        }
    });
    if due {
        // SAFETY: mi_collect only walks and frees this thread's own heap;
        // it takes no pointer and is safe to call at any time on a thread
        // that uses mimalloc (the global allocator of this binary).
        unsafe { libmimalloc_sys::mi_collect(false) };
    }
}

/// Runs this same program again, once, with [`ALLOCATOR_ENV`] set where the
/// environment lacks it: the allocator reads its options before `main`, and
/// changing them from here would need `unsafe` FFI. Returns only if there is
/// nothing to do or the re-execution failed (then the agent runs on with
/// the allocator's defaults, and says so).
fn ensure_allocator_env() {
    use std::os::unix::process::CommandExt;
    let missing: Vec<_> = ALLOCATOR_ENV
        .iter()
        .filter(|(k, _)| std::env::var_os(k).is_none())
        .collect();
    if missing.is_empty() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut args = std::env::args_os();
    let mut cmd = std::process::Command::new(exe);
    if let Some(arg0) = args.next() {
        cmd.arg0(arg0);
    }
    cmd.args(args);
    for (k, v) in missing {
        cmd.env(k, v);
    }
    // exec returns only on failure.
    let e = cmd.exec();
    eprintln!(
        "ncagent: warning: cannot re-execute with the allocator settings ({e}); running with its defaults"
    );
}

fn main() -> std::process::ExitCode {
    ensure_allocator_env();
    let cli = Cli::parse();
    let format = match cli.log_format {
        Some(f) => f,
        None => match std::env::var(LOG_FORMAT_ENV) {
            Ok(v) if !v.is_empty() => match LogFormat::from_str(&v, true) {
                Ok(f) => f,
                Err(_) => {
                    eprintln!("ncagent: {LOG_FORMAT_ENV}={v:?}: expected text or json");
                    return std::process::ExitCode::FAILURE;
                }
            },
            _ => LogFormat::Text,
        },
    };
    init_logging(format);
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ncagent: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        // Colour escapes only for a terminal: a file or a pipe (journald,
        // `scripts/run > log`) gets plain text. NO_COLOR (no-color.org) wins.
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
            .init(),
        // One JSON object per line, span fields included, never coloured.
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .init(),
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    if let Some(Command::HashPassword) = cli.command {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        let pw = line.trim_end_matches(['\r', '\n']);
        anyhow::ensure!(!pw.is_empty(), "empty password");
        println!(
            "{}",
            ncagent::auth::hash_password(pw).context("cannot hash the password")?
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
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .on_thread_park(collect_freed_memory)
        .build()
        .context("cannot start the runtime")?;
    rt.block_on(async {
        // The handler is in place before anyone can learn that we listen, so
        // a SIGTERM sent right after start-up still shuts down cleanly.
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let running = ncagent::agent::start(config).await?;
        println!("ncagent listening on {}", running.local_addr);
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
        }
        running.stop().await;
        tracing::info!("stopped");
        Ok(())
    })
}
