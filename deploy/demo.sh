#!/usr/bin/env bash
# Starts the bundled demo Mastra (tests/fixtures/mastra: two agents on an offline mock model) and
# the gateway in front of it, streams one answer through the official OpenAI Python SDK, then
# keeps both running so you can point your own OpenAI code at http://127.0.0.1:8080/v1.
# Ctrl-C stops everything.   Usage: bash deploy/demo.sh [--no-wait]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
MASTRA_PORT=${MASTRA_PORT:-4111}
GATEWAY_PORT=${GATEWAY_PORT:-8080}
ADMIN_PORT=${ADMIN_PORT:-9090}
LOGS=$ROOT/target/demo-logs
mkdir -p "$LOGS"

echo "==> installing the demo Mastra's npm packages (pinned by package-lock.json)"
if [ ! -d tests/fixtures/mastra/node_modules ]; then
  (cd tests/fixtures/mastra && npm ci --no-audit --no-fund --loglevel=error)
fi
echo "==> building the gateway (release)"
cargo build --release --locked --quiet
echo "==> preparing a Python venv with the official openai SDK"
VENV=$ROOT/target/demo-venv
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check openai
fi

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

echo "==> starting Mastra on :$MASTRA_PORT"
node tests/fixtures/mastra/server.mjs --port "$MASTRA_PORT" --db :memory: >"$LOGS/mastra.log" 2>&1 &
pids+=($!)
echo "==> starting the gateway on :$GATEWAY_PORT (admin :$ADMIN_PORT)"
./target/release/mastra-gateway --config config.toml \
  --listen "127.0.0.1:$GATEWAY_PORT" --admin-listen "127.0.0.1:$ADMIN_PORT" \
  --upstream "http://127.0.0.1:$MASTRA_PORT" >"$LOGS/gateway.log" 2>&1 &
pids+=($!)

for _ in $(seq 1 120); do
  if curl -fsS "http://127.0.0.1:$ADMIN_PORT/readyz" >/dev/null 2>&1; then break; fi
  sleep 0.5
done
curl -fsS "http://127.0.0.1:$ADMIN_PORT/readyz" >/dev/null || { echo "not ready; see $LOGS"; tail -20 "$LOGS"/*.log; exit 1; }

echo "==> a streamed answer from support-agent through the official OpenAI Python SDK:"
GATEWAY_PORT=$GATEWAY_PORT "$VENV/bin/python" - <<'PY'
import os
from openai import OpenAI

client = OpenAI(base_url=f"http://127.0.0.1:{os.environ['GATEWAY_PORT']}/v1", api_key="unused")
with client.responses.stream(model="support-agent", input="Hello from the OpenAI SDK") as stream:
    for event in stream:
        if event.type == "response.output_text.delta":
            print(event.delta, end="", flush=True)
    final = stream.get_final_response()
print(f"\n[{final.id}: status={final.status}, tokens={final.usage.total_tokens}]")
PY

if [ "${1:-}" = "--no-wait" ]; then exit 0; fi
echo
echo "Gateway: http://127.0.0.1:$GATEWAY_PORT/v1 (models: support-agent, echo-agent)"
echo "Admin:   http://127.0.0.1:$ADMIN_PORT/healthz /readyz /metrics   Logs: $LOGS"
echo "Ctrl-C to stop."
wait
