//! Running the `rafka` binary as a user would: arguments, stdin, the exit code and both
//! outputs, killed if it runs past [`COMMAND_DEADLINE`].

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_rafka");
/// No command in these tests may take longer (they take well under a second each).
pub const COMMAND_DEADLINE: Duration = Duration::from_secs(60);

#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub took: Duration,
}

/// Runs `rafka ARGS` with `stdin` and the environment less `RUST_LOG`, `NO_COLOR` and
/// `RAFKA_BOOTSTRAP_SERVER`, plus `env`.
pub fn rafka_blocking(args: &[String], env: &[(&str, &str)], stdin: Vec<u8>) -> Run {
    let started = Instant::now();
    let mut child = Command::new(BIN)
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR")
        .env_remove("RAFKA_BOOTSTRAP_SERVER")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("rafka starts");
    let mut input = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&stdin); // a command may exit without reading it all
    });
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > COMMAND_DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("rafka {args:?} still running after {COMMAND_DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    writer.join().expect("stdin writer");
    Run {
        code: status.code().unwrap_or(-1),
        stdout: out_reader.join().expect("stdout reader"),
        stderr: err_reader.join().expect("stderr reader"),
        took: started.elapsed(),
    }
}

/// [`rafka_blocking`] from async code (a blocking thread, so the broker in this process
/// keeps serving).
pub async fn rafka(args: &[&str], stdin: &[u8]) -> Run {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let stdin = stdin.to_vec();
    tokio::task::spawn_blocking(move || rafka_blocking(&args, &[], stdin))
        .await
        .expect("command thread")
}
