#!/usr/bin/env python3
"""One peer run for `segbench peers`: the bundle's SegResNet forward on one
window, in PyTorch 2 or OpenVINO, on the weights and input segc wrote.

    peers_forward.py --weights W.pt --input X.f32 --size S --run RUN
                     --precision f32|bf16 --threads T --repeat R --labels OUT

RUN is one of
  torch-eager          PyTorch eager, NCDHW
  torch-channels-last  PyTorch eager, channels_last_3d (model and input)
  openvino             openvino.convert_model of the same module, compiled for
                       the CPU with the LATENCY hint
precision bf16 is autocast(bfloat16) for PyTorch and the bf16 inference
precision hint for OpenVINO.

The network is MONAI's own SegResNet (the bundle's arguments; shapes read from
the checkpoint), loaded with load_state_dict(strict=True). X.f32 is the
window, float32, S^3 values in D, H, W order (batch 1, one channel). After one
warm-up, R forwards are timed; OUT gets the argmax over the classes of the
last one, uint8, S^3 in D, H, W order.

Prints one line on stdout: "seconds <median> peak_rss <bytes> <versions>"
or, where this run cannot be done here, "skipped: <reason>" (exit status 0
both). An error is a non-zero exit with the reason on stderr. segbench runs
each configuration in its own process, so the figures do not mix; the peak
RSS is this process's VmHWM (ru_maxrss would carry segbench's own across the
exec).
"""
import argparse
import os
import statistics
import sys
import time

RUNS = ("torch-eager", "torch-channels-last", "openvino")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--weights", required=True)
    p.add_argument("--input", required=True)
    p.add_argument("--size", type=int, required=True)
    p.add_argument("--run", choices=RUNS, required=True)
    p.add_argument("--precision", choices=("f32", "bf16"), required=True)
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--labels", required=True)
    p.add_argument("--slow-bf16", action="store_true",
                   help="run PyTorch bf16 even where the CPU has no bf16")
    return p.parse_args()


def skip(reason):
    print(f"skipped: {reason}", flush=True)
    sys.exit(0)


def build_network(torch, weights):
    try:
        from monai.networks.nets import SegResNet
    except ImportError as e:
        skip(f"monai is not importable ({e}); run tools/setup_peers.sh")
    state = torch.load(weights, map_location="cpu", weights_only=True)
    blocks_down, level = [], 0
    while any(k.startswith(f"down_layers.{level}.") for k in state):
        blocks_down.append(sum(
            1 for k in state
            if k.startswith(f"down_layers.{level}.") and k.endswith(".norm1.weight")))
        level += 1
    blocks_up = []
    while any(k.startswith(f"up_layers.{len(blocks_up)}.") for k in state):
        prefix = f"up_layers.{len(blocks_up)}."
        blocks_up.append(sum(
            1 for k in state if k.startswith(prefix) and k.endswith(".norm1.weight")))
    init = state["convInit.conv.weight"]
    final = state["conv_final.2.conv.weight"]
    net = SegResNet(spatial_dims=3, init_filters=init.shape[0],
                    in_channels=init.shape[1], out_channels=final.shape[0],
                    blocks_down=blocks_down, blocks_up=blocks_up,
                    dropout_prob=0.2)
    net.load_state_dict(state, strict=True)
    return net.eval()


def read_input(torch, path, size):
    import numpy as np
    x = np.fromfile(path, dtype=np.float32)
    if x.size != size ** 3:
        sys.exit(f"peers_forward: error: {path} holds {x.size} floats, "
                 f"expected {size ** 3}")
    return torch.from_numpy(x.reshape(1, 1, size, size, size).copy())


def time_runs(forward, repeat):
    forward()  # warm-up: oneDNN primitive creation, OpenVINO's first infer
    seconds, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = forward()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds), out


def run_torch(torch, args, net, x):
    # Without bf16 instructions autocast falls back to a reference
    # convolution (on an AVX2 EPYC, 197 s against 4.6 s for f32 at 32^3):
    # not a figure anyone would run, and it would take hours at 96^3.
    if (args.precision == "bf16" and not args.slow_bf16
            and not torch.ops.mkldnn._is_mkldnn_bf16_supported()):
        skip("oneDNN has no bf16 on this CPU (PyTorch's autocast would fall "
             "back to a reference convolution, ~40x slower than f32)")
    if args.run == "torch-channels-last":
        net = net.to(memory_format=torch.channels_last_3d)
        x = x.contiguous(memory_format=torch.channels_last_3d)

    def forward():
        with torch.inference_mode(), torch.autocast(
                "cpu", dtype=torch.bfloat16, enabled=args.precision == "bf16"):
            return net(x)

    median, out = time_runs(forward, args.repeat)
    return median, out.float().argmax(dim=1), f"torch {torch.__version__}"


def run_openvino(torch, args, net, x):
    try:
        import openvino as ov
    except ImportError as e:
        skip(f"openvino is not importable ({e}); run tools/setup_peers.sh")
    core = ov.Core()
    capabilities = core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    if args.precision == "bf16" and "BF16" not in capabilities:
        skip("OpenVINO's CPU plugin has no bf16 here (capabilities "
             + " ".join(capabilities) + ")")
    with torch.no_grad():
        model = ov.convert_model(net, example_input=x)
    compiled = core.compile_model(model, "CPU", {
        "INFERENCE_NUM_THREADS": args.threads,
        "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_PRECISION_HINT": args.precision,
    })
    request = compiled.create_infer_request()
    inputs = {0: x.numpy()}

    def forward():
        request.infer(inputs)
        return request.get_output_tensor(0).data

    median, out = time_runs(forward, args.repeat)
    return median, torch.from_numpy(out.copy()).argmax(dim=1), \
        f"openvino {ov.__version__}"


def peak_rss_bytes():
    """VmHWM of this process (0 where /proc is absent)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def main():
    args = parse_args()
    # The thread count before torch starts its pool (OpenMP reads these once).
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    try:
        import torch
    except ImportError as e:
        skip(f"torch is not importable ({e}); run tools/setup_peers.sh")
    if int(torch.__version__.split(".")[0]) < 2:
        skip(f"torch {torch.__version__} is not PyTorch 2; run tools/setup_peers.sh")
    torch.set_num_threads(args.threads)
    net = build_network(torch, args.weights)
    x = read_input(torch, args.input, args.size)
    if args.run == "openvino":
        median, labels, versions = run_openvino(torch, args, net, x)
    else:
        median, labels, versions = run_torch(torch, args, net, x)
    labels = labels.to(torch.uint8).contiguous().numpy()
    labels.tofile(args.labels)
    print(f"seconds {median:.6f} peak_rss {peak_rss_bytes()} {versions}",
          flush=True)


if __name__ == "__main__":
    main()
