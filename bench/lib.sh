# shellcheck shell=bash
# Shared set-up of bench/soak.sh and bench/e2e-mastra.sh (sourced, not run):
#   bench_start TAG SUFFIX   results folder ($OUT, default bench/results/<stamp>-SUFFIX), $LOGS,
#                            a temp $WORK, and say/die/cleanup: every PID added to PIDS is
#                            stopped on exit (TERM, then KILL after 5 s) and $WORK removed.
# Also $PYTHON (the system python3 when there is one: a pyenv shim costs ~1 s per start),
# free_port, and build_fake ($FAKE and $BARE, built when missing). Expects $BENCH (the bench
# folder), $ROOT (the checkout) and $OUT (may be empty).

PYTHON=python3
[ ! -x /usr/bin/python3 ] || PYTHON=/usr/bin/python3

free_port() { "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

bench_start() {
    BENCH_TAG=$1
    STAMP=$(date -u +%Y%m%dT%H%M%SZ)
    [ -n "$OUT" ] || OUT=$BENCH/results/$STAMP-$2
    LOGS=$OUT/logs
    mkdir -p "$LOGS"
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/mastra-$2.XXXXXX")
    PIDS=()
    trap cleanup EXIT
    trap 'exit 130' INT TERM
}

say() { echo "[$BENCH_TAG] $*"; echo "[$(date -u +%H:%M:%S)] $*" >>"$LOGS/run.log"; }
die() { say "FAILED: $*"; exit 1; }

cleanup() {
    local rc=$? pid
    for pid in "${PIDS[@]:-}"; do [ -z "$pid" ] || kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]:-}"; do
        [ -n "$pid" ] || continue
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        ! kill -0 "$pid" 2>/dev/null || kill -9 "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
    exit $rc
}

# $FAKE and $BARE (bench/fake-mastra's release binaries), built when either is missing.
build_fake() {
    FAKE=$ROOT/target/bench-fake-mastra/release/fake-mastra
    BARE=$ROOT/target/bench-fake-mastra/release/bare-proxy
    if [ ! -x "$FAKE" ] || [ ! -x "$BARE" ]; then
        say "building bench/fake-mastra (release)"
        cargo build --release --locked --manifest-path "$BENCH/fake-mastra/Cargo.toml" \
            --target-dir "$ROOT/target/bench-fake-mastra" >"$LOGS/build-fake.log" 2>&1 ||
            die "fake build (log: $LOGS/build-fake.log)"
    fi
}
