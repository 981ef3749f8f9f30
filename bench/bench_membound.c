#include "bench/bench_membound.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench_harness.h"
#include "core/parallel.h"

// A memcpy split over the threads in 1 MiB pieces.
static void parallel_copy(void *dst, const void *src, size_t bytes) {
  const size_t piece = 1u << 20;
  const int64_t pieces = (int64_t)((bytes + piece - 1) / piece);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < pieces; ++i) {
    const size_t at = (size_t)i * piece;
    memcpy((char *)dst + at, (const char *)src + at,
           bytes - at < piece ? bytes - at : piece);
  }
}

typedef struct {
  bench_fn fn;
  void *context;
} op_call;

static segc_status run_op(void *p, int run, double *seconds) {
  (void)run, (void)seconds;
  const op_call *c = p;
  return c->fn(c->context);
}

static segc_status run_copy(void *p, int run, double *seconds) {
  (void)run, (void)seconds;
  const copy_job *c = p;
  parallel_copy(c->copy_dst, c->copy_src, c->copy_bytes);
  return SEGC_OK;
}

// One warm-up, then `repeat` pairs (memcpy, op), through the one harness.
segc_status bench_measure(const bench_options *o, bench_fn fn, void *context,
                          const copy_job *copy, timings *t) {
  op_call call = {fn, context};
  return bench_time_paired((bench_timed_job){run_op, &call},
                           (bench_timed_job){run_copy, (void *)copy}, 1,
                           o->repeat, t->op, t->copy);
}

void bench_report(const bench_options *o, const char *what, const timings *t,
                  double op_bytes, double copy_bytes) {
  double ratio[SEGC_BENCH_MAX_REPEAT], op_times[SEGC_BENCH_MAX_REPEAT],
      copy_times[SEGC_BENCH_MAX_REPEAT];
  for (int r = 0; r < o->repeat; ++r) {
    ratio[r] = t->op[r] / t->copy[r];
    op_times[r] = t->op[r];
    copy_times[r] = t->copy[r];
  }
  // bench_median sorts in place: it gets copies.
  const double op = bench_median(op_times, o->repeat);
  const double copy = bench_median(copy_times, o->repeat);
  printf("  %-36s %8.2f ms %6.1f GB/s | memcpy %6.2f ms %6.1f GB/s | "
         "ratio %5.2f (memory speed %4.2f)\n",
         what, 1e3 * op, op_bytes / op / 1e9, 1e3 * copy,
         2.0 * copy_bytes / copy / 1e9, bench_median(ratio, o->repeat),
         op_bytes / (2.0 * copy_bytes));
}

void bench_fill(segc_tensor *t) {
  const int64_t n = segc_tensor_numel(t);
  for (int64_t i = 0; i < n; ++i)
    segc_store_f32(t->data, t->dtype, (size_t)i,
                   (float)((i * 7919) % 3001) / 1000.0f - 1.0f);
}

int bench_env_init(const bench_options *o, bench_env *env,
                   size_t activation_bytes, size_t copy_bytes) {
  memset(env, 0, sizeof *env);
  env->copy_buffer = malloc(copy_bytes);
  if (!env->copy_buffer ||
      segc_arena_init(&env->activations, "bench activations", activation_bytes,
                      SEGC_DEVICE_CPU) != SEGC_OK ||
      segc_arena_init(&env->scratch, "bench scratch", 256u << 20,
                      SEGC_DEVICE_CPU) != SEGC_OK ||
      segc_backend_context_init(&env->context, SEGC_DEVICE_CPU, &env->scratch) !=
          SEGC_OK ||
      segc_graph_init(&env->graph, &env->context, &env->activations,
                      1 << 20) != SEGC_OK) {
    fprintf(stderr, "segbench %s: error: %s\n", o->command,
            env->copy_buffer ? segc_error_message() : "out of memory");
    return 1;
  }
  return 0;
}

void bench_env_destroy(bench_env *env) {
  segc_graph_destroy(&env->graph);
  segc_backend_context_destroy(&env->context);
  segc_arena_destroy(&env->activations);
  segc_arena_destroy(&env->scratch);
  free(env->copy_buffer);
}

segc_status bench_run_entry_backward(void *p) {
  backward_context *c = p;
  c->x->grad_written = false;
  return c->entry->backward(c->graph, c->entry->saved);
}

int bench_parse_options(int argc, char **argv, const char *command,
                        bench_options *o) {
  o->command = command;
  o->threads = 0;
  o->repeat = 5;
  for (int i = 1; i < argc; ++i) {
    const bool has_value = i + 1 < argc;
    if (!strcmp(argv[i], "--threads") && has_value) {
      o->threads = atoi(argv[++i]);
      if (o->threads <= 0) {
        fprintf(stderr,
                "segbench %s: error: --threads needs a "
                "positive number, got '%s'\n",
                command, argv[i]);
        return 2;
      }
    } else if (!strcmp(argv[i], "--repeat") && has_value) {
      o->repeat = atoi(argv[++i]);
      if (o->repeat <= 0 || o->repeat > SEGC_BENCH_MAX_REPEAT) {
        fprintf(stderr,
                "segbench %s: error: --repeat must be 1..%d, "
                "got '%s'\n",
                command, SEGC_BENCH_MAX_REPEAT, argv[i]);
        return 2;
      }
    } else {
      fprintf(stderr,
              "segbench %s: error: unknown or incomplete "
              "option '%s' (use --threads N, --repeat R)\n",
              command, argv[i]);
      return 2;
    }
  }
  return 0;
}
