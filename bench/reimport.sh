#!/usr/bin/env bash
# Benchmark of the daily re-import (issue 11, item 4): PACKAGES scan packages
# imported, then PACKAGES new packages of the same computers (a day later)
# of which 98 % have the same installed packages and SWID tags and 2 % changed
# (installed packages added and removed).
#
# A benchmark, not a test: it prints figures and a PASS/FAIL per target and
# exits 0 once it has measured (non-zero only when it cannot set up).
#
# The estate is ONE real host replicated, as in bench/import.sh: the raw
# evidence in shared/corpus/hosts/debian12-vm (cpuinfo, lscpu.json,
# dpkg-status with 759 installed packages, isotag_scan/ with 759 SWID tags)
# written PACKAGES times under distinct endpoint ids by
# crates/scanpkg/examples/replicate.rs, twice:
#   day 1: `replicate HOST DS PACKAGES --scan-time DAY1 --changed-every 50 0`
#   day 2: `replicate HOST DS PACKAGES --scan-time DAY2 --changed-every 50 1`
# Every 50th replica (2 %) is the host with 10 consecutive installed packages
# of its dpkg-status left out (their stanzas and their SWID tags), a window
# that moves by 5 packages from day 1 to day 2: on day 2 each of these
# computers has 5 real packages (and their tags) added and 5 removed. The
# other 98 % are the host unchanged; their day-2 packages differ from day 1's
# only in the scan time (file name, computer.yml, tar header times).
#
# What it measures, in one run on one machine:
#   1. the first `complete` import (day 1, empty database), end to end
#      (GET /api/import_status.json?run=true, then polled every 0.1 s by
#      bash builtins, no process per poll, until mode=idle and the import
#      has ended), each step from the import log;
#   2. the second `complete` import (day 2: PACKAGES new packages, the day-1
#      files still in the data source), the same way (polled every 20 ms),
#      the server's CPU time over it (user + system seconds of all its
#      threads, /proc/PID/stat before the request and once it has ended:
#      less noisy than the wall time on a shared machine), and the rows it wrote: the fact rows under its import id (sqlite3 on
#      the database, after it: installed_packages and swid_facts rows whose
#      import_id is the second import's), the staged computer rows (one per
#      package read: the scan time, capacity and identity each import
#      publishes), and what its log says (facts kept and written, discovery);
#                                                          target < 15 s
#   3. with VERIFY=1 (the default), that the visible results equal those of a
#      full rewrite: the day-2 packages alone imported into a fresh data
#      directory, and the two databases' visible facts (each computer's
#      installed packages and SWID tags, by endpoint), computers (scan time,
#      capacity) and present software instances compared with sqlite3
#      (ids, import ids and first-seen times differ legitimately and are left
#      out).
#
# Usage: bash bench/reimport.sh
# Knobs (environment):
#   PACKAGES=10000   packages per day (develop with PACKAGES=300)
#   CHANGED_EVERY=50 one package in CHANGED_EVERY changes from day 1 to day 2
#   VERIFY=1         compare with a full rewrite (a third import; 0 skips it)
#   HOST_DIR=        host evidence dir (default: shared/corpus/hosts/debian12-vm
#                    next to the repository, else /work/shared/corpus/...)
#   OPENLMT_BIN=, REPLICATE_BIN=   use these binaries instead of building
#   CARGO_TARGET_DIR is honoured for the build.
#   KEEP_TMP=1       keep the temporary directory (packages removed)

set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PACKAGES=${PACKAGES:-10000}
CHANGED_EVERY=${CHANGED_EVERY:-50}
VERIFY=${VERIFY:-1}
KEEP_TMP=${KEEP_TMP:-0}
DAY1=202612010600
DAY2=202612020600

bench_host_dir
BENCH_STOP_TRIES=100
BENCH_KEPT_NOTE=" (packages removed)"
# shellcheck disable=SC2317 # called by bench_cleanup
bench_keep_prune() { rm -rf "$TMP/data/datasource" "$TMP/fresh/datasource"; }
BENCH_API_TIMEOUT=600

bench_need_tools curl jq sqlite3 gawk

if [[ -z "${OPENLMT_BIN:-}" || -z "${REPLICATE_BIN:-}" ]]; then
    say "building (cargo build --release -p openlmt -p openlmt-scanpkg --bins --examples)"
    (cd "$ROOT" && cargo build --release -q -p openlmt -p openlmt-scanpkg --bins --examples) >&2
    T=$(bench_target_dir)
    OPENLMT_BIN=${OPENLMT_BIN:-$T/release/openlmt}
    REPLICATE_BIN=${REPLICATE_BIN:-$T/release/examples/replicate}
fi
[[ -x "$OPENLMT_BIN" ]] || die "no binary at $OPENLMT_BIN"
[[ -x "$REPLICATE_BIN" ]] || die "no replicate example at $REPLICATE_BIN"

bench_make_tmp openlmt-reimportbench
DS="$DATA/datasource"

# replicate_day SCAN_TIME ROUND DIR: one day's packages into DIR.
replicate_day() {
    local t
    t=$(now)
    "$REPLICATE_BIN" "$HOST_DIR" "$3" "$PACKAGES" --scan-time "$1" --changed-every "$CHANGED_EVERY" "$2" \
        2>"$TMP/replicate.err" || { cat "$TMP/replicate.err" >&2; die "replicate failed"; }
    say "  $(cat "$TMP/replicate.err") (in $(sub "$t" "$(now)") s)"
}

# run_import ID INTERVAL NAME: one import, end to end; sets SECS, ST and
# writes $TMP/NAME.log and $TMP/NAME.steps.
run_import() {
    local t0 t1
    t0=$(now)
    api "$STATUS_URL?run=true" >/dev/null
    read -r t1 ST < <(wait_done "$1" "$2")
    SECS=$(sub "$t0" "$t1")
    api "$BASE/api/imports/$1/log" >"$TMP/$3.log"
    [[ "$ST" == successful ]] || { tail -20 "$TMP/$3.log" >&2; die "import $1 did not succeed ($ST)"; }
    steps_of "$TMP/$3.log" >"$TMP/$3.steps"
}

# log_line FILE PATTERN: the first log line matching PATTERN, without its time and level.
log_line() { grep -m1 -- "$2" "$1" | sed 's/^[^ ]* [A-Z]* //' || true; }

say "day 1: $PACKAGES packages"
replicate_day "$DAY1" 0 "$DS"
N_FILES1=$(find "$DS/" -maxdepth 1 -type f | wc -l)
DS_BYTES1=$(du -sb "$DS/" | cut -f1)
HOST_DPKG=$(grep -c '^Status: install ok installed' "$HOST_DIR/dpkg-status" || true)
HOST_SWID=$(find "$HOST_DIR/isotag_scan" -name '*.swidtag' | wc -l)
sync

bench_start_openlmt
SERVER_PID=$OPENLMT_PID
bench_get_token
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

say "first import (day 1, complete, empty database)"
run_import 1 0.1 import1
IMPORT1_SECS=$SECS ST1=$ST
say "  $ST1 in $IMPORT1_SECS s"
LOAD_AFTER1=$(cut -d' ' -f1-3 /proc/loadavg)

say "day 2: $PACKAGES new packages of the same computers"
replicate_day "$DAY2" 1 "$DS"
sync
sleep 1

say "second import (day 2, complete)"
CPU_BEFORE2=$(proc_cpu_secs "$SERVER_PID")
run_import 2 0.02 import2
IMPORT2_SECS=$SECS ST2=$ST
IMPORT2_CPU=$(sub "$CPU_BEFORE2" "$(proc_cpu_secs "$SERVER_PID")")
say "  $ST2 in $IMPORT2_SECS s ($IMPORT2_CPU CPU-s of the server)"
LOAD_AFTER2=$(cut -d' ' -f1-3 /proc/loadavg)

DB=$(find "$DATA" -maxdepth 2 -name '*.db' | head -1)
[[ -n "$DB" ]] || die "no database file under $DATA"
SQ() { sqlite3 -readonly "$1" "$2"; }
facts_of() { SQ "$DB" "SELECT (SELECT count(*) FROM installed_packages WHERE import_id = $1) || ' ' || (SELECT count(*) FROM swid_facts WHERE import_id = $1);"; }
read -r PKG1 SWID1 < <(facts_of 1)
read -r PKG2 SWID2 < <(facts_of 2)
COMPUTERS=$(SQ "$DB" "SELECT count(*) FROM computers WHERE published = 1;")
ON_DAY2=$(SQ "$DB" "SELECT count(*) FROM computers WHERE published = 1 AND scan_time = (SELECT max(scan_time) FROM computers);")
POINTING=$(SQ "$DB" "SELECT facts_import_id || ':' || count(*) FROM computers WHERE published = 1 GROUP BY facts_import_id ORDER BY 1;" | paste -sd' ')
STAGED2=$(sed -n 's/.*Read \([0-9]*\) packages: .*/\1/p' "$TMP/import2.log" | head -1)
KEPT_LINE=$(log_line "$TMP/import2.log" 'Facts unchanged since')
WROTE_LINE=$(log_line "$TMP/import2.log" 'Wrote [0-9]* package facts')
DISC1_LINE=$(log_line "$TMP/import1.log" 'Software discovery: ')
DISC2_LINE=$(log_line "$TMP/import2.log" 'Software discovery: ')
INV2_LINE=$(log_line "$TMP/import2.log" 'Software inventory: ')
ROWS2=$((PKG2 + SWID2 + ${STAGED2:-0}))
ROWS1=$((PKG1 + SWID1 + N_FILES1))

# --- 3. the same day-2 packages into a fresh data directory ---------------------
VERIFY_RESULT="not run (VERIFY=0)"
if [[ "$VERIFY" == 1 ]]; then
    say "verification: the day-2 packages alone into a fresh data directory"
    kill -TERM "$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null || true
    FIRST_DATA=$DATA
    DATA="$TMP/fresh"
    mkdir -p "$DATA/datasource"
    find "$DS/" -maxdepth 1 -type f -name "$DAY2-*" -exec ln {} "$DATA/datasource/" \;
    bench_start_openlmt
    SERVER_PID=$OPENLMT_PID
    bench_get_token
    run_import 1 0.1 fresh
    FRESH_SECS=$SECS
    say "  $ST in $FRESH_SECS s"
    FRESH_DB=$(find "$DATA" -maxdepth 2 -name '*.db' | head -1)
    DATA=$FIRST_DATA
    # What a client sees, keyed by endpoint, without ids, import ids and first-seen times.
    visible() {
        SQ "$1" "SELECT 'computer', endpoint_id, name, dns_name, ip_addresses, os, scan_time, last_seen,
                   is_deleted, in_inventory, raw_processor_brand, raw_sockets, raw_cores, raw_threads,
                   sockets, cores, threads, is_virtual, facts_digest
                 FROM computers WHERE published = 1 ORDER BY endpoint_id;
                 SELECT 'package', c.endpoint_id, f.source, f.name, f.version, f.architecture, f.vendor
                 FROM computers c JOIN installed_packages f ON f.computer_id = c.id AND f.import_id = c.facts_import_id
                 ORDER BY 2, 3, 4, 5, 6, 7;
                 SELECT 'swid', c.endpoint_id, f.tag_id, f.name, f.version, f.regid, f.vendor, f.schema,
                   f.persistent_id, f.directory
                 FROM computers c JOIN swid_facts f ON f.computer_id = c.id AND f.import_id = c.facts_import_id
                 ORDER BY 2, 3, 4, 5, 6, 7, 8, 9, 10;
                 SELECT 'instance', c.endpoint_id, i.component_id, i.discovery_path, i.product_id,
                   i.is_charged, i.bundling_rule, i.signature_kind, i.evidence_source, i.evidence_name,
                   i.evidence_version, i.detailed_version
                 FROM software_instances i JOIN computers c ON c.id = i.computer_id
                 WHERE i.is_present = 1
                   AND i.start_import_id NOT IN (SELECT import_id FROM unpublished_discoveries)
                 ORDER BY 2, 3, 4;"
    }
    visible "$DB" >"$TMP/visible-reimport.txt"
    visible "$FRESH_DB" >"$TMP/visible-fresh.txt"
    V_LINES=$(wc -l <"$TMP/visible-fresh.txt")
    if cmp -s "$TMP/visible-reimport.txt" "$TMP/visible-fresh.txt"; then
        VERIFY_RESULT="PASS: $V_LINES rows (computers, visible installed packages and SWID tags, present instances) identical to a full rewrite of the day-2 packages (fresh import: $FRESH_SECS s)"
    else
        VERIFY_RESULT="FAIL: the visible rows differ from a full rewrite ($(diff "$TMP/visible-reimport.txt" "$TMP/visible-fresh.txt" | grep -c '^[<>]') lines; diff kept in $TMP with KEEP_TMP=1)"
    fi
fi

# --- report ----------------------------------------------------------------------
verdict() { awk -v v="$1" -v t="$2" 'BEGIN{print (v < t) ? "PASS" : "FAIL"}'; }
echo "# openlmt daily re-import benchmark (bench/reimport.sh)"
echo "machine: $(nproc) CPU ($(cpu_model)), $(mem_total), Linux $(uname -r); $(df -T "$TMP" | awk 'NR==2{print $2}') at $TMP"
echo "tools:   openlmt $("$OPENLMT_BIN" --version | awk '{print $2}') ($(bench_rev)), sqlite3 CLI $(sqlite3 --version | cut -d' ' -f1)"
echo "loadavg: $LOAD_BEFORE before the first import, $LOAD_AFTER1 after it, $LOAD_AFTER2 after the second (the machine is shared: other work may run)"
echo "estate:  $PACKAGES packages a day replicated from ONE real host ($(basename "$HOST_DIR"): $HOST_DPKG installed dpkg packages, $HOST_SWID SWID tags), $((DS_BYTES1 / 1048576)) MiB a day;"
echo "         day 2 ($DAY2) a day after day 1 ($DAY1); one package in $CHANGED_EVERY with 5 installed packages (and their tags) added and 5 removed, the others the same facts"
echo
echo "first import (day 1, complete, empty database): $IMPORT1_SECS s end to end, status $ST1"
awk -F'\t' '{printf "    %-48s %8.3f s\n", $1, $2}' "$TMP/import1.steps"
echo "    rows: $PKG1 installed_packages + $SWID1 swid_facts + $N_FILES1 staged computers = $ROWS1"
echo "    log: $DISC1_LINE"
echo
echo "second import (day 2, complete): $IMPORT2_SECS s end to end (polled every 20 ms), status $ST2; $IMPORT2_CPU s of the server's CPU (user + system, all threads)"
awk -F'\t' '{printf "    %-48s %8.3f s\n", $1, $2}' "$TMP/import2.steps"
echo "    rows written: $PKG2 installed_packages + $SWID2 swid_facts (sqlite3: rows under import 2) + ${STAGED2:-?} staged computers = $ROWS2 ($(awk -v a="$ROWS2" -v b="$ROWS1" 'BEGIN{printf "%.1f", 100 * a / b}') % of the first import's)"
echo "    log: $KEPT_LINE"
echo "    log: $WROTE_LINE"
echo "    log: $DISC2_LINE"
echo "    log: $INV2_LINE"
echo "    computers: $COMPUTERS published, $ON_DAY2 with the day-2 scan time; facts_import_id:count $POINTING"
echo "verification: $VERIFY_RESULT"
echo
echo "| target | measured | verdict |"
echo "|---|---|---|"
echo "| second import (98 % unchanged) < 15 s | $IMPORT2_SECS s | $(verdict "$IMPORT2_SECS" 15) |"
exit 0
