#!/usr/bin/python3
"""Checks that PyTorch loads a checkpoint segc wrote.

    /usr/bin/python3 tools/check_checkpoint_loads.py FILE.pt EXPECTED.json

torch.load's FILE.pt (weights only, on the CPU), prints every key with its
dtype and shape, compares every element bit for bit with EXPECTED.json (the
format tools/make_checkpoint_fixtures.py writes: {"tensors": [{"name",
"dtype", "shape", "bits"}]}; tests/test_checkpoint_pt.c writes one beside
each file when run with SEGC_KEEP_TEST_FILES=1), then builds a torch module
whose parameters have exactly these keys and shapes and loads the state dict
into it with load_state_dict(strict=True). Exit status 0 only if all of it
holds.
"""
import collections
import json
import sys
import zipfile

import torch

DTYPES = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}


def bits_of(tensor):
    t = tensor.detach().contiguous().reshape(-1)
    view = torch.int32 if t.dtype == torch.float32 else torch.int16
    mask = 0xFFFFFFFF if t.dtype == torch.float32 else 0xFFFF
    return [v & mask for v in t.view(view).tolist()]


class KeyedModule(torch.nn.Module):
    """A module tree whose parameters are named by dotted state-dict keys."""

    def __init__(self, shapes):
        super().__init__()
        for key, (shape, dtype) in shapes.items():
            owner = self
            *path, leaf = key.split(".")
            for part in path:
                if part not in owner._modules:
                    owner.add_module(part, torch.nn.Module())
                owner = owner._modules[part]
            owner.register_parameter(
                leaf, torch.nn.Parameter(torch.full(shape, float("nan"), dtype=dtype)))


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    path, expected_path = sys.argv[1], sys.argv[2]
    # A second, independent zip reader checks the container and every CRC-32.
    with zipfile.ZipFile(path) as archive:
        bad = archive.testzip()
        names = archive.namelist()
    print(f"zipfile: {len(names)} records, CRC-32s "
          f"{'ok' if bad is None else 'WRONG in ' + bad}")
    if bad is not None:
        sys.exit(1)
    print(f"torch {torch.__version__}: loading {path}")
    state = torch.load(path, map_location="cpu")
    if not isinstance(state, collections.OrderedDict):
        sys.exit(f"FAIL: torch.load gave a {type(state).__name__}, not an OrderedDict")
    with open(expected_path) as f:
        expected = json.load(f)["tensors"]
    failures = 0
    if list(state.keys()) != [t["name"] for t in expected]:
        print("FAIL: keys or their order differ from", expected_path)
        failures += 1
    for want in expected:
        name = want["name"]
        got = state.get(name)
        if got is None:
            continue
        ok = (got.dtype == DTYPES[want["dtype"]] and list(got.shape) == want["shape"]
              and got.is_contiguous() and bits_of(got) == want["bits"])
        failures += not ok
        print(f"  {'ok  ' if ok else 'FAIL'} {name}: {str(got.dtype)[6:]} "
              f"{tuple(got.shape)}")

    module = KeyedModule({k: (tuple(v.shape), v.dtype) for k, v in state.items()})
    result = module.load_state_dict(state, strict=True)
    loaded = dict(module.state_dict())
    same = all(loaded[k].dtype == v.dtype and bits_of(loaded[k]) == bits_of(v)
               for k, v in state.items())
    print(f"load_state_dict(strict=True): {result}; parameters equal the file: {same}")
    failures += not same
    print(f"{len(state)} tensors, {failures} failures")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
