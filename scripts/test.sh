#!/usr/bin/env bash
# Runs every test of openlmt: the Rust unit, property and black-box tests,
# then the panel's end-to-end test in headless Chromium.
# Needs: the Rust toolchain, openssl (TLS test), Node.js with npm, and
# Debian's chromium (see .ci/run, which installs them).
set -euo pipefail
cd "$(dirname "$0")/.."

# test-hooks: the engine's import hooks (crates/ingest/src/hooks.rs) and the
# server's test-only routes (GET /api/test/panic), compiled in for the tests
# only; a release build lacks them.
cargo test --workspace --locked --features openlmt/test-hooks

if ! command -v chromium >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
    echo "error: the panel's end-to-end test needs chromium and node (run .ci/run, or: apt-get install chromium)" >&2
    exit 1
fi
cargo build --locked -p openlmt --features test-hooks
( cd e2e && npm ci --no-audit --no-fund --loglevel=error && OPENLMT_BIN="$PWD/../target/debug/openlmt" node --test )
