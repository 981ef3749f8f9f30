#!/bin/sh
# Sets up the Python venv that `segbench peers` runs its peers from: PyTorch 2,
# OpenVINO and MONAI (whose SegResNet the peers run), from PyPI. segc itself
# never needs it.
#
#   tools/setup_peers.sh [VENV (default build/peers_venv)]
#
# PYTHON picks the interpreter (default /usr/bin/python3, 3.10 or newer).
# PEERS_PIP_ARGS is added to pip's install line, e.g. to name another index
# that has PyTorch's CPU-only wheel: PyPI's Linux wheel is the CUDA build and
# brings about 5 GB of CUDA libraries, which the CPU runs never load.
# Debian's python3-torch (1.13) is not reused: the peers are PyTorch 2.
set -eu
venv=${1:-build/peers_venv}
python=${PYTHON:-/usr/bin/python3}

if ! "$python" -c 'import venv, ensurepip' 2>/dev/null; then
  echo "setup_peers: error: $python cannot make a venv (Debian: apt-get install python3-venv)" >&2
  exit 1
fi
echo "setup_peers: creating $venv with $python"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
# shellcheck disable=SC2086  # PEERS_PIP_ARGS is a list of words on purpose
"$venv/bin/python" -m pip install --quiet ${PEERS_PIP_ARGS:-} \
  'torch>=2.0' 'openvino>=2024.0' 'monai>=1.4' numpy
"$venv/bin/python" - <<'PY'
import monai
import openvino
import torch
print(f"setup_peers: ready: torch {torch.__version__}, openvino "
      f"{openvino.__version__}, monai {monai.__version__}")
PY
echo "setup_peers: run: build/bin/segbench peers --python $venv/bin/python"
