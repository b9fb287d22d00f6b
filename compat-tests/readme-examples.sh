#!/usr/bin/env bash
# Runs the example commands of README.md against a freshly started Rafka and checks
# what they print, so the README cannot drift from what the tools really do.
#
#   compat-tests/readme-examples.sh [README]       (default: README.md of this repo)
#
# Which commands run, and what is checked (the README's convention):
#   - every ```sh block runs, in README order, one broker for all of them (so later
#     blocks see the topics earlier ones made); a block opened with ```sh no-test is
#     skipped (starting the broker, cargo, the compat suite itself).
#   - in a block, each line that is not blank and does not start with '#' is one command
#     (a line ending in '\' continues on the next). It runs with bash -o pipefail, stdin
#     /dev/null, in a scratch directory, bounded by a timeout, and must exit 0.
#   - the lines right under a command that start with "# " (or are just "#") are the
#     command's expected stdout, one line each, compared exactly; '…' in an expected line
#     matches any text (timestamps, ids). A command with no such lines has its output
#     ignored. stderr is not compared (kcat's and the Java tools' chatter lives there),
#     except that a command line ending in "# stderr: TEXT" must print TEXT on stderr.
#     Any other explanation belongs at the end of the command line ("cmd   # note"),
#     never on a line of its own right under a command.
#   - the scratch directory is the broker's working directory as the README has it: its
#     data dir is ./data there, so `data/orders-0` in an example is the broker's.
#
# Ports: the README says 127.0.0.1:9092 (Kafka), 127.0.0.1:9192 (text) and 127.0.0.1:9193
# (HTTP), the defaults
# (9093, Kafka's CONTROLLER port in its sample configurations, is left as it is).
# Rather than need those ports free (another broker or test run may hold them), the
# broker starts on free ports and every command and expected line gets the README's
# ports rewritten to those; RAFKA_BOOTSTRAP_SERVER points `rafka produce|consume|topics`
# without -b at it too.
#
# On PATH for the commands: `rafka` (RAFKA_BIN, else target/release/rafka built here with
# the client tools, `--features client`),
# kcat, nc, and kafka-console-producer.sh / kafka-console-consumer.sh / kafka-topics.sh,
# all installed by compat-tests/setup.sh (the last three as wrappers in
# compat-tests/.work/bin, running Kafka's tool classes from compat-tests/.work/kafka-libs),
# which the README's Prerequisites tell a user to run.
#
# Exit status 0 iff every command ran and printed what the README says; the last line
# is "README examples: N passed, N failed".
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

README="${1:-$REPO_DIR/README.md}"
COMMAND_TIMEOUT=60        # seconds per command
RAFKA_WAIT=10             # seconds for `rafka serve` to listen

echo "== setup"
"$COMPAT_DIR/setup.sh" || { echo "setup failed"; echo "README examples: 0 passed, 1 failed"; exit 1; }

if [[ -n "${RAFKA_BIN:-}" ]]; then
    echo "using RAFKA_BIN=$RAFKA_BIN (no cargo build)"
else
    RAFKA_BIN="$REPO_DIR/target/release/rafka"
    echo "cargo build --release --features client"
    (cd "$REPO_DIR" && CARGO_TERM_COLOR=never timeout -k 10 1200 "${CARGO:-cargo}" build --release --features client) \
        >"$WORK_DIR/readme-build.log" 2>&1 \
        || { tail -20 "$WORK_DIR/readme-build.log"; echo "README examples: 0 passed, 1 failed"; exit 1; }
fi
[[ -x "$RAFKA_BIN" ]] || { echo "no rafka binary at $RAFKA_BIN"; echo "README examples: 0 passed, 1 failed"; exit 1; }

RUN_DIR="$(mktemp -d /tmp/rafka-readme.XXXXXX)"
RAFKA_PID=""
cleanup() {
    [[ -n "$RAFKA_PID" ]] && stop_pid "$RAFKA_PID" 10
    rm -rf "$RUN_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------ the tools on PATH
# as the README's Prerequisites have them: rafka, and compat-tests/.work/bin (setup.sh's
# Kafka tool wrappers); kcat and nc are on the system PATH
mkdir -p "$RUN_DIR/bin" "$RUN_DIR/cwd"
ln -s "$(cd "$(dirname "$RAFKA_BIN")" && pwd)/$(basename "$RAFKA_BIN")" "$RUN_DIR/bin/rafka"

# ------------------------------------------------------------ the broker
KPORT="$(free_port)"; TPORT="$(free_port)"; HPORT="$(free_port)"
while [[ "$TPORT" == "$KPORT" ]]; do TPORT="$(free_port)"; done
while [[ "$HPORT" == "$KPORT" || "$HPORT" == "$TPORT" ]]; do HPORT="$(free_port)"; done
setsid "$RAFKA_BIN" serve --listener "127.0.0.1:$KPORT" --text-listener "127.0.0.1:$TPORT" \
    --http-listener "127.0.0.1:$HPORT" --data-dir "$RUN_DIR/cwd/data" >"$RUN_DIR/serve.log" 2>&1 </dev/null &
RAFKA_PID=$!
deadline=$((SECONDS + RAFKA_WAIT))
until port_open "$KPORT" && port_open "$TPORT" && port_open "$HPORT"; do
    if ! kill -0 "$RAFKA_PID" 2>/dev/null || ((SECONDS >= deadline)); then
        echo "rafka serve did not start: $(tail -n 3 "$RUN_DIR/serve.log")"
        echo "README examples: 0 passed, 1 failed"
        exit 1
    fi
    sleep 0.2
done
echo "== rafka serve on 127.0.0.1:$KPORT (Kafka), 127.0.0.1:$TPORT (text) and 127.0.0.1:$HPORT (HTTP), pid $RAFKA_PID"

# ------------------------------------------------------------ the examples
echo "== examples from $README"
export KPORT TPORT HPORT COMMAND_TIMEOUT CWD="$RUN_DIR/cwd"
PATH="$RUN_DIR/bin:$WORK_DIR/bin:$PATH" RAFKA_BOOTSTRAP_SERVER="127.0.0.1:$KPORT" python3 - "$README" <<'PY'
import difflib, os, re, subprocess, sys

readme = sys.argv[1]
label = os.path.basename(readme)
kport, tport, hport = os.environ["KPORT"], os.environ["TPORT"], os.environ["HPORT"]
timeout = int(os.environ["COMMAND_TIMEOUT"])

def ports(text):
    """The README's default ports -> the ports this broker listens on."""
    text = text.replace("127.0.0.1:9092", "127.0.0.1:" + kport)
    text = text.replace("127.0.0.1:9192", "127.0.0.1:" + tport)
    text = text.replace("127.0.0.1:9193", "127.0.0.1:" + hport)
    return text.replace("127.0.0.1 9192", "127.0.0.1 " + tport)

def examples(path):
    """(line number, command, expected lines) for each command of the ```sh blocks."""
    out, in_block, current = [], False, None
    lines = open(path, encoding="utf-8").read().split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        fence = line.strip()
        if not in_block:
            words = fence.split()
            if words and words[0] == "```sh":
                in_block, skip = True, "no-test" in words[1:]
            continue
        if fence.startswith("```"):
            in_block, current = False, None
            continue
        if skip:
            continue
        if line.startswith("#"):
            if current is not None and (line == "#" or line.startswith("# ")):
                current[2].append(line[2:])
            continue
        if not line.strip():
            current = None
            continue
        start = i
        while line.endswith("\\") and i < len(lines):
            line = line[:-1] + "\n" + lines[i]
            i += 1
        current = (start, line, [])
        out.append(current)
    return out

def matches(expected, actual):
    if len(expected) != len(actual):
        return False
    for e, a in zip(expected, actual):
        pattern = "".join(".*" if part == "…" else re.escape(part) for part in re.split("(…)", e))
        if not re.fullmatch(pattern, a, re.S):
            return False
    return True

passed = failed = 0
for line_no, command, expected in examples(readme):
    command, expected = ports(command), [ports(e) for e in expected]
    shown = command.replace("\n", " ")
    try:
        run = subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=os.environ["CWD"],
                             stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
        code, stdout, stderr = run.returncode, run.stdout.decode("utf-8", "replace"), run.stderr.decode("utf-8", "replace")
    except subprocess.TimeoutExpired as e:
        code, stdout, stderr = "timeout", (e.stdout or b"").decode("utf-8", "replace"), f"still running after {timeout}s"
    actual = stdout.split("\n")
    if actual and actual[-1] == "":
        actual.pop()
    problems = []
    if code != 0:
        problems.append(f"exit status {code}; stderr:\n" + "".join("    " + l + "\n" for l in stderr.strip().split("\n")[-10:]))
    note = re.search(r"#\s*stderr:\s*(.*?)\s*$", command)
    if note and note.group(1) not in stderr:
        problems.append(f"stderr lacks {note.group(1)!r}; stderr:\n" + "".join("    " + l + "\n" for l in stderr.strip().split("\n")[-10:]))
    if expected and not matches(expected, actual):
        diff = difflib.unified_diff(expected, actual, "README (expected)", "actual stdout", lineterm="", n=2)
        problems.append("stdout differs ('…' matches anything):\n" + "".join("    " + l + "\n" for l in diff))
    if problems:
        failed += 1
        print(f"FAIL {label}:{line_no}: {shown}")
        for p in problems:
            print("  " + p, end="" if p.endswith("\n") else "\n")
    else:
        passed += 1
        print(f"ok   {label}:{line_no}: {shown}" + (f"  ({len(expected)} lines checked)" if expected else ""))
print(f"README examples: {passed} passed, {failed} failed")
sys.exit(1 if failed or not passed else 0)
PY
status=$?
if [[ $status != 0 ]]; then
    echo "== rafka serve log (last 20 lines)"
    tail -n 20 "$RUN_DIR/serve.log"
fi
exit $status
