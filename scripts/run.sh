#!/usr/bin/env bash
# README "run": set up what is missing, build the release app, serve it at :8004 on the
# embedded database (unless MONGODB_URI is set).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
"$ROOT/scripts/setup.sh"
cd "$ROOT"
started=$(date +%s)
echo "[run] building the release app (minutes on a fresh machine, seconds when nothing changed)"
release_build --precompress
echo "[run] built in $(( $(date +%s) - started )) s; serving on http://${BIND_ADDR:-127.0.0.1:8004}"
# The shipped server is built in its own profile (`server-release` in Cargo.toml).
exec "$CARGO_TARGET_DIR/server-release/server"
