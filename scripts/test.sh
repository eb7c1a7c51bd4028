#!/usr/bin/env bash
# README "test": set up what is missing, then unit + integration tests (real SecantusDB,
# real SMTP listener, scripted OpenAI-compatible model), then Playwright in Chromium.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
"$ROOT/scripts/setup.sh"
cd "$ROOT"
started=$(date +%s)

echo "[test] unit and integration tests"
cargo test -p app -p server -p testkit --no-fail-fast

echo "[test] release build for the browser tests"
cargo leptos build --release
cargo build --release -p devtools --bin stubs
"$ROOT/scripts/fuzz-api.sh"

echo "[test] Playwright (Debian Chromium)"
(cd end2end && npx playwright test)

echo "[test] all passed in $(( $(date +%s) - started )) s"
