// segbench groupnorm: GroupNorm+ReLU forward and backward over a 1x32x96^3
// channels-last tensor (f32 and bf16), the trilinear x2 upsample (64 channels,
// 48^3 -> 96^3, with oneDNN's linear resampling beside it) and the residual
// add at 32x96^3.
//
// Every run of an op is preceded by a parallel memcpy of the op's main
// tensor, so both see the same machine (it is shared and noisy): the table
// gives medians of each and the median of the per-run ratio op/memcpy next
// to the ratio at memory speed (the bytes the op must move over the bytes
// memcpy moves). GB/s counts those minimal bytes (each pass reads or writes
// a tensor once).
#include <math.h>
#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "bench/bench_harness.h"
#include "core/dnnl_context.h"
#include "core/parallel.h"
#include "layers/elementwise.h"
#include "layers/groupnorm.h"
#include "layers/groupnorm_kernels.h"

enum { MAX_REPEAT = 101 };

typedef struct {
  int threads, repeat;
} bench_options;

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

// What one measurement runs, and the memcpy that precedes each run.
typedef segc_status (*bench_fn)(void *context);

typedef struct {
  void *copy_dst;
  const void *copy_src;
  size_t copy_bytes;
} copy_job;

typedef struct {
  double op[MAX_REPEAT], copy[MAX_REPEAT];
} timings;

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

// One warm-up run, then `repeat` pairs (memcpy, op).
static segc_status measure(const bench_options *o, bench_fn fn, void *context,
                           const copy_job *copy, timings *t) {
  op_call call = {fn, context};
  return bench_time_paired((bench_timed_job){run_op, &call},
                           (bench_timed_job){run_copy, (void *)copy}, 1,
                           o->repeat, t->op, t->copy);
}

// `op_bytes`: what the op must move; memcpy moves 2 * copy_bytes.
static void report(const bench_options *o, const char *what, timings *t,
                   double op_bytes, double copy_bytes) {
  double ratio[MAX_REPEAT];
  for (int r = 0; r < o->repeat; ++r) ratio[r] = t->op[r] / t->copy[r];
  // (bench_median sorts: the ratios above are taken first.)
  const double op = bench_median(t->op, o->repeat);
  const double copy = bench_median(t->copy, o->repeat);
  printf(
      "  %-36s %8.2f ms %6.1f GB/s | memcpy %6.2f ms %6.1f GB/s | "
      "ratio %5.2f (memory speed %4.2f)\n",
      what, 1e3 * op, op_bytes / op / 1e9, 1e3 * copy,
      2.0 * copy_bytes / copy / 1e9, bench_median(ratio, o->repeat),
      op_bytes / (2.0 * copy_bytes));
}

#define BENCH_TRY(call)                                  \
  do {                                                   \
    if ((call) != SEGC_OK) {                             \
      fprintf(stderr, "segbench groupnorm: error: %s\n", \
              segc_error_message());                     \
      return 1;                                          \
    }                                                    \
  } while (0)

// Fills a tensor with values in [-1, 2) (a fixed pattern, no RNG cost).
static void fill(segc_tensor *t) {
  const int64_t n = segc_tensor_numel(t);
  for (int64_t i = 0; i < n; ++i)
    segc_store_f32(t->data, t->dtype, (size_t)i,
                   (float)((i * 7919) % 3001) / 1000.0f - 1.0f);
}

typedef struct {
  segc_arena activations, scratch;
  segc_graph graph;
  void *copy_buffer;  // memcpy destination, as large as the largest tensor
} bench_env;

static int env_init(bench_env *env, size_t activation_bytes,
                    size_t copy_bytes) {
  memset(env, 0, sizeof *env);
  env->copy_buffer = malloc(copy_bytes);
  if (!env->copy_buffer ||
      segc_arena_init(&env->activations, "bench activations", activation_bytes,
                      SEGC_DEVICE_CPU) != SEGC_OK ||
      segc_arena_init(&env->scratch, "bench scratch", 256u << 20,
                      SEGC_DEVICE_CPU) != SEGC_OK ||
      segc_graph_init(&env->graph, &env->activations, &env->scratch, 1 << 20) !=
          SEGC_OK) {
    fprintf(stderr, "segbench groupnorm: error: %s\n",
            env->copy_buffer ? segc_error_message() : "out of memory");
    return 1;
  }
  return 0;
}

static void env_destroy(bench_env *env) {
  segc_graph_destroy(&env->graph);
  segc_arena_destroy(&env->activations);
  segc_arena_destroy(&env->scratch);
  free(env->copy_buffer);
}

// ---- GroupNorm
// ----------------------------------------------------------------

typedef struct {
  segc_graph *graph;
  const segc_groupnorm *layer;
  segc_value *x;
  // For the passes alone and for backward:
  double *partial;
  void *out;
  segc_gn_affine affine;
  const segc_tape_entry *entry;
} gn_context;

static segc_status gn_forward(void *p) {
  gn_context *c = p;
  segc_value *y;
  SEGC_TRY(segc_groupnorm_forward(c->graph, c->layer, c->x, &y));
  segc_value_release(c->graph, y);
  return SEGC_OK;
}

static segc_status gn_sums(void *p) {
  gn_context *c = p;
  segc_gn_sums(c->x->data.data, c->x->data.dtype == SEGC_BF16, c->x->data.shape,
               c->partial);
  return SEGC_OK;
}

static segc_status gn_apply(void *p) {
  gn_context *c = p;
  segc_gn_apply(c->x->data.data, c->out, c->x->data.dtype == SEGC_BF16,
                c->x->data.shape, c->affine);
  return SEGC_OK;
}

// The tape entry's backward on a filled output gradient, dx stored (not
// accumulated) every time.
static segc_status run_entry_backward(void *p) {
  gn_context *c = p;
  c->x->grad_written = false;
  return c->entry->backward(c->graph, c->entry->saved);
}

static int bench_groupnorm_dtype(const bench_options *o, segc_dtype dtype) {
  const segc_shape s = segc_shape5(1, 32, 96, 96, 96);
  segc_tensor probe =
      segc_tensor_view(NULL, s, dtype, SEGC_LAYOUT_NDHWC, SEGC_DEVICE_CPU);
  const size_t bytes = segc_tensor_bytes(&probe);
  bench_env env;
  if (env_init(&env, 6 * bytes + (64u << 20), bytes)) return 1;
  float gamma[32], beta[32], dgamma[32] = {0}, dbeta[32] = {0};
  for (int c = 0; c < 32; ++c) {
    gamma[c] = 0.5f + 0.03f * (float)c;
    beta[c] = 0.01f * (float)c - 0.1f;
  }
  segc_param pg = {.name = "gamma"}, pb = {.name = "beta"};
  pg.value = segc_tensor_view(gamma, segc_shape5(1, 32, 1, 1, 1), SEGC_F32,
                              SEGC_LAYOUT_NCDHW, SEGC_DEVICE_CPU);
  pb.value = pg.value;
  pb.value.data = beta;
  pg.grad = pg.value;
  pg.grad.data = dgamma;
  pb.grad = pb.value;
  pb.grad.data = dbeta;
  const segc_groupnorm layer = {8, 1e-5f, true, &pg, &pb};
  segc_graph *g = &env.graph;
  gn_context c = {g, &layer, NULL, NULL, NULL, {gamma, beta, true}, NULL};
  BENCH_TRY(segc_graph_new_value(g, s, dtype, SEGC_LAYOUT_NDHWC, true, &c.x));
  fill(&c.x->data);
  const copy_job copy = {env.copy_buffer, c.x->data.data, bytes};
  printf("GroupNorm(8)+ReLU, 1x32x96^3 NDHWC %s (%.1f MB)\n",
         segc_dtype_name(dtype), (double)bytes / 1e6);

  timings t;
  BENCH_TRY(measure(o, gn_forward, &c, &copy, &t));
  report(o, "forward (read 2, write 1)", &t, 3.0 * bytes, bytes);
  c.partial = malloc(sizeof(double) * 2 * 32 * (size_t)segc_gn_chunk_count(s));
  c.out = malloc(bytes);
  if (!c.partial || !c.out) {
    fprintf(stderr, "segbench groupnorm: error: out of memory\n");
    return 1;
  }
  BENCH_TRY(measure(o, gn_sums, &c, &copy, &t));
  report(o, "  statistics pass (read 1)", &t, 1.0 * bytes, bytes);
  BENCH_TRY(measure(o, gn_apply, &c, &copy, &t));
  report(o, "  normalize pass (read 1, write 1)", &t, 2.0 * bytes, bytes);
  free(c.partial);
  free(c.out);

  g->training = true;
  segc_value *y;
  BENCH_TRY(segc_groupnorm_forward(g, &layer, c.x, &y));
  segc_tensor dy;
  bool accumulate;
  BENCH_TRY(segc_value_grad_target(g, y, &dy, &accumulate));
  fill(&dy);
  c.entry = &g->tape[g->tape_count - 1];
  BENCH_TRY(measure(o, run_entry_backward, &c, &copy, &t));
  report(o, "backward (read 4, write 1)", &t, 5.0 * bytes, bytes);
  g->tape_count = 0;
  segc_value_release(g, y);
  segc_value_release(g, c.x);
  env_destroy(&env);
  return 0;
}

// ---- upsample, and oneDNN's resampling for comparison
// -------------------------

typedef struct {
  dnnl_primitive_t primitive;
  dnnl_stream_t stream;
  dnnl_exec_arg_t args[2];
} dnnl_run;

static segc_status dnnl_execute(void *p) {
  dnnl_run *r = p;
  SEGC_DNNL_CHECK(dnnl_primitive_execute(r->primitive, r->stream, 2, r->args));
  SEGC_DNNL_CHECK(dnnl_stream_wait(r->stream));
  return SEGC_OK;
}

// oneDNN's forward and backward linear resampling on fixed buffers.
typedef struct {
  dnnl_primitive_desc_t forward_desc, backward_desc;
  dnnl_run forward, backward;
  dnnl_memory_t small, big;
} resampling_pair;

// oneDNN's linear resampling x2 between `small` and `big` buffers (NDHWC).
static segc_status dnnl_resampling_create(segc_shape s, segc_dtype dtype,
                                          void *small, void *big,
                                          resampling_pair *r) {
  dnnl_engine_t engine;
  dnnl_stream_t stream;
  SEGC_TRY(segc_dnnl_engine(&engine));
  SEGC_TRY(segc_dnnl_stream(&stream));
  const dnnl_data_type_t dt = dtype == SEGC_BF16 ? dnnl_bf16 : dnnl_f32;
  const dnnl_dims_t small_dims = {s.n, s.c, s.d, s.h, s.w};
  const dnnl_dims_t big_dims = {s.n, s.c, 2 * s.d, 2 * s.h, 2 * s.w};
  dnnl_memory_desc_t small_md, big_md;
  SEGC_DNNL_CHECK(
      dnnl_memory_desc_init_by_tag(&small_md, 5, small_dims, dt, dnnl_ndhwc));
  SEGC_DNNL_CHECK(
      dnnl_memory_desc_init_by_tag(&big_md, 5, big_dims, dt, dnnl_ndhwc));
  const float factors[3] = {2.0f, 2.0f, 2.0f};
  dnnl_resampling_desc_t fd, bd;
  SEGC_DNNL_CHECK(dnnl_resampling_forward_desc_init(
      &fd, dnnl_forward_training, dnnl_resampling_linear, factors, &small_md,
      &big_md));
  SEGC_DNNL_CHECK(dnnl_resampling_backward_desc_init(
      &bd, dnnl_resampling_linear, factors, &small_md, &big_md));
  SEGC_DNNL_CHECK(
      dnnl_primitive_desc_create(&r->forward_desc, &fd, NULL, engine, NULL));
  SEGC_DNNL_CHECK(dnnl_primitive_desc_create(&r->backward_desc, &bd, NULL,
                                             engine, r->forward_desc));
  SEGC_DNNL_CHECK(
      dnnl_primitive_create(&r->forward.primitive, r->forward_desc));
  SEGC_DNNL_CHECK(
      dnnl_primitive_create(&r->backward.primitive, r->backward_desc));
  SEGC_DNNL_CHECK(dnnl_memory_create(&r->small, &small_md, engine, small));
  SEGC_DNNL_CHECK(dnnl_memory_create(&r->big, &big_md, engine, big));
  r->forward.stream = r->backward.stream = stream;
  r->forward.args[0] = (dnnl_exec_arg_t){DNNL_ARG_SRC, r->small};
  r->forward.args[1] = (dnnl_exec_arg_t){DNNL_ARG_DST, r->big};
  r->backward.args[0] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_DST, r->big};
  r->backward.args[1] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_SRC, r->small};
  return SEGC_OK;
}

static segc_status dnnl_resampling_destroy(resampling_pair *r) {
  SEGC_DNNL_CHECK(dnnl_memory_destroy(r->small));
  SEGC_DNNL_CHECK(dnnl_memory_destroy(r->big));
  SEGC_DNNL_CHECK(dnnl_primitive_destroy(r->forward.primitive));
  SEGC_DNNL_CHECK(dnnl_primitive_destroy(r->backward.primitive));
  SEGC_DNNL_CHECK(dnnl_primitive_desc_destroy(r->forward_desc));
  SEGC_DNNL_CHECK(dnnl_primitive_desc_destroy(r->backward_desc));
  return SEGC_OK;
}

// Largest |a - b| over n elements of two buffers of one dtype.
static double max_difference(const void *a, const void *b, segc_dtype dtype,
                             int64_t n) {
  double worst = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = fabs((double)segc_load_f32(a, dtype, (size_t)i) -
                          segc_load_f32(b, dtype, (size_t)i));
    if (d > worst || d != d) worst = d;
  }
  return worst;
}

typedef struct {
  segc_graph *graph;
  segc_value *x;
} upsample_context;

static segc_status upsample_forward(void *p) {
  upsample_context *c = p;
  segc_value *y;
  SEGC_TRY(segc_upsample2x_forward(c->graph, c->x, &y));
  segc_value_release(c->graph, y);
  return SEGC_OK;
}

static int bench_upsample_dtype(const bench_options *o, segc_dtype dtype) {
  const segc_shape s = segc_shape5(1, 64, 48, 48, 48);
  segc_tensor small =
      segc_tensor_view(NULL, s, dtype, SEGC_LAYOUT_NDHWC, SEGC_DEVICE_CPU);
  const size_t small_bytes = segc_tensor_bytes(&small);
  const size_t big_bytes = 8 * small_bytes;
  const double moved = (double)(small_bytes + big_bytes);
  bench_env env;
  if (env_init(&env, 3 * big_bytes + 2 * small_bytes + (64u << 20), big_bytes))
    return 1;
  segc_graph *g = &env.graph;
  upsample_context c = {g, NULL};
  g->training = true;  // x requires a gradient; the first forward records
  BENCH_TRY(segc_graph_new_value(g, s, dtype, SEGC_LAYOUT_NDHWC, true, &c.x));
  fill(&c.x->data);
  printf(
      "upsample2x trilinear, 1x64x48^3 -> 1x64x96^3 NDHWC %s "
      "(memcpy: the 96^3 tensor)\n",
      segc_dtype_name(dtype));
  // The memcpy source: the output gradient, filled once below.
  segc_value *y;
  BENCH_TRY(segc_upsample2x_forward(g, c.x, &y));
  segc_tensor dy;
  bool accumulate;
  BENCH_TRY(segc_value_grad_target(g, y, &dy, &accumulate));
  fill(&dy);
  const copy_job copy = {env.copy_buffer, dy.data, big_bytes};

  timings t;
  g->training = false;
  BENCH_TRY(measure(o, upsample_forward, &c, &copy, &t));
  report(o, "segc forward (read 48^3, write 96^3)", &t, moved, big_bytes);
  if (g->tape_count != 1) {
    fprintf(stderr,
            "segbench groupnorm: error: upsample recorded %d tape "
            "entries, expected 1\n",
            g->tape_count);
    return 1;
  }
  gn_context bc = {g, NULL, c.x, NULL, NULL, {NULL, NULL, false}, &g->tape[0]};
  BENCH_TRY(measure(o, run_entry_backward, &bc, &copy, &t));
  report(o, "segc backward (read 96^3, write 48^3)", &t, moved, big_bytes);

  // oneDNN on its own buffers, then once on segc's input and gradient. They
  // are 64-byte aligned: its resampling kernel (oneDNN 2.6, 1 thread) writes
  // with aligned non-temporal stores and crashes on malloc's 16-byte
  // alignment.
  void *src = aligned_alloc(64, small_bytes),
       *dst = aligned_alloc(64, big_bytes);
  if (!src || !dst) {
    fprintf(stderr, "segbench groupnorm: error: out of memory\n");
    return 1;
  }
  memcpy(src, c.x->data.data, small_bytes);
  resampling_pair r;
  BENCH_TRY(dnnl_resampling_create(s, dtype, src, dst, &r));
  BENCH_TRY(measure(o, dnnl_execute, &r.forward, &copy, &t));
  report(o, "oneDNN resampling_linear forward", &t, moved, big_bytes);
  BENCH_TRY(measure(o, dnnl_execute, &r.backward, &copy, &t));
  report(o, "oneDNN resampling_linear backward", &t, moved, big_bytes);
  memcpy(src, c.x->data.data, small_bytes);
  BENCH_TRY(dnnl_execute(&r.forward));
  const double diff_forward =
      max_difference(dst, y->data.data, dtype, 8 * segc_shape_numel(s));
  memcpy(dst, dy.data, big_bytes);
  BENCH_TRY(dnnl_execute(&r.backward));
  const double diff_backward =
      max_difference(src, c.x->grad.data, dtype, segc_shape_numel(s));
  printf("  max |segc - oneDNN|: forward %.3g, backward %.3g\n", diff_forward,
         diff_backward);
  BENCH_TRY(dnnl_resampling_destroy(&r));
  free(src);
  free(dst);
  g->tape_count = 0;
  segc_value_release(g, y);
  segc_value_release(g, c.x);
  env_destroy(&env);
  return 0;
}

// ---- add
// ------------------------------------------------------------------------

typedef struct {
  segc_graph *graph;
  segc_value *a, *b;
} add_context;

static segc_status add_forward(void *p) {
  add_context *c = p;
  segc_value *y;
  SEGC_TRY(segc_add_forward(c->graph, c->a, c->b, &y));
  segc_value_release(c->graph, y);
  return SEGC_OK;
}

static int bench_add(const bench_options *o, segc_dtype dtype) {
  const segc_shape s = segc_shape5(1, 32, 96, 96, 96);
  segc_tensor probe =
      segc_tensor_view(NULL, s, dtype, SEGC_LAYOUT_NDHWC, SEGC_DEVICE_CPU);
  const size_t bytes = segc_tensor_bytes(&probe);
  bench_env env;
  if (env_init(&env, 4 * bytes + (64u << 20), bytes)) return 1;
  add_context c = {&env.graph, NULL, NULL};
  BENCH_TRY(
      segc_graph_new_value(c.graph, s, dtype, SEGC_LAYOUT_NDHWC, false, &c.a));
  BENCH_TRY(
      segc_graph_new_value(c.graph, s, dtype, SEGC_LAYOUT_NDHWC, false, &c.b));
  fill(&c.a->data);
  fill(&c.b->data);
  const copy_job copy = {env.copy_buffer, c.a->data.data, bytes};
  printf("add, 1x32x96^3 NDHWC %s\n", segc_dtype_name(dtype));
  timings t;
  BENCH_TRY(measure(o, add_forward, &c, &copy, &t));
  report(o, "forward (read 2, write 1)", &t, 3.0 * bytes, bytes);
  segc_value_release(c.graph, c.a);
  segc_value_release(c.graph, c.b);
  env_destroy(&env);
  return 0;
}

static int parse_options(int argc, char **argv, bench_options *o) {
  o->threads = 0;
  o->repeat = 5;
  for (int i = 1; i < argc; ++i) {
    const bool has_value = i + 1 < argc;
    if (!strcmp(argv[i], "--threads") && has_value) {
      o->threads = atoi(argv[++i]);
      if (o->threads <= 0) {
        fprintf(stderr,
                "segbench groupnorm: error: --threads needs a "
                "positive number, got '%s'\n",
                argv[i]);
        return 2;
      }
    } else if (!strcmp(argv[i], "--repeat") && has_value) {
      o->repeat = atoi(argv[++i]);
      if (o->repeat <= 0 || o->repeat > MAX_REPEAT) {
        fprintf(stderr,
                "segbench groupnorm: error: --repeat must be 1..%d, "
                "got '%s'\n",
                MAX_REPEAT, argv[i]);
        return 2;
      }
    } else {
      fprintf(stderr,
              "segbench groupnorm: error: unknown or incomplete "
              "option '%s' (use --threads N, --repeat R)\n",
              argv[i]);
      return 2;
    }
  }
  return 0;
}

int segc_bench_groupnorm(int argc, char **argv) {
  bench_options o;
  const int bad = parse_options(argc, argv, &o);
  if (bad) return bad;
  segc_set_threads(o.threads);
  printf("segbench groupnorm: %d threads, medians of %d runs\n", segc_threads(),
         o.repeat);
  int rc = 0;
  rc |= bench_groupnorm_dtype(&o, SEGC_F32);
  rc |= bench_groupnorm_dtype(&o, SEGC_BF16);
  rc |= bench_upsample_dtype(&o, SEGC_F32);
  rc |= bench_upsample_dtype(&o, SEGC_BF16);
  rc |= bench_add(&o, SEGC_F32);
  rc |= bench_add(&o, SEGC_BF16);
  segc_dnnl_shutdown();
  return rc;
}
