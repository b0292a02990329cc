#!/usr/bin/env bash
# Every test Portcullis has: formatting, clippy, cargo tests (unit, router,
# store, conformance, corpus), then the browser tests against the release binary.
set -euo pipefail
cd "$(dirname "$0")"

cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
cargo test --workspace
cargo build --release

chromium_bin=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$chromium_bin" ]; then
  echo "error: $chromium_bin not found: install Debian's chromium (apt-get install chromium) or set CHROMIUM" >&2
  exit 1
fi
(cd playwright && npm ci --no-audit --no-fund && npm test)
