#!/usr/bin/env bash
# Agent-framework compatibility suites (tests/frameworks/README.md):
#   bash tests/frameworks/run.sh <logdir> [group...]        groups: server_tools client_tools chat
#                                                           (default: all three)
# Installs what it needs into target/ (venv target/frameworks-venv from python/requirements.txt,
# rebuilt only when that file changes; `npm ci` in node/ when its lockfile changed), then runs the
# pytest suite (OpenAI Agents SDK, LangChain) and the node --test suite (Vercel AI SDK) for the
# selected groups against GATEWAY_BASE_URL, reading Mastra's stored threads at MASTRA_URL.
#
# With GATEWAY_BASE_URL unset it starts the stack itself, on free loopback ports, and stops it at
# the end: the Mastra fixture (tests/fixtures/mastra, `npm ci` there when needed) and the gateway
# binary GATEWAY_BIN (default target/release/mastra-gateway). With `--stub` (anywhere in the
# arguments) it runs against tests/frameworks/stub/ideal_gateway.py instead: a stand-in for the
# gateway as issues 15-17 want it, which shows that every test can pass.
#
# Writes to <logdir>: pytest.xml (JUnit), pytest.log, node.xml (JUnit), node.log (spec reporter),
# install.log, and mastra.log/gateway.log/gateway.toml (or stub.log) when it started the stack.
# The last line printed is "frameworks: N passed, N failed, N skipped" (both suites summed);
# the exit status is non-zero if a test failed or a suite could not run.
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
ALL_GROUPS=(server_tools client_tools chat)
SUITE_TIMEOUT="${SUITE_TIMEOUT:-300}"   # seconds per suite (each test has its own, shorter one)
READY_TIMEOUT="${READY_TIMEOUT:-60}"

usage() { echo "usage: $0 [--stub] <logdir> [${ALL_GROUPS[*]}]" >&2; exit 2; }

STUB=0
ARGS=()
for a in "$@"; do
  case "$a" in
    --stub) STUB=1 ;;
    -h|--help) usage ;;
    *) ARGS+=("$a") ;;
  esac
done
[ "${#ARGS[@]}" -ge 1 ] || usage
LOG_DIR="${ARGS[0]}"
SEL=("${ARGS[@]:1}")
[ "${#SEL[@]}" -gt 0 ] || SEL=("${ALL_GROUPS[@]}")
for g in "${SEL[@]}"; do
  case " ${ALL_GROUPS[*]} " in
    *" $g "*) ;;
    *) echo "run.sh: unknown group '$g' (known: ${ALL_GROUPS[*]})" >&2; exit 2 ;;
  esac
done
mkdir -p "$LOG_DIR"
LOG_DIR="$(cd "$LOG_DIR" && pwd)"

say() { printf '\n==> %s\n' "$*"; }
note() { printf '    %s\n' "$*"; }

# ----------------------------------------------------------------------------- services

PIDS=()
stop_all() {
  local pid i
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    pid="${PIDS[$i]}"
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
  done
  PIDS=()
}
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_ports() {
  python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks: s.close()
PY
}

http_status() {
  python3 - "$1" <<'PY'
import sys, urllib.request, urllib.error
try:
    print(urllib.request.urlopen(sys.argv[1], timeout=3).status)
except urllib.error.HTTPError as e:
    print(e.code)
except Exception:
    print("000")
PY
}

# wait_for PID LOGFILE WHAT CHECK...   (CHECK is a command that succeeds once ready)
wait_for() {
  local pid="$1" log="$2" what="$3" t=0; shift 3
  until "$@"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "$what exited before it was ready:"; tail -n 40 "$log"; return 1
    fi
    if [ "$t" -ge $((READY_TIMEOUT * 5)) ]; then
      echo "$what was not ready within ${READY_TIMEOUT}s:"; tail -n 40 "$log"; return 1
    fi
    sleep 0.2; t=$((t + 1))
  done
}

npm_ci_if_needed() {
  # npm ci in $1 unless node_modules was installed from this very lockfile
  local dir="$1" stamp="$1/node_modules/.lock.sha256" want
  want="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    echo "$dir/node_modules is up to date"
    return 0
  fi
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) || return 1
  echo "$want" >"$stamp"
}

start_stack() {
  local mastra_port gw_port admin_port
  if [ "$STUB" -eq 1 ]; then
    read -r gw_port <<<"$(free_ports 1)"
    python3 "$HERE/stub/ideal_gateway.py" --port "$gw_port" >"$LOG_DIR/stub.log" 2>&1 &
    PIDS+=($!)
    wait_for "$!" "$LOG_DIR/stub.log" "the ideal-gateway stub" grep -q IDEAL_GATEWAY_READY "$LOG_DIR/stub.log" || return 1
    export GATEWAY_BASE_URL="http://127.0.0.1:$gw_port/v1" MASTRA_URL="http://127.0.0.1:$gw_port"
    note "stub: $GATEWAY_BASE_URL (also serves MASTRA_URL=$MASTRA_URL)"
    return 0
  fi
  local bin="${GATEWAY_BIN:-$ROOT/target/release/mastra-gateway}"
  if [ ! -x "$bin" ]; then
    echo "no gateway binary at $bin: build it (cargo build --release) or set GATEWAY_BIN, or set GATEWAY_BASE_URL + MASTRA_URL"
    return 1
  fi
  npm_ci_if_needed "$ROOT/tests/fixtures/mastra" >>"$LOG_DIR/install.log" 2>&1 || {
    echo "npm ci in tests/fixtures/mastra failed:"; tail -n 30 "$LOG_DIR/install.log"; return 1; }
  read -r mastra_port gw_port admin_port <<<"$(free_ports 3)"
  node "$ROOT/tests/fixtures/mastra/server.mjs" --port "$mastra_port" --db :memory: >"$LOG_DIR/mastra.log" 2>&1 &
  PIDS+=($!)
  wait_for "$!" "$LOG_DIR/mastra.log" "the Mastra fixture" grep -q MASTRA_LAB_READY "$LOG_DIR/mastra.log" || return 1
  note "$(grep -m1 MASTRA_LAB_READY "$LOG_DIR/mastra.log")"
  printf '# written by tests/frameworks/run.sh: built-in defaults, overridden by the CLI flags\n' >"$LOG_DIR/gateway.toml"
  "$bin" --config "$LOG_DIR/gateway.toml" --listen "127.0.0.1:$gw_port" --admin-listen "127.0.0.1:$admin_port" \
    --upstream "http://127.0.0.1:$mastra_port" >"$LOG_DIR/gateway.log" 2>&1 &
  PIDS+=($!)
  ready() { [ "$(http_status "http://127.0.0.1:$admin_port/readyz")" = 200 ]; }
  wait_for "$!" "$LOG_DIR/gateway.log" "the gateway ($bin)" ready || return 1
  export GATEWAY_BASE_URL="http://127.0.0.1:$gw_port/v1" MASTRA_URL="http://127.0.0.1:$mastra_port"
  note "gateway $bin: $GATEWAY_BASE_URL; mastra: $MASTRA_URL"
}

# ----------------------------------------------------------------------------- install

VENV="$ROOT/target/frameworks-venv"
REQ="$HERE/python/requirements.txt"

make_venv() {
  local stamp="$VENV/.requirements.sha256" want
  want="$(cat "$REQ" <(python3 --version) | sha256sum | cut -d' ' -f1)"
  if [ -x "$VENV/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    echo "$VENV is up to date with $REQ"
    return 0
  fi
  rm -rf "$VENV"
  python3 -m venv "$VENV" || return 1
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQ" || return 1
  echo "$want" >"$stamp"
}

# ----------------------------------------------------------------------------- run

say "frameworks: install (log: $LOG_DIR/install.log)"
: >"$LOG_DIR/install.log"
PY_OK=0 NODE_OK=0
t0=$SECONDS
make_venv >>"$LOG_DIR/install.log" 2>&1 || { PY_OK=1; note "python venv FAILED:"; tail -n 30 "$LOG_DIR/install.log"; }
npm_ci_if_needed "$HERE/node" >>"$LOG_DIR/install.log" 2>&1 || { NODE_OK=1; note "npm ci in tests/frameworks/node FAILED:"; tail -n 30 "$LOG_DIR/install.log"; }
note "install took $((SECONDS - t0))s"

if [ "$STUB" -eq 1 ] || [ -z "${GATEWAY_BASE_URL:-}" ]; then
  say "frameworks: start the stack"
  start_stack || { echo "frameworks: 0 passed, 1 failed, 0 skipped"; exit 1; }
elif [ -z "${MASTRA_URL:-}" ]; then
  echo "run.sh: GATEWAY_BASE_URL is set but MASTRA_URL is not (the suites read Mastra's threads)" >&2
  echo "frameworks: 0 passed, 1 failed, 0 skipped"
  exit 1
else
  note "using the running stack: GATEWAY_BASE_URL=$GATEWAY_BASE_URL MASTRA_URL=$MASTRA_URL"
fi
export GATEWAY_BASE_URL MASTRA_URL

SETUP_FAIL=0
rm -f "$LOG_DIR/pytest.xml" "$LOG_DIR/node.xml"

marker="$(printf ' or %s' "${SEL[@]}")"
marker="${marker# or }"
if [ "$PY_OK" -eq 0 ]; then
  say "frameworks: pytest (Agents SDK, LangChain), groups: ${SEL[*]}"
  t0=$SECONDS
  (cd "$HERE/python" && PYTHONDONTWRITEBYTECODE=1 timeout -k 10 "$SUITE_TIMEOUT" "$VENV/bin/python" -m pytest -v \
    -m "$marker" --junitxml="$LOG_DIR/pytest.xml") 2>&1 | tee "$LOG_DIR/pytest.log"
  rc=${PIPESTATUS[0]}
  note "pytest exit $rc in $((SECONDS - t0))s (log: $LOG_DIR/pytest.log)"
  [ -s "$LOG_DIR/pytest.xml" ] || SETUP_FAIL=$((SETUP_FAIL + 1))
else
  SETUP_FAIL=$((SETUP_FAIL + 1))
fi

files=()
for g in "${SEL[@]}"; do files+=("$g.test.mjs"); done
if [ "$NODE_OK" -eq 0 ]; then
  say "frameworks: node --test (Vercel AI SDK), groups: ${SEL[*]}"
  t0=$SECONDS
  (cd "$HERE/node" && timeout -k 10 "$SUITE_TIMEOUT" node --test \
    --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter=junit --test-reporter-destination="$LOG_DIR/node.xml" \
    "${files[@]}") 2>&1 | tee "$LOG_DIR/node.log"
  rc=${PIPESTATUS[0]}
  note "node --test exit $rc in $((SECONDS - t0))s (log: $LOG_DIR/node.log)"
  [ -s "$LOG_DIR/node.xml" ] || SETUP_FAIL=$((SETUP_FAIL + 1))
else
  SETUP_FAIL=$((SETUP_FAIL + 1))
fi

# Sum both JUnit files: a <testcase> with <failure>/<error> failed, with <skipped> was skipped.
read -r PASSED FAILED SKIPPED < <(python3 - "$LOG_DIR/pytest.xml" "$LOG_DIR/node.xml" <<'PY'
import sys, xml.etree.ElementTree as ET
p = f = s = 0
for path in sys.argv[1:]:
    try:
        root = ET.parse(path).getroot()
    except Exception:
        continue
    for case in root.iter("testcase"):
        tags = {child.tag for child in case}
        if tags & {"failure", "error"}:
            f += 1
        elif "skipped" in tags:
            s += 1
        else:
            p += 1
print(p, f, s)
PY
)
FAILED=$((FAILED + SETUP_FAIL))
[ "$SETUP_FAIL" -eq 0 ] || note "$SETUP_FAIL suite(s) could not run or wrote no JUnit report; counted as failures"
echo
echo "frameworks: $PASSED passed, $FAILED failed, $SKIPPED skipped"
[ "$FAILED" -eq 0 ] && [ "$PASSED" -gt 0 ]
