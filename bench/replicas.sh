#!/usr/bin/env bash
# Benchmark of openlmt on PostgreSQL next to SQLite, and of two replicas on
# one PostgreSQL database (issue 10).
#
# A benchmark, not a test: it prints figures and always exits 0 once it has
# measured (non-zero only when it cannot set up the measurement).
#
# What it does, in one run on one machine:
#   1. writes PACKAGES real scan packages (the corpus's Debian 12 host,
#      replicated under distinct endpoint ids) into one directory;
#   2. ROUNDS times, alternating which engine goes first: a complete import of
#      them by a fresh server on SQLite (a new data directory) and by a fresh
#      server on PostgreSQL (a new database on PG_ADMIN_URL's server); prints
#      each import's duration (its `duration_seconds`), the medians and the
#      ratio PostgreSQL / SQLite;
#   3. two replicas (A and B) on one new PostgreSQL database reading the same
#      directory: wrk against both status endpoints at once (each -t1
#      -cCONNECTIONS) with no import, then while A runs a complete import of
#      the packages (the import is cancelled afterwards); prints each
#      replica's requests/s, p99 and the ratio import / idle.
#
# Usage: bash bench/replicas.sh
# Knobs (environment):
#   PACKAGES=10000    scan packages
#   ROUNDS=1          import rounds (each: one SQLite and one PostgreSQL import)
#   PG_ADMIN_URL=postgres://postgres@127.0.0.1:5432/postgres
#                     a PostgreSQL server and a user that may create databases
#   DURATION=10       seconds of each measured wrk run (after 2 s of warm-up)
#   CONNECTIONS=32    wrk connections per replica
#   PACKAGES_CACHE=   reuse (or make) the packages in this directory
#   OPENLMT_BIN=, REPLICATE_BIN=   use these binaries instead of building
#   KEEP_TMP=1        keep the temporary directory (logs)

set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PACKAGES=${PACKAGES:-10000}
ROUNDS=${ROUNDS:-1}
PG_ADMIN_URL=${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-32}
KEEP_TMP=${KEEP_TMP:-0}

bench_need_tools curl jq wrk psql
bench_host_dir
if [[ -z "${OPENLMT_BIN:-}" || -z "${REPLICATE_BIN:-}" ]]; then
    say "building (cargo build --release -p openlmt, and the replicate example)"
    (cd "$ROOT" && cargo build --release -q -p openlmt && cargo build --release -q -p openlmt-scanpkg --example replicate) >&2
    T=$(bench_target_dir)
    OPENLMT_BIN=${OPENLMT_BIN:-$T/release/openlmt}
    REPLICATE_BIN=${REPLICATE_BIN:-$T/release/examples/replicate}
fi
[[ -x "$OPENLMT_BIN" ]] || die "no binary at $OPENLMT_BIN"
[[ -x "$REPLICATE_BIN" ]] || die "no replicate example at $REPLICATE_BIN"
psql "$PG_ADMIN_URL" -qAtc 'SELECT 1' >/dev/null || die "cannot reach PostgreSQL at $PG_ADMIN_URL"

BENCH_KEPT_NOTE=" (packages removed)"
# shellcheck disable=SC2317 # called by bench_cleanup
bench_keep_prune() { rm -rf "$DATA/datasource"; }
DATABASES=()
# shellcheck disable=SC2317 # the EXIT trap
replicas_cleanup() {
    local rc=$? db
    # First (bench_cleanup exits): FORCE ends the servers' connections.
    for db in "${DATABASES[@]}"; do
        psql "$PG_ADMIN_URL" -qAtc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
    done
    (exit "$rc")
    bench_cleanup
}
trap replicas_cleanup EXIT
bench_make_tmp openlmt-replicas
bench_replicate_estate "$PACKAGES"
PKGS=$(cd "$DATA/datasource" && pwd -P)

# new_database: a fresh, empty PostgreSQL database, dropped on exit; sets
# DB_URL (not a $(…) call: the list of databases to drop lives here).
new_database() {
    local name="openlmt_bench_$$_${#DATABASES[@]}"
    psql "$PG_ADMIN_URL" -qAtc "CREATE DATABASE $name" >/dev/null || die "cannot create $name"
    DATABASES+=("$name")
    DB_URL="${PG_ADMIN_URL%/*}/$name"
}

# start_node DIR NAME [DATABASE_URL]: a server on data directory DIR reading
# PKGS; sets NODE_PID and NODE_BASE.
start_node() {
    local dir=$1 name=$2 url=${3:-}
    mkdir -p "$dir"
    printf 'node_name = "%s"\n[[datasource]]\nname = "default"\npath = "%s"\n' "$name" "$PKGS" >"$dir.toml"
    if [[ -n "$url" ]]; then export OPENLMT_DATABASE_URL="$url"; else unset OPENLMT_DATABASE_URL; fi
    OPENLMT_LOG=warn OPENLMT_ADMIN_PASSWORD="$PASSWORD" \
        "$OPENLMT_BIN" serve --data-dir "$dir" --listen 127.0.0.1:0 --config "$dir.toml" \
        >"$dir.out" 2>"$dir.err" &
    NODE_PID=$!
    PIDS+=("$NODE_PID")
    unset OPENLMT_DATABASE_URL
    NODE_BASE=""
    for _ in $(seq 600); do
        NODE_BASE=$(sed -n 's|^openlmt listening on \(http://127\.0\.0\.1:[0-9]*\).*|\1|p' "$dir.out")
        [[ -n "$NODE_BASE" ]] && break
        kill -0 "$NODE_PID" 2>/dev/null || { cat "$dir.err" >&2; die "openlmt exited"; }
        sleep 0.1
    done
    [[ -n "$NODE_BASE" ]] || die "openlmt did not say where it listens"
}

stop_node() {
    kill -TERM "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

token_of() {
    curl -fsS -X POST "$1/api/get_token" -H 'content-type: application/json' \
        -d "{\"user\":\"admin\",\"password\":\"$PASSWORD\"}" | jq -r .token
}

# timed_import BASE TOKEN: one complete import; prints its duration_seconds.
timed_import() {
    local base=$1 token=$2 mode
    curl -fsS -m 30 -H "Token: $token" "$base/api/import_status.json?run=true" >/dev/null
    for _ in $(seq 36000); do
        sleep 0.2
        mode=$(curl -fsS -m 30 -H "Token: $token" "$base/api/import_status.json" | jq -r .mode)
        [[ "$mode" == idle ]] && break
    done
    local row
    row=$(curl -fsS -m 30 -H "Token: $token" "$base/api/imports?limit=1" | jq -c '.rows[0]')
    [[ $(jq -r .status <<<"$row") == successful ]] || die "the import did not succeed: $row"
    jq -r .duration_seconds <<<"$row"
}

# --- 2. the same import on SQLite and on PostgreSQL ------------------------------
RESULTS="$TMP/imports.tsv"
: >"$RESULTS"
for round in $(seq "$ROUNDS"); do
    if ((round % 2)); then order=(sqlite postgres); else order=(postgres sqlite); fi
    for engine in "${order[@]}"; do
        url=""
        if [[ $engine == postgres ]]; then
            new_database
            url=$DB_URL
        fi
        start_node "$TMP/import-$engine-$round" "bench-$engine" "$url"
        tok=$(token_of "$NODE_BASE")
        secs=$(timed_import "$NODE_BASE" "$tok")
        say "  round $round $engine: ${secs} s"
        printf '%s\t%s\t%s\n' "$engine" "$round" "$secs" >>"$RESULTS"
        stop_node "$NODE_PID"
    done
done
SQLITE_MED=$(awk '$1=="sqlite"{print $3}' "$RESULTS" | median)
PG_MED=$(awk '$1=="postgres"{print $3}' "$RESULTS" | median)

# --- 3. two replicas: the status endpoint idle and during an import ------------
new_database
PG_URL=$DB_URL
start_node "$TMP/replica-a" replica-a "$PG_URL"
A_PID=$NODE_PID A_BASE=$NODE_BASE
start_node "$TMP/replica-b" replica-b "$PG_URL"
B_PID=$NODE_PID B_BASE=$NODE_BASE
A_TOK=$(token_of "$A_BASE")
B_TOK=$(token_of "$B_BASE")
STATUS_RESULTS="$TMP/status.tsv"
: >"$STATUS_RESULTS"

# both_wrk KIND: wrk on both replicas at once
both_wrk() {
    local kind=$1 n base tok out
    for n in a b; do
        if [[ $n == a ]]; then base=$A_BASE tok=$A_TOK; else base=$B_BASE tok=$B_TOK; fi
        wrk -t1 -c"$CONNECTIONS" -d2s -H "Token: $tok" "$base/api/import_status.json" >/dev/null 2>&1 &
    done
    wait_wrk
    for n in a b; do
        if [[ $n == a ]]; then base=$A_BASE tok=$A_TOK; else base=$B_BASE tok=$B_TOK; fi
        out="$TMP/wrk-$kind-$n.txt"
        wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -H "Token: $tok" \
            "$base/api/import_status.json" >"$out" 2>&1 &
    done
    wait_wrk
    for n in a b; do
        out="$TMP/wrk-$kind-$n.txt"
        [[ -n "$(wrk_rps "$out")" ]] || { cat "$out" >&2; die "cannot parse wrk output ($kind, $n)"; }
        printf '%s\t%s\t%s\t%s\t%s\n' "$kind" "$n" "$(wrk_rps "$out")" \
            "$(wrk_percentile "$out" 99%)" "$(wrk_errors "$out")" >>"$STATUS_RESULTS"
        say "  $kind replica $n: $(wrk_rps "$out") req/s, p99 $(wrk_percentile "$out" 99%) ms, errors $(wrk_errors "$out")"
    done
}
wait_wrk() {
    local p
    for p in $(jobs -p); do
        [[ " ${PIDS[*]} " == *" $p "* ]] || wait "$p" || true
    done
}

say "two replicas, no import"
both_wrk idle
say "two replicas, replica A importing $PACKAGES packages"
curl -fsS -H "Token: $A_TOK" "$A_BASE/api/import_status.json?run=true" >/dev/null
for _ in $(seq 100); do
    [[ $(curl -fsS -H "Token: $B_TOK" "$B_BASE/api/import_status.json" | jq -r .mode) == running ]] && break
    sleep 0.1
done
both_wrk import
STILL=$(curl -fsS -H "Token: $B_TOK" "$B_BASE/api/import_status.json" | jq -r .mode)
ID=$(curl -fsS -H "Token: $B_TOK" "$B_BASE/api/imports?limit=1" | jq -r '.rows[0].id')
curl -sS -X POST -H "Token: $B_TOK" "$B_BASE/api/imports/$ID/cancel" >/dev/null || true

rps() { awk -v k="$1" -v n="$2" '$1==k && $2==n {print $3}' "$STATUS_RESULTS"; }
p99() { awk -v k="$1" -v n="$2" '$1==k && $2==n {print $4}' "$STATUS_RESULTS"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

echo "# openlmt on PostgreSQL and SQLite, and two replicas (bench/replicas.sh)"
echo "machine: $(cpu_model), $(nproc) CPUs, $(mem_total); commit $(bench_rev)"
echo "postgres: $(psql "$PG_ADMIN_URL" -qAtc 'SHOW server_version')"
echo
echo "## one complete import of $PACKAGES packages (duration_seconds), $ROUNDS round(s)"
awk '{printf "  round %s %-8s %8.1f s\n", $2, $1, $3}' "$RESULTS"
echo "  median: SQLite ${SQLITE_MED} s, PostgreSQL ${PG_MED} s; PostgreSQL / SQLite = $(ratio "$PG_MED" "$SQLITE_MED")"
echo
echo "## GET /api/import_status.json on two replicas at once (wrk -t1 -c$CONNECTIONS -d${DURATION}s each)"
for n in a b; do
    echo "  replica $n: idle $(rps idle $n) req/s (p99 $(p99 idle $n) ms), during the import $(rps import $n) req/s (p99 $(p99 import $n) ms); import / idle = $(ratio "$(rps import $n)" "$(rps idle $n)")"
done
TOTAL_IDLE=$(awk '$1=="idle"{s+=$3} END{printf "%.0f", s}' "$STATUS_RESULTS")
TOTAL_IMPORT=$(awk '$1=="import"{s+=$3} END{printf "%.0f", s}' "$STATUS_RESULTS")
echo "  both: idle $TOTAL_IDLE req/s, during the import $TOTAL_IMPORT req/s; import / idle = $(ratio "$TOTAL_IMPORT" "$TOTAL_IDLE")"
echo "  (the import was $STILL at the end of the measurement; errors: $(awk '{s+=$5} END{print s+0}' "$STATUS_RESULTS"))"
