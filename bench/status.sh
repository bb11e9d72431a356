#!/usr/bin/env bash
# Benchmark of GET /api/import_status.json (issue 2).
#
# A benchmark, not a test: it prints figures and always exits 0 once it has
# measured (it exits non-zero only when it cannot set up the measurement).
#
# What it does, in one run on one machine:
#   * builds the release binary and starts `openlmt serve` on a temporary
#     data directory (127.0.0.1, free port, OPENLMT_LOG=warn);
#   * saves the real status body and serves that exact file from nginx
#     (same path, same Content-Type, same body size; access_log off);
#   * runs wrk (64 connections, 2 threads, --latency) in ROUNDS rounds; each
#     round measures nginx, openlmt idle, and openlmt while an import runs
#     (nginx and openlmt idle swap order every round; the import run is last
#     and the import is cancelled afterwards, so the next round is idle);
#   * prints every round, the medians, the ratios and a verdict per target:
#       openlmt idle >= 0.5 x nginx (requests/s)
#       openlmt during an import >= 0.9 x openlmt idle (requests/s)
#
# Usage: bash bench/status.sh
# Knobs (environment):
#   DURATION=10      seconds per measured wrk run
#   WARMUP=2         seconds of discarded wrk run before each measured one
#   ROUNDS=5         rounds (each: nginx, openlmt idle, openlmt import)
#   CONNECTIONS=64   wrk connections
#   THREADS=2        wrk threads
#   PIN=0            1: wrk on CPU 1, the servers (and the import) on CPU 0
#   PACKAGES=4000    real scan packages (the corpus's Debian 12 host, replicated
#                    under distinct endpoint ids) read by each import while measured
#   OPENLMT_BIN=     use this binary instead of building one
#   CARGO_TARGET_DIR is honoured for the build.
#   KEEP_TMP=1       keep the temporary directory (logs) for inspection

set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
ROUNDS=${ROUNDS:-5}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
PIN=${PIN:-0}
PACKAGES=${PACKAGES:-4000}
KEEP_TMP=${KEEP_TMP:-0}

BENCH_KEPT_NOTE=" (packages removed)"
# shellcheck disable=SC2317 # called by bench_cleanup
bench_keep_prune() { rm -rf "$TMP/data/datasource"; }

bench_need_tools wrk nginx curl
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

if [[ -z "${OPENLMT_BIN:-}" ]]; then
    bench_openlmt_bin "building the release binaries (cargo build --release -p openlmt, and the replicate example)" -p openlmt
    (cd "$ROOT" && cargo build --release -q -p openlmt-scanpkg --example replicate) >&2
else
    bench_openlmt_bin "" # only checks OPENLMT_BIN
fi
REPLICATE=${REPLICATE_BIN:-$(dirname "$OPENLMT_BIN")/examples/replicate}
[[ -x "$REPLICATE" ]] || (cd "$ROOT" && cargo build --release -q -p openlmt-scanpkg --example replicate) >&2
[[ -x "$REPLICATE" ]] || die "no replicate example at $REPLICATE"
HOST_DIR=${HOST_DIR:-$ROOT/../shared/corpus/hosts/debian12-vm}

SERVER_CPU=() WRK_CPU=()
if [[ "$PIN" == 1 ]]; then
    (($(nproc) >= 2)) || die "PIN=1 needs two CPUs"
    SERVER_CPU=(taskset -c 0)
    WRK_CPU=(taskset -c 1)
fi

bench_make_tmp openlmt-bench
chmod 755 "$TMP" # nginx workers may run as another user
mkdir -p "$TMP/nginx/www/api"

# --- openlmt ---------------------------------------------------------------
bench_start_openlmt "${SERVER_CPU[@]}"
bench_get_token

# One import, timed, before the measurement: it also makes the status show
# a finished import (the body nginx serves is then the steady idle body).
say "timing one import (nothing else running)"
t0=$(date +%s.%N)
import_and_wait
t1=$(date +%s.%N)
IMPORT_SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')
say "one import of an empty data source took ${IMPORT_SECS} s"

# Real scan packages for the imports measured below: each import reads and
# writes all of them; it is cancelled after each run, so it publishes
# nothing and the next one reads them all again.
say "writing $PACKAGES real scan packages (replicated from $HOST_DIR)"
"$REPLICATE" "$HOST_DIR" "$DATA/datasource" "$PACKAGES" >&2

# --- the status body, served by nginx ---------------------------------------
api "$STATUS_URL" >"$TMP/nginx/www/api/import_status.json"
chmod -R a+rX "$TMP/nginx"
BODY_BYTES=$(wc -c <"$TMP/nginx/www/api/import_status.json")

free_port() {
    local p
    for _ in $(seq 100); do
        p=$((20000 + RANDOM % 20000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return
        fi
    done
    die "no free port"
}
NGINX_PORT=$(free_port)
NGX="$TMP/nginx"
{
    [[ $(id -u) -eq 0 ]] && echo "user root;"
    cat <<EOF
worker_processes auto;
pid $NGX/nginx.pid;
error_log $NGX/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 100000000;
    keepalive_timeout 75s;
    client_body_temp_path $NGX/tmp_body;
    proxy_temp_path $NGX/tmp_proxy;
    fastcgi_temp_path $NGX/tmp_fastcgi;
    uwsgi_temp_path $NGX/tmp_uwsgi;
    scgi_temp_path $NGX/tmp_scgi;
    types { application/json json; }
    default_type application/json;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        root $NGX/www;
        add_header Content-Language en-US;
        add_header Cache-Control no-store;
    }
}
EOF
} >"$NGX/nginx.conf"
say "starting nginx on 127.0.0.1:$NGINX_PORT"
"${SERVER_CPU[@]}" "$NGINX" -p "$NGX" -e "$NGX/error.log" -c "$NGX/nginx.conf" \
    -g 'daemon off;' >"$NGX/stdout" 2>&1 &
PIDS+=($!)
NGINX_URL="http://127.0.0.1:$NGINX_PORT/api/import_status.json"
for _ in $(seq 100); do
    curl -fsS -o /dev/null "$NGINX_URL" 2>/dev/null && break
    sleep 0.1
done
curl -fsS -o /dev/null "$NGINX_URL" || { cat "$NGX/error.log" >&2; die "nginx does not answer"; }

# Same answer from both?
N_BYTES=$(curl -fsS "$NGINX_URL" | wc -c)
O_BYTES=$(api "$STATUS_URL" | wc -c)
N_TYPE=$(curl -fsS -o /dev/null -w '%{content_type}' "$NGINX_URL")
O_TYPE=$(api -o /dev/null -w '%{content_type}' "$STATUS_URL")
say "body: openlmt $O_BYTES bytes ($O_TYPE), nginx $N_BYTES bytes ($N_TYPE)"
[[ "$N_BYTES" == "$O_BYTES" ]] || die "the bodies differ in size ($O_BYTES vs $N_BYTES)"
[[ "$N_TYPE" == "$O_TYPE" ]] || die "the content types differ ($O_TYPE vs $N_TYPE)"

# --- measurement -------------------------------------------------------------
RESULTS="$TMP/results.tsv" # kind round rps p50 p99 errors
: >"$RESULTS"

# run_wrk KIND ROUND URL: warm-up, then the measured run
run_wrk() {
    local kind=$1 round=$2 url=$3 out="$TMP/wrk-$1-$2.txt"
    "${WRK_CPU[@]}" wrk -t"$THREADS" -c"$CONNECTIONS" -d"${WARMUP}s" \
        -H "Token: $TOKEN" "$url" >/dev/null 2>&1 || true
    "${WRK_CPU[@]}" wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency \
        -H "Token: $TOKEN" "$url" >"$out" 2>&1 || true
    local rps p50 p99 errs
    rps=$(wrk_rps "$out")
    p50=$(wrk_percentile "$out" 50%)
    p99=$(wrk_percentile "$out" 99%)
    errs=$(wrk_errors "$out")
    [[ -n "$rps" ]] || { cat "$out" >&2; die "cannot parse wrk output for $kind round $round"; }
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$kind" "$round" "$rps" "$p50" "$p99" "$errs" >>"$RESULTS"
    printf '  %-16s round %d: %10.0f req/s  p50 %7s ms  p99 %7s ms  errors %s\n' \
        "$kind" "$round" "$rps" "$p50" "$p99" "$errs" >&2
}

# Keeps an import running: asks for one (run=true) every 0.2 s, which starts
# one when none is active and otherwise just answers; logs the mode it saw.
# Bash builtins only (bench/lib.sh): it runs during the measured run, and a
# curl, a sed, a date and a sleep per request took CPU from the server.
keeper() {
    local log=$1 m
    while :; do
        status_mode_into m run=true
        printf '%s %s\n' "$EPOCHREALTIME" "${m:-error}" >>"$log"
        bench_sleep 0.2
    done
}

cancel_active() {
    # rows list "id" before "status" whatever the key order; pair them up
    local id
    id=$(api "$BASE/api/imports?limit=5" |
        grep -o '"id":[0-9]*\|"status":"[a-z_]*"' | paste - - |
        awk -F'[:\t"]+' '$5=="pending"||$5=="running"{print $3}' | awk 'NR==1') || true
    if [[ -n "$id" ]]; then
        curl -sS -m 10 -X POST -H "Token: $TOKEN" "$BASE/api/imports/$id/cancel" >/dev/null || true
    fi
    wait_idle
}

MODES="$TMP/modes.txt" # round kind mode-samples running total
: >"$MODES"

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
say ""
say "measuring: $ROUNDS rounds, wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s --latency (after ${WARMUP}s warm-up), PIN=$PIN"
for r in $(seq "$ROUNDS"); do
    if ((r % 2)); then
        run_wrk nginx "$r" "$NGINX_URL"
        run_wrk openlmt-idle "$r" "$STATUS_URL"
    else
        run_wrk openlmt-idle "$r" "$STATUS_URL"
        run_wrk nginx "$r" "$NGINX_URL"
    fi
    log="$TMP/keeper-$r.txt"
    : >"$log"
    keeper "$log" &
    KEEPER=$!
    PIDS+=("$KEEPER")
    for _ in $(seq 50); do
        [[ "$(tail -n1 "$log" | awk '{print $2}')" == running ]] && break
        sleep 0.1
    done
    start=$(date +%s.%N)
    run_wrk openlmt-import "$r" "$STATUS_URL"
    end=$(date +%s.%N)
    kill "$KEEPER" 2>/dev/null || true
    wait "$KEEPER" 2>/dev/null || true
    # samples taken during the measured wrk run (the last DURATION seconds)
    awk -v s="$(awk -v e="$end" -v d="$DURATION" 'BEGIN{printf "%.3f", e-d}')" -v e="$end" \
        '$1>=s && $1<=e {n++; if ($2=="running") k++} END{printf "%d %d\n", k, n}' "$log" >"$TMP/m"
    read -r running total <"$TMP/m"
    imports=$(awk '$2=="pending"{p=1} $2=="running"&&p{c++;p=0} END{print c+0}' "$log")
    printf '%s %s %s\n' "$r" "$running" "$total" >>"$MODES"
    say "                          mode=running in $running of $total samples during the run; $imports import(s) (re)started by the keeper"
    cancel_active
    sleep 1
done

# --- report --------------------------------------------------------------------
col() { awk -F'\t' -v k="$1" -v c="$2" '$1==k{print $c}' "$RESULTS"; }

N_RPS=$(col nginx 3 | median)
N_P99=$(col nginx 5 | median)
I_RPS=$(col openlmt-idle 3 | median)
I_P99=$(col openlmt-idle 5 | median)
B_RPS=$(col openlmt-import 3 | median)
B_P99=$(col openlmt-import 5 | median)
ERRS=$(awk -F'\t' '{s+=$6} END{print s+0}' "$RESULTS")
RUN_SAMPLES=$(awk '{k+=$2; n+=$3} END{printf "%d of %d", k, n}' "$MODES")

RATIO=$(awk -v a="$I_RPS" -v b="$N_RPS" 'BEGIN{printf "%.2f", a/b}')
DROP=$(awk -v a="$B_RPS" -v b="$I_RPS" 'BEGIN{printf "%.1f", (1-a/b)*100}')
P99_RATIO=$(awk -v a="$I_P99" -v b="$N_P99" 'BEGIN{printf "%.2f", a/b}')
PASS1=$(awk -v r="$RATIO" 'BEGIN{print (r>=0.5)?"PASS":"FAIL"}')
PASS2=$(awk -v d="$DROP" 'BEGIN{print (d<=10)?"PASS":"FAIL"}')

REV=$(bench_rev "${BENCH_REV:-commit unknown}")
cpu=$(cpu_model)
mem=$(mem_total)
echo "# openlmt status endpoint benchmark (bench/status.sh)"
echo "machine: $(nproc) CPU ($cpu), $mem, Linux $(uname -r)"
echo "tools:   $(wrk -v 2>&1 | head -1 | awk '{print "wrk", $2}'), $("$NGINX" -v 2>&1 | sed 's/.*: //'), openlmt $("$OPENLMT_BIN" --version | awk '{print $2}') ($REV)"
echo "load:    wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s --latency, ${WARMUP}s warm-up, $ROUNDS rounds, PIN=$PIN"
echo "loadavg: $LOAD_BEFORE before the measurement, $(cut -d' ' -f1-3 /proc/loadavg) after (other processes on the machine add noise)"
echo "body:    $BODY_BYTES bytes of application/json (same file for nginx)"
echo "import:  $PACKAGES real packages (one host replicated) read and written by each import; mode=running in $RUN_SAMPLES samples during the import runs"
echo
echo "| round | nginx req/s | nginx p99 ms | openlmt idle req/s | idle p99 ms | openlmt import req/s | import p99 ms |"
echo "|------:|------------:|-------------:|-------------------:|------------:|---------------------:|--------------:|"
for r in $(seq "$ROUNDS"); do
    awk -F'\t' -v r="$r" '
        $2==r {rps[$1]=$3; p99[$1]=$5}
        END {printf "| %d | %.0f | %.2f | %.0f | %.2f | %.0f | %.2f |\n", r,
            rps["nginx"], p99["nginx"], rps["openlmt-idle"], p99["openlmt-idle"],
            rps["openlmt-import"], p99["openlmt-import"]}' "$RESULTS"
done
printf '| **median** | **%.0f** | **%.2f** | **%.0f** | **%.2f** | **%.0f** | **%.2f** |\n' \
    "$N_RPS" "$N_P99" "$I_RPS" "$I_P99" "$B_RPS" "$B_P99"
echo
echo "socket errors + non-2xx responses, all runs: $ERRS"
echo
printf 'nginx:                median %.0f req/s, p99 %.2f ms\n' "$N_RPS" "$N_P99"
printf 'openlmt idle:         median %.0f req/s, p99 %.2f ms; %s x nginx req/s (target >= 0.50): %s; p99 %s x nginx\n' \
    "$I_RPS" "$I_P99" "$RATIO" "$PASS1" "$P99_RATIO"
CHANGE=$(awk -v d="$DROP" 'BEGIN{if (d>=0) printf "%.1f%% below idle", d; else printf "%.1f%% above idle (no drop)", -d}')
printf 'openlmt during import: median %.0f req/s, p99 %.2f ms; %s x idle req/s, %s (target: drop <= 10%%): %s\n' \
    "$B_RPS" "$B_P99" "$(awk -v a="$B_RPS" -v b="$I_RPS" 'BEGIN{printf "%.2f", a/b}')" "$CHANGE" "$PASS2"
exit 0
