//! Shared by the binary's integration tests: running `privgate` and reading its output.
#![allow(dead_code, reason = "each test file uses a different part")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The fixtures directory (tests run the binary from there, so paths in output are short).
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// `privgate` with `args`, run in the fixtures directory, key variables cleared.
pub fn privgate(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_privgate"));
    cmd.args(args)
        .current_dir(fixtures())
        .env_remove("PRIVGATE_HASH_KEY_FILE")
        .env_remove("PRIVGATE_TOKEN_KEY_FILE")
        .env_remove("PRIVGATE_TOKEN_KEY_ID")
        .stdin(Stdio::null());
    cmd
}

/// What a run printed, and how it ended.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn run(args: &[&str]) -> Run {
    finish(privgate(args).output().expect("privgate runs"))
}

pub fn finish(out: Output) -> Run {
    Run {
        code: out.status.code().expect("privgate exits with a code"),
        stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
    }
}

/// Runs with `input` on stdin.
pub fn run_stdin(args: &[&str], input: &[u8]) -> Run {
    use std::io::Write;
    let mut child = privgate(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("privgate starts");
    let mut stdin = child.stdin.take().expect("stdin is piped");
    // Written from another thread so a large output cannot fill its pipe while the
    // input is still being written; a broken pipe means privgate stopped reading early
    // (a usage error, say), which the exit status then tells.
    let input = input.to_vec();
    let writer = std::thread::spawn(move || match stdin.write_all(&input) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => panic!("writing input: {e}"),
        _ => {}
    });
    let output = child.wait_with_output().expect("privgate ends");
    writer.join().expect("the input writer ends");
    finish(output)
}
