#include "bench/bench_membound.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/parallel.h"

static int compare_doubles(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(const double *values, int n) {
  double sorted[SEGC_BENCH_MAX_REPEAT];
  memcpy(sorted, values, sizeof(double) * (size_t)n);
  qsort(sorted, (size_t)n, sizeof *sorted, compare_doubles);
  return n % 2 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
}

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

segc_status bench_measure(const bench_options *o, bench_fn fn, void *context,
                          const copy_job *copy, timings *t) {
  for (int r = -1; r < o->repeat; ++r) {
    double start = segc_now();
    parallel_copy(copy->copy_dst, copy->copy_src, copy->copy_bytes);
    const double copy_time = segc_now() - start;
    start = segc_now();
    SEGC_TRY(fn(context));
    if (r >= 0) {
      t->op[r] = segc_now() - start;
      t->copy[r] = copy_time;
    }
  }
  return SEGC_OK;
}

void bench_report(const bench_options *o, const char *what, const timings *t,
                  double op_bytes, double copy_bytes) {
  double ratio[SEGC_BENCH_MAX_REPEAT];
  for (int r = 0; r < o->repeat; ++r)
    ratio[r] = t->op[r] / t->copy[r];
  const double op = median(t->op, o->repeat);
  const double copy = median(t->copy, o->repeat);
  printf("  %-36s %8.2f ms %6.1f GB/s | memcpy %6.2f ms %6.1f GB/s | "
         "ratio %5.2f (memory speed %4.2f)\n",
         what, 1e3 * op, op_bytes / op / 1e9, 1e3 * copy,
         2.0 * copy_bytes / copy / 1e9, median(ratio, o->repeat),
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
      segc_graph_init(&env->graph, &env->activations, &env->scratch, 1 << 20) !=
          SEGC_OK) {
    fprintf(stderr, "segbench %s: error: %s\n", o->command,
            env->copy_buffer ? segc_error_message() : "out of memory");
    return 1;
  }
  return 0;
}

void bench_env_destroy(bench_env *env) {
  segc_graph_destroy(&env->graph);
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
