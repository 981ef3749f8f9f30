#!/usr/bin/env bash
# A short run of every program on data segc makes itself, each output
# checked to exist and be non-empty: proves the programs start, find their
# libraries and do their job on a machine (scripts/check_fresh_machine.sh
# runs it in a bare Debian root). About a minute on 2 cores.
#   bash scripts/smoke_programs.sh [BUILD_DIR] [OUT_DIR]
set -euo pipefail
build=${1:-build}
out=${2:-smoke}
bin="$build/bin"

step() { echo "smoke: $*"; }
need_file() {
  [ -s "$1" ] || { echo "smoke: error: $2 did not write $1" >&2; exit 1; }
}

rm -rf "$out"
mkdir -p "$out"

step "segprep phantom: 4 cases of 32^3 at 3 mm"
"$bin/segprep" phantom --out "$out/data" --cases 4 --val 1 --size 32,32,32 \
  --spacing 3 --seed 7 --structures liver,spleen,aorta > "$out/segprep.log"
need_file "$out/data/imagesTr/case_0003.nii.gz" segprep

step "segtrain: one epoch (3 steps) of an 8-filter network, one validation"
"$bin/segtrain" configs/demo_train.json --quiet \
  --set dataset_dir="$out/data" --set ckpt_dir="$out/models" \
  --set output_dir="$out/eval" --set roi=[32,32,32] --set max_epochs=1 \
  --set val_interval=1 --set val_cases=1 --set network_def.init_filters=8 \
  --threads 2 > "$out/segtrain.log" 2>&1 || { cat "$out/segtrain.log" >&2; exit 1; }
need_file "$out/models/model_lowres.pt" segtrain
need_file "$out/eval/train.csv" segtrain

step "seginfer: the trained network on a case, with preview and statistics"
"$bin/seginfer" --config configs/demo_train.json --set network_def.init_filters=8 \
  --quiet --weights "$out/models/model_lowres.pt" \
  -i "$out/data/imagesTr/case_0003.nii.gz" -o "$out/prediction.nii.gz" \
  --preview "$out/preview.png" --stats > "$out/seginfer.log" 2>&1 ||
  { cat "$out/seginfer.log" >&2; exit 1; }
need_file "$out/prediction.nii.gz" seginfer
need_file "$out/preview.png" seginfer

step "segeval: Dice and NSD of the prediction against its label"
"$bin/segeval" --pred "$out/prediction.nii.gz" \
  --label "$out/data/labelsTr/case_0003.nii.gz" --output-dir "$out/eval_test" \
  > "$out/segeval.log" 2>&1 || { cat "$out/segeval.log" >&2; exit 1; }
need_file "$out/eval_test/mean_dice_raw.csv" segeval

step "segforward: one forward pass on a raw float32 tensor"
head -c $(( 32 * 32 * 32 * 4 )) /dev/zero > "$out/zeros.f32"
"$bin/segforward" --weights "$out/models/model_lowres.pt" --input "$out/zeros.f32" \
  --shape 1,1,32,32,32 --output "$out/logits.f32" --threads 2 \
  > "$out/segforward.log" 2>&1 || { cat "$out/segforward.log" >&2; exit 1; }
[ "$(stat -c %s "$out/logits.f32")" -eq $(( 105 * 32 * 32 * 32 * 4 )) ] ||
  { echo "smoke: error: segforward wrote $(stat -c %s "$out/logits.f32") bytes, not 105x32^3 floats" >&2; exit 1; }

step "segbench loss: fused DiceCE at a small size"
"$bin/segbench" loss --batch 1 --classes 4 --size 32 --repeat 1 --threads 2 \
  > "$out/segbench.log" 2>&1 || { cat "$out/segbench.log" >&2; exit 1; }
need_file "$out/segbench.log" segbench

if [ -x "$bin/segserve" ]; then
  step "segserve: GET /info/ over loopback, then SIGTERM"
  "$bin/segserve" --config configs/demo_train.json --set network_def.init_filters=8 \
    --weights "$out/models/model_lowres.pt" --port 0 --threads 2 \
    > "$out/segserve.out" 2> "$out/segserve.log" &
  server=$!
  port=
  for _ in $(seq 100); do
    port=$(sed -n 's|^segserve: listening on http://127.0.0.1:\([0-9]*\).*|\1|p' "$out/segserve.out")
    [ -n "$port" ] && break
    sleep 0.1
  done
  [ -n "$port" ] || { kill "$server"; cat "$out/segserve.log" >&2; echo "smoke: error: segserve did not start" >&2; exit 1; }
  exec 3<>"/dev/tcp/127.0.0.1/$port"
  printf 'GET /info/ HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
  cat <&3 > "$out/info.http"
  exec 3<&-
  kill -TERM "$server"
  wait "$server" || { echo "smoke: error: segserve exited $? after SIGTERM" >&2; exit 1; }
  grep -q '"wholeBody_ct_segmentation"' "$out/info.http" ||
    { echo "smoke: error: segserve's /info/ does not name the model" >&2; exit 1; }
fi

step "all programs ran"
