#!/usr/bin/env bash
# Benchmark of archive memory (issue 12 point 1): the server's peak RSS growth while it
# refuses a zip scan package of 1,000,000 empty members (~92 MB).
#
# A benchmark, not a test: it prints figures and always exits 0 once it has measured (it
# exits non-zero only when it cannot set up the measurement).
#
# What it does, in one run on one machine:
#   * builds the release binary and starts `openlmt serve` on a fresh temporary data
#     directory (127.0.0.1, free port, OPENLMT_LOG=warn), gets an admin token;
#   * generates the zip with python3: a real package's members (the corpus's Debian 12
#     host: computer.yml, cpuinfo, lscpu.json, dpkg-status) followed by empty stored
#     padding members up to MEMBERS in all;
#   * reads VmHWM (peak RSS) from /proc/PID/status, uploads the zip UPLOADS times
#     concurrently to POST /api/sam/v2/scan_results_upload, then places it in the data
#     source and runs an import; reads VmHWM again after each phase;
#   * prints the HTTP answers, the import's package states and the peak growth, with PASS
#     when the growth is under LIMIT_MIB.
#
# Usage: bash bench/archive.sh
# Knobs (environment):
#   MEMBERS=1000000  members in the zip
#   UPLOADS=4        concurrent uploads
#   LIMIT_MIB=50     peak RSS growth under which the run PASSes
#   OPENLMT_BIN=     use this binary instead of building one (e.g. a build of 6bf968c for
#                    the baseline)
#   CARGO_TARGET_DIR is honoured for the build.
#   KEEP_TMP=1       keep the temporary directory (logs) for inspection

set -euo pipefail

MEMBERS=${MEMBERS:-1000000}
UPLOADS=${UPLOADS:-4}
LIMIT_MIB=${LIMIT_MIB:-50}
KEEP_TMP=${KEEP_TMP:-0}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PASSWORD="bench-$(date +%s)-$RANDOM$RANDOM"
HOST_DIR=${HOST_DIR:-$ROOT/../shared/corpus/hosts/debian12-vm}

say() { printf '%s\n' "$*" >&2; }
die() { say "error: $*"; exit 2; }

PIDS=()
TMP=""
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    local pid
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [[ -n "$TMP" && -d "$TMP" ]]; then
        if [[ "$KEEP_TMP" == 1 ]]; then
            rm -f "$TMP"/*.zip "$TMP"/data/datasource/*.zip
            say "kept $TMP (zips removed)"
        else
            rm -rf "$TMP"
        fi
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

command -v python3 >/dev/null || die "python3 is needed to generate the zip"
command -v curl >/dev/null || die "curl is needed"
[[ -d "$HOST_DIR" ]] || die "no corpus host at $HOST_DIR"

if [[ -z "${OPENLMT_BIN:-}" ]]; then
    say "building the release binary (cargo build --release -p openlmt)"
    (cd "$ROOT" && cargo build --release -q -p openlmt) >&2
    OPENLMT_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/openlmt"
    [[ "$OPENLMT_BIN" = /* ]] || OPENLMT_BIN="$ROOT/$OPENLMT_BIN"
fi
[[ -x "$OPENLMT_BIN" ]] || die "no binary at $OPENLMT_BIN"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/openlmt-archive-bench.XXXXXX")
DATA="$TMP/data"
mkdir -p "$DATA/datasource"
ENDPOINT=bench-many-members
NAME="202611281200-$ENDPOINT.zip"
ZIP="$TMP/$NAME"

say "generating $ZIP ($MEMBERS members)"
python3 - "$HOST_DIR" "$ZIP" "$MEMBERS" "$ENDPOINT" <<'PY'
import sys, zipfile
host, out, members, endpoint = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
computer = (f"format_version: 1\nendpointID: {endpoint}\nComputer Name: {endpoint}\n"
            "Operating System: Debian GNU/Linux 12 (bookworm)\nScan Time: 2026-11-28T12:00:00Z\n")
with zipfile.ZipFile(out, "w", allowZip64=True) as z:
    z.writestr("computer.yml", computer, compress_type=zipfile.ZIP_DEFLATED)
    real = ["cpuinfo", "lscpu.json", "dpkg-status"]
    for m in real:
        z.write(f"{host}/{m}", m, compress_type=zipfile.ZIP_DEFLATED)
    for i in range(members - 1 - len(real)):
        z.writestr(zipfile.ZipInfo(f"p/{i:07d}"), b"")
PY
ZIP_BYTES=$(stat -c %s "$ZIP")
say "zip: $ZIP_BYTES bytes"

say "starting openlmt"
OPENLMT_LOG=warn OPENLMT_ADMIN_PASSWORD="$PASSWORD" \
    "$OPENLMT_BIN" serve --data-dir "$DATA" --listen 127.0.0.1:0 \
    >"$TMP/openlmt.out" 2>"$TMP/openlmt.err" &
PIDS+=($!)
OPENLMT_PID=$!
BASE=""
for _ in $(seq 300); do
    BASE=$(sed -n 's|^openlmt listening on \(http://127\.0\.0\.1:[0-9]*\).*|\1|p' "$TMP/openlmt.out")
    [[ -n "$BASE" ]] && break
    kill -0 "$OPENLMT_PID" 2>/dev/null || { cat "$TMP/openlmt.err" >&2; die "openlmt exited"; }
    sleep 0.1
done
[[ -n "$BASE" ]] || die "openlmt did not say where it listens"

TOKEN=$(curl -fsS -X POST "$BASE/api/get_token" -H 'content-type: application/json' \
    -d "{\"user\":\"admin\",\"password\":\"$PASSWORD\"}" |
    sed -n 's/.*"token"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p')
[[ -n "$TOKEN" ]] || die "no token from /api/get_token"
STATUS_URL="$BASE/api/import_status.json"
api() { curl -fsS -m 60 -H "Token: $TOKEN" "$@"; }
mode_of() { sed -n 's/.*"mode"[[:space:]]*:[[:space:]]*"\([a-z_]*\)".*/\1/p'; }
hwm_kib() { awk '/^VmHWM:/{print $2}' "/proc/$OPENLMT_PID/status"; }
wait_idle() {
    local m
    for _ in $(seq 3000); do
        m=$(api "$STATUS_URL" | mode_of)
        [[ "$m" != running && "$m" != pending ]] && return 0
        sleep 0.1
    done
    die "the import did not end"
}

# One status call and one empty import first, so the baseline includes what serving and
# importing need anyway.
api "$STATUS_URL?run=true" >/dev/null
sleep 0.2
wait_idle
BEFORE=$(hwm_kib)
say "VmHWM before: $BEFORE KiB"

say "uploading $UPLOADS times concurrently"
UP_PIDS=()
for i in $(seq "$UPLOADS"); do
    curl -sS -m 600 -o "$TMP/upload.$i.json" -w '%{http_code}' -X POST \
        -H "Token: $TOKEN" -H 'Content-Type: application/octet-stream' \
        --data-binary @"$ZIP" "$BASE/api/sam/v2/scan_results_upload?filename=$NAME" \
        >"$TMP/upload.$i.code" &
    UP_PIDS+=($!)
done
t0=$(date +%s.%N)
for p in "${UP_PIDS[@]}"; do wait "$p" || true; done
t1=$(date +%s.%N)
AFTER_UPLOAD=$(hwm_kib)
for i in $(seq "$UPLOADS"); do
    say "upload $i: HTTP $(cat "$TMP/upload.$i.code") $(head -c 300 "$TMP/upload.$i.json")"
done
UPLOAD_SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')

say "placing it in the data source and importing"
cp "$ZIP" "$DATA/datasource/$NAME"
t0=$(date +%s.%N)
api "$STATUS_URL?run=true" >/dev/null
sleep 0.2
wait_idle
t1=$(date +%s.%N)
IMPORT_SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')
AFTER_IMPORT=$(hwm_kib)
LAST=$(api "$BASE/api/imports?limit=1" | python3 -c 'import sys,json; r=json.load(sys.stdin)["rows"][0]; print(r["id"], json.dumps(r["packages"]))')
IMPORT_ID=${LAST%% *}
say "import $IMPORT_ID packages: ${LAST#* }"
say "rejected: $(api "$BASE/api/imports/$IMPORT_ID/packages?state=rejected" | head -c 400)"

growth_mib() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.1f", (b-a)/1024}'; }
G_UP=$(growth_mib "$BEFORE" "$AFTER_UPLOAD")
G_ALL=$(growth_mib "$BEFORE" "$AFTER_IMPORT")
VERDICT=$(awk -v g="$G_ALL" -v l="$LIMIT_MIB" 'BEGIN{print (g < l) ? "PASS" : "FAIL"}')

echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
echo "binary: $OPENLMT_BIN"
echo "zip: $MEMBERS members, $ZIP_BYTES bytes; $UPLOADS concurrent uploads (${UPLOAD_SECS} s), then one import (${IMPORT_SECS} s)"
echo "VmHWM before: $((BEFORE / 1024)) MiB; after the uploads: $((AFTER_UPLOAD / 1024)) MiB; after the import: $((AFTER_IMPORT / 1024)) MiB"
echo "peak RSS growth: uploads $G_UP MiB, uploads + import $G_ALL MiB (target < $LIMIT_MIB MiB): $VERDICT"
