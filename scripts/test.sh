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

# The black-box tests (crates/cli/tests) again, every server on PostgreSQL:
# each on a database of its own, made on the server of
# OPENLMT_TEST_DATABASE_URL and dropped after it (.ci/run sets the variable to
# the local server). Tests that read or edit the SQLite file say they are
# SQLite-only and skip.
if [ -n "${OPENLMT_TEST_DATABASE_URL:-}" ]; then
    OPENLMT_TEST_ENGINE=postgres cargo test --locked -p openlmt --features test-hooks --test '*'
else
    echo "SKIPPED: OPENLMT_TEST_DATABASE_URL is not set: the black-box tests did not run on PostgreSQL" >&2
fi

if ! command -v chromium >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
    echo "error: the panel's end-to-end test needs chromium and node (run .ci/run, or: apt-get install chromium)" >&2
    exit 1
fi
cargo build --locked -p openlmt --features test-hooks
( cd e2e && npm ci --no-audit --no-fund --loglevel=error && OPENLMT_BIN="$PWD/../target/debug/openlmt" node --test )
