# Shared by the scripts in this folder: where builds go and the tools they need.
# Sourced, not run.

set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Builds live outside the clone so fresh clones (and CI) reuse them.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/dial-target}"
WASM_BINDGEN_VERSION="0.2.130"
WASM_SPLIT_VERSION=0.2.3
# Where `cargo install` puts tools (CARGO_HOME/bin), so a tool installed below is found.
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

log() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }

ensure_rust_tools() {
  if ! rustup target list --installed 2>/dev/null | grep -q '^wasm32-unknown-unknown$'; then
    log "Adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi
  if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WASM_BINDGEN_VERSION" ]; then
    log "Installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 7 minutes, once per machine)"
    # Not --locked: its lock file names a webpki-roots version the registry no longer has.
    cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
  fi
  # wasm-split-cli cuts the WASM at the app's lazy routes (`#[lazy_route]`) into chunks a
  # page loads when it needs them; the same tool and version cargo-leptos' `--split` uses
  # as a library (0.2.3 reads wasm-bindgen ≥ 0.2.128's renamed descriptors).
  if ! cargo install --list 2>/dev/null | grep -q "^wasm_split_cli_support v$WASM_SPLIT_VERSION:"; then
    log "Installing wasm-split-cli $WASM_SPLIT_VERSION (about 2 minutes, once per machine)"
    cargo install wasm_split_cli_support --version "$WASM_SPLIT_VERSION" --features build-binary --locked --force
  fi
}

ensure_chromium() {
  if [ ! -x /usr/bin/chromium ]; then
    log "Installing Chromium from Debian (Playwright cannot download its own browser here)"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
  fi
}

# brotli for the site's precompressed assets (scripts/build), from Debian.
ensure_brotli() {
  if ! command -v brotli >/dev/null; then
    log "Installing brotli from Debian (precompressed site assets)"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq brotli >/dev/null
  fi
}

# The release build's wasm-opt: binaryen 132 from npm, pinned in scripts/wasm-opt (its own
# install, not the test tooling's).
ensure_wasm_opt() {
  if [ ! -x "$ROOT/scripts/wasm-opt/node_modules/.bin/wasm-opt" ]; then
    log "Installing wasm-opt (binaryen 132 from npm)"
    (cd "$ROOT/scripts/wasm-opt" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

ensure_browser_modules() {
  if [ ! -x "$ROOT/browser/node_modules/.bin/esbuild" ] || [ ! -d "$ROOT/browser/node_modules/livekit-client" ]; then
    log "Installing the browser-calling packages (livekit-client, esbuild from npm)"
    (cd "$ROOT/browser" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

ensure_node_modules() {
  if [ ! -d "$ROOT/end2end/node_modules/@playwright/test" ]; then
    log "Installing the end-to-end test packages"
    (cd "$ROOT/end2end" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

# schemathesis (pinned, from PyPI) in a virtual environment outside the clone, for
# scripts/api-conformance.
SCHEMATHESIS_VERSION="4.32.5"
SCHEMATHESIS_VENV="$HOME/.cache/dial-tools/schemathesis-$SCHEMATHESIS_VERSION"
ensure_schemathesis() {
  if [ ! -x "$SCHEMATHESIS_VENV/bin/st" ]; then
    log "Installing schemathesis $SCHEMATHESIS_VERSION (API conformance tests)"
    if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' 2>/dev/null; then
      local sudo=""
      [ "$(id -u)" -ne 0 ] && sudo="sudo"
      $sudo apt-get update -qq
      DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-venv >/dev/null
    fi
    rm -rf "$SCHEMATHESIS_VENV"
    python3 -m venv "$SCHEMATHESIS_VENV"
    "$SCHEMATHESIS_VENV/bin/pip" install -q "schemathesis==$SCHEMATHESIS_VERSION"
  fi
}
