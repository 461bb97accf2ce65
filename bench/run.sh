#!/usr/bin/env bash
# The gateway's load benchmark (issue 5). In one run it drives the same load through
#   (a) direct   the fake Mastra itself              POST /api/agents/support-agent/stream
#   (b) nginx    nginx as a plain reverse proxy hop  POST /v1/responses -> fake's native route
#   (c) gateway  target/dist/mastra-gateway          POST /v1/responses -> fake's native route
#                (+ POST /api/memory/save-messages, the response record, when the turn is stored)
#   (d) bare     bare-proxy --buffer: hyper 1 +      POST /v1/responses -> fake's native route
#                hyper-util, bodies read whole (the floor of the gateway's own stack; bench/fake-mastra)
#   (e) reqwest  bare-proxy --reqwest: the same hop through a reqwest client set up as the
#                gateway's, bodies read whole (the floor of a translating gateway on the chosen stack)
# non-streaming and streaming, and prints RPS, p50/p99, stream time to first byte, the gateway's
# added latency and RPS ratios against (a), (b), (d) and (e), its CPU time, RSS and upstream
# calls per request (by route). Results (Markdown, PNG chart, raw JSON, logs): bench/results/.
#
#   bash bench/run.sh            full run: 3 repeats x 10 s per point, medians, chart
#   bash bench/run.sh --smoke    CI check: 1 repeat x 1 s, c=1 and 16, no chart; non-zero exit
#                                on any failed request, non-2xx answer or process that did not start
#   bash bench/run.sh --help     all flags
#
# It installs what it needs itself: the load generator (oha: cargo install into target/bench-tools;
# or wrk: Debian's package, the smoke's default), nginx (Debian's nginx-light), and for the chart
# matplotlib (venv in target/bench-venv). See bench/README.md.
set -euo pipefail
export PYTHONDONTWRITEBYTECODE=1

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
OHA_VERSION=1.16.0

MODE=full
DURATION=10        # seconds per point
REPEATS=3
WARMUP=3           # seconds per target and kind, at c=16, before the points
JSON_CONC="1 16 64"
STREAM_CONC="1 16 64 256"
DELAY_MS=0
STORE=""           # "", true or false: the requests' "store" field ("": absent, i.e. stored)
AGENT=support-agent # the bench's agent: the model of the requests, the floors' native route
CHART=1
BARE_MODE=(--buffer) # (d): bodies read whole; --bare-relay: frame by frame
BUILD=1
GATEWAY_BIN=""
LOADGEN=""         # oha | wrk; default: oha, in smoke mode wrk unless oha $OHA_VERSION is at hand
GATEWAY_ENV=()
GATEWAY_CONFIG=default
OUT=""
NOTE=""
VERBOSE=0
REQ_TIMEOUT=30     # seconds; a request slower than this counts as failed

usage() {
    sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    cat <<'EOF'

Flags:
  --smoke               short CI mode (see above)
  --duration S          seconds of load per point (default 10; smoke 1)
  --repeats N           repeats of every point; medians are reported (default 3; smoke 1)
  --warmup S            warm-up seconds per target and kind (default 3; smoke 0.5)
  --json-conc "1 16 64"       concurrency levels, non-streaming
  --stream-conc "1 16 64 256" concurrency levels, streaming
  --delay-ms N          fake Mastra's fixed delay before answering (default 0)
  --store false|true    add "store":false (or "store":true) to every request body. Default: no
                        store field, i.e. stored turns: the gateway then also writes each answer's
                        response record (POST /api/memory/save-messages), a second upstream call
                        the floors do not make; --store false measures the turn without it
  --loadgen oha|wrk     the load generator. oha (default of a full run; cargo-installed once,
                        5-15 min on 2 cores) measures stream time to first byte; wrk (Debian's
                        package, seconds to install; bench/wrk.lua) does not. --smoke defaults
                        to wrk unless the pinned oha is already installed
  --bare-relay          run (d) bare-proxy without --buffer: it relays every body frame by frame,
                        also the native stream's ~31 chunks to a non-streaming request (which a
                        gateway answering JSON never does; see bench/README.md)
  --no-chart            skip the PNG chart (and the matplotlib venv)
  --no-build            use the binaries already built (no cargo build)
  --gateway-bin PATH    benchmark this gateway binary instead of building target/dist/ (profile dist),
                        e.g. target/release/mastra-gateway (what CI's smoke uses: no dist build)
  --gateway-config PATH the gateway's config file, or "none" for its built-in defaults
                        (default: the checkout's config.toml)
  --gateway-env K=V     extra environment for the gateway, repeatable (e.g. RUST_LOG=warn,
                        MASTRA_GATEWAY__LOGGING__FORMAT=json); default: the shipped config.toml
  --out DIR             results folder (default bench/results/<UTC timestamp>[-smoke])
  --note TEXT           a line for the results header (e.g. "machine busy with other builds")
  -v, --verbose         show each load run as it happens
EOF
}

SMOKE_SET=()
while [ $# -gt 0 ]; do
    case "$1" in
    --smoke) MODE=smoke ;;
    --duration) DURATION=$2; SMOKE_SET+=(duration); shift ;;
    --repeats) REPEATS=$2; SMOKE_SET+=(repeats); shift ;;
    --warmup) WARMUP=$2; SMOKE_SET+=(warmup); shift ;;
    --json-conc) JSON_CONC=$2; SMOKE_SET+=(jconc); shift ;;
    --stream-conc) STREAM_CONC=$2; SMOKE_SET+=(sconc); shift ;;
    --delay-ms) DELAY_MS=$2; shift ;;
    --store) STORE=$2; shift ;;
    --no-chart) CHART=0 ;;
    --bare-relay) BARE_MODE=() ;;
    --no-build) BUILD=0 ;;
    --gateway-bin) GATEWAY_BIN=$2; shift ;;
    --loadgen) LOADGEN=$2; shift ;;
    --gateway-env) GATEWAY_ENV+=("$2"); shift ;;
    --gateway-config) GATEWAY_CONFIG=$2; shift ;;
    --out) OUT=$2; shift ;;
    --note) NOTE=$2; shift ;;
    -v | --verbose) VERBOSE=1 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "bench: unknown flag $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
case "$LOADGEN" in
"" | oha | wrk) ;;
*) echo "bench: --loadgen must be oha or wrk, not $LOADGEN" >&2; exit 2 ;;
esac
case "$STORE" in
"" | true | false) ;;
*) echo "bench: --store must be true or false, not $STORE" >&2; exit 2 ;;
esac
was_set() { local x; for x in "${SMOKE_SET[@]:-}"; do [ "$x" = "$1" ] && return 0; done; return 1; }
if [ "$MODE" = smoke ]; then
    was_set duration || DURATION=1
    was_set repeats || REPEATS=1
    was_set warmup || WARMUP=0.5
    was_set jconc || JSON_CONC="1 16"
    was_set sconc || STREAM_CONC="1 16"
    CHART=0
    REQ_TIMEOUT=10
fi

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
SUFFIX=""
[ "$MODE" = full ] || SUFFIX=-smoke
[ -n "$OUT" ] || OUT=$BENCH/results/$STAMP$SUFFIX
LOGS=$OUT/logs
RAW=$OUT/raw
mkdir -p "$LOGS" "$RAW"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mastra-bench.XXXXXX")
T0=$(date +%s.%N)
LOADAVG_START=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')
FAILED=0
PIDS=()

say() { echo "[bench] $*"; echo "[$(date -u +%H:%M:%S)] $*" >>"$LOGS/run.log"; }
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
die() {
    say "FAILED: $*"
    exit 1
}

cleanup() {
    local rc=$? pid
    for pid in "${PIDS[@]:-}"; do
        [ -n "$pid" ] || continue
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]:-}"; do
        [ -n "$pid" ] || continue
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi
    done
    rm -rf "$WORK"
    # The gateway logs every request; keep the beginning and the end of a huge log.
    local gw=$LOGS/gateway.log
    if [ -f "$gw" ] && [ "$(stat -c %s "$gw")" -gt 50000000 ]; then
        { head -n 200 "$gw"; echo "... (trimmed by bench/run.sh) ..."; tail -n 2000 "$gw"; } >"$gw.trim"
        mv "$gw.trim" "$gw"
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Runs a command with its output in logs/NAME.log; on failure shows the end of that log.
logged() {
    local name=$1
    shift
    if ! "$@" >"$LOGS/$name.log" 2>&1; then
        tail -n 30 "$LOGS/$name.log" | sed 's/^/    /'
        die "$name (full log: $LOGS/$name.log)"
    fi
}

# Python: the system's (a pyenv shim costs ~1 s per start on a busy machine).
PYTHON=python3
[ ! -x /usr/bin/python3 ] || PYTHON=/usr/bin/python3
free_port() {
    "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_http NAME PID URL [STATUS]: until URL answers STATUS (default 200), for 30 s at most.
wait_http() {
    local name=$1 pid=$2 url=$3 want=${4:-200} code
    for _ in $(seq 300); do
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 20 "$LOGS/$name.log" | sed 's/^/    /'
            die "$name did not start (exited; log: $LOGS/$name.log)"
        fi
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url" || true)
        [ "$code" = "$want" ] && return 0
        sleep 0.1
    done
    tail -n 20 "$LOGS/$name.log" | sed 's/^/    /'
    die "$name did not become ready: $url never answered $want (log: $LOGS/$name.log)"
}

ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

say "mode $MODE: ${REPEATS} repeat(s) x ${DURATION}s per point, JSON c=[$JSON_CONC], stream c=[$STREAM_CONC], fake delay ${DELAY_MS}ms, store ${STORE:-default (stored)}"
say "results in ${OUT#"$ROOT"/}"

# ---------------------------------------------------------------------------------------------
# Prerequisites (installed on first use, then reused)
# ---------------------------------------------------------------------------------------------
TP=$(date +%s.%N)
# oha: the one on the PATH if it is the pinned version, else cargo-installed into
# $BENCH_TOOLS_DIR (default target/bench-tools; point it outside the checkout to keep it across
# fresh clones, e.g. in CI).
TOOLS=${BENCH_TOOLS_DIR:-$ROOT/target/bench-tools}
OHA=""
if command -v oha >/dev/null && oha --version 2>/dev/null | grep -q " $OHA_VERSION\$"; then
    OHA=$(command -v oha)
elif [ -x "$TOOLS/bin/oha" ] && "$TOOLS/bin/oha" --version 2>/dev/null | grep -q " $OHA_VERSION\$"; then
    OHA=$TOOLS/bin/oha
fi
# The smoke (CI) must not spend 5-15 min compiling oha: wrk, unless the pinned oha is at hand.
if [ -z "$LOADGEN" ]; then
    LOADGEN=oha
    [ "$MODE" = full ] || [ -n "$OHA" ] || LOADGEN=wrk
fi
if [ "$LOADGEN" = oha ] && [ -z "$OHA" ]; then
    say "installing oha $OHA_VERSION (cargo install into ${TOOLS#"$ROOT"/}; first run only, ~5-15 min on 2 cores)"
    logged install-oha cargo install oha --locked --version "$OHA_VERSION" --root "$TOOLS"
    OHA=$TOOLS/bin/oha
fi

# Debian packages: nginx (nginx-light) always, wrk when it is the load generator.
NGINX=$(command -v nginx || true)
[ -n "$NGINX" ] || [ ! -x /usr/sbin/nginx ] || NGINX=/usr/sbin/nginx
WRK=$(command -v wrk || true)
APT_PKGS=()
[ -n "$NGINX" ] || APT_PKGS+=(nginx-light)
[ "$LOADGEN" != wrk ] || [ -n "$WRK" ] || APT_PKGS+=(wrk)
if [ "${#APT_PKGS[@]}" -gt 0 ]; then
    say "installing ${APT_PKGS[*]} from Debian's packages"
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO=sudo
    install_apt() {
        # Do not let a package start a system service (nginx on port 80): a policy-rc.d that says no.
        local policy=/usr/sbin/policy-rc.d made=0
        if [ ! -e "$policy" ]; then
            printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null && $SUDO chmod +x "$policy" && made=1
        fi
        local rc=0
        export DEBIAN_FRONTEND=noninteractive
        $SUDO apt-get update -qq &&
            { $SUDO apt-get install -y -qq --no-install-recommends "$@" </dev/null ||
                { [[ " $* " == *" nginx-light "* ]] &&
                    $SUDO apt-get install -y -qq --no-install-recommends "${@/nginx-light/nginx}" </dev/null; }; } || rc=$?
        [ "$made" = 0 ] || $SUDO rm -f "$policy"
        return $rc
    }
    logged install-apt install_apt "${APT_PKGS[@]}"
    NGINX=$(command -v nginx || echo /usr/sbin/nginx)
    WRK=$(command -v wrk || true)
fi
if [ "$LOADGEN" = wrk ] && [ -z "$WRK" ]; then die "no wrk after installing it"; fi

# Cargo's target dir: $CARGO_TARGET_DIR when set (cargo puts the gateway's build there), else
# the checkout's target/.
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR=$PWD/$TARGET_DIR ;; esac
FAKE=$TARGET_DIR/bench-fake-mastra/release/fake-mastra
BARE=$TARGET_DIR/bench-fake-mastra/release/bare-proxy
if [ "$BUILD" = 1 ] || [ ! -x "$FAKE" ] || [ ! -x "$BARE" ]; then
    say "building bench/fake-mastra (release: fake-mastra, bare-proxy)"
    logged build-fake cargo build --release --locked --manifest-path "$BENCH/fake-mastra/Cargo.toml" \
        --target-dir "$TARGET_DIR/bench-fake-mastra"
fi

if [ -n "$GATEWAY_BIN" ]; then
    if [ ! -f "$GATEWAY_BIN" ] || [ ! -x "$GATEWAY_BIN" ]; then
        die "--gateway-bin $GATEWAY_BIN is not an executable"
    fi
    GW=$(cd "$(dirname "$GATEWAY_BIN")" && pwd)/$(basename "$GATEWAY_BIN")
else
    GW=$TARGET_DIR/dist/mastra-gateway
    if [ "$BUILD" = 1 ] || [ ! -x "$GW" ]; then
        say "building the gateway (cargo build --profile dist)"
        logged build-gateway cargo build --profile dist --bin mastra-gateway --manifest-path "$ROOT/Cargo.toml"
    fi
fi

PY=$PYTHON
if [ "$CHART" = 1 ]; then
    VENV=$ROOT/target/bench-venv
    if ! "$VENV/bin/python" -c 'import matplotlib' 2>/dev/null; then
        say "creating target/bench-venv with matplotlib (for the chart)"
        rm -rf "$VENV"
        if { "$PYTHON" -m venv "$VENV" || python3 -m venv --clear "$VENV"; } >"$LOGS/venv.log" 2>&1 &&
            "$VENV/bin/pip" install -q matplotlib >>"$LOGS/venv.log" 2>&1; then :; else
            say "warning: matplotlib could not be installed (see $LOGS/venv.log); no chart"
            CHART=0
        fi
    fi
    [ "$CHART" = 0 ] || PY=$VENV/bin/python
fi
say "prerequisites ready in $(elapsed "$TP")s; load generator: $LOADGEN$([ "$LOADGEN" = oha ] || echo ' (no stream time to first byte: oha only)')"

# ---------------------------------------------------------------------------------------------
# Start the targets
# ---------------------------------------------------------------------------------------------
TS=$(date +%s.%N)
FAKE_PORT=$(free_port)
NGINX_PORT=$(free_port)
BARE_PORT=$(free_port)
REQWEST_PORT=$(free_port)
GW_PORT=$(free_port)
ADMIN_PORT=$(free_port)

"$FAKE" --port "$FAKE_PORT" --delay-ms "$DELAY_MS" >"$LOGS/fake-mastra.log" 2>&1 &
FAKE_PID=$!
PIDS+=("$FAKE_PID")
wait_http fake-mastra "$FAKE_PID" "http://127.0.0.1:$FAKE_PORT/api/agents"

NGX=$WORK/nginx
mkdir -p "$NGX"
chmod 755 "$WORK" "$NGX"
sed -e "s#@NGX@#$NGX#g" -e "s#@LOGS@#$LOGS#g" -e "s#@FAKE_PORT@#$FAKE_PORT#g" \
    -e "s#@NGINX_PORT@#$NGINX_PORT#g" -e "s#@AGENT@#$AGENT#g" "$BENCH/nginx.conf.in" >"$NGX/nginx.conf"
cp "$NGX/nginx.conf" "$LOGS/nginx.conf"
logged nginx-config-test "$NGINX" -t -p "$NGX" -c "$NGX/nginx.conf" -e "$LOGS/nginx-error.log"
"$NGINX" -p "$NGX" -c "$NGX/nginx.conf" -e "$LOGS/nginx-error.log" >"$LOGS/nginx.log" 2>&1 &
NGINX_PID=$!
PIDS+=("$NGINX_PID")
wait_http nginx "$NGINX_PID" "http://127.0.0.1:$NGINX_PORT/api/agents"

# bare-proxy maps /v1/responses to the native /api/agents/$AGENT/stream (other /v1/... to
# /api/v1/...) and passes every other path unchanged. With --buffer (the default here) it reads
# the request whole, and the answer too when the request asked for no stream.
"$BARE" --port "$BARE_PORT" --upstream "127.0.0.1:$FAKE_PORT" --agent "$AGENT" "${BARE_MODE[@]}" >"$LOGS/bare-proxy.log" 2>&1 &
BARE_PID=$!
PIDS+=("$BARE_PID")
wait_http bare-proxy "$BARE_PID" "http://127.0.0.1:$BARE_PORT/api/agents"
"$BARE" --port "$REQWEST_PORT" --upstream "127.0.0.1:$FAKE_PORT" --agent "$AGENT" --reqwest >"$LOGS/bare-proxy-reqwest.log" 2>&1 &
REQWEST_PID=$!
PIDS+=("$REQWEST_PID")
wait_http bare-proxy-reqwest "$REQWEST_PID" "http://127.0.0.1:$REQWEST_PORT/api/agents"

GW_ARGS=(--listen "127.0.0.1:$GW_PORT" --admin-listen "127.0.0.1:$ADMIN_PORT" --upstream "http://127.0.0.1:$FAKE_PORT")
# The shipped config.toml (all defaults, info logging) unless told otherwise. The gateway runs in
# the temp folder so that it picks up no ./config.toml by itself.
[ "$GATEWAY_CONFIG" != default ] || GATEWAY_CONFIG=$ROOT/config.toml
if [ "$GATEWAY_CONFIG" != none ]; then
    [ -f "$GATEWAY_CONFIG" ] || die "no gateway config file $GATEWAY_CONFIG"
    GATEWAY_CONFIG=$(cd "$(dirname "$GATEWAY_CONFIG")" && pwd)/$(basename "$GATEWAY_CONFIG")
    GW_ARGS=(--config "$GATEWAY_CONFIG" "${GW_ARGS[@]}")
fi
(cd "$WORK" && exec env "${GATEWAY_ENV[@]}" "$GW" "${GW_ARGS[@]}") >"$LOGS/gateway.log" 2>&1 &
GW_PID=$!
PIDS+=("$GW_PID")
wait_http gateway "$GW_PID" "http://127.0.0.1:$ADMIN_PORT/readyz"
say "started fake-mastra :$FAKE_PORT (pid $FAKE_PID), nginx :$NGINX_PORT (pid $NGINX_PID), bare-proxy :$BARE_PORT (pid $BARE_PID), bare-proxy --reqwest :$REQWEST_PORT (pid $REQWEST_PID), gateway :$GW_PORT admin :$ADMIN_PORT (pid $GW_PID) in $(elapsed "$TS")s"

declare -A URL=(
    [direct]="http://127.0.0.1:$FAKE_PORT/api/agents/$AGENT/stream"
    [nginx]="http://127.0.0.1:$NGINX_PORT/v1/responses"
    [gateway]="http://127.0.0.1:$GW_PORT/v1/responses"
    [bare]="http://127.0.0.1:$BARE_PORT/v1/responses"
    [reqwest]="http://127.0.0.1:$REQWEST_PORT/v1/responses"
)
TARGETS=(direct nginx gateway bare reqwest)
NT=${#TARGETS[@]}
STORE_FIELD=""
[ -z "$STORE" ] || STORE_FIELD=",\"store\":$STORE"
BODY_json="{\"model\":\"$AGENT\",\"input\":\"What is the weather in Rome today?\"$STORE_FIELD}"
# shellcheck disable=SC2034 # read as ${!body_var}
BODY_stream="{\"model\":\"$AGENT\",\"input\":\"What is the weather in Rome today?\"$STORE_FIELD,\"stream\":true}"
# What each target answers: the gateway OpenAI's shapes (a Response JSON, or Responses SSE);
# the fake and the floors Mastra's native chunk stream to either kind of request.
declare -A SHAPE=([direct]=native [nginx]=native [gateway]=openai [bare]=native [reqwest]=native)

stats() { curl -s --max-time 5 "http://127.0.0.1:$FAKE_PORT/__bench/stats"; }
# counter JSON KEY: one counter of a /__bench/stats answer (0 when absent).
counter() {
    local v=${1#*\""$2"\":}
    [ "$v" != "$1" ] || { echo 0; return; }
    echo "${v%%[,\}]*}"
}

# One request of each kind through each target, checking the answer's shape; its size is what
# every answer of the load must have (a truncated or failed stream is shorter).
declare -A SIZE
for t in "${TARGETS[@]}"; do
    for kind in json stream; do
        body_var=BODY_$kind
        out=$(curl -sN --max-time 10 -w '\n%{http_code}' -H 'content-type: application/json' -d "${!body_var}" "${URL[$t]}" || true)
        code=${out##*$'\n'}
        body=${out%$'\n'*}
        if [ "${SHAPE[$t]}" = native ]; then
            [[ "$body" == 'data: {"type":"start"'* && "$body" == *$'\n\ndata: {"type":"finish"'*$'\n\ndata: [DONE]\n\n' ]] && ok=1 || ok=0
        elif [ "$kind" = json ]; then
            [[ "$body" == *'"object":"response"'* && "$body" == *'"status":"completed"'* ]] && ok=1 || ok=0
        else
            [[ "$body" == *'event: response.completed'* ]] && ok=1 || ok=0
        fi
        if [ "$code" != 200 ] || [ "$ok" = 0 ]; then
            echo "$out" | head -c 600 >&2
            die "sanity check: $kind POST through $t answered HTTP $code, not a complete ${SHAPE[$t]} answer"
        fi
        SIZE[$kind-$t]=$(printf '%s' "$body" | wc -c)
    done
done
s0=$(stats)
out=$(curl -s -H 'content-type: application/json' -d "$BODY_json" "${URL[gateway]}")
s1=$(stats)
[[ "$out" == *'"id":"resp_'* ]] || die "sanity check: the gateway did not translate the response (no resp_ id)"
delta() { echo $(($(counter "$s1" "$1") - $(counter "$s0" "$1"))); }
say "sanity check passed (each target answers JSON and SSE; the gateway translates)"
say "one gateway JSON turn called upstream: native stream $(delta agent_stream), save-messages $(delta save_messages), v1 responses $(($(delta responses_json) + $(delta responses_stream))), other $(($(delta agents) + $(delta responses_get) + $(delta other)))"

# ---------------------------------------------------------------------------------------------
# Gateway process probes
# ---------------------------------------------------------------------------------------------
CLK_TCK=$(getconf CLK_TCK)
cpu_ticks() { # utime + stime of the gateway, in clock ticks
    local stat
    stat=$(<"/proc/$GW_PID/stat")
    stat=${stat##*) }
    # shellcheck disable=SC2086
    set -- $stat
    echo $((${12} + ${13}))
}
status_kb() { # VmRSS / VmHWM of the gateway, in kB
    local k v _
    while read -r k v _; do
        [ "$k" = "$1:" ] && { echo "$v"; return; }
    done <"/proc/$GW_PID/status"
    echo 0
}
reset_hwm() { echo 5 >"/proc/$GW_PID/clear_refs" 2>/dev/null || true; }

sleep 0.5
IDLE_RSS_KB=$(status_kb VmRSS)
say "gateway idle RSS $((IDLE_RSS_KB / 1024)) MB"

ms() { awk -v s="$1" 'BEGIN { m = int(s * 1000 + 0.5); print (m < 1 ? 1 : m) }'; }

# load_run KIND CONC SECONDS TARGET OUTFILE: one load run with $LOADGEN; OUTFILE gets its JSON
# (oha's --output-format json, or bench/wrk.lua's oha-shaped line).
load_run() {
    local kind=$1 c=$2 secs=$3 t=$4 out=$5 body_var=BODY_$1
    if [ "$LOADGEN" = oha ]; then
        "$OHA" --no-tui --output-format json -z "$(ms "$secs")ms" -c "$c" -w -t "${REQ_TIMEOUT}s" \
            -m POST -H 'content-type: application/json' -d "${!body_var}" "${URL[$t]}" \
            >"$out" 2>"$out.err" || { echo "oha exited $?" >>"$out.err"; return 1; }
    else
        # wrk takes whole seconds; one thread per core at most, never more than connections.
        local threads=$((c < $(nproc) ? c : $(nproc))) whole
        whole=$(awk -v s="$secs" 'BEGIN { w = int(s); if (w < s) w++; print (w < 1 ? 1 : w) }')
        WRK_BODY=${!body_var} "$WRK" -t "$threads" -c "$c" -d "${whole}s" --timeout "${REQ_TIMEOUT}s" \
            -s "$BENCH/wrk.lua" "${URL[$t]}" -- "$kind" "${SIZE[$kind-$t]}" "${SHAPE[$t]}" \
            >"$out.txt" 2>"$out.err" || { echo "wrk exited $?" >>"$out.err"; return 1; }
        grep '^{"loadgen":"wrk"' "$out.txt" >"$out" || { echo "no JSON line from bench/wrk.lua" >>"$out.err"; return 1; }
    fi
}

check() { # check FILE LABEL [BYTES]: a failed check is remembered, the run goes on
    local msg
    if ! msg=$("$PYTHON" "$BENCH/report.py" check "$1" "${3:-}" 2>&1); then
        say "FAILED: $2: $msg"
        FAILED=$((FAILED + 1))
    fi
}

# ---------------------------------------------------------------------------------------------
# Load
# ---------------------------------------------------------------------------------------------
TL=$(date +%s.%N)
for kind in json stream; do
    if [ "$kind" = json ]; then concs=$JSON_CONC; else concs=$STREAM_CONC; fi
    for t in "${TARGETS[@]}"; do
        f=$RAW/warmup-$kind-$t.json
        load_run "$kind" 16 "$WARMUP" "$t" "$f" || true
        check "$f" "warm-up $kind through $t" "${SIZE[$kind-$t]}"
    done
    say "$kind: warmed up; points c=[$concs]"
    for c in $concs; do
        for r in $(seq "$REPEATS"); do
            # Rotate the order of the targets from repeat to repeat.
            order=("${TARGETS[@]:$(((r - 1) % NT))}" "${TARGETS[@]:0:$(((r - 1) % NT))}")
            for t in "${order[@]}"; do
                f=$RAW/$kind-c$c-r$r-$t.json
                if [ "$t" = gateway ]; then
                    reset_hwm
                    stats0=$(stats)
                    ticks0=$(cpu_ticks)
                fi
                load_run "$kind" "$c" "$DURATION" "$t" "$f" || true
                if [ "$t" = gateway ]; then
                    ticks1=$(cpu_ticks)
                    stats1=$(stats)
                    # The fake's counters before and after (report.py: calls per request by route).
                    printf '{"cpu_ticks":%d,"clk_tck":%d,"hwm_kb":%d,"rss_kb":%d,"upstream_before":%s,"upstream_after":%s}\n' \
                        $((ticks1 - ticks0)) "$CLK_TCK" "$(status_kb VmHWM)" "$(status_kb VmRSS)" \
                        "${stats0:-null}" "${stats1:-null}" >"$RAW/$kind-c$c-r$r-$t.proc.json"
                fi
                check "$f" "$kind c=$c repeat $r through $t" "${SIZE[$kind-$t]}"
                [ "$VERBOSE" = 0 ] || "$PYTHON" "$BENCH/report.py" line "$f" "$t"
            done
        done
        say "$kind c=$c done ($(elapsed "$TL")s into the load)"
    done
done
LOAD_SECS=$(elapsed "$TL")
AFTER_RSS_KB=$(status_kb VmRSS)
kill -0 "$GW_PID" 2>/dev/null || { FAILED=$((FAILED + 1)); say "FAILED: the gateway exited during the run"; }
kill -0 "$NGINX_PID" 2>/dev/null || { FAILED=$((FAILED + 1)); say "FAILED: nginx exited during the run"; }
kill -0 "$BARE_PID" 2>/dev/null || { FAILED=$((FAILED + 1)); say "FAILED: bare-proxy exited during the run"; }
kill -0 "$REQWEST_PID" 2>/dev/null || { FAILED=$((FAILED + 1)); say "FAILED: bare-proxy --reqwest exited during the run"; }
kill -0 "$FAKE_PID" 2>/dev/null || { FAILED=$((FAILED + 1)); say "FAILED: the fake Mastra exited during the run"; }

# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------
REPRO="bash bench/run.sh"
[ "$MODE" = full ] || REPRO+=" --smoke"
REPRO+=" --loadgen $LOADGEN"
[ "$DELAY_MS" = 0 ] || REPRO+=" --delay-ms $DELAY_MS"
[ -z "$STORE" ] || REPRO+=" --store $STORE"
[ "${#BARE_MODE[@]}" -gt 0 ] || REPRO+=" --bare-relay"
[ -z "$GATEWAY_BIN" ] || REPRO+=" --gateway-bin $GATEWAY_BIN"
[ "$GATEWAY_CONFIG" = "$ROOT/config.toml" ] || REPRO+=" --gateway-config ${GATEWAY_CONFIG#"$ROOT"/}"
for e in "${GATEWAY_ENV[@]}"; do REPRO+=" --gateway-env $e"; done
for s in "${SMOKE_SET[@]:-}"; do
    case "$s" in
    duration) REPRO+=" --duration $DURATION" ;;
    repeats) REPRO+=" --repeats $REPEATS" ;;
    warmup) REPRO+=" --warmup $WARMUP" ;;
    jconc) REPRO+=" --json-conc \"$JSON_CONC\"" ;;
    sconc) REPRO+=" --stream-conc \"$STREAM_CONC\"" ;;
    esac
done
if [ "$LOADGEN" = oha ]; then
    LOADGEN_V=$("$OHA" --version 2>/dev/null | head -n1 || true)
else
    LOADGEN_V="wrk $({ "$WRK" -v 2>&1 || true; } | awk 'NR == 1 { print $2 }') (bench/wrk.lua)"
fi
NGINX_V=$("$NGINX" -v 2>&1 | head -n1 || true)
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$ROOT" diff --quiet HEAD -- 2>/dev/null || COMMIT+="+dirty"
export B_MODE=$MODE B_DURATION=$DURATION B_REPEATS=$REPEATS B_WARMUP=$WARMUP \
    B_JSON_CONC=$JSON_CONC B_STREAM_CONC=$STREAM_CONC B_DELAY=$DELAY_MS B_STORE=$STORE B_BARE_MODE=${BARE_MODE[*]:-relay} B_NOTE=$NOTE \
    B_IDLE_RSS_KB=$IDLE_RSS_KB B_AFTER_RSS_KB=$AFTER_RSS_KB B_LOAD_SECS=$LOAD_SECS B_REPRO=$REPRO \
    B_LOADGEN=$LOADGEN B_LOADGEN_V=$LOADGEN_V B_NGINX=$NGINX_V B_COMMIT=$COMMIT \
    B_GW_BIN=${GW#"$ROOT"/} B_GW_ENV="${GATEWAY_ENV[*]}" B_GW_CONFIG=${GATEWAY_CONFIG#"$ROOT"/} B_LOADAVG_START=$LOADAVG_START B_FAILED=$FAILED B_STAMP=$STAMP
CHART_FLAG=()
[ "$CHART" = 1 ] && CHART_FLAG=(--chart)
"$PY" "$BENCH/report.py" report "$OUT" "${CHART_FLAG[@]}" || { FAILED=$((FAILED + 1)); say "FAILED: the report"; }

say "total $(elapsed "$T0")s (load $LOAD_SECS s); results: ${OUT#"$ROOT"/}/results.md"
say "reproduce: $REPRO"
if [ "$FAILED" -gt 0 ]; then
    say "$FAILED check(s) failed; see above and ${LOGS#"$ROOT"/}/"
    exit 1
fi
say "all checks passed"
