#include "core/parallel.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void segc_set_threads(int threads) {
  if (threads > 0) omp_set_num_threads(threads);
}

int segc_threads(void) { return omp_get_max_threads(); }

double segc_sum_f32(const float *x, int64_t n) {
  const int64_t chunks = segc_chunk_count(n, SEGC_REDUCE_CHUNK);
  if (chunks <= 1) {
    double s = 0.0;
    for (int64_t i = 0; i < n; ++i) s += x[i];
    return s;
  }
  double stack_partial[256];
  double *partial = chunks <= 256 ? stack_partial
                                  : malloc(sizeof(double) * (size_t)chunks);
  if (!partial) {  // fall back to a serial sum in the same chunk order
    double total = 0.0;
    for (int64_t c = 0; c < chunks; ++c) {
      double s = 0.0;
      int64_t end = (c + 1) * SEGC_REDUCE_CHUNK < n ? (c + 1) * SEGC_REDUCE_CHUNK : n;
      for (int64_t i = c * SEGC_REDUCE_CHUNK; i < end; ++i) s += x[i];
      total += s;
    }
    return total;
  }
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < chunks; ++c) {
    double s = 0.0;
    int64_t end = (c + 1) * SEGC_REDUCE_CHUNK < n ? (c + 1) * SEGC_REDUCE_CHUNK : n;
    for (int64_t i = c * SEGC_REDUCE_CHUNK; i < end; ++i) s += x[i];
    partial[c] = s;
  }
  double total = 0.0;
  for (int64_t c = 0; c < chunks; ++c) total += partial[c];
  if (partial != stack_partial) free(partial);
  return total;
}

double segc_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static size_t read_status_kb(const char *key) {
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) return 0;
  char line[256];
  size_t kb = 0;
  const size_t key_len = strlen(key);
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, key, key_len) == 0) {
      kb = (size_t)strtoull(line + key_len, NULL, 10);
      break;
    }
  }
  fclose(f);
  return kb * 1024;
}

size_t segc_peak_rss_bytes(void) { return read_status_kb("VmHWM:"); }
size_t segc_current_rss_bytes(void) { return read_status_kb("VmRSS:"); }
