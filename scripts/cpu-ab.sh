#!/usr/bin/env bash
# Server CPU per turn of several server builds, measured in alternating runs of
# `loadgen --cpu-only` (20 clients, 20 pieces per answer), so every build meets the same
# spells of a noisy machine. Prints each run, then each build's total CPU over its total
# turns and the change against the first build. Not part of the tests: it needs a quiet
# machine and takes about 25 s a run.
#
# Usage: scripts/cpu-ab.sh ROUNDS SERVER_BIN... [-- LOADGEN_ARGS...]
#   e.g. scripts/cpu-ab.sh 4 /tmp/before-server "$CARGO_TARGET_DIR/server-release/server"
#        scripts/cpu-ab.sh 3 /tmp/before-server /tmp/after-server -- --think-ms 200
# A build of another commit: `git worktree add /tmp/before <commit>`, then
# `cargo leptos build --release --precompress` there and copy its `server-release/server`.
# Needs the release `loadgen` (`cargo build --release -p devtools --bin loadgen`).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh" >/dev/null
[ $# -ge 2 ] || { sed -n 8,10p "$0" >&2; exit 2; }
ROUNDS="$1"
shift
BINS=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
  BINS+=("$1")
  shift
done
[ "${1:-}" = "--" ] && shift
SECS=12

declare -A CPU TURNS
for _ in $(seq "$ROUNDS"); do
  for bin in "${BINS[@]}"; do
    out="$(LOADGEN_SERVER_BIN="$bin" "$CARGO_TARGET_DIR/release/loadgen" --cpu-only --secs "$SECS" --pieces 20 "$@" 2>&1)"
    # "... 0.45 ms (2135 turns, 960 ms CPU) target: ..."
    row="$(grep -i "cpu per turn" <<<"$out" || true)"
    turns="$(sed -n 's/.*(\([0-9]*\) turns, \([0-9]*\) ms CPU).*/\1/p' <<<"$row")"
    cpu="$(sed -n 's/.*(\([0-9]*\) turns, \([0-9]*\) ms CPU).*/\2/p' <<<"$row")"
    [ -n "$turns" ] || { echo "no figure from $bin:"; echo "$out" | tail -5; exit 1; }
    TURNS[$bin]=$(( ${TURNS[$bin]:-0} + turns ))
    CPU[$bin]=$(( ${CPU[$bin]:-0} + cpu ))
    echo "$bin: $turns turns, $cpu ms CPU, $(awk "BEGIN { printf \"%.2f\", $cpu / $turns }") ms a turn"
  done
done

echo
first="${BINS[0]}"
base="$(awk "BEGIN { print ${CPU[$first]} / ${TURNS[$first]} }")"
for bin in "${BINS[@]}"; do
  awk -v b="$bin" -v c="${CPU[$bin]}" -v t="${TURNS[$bin]}" -v base="$base" \
    'BEGIN { printf "%s: %d turns, %d ms CPU, %.3f ms a turn, %+.0f %% against the first\n", b, t, c, c / t, 100 * (c / t / base - 1) }'
done
