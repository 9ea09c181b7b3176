//! The command line and its logging, by running the built binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_ncagent");

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run ncagent")
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// Issue #9 item 4: `--config` is accepted before and after the subcommand,
/// as docs/configuration.md and the README write it
/// (`ncagent check-config --config FILE`).
#[test]
fn config_option_before_or_after_the_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(dir.path(), "good.toml", "[device]\nmodel = \"CE8855\"\n");
    let bad = write(dir.path(), "bad.toml", "[device]\nmodel = \"CE9999\"\n");
    for args in [
        ["check-config", "--config", good.as_str()],
        ["--config", good.as_str(), "check-config"],
        ["check-config", "-c", good.as_str()],
    ] {
        let out = run(&args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("configuration OK"));
    }
    // The file given after the subcommand is really the one checked.
    for args in [
        ["check-config", "--config", bad.as_str()],
        ["--config", bad.as_str(), "check-config"],
    ] {
        let out = run(&args);
        assert!(!out.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("CE9999"),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
