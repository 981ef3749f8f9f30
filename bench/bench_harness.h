// The benchmarks' one timing harness: run an operation after warm-ups a
// number of times (optionally each run preceded by a baseline job, such as
// a memcpy, timed on its own so that both see the same noisy machine), and
// the median of the times. Every segbench command that times repeated runs
// uses it, so "median of R runs after a warm-up" means the same everywhere.
#ifndef SEGC_BENCH_BENCH_HARNESS_H
#define SEGC_BENCH_BENCH_HARNESS_H

#include <stdbool.h>

#include "core/status.h"
#include "core/tensor.h"

// One run of what is timed. `run` counts from 0; warm-ups get negative
// numbers. The harness times the call; a function that measures a narrower
// span itself (the trainer reports its step time) stores it in *seconds
// (left negative, the harness's time is kept).
typedef segc_status (*bench_timed_fn)(void *context, int run,
                                      double *seconds);

typedef struct {
  bench_timed_fn fn;
  void *context;
} bench_timed_job;

// `warmups` untimed runs, then `repeat` timed ones into seconds[0..repeat).
segc_status bench_time(bench_timed_job job, int warmups, int repeat,
                       double *seconds);

// As bench_time, with `baseline` run (and timed, into baseline_seconds)
// right before every run of `job`, warm-ups included.
segc_status bench_time_paired(bench_timed_job job, bench_timed_job baseline,
                              int warmups, int repeat, double *seconds,
                              double *baseline_seconds);

// Sorts values[0..count) in place, ascending.
void bench_sort(double *values, int count);
// The median of values[0..count) (the mean of the two middle values for an
// even count); sorts them in place.
double bench_median(double *values, int count);

// --device NAME for the benchmarks: "cpu", "cuda" or "auto", resolved as the
// config's `device` is (segc_config_device): cuda is refused with the
// supports table's message where this build has no CUDA kernels.
// Whether `name` is one item of a comma-separated list ("f32,bf16").
bool bench_listed(const char *list, const char *name);

segc_status bench_parse_device(const char *name, segc_device *device);

#endif
