# shellcheck shell=bash
# Shared helpers of the benchmark scripts in bench/ (status.sh, import.sh,
# auth.sh, archive.sh). Sourced, never run:
#
#     set -euo pipefail
#     . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# Sourcing it sets, for the script:
#   ROOT       the repository (the parent of bench/)
#   PASSWORD   a fresh admin password for the server the script starts
#   PIDS=()    processes to stop on exit: append every background process
#   TMP=""     the temporary directory (bench_make_tmp sets it)
# and installs the traps: on EXIT, bench_cleanup; INT and TERM exit 130/143
# (so the EXIT trap runs).
#
# Settings a script may change after sourcing (not environment knobs):
#   BENCH_STOP_TRIES=50    tenths of a second each process gets after SIGTERM
#                          before SIGKILL
#   BENCH_KEPT_NOTE=""     appended to "kept $TMP" with KEEP_TMP=1, e.g.
#                          " (packages removed)"; define bench_keep_prune()
#                          to remove the bulky parts of a kept $TMP
#   BENCH_API_TIMEOUT=10   curl -m of api()
#
# Functions (all messages go to stderr; stdout is the report):
#   say TEXT...               one line on stderr
#   die TEXT...               "error: TEXT" on stderr, exit 2 (set-up failed)
#   bench_cleanup             the EXIT trap: SIGTERM to every PIDS entry, then
#                             SIGKILL after BENCH_STOP_TRIES/10 s; removes TMP
#                             unless KEEP_TMP=1
#   bench_need_tools TOOL...  installs the missing ones with apt-get (sudo when
#                             not root); a tool in /usr/sbin counts as present
#   bench_target_dir          prints the absolute cargo target directory
#                             (CARGO_TARGET_DIR honoured)
#   bench_openlmt_bin MESSAGE CARGO_BUILD_ARGS...
#                             unless OPENLMT_BIN is set: says MESSAGE, runs
#                             `cargo build --release -q ARGS` in ROOT and sets
#                             OPENLMT_BIN to the release openlmt; then dies
#                             unless OPENLMT_BIN is executable
#   bench_make_tmp PREFIX     TMP=$(mktemp -d ${TMPDIR:-/tmp}/PREFIX.XXXXXX),
#                             DATA=$TMP/data, creates $DATA/datasource
#   bench_start_openlmt [CMD...]
#                             starts `openlmt serve` on DATA (127.0.0.1, free
#                             port, OPENLMT_LOG=warn, OPENLMT_ADMIN_PASSWORD),
#                             CMD (e.g. taskset -c 0) before it; logs in
#                             $TMP/openlmt.out/.err; waits until it says where
#                             it listens; sets OPENLMT_PID, BASE, STATUS_URL
#   bench_get_token           TOKEN from POST /api/get_token as admin
#   api CURL_ARGS...          curl -fsS with the token
#   bench_sleep SECS          sleeps without starting a process (read -t)
#   status_mode_into VAR [QUERY]
#                             VAR := the status's "mode", by a GET over bash's
#                             /dev/tcp (no process started; see below)
#   wait_idle [TRIES]         polls the status every 0.1 s until it is neither
#                             running nor pending (TRIES, default 1200, then dies)
#   import_and_wait [TRIES]   asks for an import (?run=true) and wait_idle
#   proc_kib FIELD PID        a /proc/PID/status field in KiB (VmHWM, VmRSS)
#   proc_cpu_secs PID         user + system CPU seconds of PID so far, all its
#                             threads (ended ones too): /proc/PID/stat utime+stime
#   median                    median of the numbers on stdin
#   to_ms LATENCY             wrk latency (850.00us, 1.23ms, 2.00s, 1.00m) in ms
#   wrk_rps FILE              Requests/sec of a wrk report
#   wrk_errors FILE           socket errors + non-2xx/3xx responses of a report
#   wrk_socket_errors FILE, wrk_non2xx FILE   the two parts, empty when absent
#   wrk_percentile FILE PCT   a --latency percentile (50%, 99%) in ms
#   now                       the time ($EPOCHREALTIME, seconds.micro)
#   sub A B                   B - A with 3 decimals
#   bench_host_dir            sets HOST_DIR (unless set) to the corpus host
#                             shared/corpus/hosts/debian12-vm next to the
#                             repository, else /work/shared/...; dies without
#                             its dpkg-status
#   bench_replicate_estate COUNT [REPLICATE_ARGS...]
#                             writes the estate into $DATA/datasource: the host
#                             HOST_DIR replicated COUNT times by REPLICATE_BIN
#                             (crates/scanpkg/examples/replicate.rs; extra args
#                             such as --extra-tag-every 10 DIR passed on). With
#                             PACKAGES_CACHE set, the packages are kept there and
#                             reused by the next run made with the same COUNT and
#                             args (recorded in PACKAGES_CACHE.replicated; a cache
#                             without that record counts as plain replication).
#                             Sets N_FILES, DS_BYTES, HOST_DPKG, HOST_SWID,
#                             REPLICATE_SECS ("in N s" or "(reused from DIR)")
#   wait_done ID INTERVAL     polls the status every INTERVAL s until it is idle
#                             and import ID has ended; prints "EPOCHREALTIME
#                             STATUS" (the time the end was seen); dies if
#                             SERVER_PID exits. Builtins only while it polls.
#   rss_sampler               "EPOCHREALTIME VmRSS_KiB" of SERVER_PID every 0.2 s
#                             while it runs (run it in the background); builtins
#                             only
#   steps_of LOG              the steps of an import log, "name<TAB>seconds",
#                             from its millisecond timestamps (a step ends where
#                             the next starts, the last at "Published in one
#                             transaction"), then "after publish (...)" and
#                             "total in the log"
#   bench_rev [FALLBACK]      short HEAD (+ " + uncommitted changes"), or
#                             FALLBACK (default "commit unknown") outside git
#   cpu_model, mem_total      for the "machine:" line

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PASSWORD="bench-$(date +%s)-$RANDOM$RANDOM"
PIDS=()
TMP=""
BENCH_STOP_TRIES=50
BENCH_KEPT_NOTE=""
BENCH_API_TIMEOUT=10

say() { printf '%s\n' "$*" >&2; }
die() {
    say "error: $*"
    exit 2
}

# --- cleanup: every process the script started, even on failure -----------
bench_cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    local pid
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq "$BENCH_STOP_TRIES"); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [[ -n "$TMP" && -d "$TMP" ]]; then
        if [[ "${KEEP_TMP:-0}" == 1 ]]; then
            if declare -F bench_keep_prune >/dev/null; then bench_keep_prune; fi
            say "kept $TMP$BENCH_KEPT_NOTE"
        else
            rm -rf "$TMP"
        fi
    fi
    exit "$rc"
}
trap bench_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- tools and binaries ------------------------------------------------------
bench_need_tools() {
    local need_apt=() t
    for t in "$@"; do
        command -v "$t" >/dev/null || [[ -x "/usr/sbin/$t" ]] || need_apt+=("$t")
    done
    if ((${#need_apt[@]})); then
        say "installing ${need_apt[*]} with apt-get"
        local sudo=""
        [[ $(id -u) -eq 0 ]] || sudo=sudo
        $sudo apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >&2
    fi
}

bench_target_dir() {
    local t="${CARGO_TARGET_DIR:-$ROOT/target}"
    [[ "$t" = /* ]] || t="$ROOT/$t"
    printf '%s\n' "$t"
}

bench_openlmt_bin() {
    local message=$1
    shift
    if [[ -z "${OPENLMT_BIN:-}" ]]; then
        say "$message"
        (cd "$ROOT" && cargo build --release -q "$@") >&2
        OPENLMT_BIN="$(bench_target_dir)/release/openlmt"
    fi
    [[ -x "$OPENLMT_BIN" ]] || die "no binary at $OPENLMT_BIN"
}

bench_make_tmp() {
    TMP=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
    DATA="$TMP/data"
    mkdir -p "$DATA/datasource"
}

# --- the server ----------------------------------------------------------------
bench_start_openlmt() {
    say "starting openlmt"
    # Made here, not by the background job's redirection, which may come
    # after the first read below.
    : >"$TMP/openlmt.out"
    : >"$TMP/openlmt.err"
    OPENLMT_LOG=warn OPENLMT_ADMIN_PASSWORD="$PASSWORD" \
        "$@" "$OPENLMT_BIN" serve --data-dir "$DATA" --listen 127.0.0.1:0 \
        >"$TMP/openlmt.out" 2>"$TMP/openlmt.err" &
    OPENLMT_PID=$!
    PIDS+=("$OPENLMT_PID")
    BASE=""
    for _ in $(seq 300); do
        BASE=$(sed -n 's|^openlmt listening on \(http://127\.0\.0\.1:[0-9]*\).*|\1|p' "$TMP/openlmt.out")
        [[ -n "$BASE" ]] && break
        kill -0 "$OPENLMT_PID" 2>/dev/null || { cat "$TMP/openlmt.err" >&2; die "openlmt exited"; }
        sleep 0.1
    done
    [[ -n "$BASE" ]] || die "openlmt did not say where it listens"
    STATUS_URL="$BASE/api/import_status.json"
}

bench_get_token() {
    TOKEN=$(curl -fsS -X POST "$BASE/api/get_token" -H 'content-type: application/json' \
        -d "{\"user\":\"admin\",\"password\":\"$PASSWORD\"}" |
        sed -n 's/.*"token"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p')
    [[ -n "$TOKEN" ]] || die "no token from /api/get_token"
}

api() { curl -fsS -m "$BENCH_API_TIMEOUT" -H "Token: $TOKEN" "$@"; }

# --- polling without starting a process ------------------------------------
# The loops that poll while an import runs (the status, the RSS) use bash
# builtins only. On the 2-core machine the import saturates both cores, and a
# poll every 0.1 s that started curl and jq (plus an awk and a sleep for each
# RSS sample) cost about a tenth of a core (perf, 2026-12-05: jq alone 6 % of
# all samples): CPU taken from the server being measured.
# bench_sleep SECS: sleeps without starting `sleep` (a read that times out on
# a pipe nobody writes to, opened once).
bench_sleep() {
    [[ -n "${BENCH_SLEEP_FD:-}" ]] || exec {BENCH_SLEEP_FD}<> <(:)
    read -r -t "$1" -u "$BENCH_SLEEP_FD" _ || true
}
# status_mode_into VAR [QUERY]: sets VAR to the status's "mode" (empty when
# the request failed), read by one HTTP/1.1 GET of $STATUS_URL (with ?QUERY,
# e.g. run=true) with the token over bash's /dev/tcp (a command substitution
# would fork a subshell).
status_mode_into() {
    local -n into=$1
    local hostport=${STATUS_URL#http://} fd reply=""
    hostport=${hostport%%/*}
    local path=/${STATUS_URL#http://*/}${2:+?$2}
    into=""
    exec {fd}<>"/dev/tcp/${hostport%:*}/${hostport##*:}" 2>/dev/null || return 0
    printf 'GET %s HTTP/1.1\r\nHost: %s\r\nToken: %s\r\nConnection: close\r\n\r\n' \
        "$path" "$hostport" "$TOKEN" >&"$fd"
    IFS= read -r -d '' -t "$BENCH_API_TIMEOUT" -u "$fd" reply || true
    exec {fd}>&-
    if [[ $reply =~ \"mode\"[[:space:]]*:[[:space:]]*\"([a-z_]*)\" ]]; then
        into=${BASH_REMATCH[1]}
    fi
}

wait_idle() {
    local m
    for _ in $(seq "${1:-1200}"); do
        status_mode_into m
        [[ "$m" != running && "$m" != pending ]] && return 0
        bench_sleep 0.1
    done
    die "the import did not end"
}

import_and_wait() {
    api "$STATUS_URL?run=true" >/dev/null
    sleep 0.2
    wait_idle "$@"
}

proc_kib() { awk -v f="$1:" '$1 == f {print $2}' "/proc/$2/status"; }
proc_cpu_secs() {
    # Fields 14 and 15 in clock ticks, counted after the ")" that ends the command name.
    sed 's/^.*) //' "/proc/$1/stat" | awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($12 + $13) / hz}'
}

# --- figures -------------------------------------------------------------------
median() { sort -g | awk '{a[NR]=$1} END{if (NR%2) print a[(NR+1)/2]; else printf "%.2f\n", (a[NR/2]+a[NR/2+1])/2}'; }

to_ms() {
    awk -v v="$1" 'BEGIN{
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
        printf "%.2f", n }'
}

wrk_rps() { awk '/^Requests\/sec:/{print $2}' "$1"; }
wrk_socket_errors() { awk '/Socket errors:/{gsub(",","");s=0;for(i=4;i<=NF;i+=2)s+=$i;print s}' "$1"; }
wrk_non2xx() { awk '/Non-2xx or 3xx responses:/{print $NF}' "$1"; }
wrk_errors() {
    local e n
    e=$(wrk_socket_errors "$1")
    n=$(wrk_non2xx "$1")
    echo $((${e:-0} + ${n:-0}))
}
wrk_percentile() { to_ms "$(awk -v p="$2" '$1==p{print $2}' "$1")"; }

bench_rev() {
    local rev
    if rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null); then
        git -C "$ROOT" diff --quiet HEAD 2>/dev/null || rev="$rev + uncommitted changes"
    else
        rev="${1:-commit unknown}"
    fi
    printf '%s\n' "$rev"
}

cpu_model() { sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -1; }
mem_total() { awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo; }

# --- the estate: one real host, replicated --------------------------------------
now() { printf '%s' "$EPOCHREALTIME"; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.3f", b-a}'; }

bench_host_dir() {
    if [[ -z "${HOST_DIR:-}" ]]; then
        local d
        for d in "$ROOT/../shared/corpus/hosts/debian12-vm" /work/shared/corpus/hosts/debian12-vm; do
            [[ -d "$d" ]] && { HOST_DIR=$(cd "$d" && pwd); break; }
        done
    fi
    [[ -n "${HOST_DIR:-}" && -f "$HOST_DIR/dpkg-status" ]] || die "no host evidence dir (set HOST_DIR)"
}

bench_replicate_estate() {
    local count=$1 t want have=""
    shift
    want="$count $*"
    if [[ -n "${PACKAGES_CACHE:-}" ]]; then
        PACKAGES_CACHE=${PACKAGES_CACHE%/}
        if [[ -f "$PACKAGES_CACHE.replicated" ]]; then
            have=$(cat "$PACKAGES_CACHE.replicated")
        elif [[ -d "$PACKAGES_CACHE" ]]; then
            have="$(find "$PACKAGES_CACHE" -maxdepth 1 -type f -name '*.tar.gz' | wc -l) "
        fi
    fi
    if [[ -n "${PACKAGES_CACHE:-}" && "$have" == "$want" &&
        "$(find "$PACKAGES_CACHE" -maxdepth 1 -type f -name '*.tar.gz' 2>/dev/null | wc -l)" == "$count" ]]; then
        rmdir "$DATA/datasource"
        ln -s "$(cd "$PACKAGES_CACHE" && pwd)" "$DATA/datasource"
        REPLICATE_SECS="(reused from $PACKAGES_CACHE)"
        say "reusing the $count packages in $PACKAGES_CACHE"
        # Read once, so that they are in the page cache as freshly written
        # packages are (a build between two runs can evict them, and the
        # import then also measures the disk).
        find "$PACKAGES_CACHE/" -type f -exec cat {} + >/dev/null
    else
        say "writing $count packages replicated from $HOST_DIR${*:+ ($*)}"
        t=$(now)
        "$REPLICATE_BIN" "$HOST_DIR" "$DATA/datasource" "$count" "$@" 2>"$TMP/replicate.err" ||
            { cat "$TMP/replicate.err" >&2; die "replicate failed"; }
        REPLICATE_SECS="in $(sub "$t" "$(now)") s"
        if [[ -n "${PACKAGES_CACHE:-}" ]]; then
            rm -rf "$PACKAGES_CACHE" "$PACKAGES_CACHE.replicated"
            mv "$DATA/datasource" "$PACKAGES_CACHE"
            printf '%s\n' "$want" >"$PACKAGES_CACHE.replicated"
            ln -s "$(cd "$PACKAGES_CACHE" && pwd)" "$DATA/datasource"
        fi
    fi
    N_FILES=$(find "$DATA/datasource/" -maxdepth 1 -type f | wc -l)
    DS_BYTES=$(du -sbL "$DATA/datasource/" | cut -f1)
    HOST_DPKG=$(grep -c '^Status: install ok installed' "$HOST_DIR/dpkg-status" || true)
    HOST_SWID=$(find "$HOST_DIR/isotag_scan" -name '*.swidtag' | wc -l)
    say "  $N_FILES files, $((DS_BYTES / 1048576)) MiB, ${REPLICATE_SECS}"
}

# --- imports ---------------------------------------------------------------------
wait_done() {
    local id=$1 interval=$2 mode st t
    while :; do
        status_mode_into mode
        if [[ "$mode" == idle ]]; then
            t=$(now)
            st=$(api "$BASE/api/imports/$id" | jq -r .status)
            case "$st" in
            successful | failed | cancelled)
                printf '%s %s\n' "$t" "$st"
                return 0
                ;;
            esac
        fi
        kill -0 "$SERVER_PID" 2>/dev/null || die "openlmt exited during the import"
        bench_sleep "$interval"
    done
}

rss_sampler() {
    local k v _
    while kill -0 "$SERVER_PID" 2>/dev/null; do
        while read -r k v _; do
            [[ "$k" == VmRSS: ]] && { printf '%s %s\n' "$EPOCHREALTIME" "$v"; break; }
        done <"/proc/$SERVER_PID/status" 2>/dev/null || true
        bench_sleep 0.2
    done
}

# Log lines: 2026-11-28T18:21:18.123Z INFO Step 3/4: Read and write scan packages
steps_of() {
    gawk '
    function ts(s,   d) {
        d = substr(s, 1, 19); gsub(/[-T:]/, " ", d)
        return mktime(d, 1) + substr(s, 20, 4)
    }
    NR == 1 { t_first = ts($1) }
    / Step [0-9]+\/[0-9]+: / {
        t = ts($1); n++; start[n] = t
        name = $0; sub(/^.* Step [0-9]+\/[0-9]+: /, "", name); nm[n] = name
    }
    /Published in one transaction/ { t_pub = ts($1) }
    /finished successfully in/ { t_end = ts($1) }
    END {
        for (i = 1; i <= n; i++) {
            e = (i < n) ? start[i + 1] : t_pub
            printf "%s\t%.3f\n", nm[i], e - start[i]
        }
        printf "after publish (superseded facts, bookkeeping)\t%.3f\n", t_end - t_pub
        printf "total in the log\t%.3f\n", t_end - t_first
    }' "$1"
}
