#!/usr/bin/env python3
"""MONAI's own evaluation of the wholeBody_ct_segmentation bundle
(configs/train.json validate#preprocessing + evaluate.json's postprocessing)
on (image, label) pairs, printing per-case per-class Dice as JSON, to compare
with `segeval --weights ...`.

  Orientationd RAS -> Spacingd (bilinear, nearest) -> NormalizeIntensityd
  (nonzero) -> CropForegroundd(image, margin 10, k_divisible 96) ->
  GaussianSmoothd(0.4) -> ScaleIntensityd(-1, 1) -> CenterSpatialCropd(160)
  SlidingWindowInferer(96, sw_batch_size 1, overlap 0.25) (MONAI's defaults:
  constant blending, constant padding)
  Activationsd(softmax) -> Invertd(pred, label; nearest) ->
  AsDiscreted(argmax / to_onehot 105) -> DiceMetric(include_background
  False)

Needs Debian's /usr/bin/python3 with torch and MONAI 1.4.
"""
import argparse
import json

import torch
from monai.inferers import SlidingWindowInferer
from monai.metrics import DiceMetric
from monai.transforms import (Activationsd, AsDiscreted, CenterSpatialCropd,
                              Compose, CropForegroundd, EnsureChannelFirstd,
                              EnsureTyped, GaussianSmoothd, Invertd,
                              LoadImaged, NormalizeIntensityd, Orientationd,
                              ScaleIntensityd, Spacingd)

from monai_infer import network_from_state_dict


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", required=True)
    parser.add_argument("--image", action="append", required=True)
    parser.add_argument("--label", action="append", required=True)
    parser.add_argument("--pixdim", type=float, default=1.5)
    parser.add_argument("--val-roi", type=int, default=160)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    state = torch.load(args.weights, map_location="cpu")
    network = network_from_state_dict(state)
    network.load_state_dict(state, strict=True)
    network.eval()
    keys = ["image", "label"]
    pre = Compose([
        LoadImaged(keys=keys), EnsureChannelFirstd(keys=keys),
        EnsureTyped(keys=keys), Orientationd(keys=keys, axcodes="RAS"),
        Spacingd(keys=keys, pixdim=[args.pixdim] * 3, mode=["bilinear", "nearest"]),
        NormalizeIntensityd(keys="image", nonzero=True),
        CropForegroundd(keys=keys, source_key="image", margin=10,
                        k_divisible=[96, 96, 96]),
        GaussianSmoothd(keys=["image"], sigma=0.4),
        ScaleIntensityd(keys="image", minv=-1.0, maxv=1.0),
        CenterSpatialCropd(keys=keys, roi_size=[args.val_roi] * 3),
    ])
    classes = state["conv_final.2.conv.weight"].shape[0]
    post = Compose([
        Activationsd(keys="pred", softmax=True),
        Invertd(keys=["pred", "label"], transform=pre, orig_keys="image",
                nearest_interp=[True, True], to_tensor=True),
        AsDiscreted(keys=["pred", "label"], argmax=[True, False],
                    to_onehot=classes),
    ])
    inferer = SlidingWindowInferer(roi_size=[96, 96, 96], sw_batch_size=1,
                                   overlap=0.25)
    metric = DiceMetric(include_background=False, reduction="none")
    cases = []
    for image, label in zip(args.image, args.label):
        item = pre({"image": image, "label": label})
        with torch.no_grad():
            item["pred"] = inferer(item["image"].unsqueeze(0), network)[0]
        item = post(item)
        dice = metric(item["pred"].unsqueeze(0), item["label"].unsqueeze(0))[0]
        cases.append({"image": image, "dice": [None if d != d else float(d)
                                               for d in dice.tolist()]})
    print(json.dumps({"cases": cases}))


if __name__ == "__main__":
    main()
