#!/usr/bin/env bash
# Interop matrix for sockless: sets up the peers (Python websockets + wsproto in
# interop/.venv, Node ws in interop/node_modules, optionally Debian's chromium),
# builds the examples and tests/peers.rs once, then runs run_interop.py against the
# server examples in target/release/examples (echo_server by default, more with
# --servers; each is a direction named after it) and echo_client (direction echo_client),
# and against the library itself through the #[ignore]d tests of tests/peers.rs
# (directions library-client, library-server).
#
#   bash interop/run.sh [run_interop.py options, e.g. --peers websockets,raw --servers echo_server]
#
# Environment:
#   INTEROP_BROWSER=1   install chromium if needed (apt-get) and fail if it is missing
#   INTEROP_BROWSER=0   skip the browser
#   CI=true             like INTEROP_BROWSER=1 when chromium is missing
#   PYTHON=python3.x    interpreter used to create the venv
#   CARGO_TARGET_DIR    honoured: the examples (and the peers test) are taken from there
#
# Ends with `interop: N passed, M failed` alone on the last line; exits non-zero on
# any failure (setup failures count as one failed case).
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
VENV="$HERE/.venv"
PY="${PYTHON:-python3}"
START=$SECONDS

say() { printf '# %s\n' "$*"; }

setup_failed() {
    printf 'FAIL setup - %s\n' "$*"
    printf 'interop: 0 passed, 1 failed\n'
    exit 1
}

# Bounded wait for any step that may hang on the network (registries only).
bounded() {
    local secs=$1
    shift
    timeout --kill-after=10 "$secs" "$@"
}

# 1. Python peers.
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    say "creating $VENV"
    rm -rf "$VENV"
    "$PY" -m venv "$VENV" || setup_failed "python venv ($PY -m venv) failed"
fi
say "pip install -r interop/requirements.txt"
bounded 300 "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$HERE/requirements.txt" \
    || setup_failed "pip install -r interop/requirements.txt failed"

# 2. Node peers.
command -v node >/dev/null 2>&1 || setup_failed "node not found (Node.js >= 18 is needed for the ws peers)"
say "npm ci (interop/)"
if [ -f "$HERE/package-lock.json" ]; then
    (cd "$HERE" && bounded 300 npm ci --no-audit --no-fund --loglevel=error) || setup_failed "npm ci in interop/ failed"
else
    (cd "$HERE" && bounded 300 npm install --no-audit --no-fund --loglevel=error) || setup_failed "npm install in interop/ failed"
fi

# 3. The examples under test, built once: every example, so that any server example named
# in --servers is there (run_interop.py fails a missing one as `FAIL - NAME setup`).
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR="$ROOT/$TARGET_DIR" ;; esac
EXAMPLES="$TARGET_DIR/release/examples"
say "cargo build --release --examples"
(cd "$ROOT" && bounded 900 cargo build --release --examples) || setup_failed "cargo build --release --examples failed"
for ex in echo_server echo_client; do
    [ -x "$EXAMPLES/$ex" ] || setup_failed "$EXAMPLES/$ex was not built"
done
# tests/peers.rs for the library-client/library-server directions. run_interop.py runs it
# with `cargo test --release --test peers -- --ignored --exact NAME` (and builds it again,
# a no-op when fresh); a build failure there fails those cases only.
say "cargo test --release --test peers --no-run"
(cd "$ROOT" && bounded 900 cargo test --release --test peers --no-run) \
    || say "building tests/peers.rs failed; the library-client/library-server cases will fail"

# 4. The browser (optional unless asked for or in CI).
BROWSER_MODE=auto
want_browser=0
case "${INTEROP_BROWSER:-}" in
    1 | true | yes) want_browser=1 ;;
    0 | false | no) BROWSER_MODE=off ;;
esac
if [ "${CI:-}" = "true" ] && [ "$BROWSER_MODE" != off ] && [ ! -x /usr/bin/chromium ]; then
    want_browser=1
fi
if [ "$want_browser" = 1 ]; then
    BROWSER_MODE=on
    if [ ! -x /usr/bin/chromium ]; then
        SUDO=""
        [ "$(id -u)" = 0 ] || SUDO="sudo"
        say "installing chromium (apt-get)"
        export DEBIAN_FRONTEND=noninteractive
        if ! { bounded 300 $SUDO apt-get update -qq \
            && bounded 600 $SUDO apt-get install -y -qq chromium >/dev/null; }; then
            say "apt-get install chromium failed; the chromium cases will fail"
        fi
    fi
fi

say "setup took $((SECONDS - START)) s"

# 5. The matrix. The driver prints the summary line itself; if it dies without
# printing one, print a failing one so the last line is always the summary.
LOG="$(mktemp "${TMPDIR:-/tmp}/sockless-interop-XXXXXX.log")"
bounded 560 "$VENV/bin/python" -u "$HERE/run_interop.py" --browser "$BROWSER_MODE" \
    --examples-dir "$EXAMPLES" "$@" | tee "$LOG"
rc=${PIPESTATUS[0]}
if ! tail -n 1 "$LOG" | grep -Eq '^interop: [0-9]+ passed, [0-9]+ failed$'; then
    echo "FAIL harness - run_interop.py ended without a summary (exit $rc)"
    echo "interop: 0 passed, 1 failed"
    rc=1
fi
rm -f "$LOG"
exit "$rc"
