#!/usr/bin/env bash
# Benchmark of a complete import of 10,000 scan packages (issue 3).
#
# A benchmark, not a test: it prints figures and a PASS/FAIL per target and
# exits 0 once it has measured (non-zero only when it cannot set up).
#
# The estate is ONE real host replicated: the raw evidence in
# shared/corpus/hosts/debian12-vm (cpuinfo, lscpu.json, dpkg-status with 759
# installed packages, isotag_scan/ with 759 SWID tags) is written PACKAGES
# times under distinct endpoint ids by crates/scanpkg/examples/replicate.rs.
#
# What it measures, in one run on one machine:
#   1. end to end time of the first `complete` import from an empty database
#      (GET /api/import_status.json?run=true, then polled until mode=idle and
#      the import is successful), and each step's duration from the import
#      log's millisecond timestamps;                      target < 60 s
#   2. the package-fact write rate: after the import, the same installed_packages
#      rows written again through openlmt's write path alone
#      (crates/storage/examples/write_rate.rs: Store::write_scan_packages, the
#      import's batches, passive checkpoints beside) into a fresh database,
#      against SQLite's own bulk INSERT ... SELECT of the same rows into the
#      same schema (same index, WAL, synchronous=FULL), one transaction, on a
#      copy of the database. Judged twice, and the lower ratio counts: both
#      with openlmt's batch settings (sqlite3 with synchronous=NORMAL, the
#      same 32 MiB cache and wal_autocheckpoint=0; openlmt's write calls),
#      and both durable (sqlite3 with synchronous=FULL, its COMMIT
#      checkpointing; openlmt plus a final wal_checkpoint(TRUNCATE)). The import's own writer figures
#      (from its log; it shares the two cores with the parsers) and the rate
#      of the whole read/write step are printed too;     target >= 70 %
#   3. peak RSS of the server (VmHWM) over the first import; target < 512 MiB
#   4. a second complete import with nothing new;         target < 1 s
#   5. p99 of GET /api/import_status.json during the first import, measured
#      over the whole import by bench/import/status_load.py: 16 keep-alive
#      connections, each polling 10 times a second (160 requests/s; a paced
#      poller, since an unpaced client takes a core from the import on a
#      2-core machine). STATUS_LOAD=wrk uses `wrk -t1 -c16 --latency`
#      (unpaced) instead;                                    target < 50 ms
#
# Usage: bash bench/import.sh
# Knobs (environment):
#   PACKAGES=10000   packages in the data source
#   HOST_DIR=        host evidence dir (default: shared/corpus/hosts/debian12-vm
#                    next to the repository, else /work/shared/corpus/...)
#   STATUS_LOAD=paced   paced | wrk | none: the load on the status endpoint
#   CONNECTIONS=16      its connections; RATE=10 requests/s per paced connection
#   PACKAGES_CACHE=     a directory to keep the replicated packages in and
#                       reuse on the next run (the replication takes ~45 s)
#   OPENLMT_BIN=, REPLICATE_BIN=, WRITE_RATE_BIN=   use these binaries instead
#                    of building
#   CARGO_TARGET_DIR is honoured for the build.
#   KEEP_TMP=1       keep the temporary directory (packages removed)

set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PACKAGES=${PACKAGES:-10000}
STATUS_LOAD=${STATUS_LOAD:-paced}
CONNECTIONS=${CONNECTIONS:-16}
RATE=${RATE:-10}
PACKAGES_CACHE=${PACKAGES_CACHE:-}
KEEP_TMP=${KEEP_TMP:-0}

bench_host_dir

BENCH_STOP_TRIES=100
BENCH_KEPT_NOTE=" (packages and baseline databases removed)"
# shellcheck disable=SC2317 # called by bench_cleanup
bench_keep_prune() { rm -rf "$TMP/data/datasource" "$TMP"/baseline*.db*; } # (a symlink when PACKAGES_CACHE is set)
BENCH_API_TIMEOUT=30

# --- tools -----------------------------------------------------------------
bench_need_tools wrk curl jq sqlite3 gawk

if [[ -z "${OPENLMT_BIN:-}" || -z "${REPLICATE_BIN:-}" || -z "${WRITE_RATE_BIN:-}" ]]; then
    say "building (cargo build --release -p openlmt -p openlmt-scanpkg -p openlmt-storage --bins --examples)"
    (cd "$ROOT" && cargo build --release -q -p openlmt -p openlmt-scanpkg -p openlmt-storage --bins --examples) >&2
    T=$(bench_target_dir)
    OPENLMT_BIN=${OPENLMT_BIN:-$T/release/openlmt}
    REPLICATE_BIN=${REPLICATE_BIN:-$T/release/examples/replicate}
    WRITE_RATE_BIN=${WRITE_RATE_BIN:-$T/release/examples/write_rate}
fi
[[ -x "$OPENLMT_BIN" ]] || die "no binary at $OPENLMT_BIN"
[[ -x "$REPLICATE_BIN" ]] || die "no replicate example at $REPLICATE_BIN"
[[ -x "$WRITE_RATE_BIN" ]] || die "no write_rate example at $WRITE_RATE_BIN"

bench_make_tmp openlmt-importbench

# --- the estate: one real host, replicated ----------------------------------
bench_replicate_estate "$PACKAGES"
sync

# --- openlmt ---------------------------------------------------------------
bench_start_openlmt
SERVER_PID=$OPENLMT_PID
bench_get_token

HWM_IDLE_KB=$(proc_kib VmHWM "$SERVER_PID")
# CPU seconds (user + system) of the server, per thread name; threads that
# ended are folded into the process totals only.
TCK=$(getconf CLK_TCK)
cpu_total() { awk -v t="$TCK" '{sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / t}' "/proc/$SERVER_PID/stat"; }
cpu_threads() { # tid, thread name, CPU seconds
    awk -v t="$TCK" '{c = $0; sub(/^[^(]*\(/, "", c); sub(/\).*$/, "", c); r = $0; sub(/^.*\) /, "", r)
        split(r, f, " "); n = split(FILENAME, p, "/"); printf "%s\t%s\t%.2f\n", p[n - 1], c, (f[12] + f[13]) / t}' \
        /proc/"$SERVER_PID"/task/*/stat 2>/dev/null || true
}
# Threads that end (the parsers) vanish from /proc: sample every second.
cpu_sampler() {
    while kill -0 "$SERVER_PID" 2>/dev/null; do
        cpu_threads
        sleep 1
    done
}
cpu_threads >"$TMP/cpu0.tsv"
CPU0=$(cpu_total)
rss_sampler >"$TMP/rss.txt" &
PIDS+=($!)
cpu_sampler >"$TMP/cpu.tsv" &
CPU_SAMPLER=$!
PIDS+=("$CPU_SAMPLER")

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

# --- 1. the first import, with a load on the status endpoint ----------------
say "first import: $PACKAGES packages, complete, empty database (status load: $STATUS_LOAD)"
LOAD_PID=""
case "$STATUS_LOAD" in
wrk)
    # Runs until the import ends; SIGINT makes wrk stop and print its report.
    wrk -t1 -c"$CONNECTIONS" -d3600s --latency -H "Token: $TOKEN" "$STATUS_URL" \
        >"$TMP/load.txt" 2>&1 &
    LOAD_PID=$!
    ;;
paced)
    python3 "$ROOT/bench/import/status_load.py" "$STATUS_URL" "$TOKEN" "$CONNECTIONS" "$RATE" \
        "$TMP/latencies.txt" >"$TMP/load.txt" 2>&1 &
    LOAD_PID=$!
    ;;
none) ;;
*) die "STATUS_LOAD must be paced, wrk or none" ;;
esac
if [[ -n "$LOAD_PID" ]]; then
    PIDS+=("$LOAD_PID")
    sleep 0.5
fi
T0=$(now)
T1_START=$T0
api "$STATUS_URL?run=true" >/dev/null
read -r T1 ST1 < <(wait_done 1 0.1)
T1_END=$T1
IMPORT1_SECS=$(sub "$T0" "$T1")
HWM_KB=$(proc_kib VmHWM "$SERVER_PID")
CPU1=$(cpu_total)
cpu_threads >>"$TMP/cpu.tsv"
kill "$CPU_SAMPLER" 2>/dev/null || true
if [[ -n "$LOAD_PID" ]]; then
    kill -INT "$LOAD_PID" 2>/dev/null || true
    wait "$LOAD_PID" 2>/dev/null || true
fi
LOAD_AFTER1=$(cut -d' ' -f1-3 /proc/loadavg)
say "  ${ST1} in ${IMPORT1_SECS} s"
[[ "$ST1" == successful ]] || { api "$BASE/api/imports/1/log" | tail -20 >&2; die "the first import did not succeed"; }
api "$BASE/api/imports/1" >"$TMP/import1.json"
api "$BASE/api/imports/1/log" >"$TMP/import1.log"

# --- 4. a second import, nothing new ----------------------------------------
say "second import: nothing new"
sleep 1
T0=$(now)
api "$STATUS_URL?run=true" >/dev/null
read -r T1 ST2 < <(wait_done 2 0.02)
IMPORT2_SECS=$(sub "$T0" "$T1")
api "$BASE/api/imports/2" >"$TMP/import2.json"
api "$BASE/api/imports/2/log" >"$TMP/import2.log"
say "  ${ST2} in ${IMPORT2_SECS} s"

# --- step durations from the logs (steps_of: bench/lib.sh) -----------------
steps_of "$TMP/import1.log" >"$TMP/steps1.tsv"
steps_of "$TMP/import2.log" >"$TMP/steps2.tsv"
READ_SECS=$(awk -F'\t' '$1=="Read and write scan packages"{print $2}' "$TMP/steps1.tsv")
IMPORT2_LOG_SECS=$(awk -F'\t' '$1=="total in the log"{print $2}' "$TMP/steps2.tsv")

# --- stop the server, then SQLite's own bulk insert on a copy ---------------
HWM_END_KB=$(proc_kib VmHWM "$SERVER_PID")
kill -TERM "$SERVER_PID"
for _ in $(seq 300); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
DB=$(find "$DATA" -maxdepth 2 -name '*.db' | head -1)
[[ -n "$DB" ]] || die "no database file under $DATA"
sqlite3 "$DB" 'PRAGMA wal_checkpoint(TRUNCATE);' >/dev/null
DB_BYTES=$(stat -c %s "$DB")
PF_ROWS=$(sqlite3 "$DB" 'SELECT count(*) FROM installed_packages;')
SW_ROWS=$(sqlite3 "$DB" 'SELECT count(*) FROM swid_facts;')
COMPUTERS=$(sqlite3 "$DB" 'SELECT count(*) FROM computers WHERE published = 1 AND in_inventory = 1;')
# The facts rows of import 1 (the second import wrote none).
PF_ROWS1=$(sqlite3 "$DB" 'SELECT count(*) FROM installed_packages WHERE import_id = 1;')

# bulk TABLE ROWS_PER_TX [SETTINGS]: copies TABLE's rows into a fresh table
# of the same schema and index, ROWS_PER_TX rows per transaction (0: one
# transaction), in a copy of the database; prints the seconds the INSERTs and
# COMMITs took. SETTINGS "full" (default): the server's synchronous=FULL and
# SQLite's defaults (the COMMIT also checkpoints the WAL into the database
# file); "batch": the settings openlmt writes its fact batches with
# (synchronous=NORMAL, cache_size=-32768, wal_autocheckpoint=0).
bulk() {
    local table=$1 per_tx=$2 mode=${3:-full} copy="$TMP/baseline.db" ddl idx
    rm -f "$copy" "$copy-wal" "$copy-shm"
    cp "$DB" "$copy"
    ddl=$(sqlite3 "$copy" "SELECT sql FROM sqlite_master WHERE type='table' AND name='$table';")
    idx=$(sqlite3 "$copy" "SELECT sql FROM sqlite_master WHERE type='index' AND tbl_name='$table' AND sql IS NOT NULL;")
    # (A table rebuilt by a migration's rename has its name quoted.)
    ddl=${ddl/CREATE TABLE \"$table\"/CREATE TABLE bulk_$table}
    ddl=${ddl/CREATE TABLE $table/CREATE TABLE bulk_$table}
    idx=$(sed "s/ ON $table / ON bulk_$table /; s/CREATE INDEX \([a-z_]*\)/CREATE INDEX bulk_\1/" <<<"$idx")
    {
        echo "PRAGMA journal_mode=WAL;"
        if [[ "$mode" == batch ]]; then
            echo "PRAGMA synchronous=NORMAL;"
            echo "PRAGMA cache_size=-32768;"
            echo "PRAGMA wal_autocheckpoint=0;"
        else
            echo "PRAGMA synchronous=FULL;"
        fi
        echo "PRAGMA foreign_keys=ON;"
        echo "CREATE TEMP TABLE staging AS SELECT * FROM $table;"
        echo "$ddl;"
        echo "$idx;"
        echo ".timer on"
        if ((per_tx == 0)); then
            echo "BEGIN; INSERT INTO bulk_$table SELECT * FROM staging; COMMIT;"
        else
            local n lo
            n=$(sqlite3 "$copy" "SELECT count(*) FROM $table;")
            for ((lo = 0; lo < n; lo += per_tx)); do
                echo "BEGIN; INSERT INTO bulk_$table SELECT * FROM staging WHERE rowid > $lo AND rowid <= $((lo + per_tx)); COMMIT;"
            done
        fi
        echo ".timer off"
        echo "SELECT 'rows', count(*) FROM bulk_$table;"
    } >"$TMP/bulk.sql"
    sqlite3 "$copy" <"$TMP/bulk.sql" >"$TMP/bulk-$table-$per_tx-$mode.out" 2>&1
    rm -f "$copy" "$copy-wal" "$copy-shm"
    awk '/^Run Time: real/{s+=$4} END{printf "%.3f", s}' "$TMP/bulk-$table-$per_tx-$mode.out"
}
say "SQLite bulk insert baselines (sqlite3 $(sqlite3 --version | cut -d' ' -f1))"
BULK_PF=$(bulk installed_packages 0)
BULK_SW=$(bulk swid_facts 0)
BULK_PF_20K=$(bulk installed_packages 20000)
BULK_PF_NC=$(bulk installed_packages 0 batch)
say "  installed_packages one tx ${BULK_PF} s (with openlmt's batch settings ${BULK_PF_NC} s), swid_facts ${BULK_SW} s, installed_packages 20k/tx ${BULK_PF_20K} s"
say "openlmt's write path alone on the same rows (write_rate example)"
"$WRITE_RATE_BIN" "$DB" "$TMP/writerate" >"$TMP/writerate.out" 2>&1 || { cat "$TMP/writerate.out" >&2; die "write_rate failed"; }
rm -rf "$TMP/writerate"
read -r WR_ROWS WR_BATCHES WR_SECS WR_CPU WR_CKPT < <(sed -n \
    's/^write_rate rows=\([0-9]*\) batches=\([0-9]*\) write_secs=\([0-9.]*\) cpu_secs=\([0-9.]*\) final_checkpoint_secs=\([0-9.]*\)$/\1 \2 \3 \4 \5/p' \
    "$TMP/writerate.out")
[[ -n "${WR_CKPT:-}" ]] || { cat "$TMP/writerate.out" >&2; die "cannot parse the write_rate output"; }
say "  $WR_ROWS rows in $WR_SECS s (+ final checkpoint $WR_CKPT s)"

# --- report --------------------------------------------------------------------
rate() { awk -v n="$1" -v s="$2" 'BEGIN{printf "%.0f", (s > 0) ? n / s : 0}'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.1f", (b > 0) ? 100 * a / b : 0}'; }
verdict() { awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN{ok = (op == "<") ? (v < t) : (v >= t); print ok ? "PASS" : "FAIL"}'; }

# The writer's own time, from the import log line
#   Wrote N package facts in A s (R rows/s; A' s of CPU) and M SWID facts in
#   B s (R rows/s; B' s of CPU); C s of commits, ...
# Package facts are charged their insert time plus ALL the commits (which
# also carry the SWID facts and computers): an upper bound of their time.
read -r W_PF W_PF_SECS W_PF_CPU W_SW W_SW_SECS W_SW_CPU W_COMMIT_SECS < <(sed -n \
    's/.*Wrote \([0-9]*\) package facts in \([0-9.]*\) s ([0-9]* rows\/s; \([0-9.]*\) s of CPU) and \([0-9]*\) SWID facts in \([0-9.]*\) s ([0-9]* rows\/s; \([0-9.]*\) s of CPU); \([0-9.]*\) s of commits.*/\1 \2 \3 \4 \5 \6 \7/p' \
    "$TMP/import1.log")
[[ -n "${W_COMMIT_SECS:-}" ]] || die "no 'Wrote ... package facts' line in the import log"
W_PF_ALL_SECS=$(awk -v a="$W_PF_SECS" -v c="$W_COMMIT_SECS" 'BEGIN{printf "%.3f", a + c}')
OL_RATE=$(rate "$PF_ROWS1" "$READ_SECS")
OL_ALL_RATE=$(rate "$((PF_ROWS1 + SW_ROWS))" "$READ_SECS")
SQ_RATE=$(rate "$PF_ROWS" "$BULK_PF")
SQ_ALL_SECS=$(awk -v a="$BULK_PF" -v b="$BULK_SW" 'BEGIN{printf "%.3f", a+b}')
SQ_ALL_RATE=$(rate "$((PF_ROWS + SW_ROWS))" "$SQ_ALL_SECS")
SQ_20K_RATE=$(rate "$PF_ROWS" "$BULK_PF_20K")
SQ_NC_RATE=$(rate "$PF_ROWS" "$BULK_PF_NC")
NC_CPU=$(awk '/^Run Time: real/{s += $6 + $8} END{printf "%.2f", s}' "$TMP/bulk-installed_packages-0-batch.out")
W_RATE=$(rate "$W_PF" "$W_PF_ALL_SECS")
# The write path alone: against sqlite3 with openlmt's batch settings, and
# with its final checkpoint against durable sqlite3 (FULL, COMMIT
# checkpointing). The lower ratio counts.
WR_RATE=$(rate "$WR_ROWS" "$WR_SECS")
WR_CK_SECS=$(awk -v a="$WR_SECS" -v b="$WR_CKPT" 'BEGIN{printf "%.3f", a + b}')
WR_CK_RATE=$(rate "$WR_ROWS" "$WR_CK_SECS")
WR_RATIO_NC=$(pct "$WR_RATE" "$SQ_NC_RATE")
WR_RATIO_CK=$(pct "$WR_CK_RATE" "$SQ_RATE")
WR_RATIO=$(awk -v a="$WR_RATIO_NC" -v b="$WR_RATIO_CK" 'BEGIN{print (a < b) ? a : b}')
RATIO=$(pct "$OL_RATE" "$SQ_RATE")
RATIO_ALL=$(pct "$OL_ALL_RATE" "$SQ_ALL_RATE")
HWM_MIB=$(awk -v k="$HWM_KB" 'BEGIN{printf "%.1f", k/1024}')
RSS_MAX_MIB=$(awk -v a="$T1_START" -v b="$T1_END" '$1 >= a && $1 <= b && $2 > m {m = $2} END{printf "%.1f", m/1024}' "$TMP/rss.txt")
HWM_END_MIB=$(awk -v k="$HWM_END_KB" 'BEGIN{printf "%.1f", k/1024}')
if [[ "$STATUS_LOAD" == wrk ]]; then
    L_P50=$(wrk_percentile "$TMP/load.txt" 50%)
    L_P99=$(wrk_percentile "$TMP/load.txt" 99%)
    L_MAX=$(to_ms "$(awk '$1=="Latency"{print $4}' "$TMP/load.txt")")
    L_REQ=$(awk '/requests in/{print $1}' "$TMP/load.txt")
    L_ERR=$(wrk_errors "$TMP/load.txt")
    L_DESC="wrk -t1 -c$CONNECTIONS --latency (unpaced)"
elif [[ "$STATUS_LOAD" == paced ]]; then
    read -r L_REQ L_ERR L_P50 L_P99 L_MAX <"$TMP/load.txt"
    L_DESC="$CONNECTIONS keep-alive connections x $RATE requests/s (bench/import/status_load.py)"
fi
if [[ -n "$LOAD_PID" ]]; then
    [[ -n "${L_P99:-}" && -n "${L_REQ:-}" ]] || { cat "$TMP/load.txt" >&2; die "cannot parse the status load report"; }
    L_RPS=$(awk -v n="$L_REQ" -v s="$IMPORT1_SECS" 'BEGIN{printf "%.0f", n/s}')
fi

REV=$(bench_rev)
cpu=$(cpu_model)
mem=$(mem_total)

echo "# openlmt import benchmark (bench/import.sh)"
echo "machine: $(nproc) CPU ($cpu), $mem, Linux $(uname -r); $(df -T "$TMP" | awk 'NR==2{print $2}') at $TMP"
echo "tools:   openlmt $("$OPENLMT_BIN" --version | awk '{print $2}') ($REV), sqlite3 CLI $(sqlite3 --version | cut -d' ' -f1), $(wrk -v 2>&1 | head -1 | awk '{print "wrk", $2}')"
echo "loadavg: $LOAD_BEFORE before the first import, $LOAD_AFTER1 after it (the machine is shared: other work may run)"
echo "estate:  $N_FILES packages replicated from ONE real host ($(basename "$HOST_DIR"): $HOST_DPKG installed dpkg packages, $HOST_SWID SWID tags), $((DS_BYTES / 1048576)) MiB, written ${REPLICATE_SECS}"
echo "result:  $COMPUTERS computers in the inventory, $PF_ROWS installed_packages rows, $SW_ROWS swid_facts rows, database $((DB_BYTES / 1048576)) MiB"
echo
echo "first import (complete, empty database): ${IMPORT1_SECS} s end to end, status $ST1"
echo "| step | seconds (from the import log) |"
echo "|---|---:|"
awk -F'\t' '{printf "| %s | %.3f |\n", $1, $2}' "$TMP/steps1.tsv"
echo
echo "installed_packages write rate:"
printf '  openlmt write path alone (write_rate example: Store::write_scan_packages, %s batches, passive checkpoints beside):\n' "$WR_BATCHES"
printf '            %s rows in %s s = %s rows/s (inserting thread CPU %s s); with a final wal_checkpoint(TRUNCATE) %s s = %s rows/s\n' "$WR_ROWS" "$WR_SECS" "$WR_RATE" "$WR_CPU" "$WR_CK_SECS" "$WR_CK_RATE"
printf '  sqlite3:  INSERT ... SELECT from a TEMP staging table, one transaction, WAL, synchronous=FULL, same index:\n'
printf '            installed_packages %s s = %s rows/s (its COMMIT checkpoints); with openlmt'"'"'s batch settings (NORMAL, 32 MiB cache, no checkpoint) %s s = %s rows/s (user+system %s s)\n' "$BULK_PF" "$SQ_RATE" "$BULK_PF_NC" "$SQ_NC_RATE" "$NC_CPU"
printf '            swid_facts %s s; both tables %s rows/s; installed_packages in transactions of 20,000 rows: %s s = %s rows/s\n' "$BULK_SW" "$SQ_ALL_RATE" "$BULK_PF_20K" "$SQ_20K_RATE"
printf '  ratio:    same batch settings %s %%, durable with checkpoint %s %% (the lower counts: %s %%)\n' "$WR_RATIO_NC" "$WR_RATIO_CK" "$WR_RATIO"
printf '  during the import (import log; the writer shares two cores with two parser threads): package facts inserted in %s s\n' "$W_PF_SECS"
printf '            (%s s of its CPU), SWID facts in %s s, commits %s s; package facts + all commits: %s rows/s = %s %% of sqlite3 with the batch settings\n' "$W_PF_CPU" "$W_SW_SECS" "$W_COMMIT_SECS" "$W_RATE" "$(pct "$W_RATE" "$SQ_NC_RATE")"
printf '  for information, the whole read/write step (two parser threads + the writer, %s s wall): %s installed_packages rows/s = %s %% of sqlite3; all facts %s %%\n' "$READ_SECS" "$OL_RATE" "$RATIO" "$RATIO_ALL"
echo
WRITER_CPU=$(awk -F'\t' 'NR == FNR {base[$1] = $3; next} $2 ~ /^sqlx-sqlite/ && (!($1 in m) || $3 > m[$1]) {m[$1] = $3}
    END {for (k in m) s += m[k] - base[k]; printf "%.2f", s}' "$TMP/cpu0.tsv" "$TMP/cpu.tsv")
CLI_CPU=$(awk '/^Run Time: real/{s += $6 + $8} END{printf "%.2f", s}' "$TMP/bulk-installed_packages-0-full.out" "$TMP/bulk-swid_facts-0-full.out")
INSERT_CPU=$(awk -v a="$W_PF_CPU" -v b="$W_SW_CPU" -v c="$WRITER_CPU" 'BEGIN{printf "%.2f", a + b + c}')
echo "write cost in CPU time (load-independent): openlmt's inserts $W_PF_CPU + $W_SW_CPU s (the runner thread, from the import log) + SQLite worker threads $WRITER_CPU s (commits, checkpoints)"
echo "    = $INSERT_CPU s for $((PF_ROWS1 + SW_ROWS)) fact rows = $(rate "$((PF_ROWS1 + SW_ROWS))" "$INSERT_CPU") rows per CPU-second;"
echo "    sqlite3 bulk INSERT ... SELECT (one transaction per table) $CLI_CPU s user+system for $((PF_ROWS + SW_ROWS)) rows = $(rate "$((PF_ROWS + SW_ROWS))" "$CLI_CPU") rows per CPU-second"
echo "server CPU during the first import: $(awk -v a="$CPU0" -v b="$CPU1" 'BEGIN{printf "%.1f", b-a}') s user+system over ${IMPORT1_SECS} s of wall time, by thread (import threads niced: the runner at 15, parsers and SQLite workers at 19):"
awk -F'\t' 'NR == FNR {base[$1] = $3; next} !($1 in m) || $3 > m[$1] {m[$1] = $3; nm[$1] = $2}
    END {for (k in m) {n = nm[k]; sub(/-[0-9]+$/, "", n); by[n] += m[k] - base[k]}
         for (n in by) printf "    %-20s %7.1f s\n", n, by[n]}' "$TMP/cpu0.tsv" "$TMP/cpu.tsv" | sort -k2 -nr
echo "peak memory: VmHWM ${HWM_MIB} MiB at the end of the first import (largest VmRSS sampled during it every 0.2 s: ${RSS_MAX_MIB} MiB; VmHWM $((HWM_IDLE_KB / 1024)) MiB before it, ${HWM_END_MIB} MiB after the second import)"
echo "second import (nothing new): ${IMPORT2_SECS} s end to end (polled every 20 ms), ${IMPORT2_LOG_SECS} s in its log, status $ST2"
awk -F'\t' '{printf "    %-48s %8.3f s\n", $1, $2}' "$TMP/steps2.tsv"
if [[ -n "$LOAD_PID" ]]; then
    echo "status endpoint during the first import: $L_DESC for the whole import: $L_REQ requests (~$L_RPS/s), p50 ${L_P50} ms, p99 ${L_P99} ms, max ${L_MAX} ms, errors $L_ERR"
fi
echo
echo "| target | measured | verdict |"
echo "|---|---|---|"
echo "| first import < 60 s | ${IMPORT1_SECS} s | $(verdict "$IMPORT1_SECS" '<' 60) |"
echo "| installed_packages write rate >= 70 % of SQLite bulk | ${WR_RATIO} % (lower of ${WR_RATIO_NC} % with the same batch settings and ${WR_RATIO_CK} % durable) | $(verdict "$WR_RATIO" '>=' 70) |"
echo "| peak RSS < 512 MiB | ${HWM_MIB} MiB | $(verdict "$HWM_MIB" '<' 512) |"
echo "| second import < 1 s | ${IMPORT2_SECS} s | $(verdict "$IMPORT2_SECS" '<' 1) |"
if [[ -n "$LOAD_PID" ]]; then
    echo "| status p99 during the import < 50 ms ($STATUS_LOAD) | ${L_P99} ms | $(verdict "$L_P99" '<' 50) |"
else
    echo "| status p99 during the import < 50 ms | not measured (STATUS_LOAD=none) | - |"
fi
exit 0
