#!/usr/bin/env bash
# Benchmark of authentication on GET /api/import_status.json (issue 12):
# requests/s with a valid API token, an unknown token and a panel session
# cookie, in the same run against the same server.
#
# A benchmark, not a test: it prints figures and always exits 0 once it has
# measured (non-zero only when it cannot set up the measurement).
#
# What it does: builds the release binary, starts `openlmt serve` on a
# temporary data directory (127.0.0.1, free port, OPENLMT_LOG=warn), gets a
# token (POST /api/get_token) and a session (POST /login), then runs wrk in
# ROUNDS rounds; each round measures the three callers in a rotated order.
# The unknown token is well formed (16 + 64 hex digits) and answered 401; the
# two others 200. Prints every round, the medians and the ratios; verdict:
#     unknown token >= 0.8 x valid token (requests/s)
#
# Usage: bash bench/auth.sh
# Knobs (environment): DURATION=10 WARMUP=2 ROUNDS=5 CONNECTIONS=64 THREADS=2
#   OPENLMT_BIN= (use this binary instead of building one; CARGO_TARGET_DIR
#   is honoured for the build), KEEP_TMP=1 (keep the temporary directory).

set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
ROUNDS=${ROUNDS:-5}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
KEEP_TMP=${KEEP_TMP:-0}

bench_need_tools wrk curl
bench_openlmt_bin "building the release binary (cargo build --release -p openlmt)" --locked -p openlmt

bench_make_tmp openlmt-bench-auth
bench_start_openlmt
URL=$STATUS_URL
bench_get_token
UNKNOWN="0123456789abcdef$(printf '%064d' 0 | tr 0 e)"

# A panel session: the login form's double-submit token, then the login.
LOGIN_TOKEN=$(curl -fsS -D - -o /dev/null "$BASE/login" |
    sed -n 's/^[Ss]et-[Cc]ookie: openlmt_login=\([^;]*\).*/\1/p' | tr -d '\r')
[[ -n "$LOGIN_TOKEN" ]] || die "no login form token"
SESSION=$(curl -fsS -D - -o /dev/null -H "cookie: openlmt_login=$LOGIN_TOKEN" \
    --data-urlencode "user=admin" --data-urlencode "password=$PASSWORD" \
    --data-urlencode "login_token=$LOGIN_TOKEN" "$BASE/login" |
    sed -n 's/^[Ss]et-[Cc]ookie: openlmt_session=\([^;]*\).*/\1/p' | tr -d '\r')
[[ -n "$SESSION" ]] || die "no session from POST /login"

header_of() {
    case $1 in
    valid) echo "Token: $TOKEN" ;;
    unknown) echo "Token: $UNKNOWN" ;;
    session) echo "Cookie: openlmt_session=$SESSION" ;;
    esac
}
expect_of() { case $1 in unknown) echo 401 ;; *) echo 200 ;; esac; }
for kind in valid unknown session; do
    code=$(curl -sS -o /dev/null -w '%{http_code}' -H "$(header_of $kind)" "$URL")
    [[ "$code" == "$(expect_of $kind)" ]] || die "$kind: HTTP $code, expected $(expect_of $kind)"
done

RESULTS="$TMP/results.tsv" # kind round rps errors
: >"$RESULTS"
run_wrk() {
    local kind=$1 round=$2 out="$TMP/wrk-$1-$2.txt" h
    h=$(header_of "$kind")
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"${WARMUP}s" -H "$h" "$URL" >/dev/null 2>&1 || true
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" -H "$h" "$URL" >"$out" 2>&1 || true
    local rps errs non2xx
    rps=$(wrk_rps "$out")
    errs=$(wrk_socket_errors "$out")
    non2xx=$(wrk_non2xx "$out")
    # the unknown token's 401s are the expected answers, not errors
    [[ "$kind" == unknown ]] && non2xx=0
    [[ -n "$rps" ]] || { cat "$out" >&2; die "cannot parse wrk output for $kind round $round"; }
    printf '%s\t%s\t%s\t%s\n' "$kind" "$round" "$rps" "$((${errs:-0} + ${non2xx:-0}))" >>"$RESULTS"
    printf '  %-8s round %d: %10.0f req/s\n' "$kind" "$round" "$rps" >&2
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
say "measuring: $ROUNDS rounds, wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s (after ${WARMUP}s warm-up)"
ORDERS=("valid unknown session" "unknown session valid" "session valid unknown")
for r in $(seq "$ROUNDS"); do
    for kind in ${ORDERS[$(((r - 1) % 3))]}; do run_wrk "$kind" "$r"; done
done

col() { awk -F'\t' -v k="$1" '$1==k{print $3}' "$RESULTS"; }
V=$(col valid | median)
U=$(col unknown | median)
S=$(col session | median)
ERRS=$(awk -F'\t' '{s+=$4} END{print s+0}' "$RESULTS")
RU=$(awk -v a="$U" -v b="$V" 'BEGIN{printf "%.2f", a/b}')
RS=$(awk -v a="$S" -v b="$V" 'BEGIN{printf "%.2f", a/b}')
VERDICT=$(awk -v r="$RU" 'BEGIN{print (r>=0.8)?"PASS":"FAIL"}')

REV=$(bench_rev)
cpu=$(cpu_model)
echo "# openlmt authentication benchmark (bench/auth.sh)"
echo "machine: $(nproc) CPU ($cpu), Linux $(uname -r)"
echo "tools:   $(wrk -v 2>&1 | head -1 | awk '{print "wrk", $2}'), openlmt ($REV)"
echo "load:    wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s, ${WARMUP}s warm-up, $ROUNDS rounds"
echo "loadavg: $LOAD_BEFORE before, $(cut -d' ' -f1-3 /proc/loadavg) after (other processes add noise)"
echo
echo "| round | valid token req/s | unknown token req/s | session cookie req/s | unknown / valid | session / valid |"
echo "|------:|------------------:|--------------------:|---------------------:|----------------:|----------------:|"
for r in $(seq "$ROUNDS"); do
    awk -F'\t' -v r="$r" '$2==r {x[$1]=$3} END{printf "| %d | %.0f | %.0f | %.0f | %.2f | %.2f |\n", r,
        x["valid"], x["unknown"], x["session"], x["unknown"]/x["valid"], x["session"]/x["valid"]}' "$RESULTS"
done
printf '| **median** | **%.0f** | **%.0f** | **%.0f** | **%s** | **%s** |\n' "$V" "$U" "$S" "$RU" "$RS"
echo
echo "socket errors + unexpected non-2xx responses, all runs: $ERRS"
echo "unknown token: $RU x valid token (target >= 0.80): $VERDICT"
echo "session cookie: $RS x valid token"
exit 0
