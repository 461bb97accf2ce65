#!/usr/bin/env bash
# The project's test command:   bash tests/run-all.sh
#
# Works on a fresh machine with only the repo (as root or not): it creates the Python
# venvs and node_modules it needs, builds the gateway once (release), starts the real
# Mastra fixture and the gateway on free loopback ports, and runs, in order:
#   1. cargo test (unit + integration tests; MASTRA_URL points at the live fixture)
#   2. cargo test --test e2e_mastra (MASTRA_URL + GATEWAY_URL; skipped if the file is absent)
#   3. the OpenAI Python SDK suite with openai 3.x   (tests/sdk/python, venv target/sdk-venv-latest)
#   4. the OpenAI Python SDK suite with openai 1.x   (same tests,      venv target/sdk-venv-1x)
#   5. the OpenAI Node SDK suite (openai 6.49.0)     (tests/sdk/node)
#   6. the agent frameworks, unchanged and pinned (tests/frameworks: OpenAI Agents SDK,
#      LangChain, Vercel AI SDK; run.sh installs them into target/), the groups that pass today
#   7. bench smoke: bash bench/run.sh --smoke with the release binary (wrk, ~25 s; counts
#      as one test; results in target/test-logs/bench-smoke/)
#   8. fuzz smoke: bash fuzz/run.sh with FUZZ_SECONDS (default 10) per target, on stable Rust
#      (fuzz/README.md; builds in target/fuzz, one test per target; logs in
#      target/test-logs/fuzz/, crashes in fuzz/artifacts/)
# and, right after the build, deploy/check.sh (the deployment assets; JUnit XML in the logs).
# Every stage's result is printed; the last line is "N passed, N failed" (tests summed over
# all stages; a stage that fails without reporting test counts, e.g. a build error, counts
# as one failure). Exit status is non-zero if anything failed.
#
# Logs: target/test-logs/ (mastra.log, gateway.log, one log per stage, pytest junit XML).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

LOG_DIR="$ROOT/target/test-logs"
mkdir -p "$LOG_DIR"
READY_TIMEOUT="${READY_TIMEOUT:-60}"

TOTAL_PASS=0
TOTAL_FAIL=0
TOTAL_SKIP=0
SUMMARY=()
MASTRA_PID=""
GATEWAY_PID=""
LIMITED_PID=""

if [ -t 1 ]; then
  say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
else
  say() { printf '\n==> %s\n' "$*"; }
fi
note() { printf '    %s\n' "$*"; }

# ----------------------------------------------------------------------------- cleanup

stop_pid() {
  local pid="$1" name="$2"
  [ -n "$pid" ] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      note "$name (pid $pid) did not stop on SIGTERM; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null
    fi
  fi
  wait "$pid" 2>/dev/null
  return 0
}

cleanup() {
  stop_pid "$LIMITED_PID" "limited gateway"
  LIMITED_PID=""
  stop_pid "$GATEWAY_PID" gateway
  stop_pid "$MASTRA_PID" "mastra fixture"
  GATEWAY_PID=""
  MASTRA_PID=""
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

show_logs() {
  local f
  for f in "$LOG_DIR/mastra.log" "$LOG_DIR/gateway.log"; do
    [ -s "$f" ] || continue
    printf '\n----- last 40 lines of %s -----\n' "${f#"$ROOT"/}"
    tail -n 40 "$f"
    printf -- '----- end of %s -----\n' "${f#"$ROOT"/}"
  done
}

# ----------------------------------------------------------------------------- bookkeeping

# record NAME STATUS PASSED FAILED SKIPPED
record() {
  local name="$1" status="$2" p="$3" f="$4" s="$5"
  TOTAL_PASS=$((TOTAL_PASS + p))
  TOTAL_FAIL=$((TOTAL_FAIL + f))
  TOTAL_SKIP=$((TOTAL_SKIP + s))
  SUMMARY+=("$(printf '%-28s %-5s %4d passed, %4d failed, %4d skipped' "$name" "$status" "$p" "$f" "$s")")
  printf '    [%s] %s: %d passed, %d failed, %d skipped\n' "$status" "$name" "$p" "$f" "$s"
}

# Setup/build steps: no test counts; a failure counts as one failed.
# setup_step NAME CMD...
setup_step() {
  local name="$1"; shift
  local log="$LOG_DIR/${name// /-}.log"
  say "$name"
  "$@" >"$log" 2>&1
  local rc=$?
  if [ $rc -ne 0 ]; then
    tail -n 60 "$log"
    note "FAILED (exit $rc); full log: ${log#"$ROOT"/}"
    SUMMARY+=("$(printf '%-28s %-5s (setup step, exit %d)' "$name" FAIL "$rc")")
    TOTAL_FAIL=$((TOTAL_FAIL + 1))
    return 1
  fi
  note "ok (log: ${log#"$ROOT"/})"
  return 0
}

# Parsers print "PASSED FAILED SKIPPED" for a stage log.
count_cargo() {
  # test result: ok. 12 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; ...
  awk '/^test result:/ {
         for (i = 1; i <= NF; i++) {
           if ($(i+1) ~ /^passed;?$/) p += $i
           if ($(i+1) ~ /^failed;?$/) f += $i
           if ($(i+1) ~ /^ignored;?$/) s += $i
         }
       }
       END { printf "%d %d %d\n", p, f, s }' "$1"
}

count_junit() {
  python3 - "$1" <<'PY'
import sys, xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except Exception:
    print("0 0 0"); sys.exit(0)
suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
t = f = e = s = 0
for su in suites:
    t += int(su.get("tests", 0)); f += int(su.get("failures", 0))
    e += int(su.get("errors", 0)); s += int(su.get("skipped", 0))
print(t - f - e - s, f + e, s)
PY
}

count_bench() {
  # bench/run.sh ends with "[bench] all checks passed" when every check held
  if grep -q '^\[bench\] all checks passed' "$1"; then echo "1 0 0"; else echo "0 1 0"; fi
}

count_frameworks() {
  awk '/^frameworks: [0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$/ { r = $2 " " $4 " " $6 } END { print (r == "" ? "0 0 0" : r) }' "$1"
}

count_fuzz() {
  # fuzz/run.sh ends with "N passed, N failed" (one per target; a build failure fails them all)
  awk '/^[0-9]+ passed, [0-9]+ failed$/ { r = $1 " " $3 " 0" } END { print (r == "" ? "0 0 0" : r) }' "$1"
}

count_node() {
  # spec reporter: "ℹ pass 12"; tap reporter: "# pass 12"
  awk '$1 ~ /^(ℹ|#)$/ && $2 == "pass" { p = $3 }
       $1 ~ /^(ℹ|#)$/ && ($2 == "fail" || $2 == "cancelled") { f += $3 }
       $1 ~ /^(ℹ|#)$/ && ($2 == "skipped" || $2 == "todo") { s += $3 }
       END { printf "%d %d %d\n", p, f, s }' "$1"
}

# test_stage [--allow-empty] NAME COUNTER COUNTER_ARG CMD...   (COUNTER_ARG "-" means the stage log)
test_stage() {
  local allow_empty=0
  if [ "$1" = "--allow-empty" ]; then allow_empty=1; shift; fi
  local name="$1" counter="$2" carg="$3"; shift 3
  local log="$LOG_DIR/${name// /-}.log"
  say "$name"
  "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  [ "$carg" = "-" ] && carg="$log"
  local p=0 f=0 s=0
  read -r p f s < <("$counter" "$carg")
  local status=PASS
  if [ "$rc" -ne 0 ]; then
    status=FAIL
    if [ "$f" -eq 0 ]; then
      f=1  # the runner failed without reporting a failed test (crash, compile error, ...)
      note "$name exited $rc without reporting a failed test; counting it as one failure"
    fi
  elif [ "$f" -ne 0 ]; then
    status=FAIL
  elif [ $((p + s)) -eq 0 ] && [ "$allow_empty" -eq 1 ]; then
    note "$name ran no tests"
  elif [ $((p + s)) -eq 0 ]; then
    status=FAIL
    f=1
    note "$name ran no tests; counting it as one failure"
  fi
  record "$name" "$status" "$p" "$f" "$s"
  if [ "$status" = FAIL ]; then
    note "full log: ${log#"$ROOT"/}"
    services_alive || true
    show_logs
  fi
}

finish() {
  say "Summary"
  local line
  for line in "${SUMMARY[@]}"; do note "$line"; done
  note "logs: ${LOG_DIR#"$ROOT"/}/"
  echo
  echo "skipped: $TOTAL_SKIP"
  echo "$TOTAL_PASS passed, $TOTAL_FAIL failed"
  if [ "$TOTAL_FAIL" -ne 0 ]; then exit 1; fi
  exit 0
}

# ----------------------------------------------------------------------------- helpers

need() {
  command -v "$1" >/dev/null 2>&1 || { echo "run-all.sh: required command '$1' not found" >&2; return 1; }
}

http_status() {
  # prints the HTTP status of GET $1, or 000 when unreachable
  if command -v curl >/dev/null 2>&1; then
    curl -s -o /dev/null -m 3 -w '%{http_code}' "$1" 2>/dev/null || true
  else
    python3 - "$1" <<'PY'
import sys, urllib.request, urllib.error
try:
    print(urllib.request.urlopen(sys.argv[1], timeout=3).status)
except urllib.error.HTTPError as e:
    print(e.code)
except Exception:
    print("000")
PY
  fi
}

free_ports() {
  # N distinct free loopback ports
  python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks: s.close()
PY
}

make_venv() {
  # make_venv DIR REQUIREMENTS
  local dir="$1" req="$2" stamp="$1/.requirements.sha256" want
  want="$(sha256sum "$req" | cut -d' ' -f1)"
  if [ -x "$dir/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    echo "$dir is up to date with $req"
    return 0
  fi
  rm -rf "$dir"
  python3 -m venv "$dir" || return 1
  "$dir/bin/python" -m pip install -q --disable-pip-version-check -r "$req" || return 1
  echo "$want" >"$stamp"
  "$dir/bin/python" -c 'import openai, sys; print(f"{sys.argv[1]}: openai {openai.__version__}")' "$dir"
}

npm_ci_if_needed() {
  local dir="$1"
  if [ -d "$dir/node_modules" ] && [ "$dir/node_modules/.package-lock.json" -nt "$dir/package-lock.json" ]; then
    echo "$dir/node_modules present"
    return 0
  fi
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
}

services_alive() {
  local ok=0
  if [ -n "$MASTRA_PID" ] && ! kill -0 "$MASTRA_PID" 2>/dev/null; then
    note "the Mastra fixture (pid $MASTRA_PID) is no longer running"
    ok=1
  fi
  if [ -n "$GATEWAY_PID" ] && ! kill -0 "$GATEWAY_PID" 2>/dev/null; then
    note "the gateway (pid $GATEWAY_PID) is no longer running"
    ok=1
  fi
  return $ok
}

start_services() {
  local ports mastra_port gw_port admin_port t
  ports="$(free_ports 3)" || return 1
  read -r mastra_port gw_port admin_port <<<"$ports"

  : >"$LOG_DIR/mastra.log"
  node tests/fixtures/mastra/server.mjs --port "$mastra_port" --db :memory: >"$LOG_DIR/mastra.log" 2>&1 &
  MASTRA_PID=$!
  note "mastra fixture: pid $MASTRA_PID, port $mastra_port"
  t=0
  until grep -q MASTRA_LAB_READY "$LOG_DIR/mastra.log"; do
    if ! kill -0 "$MASTRA_PID" 2>/dev/null; then
      echo "the Mastra fixture exited before it was ready"; show_logs; return 1
    fi
    if [ "$t" -ge $((READY_TIMEOUT * 10)) ]; then
      echo "the Mastra fixture printed no MASTRA_LAB_READY within ${READY_TIMEOUT}s"; show_logs; return 1
    fi
    sleep 0.1; t=$((t + 1))
  done
  note "$(grep -m1 MASTRA_LAB_READY "$LOG_DIR/mastra.log")"

  # Defaults + CLI flags; an explicit --config path must exist.
  printf '# written by tests/run-all.sh: built-in defaults, overridden by the CLI flags\n' >"$LOG_DIR/gateway.toml"
  : >"$LOG_DIR/gateway.log"
  "$GATEWAY_BIN" --config "$LOG_DIR/gateway.toml" \
    --listen "127.0.0.1:$gw_port" --admin-listen "127.0.0.1:$admin_port" \
    --upstream "http://127.0.0.1:$mastra_port" >"$LOG_DIR/gateway.log" 2>&1 &
  GATEWAY_PID=$!
  note "gateway: pid $GATEWAY_PID, api port $gw_port, admin port $admin_port"
  t=0
  until [ "$(http_status "http://127.0.0.1:$admin_port/readyz")" = "200" ]; do
    if ! kill -0 "$GATEWAY_PID" 2>/dev/null; then
      echo "the gateway exited before it was ready"; show_logs; return 1
    fi
    if [ "$t" -ge $((READY_TIMEOUT * 5)) ]; then
      echo "gateway /readyz was not 200 within ${READY_TIMEOUT}s (last: $(http_status "http://127.0.0.1:$admin_port/readyz"))"
      show_logs; return 1
    fi
    sleep 0.2; t=$((t + 1))
  done
  note "gateway ready: /readyz 200"

  # A second gateway with one API key and a tiny rate limit, for the SDK retry tests
  # (tests/sdk/python/test_rate_limits.py).
  local lim_port lim_admin limited_key=sk-limited-test
  read -r lim_port lim_admin <<<"$(free_ports 2)"
  {
    echo '# written by tests/run-all.sh: one key, a tiny per-key limit'
    echo '[[auth.keys]]'
    echo 'name = "sdk-limited"'
    echo "sha256 = \"$(printf %s "$limited_key" | "$GATEWAY_BIN" hash-key)\""
    echo 'resource_id = "sdk-limited"'
    echo '[limits]'
    echo 'per_key = { per_second = 0.5, burst = 1 }'
  } >"$LOG_DIR/gateway-limited.toml"
  "$GATEWAY_BIN" --config "$LOG_DIR/gateway-limited.toml" \
    --listen "127.0.0.1:$lim_port" --admin-listen "127.0.0.1:$lim_admin" \
    --upstream "http://127.0.0.1:$mastra_port" >"$LOG_DIR/gateway-limited.log" 2>&1 &
  LIMITED_PID=$!
  t=0
  until [ "$(http_status "http://127.0.0.1:$lim_admin/readyz")" = "200" ]; do
    if ! kill -0 "$LIMITED_PID" 2>/dev/null || [ "$t" -ge $((READY_TIMEOUT * 5)) ]; then
      echo "the limited gateway did not become ready"; tail -20 "$LOG_DIR/gateway-limited.log"; return 1
    fi
    sleep 0.2; t=$((t + 1))
  done
  export GATEWAY_LIMITED_BASE_URL="http://127.0.0.1:$lim_port/v1" GATEWAY_LIMITED_API_KEY="$limited_key"
  note "limited gateway ready: $GATEWAY_LIMITED_BASE_URL"

  export MASTRA_URL="http://127.0.0.1:$mastra_port"
  export GATEWAY_URL="http://127.0.0.1:$gw_port"
  export GATEWAY_BASE_URL="$GATEWAY_URL/v1"
  export GATEWAY_ADMIN_URL="http://127.0.0.1:$admin_port"
  note "MASTRA_URL=$MASTRA_URL GATEWAY_URL=$GATEWAY_URL GATEWAY_BASE_URL=$GATEWAY_BASE_URL GATEWAY_ADMIN_URL=$GATEWAY_ADMIN_URL"
}

# cargo test arguments for every target except the e2e one (which needs the running gateway)
cargo_test_targets() {
  cargo metadata --no-deps --format-version 1 --locked 2>/dev/null | python3 -c '
import json, sys
meta = json.load(sys.stdin)
args = []
for pkg in meta["packages"]:
    for t in pkg["targets"]:
        kinds = t["kind"]
        if "lib" in kinds or "rlib" in kinds:
            args.append("--lib")
        elif "bin" in kinds:
            args.append("--bins")
        elif "test" in kinds and t["name"] != "e2e_mastra":
            args += ["--test", t["name"]]
seen = []
for a in args:
    if a in ("--lib", "--bins") and a in seen:
        continue
    seen.append(a)
print(" ".join(seen))
'
}

has_e2e_target() {
  cargo metadata --no-deps --format-version 1 --locked 2>/dev/null | python3 -c '
import json, sys
meta = json.load(sys.stdin)
sys.exit(0 if any(t["name"] == "e2e_mastra" and "test" in t["kind"]
                  for p in meta["packages"] for t in p["targets"]) else 1)
'
}

# ----------------------------------------------------------------------------- run

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
for c in cargo node npm python3; do need "$c" || { TOTAL_FAIL=$((TOTAL_FAIL + 1)); SUMMARY+=("missing command: $c"); }; done
[ "$TOTAL_FAIL" -eq 0 ] || finish

say "Environment"
note "$(cargo --version); $(node --version) (npm $(npm --version)); $(python3 --version)"

setup_step "python venv openai-latest" make_venv target/sdk-venv-latest tests/sdk/python/requirements-latest.txt
VENV_LATEST_OK=$?
setup_step "python venv openai-1x" make_venv target/sdk-venv-1x tests/sdk/python/requirements-1x.txt
VENV_1X_OK=$?
setup_step "npm ci mastra fixture" npm_ci_if_needed tests/fixtures/mastra || finish
setup_step "npm ci node sdk suite" npm_ci_if_needed tests/sdk/node
NODE_SUITE_OK=$?

# deploy/build.sh is the one build command; deploy/Dockerfile's builder runs it too.
setup_step "cargo build" sh deploy/build.sh release || finish
GATEWAY_BIN="$ROOT/target/release/mastra-gateway"
[ -x "$GATEWAY_BIN" ] || { echo "no gateway binary at $GATEWAY_BIN"; TOTAL_FAIL=$((TOTAL_FAIL + 1)); finish; }

# The deployment assets (Kubernetes, compose, Dockerfiles, alerts, dashboard), with this binary.
rm -f "$LOG_DIR/deploy-checks.xml"
test_stage "deploy checks" count_junit "$LOG_DIR/deploy-checks.xml" \
  env GATEWAY_BIN="$GATEWAY_BIN" bash deploy/check.sh --junit "$LOG_DIR/deploy-checks.xml"

say "start Mastra fixture + gateway"
if ! start_services; then
  SUMMARY+=("$(printf '%-28s %-5s' "start services" FAIL)")
  TOTAL_FAIL=$((TOTAL_FAIL + 1))
  finish
fi

# shellcheck disable=SC2046  # word splitting of the target list is intended
test_stage --allow-empty "cargo test" count_cargo - cargo test --release --locked --no-fail-fast $(cargo_test_targets)
if [ -f src/lib.rs ]; then
  test_stage --allow-empty "cargo doctest" count_cargo - cargo test --release --locked --doc
fi

if has_e2e_target; then
  test_stage "cargo e2e_mastra" count_cargo - cargo test --release --locked --no-fail-fast --test e2e_mastra
else
  say "cargo e2e_mastra"
  note "SKIP: no e2e_mastra test target (tests/e2e_mastra.rs) yet"
  SUMMARY+=("$(printf '%-28s %-5s (tests/e2e_mastra.rs not present)' "cargo e2e_mastra" SKIP)")
fi

rm -f "$LOG_DIR"/pytest-*.xml
if [ "$VENV_LATEST_OK" -eq 0 ]; then
  test_stage "pytest openai-latest" count_junit "$LOG_DIR/pytest-latest.xml" \
    target/sdk-venv-latest/bin/python -m pytest tests/sdk/python -v --junitxml="$LOG_DIR/pytest-latest.xml"
fi
if [ "$VENV_1X_OK" -eq 0 ]; then
  test_stage "pytest openai-1x" count_junit "$LOG_DIR/pytest-1x.xml" \
    target/sdk-venv-1x/bin/python -m pytest tests/sdk/python -v --junitxml="$LOG_DIR/pytest-1x.xml"
fi
if [ "$NODE_SUITE_OK" -eq 0 ]; then
  test_stage "node sdk (openai 6.49.0)" count_node - \
    bash -c 'cd tests/sdk/node && exec node --test --test-reporter=spec responses.test.mjs conversations.test.mjs chat.test.mjs'
fi

# The frameworks users run, against the same stack (tests/frameworks/README.md): Mastra's own tool
# turns (issue 15), the caller's tools with replayed history (issue 16), Chat Completions (issue 17).
rm -rf "$LOG_DIR/frameworks"
test_stage "frameworks" count_frameworks - \
  bash tests/frameworks/run.sh "$LOG_DIR/frameworks" server_tools client_tools chat

# The benchmark's smoke mode (issue 5): it runs, its numbers are not checked. The release binary
# built above (no dist-profile build); load by wrk from Debian's packages (run.sh installs it on
# first use), or by oha if the pinned version is already installed.
rm -rf "$LOG_DIR/bench-smoke"
test_stage "bench smoke" count_bench - \
  bash bench/run.sh --smoke --gateway-bin "$GATEWAY_BIN" --out "$LOG_DIR/bench-smoke"

# The fuzz targets (fuzz/README.md), briefly: they build against the current code and the seeds
# and FUZZ_SECONDS of fuzzing crash nothing. Independent of the services; their own build
# (coverage flags, profile $FUZZ_PROFILE) in target/fuzz.
rm -rf "$LOG_DIR/fuzz"
test_stage "fuzz smoke" count_fuzz - \
  env CARGO_TARGET_DIR="$ROOT/target/fuzz" FUZZ_LOG_DIR="$LOG_DIR/fuzz" \
  FUZZ_PROFILE="${FUZZ_PROFILE:-fuzz-ci}" bash fuzz/run.sh "${FUZZ_SECONDS:-10}"

finish
