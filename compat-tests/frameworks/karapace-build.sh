#!/usr/bin/env bash
# Builds Karapace's schema registry from a source tree into compat-tests/.work/karapace
# (src/, venv/), for `compat-tests/frameworks.sh --only registry`.
#
#   compat-tests/frameworks/karapace-build.sh KARAPACE_SOURCE
#
# KARAPACE_SOURCE: a Karapace checkout (a directory with pyproject.toml, setup.py, src/
# and go/), or a git directory (bare or not) whose HEAD is used.
#
# Why from source, and why patched: Karapace is not on PyPI (pip gets 404 for
# /simple/karapace/), and its own build cannot run with only the package registries:
#   - its dependency `avro @ https://github.com/aiven/avro/archive/<commit>.tar.gz` is a
#     GitHub tarball: PyPI's `avro` is installed instead (Avro schemas parse the same for
#     what frameworks.sh does: records with primitive fields);
#   - its protobuf support is a Go library (go/protopace, built by setuptools-golang)
#     whose go.mod replaces github.com/bufbuild/buf with github.com/Aiven-Open/buf at a
#     pseudo-version the Go module proxy refuses (403, "This module version is not
#     available"); upstream buf v1.34.0 is used instead, and since buf's private
#     packages panic at load unless the main module is under github.com/bufbuild
#     (Aiven's fork removes that check), the library's module path is renamed to
#     github.com/bufbuild/protopace-local. Karapace imports the library at start, for
#     every schema type, so it must be built.
#   - setuptools-scm would take the version from git: src/karapace/version.py is written
#     by hand.
# Needs Python >= 3.12 (python3.12 or python3.13 on PATH, pyenv's included), go, and
# PyPI and the Go module proxy. About 2 minutes; a second run with the same source
# does nothing.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$HERE/.work/karapace"
SRC="${1:?usage: karapace-build.sh KARAPACE_SOURCE (a checkout or a git dir)}"
log() { printf 'karapace-build: %s\n' "$*" >&2; }

PY=""
for p in python3.13 python3.12; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import sys; assert sys.version_info >= (3, 12)' 2>/dev/null; then
        PY="$(command -v "$p")"; break
    fi
    # pyenv shims answer only for a selected version
    if command -v pyenv >/dev/null 2>&1; then
        v="$(pyenv versions --bare 2>/dev/null | grep -E "^${p#python}(\.|$)" | tail -n 1)"
        if [[ -n "$v" ]]; then PY="$(pyenv root)/versions/$v/bin/python${p#python}"; break; fi
    fi
done
[[ -n "$PY" ]] || { log "no Python >= 3.12 (Karapace requires-python >=3.12)"; exit 1; }
command -v go >/dev/null 2>&1 || { log "no go on PATH (the protopace library)"; exit 1; }

if [[ -f "$SRC/pyproject.toml" ]]; then
    stamp="$(cd "$SRC" && git rev-parse HEAD 2>/dev/null || sha256sum pyproject.toml | cut -c1-16)"
else
    stamp="$(git --git-dir="$SRC" rev-parse HEAD)"
fi
if [[ -f "$OUT/.complete" && "$(cat "$OUT/.complete")" == "$stamp" ]]; then
    log "up to date ($stamp)"
    exit 0
fi
rm -rf "$OUT"
mkdir -p "$OUT/src"
if [[ -f "$SRC/pyproject.toml" ]]; then
    cp -a "$SRC/pyproject.toml" "$SRC/src" "$SRC/go" "$OUT/src/"
else
    git --git-dir="$SRC" archive HEAD pyproject.toml src go | tar -x -C "$OUT/src"
fi
version="$(git --git-dir="$SRC" describe --tags 2>/dev/null || git -C "$SRC" describe --tags 2>/dev/null || echo 0.0.0)"
echo "__version__ = \"$version\"" >"$OUT/src/src/karapace/version.py"

log "protopace (Go, buf v1.34.0 instead of Aiven's fork)"
(
    cd "$OUT/src/go/protopace"
    sed -i '/^replace github.com\/bufbuild\/buf/d' go.mod
    grep -rl 'github.com/Aiven-Open/karapace/go/protopace' . \
        | xargs sed -i 's#github.com/Aiven-Open/karapace/go/protopace#github.com/bufbuild/protopace-local#g'
    GOFLAGS=-mod=mod timeout 900 go build -buildmode=c-shared -o "$OUT/src/src/protopacelib.so" . 
) >"$OUT/go.log" 2>&1 || { tail -20 "$OUT/go.log" >&2; log "go build failed"; exit 1; }

log "venv ($PY) with Karapace's dependencies from PyPI (avro from PyPI)"
"$PY" -m venv "$OUT/venv"
"$OUT/venv/bin/python" - "$OUT/src/pyproject.toml" >"$OUT/requirements.txt" <<'PY'
import sys, tomllib
for dep in tomllib.load(open(sys.argv[1], "rb"))["project"]["dependencies"]:
    print("avro" if dep.startswith("avro") else dep)
PY
timeout 900 "$OUT/venv/bin/pip" install -q --disable-pip-version-check -r "$OUT/requirements.txt" \
    >"$OUT/pip.log" 2>&1 || { tail -20 "$OUT/pip.log" >&2; log "pip install failed"; exit 1; }
"$OUT/venv/bin/pip" freeze >"$OUT/versions.txt"
echo "karapace==$version" >>"$OUT/versions.txt"

echo "$stamp" >"$OUT/.complete"
log "ready: $OUT (Karapace $version, $stamp)"
