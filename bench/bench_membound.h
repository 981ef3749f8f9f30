// Timing of memory-bound ops beside a parallel memcpy (segbench groupnorm and
// upsample-add).
//
// Every run of an op is preceded by a parallel memcpy of the op's main
// tensor, so both see the same machine (it is shared and noisy): the table
// gives medians of each and the median of the per-run ratio op/memcpy next
// to the ratio at memory speed (the bytes the op must move over the bytes
// memcpy moves). GB/s counts those minimal bytes (each pass reads or writes
// a tensor once).
#ifndef SEGC_BENCH_BENCH_MEMBOUND_H
#define SEGC_BENCH_BENCH_MEMBOUND_H

#include <stddef.h>
#include <stdio.h>

#include "autograd/graph.h"
#include "core/arena.h"

enum { SEGC_BENCH_MAX_REPEAT = 101 };

typedef struct {
  const char *command; // the sub-command, for messages
  int threads, repeat;
} bench_options;

// What one measurement runs, and the memcpy that precedes each run.
typedef segc_status (*bench_fn)(void *context);

typedef struct {
  void *copy_dst;
  const void *copy_src;
  size_t copy_bytes;
} copy_job;

typedef struct {
  double op[SEGC_BENCH_MAX_REPEAT], copy[SEGC_BENCH_MAX_REPEAT];
} timings;

// One warm-up run, then `repeat` pairs (memcpy, op).
segc_status bench_measure(const bench_options *o, bench_fn fn, void *context,
                          const copy_job *copy, timings *t);

// One table row. `op_bytes`: what the op must move; memcpy moves
// 2 * copy_bytes.
void bench_report(const bench_options *o, const char *what, const timings *t,
                  double op_bytes, double copy_bytes);

// Returns 1 from the calling function with the error when `call` fails.
#define BENCH_TRY(o, call)                                                     \
  do {                                                                         \
    if ((call) != SEGC_OK) {                                                   \
      fprintf(stderr, "segbench %s: error: %s\n", (o)->command,                \
              segc_error_message());                                           \
      return 1;                                                                \
    }                                                                          \
  } while (0)

// Fills a tensor with values in [-1, 2) (a fixed pattern, no RNG cost).
void bench_fill(segc_tensor *t);

typedef struct {
  segc_arena activations, scratch;
  segc_backend_context context;
  segc_graph graph;
  void *copy_buffer; // memcpy destination, as large as the largest tensor
} bench_env;

// 0, or 1 after printing the error.
int bench_env_init(const bench_options *o, bench_env *env,
                   size_t activation_bytes, size_t copy_bytes);
void bench_env_destroy(bench_env *env);

// A tape entry's backward, run on a filled output gradient; dx is stored
// (not accumulated) every time.
typedef struct {
  segc_graph *graph;
  segc_value *x;
  const segc_tape_entry *entry;
} backward_context;
segc_status bench_run_entry_backward(void *context);

// --threads N (0: the default), --repeat R; 0, or 2 after printing the
// error.
int bench_parse_options(int argc, char **argv, const char *command,
                        bench_options *o);

#endif
