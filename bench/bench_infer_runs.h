// segbench infer's runs: seginfer and MONAI's pipeline (tools/monai_infer.py)
// as subprocesses, so that each run's peak RSS is its own, and what they
// report.
#ifndef SEGC_BENCH_BENCH_INFER_RUNS_H
#define SEGC_BENCH_BENCH_INFER_RUNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

// What one run reports (seginfer --report JSON or monai_infer.py's JSON).
typedef struct {
  bool ok;
  double total, pre, inferer, invert, post, write;  // seconds
  int windows;                  // seginfer only
  double peak_rss_bytes;
  int64_t input_shape[3], network_grid[3];
  char label_path[4096];
  char note[1536];              // why it was skipped or failed
} bench_run;

typedef struct {
  char bin_dir[4096];           // seginfer, segprep
  char tools_dir[4096];         // monai_infer.py
  char cache[1024];
  char weights[4096];
  int threads;
  char device[16];              // seginfer's --set device= (cpu, cuda, auto)
} bench_setup;

// The folder holding this executable (/proc/self/exe).
segc_status bench_exe_dir(char *dir, size_t size);

// Creates the bundle-shaped random SegResNet checkpoint unless present.
segc_status bench_ensure_weights(const char *path, uint64_t seed);
// Creates the 512x512x397 resample of `source` with segprep unless present.
segc_status bench_ensure_resampled(const bench_setup *setup, const char *source,
                                   const char *path);

// seginfer on `input` at pixdim 3.0 (lowres) or 1.5, compute dtype `dtype`.
void bench_run_seginfer(const bench_setup *setup, const char *input,
                        const char *tag, bool lowres, const char *dtype,
                        bench_run *run);
// MONAI's pipeline; skipped (run->ok false, note set) when MONAI does not
// import or the machine lacks the memory it would need.
void bench_run_monai(const bench_setup *setup, const char *input,
                     const char *tag, bool lowres, const int64_t network_grid[3],
                     const int64_t input_shape[3], bench_run *run);
bool bench_monai_available(void);

// Fraction of voxels with equal labels (-1 when they cannot be compared).
double bench_label_agreement(const char *a, const char *b);

#endif
