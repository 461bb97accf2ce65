#!/usr/bin/env bash
# fuzz/run.sh [seconds-per-target] [target ...]
#
# Builds the libFuzzer targets of fuzz/ on the machine's stable Rust (no nightly, no
# cargo-fuzz: the coverage flags cargo-fuzz would pass are stable; see fuzz/README.md), then
# runs each target for the given seconds (default 20), FUZZ_JOBS at a time (default: the
# number of cores). Fails if any target crashes, hangs (> FUZZ_TIMEOUT s on one input) or runs
# out of memory. Prints one line per target, then "N passed, N failed".
#
# Environment:
#   CARGO_TARGET_DIR  where to build (default fuzz/target)
#   FUZZ_PROFILE      fuzz (default: code under test optimised, the rest at opt-level 0, for a
#                     short build) or release (everything optimised: slower build, ~1.5x execs/s)
#   FUZZ_JOBS         targets run at once (default: nproc)
#   FUZZ_TIMEOUT      seconds one input may take before it counts as a hang (default 5)
#   FUZZ_LOG_DIR      one log per target (default fuzz/logs)
#   FUZZ_ASAN=1       build with AddressSanitizer (-Zsanitizer=address through RUSTC_BOOTSTRAP=1
#                     on stable; the gateway's code is safe Rust, so this only watches its
#                     dependencies' unsafe code; ~2x slower)
#   FUZZ_ARGS         more libFuzzer flags for every target (e.g. "-only_ascii=1")
#
# Corpora grow in fuzz/corpus/<target>/ (kept between runs, not committed), seeded from
# fuzz/seeds/<target>/; crashes land in fuzz/artifacts/<target>/.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SECS="${1:-20}"
[ $# -gt 0 ] && shift
case "$SECS" in
  '' | *[!0-9]*) echo "usage: fuzz/run.sh [seconds-per-target] [target ...]" >&2; exit 2 ;;
esac

ALL_TARGETS=(create_response chat_request conversations list_query path_id sse_decoder stream_translator)
if [ $# -gt 0 ]; then TARGETS=("$@"); else TARGETS=("${ALL_TARGETS[@]}"); fi

PROFILE="${FUZZ_PROFILE:-fuzz}"
JOBS="${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 1)}"
TIMEOUT="${FUZZ_TIMEOUT:-5}"
LOG_DIR="${FUZZ_LOG_DIR:-$HERE/logs}"
TARGET_DIR="${CARGO_TARGET_DIR:-$HERE/target}"
TRIPLE="$(rustc -vV | sed -n 's/^host: //p')"

# What `cargo fuzz build --sanitizer none` passes (cargo-fuzz 0.13), all stable flags.
# --target keeps them off build scripts and proc macros.
flags=(
  -Cpasses=sancov-module
  -Cllvm-args=-sanitizer-coverage-level=4
  -Cllvm-args=-sanitizer-coverage-inline-8bit-counters
  -Cllvm-args=-sanitizer-coverage-pc-table
  -Cllvm-args=-sanitizer-coverage-trace-compares
  -Cllvm-args=-sanitizer-coverage-stack-depth
  -Cllvm-args=-simplifycfg-branch-fold-threshold=0
  --cfg fuzzing
  -Cdebug-assertions
  -Coverflow-checks
)
if [ "${FUZZ_ASAN:-0}" = 1 ]; then
  export RUSTC_BOOTSTRAP=1
  export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_odr_violation=0"
  flags+=(-Zsanitizer=address)
  TARGET_DIR="$TARGET_DIR/asan"
fi
export RUSTFLAGS="${flags[*]}${RUSTFLAGS:+ $RUSTFLAGS}"
export CARGO_TARGET_DIR="$TARGET_DIR"

build_start=$SECONDS
bins=()
for t in "${TARGETS[@]}"; do bins+=(--bin "$t"); done
echo "fuzz: building ${#TARGETS[@]} target(s) (profile $PROFILE, $TRIPLE) in $TARGET_DIR"
if ! cargo build --quiet --locked --profile "$PROFILE" --target "$TRIPLE" \
  --manifest-path "$HERE/Cargo.toml" "${bins[@]}"; then
  echo "fuzz: build failed"
  echo "0 passed, ${#TARGETS[@]} failed"
  exit 1
fi
BIN_DIR="$TARGET_DIR/$TRIPLE/$PROFILE"
echo "fuzz: built in $((SECONDS - build_start)) s; running each target ${SECS} s, $JOBS at a time"

mkdir -p "$LOG_DIR"

# Extra libFuzzer flags per target: its dictionary and, for whole streams, a longer input.
target_args() {
  case "$1" in
    create_response | chat_request | conversations) echo "-dict=$HERE/dict/json.dict" ;;
    list_query) echo "-dict=$HERE/dict/query.dict" ;;
    path_id) echo "-dict=$HERE/dict/path.dict -max_len=600" ;;
    sse_decoder) echo "-dict=$HERE/dict/sse.dict" ;;
    # The recorded native turns (the seeds) are up to 14 KB.
    stream_translator) echo "-dict=$HERE/dict/sse.dict -max_len=16384" ;;
  esac
}

run_one() {
  local t="$1" corpus="$HERE/corpus/$1" artifacts="$HERE/artifacts/$1" log="$LOG_DIR/$1.log"
  mkdir -p "$corpus" "$artifacts"
  local seeds=()
  [ -d "$HERE/seeds/$t" ] && seeds=("$HERE/seeds/$t")
  # shellcheck disable=SC2046,SC2086 # target_args and FUZZ_ARGS are word lists
  "$BIN_DIR/$t" -max_total_time="$SECS" -timeout="$TIMEOUT" -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$artifacts/" $(target_args "$t") ${FUZZ_ARGS:-} \
    "$corpus" "${seeds[@]}" >"$log" 2>&1
}

summary() {
  local t="$1" rc="$2" log="$LOG_DIR/$1.log"
  local runs time cov corp
  runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
  time="$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)"
  cov="$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1)"
  corp="$(grep -oE 'corp: [0-9]+/[0-9]+[a-zA-Z]*' "$log" | tail -1)"
  local rate="?"
  if [ -n "$runs" ] && [ -n "$time" ] && [ "$time" -gt 0 ]; then rate=$((runs / time)); fi
  if [ "$rc" -eq 0 ]; then
    printf 'fuzz: %-18s ok    %s execs in %s s (%s/s), %s, %s\n' \
      "$t" "${runs:-?}" "${time:-?}" "$rate" "${cov:-cov: ?}" "${corp:-corp: ?}"
  else
    local found
    found="$(grep -oE '(Test unit written to|artifact_prefix.*; Test unit written to) .*' "$log" | tail -1 | sed 's/.*written to //')"
    printf 'fuzz: %-18s FAIL  rc %s after %s execs; input: %s; log: %s\n' \
      "$t" "$rc" "${runs:-?}" "${found:-none written}" "$log"
    grep -E "panicked at|^thread '|ERROR: libFuzzer|SUMMARY|==ERROR" -A2 "$log" | head -20 | sed 's/^/    /'
  fi
}

declare -A PIDS=()
passed=0
failed=0
wait_one() {
  local pid t rc
  wait -n -p pid "${!PIDS[@]}" && rc=0 || rc=$?
  t="${PIDS[$pid]}"
  unset "PIDS[$pid]"
  summary "$t" "$rc"
  if [ "$rc" -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
}
for t in "${TARGETS[@]}"; do
  if [ ! -x "$BIN_DIR/$t" ]; then
    echo "fuzz: $t: no such target (targets: ${ALL_TARGETS[*]})"
    failed=$((failed + 1))
    continue
  fi
  while [ "${#PIDS[@]}" -ge "$JOBS" ]; do wait_one; done
  run_one "$t" &
  PIDS[$!]="$t"
done
while [ "${#PIDS[@]}" -gt 0 ]; do wait_one; done

echo "fuzz: $((SECONDS - build_start)) s in all"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
