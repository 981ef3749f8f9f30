#!/usr/bin/env bash
# The main job on data segc makes itself. Until training and inference land,
# this runs the convolution benchmark on the SegResNet shapes.
set -euo pipefail
build=${1:-build}
"$build/bin/segbench" conv --repeat 3
