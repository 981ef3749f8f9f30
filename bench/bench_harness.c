#include "bench/bench_harness.h"

#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/parallel.h"

static segc_status timed_call(bench_timed_job job, int run,
                              double *seconds) {
  double own = -1.0;
  const double start = segc_now();
  SEGC_TRY(job.fn(job.context, run, &own));
  const double wall = segc_now() - start;
  *seconds = own >= 0.0 ? own : wall;
  return SEGC_OK;
}

segc_status bench_time_paired(bench_timed_job job, bench_timed_job baseline,
                              int warmups, int repeat, double *seconds,
                              double *baseline_seconds) {
  for (int r = -warmups; r < repeat; ++r) {
    double base = 0.0, t;
    if (baseline.fn) SEGC_TRY(timed_call(baseline, r, &base));
    SEGC_TRY(timed_call(job, r, &t));
    if (r < 0) continue;
    seconds[r] = t;
    if (baseline_seconds) baseline_seconds[r] = base;
  }
  return SEGC_OK;
}

segc_status bench_time(bench_timed_job job, int warmups, int repeat,
                       double *seconds) {
  return bench_time_paired(job, (bench_timed_job){NULL, NULL}, warmups,
                           repeat, seconds, NULL);
}

static int compare_doubles(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

void bench_sort(double *values, int count) {
  qsort(values, (size_t)count, sizeof *values, compare_doubles);
}

double bench_median(double *values, int count) {
  bench_sort(values, count);
  return count % 2 ? values[count / 2]
                   : 0.5 * (values[count / 2 - 1] + values[count / 2]);
}

segc_status bench_parse_device(const char *name, segc_device *device) {
  segc_config config;
  segc_config_defaults(&config);
  if (!strcmp(name, "cpu")) config.device = SEGC_RUN_ON_CPU;
  else if (!strcmp(name, "cuda")) config.device = SEGC_RUN_ON_CUDA;
  else if (!strcmp(name, "auto")) config.device = SEGC_RUN_ON_AUTO;
  else
    return SEGC_FAIL(SEGC_ERR_INVALID, "--device: unknown %s (cpu, cuda, auto)",
                     name);
  return segc_config_device(&config, device);
}

bool bench_listed(const char *list, const char *name) {
  const size_t n = strlen(name);
  for (const char *p = list; (p = strstr(p, name)) != NULL; p += n)
    if ((p == list || p[-1] == ',') && (p[n] == '\0' || p[n] == ','))
      return true;
  return false;
}
