// segbench peers (bench/bench_peers.c) and its segc side
// (bench/bench_peers_segc.c): what both need to agree on.
#ifndef SEGC_BENCH_BENCH_PEERS_H
#define SEGC_BENCH_BENCH_PEERS_H

#include <stdint.h>

#include "core/status.h"

// Writes the exchange files into `dir`: weights.pt (a bundle-shaped
// SegResNet with `init_filters` and `out_channels`, random weights of a fixed
// seed, as MONAI loads it) and input.f32 (one size^3 window, float32, D H W
// order, the formula segbench forward uses). *gflop is the forward's work.
segc_status bench_peers_write_inputs(const char *dir, int init_filters,
                                     int out_channels, int size, double *gflop);

// The worker's command line, for the parent to spawn:
//   segbench peers-segc-worker DIR DTYPE SIZE REPEAT THREADS
// loads DIR/weights.pt and DIR/input.f32, times REPEAT forwards (median,
// after one warm-up) in DTYPE, writes DIR/labels_segc_DTYPE.u8 (the argmax
// of the last forward's logits, uint8, D H W order) and prints
// "seconds <median> peak_rss <bytes> segc" (its VmHWM).
int segc_bench_peers_segc_worker(int argc, char **argv);

#endif
