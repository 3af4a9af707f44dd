#!/usr/bin/env bash
# Fuzzes every target (or those named) for a bounded time: FUZZ_SECONDS each, default 10, one
# target per core at a time.
#
# With cargo-fuzz and a nightly toolchain installed it runs `cargo +nightly fuzz run`, the
# usual way (AddressSanitizer included). Without them it builds the same targets with
# libFuzzer's coverage instrumentation on the toolchain at hand — stable is enough and
# nothing is downloaded — and runs the binaries directly. Either way the committed seeds in
# corpus/<target>/ are read but never written: what the fuzzer learns goes to a scratch folder,
# and a crashing input is left there (its path is printed) to be kept as a regression seed.
#
# Under CI (CI set, and not "false" or "0") fuzzing that cannot run is a failure. Elsewhere,
# where the instrumented build may not work, it is skipped with a message saying so.
set -euo pipefail
cd "$(dirname "$0")"

case "${CI:-}" in
  "" | false | 0) under_ci=false ;;
  *) under_ci=true ;;
esac

seconds="${FUZZ_SECONDS:-10}"
if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  # One per file under fuzz_targets/ (a test checks they match the gateway's table of kinds).
  targets=()
  for file in fuzz_targets/*.rs; do
    name="$(basename "$file" .rs)"
    targets+=("$name")
  done
fi
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

if cargo +nightly fuzz --version >/dev/null 2>&1; then
  for target in "${targets[@]}"; do
    mkdir -p "$scratch/$target"
    echo "== fuzz $target for ${seconds}s (cargo fuzz)"
    cargo +nightly fuzz run "$target" "$scratch/$target" "corpus/$target" -- \
      -max_total_time="$seconds" -artifact_prefix="$PWD/artifacts-$target-"
  done
  exit 0
fi

host="$(rustc -vV | sed -n 's/^host: //p')"
# The instrumentation cargo-fuzz asks for, minus the sanitizer (which needs nightly).
export RUSTFLAGS="-Cpasses=sancov-module \
  -Cllvm-args=-sanitizer-coverage-level=4 \
  -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
  -Cllvm-args=-sanitizer-coverage-pc-table \
  -Cllvm-args=-sanitizer-coverage-trace-compares \
  --cfg fuzzing -Cdebug-assertions -Coverflow-checks -Dwarnings"
# --target keeps build scripts and proc macros uninstrumented, and these artifacts apart from
# the workspace's other builds; the `fuzz` profile is in the workspace's Cargo.toml.
if ! cargo build --profile fuzz --target "$host" -p hooktrail-fuzz --bins; then
  if [ "$under_ci" = true ]; then
    echo "FUZZING FAILED: the targets cannot be built with libFuzzer instrumentation (CI=$CI)." >&2
    exit 1
  fi
  echo "!!! SKIPPED FUZZING: the targets cannot be built with libFuzzer instrumentation here." >&2
  echo "!!! Nothing was fuzzed. Their saved inputs still run as tests:" >&2
  echo "!!!   cargo test -p hooktrail-fuzz" >&2
  exit 0
fi
bin="${CARGO_TARGET_DIR:-../target}/$host/fuzz"

# One target per core at a time (FUZZ_JOBS overrides), each for its full time. A target's
# output goes to its own log, printed whole if it fails and by its summary line if not.
fuzz_one() {
  local target="$1" log="$scratch/$1.log"
  mkdir -p "$scratch/$target"
  if ! "$bin/$target" -max_total_time="$seconds" -print_final_stats=1 \
    -artifact_prefix="$PWD/artifacts-$target-" "$scratch/$target" "corpus/$target" >"$log" 2>&1; then
    cat "$log"
    echo "!!! fuzz $target FAILED (its crashing input is under $PWD/artifacts-$target-*)" >&2
    return 1
  fi
  echo "== fuzz $target for ${seconds}s: $(grep -m1 '^Done ' "$log" || echo 'done')"
}
jobs_at_once="${FUZZ_JOBS:-$(nproc)}"
if ! [ "$jobs_at_once" -ge 1 ] 2>/dev/null; then
  echo "FUZZ_JOBS must be a whole number of at least 1, not \"$jobs_at_once\"" >&2
  exit 2
fi
# Every target's own status is waited for, in the order they started (they all run as long).
failed=0
running=()
for target in "${targets[@]}"; do
  if [ "${#running[@]}" -ge "$jobs_at_once" ]; then
    wait "${running[0]}" || failed=1
    running=("${running[@]:1}")
  fi
  fuzz_one "$target" &
  running+=("$!")
done
for pid in "${running[@]}"; do
  wait "$pid" || failed=1
done
exit "$failed"
