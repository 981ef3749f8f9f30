// segbench upsample-add: the trilinear x2 upsample (64 channels, 48^3 ->
// 96^3, with oneDNN's linear resampling beside it) and the residual add at
// 32x96^3, f32 and bf16, each beside a parallel memcpy (bench_membound.h).
#include <math.h>
#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "bench/bench_membound.h"
#include "core/dnnl_context.h"
#include "core/parallel.h"
#include "layers/elementwise.h"

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
static segc_status dnnl_resampling_create(const segc_dnnl_state *dnnl,
                                          segc_shape s, segc_dtype dtype,
                                          void *small, void *big,
                                          resampling_pair *r) {
  dnnl_engine_t engine = dnnl->engine;
  dnnl_stream_t stream = dnnl->stream;
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
    if (d > worst || d != d)
      worst = d;
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
  if (bench_env_init(o, &env, 3 * big_bytes + 2 * small_bytes + (64u << 20),
                     big_bytes))
    return 1;
  segc_graph *g = &env.graph;
  upsample_context c = {g, NULL};
  g->training = true; // x requires a gradient; the first forward records
  BENCH_TRY(o,
            segc_graph_new_value(g, s, dtype, SEGC_LAYOUT_NDHWC, true, &c.x));
  bench_fill(&c.x->data);
  printf("upsample2x trilinear, 1x64x48^3 -> 1x64x96^3 NDHWC %s "
         "(memcpy: the 96^3 tensor)\n",
         segc_dtype_name(dtype));
  // The memcpy source: the output gradient, filled once below.
  segc_value *y;
  BENCH_TRY(o, segc_upsample2x_forward(g, c.x, &y));
  segc_tensor dy;
  bool accumulate;
  BENCH_TRY(o, segc_value_grad_target(g, y, &dy, &accumulate));
  bench_fill(&dy);
  const copy_job copy = {env.copy_buffer, dy.data, big_bytes};

  timings t;
  g->training = false;
  BENCH_TRY(o, bench_measure(o, upsample_forward, &c, &copy, &t));
  bench_report(o, "segc forward (read 48^3, write 96^3)", &t, moved, big_bytes);
  if (g->tape_count != 1) {
    fprintf(stderr,
            "segbench upsample-add: error: upsample recorded %d tape "
            "entries, expected 1\n",
            g->tape_count);
    return 1;
  }
  backward_context bc = {g, c.x, &g->tape[0]};
  BENCH_TRY(o, bench_measure(o, bench_run_entry_backward, &bc, &copy, &t));
  bench_report(o, "segc backward (read 96^3, write 48^3)", &t, moved,
               big_bytes);

  // oneDNN on its own buffers, then once on segc's input and gradient. They
  // are 64-byte aligned: its resampling kernel (oneDNN 2.6, 1 thread) writes
  // with aligned non-temporal stores and crashes on malloc's 16-byte
  // alignment.
  void *src = aligned_alloc(64, small_bytes),
       *dst = aligned_alloc(64, big_bytes);
  if (!src || !dst) {
    fprintf(stderr, "segbench upsample-add: error: out of memory\n");
    return 1;
  }
  memcpy(src, c.x->data.data, small_bytes);
  resampling_pair r;
  if (dtype == SEGC_BF16 && !segc_dnnl_has_bf16()) {
    // oneDNN 2.x has no bf16 resampling without AVX-512 either.
    printf("  oneDNN resampling_linear: no bf16 kernel on this CPU (no "
           "AVX-512); comparison skipped\n");
    free(src);
    free(dst);
    g->tape_count = 0;
    segc_value_release(g, y);
    segc_value_release(g, c.x);
    bench_env_destroy(&env);
    return 0;
  }
  BENCH_TRY(o, dnnl_resampling_create(&env.context.dnnl, s, dtype, src, dst, &r));
  BENCH_TRY(o, bench_measure(o, dnnl_execute, &r.forward, &copy, &t));
  bench_report(o, "oneDNN resampling_linear forward", &t, moved, big_bytes);
  BENCH_TRY(o, bench_measure(o, dnnl_execute, &r.backward, &copy, &t));
  bench_report(o, "oneDNN resampling_linear backward", &t, moved, big_bytes);
  memcpy(src, c.x->data.data, small_bytes);
  BENCH_TRY(o, dnnl_execute(&r.forward));
  const double diff_forward =
      max_difference(dst, y->data.data, dtype, 8 * segc_shape_numel(s));
  memcpy(dst, dy.data, big_bytes);
  BENCH_TRY(o, dnnl_execute(&r.backward));
  const double diff_backward =
      max_difference(src, c.x->grad.data, dtype, segc_shape_numel(s));
  printf("  max |segc - oneDNN|: forward %.3g, backward %.3g\n", diff_forward,
         diff_backward);
  BENCH_TRY(o, dnnl_resampling_destroy(&r));
  free(src);
  free(dst);
  g->tape_count = 0;
  segc_value_release(g, y);
  segc_value_release(g, c.x);
  bench_env_destroy(&env);
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
  if (bench_env_init(o, &env, 4 * bytes + (64u << 20), bytes))
    return 1;
  add_context c = {&env.graph, NULL, NULL};
  BENCH_TRY(o, segc_graph_new_value(c.graph, s, dtype, SEGC_LAYOUT_NDHWC, false,
                                    &c.a));
  BENCH_TRY(o, segc_graph_new_value(c.graph, s, dtype, SEGC_LAYOUT_NDHWC, false,
                                    &c.b));
  bench_fill(&c.a->data);
  bench_fill(&c.b->data);
  const copy_job copy = {env.copy_buffer, c.a->data.data, bytes};
  printf("add, 1x32x96^3 NDHWC %s\n", segc_dtype_name(dtype));
  timings t;
  BENCH_TRY(o, bench_measure(o, add_forward, &c, &copy, &t));
  bench_report(o, "forward (read 2, write 1)", &t, 3.0 * bytes, bytes);
  segc_value_release(c.graph, c.a);
  segc_value_release(c.graph, c.b);
  bench_env_destroy(&env);
  return 0;
}

int segc_bench_upsample_add(int argc, char **argv) {
  bench_options o;
  const int bad = bench_parse_options(argc, argv, "upsample-add", &o);
  if (bad)
    return bad;
  segc_set_threads(o.threads);
  printf("segbench upsample-add: %d threads, medians of %d runs\n",
         segc_threads(), o.repeat);
  int rc = 0;
  rc |= bench_upsample_dtype(&o, SEGC_F32);
  rc |= bench_upsample_dtype(&o, SEGC_BF16);
  rc |= bench_add(&o, SEGC_F32);
  rc |= bench_add(&o, SEGC_BF16);
  return rc;
}
