#!/usr/bin/env bash
# README "test": set up what is missing, then format and lint checks, the release build,
# unit + integration tests on it (real SecantusDB, real SMTP listener, scripted
# OpenAI-compatible model), an API fuzz from the server's own OpenAPI document, and
# Playwright in Chromium.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
"$ROOT/scripts/setup.sh"
cd "$ROOT"
started=$(date +%s)
step_started=$started

# Prints how long the previous step took, then names the next one.
step() {
  local now
  now=$(date +%s)
  [ "$now" -gt "$started" ] && echo "[test]   ($(( now - step_started )) s)"
  step_started=$now
  echo "[test] $*"
}

step "format (cargo fmt --check) and lint (clippy, warnings are errors)"
cargo fmt --all --check
# In the release profile: its build scripts (llama.cpp's C++ among them) and proc-macros are
# the ones the release build below uses, so they are compiled once.
cargo clippy --release --workspace --all-targets -- -D warnings

# One compiled profile for everything below: the tests use the release build's
# dependencies (and its llama.cpp) instead of compiling a debug copy of them all.
step "release build (the app, the browser bundle, the test stubs)"
release_build --precompress
cargo build --release -p devtools --bin stubs

step "unit and integration tests (release profile)"
cargo test --release -p app -p server -p testkit --no-fail-fast

step "API fuzz (schemathesis against /api/openapi.json)"
"$ROOT/scripts/fuzz-api.sh"

step "Playwright (Debian Chromium)"
(cd end2end && npx playwright test)

step "done"
echo "[test] all passed in $(( $(date +%s) - started )) s"
