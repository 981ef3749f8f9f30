#!/usr/bin/env bash
# The main job on data segc makes itself (make demo):
#   1. a synthetic CT dataset (segprep phantom): 12 cases for training and
#      validation and one held-out case, 64^3 at 3 mm, 17 labelled structures
#   2. training (segtrain, configs/demo_train.json): about 6 minutes
#   3. inference on the held-out case (seginfer: the bundle's inference
#      pipeline at 3 mm) with a preview PNG and per-structure statistics
#   4. Dice per structure against its label (segeval)
set -euo pipefail
build=${1:-build}
bin="$build/bin"
out=demo
structures=liver,spleen,kidney_left,kidney_right,gallbladder,stomach,aorta,\
inferior_vena_cava,urinary_bladder,hip_left,hip_right,gluteus_maximus_left,\
gluteus_maximus_right,autochthon_left,autochthon_right,iliopsoas_left,\
iliopsoas_right

start=$(date +%s)
rm -rf "$out"
mkdir -p "$out/test/imagesTr" "$out/test/labelsTr"
echo "== 1. phantom dataset"
"$bin/segprep" phantom --out "$out/data" --cases 13 --val 3 --size 64,64,64 \
  --spacing 3 --seed 1 --structures "$structures"
# Case 12 is held out for the final check (never seen in training or
# validation).
mv "$out/data/imagesTr/case_0012.nii.gz" "$out/test/imagesTr/"
mv "$out/data/labelsTr/case_0012.nii.gz" "$out/test/labelsTr/"
rm -f "$out/data/datalist.json"

echo "== 2. training"
"$bin/segtrain" --config configs/demo_train.json --quiet 2>&1 |
  grep -v '^[[:space:]{}]' | grep -v '^segtrain: effective config'

echo "== 3. inference on the held-out case"
# The demo's config gives seginfer the network and the window it was
# trained with (64^3; the bundle's inference uses 96^3).
"$bin/seginfer" --config configs/demo_train.json --quiet \
  --weights "$out/models/model_lowres.pt" \
  -i "$out/test/imagesTr/case_0012.nii.gz" -o "$out/prediction.nii.gz" \
  --preview "$out/preview.png" --stats

echo "== 4. Dice per structure on the held-out case"
"$bin/segeval" --pred "$out/prediction.nii.gz" \
  --label "$out/test/labelsTr/case_0012.nii.gz" --output-dir "$out/eval_test" \
  --nsd-tolerance 3
awk -F, 'NR == 1 { for (i = 2; i <= NF; ++i) name[i] = $i }
         NR == 2 { for (i = 2; i <= NF; ++i)
                     if ($i != "nan" && $i != "") printf "  %-24s %s\n", name[i], $i }' \
  "$out/eval_test/mean_dice_raw.csv"
echo "demo: done in $(( $(date +%s) - start )) s; preview: $out/preview.png," \
     "curves: $out/eval/training_curves.png"
