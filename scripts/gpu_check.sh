#!/usr/bin/env bash
# The GPU check of the CUDA backend, for a machine with an NVIDIA GPU and
# PyTorch's CUDA wheels but no compiler and no package registry. Run from
# the repository root after scripts/gpu_pack.sh made gpu/ on a development
# machine (carry gpu/ there):
#   bash scripts/gpu_check.sh
# It runs the `cuda` tests (the op table on cuda against the CPU, the
# runtime and backend-context checks, the MONAI reference on the GPU), the
# op table under compute-sanitizer's memcheck, then
# the benchmarks: forward at 96^3 (f32, bf16, f16), a training step at
# batch 4 with AMP fp16 and bf16, and seginfer lowres and highres on the
# example CT and on its 512x512x397 resample, with the GPU memory the
# process held at its peak (nvidia-smi, sampled every 100 ms). Every step
# has its own time limit; the whole script stays within 8 minutes on one
# H100. One summary table at the end; the full log in $OUT/gpu_check.log
# (or /tmp). Exit status: the number of failed steps (0: all passed).
set -uo pipefail

root=gpu
out_dir=${OUT:-/tmp}
log="$out_dir/gpu_check.log"
work=$(mktemp -d /tmp/segc_gpu_check.XXXXXX)
trap 'rm -rf "$work"' EXIT
: >"$log"

if [ ! -x "$root/bin/seginfer" ]; then
  echo "gpu_check: $root/bin/seginfer missing: run scripts/gpu_pack.sh first" >&2
  exit 1
fi

# cuDNN, cuBLAS and NCCL from PyTorch's pip packages (nvidia-cudnn-cu13,
# nvidia-cublas-cu13, nvidia-nccl-cu13), where the machine has them.
py_libs=$(python3 - 2>/dev/null <<'EOF'
import glob, os, site
roots = site.getsitepackages() + [site.getusersitepackages()]
dirs = sorted({d for r in roots for d in glob.glob(os.path.join(r, "nvidia", "*", "lib"))})
dirs += sorted({d for r in roots for d in glob.glob(os.path.join(r, "nvidia", "cu*", "lib"))})
print(":".join(dict.fromkeys(dirs)))
EOF
)
export LD_LIBRARY_PATH="$PWD/$root/lib${py_libs:+:$py_libs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export SEGC_BUILD_DIR="$PWD/$root" SEGC_SOURCE_DIR="$PWD"

rows=()
failed=0
# The whole script's budget: each step gets its own limit or what is left.
budget_s=${SEGC_GPU_CHECK_BUDGET_S:-470}
start_s=$(date +%s)

# step NAME LIMIT_S PATTERN COMMAND...: runs COMMAND with a time limit; the
# table shows its exit status, its seconds and the last output line that
# matches PATTERN (an extended regex; "" for none).
step() {
  local name=$1 limit=$2 pattern=$3
  shift 3
  local t0 t1 rc line left
  left=$((budget_s - ($(date +%s) - start_s)))
  if [ "$left" -lt 5 ]; then
    rows+=("$(printf '%-34s %4s %7s  %s' "$name" "-" "-" "not run: the budget is spent")")
    failed=$((failed + 1))
    return
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  echo "==== $name: $*" >>"$log"
  t0=$(date +%s.%N)
  if [ "$1" = gpu_memory_peak ]; then
    shift
    gpu_memory_peak "$limit" "$@" >"$work/step.txt" 2>&1
  else
    timeout "$limit" "$@" >"$work/step.txt" 2>&1
  fi
  rc=$?
  t1=$(date +%s.%N)
  cat "$work/step.txt" >>"$log"
  line=""
  if [ -n "$pattern" ]; then
    line=$(grep -E "$pattern" "$work/step.txt" | tail -n 3 | cut -c1-110 | paste -sd ';' -)
  fi
  [ "$rc" -eq 124 ] && line="timed out after $limit s"
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
    failed=$((failed + 1))
    [ -z "$line" ] && line=$(grep -v '^$' "$work/step.txt" | tail -n 1 | cut -c1-150)
  fi
  rows+=("$(printf '%-34s %4s %7.1f  %s' "$name" "$rc" "$(echo "$t1 - $t0" | bc)" "$line")")
}

# gpu_memory_peak LIMIT_S COMMAND...: runs COMMAND with a time limit while
# sampling the GPU's used memory; prints "gpu peak MiB: N" after its output.
gpu_memory_peak() {
  local limit=$1
  shift
  local base
  base=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits | head -n 1)
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 \
    >"$work/memory.txt" 2>/dev/null &
  local sampler=$!
  timeout "$limit" "$@"
  local rc=$?
  kill "$sampler" 2>/dev/null
  wait "$sampler" 2>/dev/null
  local peak
  peak=$(sort -n "$work/memory.txt" | tail -n 1)
  echo "gpu peak MiB: $((${peak:-0} - ${base:-0})) (above the idle ${base:-?} MiB)"
  return $rc
}

step "gpu" 30 "." nvidia-smi --query-gpu=name,memory.total,driver_version \
  --format=csv,noheader
# Every library the programs load must resolve (gpu/lib, PyTorch's wheels).
missing_libraries() {
  local f
  for f in "$root"/bin/* "$root"/tests/*; do
    [ -x "$f" ] && ldd "$f" | grep "not found" | sed "s|^|$(basename "$f"): |"
  done
  return 0
}
step "libraries" 10 "." sh -c "$(declare -f missing_libraries); root=$root; \
  m=\$(missing_libraries); echo \"missing: \${m:-none}\"; [ -z \"\$m\" ]"

# The cuda tests, as ctest would run them.
while IFS=$'\t' read -r name command; do
  # shellcheck disable=SC2086
  step "test $name" 120 "checks|passed|skipped|FAIL" $command
done <"$root/tests/tests.txt"

# The op table on cuda once more under compute-sanitizer's memcheck (out of
# bounds, misaligned and uninitialised device accesses), where it is there.
if command -v compute-sanitizer >/dev/null; then
  step "memcheck ops_cuda" 180 "ERROR SUMMARY|checks" compute-sanitizer \
    --tool memcheck --error-exitcode 1 "$root/tests/test_ops" --backend cuda
else
  rows+=("memcheck ops_cuda: skipped (no compute-sanitizer)")
fi

for dtype in f32 bf16 f16; do
  step "forward $dtype 96^3" 60 "^forward" "$root/bin/segbench" forward \
    --device cuda --dtype "$dtype" --repeat 5
done
for dtype in f16 bf16; do
  step "train-step amp $dtype batch 4" 90 "^train-step" "$root/bin/segbench" \
    train-step --device cuda --dtype "$dtype" --batch 4 --repeat 5
done

# seginfer end to end on the example CT and its 512x512x397 resample, by
# segbench infer (bundle-shaped random weights: the time does not depend on
# them; the resample is made by segprep), f32 and bf16, one input and
# resolution a run so that the GPU memory sampled is that run's.
if [ -f "$root/data/example_ct.nii.gz" ]; then
  for input in example 512; do
    for res in lowres highres; do
      step "seginfer $input $res" 150 "lowres:|highres:|gpu peak" gpu_memory_peak \
        "$root/bin/segbench" infer --device cuda --no-monai --inputs "$input" \
        --res "$res" --dtypes f32,bf16 --shared "$root" --cache "$work/cache" \
        --threads 8
    done
  done
else
  rows+=("seginfer: skipped ($root/data/example_ct.nii.gz not packed)")
fi

# PyTorch with MONAI's SegResNet under autocast, on the same GPU, when both
# are importable there (tools/gpu_torch_step.py).
if ls "$root"/wheels/monai-*.whl >/dev/null 2>&1 &&
   python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
     --target "$work/site" "$root"/wheels/monai-*.whl >>"$log" 2>&1; then
  export PYTHONPATH="$work/site${PYTHONPATH:+:$PYTHONPATH}"
fi
if python3 -c "import torch, monai" 2>/dev/null; then
  for dtype in f16 bf16; do
    step "torch train-step amp $dtype batch 4" 120 "^torch" python3 \
      tools/gpu_torch_step.py --dtype "$dtype" --batch 4
  done
else
  rows+=("torch train-step: skipped (torch with MONAI not importable)")
fi

{
  echo
  echo "segc GPU check ($(date -u +%Y-%m-%dT%H:%MZ)); log: $log"
  printf '%-34s %4s %7s  %s\n' "step" "exit" "s" "result"
  printf '%s\n' "${rows[@]}"
  echo "failed steps: $failed"
} | tee -a "$log"
exit "$failed"
