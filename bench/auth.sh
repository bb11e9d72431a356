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

DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
ROUNDS=${ROUNDS:-5}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
KEEP_TMP=${KEEP_TMP:-0}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PASSWORD="bench-$(date +%s)-$RANDOM$RANDOM"

say() { printf '%s\n' "$*" >&2; }
die() { say "error: $*"; exit 2; }

PIDS=()
TMP=""
cleanup() {
    local rc=$? pid
    trap - EXIT INT TERM
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [[ -n "$TMP" && -d "$TMP" ]]; then
        if [[ "$KEEP_TMP" == 1 ]]; then say "kept $TMP"; else rm -rf "$TMP"; fi
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

need_apt=()
command -v wrk >/dev/null || need_apt+=(wrk)
command -v curl >/dev/null || need_apt+=(curl)
if ((${#need_apt[@]})); then
    say "installing ${need_apt[*]} with apt-get"
    SUDO=""
    [[ $(id -u) -eq 0 ]] || SUDO=sudo
    $SUDO apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >&2
fi

if [[ -z "${OPENLMT_BIN:-}" ]]; then
    say "building the release binary (cargo build --release -p openlmt)"
    (cd "$ROOT" && cargo build --release -q --locked -p openlmt) >&2
    OPENLMT_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/openlmt"
    [[ "$OPENLMT_BIN" = /* ]] || OPENLMT_BIN="$ROOT/$OPENLMT_BIN"
fi
[[ -x "$OPENLMT_BIN" ]] || die "no binary at $OPENLMT_BIN"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/openlmt-bench-auth.XXXXXX")
DATA="$TMP/data"
mkdir -p "$DATA/datasource"

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
URL="$BASE/api/import_status.json"

TOKEN=$(curl -fsS -X POST "$BASE/api/get_token" -H 'content-type: application/json' \
    -d "{\"user\":\"admin\",\"password\":\"$PASSWORD\"}" |
    sed -n 's/.*"token"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p')
[[ -n "$TOKEN" ]] || die "no token from /api/get_token"
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
    rps=$(awk '/^Requests\/sec:/{print $2}' "$out")
    errs=$(awk '/Socket errors:/{gsub(",","");s=0;for(i=4;i<=NF;i+=2)s+=$i;print s}' "$out")
    non2xx=$(awk '/Non-2xx or 3xx responses:/{print $NF}' "$out")
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

median() { sort -g | awk '{a[NR]=$1} END{if (NR%2) print a[(NR+1)/2]; else printf "%.2f\n", (a[NR/2]+a[NR/2+1])/2}'; }
col() { awk -F'\t' -v k="$1" '$1==k{print $3}' "$RESULTS"; }
V=$(col valid | median)
U=$(col unknown | median)
S=$(col session | median)
ERRS=$(awk -F'\t' '{s+=$4} END{print s+0}' "$RESULTS")
RU=$(awk -v a="$U" -v b="$V" 'BEGIN{printf "%.2f", a/b}')
RS=$(awk -v a="$S" -v b="$V" 'BEGIN{printf "%.2f", a/b}')
VERDICT=$(awk -v r="$RU" 'BEGIN{print (r>=0.8)?"PASS":"FAIL"}')

if REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null); then
    git -C "$ROOT" diff --quiet HEAD 2>/dev/null || REV="$REV + uncommitted changes"
else
    REV="commit unknown"
fi
cpu=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -1)
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
