#!/usr/bin/env bash
# Stream soak (issue 5): N concurrent open SSE streams through the gateway against the fake
# Mastra with a delay, all held open at once for ~--stream-secs; reports the gateway's idle RSS,
# peak RSS (VmHWM) and open fds, and that every stream completed (HTTP 200, chunked body ending
# with the terminal chunk, last event response.completed, same number of events as the others).
#
#   bash bench/soak.sh                          10,000 streams of ~25 s each
#   bash bench/soak.sh --streams 2000 --stream-secs 10
#   bash bench/soak.sh --proto h2c              the streams multiplexed over h2c connections
#   bash bench/soak.sh --proxy bare             the same soak through bench's bare-proxy: the
#                                               memory floor of the stack (hyper + hyper-util)
#   bash bench/soak.sh --proxy reqwest          through bare-proxy --reqwest: the floor of a
#                                               gateway whose upstream client is reqwest
#   bash bench/soak.sh --help
#
# Results go to bench/results/<UTC timestamp>-soak/ (soak.md, soak.json, samples.csv, logs/).
# The client is bench/soak_client.py (Python standard library only).
set -euo pipefail
export PYTHONDONTWRITEBYTECODE=1

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench

STREAMS=10000
STREAM_SECS=25
DELAY_MS=1000
DELTAS=24
PROTO=auto
GATEWAY_BIN=""
PROXY=gateway
GATEWAY_CONFIG=default
GATEWAY_ENV=()
OUT=""
IDLE_AFTER=5
CONNECT_PARALLEL=64

usage() {
    sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    cat <<'EOF'

Flags:
  --streams N          concurrent streams (default 10000)
  --stream-secs S      how long each stream lasts: the fake waits --delay-ms before the response
                       head, then spaces its events evenly over the rest (default 25)
  --delay-ms N         the fake's delay before the first byte (default 1000)
  --deltas N           the fake's text delta events per stream (default 24; 8 more events frame them)
  --proto h1|h2c|auto  h1: one HTTP/1.1 connection per stream (what SDKs do), so the gateway holds
                       2 fds per stream (client + upstream); h2c: the client multiplexes the streams
                       over h2c connections (the gateway still opens one upstream connection per
                       stream). auto (default): h1 if the gateway's open-files limit fits 2N+200
                       fds, else h2c (and it says why)
  --proxy gateway|bare|reqwest
                       what holds the streams: the gateway (default), or bench's bare-proxy
                       (relays the fake's bytes untranslated; no admin port, so no open_streams
                       gauge): what the same streams cost the stack itself; reqwest: bare-proxy
                       --reqwest, the same through a reqwest client as the gateway's
  --gateway-bin PATH   the gateway binary (default target/release/mastra-gateway; built with
                       cargo build --release --locked if missing)
  --gateway-config P   config file, or "none" for built-in defaults (default: the checkout's config.toml)
  --connect-parallel N  HTTP/1.1 connects the client has in flight at once (default 64; more
                       overflows the gateway's accept backlog, and dropped SYNs slow the ramp)
  --gateway-env K=V    extra environment for the gateway, repeatable (e.g. MALLOC_ARENA_MAX=2)
  --idle-after S       seconds to wait after the last stream before the "idle after" RSS (default 5)
  --out DIR            results folder (default bench/results/<UTC timestamp>-soak)
EOF
}

while [ $# -gt 0 ]; do
    case "$1" in
    --streams) STREAMS=$2; shift ;;
    --stream-secs) STREAM_SECS=$2; shift ;;
    --delay-ms) DELAY_MS=$2; shift ;;
    --deltas) DELTAS=$2; shift ;;
    --proto) PROTO=$2; shift ;;
    --gateway-bin) GATEWAY_BIN=$2; shift ;;
    --proxy) PROXY=$2; shift ;;
    --gateway-config) GATEWAY_CONFIG=$2; shift ;;
    --gateway-env) GATEWAY_ENV+=("$2"); shift ;;
    --idle-after) IDLE_AFTER=$2; shift ;;
    --connect-parallel) CONNECT_PARALLEL=$2; shift ;;
    --out) OUT=$2; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "soak: unknown flag $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
case "$PROTO" in h1 | h2c | auto) ;; *) echo "soak: --proto must be h1, h2c or auto" >&2; exit 2 ;; esac
case "$PROXY" in gateway | bare | reqwest) ;; *) echo "soak: --proxy must be gateway, bare or reqwest" >&2; exit 2 ;; esac

# shellcheck source=bench/lib.sh
. "$BENCH/lib.sh"
bench_start soak soak
wait_http() {
    local name=$1 pid=$2 url=$3 code
    for _ in $(seq 300); do
        kill -0 "$pid" 2>/dev/null || { tail -n 20 "$LOGS/$name.log"; die "$name exited (log: $LOGS/$name.log)"; }
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url" || true)
        [ "$code" = 200 ] && return 0
        sleep 0.1
    done
    die "$name did not become ready ($url)"
}
status_kb() { # status_kb PID FIELD
    local k v _
    while read -r k v _; do [ "$k" = "$2:" ] && { echo "$v"; return; }; done <"/proc/$1/status"
    echo 0
}

# Every process started here inherits the hard open-files limit (the gateway needs ~2 per stream).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)
NEED_H1=$((2 * STREAMS + 200))
if [ "$PROTO" = auto ]; then
    if [ "$NOFILE" = unlimited ] || [ "$NOFILE" -ge "$NEED_H1" ]; then
        PROTO=h1
    else
        PROTO=h2c
        say "open-files limit here is $NOFILE (hard; raising it needs CAP_SYS_RESOURCE); $STREAMS HTTP/1.1 streams need ~$NEED_H1 in the gateway (a client and an upstream connection each), so the client multiplexes them over h2c (--proto h1 --streams $(((NOFILE - 200) / 2)) fits)"
    fi
fi
if [ "$PROTO" = h1 ] && [ "$NOFILE" != unlimited ] && [ "$NOFILE" -lt "$NEED_H1" ]; then
    die "--proto h1 with $STREAMS streams needs ~$NEED_H1 open files in the gateway; the limit is $NOFILE (try --streams $(((NOFILE - 200) / 2)) or --proto h2c)"
fi
PORT_LO=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range)
PORT_HI=$(cut -f2 /proc/sys/net/ipv4/ip_local_port_range)
if [ $((PORT_HI - PORT_LO)) -lt $((STREAMS + 1000)) ]; then
    say "warning: the ephemeral port range $PORT_LO-$PORT_HI is small for $STREAMS upstream connections"
fi

# Build what is missing.
build_fake
if [ "$PROXY" != gateway ]; then
    GW=$BARE
elif [ -n "$GATEWAY_BIN" ]; then
    GW=$(cd "$(dirname "$GATEWAY_BIN")" && pwd)/$(basename "$GATEWAY_BIN")
else
    GW=$ROOT/target/release/mastra-gateway
    if [ ! -x "$GW" ]; then
        say "building the gateway (cargo build --release --locked)"
        cargo build --release --locked --manifest-path "$ROOT/Cargo.toml" >"$LOGS/build-gateway.log" 2>&1 ||
            die "gateway build (log: $LOGS/build-gateway.log)"
    fi
fi
[ -x "$GW" ] || die "no gateway binary at $GW"

# The fake: delay before the head, then 8 + DELTAS events spread over the rest of --stream-secs.
EVENTS_UP=$((8 + DELTAS))
GAP_MS=$(((STREAM_SECS * 1000 - DELAY_MS) / (EVENTS_UP - 1)))
[ "$GAP_MS" -ge 0 ] || GAP_MS=0
FAKE_PORT=$(free_port)
GW_PORT=$(free_port)
ADMIN_PORT=$(free_port)
"$FAKE" --port "$FAKE_PORT" --delay-ms "$DELAY_MS" --stream-gap-ms "$GAP_MS" --deltas "$DELTAS" >"$LOGS/fake-mastra.log" 2>&1 &
FAKE_PID=$!
PIDS+=("$FAKE_PID")
wait_http fake-mastra "$FAKE_PID" "http://127.0.0.1:$FAKE_PORT/api/agents"

GW_ARGS=(--listen "127.0.0.1:$GW_PORT" --admin-listen "127.0.0.1:$ADMIN_PORT" --upstream "http://127.0.0.1:$FAKE_PORT")
[ "$GATEWAY_CONFIG" != default ] || GATEWAY_CONFIG=$ROOT/config.toml
if [ "$GATEWAY_CONFIG" != none ]; then
    GATEWAY_CONFIG=$(cd "$(dirname "$GATEWAY_CONFIG")" && pwd)/$(basename "$GATEWAY_CONFIG")
    GW_ARGS=(--config "$GATEWAY_CONFIG" "${GW_ARGS[@]}")
fi
# Room for all client connections (the default cap is 10,000), and no idle upstream connection
# kept beyond the default pool.
GW_ENV=(MASTRA_GATEWAY__SERVER__MAX_CONNECTIONS=$((STREAMS + 1000)) "${GATEWAY_ENV[@]}")
METRICS=(--metrics "http://127.0.0.1:$ADMIN_PORT/metrics")
if [ "$PROXY" != gateway ]; then
    BARE_ARGS=()
    [ "$PROXY" = bare ] || BARE_ARGS=(--reqwest)
    (cd "$WORK" && exec "$GW" --port "$GW_PORT" --upstream "127.0.0.1:$FAKE_PORT" "${BARE_ARGS[@]}") >"$LOGS/gateway.log" 2>&1 &
    GW_PID=$!
    PIDS+=("$GW_PID")
    wait_http bare-proxy "$GW_PID" "http://127.0.0.1:$GW_PORT/api/agents"
    METRICS=()
else
    (cd "$WORK" && exec env "${GW_ENV[@]}" "$GW" "${GW_ARGS[@]}") >"$LOGS/gateway.log" 2>&1 &
    GW_PID=$!
    PIDS+=("$GW_PID")
    wait_http gateway "$GW_PID" "http://127.0.0.1:$ADMIN_PORT/readyz"
fi
say "fake-mastra :$FAKE_PORT (delay ${DELAY_MS} ms, ${EVENTS_UP} events ${GAP_MS} ms apart: ~$(((DELAY_MS + GAP_MS * (EVENTS_UP - 1)) / 1000)) s per stream), gateway :$GW_PORT (pid $GW_PID), open-files limit $NOFILE"

sleep 1
IDLE_KB=$(status_kb "$GW_PID" VmRSS)
say "gateway idle RSS $(awk -v k="$IDLE_KB" 'BEGIN { printf "%.1f", k / 1024 }') MB (after start, before any request)"
echo 5 >"/proc/$GW_PID/clear_refs" 2>/dev/null || true

say "opening $STREAMS streams ($PROTO) ..."
RC=0
"$PYTHON" "$BENCH/soak_client.py" --url "http://127.0.0.1:$GW_PORT/v1/responses" --streams "$STREAMS" \
    --proto "$PROTO" --pid "$GW_PID" "${METRICS[@]}" \
    --connect-parallel "$CONNECT_PARALLEL" --timeout $((STREAM_SECS + 120)) --out "$OUT" >"$LOGS/client.log" 2>&1 || RC=$?
[ -s "$OUT/soak.json" ] || { tail -n 30 "$LOGS/client.log"; die "the soak client wrote no result (log: $LOGS/client.log)"; }
HWM_KB=$(status_kb "$GW_PID" VmHWM)
say "all streams ended; waiting ${IDLE_AFTER}s for the idle-after RSS"
sleep "$IDLE_AFTER"
AFTER_KB=$(status_kb "$GW_PID" VmRSS)
kill -0 "$GW_PID" 2>/dev/null || { RC=1; say "FAILED: the gateway exited"; }
UPSTREAM=$(curl -s --max-time 5 "http://127.0.0.1:$FAKE_PORT/__bench/stats" || echo '{}')

COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$ROOT" diff --quiet HEAD -- 2>/dev/null || COMMIT+="+dirty"
REPRO="bash bench/soak.sh --streams $STREAMS --stream-secs $STREAM_SECS --delay-ms $DELAY_MS --proto $PROTO"
[ "$PROXY" = gateway ] || REPRO+=" --proxy $PROXY"
[ -z "$GATEWAY_BIN" ] || REPRO+=" --gateway-bin $GATEWAY_BIN"
for e in "${GATEWAY_ENV[@]}"; do REPRO+=" --gateway-env $e"; done
export S_IDLE_KB=$IDLE_KB S_HWM_KB=$HWM_KB S_AFTER_KB=$AFTER_KB S_UPSTREAM=$UPSTREAM S_COMMIT=$COMMIT \
    S_REPRO=$REPRO S_PROXY=$PROXY S_GW=${GW#"$ROOT"/} S_NOFILE=$NOFILE S_STAMP=$STAMP S_GAP=$GAP_MS S_DELAY=$DELAY_MS \
    S_EVENTS_UP=$EVENTS_UP
"$PYTHON" - "$OUT" <<'PY' || RC=1
import json, os, sys
out = sys.argv[1]
e = os.environ
d = json.load(open(os.path.join(out, "soak.json")))
up = json.loads(e.get("S_UPSTREAM") or "{}")
idle, hwm, after = (int(e[k]) / 1024 for k in ("S_IDLE_KB", "S_HWM_KB", "S_AFTER_KB"))
cpu = os.cpu_count()
who = {"bare": "bare-proxy", "reqwest": "bare-proxy --reqwest"}.get(e["S_PROXY"], "gateway")
model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
n = d["streams"]
g = d["gateway_peak"]
per_stream_kb = (hwm - idle) * 1024 / n if n else 0
lines = [
    f"# mastra-gateway stream soak, {e['S_STAMP']}",
    "",
    f"- machine: {cpu} CPU(s), {model}; load average now {' '.join(open('/proc/loadavg').read().split()[:3])}",
    f"- {who}: `{e['S_GW']}` (commit {e['S_COMMIT']}), open-files limit {e['S_NOFILE']}",
    f"- fake Mastra: {e['S_DELAY']} ms before the head, {e['S_EVENTS_UP']} events {e['S_GAP']} ms apart",
    f"- client: bench/soak_client.py, {d['proto']}"
    + (f" over {d['h2_connections']} connection(s)" if d.get("h2_connections") else ", one connection per stream"),
    f"- reproduce: `{e['S_REPRO']}`",
    "",
    "| what | value |",
    "|---|---|",
    f"| streams opened / completed / failed | {n:,} / {d['completed']:,} / {d['failed']:,} |",
    f"| failures by reason | {d['failures'] or 'none'} |",
    f"| most streams open at once (client: head received, not ended) | {d['max_concurrent_streaming_client']:,} |",
    f"| most streams open at once (gateway's open_streams gauge) | {g['open_streams_gauge']:,.0f} |" if g.get("open_streams_gauge") is not None else "| gateway open_streams gauge | – |",
    f"| events per stream (min / max) | {d['events_per_stream']['min']} / {d['events_per_stream']['max']} |",
    f"| stream duration p50 / p99 / max | {d['stream_duration_s']['p50']} / {d['stream_duration_s']['p99']} / {d['stream_duration_s']['max']} s |",
    f"| all heads received after / first stream done after | {d['ramp_s_last_head']} s / {d['first_complete_s']} s |",
    f"| **{who} RSS idle** (after start, before any request) | **{idle:.1f} MB** |",
    f"| **{who} peak RSS** (VmHWM during the soak) | **{hwm:.1f} MB** |",
    f"| {who} RSS after the soak (idle again) | {after:.1f} MB |",
    f"| {who} peak open fds / threads | {g['fds']:,} / {g['threads']} |",
    f"| peak RSS over idle, per stream | {per_stream_kb:.1f} KB |",
    f"| upstream calls (fake's counters) | {up} |",
    "",
]
md = "\n".join(lines)
open(os.path.join(out, "soak.md"), "w").write(md)
d["gateway_rss_mb"] = {"idle": round(idle, 1), "peak_hwm": round(hwm, 1), "after": round(after, 1)}
d["upstream"] = up
json.dump(d, open(os.path.join(out, "soak.json"), "w"), indent=1)
print(md)
sys.exit(0 if d["failed"] == 0 else 1)
PY
if [ "$RC" != 0 ]; then
    say "FAILED: not every stream completed (see $OUT/soak.md, $LOGS/client.log)"
    exit 1
fi
say "all $STREAMS streams completed; results: ${OUT#"$ROOT"/}/soak.md"
