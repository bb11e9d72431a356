#!/usr/bin/env bash
# Runs openlmt's fuzz targets (fuzz/, cargo-fuzz on the nightly toolchain) one after the
# other, each for SECONDS, and prints a table: target, seconds run, executions, crashes.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [target...]     (default: 60 s, every target)
#
# Needs: `rustup toolchain install nightly` and `cargo install cargo-fuzz`.
# FUZZ_TIMEOUT (default 30): seconds one input may take before libFuzzer calls it a
# timeout. libFuzzer measures wall time: a fuzzer stopped for longer (SIGSTOP while a
# benchmark runs) reports a false timeout on whatever input it held, so raise it then.
# The seeds are made first by `make-seeds` (fuzz/seeds) from shared/corpus and the
# repository's files into fuzz/corpus/<target>/, which also keeps what the fuzzer finds;
# a crash's input is saved in fuzz/artifacts/<target>/ and the script exits 1.
# Everything runs at nice 19, one fuzz process at a time (libFuzzer's default: one job,
# no workers). The log of each run is in fuzz/target/logs/<target>.log.
# See TESTING.md ("Fuzzing").
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

ALL=(scan_package vmman_xml catalog criteria pvu_table)
secs=60
fuzz_timeout=${FUZZ_TIMEOUT:-30}
[[ $fuzz_timeout =~ ^[0-9]+$ ]] || { echo "error: FUZZ_TIMEOUT must be a number of seconds" >&2; exit 2; }
if [[ $# -gt 0 && $1 =~ ^[0-9]+$ ]]; then
    secs=$1
    shift
fi
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=("${ALL[@]}")
for t in "${targets[@]}"; do
    [[ " ${ALL[*]} " == *" $t "* ]] || { echo "error: unknown target $t (targets: ${ALL[*]})" >&2; exit 2; }
done

# The longest input each target tries (its seeds are cut below it, see make-seeds).
max_len() {
    case $1 in
        scan_package | catalog) echo 65536 ;;
        vmman_xml) echo 16384 ;;
        pvu_table) echo 8192 ;;
        criteria) echo 4096 ;;
    esac
}

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "error: needs the nightly toolchain and cargo-fuzz (rustup toolchain install nightly; cargo install cargo-fuzz)" >&2
    exit 2
fi

nice -n 19 cargo run --quiet --release --locked -p openlmt-fuzz-seeds -- ..
# One build of every target asked for (cargo fuzz build takes one name or none).
if [[ ${#targets[@]} -eq ${#ALL[@]} ]]; then
    nice -n 19 cargo +nightly fuzz build
else
    for t in "${targets[@]}"; do nice -n 19 cargo +nightly fuzz build "$t"; done
fi

mkdir -p target/logs
rows=()
failed=0
for t in "${targets[@]}"; do
    log=target/logs/$t.log
    mkdir -p "artifacts/$t"
    before=$(find "artifacts/$t" -type f | wc -l)
    start=$(date +%s)
    set +e
    nice -n 19 cargo +nightly fuzz run "$t" "corpus/$t" -- \
        -max_total_time="$secs" -max_len="$(max_len "$t")" -rss_limit_mb=2048 \
        -timeout="$fuzz_timeout" -print_final_stats=1 >"$log" 2>&1
    rc=$?
    set -e
    ran=$(($(date +%s) - start))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    crashes=$(($(find "artifacts/$t" -type f | wc -l) - before))
    if [[ $rc -ne 0 && $crashes -eq 0 ]]; then
        # Stopped without saving an input (build error, killed): say so, never hide it.
        crashes="? (exit $rc, see $log)"
        failed=1
    elif [[ $crashes -ne 0 ]]; then
        failed=1
    fi
    rows+=("$(printf '%-14s %9s %14s  %s' "$t" "$ran" "${execs:-?}" "$crashes")")
    echo "$t: ${ran}s, ${execs:-?} executions, crashes: $crashes" >&2
done

printf '%-14s %9s %14s  %s\n' target seconds executions crashes
printf '%s\n' "${rows[@]}"
if [[ $failed -ne 0 ]]; then
    echo "a target crashed or failed: inputs in fuzz/artifacts/<target>/, logs in fuzz/target/logs/" >&2
    exit 1
fi
