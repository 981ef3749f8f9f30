// segbench groupnorm: GroupNorm+ReLU forward and backward over a 1x32x96^3
// channels-last tensor (f32 and bf16), the trilinear x2 upsample (64 channels,
// 48^3 -> 96^3, with oneDNN's linear resampling beside it) and the residual
// add at 32x96^3. Each figure is the median of --repeat runs after one
// warm-up run; GB/s counts the bytes an op must move at least (each pass
// reads or writes the tensor once), and a parallel memcpy of the same tensor
// in the same run gives the machine's ceiling.
#include <math.h>
#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "core/dnnl_context.h"
#include "core/parallel.h"
#include "layers/elementwise.h"
#include "layers/groupnorm.h"
#include "layers/groupnorm_kernels.h"

enum { MAX_REPEAT = 101 };

typedef struct {
  int threads, repeat;
} bench_options;

static int compare_doubles(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *t, int n) {
  qsort(t, (size_t)n, sizeof *t, compare_doubles);
  return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

static void print_row(const char *what, double seconds, double bytes) {
  printf("  %-44s %9.2f ms %8.1f GB/s\n", what, 1e3 * seconds,
         bytes / seconds / 1e9);
}

// A memcpy split over the threads in 1 MiB pieces (the ceiling).
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

static double time_copy(const bench_options *o, void *dst, const void *src,
                        size_t bytes) {
  double t[MAX_REPEAT];
  parallel_copy(dst, src, bytes);
  for (int r = 0; r < o->repeat; ++r) {
    const double start = segc_now();
    parallel_copy(dst, src, bytes);
    t[r] = segc_now() - start;
  }
  return median(t, o->repeat);
}

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
} bench_env;

static int env_init(bench_env *env, size_t activation_bytes) {
  if (segc_arena_init(&env->activations, "bench activations",
                      activation_bytes, SEGC_DEVICE_CPU) != SEGC_OK ||
      segc_arena_init(&env->scratch, "bench scratch", 256u << 20,
                      SEGC_DEVICE_CPU) != SEGC_OK ||
      segc_graph_init(&env->graph, &env->activations, &env->scratch,
                      1 << 20) != SEGC_OK) {
    fprintf(stderr, "segbench groupnorm: error: %s\n", segc_error_message());
    return 1;
  }
  return 0;
}

static void env_destroy(bench_env *env) {
  segc_graph_destroy(&env->graph);
  segc_arena_destroy(&env->activations);
  segc_arena_destroy(&env->scratch);
}

#define BENCH_TRY(call)                                                    \
  do {                                                                     \
    if ((call) != SEGC_OK) {                                               \
      fprintf(stderr, "segbench groupnorm: error: %s\n",                   \
              segc_error_message());                                       \
      return 1;                                                            \
    }                                                                      \
  } while (0)

static int bench_groupnorm_dtype(const bench_options *o, segc_dtype dtype) {
  const segc_shape s = segc_shape5(1, 32, 96, 96, 96);
  bench_env env;
  segc_tensor probe = segc_tensor_view(NULL, s, dtype, SEGC_LAYOUT_NDHWC,
                                       SEGC_DEVICE_CPU);
  const size_t bytes = segc_tensor_bytes(&probe);
  if (env_init(&env, 6 * bytes + (64u << 20))) return 1;
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
  segc_groupnorm layer = {8, 1e-5f, true, &pg, &pb};
  segc_graph *g = &env.graph;
  segc_value *x, *y;
  BENCH_TRY(segc_graph_new_value(g, s, dtype, SEGC_LAYOUT_NDHWC, true, &x));
  fill(&x->data);

  // Forward, inference (statistics pass, then normalize pass).
  double t[MAX_REPEAT];
  for (int r = -1; r < o->repeat; ++r) {
    const double start = segc_now();
    BENCH_TRY(segc_groupnorm_forward(g, &layer, x, &y));
    if (r >= 0) t[r] = segc_now() - start;
    segc_value_release(g, y);
  }
  const double forward = median(t, o->repeat);

  // The two passes alone, through the kernels.
  double *partial = malloc(sizeof(double) * 2 * 32 *
                           (size_t)segc_gn_chunk_count(s));
  void *out = malloc(bytes);
  float scale[32], shift[32];
  for (int c = 0; c < 32; ++c) {
    scale[c] = gamma[c];
    shift[c] = beta[c];
  }
  const segc_gn_affine affine = {scale, shift, true};
  const bool bf16 = dtype == SEGC_BF16;
  double t_sums[MAX_REPEAT], t_apply[MAX_REPEAT];
  for (int r = -1; r < o->repeat; ++r) {
    double start = segc_now();
    segc_gn_sums(x->data.data, bf16, s, partial);
    if (r >= 0) t_sums[r] = segc_now() - start;
    start = segc_now();
    segc_gn_apply(x->data.data, out, bf16, s, affine);
    if (r >= 0) t_apply[r] = segc_now() - start;
  }
  const double sums = median(t_sums, o->repeat);
  const double apply = median(t_apply, o->repeat);
  const double copy = time_copy(o, out, x->data.data, bytes);
  free(partial);
  free(out);

  // Backward: the tape entry's function on a filled output gradient, with
  // dx stored (not accumulated) every time.
  g->training = true;
  BENCH_TRY(segc_groupnorm_forward(g, &layer, x, &y));
  segc_tensor dy;
  bool accumulate;
  BENCH_TRY(segc_value_grad_target(g, y, &dy, &accumulate));
  fill(&dy);
  const segc_tape_entry *entry = &g->tape[g->tape_count - 1];
  for (int r = -1; r < o->repeat; ++r) {
    x->grad_written = false;
    const double start = segc_now();
    BENCH_TRY(entry->backward(g, entry->saved));
    if (r >= 0) t[r] = segc_now() - start;
  }
  const double backward = median(t, o->repeat);
  g->tape_count = 0;
  segc_value_release(g, y);
  segc_value_release(g, x);

  printf("GroupNorm(8)+ReLU, 1x32x96^3 NDHWC %s (%.1f MB)\n",
         segc_dtype_name(dtype), (double)bytes / 1e6);
  print_row("memcpy (read + write = 2 tensors)", copy, 2.0 * bytes);
  print_row("forward (read 2 + write 1 = 3 tensors)", forward, 3.0 * bytes);
  print_row("  statistics pass (read 1)", sums, 1.0 * bytes);
  print_row("  normalize pass (read 1 + write 1)", apply, 2.0 * bytes);
  print_row("backward (read 4 + write 1 = 5 tensors)", backward, 5.0 * bytes);
  printf("  forward / memcpy time: %.2f (1.50 = memory speed)\n",
         forward / copy);
  printf("  backward / memcpy time: %.2f (2.50 = memory speed)\n",
         backward / copy);
  env_destroy(&env);
  return 0;
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

// segc's results for one input, to compare oneDNN's with.
typedef struct {
  const void *x, *y, *dy, *dx;
} upsample_results;

// oneDNN's linear resampling: times forward and backward on its own buffers
// (src: the small tensor, dst: the large one), then runs each once on segc's
// input and output gradient and reports the largest differences.
static segc_status dnnl_resample(const bench_options *o, segc_shape s,
                                 segc_dtype dtype, void *src, void *dst,
                                 const upsample_results *segc,
                                 double *forward, double *backward,
                                 double *diff_forward, double *diff_backward) {
  dnnl_engine_t engine;
  dnnl_stream_t stream;
  SEGC_TRY(segc_dnnl_engine(&engine));
  SEGC_TRY(segc_dnnl_stream(&stream));
  const dnnl_data_type_t dt = dtype == SEGC_BF16 ? dnnl_bf16 : dnnl_f32;
  const dnnl_dims_t small = {s.n, s.c, s.d, s.h, s.w};
  const dnnl_dims_t big = {s.n, s.c, 2 * s.d, 2 * s.h, 2 * s.w};
  dnnl_memory_desc_t small_md, big_md;
  SEGC_DNNL_CHECK(dnnl_memory_desc_init_by_tag(&small_md, 5, small, dt,
                                               dnnl_ndhwc));
  SEGC_DNNL_CHECK(dnnl_memory_desc_init_by_tag(&big_md, 5, big, dt,
                                               dnnl_ndhwc));
  const float factors[3] = {2.0f, 2.0f, 2.0f};
  dnnl_resampling_desc_t fd, bd;
  SEGC_DNNL_CHECK(dnnl_resampling_forward_desc_init(
      &fd, dnnl_forward_training, dnnl_resampling_linear, factors, &small_md,
      &big_md));
  SEGC_DNNL_CHECK(dnnl_resampling_backward_desc_init(
      &bd, dnnl_resampling_linear, factors, &small_md, &big_md));
  dnnl_primitive_desc_t fpd, bpd;
  SEGC_DNNL_CHECK(dnnl_primitive_desc_create(&fpd, &fd, NULL, engine, NULL));
  SEGC_DNNL_CHECK(dnnl_primitive_desc_create(&bpd, &bd, NULL, engine, fpd));
  dnnl_primitive_t fp, bp;
  SEGC_DNNL_CHECK(dnnl_primitive_create(&fp, fpd));
  SEGC_DNNL_CHECK(dnnl_primitive_create(&bp, bpd));
  dnnl_memory_t small_mem, big_mem;
  SEGC_DNNL_CHECK(dnnl_memory_create(&small_mem, &small_md, engine, src));
  SEGC_DNNL_CHECK(dnnl_memory_create(&big_mem, &big_md, engine, dst));
  dnnl_exec_arg_t fargs[2] = {{DNNL_ARG_SRC, small_mem},
                              {DNNL_ARG_DST, big_mem}};
  dnnl_exec_arg_t bargs[2] = {{DNNL_ARG_DIFF_DST, big_mem},
                              {DNNL_ARG_DIFF_SRC, small_mem}};
  double t[MAX_REPEAT], tb[MAX_REPEAT];
  for (int r = -1; r < o->repeat; ++r) {
    double start = segc_now();
    SEGC_DNNL_CHECK(dnnl_primitive_execute(fp, stream, 2, fargs));
    SEGC_DNNL_CHECK(dnnl_stream_wait(stream));
    if (r >= 0) t[r] = segc_now() - start;
    start = segc_now();
    SEGC_DNNL_CHECK(dnnl_primitive_execute(bp, stream, 2, bargs));
    SEGC_DNNL_CHECK(dnnl_stream_wait(stream));
    if (r >= 0) tb[r] = segc_now() - start;
  }
  *forward = median(t, o->repeat);
  *backward = median(tb, o->repeat);
  const int64_t small_n = segc_shape_numel(s), big_n = 8 * small_n;
  const size_t elem = segc_dtype_size(dtype);
  memcpy(src, segc->x, (size_t)small_n * elem);
  SEGC_DNNL_CHECK(dnnl_primitive_execute(fp, stream, 2, fargs));
  SEGC_DNNL_CHECK(dnnl_stream_wait(stream));
  *diff_forward = max_difference(dst, segc->y, dtype, big_n);
  memcpy(dst, segc->dy, (size_t)big_n * elem);
  SEGC_DNNL_CHECK(dnnl_primitive_execute(bp, stream, 2, bargs));
  SEGC_DNNL_CHECK(dnnl_stream_wait(stream));
  *diff_backward = max_difference(src, segc->dx, dtype, small_n);

  SEGC_DNNL_CHECK(dnnl_memory_destroy(small_mem));
  SEGC_DNNL_CHECK(dnnl_memory_destroy(big_mem));
  SEGC_DNNL_CHECK(dnnl_primitive_destroy(fp));
  SEGC_DNNL_CHECK(dnnl_primitive_destroy(bp));
  SEGC_DNNL_CHECK(dnnl_primitive_desc_destroy(fpd));
  SEGC_DNNL_CHECK(dnnl_primitive_desc_destroy(bpd));
  return SEGC_OK;
}

static int bench_upsample_dtype(const bench_options *o, segc_dtype dtype) {
  const segc_shape s = segc_shape5(1, 64, 48, 48, 48);
  const segc_shape up = segc_shape5(1, 64, 96, 96, 96);
  segc_tensor small = segc_tensor_view(NULL, s, dtype, SEGC_LAYOUT_NDHWC,
                                       SEGC_DEVICE_CPU);
  segc_tensor big = segc_tensor_view(NULL, up, dtype, SEGC_LAYOUT_NDHWC,
                                     SEGC_DEVICE_CPU);
  const size_t small_bytes = segc_tensor_bytes(&small);
  const size_t big_bytes = segc_tensor_bytes(&big);
  bench_env env;
  if (env_init(&env, 2 * big_bytes + 2 * small_bytes + (64u << 20))) return 1;
  segc_graph *g = &env.graph;
  g->training = true;
  segc_value *x, *y;
  BENCH_TRY(segc_graph_new_value(g, s, dtype, SEGC_LAYOUT_NDHWC, true, &x));
  fill(&x->data);
  double t[MAX_REPEAT];
  for (int r = -1; r < o->repeat; ++r) {
    const double start = segc_now();
    BENCH_TRY(segc_upsample2x_forward(g, x, &y));
    if (r >= 0) t[r] = segc_now() - start;
    if (r + 1 < o->repeat) {  // keep the last one for backward
      g->tape_count = 0;
      segc_value_release(g, y);
    }
  }
  const double forward = median(t, o->repeat);
  segc_tensor dy;
  bool accumulate;
  BENCH_TRY(segc_value_grad_target(g, y, &dy, &accumulate));
  fill(&dy);
  const segc_tape_entry *entry = &g->tape[g->tape_count - 1];
  for (int r = -1; r < o->repeat; ++r) {
    x->grad_written = false;
    const double start = segc_now();
    BENCH_TRY(entry->backward(g, entry->saved));
    if (r >= 0) t[r] = segc_now() - start;
  }
  const double backward = median(t, o->repeat);
  void *copy_target = malloc(big_bytes);
  const double copy = time_copy(o, copy_target, y->data.data, big_bytes);
  free(copy_target);

  // oneDNN on its own buffers, then on segc's input and output gradient.
  void *src = malloc(small_bytes), *dst = malloc(big_bytes);
  const upsample_results mine = {x->data.data, y->data.data, dy.data,
                                 x->grad.data};
  double dnnl_forward = 0, dnnl_backward = 0, diff_forward = 0,
         diff_backward = 0;
  BENCH_TRY(dnnl_resample(o, s, dtype, src, dst, &mine, &dnnl_forward,
                          &dnnl_backward, &diff_forward, &diff_backward));
  free(src);
  free(dst);

  printf("upsample2x trilinear, 1x64x48^3 -> 1x64x96^3 NDHWC %s\n",
         segc_dtype_name(dtype));
  print_row("memcpy of the output (2 x 96^3 tensors)", copy, 2.0 * big_bytes);
  print_row("segc forward (read 48^3, write 96^3)", forward,
            (double)(small_bytes + big_bytes));
  print_row("segc backward (read 96^3, write 48^3)", backward,
            (double)(small_bytes + big_bytes));
  print_row("oneDNN resampling_linear forward", dnnl_forward,
            (double)(small_bytes + big_bytes));
  print_row("oneDNN resampling_linear backward", dnnl_backward,
            (double)(small_bytes + big_bytes));
  printf("  max |segc - oneDNN|: forward %.3g, backward %.3g\n",
         diff_forward, diff_backward);
  g->tape_count = 0;
  segc_value_release(g, y);
  segc_value_release(g, x);
  env_destroy(&env);
  return 0;
}

static int bench_add(const bench_options *o, segc_dtype dtype) {
  const segc_shape s = segc_shape5(1, 32, 96, 96, 96);
  segc_tensor probe = segc_tensor_view(NULL, s, dtype, SEGC_LAYOUT_NDHWC,
                                       SEGC_DEVICE_CPU);
  const size_t bytes = segc_tensor_bytes(&probe);
  bench_env env;
  if (env_init(&env, 4 * bytes + (64u << 20))) return 1;
  segc_graph *g = &env.graph;
  segc_value *a, *b, *y;
  BENCH_TRY(segc_graph_new_value(g, s, dtype, SEGC_LAYOUT_NDHWC, false, &a));
  BENCH_TRY(segc_graph_new_value(g, s, dtype, SEGC_LAYOUT_NDHWC, false, &b));
  fill(&a->data);
  fill(&b->data);
  double t[MAX_REPEAT];
  for (int r = -1; r < o->repeat; ++r) {
    const double start = segc_now();
    BENCH_TRY(segc_add_forward(g, a, b, &y));
    if (r >= 0) t[r] = segc_now() - start;
    segc_value_release(g, y);
  }
  const double add = median(t, o->repeat);
  void *copy_target = malloc(bytes);
  const double copy = time_copy(o, copy_target, a->data.data, bytes);
  free(copy_target);
  printf("add, 1x32x96^3 %s\n", segc_dtype_name(dtype));
  print_row("memcpy (2 tensors)", copy, 2.0 * bytes);
  print_row("add forward (read 2 + write 1)", add, 3.0 * bytes);
  segc_value_release(g, a);
  segc_value_release(g, b);
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
        fprintf(stderr, "segbench groupnorm: error: --threads needs a "
                        "positive number, got '%s'\n", argv[i]);
        return 2;
      }
    } else if (!strcmp(argv[i], "--repeat") && has_value) {
      o->repeat = atoi(argv[++i]);
      if (o->repeat <= 0 || o->repeat > MAX_REPEAT) {
        fprintf(stderr, "segbench groupnorm: error: --repeat must be 1..%d, "
                        "got '%s'\n", MAX_REPEAT, argv[i]);
        return 2;
      }
    } else {
      fprintf(stderr, "segbench groupnorm: error: unknown or incomplete "
                      "option '%s' (use --threads N, --repeat R)\n", argv[i]);
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
  printf("segbench groupnorm: %d threads, median of %d runs\n",
         segc_threads(), o.repeat);
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
