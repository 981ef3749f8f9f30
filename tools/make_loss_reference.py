#!/usr/bin/python3
"""Writes tests/data/dice_ce_reference.bin: MONAI's DiceCELoss evaluated by
MONAI itself (monai.losses.DiceCELoss, MONAI 1.4.0 on PyTorch), with the
gradient of the loss w.r.t. the logits from PyTorch's autograd.

Run with Debian's interpreter, from the repository root:
    /usr/bin/python3 tools/make_loss_reference.py
(MONAI 1.4.0: /usr/bin/python3 -m pip install --break-system-packages \
 --no-deps monai==1.4.0). Everything is computed in float32, as the bundle
does on the CPU.

File format (little-endian):
    magic      8 bytes  b"SEGCDCE1"
    version    int32    1
    cases      int32    number of cases that follow
    per case:
        N, K, D, H, W           5 x int32   logits shape (N, K, D, H, W)
        include_background      int32       0 or 1
        smooth_nr, smooth_dr    2 x float64
        lambda_dice, lambda_ce  2 x float64
        loss, dice, ce          3 x float64 MONAI's values (float32 results)
        logits   N*K*D*H*W float32, NCDHW order
        labels   N*D*H*W   uint8, class indices, (N, D, H, W) order
        grad     N*K*D*H*W float32, NCDHW: d loss / d logits
"""
import os
import struct
import sys

import numpy as np
import torch
from monai.losses import DiceCELoss

MAGIC = b"SEGCDCE1"
VERSION = 1


def make_case(seed, shape, label_classes, include_background, lambda_dice,
              lambda_ce):
    n, k, d, h, w = shape
    gen = torch.Generator().manual_seed(seed)
    logits = (2.0 * torch.randn(n, k, d, h, w, generator=gen)).float()
    # Labels drawn from a subset of the classes: the others are absent (G=0).
    choice = torch.randint(0, len(label_classes), (n, 1, d, h, w),
                           generator=gen)
    labels = torch.tensor(label_classes, dtype=torch.float32)[choice]
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True,
                         include_background=include_background,
                         lambda_dice=lambda_dice, lambda_ce=lambda_ce)
    x = logits.clone().requires_grad_(True)
    loss = loss_fn(x, labels)
    loss.backward()
    with torch.no_grad():
        dice = loss_fn.dice(logits, labels)
        ce = loss_fn.ce(logits, labels)
    smooth_nr = loss_fn.dice.smooth_nr
    smooth_dr = loss_fn.dice.smooth_dr
    header = struct.pack("<6i4d3d", n, k, d, h, w, int(include_background),
                         smooth_nr, smooth_dr, lambda_dice, lambda_ce,
                         float(loss.item()), float(dice.item()),
                         float(ce.item()))
    body = (logits.numpy().astype("<f4").tobytes() +
            labels.numpy().astype(np.uint8).tobytes() +
            x.grad.numpy().astype("<f4").tobytes())
    print(f"case N={n} K={k} {d}x{h}x{w} include_background="
          f"{include_background}: loss {loss.item():.7f} dice "
          f"{dice.item():.7f} ce {ce.item():.7f}")
    return header + body


def main():
    torch.set_num_threads(1)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = os.path.join(root, "tests", "data", "dice_ce_reference.bin")
    cases = [
        # The bundle's configuration; classes 2 and 4 never occur.
        make_case(11, (2, 5, 3, 4, 5), [0, 1, 3], True, 1.0, 1.0),
        # No background in the Dice, other weights; class 2 absent.
        make_case(12, (2, 4, 4, 3, 3), [0, 1, 3], False, 0.7, 1.3),
    ]
    data = MAGIC + struct.pack("<2i", VERSION, len(cases)) + b"".join(cases)
    with open(out, "wb") as f:
        f.write(data)
    print(f"wrote {out} ({len(data)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
