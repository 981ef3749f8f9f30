#!/usr/bin/env python3
"""Reads segc's TensorBoard event files with TensorBoard's own reader and
prints every scalar, to check that TensorBoard accepts what segc writes.

Needs the tensorboard package (not needed by segc itself):
    python3 -m venv /tmp/tbenv && /tmp/tbenv/bin/pip install tensorboard
    /tmp/tbenv/bin/python tools/check_tensorboard.py PATH [PATH...]
PATH is an event file or a folder of them. Exits 1 when a path holds no
scalars.
"""
import sys

from tensorboard.backend.event_processing import event_accumulator


def main(paths):
    status = 0
    for path in paths:
        acc = event_accumulator.EventAccumulator(
            path, size_guidance={event_accumulator.SCALARS: 0})
        acc.Reload()
        tags = acc.Tags()["scalars"]
        print(f"{path}: file_version {acc.file_version!r}, "
              f"scalar tags {sorted(tags)}")
        if not tags:
            status = 1
        for tag in sorted(tags):
            for e in acc.Scalars(tag):
                print(f"  {tag:20s} step {e.step:6d}  value {e.value:.6g}  "
                      f"wall_time {e.wall_time:.3f}")
    return status


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1:]))
