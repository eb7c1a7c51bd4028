# Shared environment for run.sh and test.sh (sourced, not executed).
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${HEALTHCHAT_CACHE:-$HOME/.cache/healthchat}"
# Build outputs live outside the clone so a fresh clone (CI) reuses them.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE/target}"
# cargo-leptos, wasm-bindgen and wasm-opt (npm binaryen) from the set-up.
export PATH="$CACHE/bin:$ROOT/end2end/node_modules/.bin:$PATH"
export LEPTOS_SITE_ROOT="$ROOT/target/site"

# `NAME=VALUE` that adds rustflags for this machine's own target only (the server, not the
# browser's wasm). That variable replaces `build.rustflags` of .cargo/config.toml, so those
# are repeated in it. Flags are split at spaces: keep $CACHE free of them.
host_rustflags() {
  local host base
  host="$(rustc -vV | sed -n 's/^host: //p')"
  base="$(python3 -c 'import sys, tomllib; print(" ".join(tomllib.load(open(sys.argv[1], "rb"))["build"]["rustflags"]))' \
    "$ROOT/.cargo/config.toml")"
  echo "CARGO_TARGET_$(tr 'a-z-' 'A-Z_' <<<"$host")_RUSTFLAGS=$base $*"
}

# The shipped app's build (`cargo leptos build --release` plus any arguments). The server is
# optimised with the profile in server/pgo (made by scripts/pgo.sh) when this rustc's LLVM
# has the major version that wrote it; otherwise it is built without, as correct and slower.
release_build() {
  local llvm packed="$ROOT/server/pgo/server.profdata.gz" profile="$CACHE/pgo/use.profdata"
  llvm="$(rustc -vV | sed -n 's/^LLVM version: \([0-9]*\).*/\1/p')"
  if [ -f "$packed" ] && [ "$llvm" = "$(cat "$ROOT/server/pgo/llvm-version" 2>/dev/null)" ]; then
    mkdir -p "$CACHE/pgo"
    # Rewritten only when it changed: a new file would rebuild every crate.
    gunzip -c "$packed" >"$profile.new"
    if cmp -s "$profile.new" "$profile"; then rm "$profile.new"; else mv "$profile.new" "$profile"; fi
    env "$(host_rustflags "-Cprofile-use=$profile")" cargo leptos build --release "$@"
  else
    echo "[build] no optimisation profile for LLVM $llvm (server/pgo): building the server without one"
    cargo leptos build --release "$@"
  fi
}
