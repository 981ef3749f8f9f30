#!/bin/sh
# Example 3: evaluate a model with segeval.
#   examples/evaluate.sh WORK [WEIGHTS.pt]
# Runs the bundle's evaluation (sliding window, Dice and normalized surface
# distance per structure) on the phantom's validation case with the weights
# train_phantom.sh wrote or the ones named; the tables go to WORK/metrics
# (mean_dice_raw.csv and the per-class files MONAI's MetricsSaver writes).
set -eu
. "$(cd "$(dirname "$0")" && pwd)/common.sh"
work=${1:?usage: evaluate.sh WORK [WEIGHTS.pt]}
weights=${2:-$work/models/model_lowres.pt}
make_phantom "$work"
if [ ! -f "$weights" ]; then
  echo "evaluate.sh: no weights $weights: run train_phantom.sh $work first" >&2
  exit 1
fi
"${bin}segeval" "$here/phantom.json" --weights "$weights" \
  --dataset-dir "$work/phantom" --output-dir "$work/metrics"
echo "evaluate.sh: wrote $work/metrics"
