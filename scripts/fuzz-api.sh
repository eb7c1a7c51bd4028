#!/usr/bin/env bash
# API fuzz: schemathesis generates requests from the server's own OpenAPI document
# (/api/openapi.json) and fails on any 5xx, any status the document does not list, any body
# or header that does not match it, a request the document allows that is refused, or one it
# forbids that is accepted.
#
# Runs the shipped `server` (without rate limits) and `stubs` (SMTP sink, scripted model,
# mail API) on free ports with a fresh data directory, signs up a user (the code comes from
# the stubs' mail API), seeds two chat sessions over the WebSocket, then fuzzes every REST
# operation as that user. The WebSocket upgrade itself is left out: an HTTP fuzzer cannot
# speak it (the integration tests cover its 101/400/401).
#
# Needs: `cargo leptos build --release` (the server, in the `server-release` profile),
# `cargo build --release -p devtools --bin stubs` (as the README test command does) and the
# set-up's SecantusDB virtualenv.
# Environment: FUZZ_MAX_EXAMPLES (cases per operation in the fuzzing phase, 50),
# FUZZ_SEED (schemathesis' seed, fixed so CI runs the same cases; any number explores more).
# Arguments are passed on to `schemathesis run` (e.g. --include-path /chat/sessions).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
started=$(date +%s)
printf '\033[1;34m[fuzz]\033[0m %s\n' "API fuzz: schemathesis against /api/openapi.json of the shipped server"

SCHEMATHESIS_VERSION="4.32.5"
WEBSOCKETS_VERSION="15.0.1"
VENV="$CACHE/fuzz-venv"
SERVER="$CARGO_TARGET_DIR/server-release/server"
STUBS_BIN="$CARGO_TARGET_DIR/release/stubs"
MAX_EXAMPLES="${FUZZ_MAX_EXAMPLES:-50}"
SEED="${FUZZ_SEED:-20250101}"

say() { printf '\033[1;34m[fuzz]\033[0m %s\n' "$*"; }
die() { printf '\033[1;31m[fuzz]\033[0m %s\n' "$*" >&2; exit 1; }

[ -x "$SERVER" ] || die "$SERVER is missing: cargo leptos build --release"
[ -x "$STUBS_BIN" ] || die "$STUBS_BIN is missing: cargo build --release -p devtools --bin stubs"
[ -x "$CACHE/venv/bin/secantusd-py" ] || die "no SecantusDB at $CACHE/venv: run scripts/setup.sh"

# --- schemathesis and websockets, pinned, in their own virtualenv (once) ----------------
if "$VENV/bin/schemathesis" --version 2>/dev/null | grep -q "version $SCHEMATHESIS_VERSION\$" \
   && "$VENV/bin/python" -c "import websockets, sys; sys.exit(websockets.__version__ != '$WEBSOCKETS_VERSION')" 2>/dev/null; then
  printf '\033[0;90m[fuzz] ok: schemathesis %s in %s\033[0m\n' "$SCHEMATHESIS_VERSION" "$VENV"
else
  say "installing schemathesis $SCHEMATHESIS_VERSION and websockets $WEBSOCKETS_VERSION into $VENV (once)"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check \
    "schemathesis==$SCHEMATHESIS_VERSION" "websockets==$WEBSOCKETS_VERSION"
fi
PY="$VENV/bin/python"

# --- server and stubs on free ports, a fresh data directory -----------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/healthchat-fuzz.XXXXXX")
server_pid=""
stubs_pid=""
# Ends the processes this script started (by pid), politely first.
stop() {
  for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "$@"; do
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
}

cleanup() {
  local code=$?
  trap - EXIT INT TERM
  # SIGTERM lets the server drain and stop its SecantusDB.
  # shellcheck disable=SC2086
  stop $server_pid $stubs_pid
  if [ "$code" -ne 0 ]; then
    echo "--- server log (last 40 lines) ---" >&2; tail -n 40 "$work/server.log" >&2 2>/dev/null || true
    echo "--- stubs log (last 10 lines) ---" >&2; tail -n 10 "$work/stubs.log" >&2 2>/dev/null || true
  fi
  rm -rf "$work"
  exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_ports() {
  "$PY" -c '
import socket
socks = [socket.socket() for _ in range(4)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
'
}

# Up (true) when the URL answers; false when the process exits first or after 120 s.
answers() {
  local url=$1 pid=$2
  for _ in $(seq 1200); do
    curl -sf -o /dev/null "$url" && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# A port found free can be taken before it is bound: try again with new ones.
for attempt in 1 2 3; do
  read -r PORT SMTP_PORT LLM_PORT API_PORT < <(free_ports)
  BASE="http://127.0.0.1:$PORT"
  STUBS="http://127.0.0.1:$API_PORT"
  STUBS_SMTP_PORT=$SMTP_PORT STUBS_LLM_PORT=$LLM_PORT STUBS_API_PORT=$API_PORT STUBS_LLM_DELAY_MS=0 \
    "$STUBS_BIN" >"$work/stubs.log" 2>&1 &
  stubs_pid=$!
  data="$work/data-$attempt"
  mkdir -p "$data"
  # From the temp directory, so no developer's .env is read.
  (cd "$work" && exec env BIND_ADDR="127.0.0.1:$PORT" DATA_DIR="$data" \
    SMTP_URL="smtp://127.0.0.1:$SMTP_PORT" MAIL_FROM="Coach <coach@example.com>" \
    LLM_BASE_URL="http://127.0.0.1:$LLM_PORT/v1" LLM_MODEL=scripted \
    LEPTOS_SITE_ROOT="$ROOT/target/site" DISABLE_RATE_LIMITS=true RUST_LOG=warn \
    "$SERVER") >"$work/server.log" 2>&1 &
  server_pid=$!
  if answers "$STUBS/health" "$stubs_pid" && answers "$BASE/health" "$server_pid"; then
    break
  fi
  [ "$attempt" -lt 3 ] || die "the server or the stubs did not start (logs below)"
  say "start-up attempt $attempt failed; retrying on other ports"
  stop "$server_pid" "$stubs_pid"
  server_pid=""
  stubs_pid=""
done
say "server $BASE and stubs up after $(( $(date +%s) - started )) s"

# --- a verified user and two sessions ---------------------------------------------------
json() { "$PY" -c "import json, sys; print(json.load(sys.stdin)$1)"; }
EMAIL="fuzz-$$@example.com"
curl -sf -X POST "$BASE/auth/signup" -H 'content-type: application/json' \
  -d "{\"email\":\"$EMAIL\",\"password\":\"fuzz-password-1\",\"name\":\"Fuzz\"}" >/dev/null
CODE=$(curl -sf "$STUBS/mail/latest?to=$EMAIL&wait_ms=10000" | json '["code"]')
TOKEN=$(curl -sf -X POST "$BASE/auth/verify-email" -H 'content-type: application/json' \
  -d "{\"email\":\"$EMAIL\",\"code\":\"$CODE\"}" | json '["access_token"]')
# A second sign-in only for /auth/signout, which ends the sign-in of the token it is sent.
curl -sf -X POST "$BASE/auth/signin" -H 'content-type: application/json' \
  -d "{\"email\":\"$EMAIL\",\"password\":\"fuzz-password-1\"}" >/dev/null
CODE=$(curl -sf "$STUBS/mail/latest?to=$EMAIL&after=1&wait_ms=10000" | json '["code"]')
SIGNOUT_TOKEN=$(curl -sf -X POST "$BASE/auth/verify-signin" -H 'content-type: application/json' \
  -d "{\"email\":\"$EMAIL\",\"code\":\"$CODE\"}" | json '["access_token"]')
mapfile -t SESSIONS < <("$PY" "$ROOT/scripts/fuzz_seed.py" "$BASE" "$TOKEN" 2)
[ "${#SESSIONS[@]}" -eq 2 ] || die "seeding sessions failed"
say "signed up $EMAIL; sessions ${SESSIONS[*]}"

# --- the fuzz ---------------------------------------------------------------------------
# The session routes use the seeded sessions (one read and renamed, one deleted and restored),
# so their 200s and bodies are checked too; every other value is generated.
export FUZZ_TOKEN="$TOKEN" FUZZ_SIGNOUT_TOKEN="$SIGNOUT_TOKEN"
export FUZZ_SESSION_READ="${SESSIONS[0]}" FUZZ_SESSION_DELETE="${SESSIONS[1]}"
cat >"$work/schemathesis.toml" <<'TOML'
headers = { Authorization = "Bearer ${FUZZ_TOKEN}" }

[checks]
enabled = false
not_a_server_error.enabled = true
status_code_conformance.enabled = true
content_type_conformance.enabled = true
response_headers_conformance.enabled = true
response_schema_conformance.enabled = true
positive_data_acceptance.enabled = true
negative_data_rejection.enabled = true

[[operations]]
include-path = "/chat/ws"
enabled = false

[[operations]]
include-path = "/auth/signout"
headers = { Authorization = "Bearer ${FUZZ_SIGNOUT_TOKEN}" }

# A well-formed but wrong code is a 400 by design (the schema cannot know the mailed code);
# schemathesis excuses that only for operations it knows to grant credentials.
[[operations]]
include-path-regex = "^/auth/verify-(email|signin)$"
checks.positive_data_acceptance.enabled = false

[[operations]]
include-path-regex = "^/chat/sessions/\\{id\\}(/export)?$"
include-method-regex = "^(GET|PATCH)$"
parameters = { "path.id" = "${FUZZ_SESSION_READ}" }

[[operations]]
include-path-regex = "^/chat/sessions/\\{id\\}(/restore)?$"
include-method-regex = "^(DELETE|POST)$"
parameters = { "path.id" = "${FUZZ_SESSION_DELETE}" }
TOML
cd "$work"
say "schemathesis $SCHEMATHESIS_VERSION: --max-examples $MAX_EXAMPLES --seed $SEED"
"$VENV/bin/schemathesis" --config-file "$work/schemathesis.toml" run "$BASE/api/openapi.json" \
  --max-examples "$MAX_EXAMPLES" --seed "$SEED" --generation-database none --no-color "$@"
say "passed in $(( $(date +%s) - started )) s"
