// Threads (OpenMP, the same pool oneDNN uses) and reductions whose result does
// not depend on the thread count: work is cut into chunks of a fixed size, each
// chunk is summed on its own, and the partial sums are combined in chunk order.
#ifndef SEGC_CORE_PARALLEL_H
#define SEGC_CORE_PARALLEL_H

#include <stddef.h>
#include <stdint.h>

// Sets the number of threads for segc and oneDNN (0 keeps the default).
void segc_set_threads(int threads);
int segc_threads(void);

// Elements per chunk in fixed-order reductions. A constant, never derived from
// the thread count.
enum { SEGC_REDUCE_CHUNK = 4096 };

static inline int64_t segc_chunk_count(int64_t n, int64_t chunk) {
  return (n + chunk - 1) / chunk;
}

// Sum of n floats, in double, in fixed chunk order.
double segc_sum_f32(const float *x, int64_t n);

// Monotonic wall clock in seconds.
double segc_now(void);

// Peak resident set size of this process in bytes (VmHWM), 0 if unknown.
size_t segc_peak_rss_bytes(void);
// Current resident set size in bytes (VmRSS), 0 if unknown.
size_t segc_current_rss_bytes(void);

#endif
