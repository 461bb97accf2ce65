#!/usr/bin/env bash
# End-to-end point through the real Mastra fixture (issue 5):
#   1. the same non-streaming request straight to Mastra's POST /api/v1/responses and through the
#      gateway's POST /v1/responses, interleaved at concurrency 1 (after a warm-up): p50/p99 of
#      both and what the gateway adds (target: <= 3 % of Mastra's own latency);
#   2. a steady conversation through a second gateway whose upstream is a counting proxy
#      (bench/count_proxy.py): one POST /v1/conversations, then K turns on it, and the upstream
#      calls each turn cost (target: exactly 1 per turn).
#
#   bash bench/e2e-mastra.sh                      500 requests per path, 50 turns
#   bash bench/e2e-mastra.sh --n 200 --turns 20
#   bash bench/e2e-mastra.sh --help
#
# Needs node (+ npm ci of tests/fixtures/mastra, done here when node_modules is missing) and
# python3 (standard library). Results: bench/results/<UTC timestamp>-e2e/ (e2e.md, e2e.json,
# latency.csv, logs/).
set -euo pipefail
export PYTHONDONTWRITEBYTECODE=1

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
FIXTURE=$ROOT/tests/fixtures/mastra

N=500
WARMUP=50
TURNS=50
GAP_MS=0
AGENT=echo-agent
GATEWAY_BIN=""
GATEWAY_CONFIG=default
GATEWAY_ENV=()
OUT=""

usage() {
    sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    cat <<'EOF'

Flags:
  --n N                 requests per path in the latency run (default 500), interleaved
  --warmup N            warm-up requests per path (default 50)
  --turns K             conversation turns (default 50)
  --gap-ms MS           idle time before each request of the latency run (default 0)
  --agent ID            the fixture's agent (default echo-agent)
  --gateway-bin PATH    the gateway binary (default target/release/mastra-gateway; built with
                        cargo build --release --locked if missing)
  --gateway-config P    config file, or "none" for built-in defaults (default: the checkout's config.toml)
  --gateway-env K=V     extra environment for both gateways, repeatable (e.g. RUST_LOG=warn)
  --out DIR             results folder (default bench/results/<UTC timestamp>-e2e)
EOF
}

while [ $# -gt 0 ]; do
    case "$1" in
    --n) N=$2; shift ;;
    --warmup) WARMUP=$2; shift ;;
    --turns) TURNS=$2; shift ;;
    --gap-ms) GAP_MS=$2; shift ;;
    --agent) AGENT=$2; shift ;;
    --gateway-bin) GATEWAY_BIN=$2; shift ;;
    --gateway-config) GATEWAY_CONFIG=$2; shift ;;
    --gateway-env) GATEWAY_ENV+=("$2"); shift ;;
    --out) OUT=$2; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "e2e: unknown flag $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

# shellcheck source=bench/lib.sh
. "$BENCH/lib.sh"
bench_start e2e e2e
# wait_line NAME PID LOG PATTERN: until LOG has PATTERN (60 s at most)
wait_line() {
    local name=$1 pid=$2 log=$3 pattern=$4
    for _ in $(seq 600); do
        grep -q "$pattern" "$log" 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || { tail -n 20 "$log"; die "$name exited (log: $log)"; }
        sleep 0.1
    done
    tail -n 20 "$log"
    die "$name printed no '$pattern' within 60 s (log: $log)"
}
wait_ready() {
    local name=$1 pid=$2 url=$3 code
    for _ in $(seq 300); do
        kill -0 "$pid" 2>/dev/null || { tail -n 20 "$LOGS/$name.log"; die "$name exited (log: $LOGS/$name.log)"; }
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url" || true)
        [ "$code" = 200 ] && return 0
        sleep 0.1
    done
    die "$name did not become ready ($url)"
}

command -v node >/dev/null || die "node is needed for the Mastra fixture"
if [ ! -d "$FIXTURE/node_modules" ]; then
    say "npm ci in tests/fixtures/mastra"
    (cd "$FIXTURE" && npm ci --no-audit --no-fund --loglevel=error) >"$LOGS/npm-ci.log" 2>&1 ||
        { tail -n 20 "$LOGS/npm-ci.log"; die "npm ci (log: $LOGS/npm-ci.log)"; }
fi
if [ -n "$GATEWAY_BIN" ]; then
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

MASTRA_PORT=$(free_port)
node "$FIXTURE/server.mjs" --port "$MASTRA_PORT" --db :memory: >"$LOGS/mastra.log" 2>&1 &
MASTRA_PID=$!
PIDS+=("$MASTRA_PID")
wait_line mastra "$MASTRA_PID" "$LOGS/mastra.log" MASTRA_LAB_READY
say "Mastra fixture: $(grep -m1 MASTRA_LAB_READY "$LOGS/mastra.log") (pid $MASTRA_PID)"

"$PYTHON" -u "$BENCH/count_proxy.py" --upstream "127.0.0.1:$MASTRA_PORT" >"$LOGS/count-proxy.log" 2>&1 &
PROXY_PID=$!
PIDS+=("$PROXY_PID")
wait_line count-proxy "$PROXY_PID" "$LOGS/count-proxy.log" 'count-proxy listening'
read -r PROXY_ADDR CONTROL_ADDR < <(sed -n 's/^count-proxy listening on \([^ ]*\) control on \([^ ]*\)$/\1 \2/p' "$LOGS/count-proxy.log")

[ "$GATEWAY_CONFIG" != default ] || GATEWAY_CONFIG=$ROOT/config.toml
CONFIG_ARGS=()
if [ "$GATEWAY_CONFIG" != none ]; then
    GATEWAY_CONFIG=$(cd "$(dirname "$GATEWAY_CONFIG")" && pwd)/$(basename "$GATEWAY_CONFIG")
    CONFIG_ARGS=(--config "$GATEWAY_CONFIG")
fi
declare -A GW_PORT
start_gateway() { # NAME UPSTREAM_URL -> sets GW_PORT[NAME]
    local name=$1 upstream=$2 port admin pid
    port=$(free_port)
    admin=$(free_port)
    (cd "$WORK" && exec env "${GATEWAY_ENV[@]}" "$GW" "${CONFIG_ARGS[@]}" --listen "127.0.0.1:$port" \
        --admin-listen "127.0.0.1:$admin" --upstream "$upstream") >"$LOGS/$name.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    wait_ready "$name" "$pid" "http://127.0.0.1:$admin/readyz"
    GW_PORT[$name]=$port
    say "$name :$port (pid $pid) -> $upstream"
}
start_gateway gateway "http://127.0.0.1:$MASTRA_PORT"
start_gateway gateway-counted "http://$PROXY_ADDR"

say "latency: $N requests per path after $WARMUP warm-up, interleaved; then $TURNS conversation turns"
RC=0
"$PYTHON" "$BENCH/e2e_client.py" --mastra "http://127.0.0.1:$MASTRA_PORT" \
    --gateway "http://127.0.0.1:${GW_PORT[gateway]}" --gateway-counted "http://127.0.0.1:${GW_PORT[gateway-counted]}" \
    --proxy-control "http://$CONTROL_ADDR" --agent "$AGENT" --n "$N" --warmup "$WARMUP" --turns "$TURNS" --gap-ms "$GAP_MS" \
    --out "$OUT" >"$LOGS/client.log" 2>&1 || RC=$?
[ -s "$OUT/e2e.json" ] || { tail -n 30 "$LOGS/client.log"; die "the client wrote no result (log: $LOGS/client.log)"; }

COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$ROOT" diff --quiet HEAD -- 2>/dev/null || COMMIT+="+dirty"
REPRO="bash bench/e2e-mastra.sh --n $N --warmup $WARMUP --turns $TURNS --gap-ms $GAP_MS"
[ -z "$GATEWAY_BIN" ] || REPRO+=" --gateway-bin $GATEWAY_BIN"
for e in "${GATEWAY_ENV[@]}"; do REPRO+=" --gateway-env $e"; done
NODE_VERSION=$(node --version)
MASTRA_VERSION=$(node -p "require('$FIXTURE/node_modules/@mastra/core/package.json').version" 2>/dev/null || echo '?')
export E_STAMP=$STAMP E_COMMIT=$COMMIT E_REPRO=$REPRO E_GW=${GW#"$ROOT"/} E_MASTRA=$MASTRA_VERSION \
    E_NODE=$NODE_VERSION E_CONFIG=${GATEWAY_CONFIG#"$ROOT"/}
"$PYTHON" - "$OUT" <<'PY' || RC=1
import json, os, sys
out = sys.argv[1]
e = os.environ
d = json.load(open(os.path.join(out, "e2e.json")))
m, g, a, c = d["mastra"], d["gateway"], d["added"], d["conversation"]
model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
def f(x, spec=".2f"):
    return "–" if x is None else format(x, spec)
routes = ", ".join(f"`{r}` × {n}" for r, n in sorted(c["calls_by_route_all_turns"].items())) or "none"
first = ", ".join(f"`{r}` × {n}" for r, n in sorted((c["first_turn_calls"] or {}).items())) or "none"
create = ", ".join(f"`{r}` × {n}" for r, n in sorted((c["create_calls"] or {}).items())) or "none"
lines = [
    f"# mastra-gateway end to end through the real Mastra fixture, {e['E_STAMP']}",
    "",
    f"- machine: {os.cpu_count()} CPU(s), {model}; load average now {' '.join(open('/proc/loadavg').read().split()[:3])}",
    f"- Mastra fixture (tests/fixtures/mastra, @mastra/core {e['E_MASTRA']}, node {e['E_NODE']}, libsql :memory:, mock echo model)",
    f"- gateway: `{e['E_GW']}` (commit {e['E_COMMIT']}), config `{e['E_CONFIG']}`",
    f"- requests: gateway `POST /v1/responses {d['gateway_request']}`; Mastra directly "
    f"`POST /api/v1/responses {d['upstream_request']}` (the body the gateway sends upstream, captured)",
    f"- {d['n']} requests per path after {d['warmup']} warm-up, interleaved (A,B then B,A), concurrency 1, keep-alive, "
    f"{d.get('gap_ms') or 0:g} ms idle before each request, "
    f"client bench/e2e_client.py (http.client)",
    f"- reproduce: `{e['E_REPRO']}`",
    "",
    "### Latency (ms)",
    "",
    "| path | p50 | p90 | p99 | mean |",
    "|---|---:|---:|---:|---:|",
    f"| Mastra directly | {f(m['p50'])} | {f(m['p90'])} | {f(m['p99'])} | {f(m['mean'])} |",
    f"| through the gateway | {f(g['p50'])} | {f(g['p90'])} | {f(g['p99'])} | {f(g['mean'])} |",
    f"| **added by the gateway** | **{a['p50_ms']:+.3f} ms ({a['p50_pct']:+.1f} %)** | | "
    f"{a['p99_ms']:+.3f} ms ({a['p99_pct']:+.1f} %) | {a['mean_pct']:+.1f} % |",
    "",
    f"Median of the per-pair differences (gateway − Mastra, same pair): {a['pair_diff_median_ms']:+.3f} ms.",
    "",
    "### Steady conversation: upstream calls per turn",
    "",
    "| what | value |",
    "|---|---|",
    f"| conversation | `{c['conversation']}`; creating it cost: {create} |",
    f"| turns | {c['turns']} (latency p50 {f(c['turn_latency_ms']['p50'])} ms, p99 {f(c['turn_latency_ms']['p99'])} ms) |",
    f"| first turn's upstream calls | {first} |",
    f"| **upstream calls per turn, turns 2..{c['turns']}** | **{f(c['calls_per_turn_steady'])}** (min {c['steady_min']}, max {c['steady_max']}) |",
    f"| upstream calls per turn, all turns | {f(c['calls_per_turn_all'])} |",
    f"| all turns' upstream calls by route | {routes} |",
    "",
]
if d["failed"]:
    lines += [f"**{d['failed']} request(s) failed**: " + "; ".join(d["failures"][:5]), ""]
md = "\n".join(lines)
open(os.path.join(out, "e2e.md"), "w").write(md)
print(md)
sys.exit(1 if d["failed"] else 0)
PY
if [ "$RC" != 0 ]; then
    tail -n 20 "$LOGS/client.log"
    die "see $LOGS/client.log"
fi
say "done; results: ${OUT#"$ROOT"/}/e2e.md"
