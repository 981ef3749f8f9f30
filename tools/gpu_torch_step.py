#!/usr/bin/env python3
"""The peer's training step on a GPU, for scripts/gpu_check.sh: MONAI's
SegResNet with the bundle's shape (init_filters 32, blocks_down 1,2,2,4,
blocks_up 1,1,1, 105 outputs, dropout 0.2), DiceCELoss(to_onehot_y, softmax) as train.json has it,
AdamW (lr 1e-4, weight decay 1e-5) under torch.autocast (fp16 with a
GradScaler as the bundle trains, or bf16), random 96^3 crops at --batch.

Prints one line: "torch train-step amp <dtype> batch <b> 96^3: <s> s median
of <n> (<crops/s> crops/s), peak GPU memory <GB> GB". Needs torch with CUDA
and monai (carried as a wheel: scripts/gpu_pack.sh)."""
import argparse
import statistics
import time

import torch
from monai.losses import DiceCELoss
from monai.networks.nets import SegResNet


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dtype", choices=["f16", "bf16"], default="f16")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    device = torch.device("cuda")
    torch.backends.cudnn.benchmark = True
    net = SegResNet(spatial_dims=3, in_channels=1, out_channels=105,
                    init_filters=32, blocks_down=[1, 2, 2, 4],
                    blocks_up=[1, 1, 1], dropout_prob=0.2, norm="group").to(device)
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True)
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-4, weight_decay=1e-5)
    dtype = torch.float16 if args.dtype == "f16" else torch.bfloat16
    scaler = torch.amp.GradScaler("cuda", enabled=args.dtype == "f16")
    generator = torch.Generator(device=device).manual_seed(0)
    shape = (args.batch, 1, args.size, args.size, args.size)
    x = torch.randn(shape, device=device, generator=generator)
    y = torch.randint(0, 105, shape, device=device, generator=generator)

    def step():
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=dtype):
            loss = loss_fn(net(x), y)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    for _ in range(3):  # warm-up: cuDNN's algorithm search
        step()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        step()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    median = statistics.median(times)
    print("torch train-step amp %s batch %d %d^3: %.4f s median of %d "
          "(%.1f crops/s), peak GPU memory %.2f GB (torch %s)"
          % (args.dtype, args.batch, args.size, median, args.repeat,
             args.batch / median, torch.cuda.max_memory_allocated() / 1e9,
             torch.__version__))


if __name__ == "__main__":
    main()
