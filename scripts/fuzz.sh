#!/usr/bin/env bash
# Builds the libFuzzer harness for the PyTorch checkpoint reader and runs it.
# Not part of the normal build (it needs clang with libFuzzer).
#
#   scripts/fuzz.sh [seconds] [extra libFuzzer flags...]
#   scripts/fuzz.sh --replay    # run each file of the regression corpus once
#
# Default: 600 seconds, at low priority (nice) on one core. The working corpus
# lives in build-fuzz/corpus (seeded from tests/fuzz/corpus_checkpoint_pt and
# the fixtures); crashes land in build-fuzz/crashes. Add a minimized crashing
# input to tests/fuzz/corpus_checkpoint_pt/ once fixed, so that
# tests/test_fuzz_regression_pt.c replays it on every ctest run.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=run
if [ "${1:-}" = "--replay" ]; then
  mode=replay
  shift
fi
seconds=${1:-600}
shift || true
clang=${CLANG:-clang-14}
out=build-fuzz
mkdir -p "$out/corpus" "$out/crashes"

sources=(
  tests/fuzz/fuzz_checkpoint_pt.c
  io/checkpoint_pt.c io/pickle.c io/zip_archive.c io/zip_writer.c
  io/byte_buffer.c io/atomic_file.c core/status.c core/dtype.c
)
# core/dtype.h uses _Float16, which clang before 15 accepts on x86-64 only
# with AVX512-FP16 enabled; use that where the CPU has it.
arch_flags=()
if ! echo '_Float16 x;' | "$clang" -x c -c -o /dev/null - 2>/dev/null; then
  if grep -q avx512_fp16 /proc/cpuinfo; then
    arch_flags=(-mavx512fp16)
  else
    echo "fuzz.sh: $clang lacks _Float16 here; use clang >= 15 (CLANG=...)" >&2
    exit 1
  fi
fi
# dtype.c's OpenMP pragmas are ignored here: the fuzzer runs one thread.
"$clang" -std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer "${arch_flags[@]}" \
  -Wno-unknown-pragmas -fsanitize=fuzzer,address,undefined \
  -fno-sanitize-recover=undefined -I. "${sources[@]}" -lz -lm \
  -o "$out/fuzz_checkpoint_pt"

# clang's UBSan also flags what GCC's does not (e.g. arithmetic on a NULL
# pointer), so replaying the corpus here complements the ctest under GCC.
if [ "$mode" = replay ]; then
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    "$out/fuzz_checkpoint_pt" tests/fuzz/corpus_checkpoint_pt/*
  exit
fi

cp -n tests/fuzz/corpus_checkpoint_pt/* "$out/corpus/" 2>/dev/null || true
cp -n tests/data/checkpoints/*.pt "$out/corpus/" 2>/dev/null || true

# Torch's own records and opcodes as a dictionary help mutations find
# meaningful tokens.
dict="$out/checkpoint.dict"
cat > "$dict" <<'DICT'
"PK\x03\x04"
"PK\x01\x02"
"PK\x05\x06"
"PK\x06\x06"
"PK\x06\x07"
"data.pkl"
"/data/"
"version"
"byteorder"
"constants.pkl"
"collections\x0aOrderedDict\x0a"
"torch._utils\x0a_rebuild_tensor_v2\x0a"
"torch._utils\x0a_rebuild_parameter\x0a"
"torch\x0aFloatStorage\x0a"
"torch\x0aHalfStorage\x0a"
"torch\x0aBFloat16Storage\x0a"
"torch\x0aLongStorage\x0a"
"storage"
"model"
"\x80\x02"
"\x8a\x08"
"\xff\xff\xff\xff"
DICT

UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
nice -n 15 "$out/fuzz_checkpoint_pt" "$out/corpus" \
  -dict="$dict" -max_len=16384 -timeout=10 -rss_limit_mb=2048 \
  -max_total_time="$seconds" -print_final_stats=1 \
  -artifact_prefix="$out/crashes/" "$@"
