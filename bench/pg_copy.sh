#!/usr/bin/env bash
# Benchmark of the PostgreSQL engine's bulk fact writes against psql's \copy
# (issue 10, item 2: at least 70 % of \copy's rows per second).
#
# A benchmark, not a test: it prints figures and a PASS/FAIL and exits 0 once
# it has measured (non-zero only when it cannot set up).
#
# Each round runs crates/storage/examples/pg_copy_rate.rs (see its header):
# the corpus host's 759 real installed packages for COMPUTERS computers, written
# by Store::write_scan_packages (COPY … FROM STDIN per batch of ~20,000 rows,
# in the batch's transaction) into one fresh database, then exported and
# loaded by `psql -c "\copy installed_packages (…) FROM FILE"` into another
# fresh database with the same schema, each timed; the two databases are made
# on the server of OPENLMT_TEST_DATABASE_URL and dropped afterwards.
#
# Usage: bash bench/pg_copy.sh
# Knobs (environment):
#   OPENLMT_TEST_DATABASE_URL  the PostgreSQL server (default: the local one,
#                              postgres://postgres@127.0.0.1:5432/test)
#   COMPUTERS=2000   computers per round (x 759 rows)
#   ROUNDS=5         rounds; the median ratio decides
#   PG_COPY_RATE_BIN=  use this example binary instead of building one
set -euo pipefail
cd "$(dirname "$0")/.."
export OPENLMT_TEST_DATABASE_URL=${OPENLMT_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
COMPUTERS=${COMPUTERS:-2000}
ROUNDS=${ROUNDS:-5}
command -v psql >/dev/null || { echo "error: needs psql (apt-get install postgresql-client)" >&2; exit 2; }
if [[ -z ${PG_COPY_RATE_BIN:-} ]]; then
    cargo build --quiet --release -p openlmt-storage --example pg_copy_rate
    PG_COPY_RATE_BIN=${CARGO_TARGET_DIR:-target}/release/examples/pg_copy_rate
fi
TMP=$(mktemp -d /tmp/openlmt-pgcopy.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
echo "# openlmt PostgreSQL bulk writes vs psql \\copy (bench/pg_copy.sh)"
echo "machine: $(nproc) CPU ($(sed -n 's/^model name\t: //p' /proc/cpuinfo | head -n 1)), $(free -g | awk '/^Mem:/ {print $2}') GiB, Linux $(uname -r)"
echo "server:  $(psql -X -Atd "$OPENLMT_TEST_DATABASE_URL" -c 'SHOW server_version') at ${OPENLMT_TEST_DATABASE_URL%%\?*}"
echo "commit:  $(git rev-parse --short HEAD)$(git diff --quiet || echo ' + uncommitted changes')"
echo "rows:    $COMPUTERS computers x 759 installed packages per round, $ROUNDS rounds"
echo "loadavg: $(cut -d' ' -f1-3 /proc/loadavg) before (other processes on the machine add noise)"
echo
echo "| round | rows | openlmt s | openlmt rows/s | psql \\copy s | psql rows/s | ratio |"
echo "|---:|---:|---:|---:|---:|---:|---:|"
ratios=()
for r in $(seq 1 "$ROUNDS"); do
    line=$("$PG_COPY_RATE_BIN" "$COMPUTERS" "$TMP")
    declare -A f=()
    for kv in $line; do [[ $kv == *=* ]] && f[${kv%%=*}]=${kv#*=}; done
    echo "| $r | ${f[rows]} | ${f[openlmt_secs]} | ${f[openlmt_rows_per_sec]} | ${f[psql_secs]} | ${f[psql_rows_per_sec]} | ${f[ratio]} |"
    ratios+=("${f[ratio]}")
    unset f
done
median=$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}')
verdict=$(awk -v m="$median" 'BEGIN {print (m >= 0.70 ? "PASS" : "FAIL")}')
echo
echo "median ratio openlmt/psql rows per second: $median (target >= 0.70): $verdict"
