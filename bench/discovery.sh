#!/usr/bin/env bash
# Benchmark of software discovery in a complete import of 10,000 scan packages,
# and of the full pull of the software instances it makes (issue 8).
#
# A benchmark, not a test: it prints figures and a PASS/FAIL per target and
# exits 0 once it has measured (non-zero only when it cannot set up).
#
# The estate is ONE real host replicated, as in bench/import.sh: the raw
# evidence in shared/corpus/hosts/debian12-vm (cpuinfo, lscpu.json,
# dpkg-status with 759 installed packages, isotag_scan/ with 759 SWID tags)
# written PACKAGES times under distinct endpoint ids by
# crates/scanpkg/examples/replicate.rs, and every TAG_EVERY-th package (one in
# ten) also carries the two real IBM SWID tags of shared/corpus/swid-ibm
# (`replicate --extra-tag-every 10 DIR`). The bundled catalog recognises those
# two IBM products by their persistentId.
#
# The catalog: the operator's layer is GENERATED, and is benchmark data, not
# real software knowledge: bench/discovery/make_catalog.py reads the corpus
# host's dpkg-status and writes, for each of its 759 package names, LINES (14)
# release lines, one component + product each, with disjoint dpkg version
# ranges (`>=E:r~, <E:(r+1)~`: every version whose upstream part starts with
# the number r) so that exactly one line matches the installed version; the
# publisher is the package's Maintainer name, no metric; plus some tens of
# package-name regular expressions (`python3-.*`, `lib.*-dev`, `fonts-.*`,
# ..., only those matching a package of the host), each its own component and
# product. Every product and signature says in its `evidence` that it was
# generated from the corpus host for this benchmark. 759 x 14 + 56 = 10,682
# signatures. It is loaded with `openlmt catalog import FILE` (the operator's
# layer, over the bundled catalog) before the first import.
#
# What it measures, in one run on one machine:
#   1. the first `complete` import from an empty database, end to end
#      (GET /api/import_status.json?run=true, then polled every 0.1 s by
#      bash builtins, no process per poll, until mode=idle and the import
#      has ended), each step's duration from the
#      import log's millisecond timestamps (the "Software discovery" step
#      among them), and the instances found (its log line);  target < 60 s
#      and the CPU-seconds of the server's threads over it, by thread name
#      (utime+stime from /proc, sampled every 0.25 s by
#      bench/discovery/thread_cpu.py; no target: CPU is what a busy machine
#      cannot overlap, wall time also counts waiting for a core)
#   2. peak RSS of the server (VmHWM) over the first import, and again after
#      the pull below;                                         target < 512 MiB
#   3. a full pull of every software instance as an adapter does it:
#      GET /api/sam/v2/software_instances?limit=100000&offset=N (all columns,
#      associations nested), looping while offset < total; each page written
#      by curl to a file in TMP, timed per request (the wall time of the pull
#      is the sum); the rows of each page are then counted by parsing its JSON
#      (python3, untimed) and checked: ids ascending across pages, every row
#      once. Against `sqlite3 -json` on the same database file (read-only,
#      while the server is idle) running the API's query (the joins and
#      columns of crates/storage/src/software_query.rs, INSTANCE_SELECT and
#      its FROM ... WHERE; the exact SQL is printed in the report) for the
#      same rows in the same pages of 100,000 rows, each page bounded by
#      instance ids (computed beforehand, untimed: sqlite3 gets keyset pages,
#      no OFFSET), written to a file, timed the same way; its rows are
#      counted with wc -l (sqlite3 -json prints one row per line). Rows/s of
#      both and their ratio;                                    target >= 0.5
#   4. a second complete import with nothing new (printed, with its steps;
#      no target in issue 8: issue 3's is < 1 s).
#
# Usage: bash bench/discovery.sh
# Knobs (environment):
#   PACKAGES=10000   packages in the data source (develop with PACKAGES=200)
#   TAG_EVERY=10     the IBM tags go into every TAG_EVERY-th package
#   IBM_TAG_DIR=     the tags to plant (default: shared/corpus/swid-ibm)
#   LINES=14         release lines per package name in the generated catalog
#   PAGE=100000      rows per page of the pull
#   PULL_MAX_SECS=1800  the API pull stops after the page that passes this
#                    (summed request time); the figures then cover the pages
#                    pulled, sqlite3 pulls the same pages, and the report says
#                    "partial" (with OFFSET paging, a page's cost grows with its
#                    offset: at 8.3 million instances a full pull takes hours)
#   PULL_ROUNDS=1    rounds of the two pulls (API first in odd rounds, sqlite3
#                    first in even ones); the medians are the figures
#   HOST_DIR=        host evidence dir (default: shared/corpus/hosts/debian12-vm
#                    next to the repository, else /work/shared/corpus/...)
#   PACKAGES_CACHE=  a directory to keep the replicated packages in and reuse
#                    on the next run with the same PACKAGES and tags (a cache of
#                    bench/import.sh, without the tags, is not reused)
#   OPENLMT_BIN=, REPLICATE_BIN=   use these binaries instead of building
#   CARGO_TARGET_DIR is honoured for the build.
#   KEEP_TMP=1       keep the temporary directory (packages and pages removed)

set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PACKAGES=${PACKAGES:-10000}
TAG_EVERY=${TAG_EVERY:-10}
LINES=${LINES:-14}
PAGE=${PAGE:-100000}
PULL_ROUNDS=${PULL_ROUNDS:-1}
PULL_MAX_SECS=${PULL_MAX_SECS:-1800}
PACKAGES_CACHE=${PACKAGES_CACHE:-}
KEEP_TMP=${KEEP_TMP:-0}

bench_host_dir
if [[ -z "${IBM_TAG_DIR:-}" ]]; then
    IBM_TAG_DIR=$(cd "$HOST_DIR/../../swid-ibm" 2>/dev/null && pwd) || true
fi
[[ -n "${IBM_TAG_DIR:-}" && -d "$IBM_TAG_DIR" ]] || die "no IBM tag dir (set IBM_TAG_DIR)"
IBM_TAGS=$(find "$IBM_TAG_DIR" -maxdepth 1 -name '*.swidtag' | wc -l)

BENCH_STOP_TRIES=100
BENCH_KEPT_NOTE=" (packages and pages removed)"
# shellcheck disable=SC2317 # called by bench_cleanup
bench_keep_prune() { rm -rf "$TMP/data/datasource" "$TMP/pages"; }
BENCH_API_TIMEOUT=600

# --- tools -----------------------------------------------------------------
bench_need_tools curl jq sqlite3 gawk python3

if [[ -z "${OPENLMT_BIN:-}" || -z "${REPLICATE_BIN:-}" ]]; then
    say "building (cargo build --release -p openlmt -p openlmt-scanpkg --bins --examples)"
    (cd "$ROOT" && cargo build --release -q -p openlmt -p openlmt-scanpkg --bins --examples) >&2
    T=$(bench_target_dir)
    OPENLMT_BIN=${OPENLMT_BIN:-$T/release/openlmt}
    REPLICATE_BIN=${REPLICATE_BIN:-$T/release/examples/replicate}
fi
[[ -x "$OPENLMT_BIN" ]] || die "no binary at $OPENLMT_BIN"
[[ -x "$REPLICATE_BIN" ]] || die "no replicate example at $REPLICATE_BIN"

bench_make_tmp openlmt-discoverybench
mkdir -p "$TMP/pages"

# --- the catalog: generated from the corpus host's package names --------------
python3 "$ROOT/bench/discovery/make_catalog.py" "$HOST_DIR/dpkg-status" "$LINES" \
    >"$TMP/catalog.json" 2>"$TMP/catalog.txt" || { cat "$TMP/catalog.txt" >&2; die "make_catalog.py failed"; }
CATALOG_DESC=$(cat "$TMP/catalog.txt")
say "$CATALOG_DESC"

# --- the estate: one real host, replicated, IBM tags on one package in ten ------
bench_replicate_estate "$PACKAGES" --extra-tag-every "$TAG_EVERY" "$IBM_TAG_DIR"
sync

# --- openlmt, with the operator's catalog -----------------------------------------
bench_start_openlmt
SERVER_PID=$OPENLMT_PID
bench_get_token
say "loading the catalog (openlmt catalog import)"
t=$(now)
"$OPENLMT_BIN" catalog import "$TMP/catalog.json" --data-dir "$DATA" >"$TMP/catalog-import.txt" 2>&1 ||
    { cat "$TMP/catalog-import.txt" >&2; die "openlmt catalog import failed"; }
CATALOG_IMPORT_SECS=$(sub "$t" "$(now)")
api "$BASE/api/catalog" >"$TMP/catalog-info.json"
say "  in ${CATALOG_IMPORT_SECS} s"

HWM_IDLE_KB=$(proc_kib VmHWM "$SERVER_PID")
rss_sampler >"$TMP/rss.txt" &
PIDS+=($!)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

# --- 1. the first import --------------------------------------------------------
say "first import: $PACKAGES packages, complete, empty database, catalog of the operator's layer + bundled"
python3 "$ROOT/bench/discovery/thread_cpu.py" "$SERVER_PID" "$TMP/cpu1.stop" "$TMP/cpu1.tsv" &
CPU_SAMPLER=$!
T0=$(now)
T1_START=$T0
api "$STATUS_URL?run=true" >/dev/null
read -r T1 ST1 < <(wait_done 1 0.1)
T1_END=$T1
touch "$TMP/cpu1.stop"
wait "$CPU_SAMPLER" || true
CPU1_TOTAL=$(awk -F'\t' '$1=="TOTAL"{print $2}' "$TMP/cpu1.tsv" 2>/dev/null)
CPU1_THREADS=$(awk -F'\t' '$1!="TOTAL" && $2 >= 0.05 {printf "%s%s %s", (n++ ? ", " : ""), $1, $2}' "$TMP/cpu1.tsv" 2>/dev/null)
IMPORT1_SECS=$(sub "$T0" "$T1")
HWM_KB=$(proc_kib VmHWM "$SERVER_PID")
LOAD_AFTER1=$(cut -d' ' -f1-3 /proc/loadavg)
say "  ${ST1} in ${IMPORT1_SECS} s"
api "$BASE/api/imports/1/log" >"$TMP/import1.log"
[[ "$ST1" == successful ]] || { tail -20 "$TMP/import1.log" >&2; die "the first import did not succeed"; }
steps_of "$TMP/import1.log" >"$TMP/steps1.tsv"
DISCOVERY_SECS=$(awk -F'\t' '$1=="Software discovery"{print $2}' "$TMP/steps1.tsv")
[[ -n "$DISCOVERY_SECS" ]] || die "no Software discovery step in the import log"
DISCOVERY_LINE=$(grep -o 'Software discovery: .*' "$TMP/import1.log" | head -1 || true)
CATALOG_LINE=$(grep -o 'Catalog .*to discover' "$TMP/import1.log" | head -1 || true)
INVENTORY_LINE=$(grep -o 'Software inventory: .*' "$TMP/import1.log" | head -1 || true)
FOUND=$(sed -n 's/.*Software discovery: [0-9]* computers matched, \([0-9]*\) instances found.*/\1/p' "$TMP/import1.log" | head -1)

# --- the database and the API's query ------------------------------------------
DB=$(find "$DATA" -maxdepth 2 -name '*.db' | head -1)
[[ -n "$DB" ]] || die "no database file under $DATA"
SQ() { sqlite3 -readonly "$DB" "$@"; }
# INSTANCE_SELECT and the FROM ... WHERE of Entity::SoftwareInstances in
# crates/storage/src/software_query.rs, verbatim (its placement_* and
# visible_instance macros of crates/storage/src/lib.rs expanded, as concat!
# does); the API adds its order
# (i.id) and LIMIT/OFFSET, sqlite3 its keyset bounds.
INSTANCE_SELECT="SELECT i.id, i.computer_id, c.name AS computer_name,
    c.dns_name, c.ip_addresses, c.os, p.publisher, p.name AS product_name, p.release AS product_release,
    i.product_id, k.name AS component_name, k.release AS component_release, i.detailed_version,
    i.component_id, p.metric, i.discovery_path, i.discovery_start, i.discovery_end,
    i.is_present, i.is_charged, i.is_confirmed, (x.computer_id IS NOT NULL) AS is_excluded,
    (s.computer_id IS NOT NULL) AS is_suppressed, COALESCE(x.comment, s.comment) AS comment,
    i.signature_kind, i.evidence_source, i.evidence_name, i.evidence_version, i.bundling_rule,
    i.bundling_details, (CASE WHEN lcp.kind = 'cloud' THEN 2 WHEN c.is_virtual = 1 THEN 1 WHEN c.is_virtual = 0 THEN 0 END) AS computer_type, c.processor_vendor, c.processor_brand, c.sockets, c.cores,
    lcp.server_id, lcp.server_name, (CASE lcp.kind WHEN 'physical' THEN 0 WHEN 'default' THEN 1 WHEN 'cloud' THEN 2 END) AS server_type, (CASE WHEN lcp.server_id IS NOT NULL THEN lcp.server_cores WHEN c.is_virtual = 0 THEN c.cores END) AS server_cores, lcp.pvu_per_core, lcp.default_pvu, lcp.custom_pvu"
INSTANCE_FROM=" FROM software_instances i
               LEFT JOIN computers c ON c.id = i.computer_id
               LEFT JOIN inventory_products p ON p.id = i.product_id
               LEFT JOIN inventory_components k ON k.id = i.component_id
               LEFT JOIN software_exclusions x
                 ON x.computer_id = i.computer_id AND x.product_id = i.product_id
               LEFT JOIN software_suppressions s
                 ON s.computer_id = i.computer_id AND s.component_id = i.component_id
             LEFT JOIN license_current_placement lcp ON lcp.computer_id = i.computer_id WHERE i.start_import_id NOT IN (SELECT import_id FROM unpublished_discoveries)"
# Say so when the API's query has changed since this copy was made.
QUERY_SRC="$ROOT/crates/storage/src/software_query.rs"
QUERY_NOTE="the same text as $QUERY_SRC"
# Checked piece by piece (split at ", ", " AS " and " WHERE "): the macros
# of lib.rs (the visibility rule, the placement columns) are concatenated
# into the query.
while IFS= read -r line; do
    line=$(sed 's/^ *//; s/ *$//' <<<"$line")
    [[ -z "$line" ]] && continue
    grep -qF -- "$line" "$QUERY_SRC" "$ROOT/crates/storage/src/lib.rs" 2>/dev/null || { QUERY_NOTE="WARNING: no longer found in $QUERY_SRC: \"$line\""; break; }
done < <(sed 's/, /\n/g; s/ AS /\n/g; s/ WHERE /\n/g; s/^WHERE //' <<<"$INSTANCE_SELECT
$INSTANCE_FROM" | sed 's/^ *//')
[[ "$QUERY_NOTE" == WARNING* ]] && say "$QUERY_NOTE"

TOTAL_DB=$(SQ "SELECT count(*) $INSTANCE_FROM;")
COMPUTERS=$(SQ 'SELECT count(*) FROM computers WHERE published = 1 AND in_inventory = 1;')
# Sanity checks of the discovery: the generated catalog gives every computer
# exactly one release line per installed package, and each regular
# expression component one instance; the IBM products come from the bundled
# catalog on the tagged computers.
GEN_LINES=$(SQ "SELECT count(*) FROM software_instances WHERE component_id LIKE 'bench-%' AND component_id NOT LIKE 'bench-group-%';")
GEN_GROUPS=$(SQ "SELECT count(*) FROM software_instances WHERE component_id LIKE 'bench-group-%';")
N_GROUPS=$(grep -o '[0-9]* regular expressions' "$TMP/catalog.txt" | cut -d' ' -f1)
OTHER=$(SQ "SELECT count(*) FROM software_instances WHERE component_id NOT LIKE 'bench-%';")
IBM=$(SQ "SELECT count(*) FROM software_instances i JOIN inventory_products p ON p.id = i.product_id WHERE p.publisher = 'IBM';")
TAGGED=$(((PACKAGES + TAG_EVERY - 1) / TAG_EVERY))
BY_KIND=$(SQ "SELECT signature_kind || ' ' || count(*) FROM software_instances GROUP BY signature_kind ORDER BY signature_kind;" | paste -sd, | sed 's/,/, /g')
checks_ok=PASS
((GEN_LINES == COMPUTERS * HOST_DPKG)) || checks_ok=FAIL
((GEN_GROUPS == COMPUTERS * N_GROUPS)) || checks_ok=FAIL
((IBM == TAGGED * IBM_TAGS)) || checks_ok=FAIL

# --- 3. the full pull: the API, and sqlite3 -json on the same rows ---------------
# Keyset bounds of sqlite3's pages: the first id of each page of PAGE rows.
SQ "SELECT id FROM (SELECT i.id AS id, row_number() OVER (ORDER BY i.id) AS rn $INSTANCE_FROM) WHERE rn % $PAGE = 1 ORDER BY id;" >"$TMP/bounds.txt"

# api_pull: prints "rows seconds bytes pages"; dies on a wrong page.
api_pull() {
    local offset=0 total=1 secs=0 rows=0 bytes=0 pages=0 t0 t1 n last=0 f="$TMP/pages/api.json"
    while ((offset < total)) && awk -v s="$secs" -v m="$PULL_MAX_SECS" 'BEGIN{exit !(s < m)}'; do
        t0=$(now)
        api -o "$f" "$BASE/api/sam/v2/software_instances?limit=$PAGE&offset=$offset"
        t1=$(now)
        secs=$(awk -v s="$secs" -v a="$t0" -v b="$t1" 'BEGIN{printf "%.6f", s + b - a}')
        total=$(head -c 64 "$f" | sed -n 's/^{"total":\([0-9]*\),.*/\1/p')
        [[ -n "$total" ]] || die "no total at the start of the page at offset $offset"
        bytes=$((bytes + $(stat -c %s "$f")))
        # Untimed: parse the page, count its rows, check the order.
        read -r n last < <(python3 - "$f" "$last" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1], "rb"))
ids = [r["instance_id"] for r in doc["rows"]]
prev = int(sys.argv[2])
if any(b <= a for a, b in zip([prev] + ids, ids)):
    sys.exit("instance ids not ascending across the pull")
print(len(ids), ids[-1] if ids else prev)
PY
        ) || die "bad page at offset $offset"
        ((n > 0)) || die "empty page at offset $offset of $total"
        rows=$((rows + n))
        pages=$((pages + 1))
        offset=$((offset + PAGE))
    done
    rm -f "$f"
    ((offset < total || rows == total)) || die "the API pull gave $rows rows for a total of $total"
    printf '%s %s %s %s %s\n' "$rows" "$secs" "$bytes" "$pages" "$total"
}

# sqlite_pull: the same rows, the same pages, by instance id; "rows seconds bytes pages".
sqlite_pull() {
    local secs=0 rows=0 bytes=0 pages=0 t0 t1 n lo hi f="$TMP/pages/sqlite.json"
    local -a b
    mapfile -t b <"$TMP/bounds.txt"
    local max=${1:-${#b[@]}}
    for ((j = 0; j < ${#b[@]} && j < max; j++)); do
        lo=${b[j]}
        hi=""
        ((j + 1 < ${#b[@]})) && hi=" AND i.id < ${b[j + 1]}"
        t0=$(now)
        sqlite3 -readonly -json "$DB" "$INSTANCE_SELECT$INSTANCE_FROM AND i.id >= $lo$hi ORDER BY i.id;" >"$f"
        t1=$(now)
        secs=$(awk -v s="$secs" -v a="$t0" -v b="$t1" 'BEGIN{printf "%.6f", s + b - a}')
        bytes=$((bytes + $(stat -c %s "$f")))
        n=$(wc -l <"$f")
        rows=$((rows + n))
        pages=$((pages + 1))
    done
    rm -f "$f"
    printf '%s %s %s %s\n' "$rows" "$secs" "$bytes" "$pages"
}
# One parse of a sqlite3 page, to check that its lines are its rows.
LO=$(head -1 "$TMP/bounds.txt")
SQ -json "$INSTANCE_SELECT$INSTANCE_FROM AND i.id >= ${LO:-0} ORDER BY i.id LIMIT 1000;" >"$TMP/pages/check.json"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); n=sum(1 for _ in open(sys.argv[1])); sys.exit(0 if len(d)==n else 1)' \
    "$TMP/pages/check.json" || die "sqlite3 -json does not print one row per line here"
rm -f "$TMP/pages/check.json"

: >"$TMP/pull-api.txt"
: >"$TMP/pull-sqlite.txt"
for ((round = 1; round <= PULL_ROUNDS; round++)); do
    # The API goes first in round 1: it decides how many pages are pulled.
    if ((round % 2)); then order="api sqlite"; else order="sqlite api"; fi
    for who in $order; do
        say "round $round: full pull through $who"
        # sqlite3 pulls the pages the API pulled (all, unless PULL_MAX_SECS cut it).
        if [[ $who == api ]]; then api_pull >>"$TMP/pull-api.txt"; else sqlite_pull "$(awk 'NR==1{print $4}' "$TMP/pull-api.txt")" >>"$TMP/pull-sqlite.txt"; fi
        say "  $(tail -1 "$TMP/pull-$who.txt")"
    done
done
HWM_PULL_KB=$(proc_kib VmHWM "$SERVER_PID")

# --- 4. a second import, nothing new ----------------------------------------------
say "second import: nothing new"
sleep 1
T0=$(now)
api "$STATUS_URL?run=true" >/dev/null
read -r T1 ST2 < <(wait_done 2 0.02)
IMPORT2_SECS=$(sub "$T0" "$T1")
api "$BASE/api/imports/2/log" >"$TMP/import2.log"
steps_of "$TMP/import2.log" >"$TMP/steps2.tsv"
IMPORT2_LOG_SECS=$(awk -F'\t' '$1=="total in the log"{print $2}' "$TMP/steps2.tsv")
DISCOVERY2_LINE=$(grep -o 'Catalog .*to discover' "$TMP/import2.log" | head -1 || true)
say "  ${ST2} in ${IMPORT2_SECS} s"
HWM_END_KB=$(proc_kib VmHWM "$SERVER_PID")
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# --- report --------------------------------------------------------------------
rate() { awk -v n="$1" -v s="$2" 'BEGIN{printf "%.0f", (s > 0) ? n / s : 0}'; }
verdict() { awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN{ok = (op == "<") ? (v < t) : (v >= t); print ok ? "PASS" : "FAIL"}'; }
mib() { awk -v k="$1" 'BEGIN{printf "%.1f", k/1024}'; }
# Medians over the rounds: rows/s of each round.
API_ROWS=$(awk 'NR==1{print $1}' "$TMP/pull-api.txt")
API_PAGES=$(awk 'NR==1{print $4}' "$TMP/pull-api.txt")
PULL_NOTE=""
if [[ $(awk 'NR==1{print $1 < $5}' "$TMP/pull-api.txt") == 1 ]]; then
    PULL_NOTE=" (PARTIAL: stopped after PULL_MAX_SECS=$PULL_MAX_SECS s, $API_PAGES pages, $(awk 'NR==1{print $1 " of " $5}' "$TMP/pull-api.txt") rows)"
fi
API_MB=$(awk 'NR==1{printf "%.0f", $3/1048576}' "$TMP/pull-api.txt")
SQ_ROWS=$(awk 'NR==1{print $1}' "$TMP/pull-sqlite.txt")
SQ_PAGES=$(awk 'NR==1{print $4}' "$TMP/pull-sqlite.txt")
SQ_MB=$(awk 'NR==1{printf "%.0f", $3/1048576}' "$TMP/pull-sqlite.txt")
API_SECS=$(awk '{print $2}' "$TMP/pull-api.txt" | median)
SQ_SECS=$(awk '{print $2}' "$TMP/pull-sqlite.txt" | median)
API_RATE=$(rate "$API_ROWS" "$API_SECS")
SQ_RATE=$(rate "$SQ_ROWS" "$SQ_SECS")
RATIO=$(awk -v a="$API_RATE" -v b="$SQ_RATE" 'BEGIN{printf "%.2f", (b > 0) ? a / b : 0}')
HWM_MIB=$(mib "$HWM_KB")
HWM_PULL_MIB=$(mib "$HWM_PULL_KB")
RSS_MAX_MIB=$(awk -v a="$T1_START" -v b="$T1_END" '$1 >= a && $1 <= b && $2 > m {m = $2} END{printf "%.1f", m/1024}' "$TMP/rss.txt")

echo "# openlmt software discovery benchmark (bench/discovery.sh)"
echo "machine: $(nproc) CPU ($(cpu_model)), $(mem_total), Linux $(uname -r); $(df -T "$TMP" | awk 'NR==2{print $2}') at $TMP"
echo "tools:   openlmt $("$OPENLMT_BIN" --version | awk '{print $2}') ($(bench_rev)), sqlite3 CLI $(sqlite3 --version | cut -d' ' -f1), curl $(curl --version | awk 'NR==1{print $2}')"
echo "loadavg: $LOAD_BEFORE before the first import, $LOAD_AFTER1 after it, $LOAD_AFTER at the end (the machine is shared: other work may run)"
echo "estate:  $N_FILES packages replicated from ONE real host ($(basename "$HOST_DIR"): $HOST_DPKG installed dpkg packages, $HOST_SWID SWID tags), the $IBM_TAGS IBM tags of $(basename "$IBM_TAG_DIR") on one package in $TAG_EVERY ($TAGGED packages), $((DS_BYTES / 1048576)) MiB, written ${REPLICATE_SECS}"
echo "catalog: operator layer generated by bench/discovery/make_catalog.py ($CATALOG_DESC), loaded by openlmt catalog import in ${CATALOG_IMPORT_SECS} s; over the bundled catalog"
echo "         ${CATALOG_LINE:-(no catalog line in the log)}"
echo
echo "first import (complete, empty database): ${IMPORT1_SECS} s end to end, status $ST1"
echo "| step | seconds (from the import log) |"
echo "|---|---:|"
awk -F'\t' '{printf "| %s | %.3f |\n", $1, $2}' "$TMP/steps1.tsv"
echo "CPU of the server over the first import (utime+stime of its threads, sampled every 0.25 s by bench/discovery/thread_cpu.py): ${CPU1_TOTAL:-?} s; by thread: ${CPU1_THREADS:-?}"
echo "log: $DISCOVERY_LINE"
echo "log: $INVENTORY_LINE"
echo "instances: $TOTAL_DB visible ($FOUND found by the step) on $COMPUTERS computers; by signature kind: $BY_KIND"
ok_if() { if (($1)); then echo ok; else echo WRONG; fi; }
echo "checks: $checks_ok (generated release-line instances $GEN_LINES = $COMPUTERS computers x $HOST_DPKG packages: $(ok_if "GEN_LINES == COMPUTERS * HOST_DPKG"); regular-expression instances $GEN_GROUPS = $COMPUTERS x $N_GROUPS: $(ok_if "GEN_GROUPS == COMPUTERS * N_GROUPS"); IBM products $IBM = $TAGGED tagged computers x $IBM_TAGS: $(ok_if "IBM == TAGGED * IBM_TAGS"); other instances, from the bundled catalog: $OTHER)"
echo
echo "full pull of the software instances, pages of $PAGE rows ($PULL_ROUNDS round(s), medians)$PULL_NOTE:"
echo "  API:     GET /api/sam/v2/software_instances?limit=$PAGE&offset=N, all columns, $API_PAGES requests, $API_MB MiB of JSON: $API_ROWS rows in $API_SECS s = $API_RATE rows/s"
echo "  sqlite3: sqlite3 -readonly -json, the same query, $SQ_PAGES processes (pages bounded by instance id), $SQ_MB MiB of JSON: $SQ_ROWS rows in $SQ_SECS s = $SQ_RATE rows/s"
echo "  ratio:   $RATIO"
echo "  per round (rows seconds bytes pages): API $(paste -sd';' "$TMP/pull-api.txt"); sqlite3 $(paste -sd';' "$TMP/pull-sqlite.txt")"
echo "  sqlite3's SQL ($QUERY_NOTE), per page:"
printf '%s%s AND i.id >= <first id of the page> AND i.id < <first id of the next page> ORDER BY i.id;\n' "$INSTANCE_SELECT" "$INSTANCE_FROM" | sed 's/^ */      /'
echo
echo "peak memory: VmHWM ${HWM_MIB} MiB at the end of the first import (largest VmRSS sampled every 0.2 s: ${RSS_MAX_MIB} MiB; VmHWM $((HWM_IDLE_KB / 1024)) MiB before it), ${HWM_PULL_MIB} MiB after the pulls, $(mib "$HWM_END_KB") MiB after the second import"
echo "second import (nothing new): ${IMPORT2_SECS} s end to end (polled every 20 ms), ${IMPORT2_LOG_SECS} s in its log, status $ST2"
echo "    ${DISCOVERY2_LINE:-(no catalog line in its log)}"
awk -F'\t' '{printf "    %-48s %8.3f s\n", $1, $2}' "$TMP/steps2.tsv"
echo
echo "| target | measured | verdict |"
echo "|---|---|---|"
echo "| first complete import < 60 s (discovery step ${DISCOVERY_SECS} s) | ${IMPORT1_SECS} s | $(verdict "$IMPORT1_SECS" '<' 60) |"
echo "| full pull >= 0.5 x sqlite3 -json rows/s$PULL_NOTE | $RATIO ($API_RATE / $SQ_RATE rows/s) | $(verdict "$RATIO" '>=' 0.5) |"
echo "| peak RSS < 512 MiB (import and pulls) | ${HWM_PULL_MIB} MiB | $(verdict "$HWM_PULL_MIB" '<' 512) |"
exit 0
