#!/usr/bin/python3
"""Writes the SegResNet reference files that tests/test_segresnet_reference.c
compares against, using MONAI's own SegResNet, DiceCELoss and torch's AdamW.

Run with Debian's interpreter (torch 1.13) and MONAI 1.4.0 on the path:
    /usr/bin/python3 tools/make_reference.py [--out tests/data]

Files (both are PyTorch checkpoints, read in C by segc's own .pt reader):
  segresnet_ref_weights.pt  the network's state dict (torch.save)
  segresnet_ref_values.pt   an OrderedDict of float32 tensors:
    logits_b1          eval-mode logits for the batch-1 input (1, K, 32, 32, 32)
    loss_b2            DiceCE loss of the batch-2 input against its label (1,)
    dice_b2, ce_b2     the two terms of that loss (1,)
    grad.<param name>  d loss_b2 / d param, for every parameter
    adamw_losses       the loss before each of 5 AdamW steps and after the
                       last one (6,), batch 2, lr 1e-4, weight decay 1e-5

The inputs and labels are not stored: both sides compute them from the same
formula (make_input / make_label below and tests/test_segresnet_reference.c).
Dropout is off (dropout_prob None) so training steps are deterministic.
"""
import argparse
import collections
import math
import os

import torch
from monai.losses import DiceCELoss
from monai.networks.nets import SegResNet

SIZE = 32
OUT_CHANNELS = 5
CONFIG = dict(spatial_dims=3, in_channels=1, out_channels=OUT_CHANNELS,
              init_filters=8, blocks_down=(1, 2, 1), blocks_up=(1, 1),
              dropout_prob=None)
ADAMW_LR = 1e-4  # the bundle's init_LR
ADAMW_WEIGHT_DECAY = 1e-5
ADAMW_STEPS = 5


def make_input(batch):
    """x[n, 0, d, h, w], computed in double and rounded to float32."""
    x = torch.empty((batch, 1, SIZE, SIZE, SIZE), dtype=torch.float32)
    for n in range(batch):
        for d in range(SIZE):
            for h in range(SIZE):
                for w in range(SIZE):
                    x[n, 0, d, h, w] = (math.sin(0.37 * d + 1.3 * n) *
                                        math.cos(0.23 * h - 0.5 * n) +
                                        0.05 * (w - 16) / 16.0)
    return x


def make_label(batch):
    """Integer classes; sample 1 never uses the last class (absent class)."""
    y = torch.empty((batch, 1, SIZE, SIZE, SIZE), dtype=torch.long)
    idx = torch.arange(SIZE)
    d = idx.view(SIZE, 1, 1)
    h = idx.view(1, SIZE, 1)
    w = idx.view(1, 1, SIZE)
    for n in range(batch):
        classes = OUT_CHANNELS if n == 0 else OUT_CHANNELS - 1
        y[n, 0] = (d // 6 + h // 9 + w // 7 + n) % classes
    return y


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data"))
    args = parser.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(1234)

    model = SegResNet(**CONFIG)
    # Move GroupNorm affine parameters away from 1 and 0 so that the test
    # would notice if they were ignored.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1 and not name.startswith("conv_final.2"):
                base = 1.0 if name.endswith("weight") else 0.0
                p.copy_(base + 0.2 * torch.randn_like(p))
    state = collections.OrderedDict(
        (k, v.detach().clone()) for k, v in model.state_dict().items())
    os.makedirs(args.out, exist_ok=True)
    torch.save(state, os.path.join(args.out, "segresnet_ref_weights.pt"))

    values = collections.OrderedDict()
    x1 = make_input(1)
    model.eval()
    with torch.no_grad():
        values["logits_b1"] = model(x1).float().contiguous()

    x2 = make_input(2)
    y2 = make_label(2)
    dice_ce = DiceCELoss(to_onehot_y=True, softmax=True)
    model.train()
    model.zero_grad()
    logits2 = model(x2)
    loss = dice_ce(logits2, y2)
    loss.backward()
    values["loss_b2"] = loss.detach().reshape(1).float()
    values["dice_b2"] = dice_ce.dice(logits2, y2).detach().reshape(1).float()
    values["ce_b2"] = dice_ce.ce(logits2, y2).detach().reshape(1).float()
    for name, p in model.named_parameters():
        values["grad." + name] = p.grad.detach().clone().contiguous()

    model.load_state_dict(state)
    optimizer = torch.optim.AdamW(model.parameters(), lr=ADAMW_LR,
                                  weight_decay=ADAMW_WEIGHT_DECAY)
    losses = []
    for _ in range(ADAMW_STEPS):
        optimizer.zero_grad()
        step_loss = dice_ce(model(x2), y2)
        step_loss.backward()
        optimizer.step()
        losses.append(float(step_loss))
    with torch.no_grad():
        losses.append(float(dice_ce(model(x2), y2)))
    values["adamw_losses"] = torch.tensor(losses, dtype=torch.float32)
    # Adam divides each gradient coordinate by its own magnitude, so tiny
    # float differences in near-zero gradients are amplified: at lr 1e-3 torch
    # itself differs by 2e-4 between 1 and 2 threads after 5 steps; at the
    # bundle's 1e-4 its f32 trajectory stays within 2e-6 of float64.
    torch.save(values, os.path.join(args.out, "segresnet_ref_values.pt"))
    print("loss_b2 %.8f dice %.8f ce %.8f" % (values["loss_b2"].item(),
          values["dice_b2"].item(), values["ce_b2"].item()))
    print("adamw losses", " ".join("%.8f" % v for v in losses))
    print("logits range %.6f .. %.6f" % (values["logits_b1"].min().item(),
                                          values["logits_b1"].max().item()))


if __name__ == "__main__":
    main()
