# Shared environment for run.sh and test.sh (sourced, not executed).
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${HEALTHCHAT_CACHE:-$HOME/.cache/healthchat}"
# Build outputs live outside the clone so a fresh clone (CI) reuses them.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE/target}"
# cargo-leptos, wasm-bindgen and wasm-opt (npm binaryen) from the set-up.
export PATH="$CACHE/bin:$ROOT/end2end/node_modules/.bin:$PATH"
export LEPTOS_SITE_ROOT="$ROOT/target/site"
