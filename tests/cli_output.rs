//! What the `rafka` binary prints and exits with outside the client tools (issue #13,
//! item 16): no colour codes in logs that are not read on a terminal (and none with
//! `NO_COLOR`), no INFO lines from `rafka log` unless asked for, each OS error said once,
//! and exit status 2 for a configuration value that is wrong, as `rafka --help` says.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::run::{rafka_blocking, Run, BIN, COMMAND_DEADLINE};

/// Runs `rafka ARGS` with `stdin` and the environment `env` (RUST_LOG and NO_COLOR unset
/// unless given).
fn rafka(args: &[&str], env: &[(&str, &str)], stdin: &[u8]) -> Run {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    rafka_blocking(&args, env, stdin.to_vec())
}

/// `command` (a shell command line) run by script(1), which gives it a pseudo-terminal
/// for stdout and stderr; what the terminal showed. Bounded by `timeout(1)`.
fn on_a_terminal(command: &str, env: &[(&str, &str)]) -> String {
    let run = Command::new("timeout")
        .args(["60", "script", "-qec", command, "/dev/null"])
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("script(1) runs");
    let shown = String::from_utf8_lossy(&run.stdout).into_owned();
    assert!(run.status.success(), "{command}: {shown}");
    shown
}

const ESC: char = '\u{1b}';

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn logs_off_a_terminal_have_no_colour_codes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let partition = dir.path().join("notes-0");
    let run = rafka(
        &["log", "write", path(&partition)],
        &[("RUST_LOG", "info")],
        b"k\tv\n",
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr.contains(" INFO "),
        "INFO lines asked for: {run:?}"
    );
    assert!(
        !run.stderr.contains(ESC),
        "no ANSI codes in a pipe: {run:?}"
    );
}

#[test]
fn no_color_turns_colour_off_on_a_terminal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let command = |name: &str| {
        format!(
            "printf 'k\\tv\\n' | {BIN} log write {}",
            path(&dir.path().join(name))
        )
    };
    // a person at a terminal gets colours...
    let coloured = on_a_terminal(&command("a-0"), &[("RUST_LOG", "info")]);
    assert!(coloured.contains("INFO"), "{coloured:?}");
    assert!(
        coloured.contains(ESC),
        "colours on a terminal: {coloured:?}"
    );
    // ...unless NO_COLOR says otherwise (no-color.org: any value but "")
    let plain = on_a_terminal(&command("b-0"), &[("RUST_LOG", "info"), ("NO_COLOR", "1")]);
    assert!(plain.contains(" INFO "), "{plain:?}");
    assert!(!plain.contains(ESC), "NO_COLOR=1: {plain:?}");
    let empty = on_a_terminal(&command("c-0"), &[("RUST_LOG", "info"), ("NO_COLOR", "")]);
    assert!(empty.contains(ESC), "NO_COLOR= (empty) is unset: {empty:?}");
}

#[test]
fn log_commands_print_no_info_lines_by_default() {
    let dir = tempfile::tempdir().expect("tempdir");
    let partition = dir.path().join("notes-0");
    let written = rafka(
        &["log", "write", path(&partition)],
        &[],
        b"k1\thello\nno-key line\n",
    );
    assert_eq!(written.code, 0, "{written:?}");
    assert_eq!(
        written.stdout,
        "appended 2 records to notes-0; log end offset 2\n"
    );
    assert_eq!(written.stderr, "", "nothing but the result: {written:?}");

    let dumped = rafka(&["log", "dump", path(&partition)], &[], b"");
    assert_eq!(dumped.code, 0, "{dumped:?}");
    assert_eq!(dumped.stdout, "0\tk1\thello\n1\tnull\tno-key line\n");
    // the summary line only
    assert_eq!(dumped.stderr.lines().count(), 1, "{dumped:?}");
    assert!(dumped.stderr.starts_with("2 records, "), "{dumped:?}");

    // RUST_LOG still shows the broker's log lines (a dump of a cleanly closed log has
    // none to show: nothing to recover)
    let verbose = rafka(
        &["log", "write", path(&partition)],
        &[("RUST_LOG", "info")],
        b"k2\tagain\n",
    );
    assert!(verbose.stderr.contains(" INFO "), "{verbose:?}");
}

/// Asserts `run` failed with `code`, one line on stderr, `needle` in it once.
fn assert_one_error(run: &Run, code: i32, needle: &str) {
    assert_eq!(run.code, code, "{run:?}");
    assert_eq!(run.stderr.lines().count(), 1, "one error line: {run:?}");
    assert!(run.stderr.starts_with("error: "), "{run:?}");
    assert_eq!(
        run.stderr.matches(needle).count(),
        1,
        "'{needle}' said once: {run:?}"
    );
}

#[test]
fn os_errors_are_said_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("no-such.properties");
    let run = rafka(&["serve", "--config", path(&missing)], &[], b"");
    assert_one_error(&run, 1, "No such file or directory (os error 2)");
    assert!(run.stderr.contains(path(&missing)), "{run:?}");

    // a data dir under a regular file
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").expect("file");
    let data = file.join("data");
    let run = rafka(
        &[
            "serve",
            "--listener",
            "127.0.0.1:0",
            "--text-listener",
            "127.0.0.1:0",
            "--http-listener",
            "",
            "--data-dir",
            path(&data),
        ],
        &[],
        b"",
    );
    assert_one_error(&run, 1, "Not a directory (os error 20)");

    // dumping a partition that is not there says so, and creates nothing
    let absent = dir.path().join("absent").join("t-0");
    let run = rafka(&["log", "dump", path(&absent)], &[], b"");
    assert_one_error(&run, 1, "No such file or directory (os error 2)");
    assert!(!dir.path().join("absent").exists(), "nothing created");
}

#[test]
fn invalid_config_values_exit_2_as_help_says() {
    let help = rafka(&["--help"], &[], b"");
    assert!(
        help.stdout
            .contains("  2  usage error: unknown flag, bad value"),
        "{help:?}"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let properties = dir.path().join("server.properties");
    std::fs::write(&properties, "num.partitions=many\n").expect("properties");
    let serve = |extra: &[&str]| {
        let mut args = vec![
            "serve",
            "--text-listener",
            "127.0.0.1:0",
            "--data-dir",
            path(&data),
        ];
        if !extra.contains(&"--listener") {
            args.extend_from_slice(&["--listener", "127.0.0.1:0"]);
        }
        args.extend_from_slice(extra);
        rafka(&args, &[], b"")
    };
    for (extra, said) in [
        (
            &["-o", "num.partitions=abc"][..],
            "invalid value \"abc\" for num.partitions",
        ),
        (
            &["--config", path(&properties)][..],
            "invalid value \"many\" for num.partitions",
        ),
        (
            &["-o", "log.segment.bytes=1k"][..],
            "invalid value \"1k\" for log.segment.bytes",
        ),
        (
            &["--listener", "SSL://127.0.0.1:0"][..],
            "missing listener.name.ssl.ssl.keystore.location",
        ),
        (
            &["--listener", "SASL_SSL://127.0.0.1:0"][..],
            "missing listener.name.sasl_ssl.ssl.keystore.location",
        ),
        (
            &["--listener", "SASL_PLAINTEXT://127.0.0.1:0"][..],
            "missing listener.name.sasl_plaintext.sasl.enabled.mechanisms",
        ),
        (
            &["--listener", "nonsense"][..],
            "invalid value \"nonsense\"",
        ),
    ] {
        let run = serve(extra);
        assert_one_error(&run, 2, said);
        assert!(!data.exists(), "{extra:?} stopped before the data dir");
    }
    // a usage error clap finds is 2 as well (unchanged)
    assert_eq!(serve(&["--node-id", "abc"]).code, 2);
}

/// `rafka serve | head -1`: a reader of the broker's stdout that goes away must not bring
/// it down (`println!` panics on a closed stdout, which exited with 101). Here the pipe is
/// closed before the broker prints anything; it still serves, and SIGTERM stops it with 0.
#[test]
fn serve_outlives_a_closed_stdout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let kafka = format!("127.0.0.1:{port}");
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--listener",
            &kafka,
            "--text-listener",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(dir.path())
        .arg("--topic")
        .arg("made-at-start")
        .env("RUST_LOG", "error")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("rafka serve starts");
    drop(child.stdout.take()); // the reader is gone before the first line
    let deadline = Instant::now() + COMMAND_DEADLINE;
    while std::net::TcpStream::connect(&kafka).is_err() {
        assert!(
            child.try_wait().expect("wait").is_none(),
            "rafka serve exited"
        );
        assert!(Instant::now() < deadline, "rafka serve never listened");
        std::thread::sleep(Duration::from_millis(20));
    }
    // the topic line was printed (to nobody) after the listener lines: still up
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        child.try_wait().expect("wait").is_none(),
        "rafka serve died"
    );
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            assert_eq!(status.code(), Some(0), "graceful shutdown");
            break;
        }
        assert!(Instant::now() < deadline, "no exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
}
