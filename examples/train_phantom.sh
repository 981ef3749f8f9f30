#!/bin/sh
# Example 2: train on the phantom (1 to 2 minutes on 2 cores; the small
# network only starts to find the large organs: see examples/phantom.json).
#   examples/train_phantom.sh WORK [segtrain options...]
# Makes WORK/phantom and trains examples/phantom.json's small SegResNet on
# it: the best model by validation Dice goes to WORK/models/model_lowres.pt,
# the logs (train.csv, validation.csv, TensorBoard events, the curves as
# PNG) to WORK/logs. Options are passed on ("--set max_epochs=2",
# "--resume", "--overwrite").
set -eu
. "$(cd "$(dirname "$0")" && pwd)/common.sh"
work=${1:?usage: train_phantom.sh WORK [segtrain options...]}
shift
make_phantom "$work"
"${bin}segtrain" "$here/phantom.json" --quiet \
  --set "dataset_dir=$work/phantom" --set "ckpt_dir=$work/models" \
  --set "output_dir=$work/logs" "$@"
echo "train_phantom.sh: wrote $work/models/model_lowres.pt"
