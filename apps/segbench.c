// segbench: benchmarks that print figures and ratios (never timed tests).
#include <stdio.h>
#include <string.h>

#include "bench/bench.h"

static void usage(FILE *out) {
  fprintf(out,
          "usage: segbench <what> [options]\n"
          "  conv        SegResNet convolution shapes: forward, backward-data,\n"
          "              backward-weights, f32 and bf16, GFLOP/s; the f32\n"
          "              3x3x3 plan (Winograd or direct) per shape\n"
          "  groupnorm   GroupNorm+ReLU over 32x96^3: GB/s\n"
          "  infer       seginfer end to end (lowres/highres, f32/bf16, example\n"
          "              CT and a 512x512x397 resample) beside MONAI's pipeline\n"
          "  loss        fused DiceCE forward+backward, 4x105x96^3: ms/sample\n"
          "              (--batch --classes --size --dtype f32|bf16\n"
          "               --layout ndhwc|ncdhw)\n"
          "  nifti       NIfTI read/write: example CT, 512x512x400 f32 and u8\n"
          "  transforms  Spacing/inference preprocessing on a 512x512x400 CT\n"
          "  forward     whole SegResNet forward at 96^3: s, GFLOP/s, vs its\n"
          "              convolutions alone (--init-filters --size --dtype --batch;\n"
          "              --algo direct,auto: the CPU convolution algorithms timed\n"
          "              in one process, with the ratio)\n"
          "  peers       the same forward beside PyTorch 2 and OpenVINO (same\n"
          "              weights and input; venv from tools/setup_peers.sh):\n"
          "              s, GFLOP/s, peak RSS, argmax agreement, ratios\n"
          "  train-step  forward + DiceCE + backward + AdamW at batch 1 and 2\n"
          "  train       the same at the bundle's batch 4 and at 2; with\n"
          "              --ranks N: N processes under mpirun against one\n"
          "              (--threads per process, --batch per process)\n"
          "  loader      training loader: crops/s cached and uncached\n"
          "  --threads N (default: all cores)   --repeat N (median of N)\n");
}

int main(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  for (const segc_bench_command *c = segc_bench_commands; c->name; ++c)
    if (!strcmp(argv[1], c->name)) return c->run(argc - 1, argv + 1);
  fprintf(stderr, "segbench: error: unknown benchmark '%s'\n", argv[1]);
  usage(stderr);
  return 2;
}
