#!/usr/bin/env bash
# Where the shipped server's CPU goes during chat turns: runs `loadgen --cpu-only` against the
# `server-release` binary, samples that process with `perf` (DWARF call stacks) and draws a
# flamegraph with inferno (installed once under the cache). Not part of the tests: it needs
# `perf` and a quiet machine.
#
# Usage: scripts/profile.sh [paced|instant] [seconds] [loadgen args...]   (default: paced, 10 s
# of samples; e.g. `instant 10 --think-ms 200` for clients that pause between messages)
# Writes docs/profile/<mode>.svg; the folded stacks go to ~/.cache/healthchat/profile/<mode>.folded
# (for `inferno-diff-folded` between two builds).
# Needs: `cargo leptos build --release` (the server) and the release `loadgen`
# (`cargo build --release -p devtools --bin loadgen`). LOADGEN_SERVER_BIN profiles another build.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"

MODE="${1:-paced}"
SECS="${2:-10}"
shift $(( $# < 2 ? $# : 2 ))
case "$MODE" in
  paced) PACE=(--delta-ms 20) ;;
  instant) PACE=() ;;
  *) echo "usage: $0 [paced|instant] [seconds]" >&2; exit 2 ;;
esac
command -v perf >/dev/null || { echo "needs perf (Debian: linux-perf)" >&2; exit 1; }
TOOLS="$CACHE/tools"
if [ ! -x "$TOOLS/bin/inferno-flamegraph" ]; then
  cargo install --locked --root "$TOOLS" inferno
fi
SERVER="${LOADGEN_SERVER_BIN:-$CARGO_TARGET_DIR/server-release/server}"
OUT="$ROOT/docs/profile"
FOLDED="$CACHE/profile"
mkdir -p "$OUT" "$FOLDED"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# The load runs past the sampling window: start-up (~10 s), a warm-up, then the samples.
LOADGEN_SERVER_BIN="$SERVER" "$CARGO_TARGET_DIR/release/loadgen" --cpu-only --secs $((SECS + 20)) \
  "${PACE[@]}" --pieces 20 "$@" >"$WORK/loadgen.txt" 2>&1 &
LOADGEN=$!
PID=""
for _ in $(seq 60); do
  PID="$(pgrep -n -f "^$SERVER\$" || true)"
  [ -n "$PID" ] && break
  sleep 1
done
[ -n "$PID" ] || { echo "the server did not start"; cat "$WORK/loadgen.txt"; exit 1; }
sleep 8
perf record -F 1999 --call-graph dwarf,32768 -p "$PID" -o "$WORK/perf.data" -- sleep "$SECS" 2>/dev/null
wait "$LOADGEN" || true
grep -i "cpu per turn" "$WORK/loadgen.txt" || true
perf script -i "$WORK/perf.data" 2>/dev/null | "$TOOLS/bin/inferno-collapse-perf" >"$FOLDED/$MODE.folded"
"$TOOLS/bin/inferno-flamegraph" --title "server CPU, 20 clients, $MODE model ($SECS s)" --minwidth 0.2 \
  <"$FOLDED/$MODE.folded" >"$OUT/$MODE.svg"
echo "wrote $OUT/$MODE.svg"
