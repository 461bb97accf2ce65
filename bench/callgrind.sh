#!/usr/bin/env bash
# Instructions per request under callgrind: the deterministic measure behind the optimisation
# log in bench/README.md (latencies on this 2-core VM move by 2x from run to run; instruction
# counts move by ~1-2 %).
#
#   bash bench/callgrind.sh [--target gateway|bare|reqwest] [--kind json|sse] [--gateway-bin PATH]
#
# Starts the fake Mastra, then the target under valgrind with instrumentation off until it is
# ready (start-up work such as the metrics clock's TSC calibration varies by millions of
# instructions between runs), sends 100 requests at c=1 with oha, and again 400 in a second
# run; prints (I400 - I100) / 300, so neither start-up, the first connection nor shutdown is
# counted. Everything the process does is counted: every thread, the upstream client's
# connection task, the log writer. Needs valgrind (installed from Debian's packages if missing),
# oha (the pinned one of bench/run.sh, target/bench-tools) and bench/fake-mastra built.
set -euo pipefail

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH/.." && pwd)
# shellcheck source=bench/lib.sh
source "$BENCH/lib.sh"

TARGET=gateway
KIND=json
GW=$ROOT/target/release/mastra-gateway
while [ $# -gt 0 ]; do
    case $1 in
        --target) TARGET=$2; shift 2 ;;
        --kind) KIND=$2; shift 2 ;;
        --gateway-bin) GW=$2; shift 2 ;;
        -h | --help) sed -n '2,14p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
case $TARGET in gateway | bare | reqwest) ;; *) echo "--target gateway|bare|reqwest" >&2; exit 2 ;; esac
case $KIND in json | sse) ;; *) echo "--kind json|sse" >&2; exit 2 ;; esac

OUT=${OUT:-}
bench_start callgrind callgrind

OHA=${OHA:-$(command -v oha || echo "$ROOT/target/bench-tools/bin/oha")}
[ -x "$OHA" ] || die "no oha: run bash bench/run.sh once (it installs the pinned oha), or set OHA"
build_fake
if [ "$TARGET" = gateway ] && [ ! -x "$GW" ]; then
    say "building the gateway (cargo build --release)"
    cargo build --release --bin mastra-gateway --manifest-path "$ROOT/Cargo.toml" >"$LOGS/build.log" 2>&1
fi
if ! command -v valgrind >/dev/null; then
    say "installing valgrind from Debian's packages"
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO=sudo
    { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq valgrind; } \
        >"$LOGS/install-valgrind.log" 2>&1 || die "could not install valgrind"
fi

FAKE_PORT=$(free_port)
"$FAKE" --port "$FAKE_PORT" >"$LOGS/fake.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$FAKE_PORT/api/agents" && break; sleep 0.1; done

BODY='{"model":"support-agent","input":"What is the weather in Rome today?"}'
[ "$KIND" = json ] || BODY='{"model":"support-agent","input":"What is the weather in Rome today?","stream":true}'

# Instructions of one run of N requests through the target.
instructions() {
    local n=$1 port admin path out=$WORK/callgrind-$1.out cmd
    port=$(free_port)
    case $TARGET in
        gateway)
            admin=$(free_port)
            cmd=("$GW" --listen "127.0.0.1:$port" --admin-listen "127.0.0.1:$admin" --upstream "http://127.0.0.1:$FAKE_PORT")
            path=/v1/responses ;;
        bare) cmd=("$BARE" --port "$port" --upstream "127.0.0.1:$FAKE_PORT"); path=/api/v1/responses ;;
        reqwest) cmd=("$BARE" --port "$port" --upstream "127.0.0.1:$FAKE_PORT" --reqwest); path=/api/v1/responses ;;
    esac
    RUST_LOG=${RUST_LOG:-info} valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out" \
        "${cmd[@]}" >"$LOGS/$TARGET-$n.log" 2>&1 &
    local vp=$!
    PIDS+=("$vp")
    local ready=0
    for _ in $(seq 120); do
        if [ "$TARGET" = gateway ]; then
            curl -sf "http://127.0.0.1:$admin/readyz" >/dev/null && ready=1 && break
        else
            curl -s -o /dev/null "http://127.0.0.1:$port/" && ready=1 && break
        fi
        sleep 0.5
    done
    [ "$ready" = 1 ] || die "$TARGET did not start under valgrind (see $LOGS/$TARGET-$n.log)"
    callgrind_control -i on "$vp" >/dev/null 2>&1
    "$OHA" --no-tui -n "$n" -c 1 -m POST -H 'content-type: application/json' -d "$BODY" \
        "http://127.0.0.1:$port$path" >"$LOGS/oha-$n.txt"
    grep -q "Success rate:.*100.00%" "$LOGS/oha-$n.txt" || die "requests failed (see $LOGS/oha-$n.txt)"
    kill -TERM "$vp"
    wait "$vp" 2>/dev/null || true
    callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}'
}

say "$TARGET, $KIND, c=1: 100 then 400 requests under callgrind (a minute or two)"
I100=$(instructions 100)
I400=$(instructions 400)
if [ -z "$I100" ] || [ -z "$I400" ]; then die "no instruction totals (see $LOGS)"; fi
echo "$TARGET $KIND: $(((I400 - I100) / 300)) instructions per request (c=1, slope between 100 and 400 requests)"
