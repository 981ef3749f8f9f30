// GroupNorm(+ReLU) against the naive double-precision reference of
// util/op_reference.c: forward in both layouts and both dtypes, gradients of
// x, gamma and beta by central finite differences, the recompute of the
// output in backward, and bitwise equality between 1 and 2 threads and
// between the two layouts.
#include <math.h>
#include <omp.h>

#include "autograd/gradcheck.h"
#include "layers/elementwise.h"
#include "layers/groupnorm.h"
#include "op_test_util.h"

// What the finite differences perturb: x, gamma or beta.
typedef struct {
  const gn_case *gc;
  double *x, *gamma, *beta, *y;
  const float *r;
  int which;  // 0 x, 1 gamma, 2 beta
} gn_loss_context;

static double gn_loss(const double *v, void *p) {
  gn_loss_context *lc = p;
  const double *x = lc->which == 0 ? v : lc->x;
  const double *gamma = lc->which == 1 ? v : lc->gamma;
  const double *beta = lc->which == 2 ? v : lc->beta;
  gn_reference(lc->gc, x, gamma, beta, lc->y, NULL, NULL);
  double loss = 0.0;
  for (int64_t i = 0; i < segc_shape_numel(lc->gc->shape); ++i)
    loss += lc->r[i] * lc->y[i];
  return loss;
}

// Random input, gamma in [0.5, 1.5), beta in [-0.5, 0.5), and (with ReLU)
// x pushed until every pre-activation is at least 0.1 from 0, so finite
// differences (which move it by ~1e-3) never cross the kink.
static void make_inputs(const gn_case *gc, uint64_t stream, float *x,
                        float *gamma, float *beta) {
  const int64_t n = segc_shape_numel(gc->shape), c = gc->shape.c;
  test_fill_uniform(x, n, -1.0f, 2.0f, stream);
  test_fill_uniform(gamma, c, 0.5f, 1.5f, stream + 1);
  test_fill_uniform(beta, c, -0.5f, 0.5f, stream + 2);
  if (!gc->relu) return;
  const double closest = gn_move_from_kink(gc, x, gamma, beta);
  CHECK(closest >= 0.1, "pre-activations kept away from 0: closest %g",
        closest);
}

static segc_param make_param(const char *name, float *value, float *grad,
                             int64_t c) {
  segc_param p;
  memset(&p, 0, sizeof p);
  snprintf(p.name, sizeof p.name, "%s", name);
  p.value = segc_tensor_view(value, segc_shape5(1, c, 1, 1, 1), SEGC_F32,
                             SEGC_LAYOUT_NCDHW, SEGC_DEVICE_CPU);
  p.grad = p.value;
  p.grad.data = grad;
  return p;
}

// Forward (inference) against the reference. f32: |y - ref| <= 1e-5 max|ref|
// (f32 rounding of x*scale + shift is a few 1e-7 of the largest term); bf16
// (reference from the same bf16 inputs): rounding the output to bf16 (7
// stored mantissa bits, to nearest) moves it by at most 2^-8 |y|, so
// |y - ref| <= 2^-8 |ref| + 1e-5 max|ref|.
static int check_forward(const gn_case *gc, segc_dtype dtype) {
  const int64_t n = segc_shape_numel(gc->shape), c = gc->shape.c;
  float *x = op_alloc_f32(n), *y = op_alloc_f32(n), gamma[64], beta[64];
  double *xd = op_alloc_f64(n), *ref = op_alloc_f64(n), gd[64], bd[64];
  make_inputs(gc, 10, x, gamma, beta);
  if (dtype == SEGC_BF16) op_round_bf16(x, n);
  for (int64_t i = 0; i < n; ++i) xd[i] = x[i];
  for (int64_t k = 0; k < c; ++k) {
    gd[k] = gamma[k];
    bd[k] = beta[k];
  }
  gn_reference(gc, xd, gd, bd, ref, NULL, NULL);

  op_test_env env;
  CHECK_OK(op_env_init(&env, 64, 64));
  segc_param pg = make_param("gamma", gamma, NULL, c);
  segc_param pb = make_param("beta", beta, NULL, c);
  segc_groupnorm layer = {gc->groups, (float)gc->eps, gc->relu, &pg, &pb};
  segc_value *xv, *yv;
  CHECK_OK(op_input(&env.graph, x, gc->shape, dtype, gc->layout, &xv));
  CHECK_OK(segc_groupnorm_forward(&env.graph, &layer, xv, &yv));
  CHECK(yv->data.dtype == dtype && yv->data.layout == gc->layout,
        "output keeps dtype and layout");
  op_to_f32(&yv->data, y);
  double scale = 0.0, worst = 0.0;
  for (int64_t i = 0; i < n; ++i) scale = fmax(scale, fabs(ref[i]));
  const double rel = dtype == SEGC_BF16 ? 1.0 / 256 : 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double excess = fabs(y[i] - ref[i]) - rel * fabs(ref[i]);
    if (excess > worst || isnan(excess))
      worst = isnan(excess) ? INFINITY : excess;
  }
  CHECK(worst <= 1e-5 * scale,
        "forward %s %s groups %d relu %d: error beyond bound %g (scale %g)",
        segc_dtype_name(dtype),
        gc->layout == SEGC_LAYOUT_NDHWC ? "NDHWC" : "NCDHW", gc->groups,
        gc->relu, worst, scale);
  segc_value_release(&env.graph, yv);
  segc_value_release(&env.graph, xv);
  CHECK(env.activations.live_bytes == 0 && env.scratch.live_bytes == 0,
        "inference leaves nothing live (%zu, %zu)", env.activations.live_bytes,
        env.scratch.live_bytes);
  CHECK(env.graph.tape_count == 0, "inference records nothing");
  op_env_destroy(&env);
  free(x);
  free(y);
  free(xd);
  free(ref);
  return 0;
}

// Gradients of x, gamma and beta (f32) against central differences of the
// reference, loss = sum(r * f(x)). The f32 backward is good to a few 1e-7
// relative (its sums are in double) and the differences (step 1e-3, in
// double, on a smooth function) to ~1e-7, so the bound 1e-5 (relative to the
// largest gradient; ~6e-8 seen) has margin, while a missing or wrong term
// (e.g. the mean or variance path) is off by more than 1e-3.
static int check_gradients(const gn_case *gc) {
  const int64_t n = segc_shape_numel(gc->shape), c = gc->shape.c;
  float *x = op_alloc_f32(n), *r = op_alloc_f32(n), *dx = op_alloc_f32(n);
  // Parameter gradients start at 0.25: backward must add to them.
  float gamma[64], beta[64], dgamma[64], dbeta[64];
  for (int k = 0; k < 64; ++k) dgamma[k] = dbeta[k] = 0.25f;
  make_inputs(gc, 20, x, gamma, beta);
  test_fill_uniform(r, n, -1.0f, 1.0f, 30);

  op_test_env env;
  CHECK_OK(op_env_init(&env, 64, 64));
  env.graph.training = true;
  segc_param pg = make_param("gamma", gamma, dgamma, c);
  segc_param pb = make_param("beta", beta, dbeta, c);
  segc_groupnorm layer = {gc->groups, (float)gc->eps, gc->relu, &pg, &pb};
  segc_value *xv, *yv, *sum, *loss;
  CHECK_OK(op_input(&env.graph, x, gc->shape, SEGC_F32, gc->layout, &xv));
  CHECK_OK(segc_groupnorm_forward(&env.graph, &layer, xv, &yv));
  if (gc->residual) {
    CHECK_OK(segc_add_forward(&env.graph, yv, xv, &sum));
    segc_value_release(&env.graph, yv);
    yv = sum;
  }
  CHECK_OK(op_seed_loss(&env.graph, yv, r, &loss));
  segc_value_release(&env.graph, yv);
  CHECK_OK(segc_graph_backward(&env.graph, loss));
  op_to_f32(&xv->grad, dx);
  for (int64_t k = 0; k < c; ++k) {
    dgamma[k] -= 0.25f;
    dbeta[k] -= 0.25f;
  }

  double *xd = op_alloc_f64(n), *yd = op_alloc_f64(n), gd[64], bd[64];
  for (int64_t i = 0; i < n; ++i) xd[i] = x[i];
  for (int64_t k = 0; k < c; ++k) {
    gd[k] = gamma[k];
    bd[k] = beta[k];
  }
  gn_loss_context lc = {gc, xd, gd, bd, yd, r, 0};
  const char *names[3] = {"x", "gamma", "beta"};
  const float *analytic[3] = {dx, dgamma, dbeta};
  double *vars[3] = {xd, gd, bd};
  const int64_t counts[3] = {n, c, c};
  for (int which = 0; which < 3; ++which) {
    lc.which = which;
    segc_gradcheck_report rep;
    const int ok = segc_gradcheck(gn_loss, &lc, vars[which], counts[which],
                                  analytic[which], 1e-3, 1e-5, &rep);
    CHECK(ok,
          "d/d%s (%s groups %d relu %d residual %d): rel error %g at %lld "
          "(analytic %g, numeric %g)",
          names[which], gc->layout == SEGC_LAYOUT_NDHWC ? "NDHWC" : "NCDHW",
          gc->groups, gc->relu, gc->residual, rep.max_rel_error,
          (long long)rep.worst_index, rep.worst_analytic, rep.worst_numeric);
  }
  segc_value_release(&env.graph, loss);
  segc_value_release(&env.graph, xv);
  CHECK(env.scratch.live_bytes == 0, "scratch given back");
  op_env_destroy(&env);
  free(x);
  free(r);
  free(dx);
  free(xd);
  free(yd);
  return 0;
}

// A test-only loss that holds its input (like a convolution holds its
// input): loss = 0.5 sum(r y^2). Its backward checks that the data it finds
// (rebuilt by the recompute) equals the forward output bit for bit.
typedef struct {
  segc_value *y, *loss;
  const float *r;
  const void *expected;
  size_t bytes;
} hold_saved;

static int rebuilt_matches = -1;

static segc_status hold_backward(segc_graph *g, void *p) {
  hold_saved *s = p;
  rebuilt_matches =
      s->y->data.data && memcmp(s->y->data.data, s->expected, s->bytes) == 0;
  segc_tensor gy;
  bool acc;
  SEGC_TRY(segc_value_grad_target(g, s->y, &gy, &acc));
  const float dl = *(const float *)s->loss->grad.data;
  for (int64_t i = 0; i < segc_tensor_numel(&gy); ++i) {
    float v = s->r[i] * dl *
              segc_load_f32(s->y->data.data, s->y->data.dtype, (size_t)i);
    if (acc) v += segc_load_f32(gy.data, gy.dtype, (size_t)i);
    segc_store_f32(gy.data, gy.dtype, (size_t)i, v);
  }
  return SEGC_OK;
}

static segc_status hold_square(segc_graph *g, segc_value *y, const float *r,
                               const void *expected, segc_value **loss) {
  SEGC_TRY(segc_graph_new_value(g, segc_shape5(1, 1, 1, 1, 1), SEGC_F32,
                                SEGC_LAYOUT_NCDHW, true, loss));
  *(float *)(*loss)->data.data = 0.0f;  // the value is not checked
  hold_saved *s;
  SEGC_TRY(segc_graph_alloc_saved(g, sizeof *s, (void **)&s));
  s->y = y;
  s->loss = *loss;
  s->r = r;
  s->expected = expected;
  s->bytes = segc_tensor_bytes(&y->data);
  return segc_graph_record(g, "hold_square", hold_backward, s, loss, 1, &y, 1);
}

static int check_recompute(segc_dtype dtype, segc_layout layout) {
  const gn_case gc = {
      segc_shape5(2, 16, 5, 6, 7), layout, 4, 1e-5, true, false};
  const int64_t n = segc_shape_numel(gc.shape);
  float *x = op_alloc_f32(n), *r = op_alloc_f32(n), gamma[16], beta[16];
  float dgamma[16] = {0}, dbeta[16] = {0};
  make_inputs(&gc, 40, x, gamma, beta);
  test_fill_uniform(r, n, -1.0f, 1.0f, 41);
  op_test_env env;
  CHECK_OK(op_env_init(&env, 64, 64));
  env.graph.training = true;
  segc_param pg = make_param("gamma", gamma, dgamma, 16);
  segc_param pb = make_param("beta", beta, dbeta, 16);
  segc_groupnorm layer = {gc.groups, 1e-5f, true, &pg, &pb};
  segc_value *xv, *yv, *loss;
  CHECK_OK(op_input(&env.graph, x, gc.shape, dtype, layout, &xv));
  CHECK_OK(segc_groupnorm_forward(&env.graph, &layer, xv, &yv));
  const size_t bytes = segc_tensor_bytes(&yv->data);
  void *expected = malloc(bytes);
  memcpy(expected, yv->data.data, bytes);
  CHECK_OK(hold_square(&env.graph, yv, r, expected, &loss));
  const size_t live_before = env.activations.live_bytes;
  segc_value_release(&env.graph, yv);
  CHECK(yv->data.data == NULL, "the tape does not keep the norm's output");
  CHECK(live_before - env.activations.live_bytes >= bytes,
        "its memory went back to the arena");
  rebuilt_matches = -1;
  CHECK_OK(segc_graph_backward(&env.graph, loss));
  CHECK(rebuilt_matches == 1, "rebuilt output equals the forward bitwise (%s)",
        segc_dtype_name(dtype));
  CHECK(yv->data.data == NULL, "rebuilt output freed after its last use");
  CHECK(xv->grad.data != NULL, "x received a gradient");
  segc_value_release(&env.graph, loss);
  segc_value_release(&env.graph, xv);
  CHECK(env.scratch.live_bytes == 0, "scratch given back");
  op_env_destroy(&env);
  free(expected);
  free(x);
  free(r);
  return 0;
}

// Two norms in a row, the first's output released at once: the second's
// output cannot be recomputable (its input may be gone), so it stays alive,
// and backward rebuilds the first's output for the second's backward.
static int check_chained(void) {
  const segc_shape s = segc_shape5(1, 8, 3, 4, 5);
  const int64_t n = segc_shape_numel(s);
  float *x = op_alloc_f32(n), *r = op_alloc_f32(n);
  test_fill_uniform(x, n, -1.0f, 2.0f, 45);
  test_fill_uniform(r, n, -1.0f, 1.0f, 46);
  op_test_env env;
  CHECK_OK(op_env_init(&env, 16, 16));
  env.graph.training = true;
  segc_groupnorm layer = {4, 1e-5f, true, NULL, NULL};
  segc_value *xv, *y1, *y2, *loss;
  CHECK_OK(op_input(&env.graph, x, s, SEGC_F32, SEGC_LAYOUT_NDHWC, &xv));
  CHECK_OK(segc_groupnorm_forward(&env.graph, &layer, xv, &y1));
  CHECK_OK(segc_groupnorm_forward(&env.graph, &layer, y1, &y2));
  CHECK(y1->recompute && !y2->recompute, "only the first output rebuilds");
  void *expected = malloc(segc_tensor_bytes(&y2->data));
  memcpy(expected, y2->data.data, segc_tensor_bytes(&y2->data));
  CHECK_OK(hold_square(&env.graph, y2, r, expected, &loss));
  segc_value_release(&env.graph, y1);
  segc_value_release(&env.graph, y2);
  CHECK(y1->data.data == NULL && y2->data.data != NULL,
        "the first output is freed, the second kept");
  rebuilt_matches = -1;
  CHECK_OK(segc_graph_backward(&env.graph, loss));
  CHECK(rebuilt_matches == 1, "the kept output is intact");
  CHECK(xv->grad.data != NULL, "x received a gradient");
  segc_value_release(&env.graph, loss);
  op_env_destroy(&env);
  free(expected);
  free(x);
  free(r);
  return 0;
}

// Forward output, dx, dgamma and dbeta for one thread count (bytes).
typedef struct {
  void *y, *dx;
  float dgamma[32], dbeta[32];
} gn_run;

static int run_once(segc_dtype dtype, segc_layout layout, gn_run *out) {
  const segc_shape s = segc_shape5(2, 32, 16, 16, 16);  // 8 chunks a sample
  const int64_t n = segc_shape_numel(s);
  float *x = op_alloc_f32(n), *r = op_alloc_f32(n), gamma[32], beta[32];
  // Drawn in NDHWC order, then stored in `layout`: the same logical tensors
  // for both layouts.
  float *drawn = op_alloc_f32(n);
  test_fill_uniform(drawn, n, -1.0f, 2.0f, 50);
  segc_tensor from =
      segc_tensor_view(drawn, s, SEGC_F32, SEGC_LAYOUT_NDHWC, SEGC_DEVICE_CPU);
  segc_tensor to = segc_tensor_view(x, s, SEGC_F32, layout, SEGC_DEVICE_CPU);
  CHECK_OK(segc_tensor_copy(&from, &to));
  test_fill_uniform(drawn, n, -1.0f, 1.0f, 51);
  to.data = r;
  CHECK_OK(segc_tensor_copy(&from, &to));
  free(drawn);
  test_fill_uniform(gamma, 32, 0.5f, 1.5f, 52);
  test_fill_uniform(beta, 32, -0.5f, 0.5f, 53);
  memset(out->dgamma, 0, sizeof out->dgamma);
  memset(out->dbeta, 0, sizeof out->dbeta);
  op_test_env env;
  CHECK_OK(op_env_init(&env, 128, 128));
  env.graph.training = true;
  segc_param pg = make_param("gamma", gamma, out->dgamma, 32);
  segc_param pb = make_param("beta", beta, out->dbeta, 32);
  segc_groupnorm layer = {8, 1e-5f, true, &pg, &pb};
  segc_value *xv, *yv, *loss;
  CHECK_OK(op_input(&env.graph, x, s, dtype, layout, &xv));
  CHECK_OK(segc_groupnorm_forward(&env.graph, &layer, xv, &yv));
  const size_t bytes = segc_tensor_bytes(&yv->data);
  out->y = malloc(bytes);
  out->dx = malloc(bytes);
  memcpy(out->y, yv->data.data, bytes);
  CHECK_OK(op_seed_loss(&env.graph, yv, r, &loss));
  segc_value_release(&env.graph, yv);
  CHECK_OK(segc_graph_backward(&env.graph, loss));
  memcpy(out->dx, xv->grad.data, bytes);
  op_env_destroy(&env);
  free(x);
  free(r);
  return (int)bytes;
}

static int check_threads(segc_dtype dtype, segc_layout layout) {
  gn_run one, two;
  omp_set_num_threads(1);
  const int bytes = run_once(dtype, layout, &one);
  omp_set_num_threads(2);
  run_once(dtype, layout, &two);
  CHECK(memcmp(one.y, two.y, (size_t)bytes) == 0, "forward 1 vs 2 threads");
  CHECK(memcmp(one.dx, two.dx, (size_t)bytes) == 0, "dx 1 vs 2 threads");
  CHECK(memcmp(one.dgamma, two.dgamma, sizeof one.dgamma) == 0 &&
            memcmp(one.dbeta, two.dbeta, sizeof one.dbeta) == 0,
        "dgamma, dbeta 1 vs 2 threads");
  free(one.y);
  free(one.dx);
  free(two.y);
  free(two.dx);
  return 0;
}

// NCDHW runs through a channels-last copy: the same numbers, transposed.
static int check_layouts_agree(void) {
  gn_run a, b;
  const int bytes = run_once(SEGC_F32, SEGC_LAYOUT_NDHWC, &a);
  run_once(SEGC_F32, SEGC_LAYOUT_NCDHW, &b);
  const segc_shape s = segc_shape5(2, 32, 16, 16, 16);
  segc_tensor t =
      segc_tensor_view(b.y, s, SEGC_F32, SEGC_LAYOUT_NCDHW, SEGC_DEVICE_CPU);
  float *y_last = op_alloc_f32(segc_shape_numel(s));
  segc_tensor tl =
      segc_tensor_view(y_last, s, SEGC_F32, SEGC_LAYOUT_NDHWC, SEGC_DEVICE_CPU);
  CHECK_OK(segc_tensor_copy(&t, &tl));
  CHECK(memcmp(y_last, a.y, (size_t)bytes) == 0, "NCDHW forward = NDHWC");
  t.data = b.dx;
  CHECK_OK(segc_tensor_copy(&t, &tl));
  CHECK(memcmp(y_last, a.dx, (size_t)bytes) == 0, "NCDHW dx = NDHWC");
  CHECK(memcmp(a.dgamma, b.dgamma, sizeof a.dgamma) == 0, "dgamma agrees");
  free(y_last);
  free(a.y);
  free(a.dx);
  free(b.y);
  free(b.dx);
  return 0;
}

static int check_errors(void) {
  op_test_env env;
  CHECK_OK(op_env_init(&env, 4, 4));
  float x[2 * 16 * 8] = {0}, g8[8] = {0};
  segc_value *xv, *yv;
  CHECK_OK(op_input(&env.graph, x, segc_shape5(2, 16, 2, 2, 2), SEGC_F32,
                    SEGC_LAYOUT_NDHWC, &xv));
  segc_groupnorm bad_groups = {3, 1e-5f, false, NULL, NULL};
  CHECK_FAILS(segc_groupnorm_forward(&env.graph, &bad_groups, xv, &yv),
              SEGC_ERR_INVALID, "16 channels do not split into 3 groups");
  segc_param small = make_param("gamma", g8, NULL, 8);
  segc_groupnorm bad_gamma = {8, 1e-5f, false, &small, NULL};
  CHECK_FAILS(segc_groupnorm_forward(&env.graph, &bad_gamma, xv, &yv),
              SEGC_ERR_INVALID, "expected 16 channels");
  segc_groupnorm bad_eps = {8, -1.0f, false, NULL, NULL};
  CHECK_FAILS(segc_groupnorm_forward(&env.graph, &bad_eps, xv, &yv),
              SEGC_ERR_INVALID, "eps");
  segc_groupnorm ok = {8, 1e-5f, true, NULL, NULL};
  xv->data.device = SEGC_DEVICE_CUDA;
#ifdef SEGC_HAVE_CUDA
  // A CUDA build has the kernels; host memory labelled cuda on a CPU graph
  // never reaches them.
  CHECK_FAILS(segc_groupnorm_forward(&env.graph, &ok, xv, &yv),
              SEGC_ERR_INVALID, "groupnorm: x is on cuda, the graph on cpu");
#else
  CHECK_FAILS(segc_groupnorm_forward(&env.graph, &ok, xv, &yv),
              SEGC_ERR_UNSUPPORTED, "groupnorm: no cuda kernel for");
#endif
  xv->data.device = SEGC_DEVICE_CPU;
  xv->data.dtype = SEGC_F16;
  CHECK_FAILS(segc_groupnorm_forward(&env.graph, &ok, xv, &yv),
              SEGC_ERR_UNSUPPORTED, "dtype f16");
  xv->data.dtype = SEGC_F32;
  CHECK(env.scratch.live_bytes == 0, "failures leave no scratch behind");
  op_env_destroy(&env);
  return 0;
}

int main(void) {
  const segc_shape odd = segc_shape5(2, 16, 3, 5, 7);
  const segc_shape chunked = segc_shape5(2, 32, 10, 12, 14);  // 4 chunks
  for (int layout = 0; layout < 2; ++layout)
    for (int groups = 4; groups <= 8; groups += 4)
      for (int relu = 0; relu < 2; ++relu) {
        const gn_case gc = {odd,  (segc_layout)layout, groups, 1e-5, relu,
                            false};
        check_forward(&gc, SEGC_F32);
        check_forward(&gc, SEGC_BF16);
      }
  for (int relu = 0; relu < 2; ++relu) {
    const gn_case gc = {chunked, SEGC_LAYOUT_NDHWC, 8, 1e-5, relu, false};
    check_forward(&gc, SEGC_F32);
    check_forward(&gc, SEGC_BF16);
  }
  const segc_shape small = segc_shape5(2, 8, 3, 4, 5);
  for (int layout = 0; layout < 2; ++layout)
    for (int relu = 0; relu < 2; ++relu) {
      const gn_case gc = {small, (segc_layout)layout, 4, 1e-5, relu, false};
      check_gradients(&gc);
    }
  const gn_case residual = {small, SEGC_LAYOUT_NDHWC, 2, 1e-5, true, true};
  check_gradients(&residual);
  check_recompute(SEGC_F32, SEGC_LAYOUT_NDHWC);
  check_recompute(SEGC_BF16, SEGC_LAYOUT_NDHWC);
  check_recompute(SEGC_F32, SEGC_LAYOUT_NCDHW);
  check_chained();
  check_threads(SEGC_F32, SEGC_LAYOUT_NDHWC);
  check_threads(SEGC_BF16, SEGC_LAYOUT_NDHWC);
  check_layouts_agree();
  check_errors();
  return test_finish("groupnorm");
}
