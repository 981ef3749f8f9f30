#!/usr/bin/env python3
"""MONAI's own wholeBody_ct_segmentation inference on one CT, for comparing
with segc (segbench infer runs it beside seginfer).

The bundle's configs/inference.json pipeline, run as its evaluator runs it
(batch of 1, then the decollated item through the postprocessing):
  LoadImaged -> EnsureTyped -> EnsureChannelFirstd -> Orientationd(RAS) ->
  Spacingd(pixdim, bilinear) -> NormalizeIntensityd(nonzero) ->
  ScaleIntensityd(-1, 1)
  SlidingWindowInferer(roi 96, sw_batch_size 1, overlap 0.25, gaussian,
  replicate padding)
  Activationsd(softmax) -> AsDiscreted(argmax) -> Invertd(nearest)
and the label saved as uint8 NIfTI with the input's affine (the bundle saves
float32; the values are the same). The SegResNet's shape is read from the
checkpoint's tensor shapes. Prints one JSON object with the stage timings in
the bundle's terms (pre, inferer, post = softmax + argmax, invert, write,
total) and the process's peak RSS.

Needs Debian's /usr/bin/python3 with torch and MONAI 1.4 importable.
"""
import argparse
import json
import re
import resource
import time

import nibabel as nib
import numpy as np
import torch
from monai.inferers import SlidingWindowInferer
from monai.networks.nets import SegResNet
from monai.transforms import (Activationsd, AsDiscreted, Compose,
                              EnsureChannelFirstd, EnsureTyped, Invertd,
                              LoadImaged, NormalizeIntensityd, Orientationd,
                              ScaleIntensityd, Spacingd)


def network_from_state_dict(state):
    """SegResNet hyper-parameters from the shapes in a state dict."""
    init_filters = state["convInit.conv.weight"].shape[0]
    in_channels = state["convInit.conv.weight"].shape[1]
    out_channels = state["conv_final.2.conv.weight"].shape[0]

    def blocks(prefix):
        levels = {}
        for key in state:
            m = re.match(prefix + r"\.(\d+)\.(\d+)\.norm1\.weight$", key)
            if m:
                levels.setdefault(int(m.group(1)), set()).add(int(m.group(2)))
        return [len(levels[i]) for i in sorted(levels)]

    return SegResNet(spatial_dims=3, in_channels=in_channels,
                     out_channels=out_channels, init_filters=init_filters,
                     blocks_down=blocks("down_layers"),
                     blocks_up=blocks("up_layers"), dropout_prob=0.2)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", required=True)
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--pixdim", type=float, default=1.5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sw-batch-size", type=int, default=1)
    parser.add_argument("--overlap", type=float, default=0.25)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    state = torch.load(args.weights, map_location="cpu")
    if "model" in state and isinstance(state["model"], dict):
        state = state["model"]
    network = network_from_state_dict(state)
    network.load_state_dict(state, strict=True)
    network.eval()

    key = "image"
    preprocessing = Compose([
        LoadImaged(keys=key),
        EnsureTyped(keys=key),
        EnsureChannelFirstd(keys=key),
        Orientationd(keys=key, axcodes="RAS"),
        Spacingd(keys=key, pixdim=[args.pixdim] * 3, mode="bilinear"),
        NormalizeIntensityd(keys=key, nonzero=True),
        ScaleIntensityd(keys=key, minv=-1.0, maxv=1.0),
    ])
    inferer = SlidingWindowInferer(roi_size=[96, 96, 96],
                                   sw_batch_size=args.sw_batch_size,
                                   overlap=args.overlap, mode="gaussian",
                                   padding_mode="replicate")
    discrete = Compose([Activationsd(keys="pred", softmax=True),
                        AsDiscreted(keys="pred", argmax=True)])
    invert = Invertd(keys="pred", transform=preprocessing, orig_keys=key,
                     nearest_interp=True, to_tensor=True)

    start = time.perf_counter()
    item = preprocessing({key: args.input})
    t_pre = time.perf_counter()
    with torch.no_grad():
        logits = inferer(item[key].unsqueeze(0), network)
    item["pred"] = logits[0]
    del logits
    t_inferer = time.perf_counter()
    item = discrete(item)
    t_post = time.perf_counter()
    item = invert(item)
    t_invert = time.perf_counter()
    label = item["pred"][0].cpu().numpy().astype(np.uint8)
    source = nib.load(args.input)
    out = nib.Nifti1Image(label, source.affine)
    out.set_sform(source.affine, 2)
    out.set_qform(source.affine, 1)
    nib.save(out, args.output)
    t_write = time.perf_counter()

    print(json.dumps({
        "input": args.input,
        "output": args.output,
        "pixdim": args.pixdim,
        "threads": args.threads,
        "input_shape": list(source.shape[:3]),
        "network_grid": list(item[key].shape[1:]),
        "seconds": {
            "pre": t_pre - start,
            "inferer": t_inferer - t_pre,
            "post": t_post - t_inferer,
            "invert": t_invert - t_post,
            "write": t_write - t_invert,
            "total": t_write - start,
        },
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
