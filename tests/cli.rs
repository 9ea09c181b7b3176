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

/// Starts the agent on an ephemeral port with `args`, waits until it
/// listens, stops it with SIGTERM and returns what it wrote on standard
/// error (a pipe here, as under a service manager or `> log`).
fn log_of_a_short_run(args: &[&str], env: &[(&str, &str)]) -> Vec<u8> {
    use std::io::{BufRead, BufReader, Read};
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    // No users: the agent logs where the generated admin password went.
    let config = write(
        dir.path(),
        "agent.toml",
        &format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nhost_key = \"{}/host_key\"\n",
            dir.path().display()
        ),
    );
    let mut cmd = Command::new(BIN);
    cmd.args(["--config", config.as_str()])
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR")
        .env_remove("NCAGENT_ADMIN_PASSWORD")
        .env_remove("NCAGENT_LOG_FORMAT")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn ncagent");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut stderr = child.stderr.take().unwrap();
    // Drain standard error while the agent runs, so it never blocks on a full pipe.
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        let _ = stderr.read_to_end(&mut all);
        all
    });
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert!(line.contains("listening on"), "stdout: {line:?}");
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "exit status after SIGTERM: {exit}");
    reader.join().unwrap()
}

/// Issue #9 item 5: log lines written to a pipe or file carry no ANSI colour
/// escapes (colour only on a terminal).
#[test]
fn text_logs_to_a_pipe_have_no_colour() {
    let log = log_of_a_short_run(&[], &[]);
    let text = String::from_utf8(log).unwrap();
    assert!(text.contains("NETCONF over SSH listening"), "{text}");
    assert!(text.contains("SIGTERM"), "{text}");
    assert!(!text.contains('\u{1b}'), "ESC in the log: {text:?}");
}

/// Issue #9 item 5: `--log-format json` (or NCAGENT_LOG_FORMAT=json) writes
/// one JSON object per line, for log collectors.
#[test]
fn json_logs_are_one_object_per_line() {
    for (args, env) in [
        (&["--log-format", "json"][..], &[][..]),
        (&[][..], &[("NCAGENT_LOG_FORMAT", "json")][..]),
    ] {
        let log = log_of_a_short_run(args, env);
        let text = String::from_utf8(log).unwrap();
        assert!(!text.contains('\u{1b}'), "ESC in the log: {text:?}");
        let mut messages = Vec::new();
        for line in text.lines() {
            let v: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"));
            assert!(v.get("level").is_some(), "{line}");
            let msg = v["fields"]["message"].as_str().unwrap_or_default();
            messages.push(msg.to_owned());
        }
        assert!(
            messages.iter().any(|m| m == "NETCONF over SSH listening"),
            "{messages:?}"
        );
        assert!(
            messages.iter().any(|m| m.contains("SIGTERM")),
            "{messages:?}"
        );
    }
    // An unknown format is refused at once.
    let out = run(&["--log-format", "xml", "check-config"]);
    assert!(!out.status.success());
}

/// Start-up errors name their cause: a bad authorized key by its key in
/// the file, a busy port with the system's reason (the error's source).
#[test]
fn start_up_errors_name_key_and_cause() {
    let dir = tempfile::tempdir().unwrap();
    let bad_key = write(
        dir.path(),
        "key.toml",
        "[[users]]\nname = \"k\"\nlevel = 2\nauthorized_keys = [\"ssh-ed25519 not-a-key\"]\n",
    );
    let out = run(&["check-config", "--config", &bad_key]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("users[0].authorized_keys[0]"), "{err}");

    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let config = write(
        dir.path(),
        "busy.toml",
        &format!(
            "[server]\nlisten = \"{}\"\nhost_key = \"{}/host_key\"\n",
            busy.local_addr().unwrap(),
            dir.path().display()
        ),
    );
    let out = Command::new(BIN)
        .args(["--config", &config])
        .env("NCAGENT_ADMIN_PASSWORD", "x-secret-1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "cannot listen on {}: ",
            busy.local_addr().unwrap()
        )) && err.to_lowercase().contains("in use"),
        "{err}"
    );
}
