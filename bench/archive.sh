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
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MEMBERS=${MEMBERS:-1000000}
UPLOADS=${UPLOADS:-4}
LIMIT_MIB=${LIMIT_MIB:-50}
KEEP_TMP=${KEEP_TMP:-0}

HOST_DIR=${HOST_DIR:-$ROOT/../shared/corpus/hosts/debian12-vm}
BENCH_API_TIMEOUT=60
BENCH_KEPT_NOTE=" (zips removed)"
# shellcheck disable=SC2317 # called by bench_cleanup
bench_keep_prune() { rm -f "$TMP"/*.zip "$TMP"/data/datasource/*.zip; }

bench_need_tools python3 curl
[[ -d "$HOST_DIR" ]] || die "no corpus host at $HOST_DIR"

bench_openlmt_bin "building the release binary (cargo build --release -p openlmt)" -p openlmt

bench_make_tmp openlmt-archive-bench
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

bench_start_openlmt
bench_get_token
hwm_kib() { proc_kib VmHWM "$OPENLMT_PID"; }

# One status call and one empty import first, so the baseline includes what serving and
# importing need anyway.
import_and_wait 3000
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
import_and_wait 3000
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

echo "machine: $(nproc) CPUs, $(cpu_model)"
echo "binary: $OPENLMT_BIN"
echo "zip: $MEMBERS members, $ZIP_BYTES bytes; $UPLOADS concurrent uploads (${UPLOAD_SECS} s), then one import (${IMPORT_SECS} s)"
echo "VmHWM before: $((BEFORE / 1024)) MiB; after the uploads: $((AFTER_UPLOAD / 1024)) MiB; after the import: $((AFTER_IMPORT / 1024)) MiB"
echo "peak RSS growth: uploads $G_UP MiB, uploads + import $G_ALL MiB (target < $LIMIT_MIB MiB): $VERDICT"
