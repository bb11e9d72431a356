#!/usr/bin/env bash
# Fault injection (issue 11, item 2): runs the real `openlmt serve` on fresh
# data directories, breaks an import in the ways a production server meets
# (full file system, vanished data source, locked database, SIGTERM during the
# publish, kill -9 at random moments) and checks, for each scenario:
#   - nothing partial is visible: the computers, software instances, licence
#     usage and raw-fact totals read through the API equal those of the
#     previous successful import (or, when the fault came after the publish
#     committed, those of the new one), byte for byte after dropping ids and
#     times that differ between databases;
#   - no import is left `running` or `pending` (after a restart the dead one
#     is `failed` with a reason);
#   - the next import succeeds and its results equal a clean run's.
# It prints a pass/fail table (scenario, what was checked, result, seconds)
# on stdout and exits 1 if any check failed (2 when it cannot set up).
#
# The estate is real data: shared/corpus/hosts/debian12-vm replicated by
# crates/scanpkg/examples/replicate.rs. Set A: PACKAGES computers scanned two
# days ago. Set B: newer scans (yesterday) of the same computers plus NEW more,
# one in 10 carrying the real IBM SWID tags of shared/corpus/swid-ibm, so that
# the computers, the software instances and the licence usage all change.
# A reference run imports A, then B, on a clean directory; every scenario
# starts from a copy of the directory after A and imports B.
#
# Usage: bash scripts/faults.sh [SCENARIO...]   (default: all, in this order)
#   disk_full source_removed source_unreadable db_locked sigterm_publish kill9
# Knobs (environment):
#   PACKAGES=300 NEW=100   the estate (set A; set B = PACKAGES + NEW)
#   KILLS=20               kill -9 moments in the kill9 scenario
#   SEED=$RANDOM           seed of the kill moments (printed; set it to replay)
#   LOCK_SECS=40           how long the db_locked scenario holds the write lock
#                          (the server's busy timeout is 30 s)
#   OPENLMT_BIN=, REPLICATE_BIN=   use these binaries instead of building
#                          (release) with `cargo build --release`
#   KEEP_TMP=1             keep the temporary directory
# Needs root (mount for the tmpfs, setpriv for the unprivileged server), curl,
# jq, sqlite3, gawk; missing tools are installed with apt-get.

set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../bench/lib.sh"

PACKAGES=${PACKAGES:-300}
NEW=${NEW:-100}
KILLS=${KILLS:-20}
SEED=${SEED:-$RANDOM}
LOCK_SECS=${LOCK_SECS:-40}
ALL_SCENARIOS=(disk_full source_removed source_unreadable db_locked sigterm_publish kill9)
if (($#)); then SCENARIOS=("$@"); else SCENARIOS=("${ALL_SCENARIOS[@]}"); fi
for s in "${SCENARIOS[@]}"; do
    [[ " ${ALL_SCENARIOS[*]} " == *" $s "* ]] || die "unknown scenario $s (one of ${ALL_SCENARIOS[*]})"
done
RANDOM=$SEED
BENCH_API_TIMEOUT=20
[[ $(id -u) -eq 0 ]] || die "run as root (the disk_full scenario mounts a tmpfs)"

bench_need_tools curl jq sqlite3 gawk setpriv
bench_host_dir
IBM_TAGS="$HOST_DIR/../../swid-ibm"
[[ -d "$IBM_TAGS" ]] || die "no $IBM_TAGS"
IBM_TAGS=$(cd "$IBM_TAGS" && pwd)

if [[ -z "${OPENLMT_BIN:-}" || -z "${REPLICATE_BIN:-}" ]]; then
    say "building (cargo build --release -p openlmt -p openlmt-scanpkg --bins --examples)"
    (cd "$ROOT" && nice -n 19 cargo build --release -q -p openlmt -p openlmt-scanpkg --bins --examples) >&2
    T=$(bench_target_dir)
    OPENLMT_BIN=${OPENLMT_BIN:-$T/release/openlmt}
    REPLICATE_BIN=${REPLICATE_BIN:-$T/release/examples/replicate}
fi
[[ -x "$OPENLMT_BIN" ]] || die "no binary at $OPENLMT_BIN"
[[ -x "$REPLICATE_BIN" ]] || die "no replicate example at $REPLICATE_BIN"

MOUNTS=()
faults_cleanup() {
    local m
    for m in "${MOUNTS[@]}"; do umount -l "$m" 2>/dev/null || true; done
}
# Unmount before bench_cleanup removes TMP.
trap 'faults_cleanup; bench_cleanup' EXIT
bench_make_tmp openlmt-faults
chmod 755 "$TMP"

# --- the estate ------------------------------------------------------------------
# replicate names packages after the current minute; they are renamed to fixed
# scan times so that set B is newer than set A.
DAY_A=$(date -u -d '2 days ago' +%Y%m%d)0900
DAY_B=$(date -u -d '1 day ago' +%Y%m%d)0900
make_set() { # DIR DAY COUNT [replicate args]
    local dir=$1 day=$2 count=$3 f
    shift 3
    "$REPLICATE_BIN" "$HOST_DIR" "$dir" "$count" "$@" 2>>"$TMP/replicate.err" ||
        { cat "$TMP/replicate.err" >&2; die "replicate failed"; }
    for f in "$dir"/*.tar.gz; do
        mv "$f" "$dir/$day-${f##*/[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]-}"
    done
}
say "writing the estate: set A $PACKAGES packages, set B $((PACKAGES + NEW)) (one in 10 with IBM tags)"
make_set "$TMP/set-a" "$DAY_A" "$PACKAGES"
make_set "$TMP/set-b" "$DAY_B" "$((PACKAGES + NEW))" --extra-tag-every 10 "$IBM_TAGS"
SET_B_BYTES=$(du -sb "$TMP/set-b" | cut -f1)

# --- a scenario's directory, its server ------------------------------------------
# S: the scenario's directory: data/ (the data directory), ds/ (its data source),
# openlmt.toml, server.out/.err (appended over restarts).
scenario_dir() { # NAME
    S="$TMP/$1"
    mkdir -p "$S/data" "$S/ds"
    chmod 755 "$S" "$S/ds"
    cat >"$S/openlmt.toml" <<EOF
computer_retention_days = 0

[[datasource]]
name = "default"
path = "$S/ds"
EOF
}
# Copies the reference state after set A into S (data/ may be a mount point).
from_base() {
    cp -a "$TMP/base/data/." "$S/data/"
    cp -al "$TMP/base/ds/." "$S/ds/"
}
add_set_b() { cp -l "$TMP/set-b"/*.tar.gz "$S/ds/"; }

start_server() { # [PREFIX CMD...]
    local lines
    touch "$S/server.out" "$S/server.err"
    lines=$(wc -l <"$S/server.out")
    OPENLMT_LOG=info OPENLMT_ADMIN_PASSWORD="$PASSWORD" \
        "$@" "$OPENLMT_BIN" serve --data-dir "$S/data" --config "$S/openlmt.toml" \
        --listen 127.0.0.1:0 >>"$S/server.out" 2>>"$S/server.err" &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    BASE=""
    for _ in $(seq 300); do
        BASE=$(tail -n +"$((lines + 1))" "$S/server.out" |
            sed -n 's|^openlmt listening on \(http://127\.0\.0\.1:[0-9]*\).*|\1|p')
        [[ -n "$BASE" ]] && break
        kill -0 "$SERVER_PID" 2>/dev/null || { tail -5 "$S/server.err" >&2; die "openlmt exited at start ($S)"; }
        sleep 0.1
    done
    [[ -n "$BASE" ]] || die "openlmt did not say where it listens"
    STATUS_URL="$BASE/api/import_status.json"
    bench_get_token
}
# SIGTERM; sets STOP_RC and STOP_SECS.
stop_server() {
    local t
    t=$(now)
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    STOP_RC=0
    wait "$SERVER_PID" 2>/dev/null || STOP_RC=$?
    STOP_SECS=$(sub "$t" "$(now)")
}
kill9_server() {
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
}

# Starts an import; sets IMPORT_ID and LOG (the import's log file).
request_import() {
    IMPORT_ID=$(api -D - -o /dev/null "$STATUS_URL?run=true" |
        tr -d '\r' | sed -n 's/^x-openlmt-import-id: *//Ip')
    [[ -n "$IMPORT_ID" ]] || die "no import started"
    LOG="$S/data/logs/import-$IMPORT_ID.log"
}
# Waits until import ID has ended; prints its status.
wait_end() { # ID [TRIES of 0.1 s]
    local st
    for _ in $(seq "${2:-3000}"); do
        st=$(api "$BASE/api/imports/$1" | jq -r .status)
        case "$st" in successful | failed | cancelled)
            echo "$st"
            return 0
            ;;
        esac
        kill -0 "$SERVER_PID" 2>/dev/null || die "openlmt exited during import $1"
        sleep 0.1
    done
    die "import $1 did not end"
}
import_field() { api "$BASE/api/imports/$1" | jq -r ".$2 // empty"; }
# Waits until the import log shows step $1 (e.g. "Publish") or a later line.
wait_step() { # LABEL [TRIES of 2 ms]
    for _ in $(seq "${2:-50000}"); do
        grep -q "Step [0-9]*/[0-9]*: $1\$" "$LOG" 2>/dev/null && return 0
        sleep 0.002
    done
    return 1
}

# What a client sees, without what differs between two databases holding the
# same data (row ids, import ids, the times an import ran at, and the names
# TLM_VM_<id> of the virtual servers made for VMs without VM-manager data).
VOLATILE='^(id|.*bigfix_id|computer_id|import_id|instance_id|server_id|.*_at|first_seen.*|last_seen.*|.*import.*|deletion_date|discovery_start|discovery_end)$'
snapshot() { # OUT; on a failed request returns 1 and sets SNAP_ERR
    local out=$1 start end part url
    start=$(date -u -d '3 days ago' +%Y-%m-%d)
    end=$(date -u +%Y-%m-%d)
    SNAP_ERR=""
    for part in computers software_instances license_usage raw_package_facts raw_swid_tags; do
        case $part in
        computers | software_instances) url="$BASE/api/sam/v2/$part?limit=100000" ;;
        license_usage) url="$BASE/api/sam/v2/license_usage?startdate=$start&enddate=$end" ;;
        *) url="$BASE/api/sam/$part?limit=0" ;;
        esac
        if ! api "$url" >"$out.$part" 2>"$out.err"; then
            SNAP_ERR="GET ${url#"$BASE"}: $(tr -d '\n' <"$out.err")"
            return 1
        fi
    done
    jq -n -S --arg v "$VOLATILE" \
        --slurpfile c "$out.computers" --slurpfile i "$out.software_instances" \
        --slurpfile l "$out.license_usage" --slurpfile p "$out.raw_package_facts" \
        --slurpfile t "$out.raw_swid_tags" '
        {computers: $c[0], software_instances: $i[0], license_usage: $l[0],
         raw_package_facts: $p[0], raw_swid_tags: $t[0]}
        | walk(if type == "object" then with_entries(select(.key | test($v) | not))
               elif type == "string" and test("^TLM_VM_[0-9]+$") then "TLM_VM_<id>"
               else . end)
        | walk(if type == "array" then sort_by(tojson) else . end)' >"$out" ||
        { SNAP_ERR="jq could not read the answers (kept in $out.*)"; return 1; }
    rm -f "$out".*
}
# snapshot OUT, printing OUT, or nothing (and SNAP_ERR in $TMP/snap-err) if
# a request failed.
snap() {
    if snapshot "$1"; then echo "$1"; else printf '%s' "$SNAP_ERR" >"$TMP/snap-err"; fi
}
# The number of imports running or pending in the history.
active_imports() {
    api "$BASE/api/imports?limit=1000" | jq '[.rows[] | select(.status == "running" or .status == "pending")] | length'
}
summary() { # FILE: a short description of a snapshot
    jq -r '"\(.computers.total) computers, \(.software_instances.total) instances, \(.license_usage | if type == "object" then (.rows // []) else . end | length) usage rows"' "$1"
}

# --- checks and the table ----------------------------------------------------------
ROWS=()
FAILED_DETAILS=()
SC_NAME="" SC_CHECKS=() SC_FAILS=0 SC_T0=""
scenario_begin() { # NAME
    SC_NAME=$1 SC_CHECKS=() SC_FAILS=0 SC_T0=$(now)
    say "== scenario $1"
}
check() { # WHAT CONDITION-STATUS(0 pass) [DETAIL]
    local what=$1 ok=$2 detail=${3:-}
    if [[ "$ok" == 0 ]]; then
        SC_CHECKS+=("$what")
        say "  pass: $what"
    else
        SC_CHECKS+=("$what: FAILED")
        SC_FAILS=$((SC_FAILS + 1))
        FAILED_DETAILS+=("$SC_NAME: $what${detail:+: $detail}")
        say "  FAIL: $what${detail:+: $detail}"
    fi
}
# check_same WHAT SNAPSHOT REFERENCE (SNAPSHOT "" when snapshot failed)
check_same() {
    if [[ -z "$2" ]]; then
        check "$1" 1 "a request failed: $(cat "$TMP/snap-err" 2>/dev/null)"
    elif cmp -s "$2" "$3"; then
        check "$1 ($(summary "$3"))" 0
    else
        check "$1" 1 "differs: $(summary "$2") vs $(summary "$3"); diff $2 $3"
    fi
}
scenario_end() {
    local secs result joined
    secs=$(sub "$SC_T0" "$(now)")
    if ((SC_FAILS)); then result="FAIL ($SC_FAILS)"; else result=PASS; fi
    joined=$(printf '%s; ' "${SC_CHECKS[@]}")
    ROWS+=("| $SC_NAME | ${joined%; } | $result | $(printf '%.1f' "$secs") |")
}
# The checks every scenario ends with, on a running server whose previous
# import was the one broken: nothing running, visible = reference $1 (ref-a or
# ref-ab), then the next import succeeds and equals ref-ab.
check_after() { # REF-NAME
    local n st
    n=$(active_imports || echo "? (GET /api/imports failed)")
    check "no import running or pending" "$([[ "$n" == 0 ]] && echo 0 || echo 1)" "$n active"
    local what="the previous import's (A)"
    [[ "$1" == ref-ab ]] && what="this import's (B, published before the fault)"
    check_same "visible data = $what" "$(snap "$S/after-fault.json")" "$TMP/$1.json"
    request_import
    st=$(wait_end "$IMPORT_ID")
    check "next import $IMPORT_ID successful" "$([[ "$st" == successful ]] && echo 0 || echo 1)" "$st: $(import_field "$IMPORT_ID" error)"
    check_same "then visible data = a clean import's" "$(snap "$S/after-next.json")" "$TMP/ref-ab.json"
}

# --- the reference: A, then B, on a clean directory ---------------------------------
# As bench/license.sh does: an operator's catalog layer gives the two bundled
# IBM products the IBM tags match the metric PVU (the bundled catalog names
# none), so that the licence usage has values to compare.
jq '{catalog_version: "faults-1", publishers: (.publishers // []),
     products: [.products[] | select(.id == "ibm-decision-manager-open-edition"
                                   or .id == "ibm-process-automation-manager-open-edition")
                | .metric = "PVU"
                | .evidence = "fault-injection configuration (scripts/faults.sh): " + (.evidence // "")]}' \
    "$ROOT/crates/catalog/bundled/catalog.json" >"$TMP/catalog.json"
[[ $(jq '.products | length' "$TMP/catalog.json") == 2 ]] || die "the two IBM products are not in the bundled catalog"
scenario_dir base
cp -al "$TMP/set-a/." "$S/ds/"
start_server
"$OPENLMT_BIN" catalog import "$TMP/catalog.json" --data-dir "$S/data" >"$TMP/catalog-import.txt" 2>&1 ||
    { cat "$TMP/catalog-import.txt" >&2; die "openlmt catalog import failed"; }
say "reference: importing set A"
request_import
[[ $(wait_end "$IMPORT_ID") == successful ]] || die "the reference import of set A failed: $(import_field "$IMPORT_ID" error)"
snapshot "$TMP/ref-a.json" || die "$SNAP_ERR"
stop_server
say "reference: $(summary "$TMP/ref-a.json")"
scenario_dir reference
from_base
add_set_b
start_server
request_import
[[ $(wait_end "$IMPORT_ID") == successful ]] || die "the reference import of set B failed: $(import_field "$IMPORT_ID" error)"
snapshot "$TMP/ref-ab.json" || die "$SNAP_ERR"
steps_of "$LOG" >"$TMP/ref-steps.tsv"
stop_server
cmp -s "$TMP/ref-a.json" "$TMP/ref-ab.json" && die "set B changes nothing visible; the checks would prove nothing"
say "reference: $(summary "$TMP/ref-ab.json"); steps of the import of B:"
sed 's/^/    /' "$TMP/ref-steps.tsv" >&2
step_secs() { awk -F'\t' -v s="$1" '$1 == s {print $2}' "$TMP/ref-steps.tsv"; }

# --- scenarios ------------------------------------------------------------------------

# The data directory on a tmpfs with room for the state after A and a little
# more; a filler file takes the rest, the import of B fails; the filler is
# removed and the next import succeeds.
scenario_disk_full() {
    scenario_begin disk_full
    scenario_dir disk_full
    local size used st err
    used=$(du -sk "$TMP/base/data" | cut -f1)
    size=$((used * 3 + 65536))
    mount -t tmpfs -o "size=${size}k,mode=755" openlmt-faults "$S/data"
    MOUNTS+=("$S/data")
    from_base
    start_server
    add_set_b
    # Leave 2 MiB free: far less than the import of B writes.
    local free
    free=$(df -k --output=avail "$S/data" | tail -1)
    fallocate -l "$(((free - 2048) * 1024))" "$S/data/filler" 2>/dev/null ||
        dd if=/dev/zero of="$S/data/filler" bs=1k count="$((free - 2048))" status=none || true
    say "  tmpfs of $((size / 1024)) MiB, $(df -k --output=avail "$S/data" | tail -1) KiB free"
    request_import
    st=$(wait_end "$IMPORT_ID")
    err=$(import_field "$IMPORT_ID" error)
    check "import failed" "$([[ "$st" == failed ]] && echo 0 || echo 1)" "$st"
    check "its error names the cause" "$([[ "$err" =~ (disk is full|No space left) ]] && echo 0 || echo 1)" "$err"
    check "status endpoint serves" "$(curl -fsS -m 5 "$STATUS_URL" -H "Token: $TOKEN" >/dev/null && echo 0 || echo 1)"
    check_same "visible data while full = the previous import's" "$(snap "$S/while-full.json")" "$TMP/ref-a.json"
    rm -f "$S/data/filler"
    check_after ref-a
    stop_server
    umount "$S/data" && MOUNTS=("${MOUNTS[@]/$S\/data/}")
    scenario_end
}

# The data source directory renamed away while the read step runs.
scenario_source_removed() {
    scenario_begin source_removed
    scenario_dir source_removed
    from_base
    add_set_b
    start_server
    request_import
    wait_step "Read and write scan packages" || die "the import never reached its read step"
    mv "$S/ds" "$S/ds.away"
    local st err
    st=$(wait_end "$IMPORT_ID")
    err=$(import_field "$IMPORT_ID" error)
    check "import failed" "$([[ "$st" == failed ]] && echo 0 || echo 1)" "$st"
    check "its error names the data source" "$([[ "$err" == *"data source \`default\`"* ]] && echo 0 || echo 1)" "$err"
    mv "$S/ds.away" "$S/ds"
    check_after ref-a
    stop_server
    scenario_end
}

# The server runs as an unprivileged user; the data source is made unreadable
# (mode 000) while the read step runs.
scenario_source_unreadable() {
    scenario_begin source_unreadable
    scenario_dir source_unreadable
    from_base
    add_set_b
    chown -R nobody:nogroup "$S/data"
    start_server setpriv --reuid=nobody --regid=nogroup --clear-groups
    request_import
    wait_step "Read and write scan packages" || die "the import never reached its read step"
    chmod 000 "$S/ds"
    local st err
    st=$(wait_end "$IMPORT_ID")
    err=$(import_field "$IMPORT_ID" error)
    check "import failed" "$([[ "$st" == failed ]] && echo 0 || echo 1)" "$st"
    check "its error names the data source" "$([[ "$err" == *"data source \`default\`"* ]] && echo 0 || echo 1)" "$err"
    chmod 755 "$S/ds"
    check_after ref-a
    stop_server
    scenario_end
}

# Another process holds SQLite's write lock (BEGIN EXCLUSIVE in sqlite3) from
# the read step on, for LOCK_SECS (longer than the server's 30 s busy timeout).
scenario_db_locked() {
    scenario_begin db_locked
    scenario_dir db_locked
    from_base
    add_set_b
    start_server
    mkfifo "$S/lock.fifo"
    sqlite3 "$S/data/openlmt.db" <"$S/lock.fifo" >"$S/lock.out" 2>&1 &
    local holder=$! st err t ok
    PIDS+=("$holder")
    exec 7>"$S/lock.fifo"
    request_import
    wait_step "Read and write scan packages" || die "the import never reached its read step"
    echo "PRAGMA busy_timeout = 60000; BEGIN EXCLUSIVE; SELECT 'locked';" >&7
    for _ in $(seq 600); do grep -q locked "$S/lock.out" && break; sleep 0.1; done
    grep -q locked "$S/lock.out" || die "sqlite3 did not take the lock: $(cat "$S/lock.out")"
    t=$(now)
    # While locked: the status and the inventory (WAL readers) answer.
    sleep 2
    check "status endpoint serves while locked" "$(curl -fsS -m 5 "$STATUS_URL" -H "Token: $TOKEN" >/dev/null && echo 0 || echo 1)"
    check_same "visible data while locked = the previous import's" "$(snap "$S/while-locked.json")" "$TMP/ref-a.json"
    sleep "$(awk -v l="$LOCK_SECS" -v e="$(sub "$t" "$(now)")" 'BEGIN{d = l - e; print (d > 0 ? d : 0)}')"
    echo "ROLLBACK; .quit" >&7
    exec 7>&-
    wait "$holder" 2>/dev/null || true
    st=$(wait_end "$IMPORT_ID")
    err=$(import_field "$IMPORT_ID" error)
    check "import failed" "$([[ "$st" == failed ]] && echo 0 || echo 1)" "$st"
    check "its error names the cause" "$([[ "$err" == *"database is locked"* ]] && echo 0 || echo 1)" "$err"
    check_after ref-a
    stop_server
    scenario_end
}

# SIGTERM as soon as the log shows the publish step; then a restart.
scenario_sigterm_publish() {
    scenario_begin sigterm_publish
    scenario_dir sigterm_publish
    from_base
    add_set_b
    start_server
    request_import
    wait_step "Publish" || die "the import never reached its publish"
    stop_server
    check "server stopped cleanly in < 10 s" "$(awk -v s="$STOP_SECS" -v rc="$STOP_RC" 'BEGIN{print (rc == 0 && s < 10) ? 0 : 1}')" "exit $STOP_RC after $STOP_SECS s"
    start_server
    local st ref
    st=$(import_field "$IMPORT_ID" status)
    # The publish is one transaction that a cancel does not stop: either it
    # committed (successful, B visible) or it had not begun (cancelled, A).
    case "$st" in
    successful) ref=ref-ab ;;
    cancelled) ref=ref-a ;;
    *) ref=ref-a ;;
    esac
    check "import ended $st" "$([[ "$st" == successful || "$st" == cancelled ]] && echo 0 || echo 1)" "$(import_field "$IMPORT_ID" error)"
    check_after "$ref"
    stop_server
    scenario_end
}

# kill -9 at KILLS moments, on a fresh copy of the state after A each time,
# aimed at the steps find, read, discovery, licence metrics and publish in
# turn. Find, read and discovery report their progress: the kill comes when
# the status shows a random progress within the step's range (docs/api.md
# §11.2: weights 1, 9, 80, 10, 3, 5 of 108). Licence metrics and publish do
# not: the kill comes a random part of the reference run's step duration after
# the step's line in the import log; every other publish kill aims at the
# clean-up after the commit instead. Where it landed is read from the import
# log (the last step begun, whether the publish had committed).
progress_range() {
    case $1 in
    "Find scan packages") echo "1 9" ;;
    "Read and write scan packages") echo "10 83" ;;
    "Software discovery") echo "84 92" ;;
    esac
}
scenario_kill9() {
    local steps=("Find scan packages" "Read and write scan packages" "Software discovery" "Licence metrics" "Publish")
    local i step aim dur delay st err ref n_int=0 n_pub=0 range lo hi p landed publishes=0
    declare -A where=()
    scenario_begin "kill9"
    for ((i = 0; i < KILLS; i++)); do
        step=${steps[i % ${#steps[@]}]}
        scenario_dir "kill9-$i"
        from_base
        add_set_b
        start_server
        request_import
        wait_step "$step" || die "the import never reached $step"
        range=$(progress_range "$step")
        if [[ -n "$range" ]]; then
            read -r lo hi <<<"$range"
            aim=$((lo + RANDOM % (hi - lo)))
            for _ in $(seq 30000); do
                p=$(api "$STATUS_URL" | jq -r .progress) || p=0
                ((p >= aim)) && break
                grep -q "Step [0-9]*/[0-9]*: " <(sed -n "/: $step\$/,\$p" "$LOG" | tail -n +2) && break
                sleep 0.01
            done
            aim="progress $aim %"
        else
            dur=$(step_secs "$step")
            if [[ "$step" == Publish ]] && ((publishes++ % 2)); then
                for _ in $(seq 50000); do grep -q "Published in one transaction" "$LOG" && break; sleep 0.002; done
                dur=$(step_secs 'after publish (superseded facts, bookkeeping)')
                aim="after the commit"
            fi
            delay=$(awk -v d="$dur" -v r="$RANDOM" 'BEGIN{printf "%.3f", d * r / 32768}')
            sleep "$delay"
            aim="${aim:+$aim }+${delay} s"
        fi
        kill9_server
        if grep -q "finished successfully" "$LOG"; then
            landed="after the import ended"
        elif grep -q "Published in one transaction" "$LOG"; then
            landed="publish, after its commit"
        else
            landed=$(grep -o "Step [0-9]*/[0-9]*: .*" "$LOG" | tail -1 | sed 's/^Step [0-9]*\/[0-9]*: //')
        fi
        where[$landed]=$((${where[$landed]:-0} + 1))
        start_server
        st=$(import_field "$IMPORT_ID" status)
        err=$(import_field "$IMPORT_ID" error)
        if [[ "$st" == successful ]]; then
            ref=ref-ab n_pub=$((n_pub + 1))
        else
            ref=ref-a n_int=$((n_int + 1))
        fi
        say "  kill $i: aimed at $step ($aim), landed in: $landed -> $st"
        if [[ "$st" != successful ]]; then
            check "kill $i ($landed): failed, interrupted" \
                "$([[ "$st" == failed && "$err" == interrupted* ]] && echo 0 || echo 1)" "$st: $err"
        fi
        # check_after's checks, counted per kill (the table shows the totals).
        local before=$SC_FAILS
        check_after "$ref" 2>"$S/checks.err" || true
        if ((SC_FAILS > before)); then cat "$S/checks.err" >&2; fi
        stop_server
        aim=""
        rm -rf "$S/data" "$S/ds"
    done
    local fails=$SC_FAILS k landings=""
    for k in "Find scan packages" "Read and write scan packages" "Software discovery" "Licence metrics" "Publish" "publish, after its commit" "after the import ended"; do
        [[ -n "${where[$k]:-}" ]] && landings+="${landings:+, }$k ${where[$k]}"
    done
    SC_NAME="kill9 x$KILLS (seed $SEED)"
    SC_CHECKS=("landed in: $landings"
        "$n_int before the publish committed: failed 'interrupted…' after the restart, A visible"
        "$n_pub after it: successful, B visible"
        "each: no import running, next import successful and equal to a clean one")
    SC_FAILS=$fails
    scenario_end
}

for s in "${SCENARIOS[@]}"; do
    "scenario_$s"
done

# --- the report ---------------------------------------------------------------------------
echo "openlmt fault injection: $(date -u +%Y-%m-%dT%H:%MZ), commit $(bench_rev)"
echo "machine: $(cpu_model), $(nproc) cores, $(mem_total); binary $OPENLMT_BIN"
echo "estate: set A $PACKAGES packages of $HOST_DIR, set B $((PACKAGES + NEW)) ($((SET_B_BYTES / 1048576)) MiB); kill seed $SEED"
echo "reference: after A $(summary "$TMP/ref-a.json"); after B $(summary "$TMP/ref-ab.json")"
echo
echo "| scenario | checked | result | seconds |"
echo "|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
if ((${#FAILED_DETAILS[@]})); then
    echo
    echo "failed checks:"
    printf '  %s\n' "${FAILED_DETAILS[@]}"
    exit 1
fi
