#!/usr/bin/env bash
# README "test": set up what is missing, then format and lint checks, unit + integration
# tests (real SecantusDB, real SMTP listener, scripted OpenAI-compatible model), the release
# build, an API fuzz from the server's own OpenAPI document, and Playwright in Chromium.
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
cargo clippy --workspace --all-targets -- -D warnings

step "unit and integration tests"
cargo test -p app -p server -p testkit --no-fail-fast

step "release build for the browser tests"
cargo leptos build --release --precompress
cargo build --release -p devtools --bin stubs

step "API fuzz (schemathesis against /api/openapi.json)"
"$ROOT/scripts/fuzz-api.sh"

step "Playwright (Debian Chromium)"
(cd end2end && npx playwright test)

step "done"
echo "[test] all passed in $(( $(date +%s) - started )) s"
