#!/usr/bin/env bash
# Builds the franz-go scenario driver (this directory) into
# compat-tests/.work/franz-go/compat-franz-go and adds its versions to
# .work/versions.env. Called by setup.sh after versions.env is written.
# Idempotent: skips the build while go.mod, go.sum and the sources are unchanged.
# Modules come from the Go module proxy (pinned by go.mod/go.sum, nothing vendored).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
WORK="$HERE/../../.work"
OUT="$WORK/franz-go"
BIN="$OUT/compat-franz-go"
log() { printf 'setup: %s\n' "$*" >&2; }
mkdir -p "$OUT"

command -v go >/dev/null 2>&1 || { log "go is not installed: the franz-go driver cannot be built"; exit 1; }
SUM="$(cd "$HERE" && cat go.mod go.sum ./*.go | sha256sum | cut -c1-16) $(go env GOVERSION)"
if [[ ! -x "$BIN" || ! -f "$OUT/.complete" || "$(cat "$OUT/.complete")" != "$SUM" ]]; then
    log "building the franz-go driver (go build; modules from the Go module proxy)"
    rm -f "$OUT/.complete"
    if ! (cd "$HERE" && GOTOOLCHAIN=local GOFLAGS=-mod=readonly timeout 900 \
            go build -buildvcs=false -trimpath -o "$BIN.tmp" .) >"$OUT/build.log" 2>&1; then
        tail -20 "$OUT/build.log" >&2
        exit 1
    fi
    mv "$BIN.tmp" "$BIN"
    echo "$SUM" >"$OUT/.complete"
fi

mod_version() { awk -v m="$1" '$1 == m { print $2 }' "$HERE/go.mod"; }
VERSIONS="$WORK/versions.env"
{
    grep -Ev '^(FRANZ_GO|KADM|GO)_VERSION=' "$VERSIONS" 2>/dev/null || true
    echo "FRANZ_GO_VERSION=$(mod_version github.com/twmb/franz-go)"
    echo "KADM_VERSION=$(mod_version github.com/twmb/franz-go/pkg/kadm)"
    echo "GO_VERSION=$(go env GOVERSION | sed 's/^go//')"
} >"$VERSIONS.go.tmp"
mv "$VERSIONS.go.tmp" "$VERSIONS"
log "franz-go driver ready: franz-go $(mod_version github.com/twmb/franz-go), kadm $(mod_version github.com/twmb/franz-go/pkg/kadm)"
