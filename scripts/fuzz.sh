#!/usr/bin/env bash
# Runs every fuzz target in fuzz/ for a bounded time and fails on the first crash.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]     (default 20; run from anywhere in the repo)
#
# Installs the pinned cargo-fuzz if it is missing. Builds without a sanitizer: the code is
# safe Rust (unsafe_code is denied), so AddressSanitizer adds build and run time and finds
# nothing the panics and assertions do not; that also keeps the build on stable Rust, with no
# RUSTC_BOOTSTRAP. Debug assertions and overflow checks stay on (cargo fuzz's default).
# New inputs go to a temporary corpus; the checked-in seeds in fuzz/corpus/ are only read.
# A crash leaves its input in fuzz/artifacts/<target>/; see fuzz/README.md for what to do.
set -euo pipefail

secs="${1:-20}"
case "$secs" in
'' | *[!0-9]*)
    echo "usage: $0 [SECONDS_PER_TARGET]" >&2
    exit 2
    ;;
esac
CARGO_FUZZ_VERSION=0.13.2

cd "$(dirname "$0")/../fuzz"

if ! grep -qx "cargo-fuzz $CARGO_FUZZ_VERSION" <<<"$(cargo fuzz --version 2>/dev/null)"; then
    cargo install --locked cargo-fuzz --version "$CARGO_FUZZ_VERSION"
fi

cargo fuzz build --sanitizer none

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

for target in $(cargo fuzz list); do
    mkdir -p "$work/$target"
    log="$work/$target.log"
    if ! cargo fuzz run --sanitizer none "$target" "$work/$target" "corpus/$target" -- \
        -max_total_time="$secs" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 >"$log" 2>&1; then
        tail -n 60 "$log" >&2
        echo "fuzz $target: CRASH (input saved under fuzz/artifacts/$target/)" >&2
        exit 1
    fi
    runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")"
    rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")"
    echo "fuzz $target: ${runs:-?} executions in ${secs} s (${rate:-?}/s), no crash"
done
