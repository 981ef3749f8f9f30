// segbench groupnorm: GroupNorm+ReLU forward and backward over a 1x32x96^3
// channels-last tensor (f32 and bf16), with the forward's statistics and
// normalize passes alone, each beside a parallel memcpy (bench_membound.h).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "bench/bench_membound.h"
#include "core/dnnl_context.h"
#include "core/parallel.h"
#include "layers/groupnorm.h"

typedef struct {
  segc_graph *graph;
  const segc_groupnorm *layer;
  segc_value *x;
  // For the passes alone:
  double *partial;
  void *out;
  const float *scale, *shift;
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
  segc_groupnorm_statistics_pass(&c->x->data, c->partial);
  return SEGC_OK;
}

static segc_status gn_apply(void *p) {
  gn_context *c = p;
  segc_groupnorm_normalize_pass(&c->x->data, c->out, c->scale, c->shift, true);
  return SEGC_OK;
}

static int bench_groupnorm_dtype(const bench_options *o, segc_dtype dtype) {
  const segc_shape s = segc_shape5(1, 32, 96, 96, 96);
  segc_tensor probe =
      segc_tensor_view(NULL, s, dtype, SEGC_LAYOUT_NDHWC, SEGC_DEVICE_CPU);
  const size_t bytes = segc_tensor_bytes(&probe);
  bench_env env;
  if (bench_env_init(o, &env, 6 * bytes + (64u << 20), bytes))
    return 1;
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
  gn_context c = {g, &layer, NULL, NULL, NULL, gamma, beta};
  BENCH_TRY(o,
            segc_graph_new_value(g, s, dtype, SEGC_LAYOUT_NDHWC, true, &c.x));
  bench_fill(&c.x->data);
  const copy_job copy = {env.copy_buffer, c.x->data.data, bytes};
  printf("GroupNorm(8)+ReLU, 1x32x96^3 NDHWC %s (%.1f MB)\n",
         segc_dtype_name(dtype), (double)bytes / 1e6);

  timings t;
  BENCH_TRY(o, bench_measure(o, gn_forward, &c, &copy, &t));
  bench_report(o, "forward (read 2, write 1)", &t, 3.0 * bytes, bytes);
  c.partial = malloc(sizeof(double) * (size_t)segc_groupnorm_partial_count(s));
  c.out = malloc(bytes);
  if (!c.partial || !c.out) {
    fprintf(stderr, "segbench groupnorm: error: out of memory\n");
    return 1;
  }
  BENCH_TRY(o, bench_measure(o, gn_sums, &c, &copy, &t));
  bench_report(o, "  statistics pass (read 1)", &t, 1.0 * bytes, bytes);
  BENCH_TRY(o, bench_measure(o, gn_apply, &c, &copy, &t));
  bench_report(o, "  normalize pass (read 1, write 1)", &t, 2.0 * bytes, bytes);
  free(c.partial);
  free(c.out);

  g->training = true;
  segc_value *y;
  BENCH_TRY(o, segc_groupnorm_forward(g, &layer, c.x, &y));
  segc_tensor dy;
  bool accumulate;
  BENCH_TRY(o, segc_value_grad_target(g, y, &dy, &accumulate));
  bench_fill(&dy);
  backward_context bc = {g, c.x, &g->tape[g->tape_count - 1]};
  BENCH_TRY(o, bench_measure(o, bench_run_entry_backward, &bc, &copy, &t));
  bench_report(o, "backward (read 4, write 1)", &t, 5.0 * bytes, bytes);
  g->tape_count = 0;
  segc_value_release(g, y);
  segc_value_release(g, c.x);
  bench_env_destroy(&env);
  return 0;
}

int segc_bench_groupnorm(int argc, char **argv) {
  bench_options o;
  const int bad = bench_parse_options(argc, argv, "groupnorm", &o);
  if (bad)
    return bad;
  segc_set_threads(o.threads);
  printf("segbench groupnorm: %d threads, medians of %d runs\n", segc_threads(),
         o.repeat);
  int rc = 0;
  rc |= bench_groupnorm_dtype(&o, SEGC_F32);
  rc |= bench_groupnorm_dtype(&o, SEGC_BF16);
  return rc;
}
