#!/bin/sh
# Example 1: segment a CT with seginfer.
#   examples/segment_ct.sh WORK [WEIGHTS.pt]
# Makes a phantom CT in WORK/phantom (segprep phantom) and segments
# case_0000 with the weights train_phantom.sh wrote (WORK/models/
# model_lowres.pt) or the ones named, writing WORK/case_0000_label.nii.gz,
# a JSON sidecar naming the labels, per-structure volumes
# (WORK/case_0000_label_stats.csv) and a PNG preview (WORK/case_0000.png).
set -eu
. "$(cd "$(dirname "$0")" && pwd)/common.sh"
work=${1:?usage: segment_ct.sh WORK [WEIGHTS.pt]}
weights=${2:-$work/models/model_lowres.pt}
make_phantom "$work"
if [ ! -f "$weights" ]; then
  echo "segment_ct.sh: no weights $weights: run train_phantom.sh $work first" >&2
  exit 1
fi
"${bin}seginfer" --config "$here/phantom.json" --weights "$weights" --quiet \
  -i "$work/phantom/imagesTr/case_0000.nii.gz" \
  -o "$work/case_0000_label.nii.gz" --stats --preview "$work/case_0000.png"
echo "segment_ct.sh: wrote $work/case_0000_label.nii.gz"
