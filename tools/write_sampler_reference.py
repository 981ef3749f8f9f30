#!/usr/bin/python3
"""Writes tests/data/distributed_sampler_ref.txt: the index lists of
torch.utils.data.DistributedSampler and of MONAI's DistributedSampler, for
tests/test_distributed_sampler.c.

Run with Debian's interpreter (torch 1.13):
    /usr/bin/python3 tools/write_sampler_reference.py \
        [--out tests/data/distributed_sampler_ref.txt]

Tails (data/distributed_sampler.h):
  pad        torch's DistributedSampler, drop_last=False (MONAI
             even_divisible=True is exactly this).
  drop_last  torch's DistributedSampler, drop_last=True.
  uneven     MONAI's DistributedSampler(even_divisible=False). When monai is
             importable its class is used; otherwise the subclass below
             restates MONAI 1.4's constructor (monai/data/samplers.py) on top
             of torch's sampler, whose own __iter__ then makes the lists.
The header line says which one made the file.

Lines:
  case <tail> <n> <world> <rank> <seed> <epoch> <shuffle> <count> <i0> <i1> ...
  refused <tail> <n> <world> <rank> <seed> <epoch> <shuffle>  (ValueError)
  end <number of case and refused lines>
Seeds are written as the uint64 torch's manual_seed keeps (a negative seed
s as 2**64 + s).
"""
import argparse

import torch
from torch.utils.data import DistributedSampler as TorchDistributedSampler

try:
    from monai.data import DistributedSampler as MonaiDistributedSampler
    MONAI_SOURCE = "monai " + __import__("monai").__version__
except ImportError:
    MONAI_SOURCE = None

    class MonaiDistributedSampler(TorchDistributedSampler):
        """MONAI 1.4's DistributedSampler.__init__, restated (monai absent)."""

        def __init__(self, dataset, even_divisible=True, num_replicas=None,
                     rank=None, shuffle=True, **kwargs):
            super().__init__(dataset=dataset, num_replicas=num_replicas,
                             rank=rank, shuffle=shuffle, **kwargs)
            if not even_divisible:
                data_len = len(dataset)
                if data_len < self.num_replicas:
                    raise ValueError("the dataset length is less than the "
                                     "number of participating ranks.")
                extra_size = self.total_size - data_len
                if self.rank + extra_size >= self.num_replicas:
                    self.num_samples -= 1
                self.total_size = data_len

TAILS = ("pad", "drop_last", "uneven")
SMALL_N = (1, 2, 3, 4, 5, 7, 8, 13)
WORLDS = (1, 2, 3, 4)
SEEDS = (0, 123)
EPOCHS = (0, 1, 2)


def make_sampler(tail, n, world, rank, seed, shuffle):
    dataset = range(n)
    if tail == "uneven":
        return MonaiDistributedSampler(dataset, even_divisible=False,
                                       num_replicas=world, rank=rank,
                                       shuffle=shuffle, seed=seed)
    return TorchDistributedSampler(dataset, num_replicas=world, rank=rank,
                                   shuffle=shuffle, seed=seed,
                                   drop_last=tail == "drop_last")


def record(lines, tail, n, world, rank, seed, epoch, shuffle):
    key = "%s %d %d %d %d %d %d" % (tail, n, world, rank, seed % 2**64, epoch,
                                    int(shuffle))
    try:
        sampler = make_sampler(tail, n, world, rank, seed, shuffle)
    except ValueError:
        lines.append("refused " + key)
        return
    sampler.set_epoch(epoch)
    indices = list(sampler)
    assert len(indices) == len(sampler)
    lines.append("case %s %d %s" % (key, len(indices),
                                    " ".join(str(i) for i in indices)))


def all_cases():
    for tail in TAILS:
        for n in SMALL_N:
            for world in WORLDS:
                for rank in range(world):
                    yield tail, n, world, rank, 0, 0, False
                    for seed in SEEDS:
                        for epoch in EPOCHS:
                            yield tail, n, world, rank, seed, epoch, True
    # torch's manual_seed keeps the low 32 bits of the seed as a uint64:
    # -3 is 2**64 - 3, and 2**32 + 7 shuffles as 7 does.
    for seed in (-3, 2**32 + 7, 7):
        for rank in range(2):
            for epoch in EPOCHS:
                yield "pad", 10, 2, rank, seed, epoch, True
    # Padding longer than the order: it is repeated more than once.
    for n, world in ((2, 7), (3, 8)):
        for tail in TAILS:
            for rank in range(world):
                yield tail, n, world, rank, 123, 1, True
    # More than 624 draws: the generator's state is regenerated mid-shuffle.
    for world in (1, 3):
        for rank in range(world):
            yield "pad", 1000, world, rank, 5, 1, True


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="tests/data/distributed_sampler_ref.txt")
    args = parser.parse_args()
    lines = []
    for case in all_cases():
        record(lines, *case)
    uneven_from = MONAI_SOURCE or "MONAI 1.4's constructor restated (monai absent)"
    with open(args.out, "w") as out:
        out.write("# torch %s DistributedSampler; uneven: %s; made by "
                  "tools/write_sampler_reference.py\n"
                  % (torch.__version__, uneven_from))
        out.write("\n".join(lines) + "\n")
        out.write("end %d\n" % len(lines))


if __name__ == "__main__":
    main()
