#!/usr/bin/env bash
# Builds the libFuzzer harness for the NIfTI reader (tests/fuzz/fuzz_nifti.c,
# clang with ASan + UBSan) and runs it at low priority.
#
#   scripts/fuzz_nifti.sh [seconds (default 600)] [more libFuzzer options]
#
# Seeds come from tests/fuzz/corpus_nifti (committed). The corpus libFuzzer
# grows and any crash-* files go to build-fuzz/nifti/ (FUZZ_OUT overrides).
# To keep a crasher as a regression test, minimise it and copy it in:
#   build-fuzz/nifti/fuzz_nifti -minimize_crash=1 -runs=10000 CRASH
#   cp minimized-from-* tests/fuzz/corpus_nifti/crash_<what>
# ctest fuzz_regression_nifti then runs every corpus file through the parser.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=${FUZZ_OUT:-$root/build-fuzz/nifti}
seconds=${1:-600}
shift || true
cc=${CC_FUZZ:-clang-14}

flags=(-g -O1 -std=c11 -D_GNU_SOURCE -fno-omit-frame-pointer
       -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
       -Wall -Wextra -Wno-unknown-pragmas -I"$root")
# core/dtype.h uses _Float16, which clang before 15 accepts on x86 only with
# AVX512-FP16; the reader never converts f16, so the flag only has to let
# the header compile (the binary then needs such a CPU).
if ! echo '_Float16 f(float x) { return (_Float16)x; }' |
     "$cc" -x c -c -o /dev/null - 2>/dev/null; then
  if grep -q avx512_fp16 /proc/cpuinfo; then
    flags+=(-mavx512fp16)
  else
    echo "fuzz_nifti: $cc cannot compile _Float16 here; use clang >= 15 (CC_FUZZ=clang-15)" >&2
    exit 1
  fi
fi

sources=(tests/fuzz/fuzz_nifti.c data/nifti_read.c data/nifti_header.c
         data/nifti_xform.c data/nifti_convert.c data/volume.c core/status.c
         core/dtype.c)
mkdir -p "$out/corpus" "$out/artifacts"
"$cc" "${flags[@]}" "${sources[@]/#/$root/}" -lz -lm -o "$out/fuzz_nifti"
echo "fuzz_nifti: built $out/fuzz_nifti; fuzzing for ${seconds}s"
cd "$out"
nice -n 19 ./fuzz_nifti corpus "$root/tests/fuzz/corpus_nifti" \
  -max_total_time="$seconds" -max_len=8192 -rss_limit_mb=2048 -timeout=10 \
  -artifact_prefix=artifacts/ -print_final_stats=1 "$@"
