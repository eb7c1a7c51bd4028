#!/usr/bin/env bash
# Makes the profile the shipped server is optimised with (profile-guided optimisation):
# builds the server instrumented (in its own target folder, so the usual build stays
# cached), runs it through chat turns (loadgen: back to back, paced, pausing clients) and
# through pages, REST and auth, then merges what it counted into server/pgo/server.profdata.gz
# and notes the LLVM version that wrote it in server/pgo/llvm-version.
#
# The build (`scripts/env.sh`, `release_build`) uses that profile when this rustc's LLVM has
# the same major version, and builds without it otherwise. Code changed since the profile
# was made is simply optimised without it: re-run this after large changes to hot paths.
# Not part of the tests: it takes about 25 minutes on a fresh cache.
#
# Usage: scripts/pgo.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"

HOST="$(rustc -vV | sed -n 's/^host: //p')"
SYSROOT="$(rustc --print sysroot)"
PROFDATA="$SYSROOT/lib/rustlib/$HOST/bin/llvm-profdata"
if [ ! -x "$PROFDATA" ]; then
  rustup component add llvm-tools
fi
RAW="$CACHE/pgo/raw"

# The instrumented build: the same cargo-leptos build as the shipped one, so every crate and
# function is named as in the optimised build and the counts match them.
step() { printf '\033[1;34m[pgo]\033[0m %s\n' "$*"; }
step "building the instrumented server"
INSTRUMENTED_TARGET="$CACHE/pgo/target"
env "$(host_rustflags "-Cprofile-generate=$RAW")" CARGO_TARGET_DIR="$INSTRUMENTED_TARGET" \
  LEPTOS_SITE_ROOT="$CACHE/pgo/site" cargo leptos build --release
SERVER="$INSTRUMENTED_TARGET/server-release/server"
cargo build --release -p devtools --bin loadgen
LOADGEN="$CARGO_TARGET_DIR/release/loadgen"
# The build ran instrumented build scripts and proc-macros: only the server's counts are kept.
rm -rf "$RAW"
mkdir -p "$RAW"

# Chat turns as the benchmarks run them. Each run starts the server and stops it with
# SIGTERM, when it writes its counts.
step "chat turns"
for mode in "" "--delta-ms 20" "--think-ms 200"; do
  # shellcheck disable=SC2086 # the mode is two words or none
  LOADGEN_SERVER_BIN="$SERVER" "$LOADGEN" --cpu-only --secs 10 --pieces 20 $mode | grep -i "cpu per turn"
done

# Pages, REST, auth and assets, so their code is not taken for cold and shrunk.
step "pages, REST and auth"
PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
ADDR="127.0.0.1:$PORT"
DATA="$(mktemp -d)"
# No SMTP_URL: codes go to DATA_DIR/outbox. No model is asked (chat turns came from loadgen).
BIND_ADDR="$ADDR" DATA_DIR="$DATA" LEPTOS_SITE_ROOT="$CACHE/pgo/site" DISABLE_RATE_LIMITS=true \
  LLM_BASE_URL="http://127.0.0.1:9/v1" \
  "$SERVER" >"$CACHE/pgo/server.log" 2>&1 &
PID=$!
trap 'kill "$PID" 2>/dev/null || true; rm -rf "$DATA"' EXIT
for _ in $(seq 120); do
  curl -fs "http://$ADDR/health" >/dev/null && break
  sleep 0.5
done
python3 "$ROOT/scripts/pgo_traffic.py" "http://$ADDR" "$DATA"
kill -TERM "$PID"
wait "$PID" || true
trap - EXIT
rm -rf "$DATA"

step "merging $(find "$RAW" -name '*.profraw' | wc -l) profiles"
mkdir -p "$ROOT/server/pgo"
# Sparse: functions never run keep no record, so they are optimised as without a profile
# rather than taken for cold and shrunk.
"$PROFDATA" merge --sparse -o "$CACHE/pgo/server.profdata" "$RAW"
gzip -9 -n -c "$CACHE/pgo/server.profdata" >"$ROOT/server/pgo/server.profdata.gz"
rustc -vV | sed -n 's/^LLVM version: \([0-9]*\).*/\1/p' >"$ROOT/server/pgo/llvm-version"
ls -l "$ROOT/server/pgo"
step "done: rebuild with scripts/run.sh or scripts/test.sh to use it"
