#!/usr/bin/python3
"""Writes tests/data/adamw_reference.bin: a few steps of torch.optim.AdamW
(the single-tensor implementation, foreach=False) on a flat float32
parameter vector with given gradients.

Run with Debian's interpreter, from the repository root:
    /usr/bin/python3 tools/make_adamw_reference.py

File format (little-endian):
    magic     8 bytes  b"SEGCADW1"
    version   int32    1
    count     int32    parameters
    steps     int32    optimizer steps
    lr, beta1, beta2, eps, weight_decay   5 x float64
    params    count float32   initial parameters
    per step:
        grads   count float32   the gradient given to this step
        params  count float32   the parameters after this step
    exp_avg     count float32   m after the last step
    exp_avg_sq  count float32   v after the last step
"""
import os
import struct
import sys

import torch

MAGIC = b"SEGCADW1"
VERSION = 1


def main():
    torch.set_num_threads(1)
    count, steps = 256, 5
    lr, beta1, beta2, eps, weight_decay = 1e-3, 0.9, 0.999, 1e-8, 1e-2
    gen = torch.Generator().manual_seed(5)
    params = torch.randn(count, generator=gen).float()
    param = torch.nn.Parameter(params.clone())
    opt = torch.optim.AdamW([param], lr=lr, betas=(beta1, beta2), eps=eps,
                            weight_decay=weight_decay, foreach=False)
    chunks = [MAGIC,
              struct.pack("<3i5d", VERSION, count, steps, lr, beta1, beta2,
                          eps, weight_decay),
              params.numpy().astype("<f4").tobytes()]
    for step in range(steps):
        grad = torch.randn(count, generator=gen).float()
        # Some gradients are tiny, so that sqrt(v) is of the order of eps and
        # where eps is added matters; a few are exactly zero.
        grad[:32] *= 1e-8
        grad[32:40] = 0.0
        grad[40:48] *= 100.0
        param.grad = grad.clone()
        opt.step()
        chunks.append(grad.numpy().astype("<f4").tobytes())
        chunks.append(param.detach().numpy().astype("<f4").tobytes())
    state = opt.state[param]
    chunks.append(state["exp_avg"].numpy().astype("<f4").tobytes())
    chunks.append(state["exp_avg_sq"].numpy().astype("<f4").tobytes())
    data = b"".join(chunks)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = os.path.join(root, "tests", "data", "adamw_reference.bin")
    with open(out, "wb") as f:
        f.write(data)
    print(f"wrote {out} ({len(data)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
