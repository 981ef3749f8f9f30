#!/usr/bin/python3
"""Writes the small torch.save fixtures that tests/test_checkpoint_pt.c reads.

Run with Debian's interpreter (it has torch 1.13):
    /usr/bin/python3 tools/make_checkpoint_fixtures.py [out_dir]
Default out_dir: tests/data/checkpoints. Besides the .pt files it writes
expected.json: for every fixture either the tensors the C reader must return
(key, dtype, shape and the raw bits of every element, row-major, after
gathering views) or the error it must report.
"""
import collections
import json
import os
import sys

import torch


def bits_of(tensor):
    """Raw IEEE bits of every element, row-major, as unsigned ints."""
    t = tensor.detach().contiguous().reshape(-1)
    if t.dtype == torch.float32:
        return [v & 0xFFFFFFFF for v in t.view(torch.int32).tolist()]
    if t.dtype in (torch.float16, torch.bfloat16):
        return [v & 0xFFFF for v in t.view(torch.int16).tolist()]
    raise ValueError(f"no bits for {t.dtype}")


DTYPE_NAMES = {torch.float32: "f32", torch.float16: "f16", torch.bfloat16: "bf16"}


def describe(state_dict):
    return [{"name": k, "dtype": DTYPE_NAMES[v.dtype], "shape": list(v.shape),
             "bits": bits_of(v)} for k, v in state_dict.items()]


class TinyNet(torch.nn.Module):
    """Layers shaped like SegResNet's (5D conv weight, group norm) plus a linear."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv3d(2, 4, kernel_size=3)
        self.norm = torch.nn.GroupNorm(2, 4)
        self.fc = torch.nn.Linear(4, 3)


def plain_f32():
    # A real module's state dict: an OrderedDict carrying `_metadata`, which
    # torch.save writes with BUILD.
    sd = TinyNet().state_dict()
    sd["scale"] = torch.tensor(0.125)  # 0-dim
    sd["specials"] = torch.tensor([float("inf"), float("-inf"), float("nan"),
                                   -0.0, 1e-45, 3.4028235e38, -1.5])
    sd["empty"] = torch.zeros(0, 3)
    sd["eight_dims"] = torch.randn(1, 2, 1, 2, 1, 2, 1, 2)
    return sd


def half_types():
    sd = collections.OrderedDict()
    sd["f16.weight"] = torch.randn(3, 2, 2).half()
    sd["f16.specials"] = torch.tensor([65504.0, 6e-8, float("inf"), -0.0,
                                        float("nan")], dtype=torch.float16)
    sd["bf16.weight"] = torch.randn(2, 5).bfloat16()
    sd["bf16.scalar"] = torch.tensor(-2.75, dtype=torch.bfloat16)
    sd["f32.bias"] = torch.randn(5)
    return sd


def views():
    # torch.save keeps a view's whole storage plus its offset and strides.
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6) * 0.5
    conv = torch.randn(3, 2, 2, 2, 2)
    sd = collections.OrderedDict()
    sd["transposed"] = base.t()                      # strides (1, 6)
    sd["row_slice"] = base[1, 1:4]                   # offset 7
    sd["every_other"] = base[1:, ::2]                # offset 6, strides (6, 2)
    sd["broadcast"] = torch.arange(3.0).expand(2, 3)  # stride 0
    sd["permuted"] = conv.permute(4, 2, 0, 3, 1)     # 5D, all strides shuffled
    sd["base"] = base                                # shares storage with views
    return sd


def wrapped():
    # MONAI CheckpointLoader style: {"model": state_dict, ...}; the optimizer
    # state (after one AdamW step it holds tensors too) must be ignored.
    net = TinyNet()
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4, weight_decay=1e-5)
    loss = sum(p.sum() for p in net.parameters())
    loss.backward()
    opt.step()
    return {"model": net.state_dict(), "optimizer": opt.state_dict(),
            "epoch": 7, "best_metric": 0.8125, "note": "segc fixture"}


def protocol4():
    # torch.save(..., pickle_protocol=4): FRAME, MEMOIZE, STACK_GLOBAL and
    # SHORT_BINUNICODE instead of protocol 2's opcodes; a key of 300
    # characters is written with BINUNICODE.
    sd = TinyNet().state_dict()
    sd["half.weight"] = torch.randn(2, 3).half()
    sd["k" * 300] = torch.randn(2)
    return sd


def protocol5_wrapped():
    # Protocol 5 with the other values a wrapped checkpoint may carry beside
    # the model: bytes (SHORT_BINBYTES), sets (EMPTY_SET, ADDITEMS), a
    # frozenset, a long string and the optimizer's state.
    obj = wrapped()
    obj["raw"] = bytes(range(8))
    obj["classes"] = {1, 2, 3}
    obj["frozen"] = frozenset({"liver"})
    obj["long_note"] = "n" * 300
    return obj


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "tests/data/checkpoints"
    os.makedirs(out_dir, exist_ok=True)
    torch.manual_seed(20240607)
    expected = collections.OrderedDict()

    def save(name, obj, tensors, **kwargs):
        torch.save(obj, os.path.join(out_dir, name), **kwargs)
        expected[name] = {"tensors": describe(tensors)}

    sd = plain_f32()
    save("plain_f32.pt", sd, sd)
    sd = half_types()
    save("half_types.pt", sd, sd)
    sd = views()
    save("views.pt", sd, sd)
    obj = wrapped()
    save("wrapped.pt", obj, obj["model"])
    sd = protocol4()
    save("protocol4.pt", sd, sd, pickle_protocol=4)
    obj = protocol5_wrapped()
    save("protocol5_wrapped.pt", obj, obj["model"], pickle_protocol=5)

    # The legacy format embeds storage ids, so its bytes change on every run.
    legacy = collections.OrderedDict(weight=torch.ones(2, 2))
    torch.save(legacy, os.path.join(out_dir, "legacy.pt"),
               _use_new_zipfile_serialization=False)
    expected["legacy.pt"] = {"error": "legacy torch.save format"}

    doubles = collections.OrderedDict()
    doubles["ok.weight"] = torch.ones(2)
    doubles["double.weight"] = torch.ones(2, dtype=torch.float64)
    torch.save(doubles, os.path.join(out_dir, "float64.pt"))
    expected["float64.pt"] = {"error": "tensor 'double.weight': dtype float64"}

    # One tensor a line keeps the file small and its diffs readable.
    lines = []
    for name, entry in expected.items():
        if "error" in entry:
            lines.append(f" {json.dumps(name)}: {json.dumps(entry)}")
            continue
        tensors = ",\n   ".join(json.dumps(t, separators=(",", ":"))
                                for t in entry["tensors"])
        lines.append(f" {json.dumps(name)}: {{\"tensors\": [\n   {tensors}]}}")
    with open(os.path.join(out_dir, "expected.json"), "w") as f:
        f.write("{\n" + ",\n".join(lines) + "\n}\n")
    total = sum(os.path.getsize(os.path.join(out_dir, n))
                for n in os.listdir(out_dir))
    print(f"wrote {len(expected)} fixtures to {out_dir} ({total} bytes)")


if __name__ == "__main__":
    main()
