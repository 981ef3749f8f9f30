#!/usr/bin/env bash
# Packs what scripts/gpu_check.sh needs into gpu/ (git-ignored), for a GPU
# machine that has the NVIDIA driver and a Python with PyTorch's CUDA wheels
# but no compiler, no Debian -dev packages and no package registry:
#   gpu/bin     segbench seginfer segtrain segeval segprep (SEGC_CUDA=ON)
#   gpu/tests   the test programs of the `cuda` CTest label, and
#               tests.txt: one test a line, "name<TAB>program args..."
#   gpu/lib     the shared libraries they load that such a machine lacks
#               (oneDNN, cJSON, OpenMPI, the CUDA runtime, ...); cuDNN,
#               cuBLAS and NCCL are taken there from PyTorch's pip packages
#   gpu/data    example_ct.nii.gz from ../shared/data (never committed)
#   gpu/wheels  monai's wheel, for the peer's training step
# At most 64 MiB in all (what a device call carries); the script fails when
# more. Usage: scripts/gpu_pack.sh [BUILD_DIR] (default build-gpu).
set -euo pipefail

build=${1:-build-gpu}
out=gpu
shared=${SEGC_SHARED_DIR:-../shared}
limit_bytes=$((64 * 1024 * 1024))

command -v nvcc >/dev/null || { echo "gpu_pack: nvcc not on PATH" >&2; exit 1; }
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DSEGC_CUDA=ON -DSEGC_MPI=ON \
  >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null

rm -rf "$out"
mkdir -p "$out/bin" "$out/tests" "$out/lib" "$out/data"
for p in segbench seginfer segtrain segeval segprep; do
  cp "$build/bin/$p" "$out/bin/"
done

# The cuda tests as CTest would run them, with the program moved to gpu/tests,
# and the CPU-labelled tests that take the GPU path when one is there (the
# backend context, a network's arenas on the device).
ctest --test-dir "$build" -L cuda --show-only=json-v1 >"$out/tests.json"
ctest --test-dir "$build" -R '^(backend_context|device)$' --show-only=json-v1 \
  >"$out/tests_gpu_path.json"
python3 - "$out" <<'EOF'
import json, os, shutil, sys
out = sys.argv[1]
tests = []
for name in ("tests.json", "tests_gpu_path.json"):
    tests += json.load(open(os.path.join(out, name)))["tests"]
with open(os.path.join(out, "tests", "tests.txt"), "w") as f:
    for t in tests:
        program, args = t["command"][0], t["command"][1:]
        name = os.path.basename(program)
        shutil.copy2(program, os.path.join(out, "tests", name))
        f.write("%s\t%s\n" % (t["name"], " ".join([out + "/tests/" + name] + args)))
EOF
rm "$out/tests.json" "$out/tests_gpu_path.json"

# Libraries: everything ldd resolves except the C runtime, the driver and
# the libraries PyTorch's wheels bring (cuDNN, cuBLAS, NCCL).
skip='^(linux-vdso|ld-linux|libc\.|libm\.|libdl\.|libpthread\.|librt\.|libgcc_s|libstdc\+\+|libcuda\.|libcudnn|libcublas|libnccl|libnvidia)'
for f in "$out"/bin/* "$out"/tests/*; do
  [ -x "$f" ] || continue
  ldd "$f" | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}'
done | sort -u | while read -r name path; do
  if [[ ! "$name" =~ $skip ]]; then cp -L "$path" "$out/lib/$name"; fi
done

# MONAI for the peer's training step (tools/gpu_torch_step.py): pure Python,
# installed there without its dependencies (torch and numpy are there).
mkdir -p "$out/wheels"
if ! python3 -m pip download -q --no-deps --only-binary=:all: -d "$out/wheels" \
     "monai==${SEGC_MONAI_VERSION:-1.6.1}"; then
  echo "gpu_pack: could not download the monai wheel: gpu_check.sh will skip torch" >&2
fi

if [ -f "$shared/data/example_ct.nii.gz" ]; then
  cp "$shared/data/example_ct.nii.gz" "$out/data/"
else
  echo "gpu_pack: $shared/data/example_ct.nii.gz not found: gpu_check.sh will skip seginfer" >&2
fi

bytes=$(du -sb "$out" | cut -f1)
echo "gpu_pack: $out holds $((bytes / 1024 / 1024)) MiB:"
du -sh "$out"/* | sed 's/^/  /'
if [ "$bytes" -gt "$limit_bytes" ]; then
  echo "gpu_pack: over the 64 MiB a device call carries" >&2
  exit 1
fi
