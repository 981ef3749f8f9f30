// ReLU, add, dropout and channel softmax against naive references written
// here: forward values, gradients (finite differences in double, or exact
// where the gradient is exact), accumulation into an existing gradient,
// dropout's mask contract, and 1 vs 2 threads bitwise.
#include <math.h>
#include <omp.h>

#include "autograd/gradcheck.h"
#include "core/rng.h"
#include "layers/elementwise.h"
#include "util/reference_ops.h"
#include "op_test_util.h"

// ---- ReLU
// --------------------------------------------------------------------

static double relu_loss(const double *x, void *p) {
  const float *r = ((const float *const *)p)[0];
  const int64_t n = (int64_t)(size_t)((void *const *)p)[1];
  double loss = 0.0;
  for (int64_t i = 0; i < n; ++i)
    loss += r[i] * ((x[i] > 0.0 ? x[i] : 0.0) + x[i]);  // relu(x) + x
  return loss;
}

static int check_relu(segc_dtype dtype) {
  const segc_shape s = segc_shape5(2, 3, 3, 4, 5);
  const int64_t n = segc_shape_numel(s);
  float *x = op_alloc_f32(n), *r = op_alloc_f32(n), *y = op_alloc_f32(n);
  float *dx = op_alloc_f32(n);
  // |x| >= 0.1, so finite differences (step 1e-3) never cross the kink.
  test_fill_uniform(x, n, -1.0f, 1.0f, 60);
  for (int64_t i = 0; i < n; ++i) x[i] += x[i] < 0.0f ? -0.1f : 0.1f;
  test_fill_uniform(r, n, -1.0f, 1.0f, 61);
  if (dtype == SEGC_BF16) {
    op_round_bf16(x, n);
    op_round_bf16(r, n);
  }
  op_test_env env;
  CHECK_OK(op_env_init(&env, 16, 16));
  env.graph.training = true;
  segc_value *xv, *yv, *sum, *loss;
  CHECK_OK(op_input(&env.graph, x, s, dtype, SEGC_LAYOUT_NDHWC, &xv));
  CHECK_OK(segc_relu_forward(&env.graph, xv, &yv));
  op_to_f32(&yv->data, y);
  int exact = 1;
  for (int64_t i = 0; i < n; ++i) exact &= y[i] == (x[i] > 0.0f ? x[i] : 0.0f);
  CHECK(exact, "relu forward is exact (%s)", segc_dtype_name(dtype));
  // loss = sum(r * (relu(x) + x)): dx receives r from add and r * (x > 0)
  // from relu (accumulated), both exact in f32 and in bf16 (r and 2r are
  // bf16 values).
  CHECK_OK(segc_add_forward(&env.graph, yv, xv, &sum));
  CHECK_OK(op_seed_loss(&env.graph, sum, r, &loss));
  segc_value_release(&env.graph, yv);
  segc_value_release(&env.graph, sum);
  CHECK_OK(segc_graph_backward(&env.graph, loss));
  op_to_f32(&xv->grad, dx);
  exact = 1;
  for (int64_t i = 0; i < n; ++i)
    exact &= dx[i] == (x[i] > 0.0f ? 2.0f * r[i] : r[i]);
  CHECK(exact, "relu + residual gradient is exact (%s)",
        segc_dtype_name(dtype));
  if (dtype == SEGC_F32) {  // the same against finite differences
    double *xd = op_alloc_f64(n);
    for (int64_t i = 0; i < n; ++i) xd[i] = x[i];
    void *context[2] = {r, (void *)(size_t)n};
    segc_gradcheck_report rep;
    CHECK(segc_gradcheck(relu_loss, context, xd, n, dx, 1e-3, 1e-6, &rep),
          "relu gradcheck: rel error %g", rep.max_rel_error);
    free(xd);
  }
  segc_value_release(&env.graph, loss);
  segc_value_release(&env.graph, xv);
  op_env_destroy(&env);
  free(x);
  free(r);
  free(y);
  free(dx);
  return 0;
}

// ---- add
// ---------------------------------------------------------------------

static int check_add(segc_dtype dtype) {
  const segc_shape s = segc_shape5(2, 5, 3, 4, 3);
  const int64_t n = segc_shape_numel(s);
  float *a = op_alloc_f32(n), *b = op_alloc_f32(n), *r = op_alloc_f32(n);
  float *y = op_alloc_f32(n), *da = op_alloc_f32(n), *db = op_alloc_f32(n);
  test_fill_uniform(a, n, -2.0f, 2.0f, 70);
  test_fill_uniform(b, n, -2.0f, 2.0f, 71);
  test_fill_uniform(r, n, -1.0f, 1.0f, 72);
  if (dtype == SEGC_BF16) {
    op_round_bf16(a, n);
    op_round_bf16(b, n);
    op_round_bf16(r, n);
  }
  op_test_env env;
  CHECK_OK(op_env_init(&env, 16, 16));
  env.graph.training = true;
  segc_value *av, *bv, *yv, *twice, *loss;
  CHECK_OK(op_input(&env.graph, a, s, dtype, SEGC_LAYOUT_NCDHW, &av));
  CHECK_OK(op_input(&env.graph, b, s, dtype, SEGC_LAYOUT_NCDHW, &bv));
  CHECK_OK(segc_add_forward(&env.graph, av, bv, &yv));
  op_to_f32(&yv->data, y);
  // f32: a + b is the double sum rounded once, so exact. bf16: the output is
  // rounded to bf16, within 2^-8 relative.
  double worst = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double ref = (double)a[i] + b[i];
    const double err =
        fabs(y[i] - (dtype == SEGC_F32 ? (double)(float)ref : ref));
    const double bound = dtype == SEGC_F32 ? 0.0 : fabs(ref) / 256;
    if (err - bound > worst) worst = err - bound;
  }
  CHECK(worst <= 0.0, "add forward beyond its bound by %g (%s)", worst,
        segc_dtype_name(dtype));
  // loss = sum(r * ((a + b) + a)): da = 2r (accumulated), db = r, exactly.
  CHECK_OK(segc_add_forward(&env.graph, yv, av, &twice));
  CHECK_OK(op_seed_loss(&env.graph, twice, r, &loss));
  segc_value_release(&env.graph, yv);
  segc_value_release(&env.graph, twice);
  CHECK(env.graph.tape_count == 3, "add holds nothing but records (%d)",
        env.graph.tape_count);
  CHECK_OK(segc_graph_backward(&env.graph, loss));
  op_to_f32(&av->grad, da);
  op_to_f32(&bv->grad, db);
  int exact = 1;
  for (int64_t i = 0; i < n; ++i)
    exact &= da[i] == 2.0f * r[i] && db[i] == r[i];
  CHECK(exact, "add gradients exact (%s)", segc_dtype_name(dtype));

  // Mismatches name what differs.
  segc_value *other;
  const segc_shape t = segc_shape5(2, 5, 3, 4, 4);
  float z[2 * 5 * 3 * 4 * 4] = {0};
  CHECK_OK(op_input(&env.graph, z, t, dtype, SEGC_LAYOUT_NCDHW, &other));
  CHECK_FAILS(segc_add_forward(&env.graph, av, other, &yv), SEGC_ERR_INVALID,
              "2x5x3x4x3 vs 2x5x3x4x4");
  CHECK_OK(op_input(&env.graph, a, s, dtype == SEGC_F32 ? SEGC_BF16 : SEGC_F32,
                    SEGC_LAYOUT_NCDHW, &other));
  CHECK_FAILS(segc_add_forward(&env.graph, av, other, &yv), SEGC_ERR_INVALID,
              "dtypes differ");
  CHECK_OK(op_input(&env.graph, a, s, dtype, SEGC_LAYOUT_NDHWC, &other));
  CHECK_FAILS(segc_add_forward(&env.graph, av, other, &yv), SEGC_ERR_INVALID,
              "layouts differ: NCDHW vs NDHWC");
  other->data.device = SEGC_DEVICE_CUDA;
  CHECK_FAILS(segc_relu_forward(&env.graph, other, &yv), SEGC_ERR_UNSUPPORTED,
              "relu: no cuda kernel for");
  // Both inputs on cuda, the graph on the CPU: host memory labelled cuda
  // never reaches a kernel.
  CHECK_OK(op_input(&env.graph, a, s, dtype, SEGC_LAYOUT_NCDHW, &other));
  segc_value *other_b;
  CHECK_OK(op_input(&env.graph, b, s, dtype, SEGC_LAYOUT_NCDHW, &other_b));
  other->data.device = other_b->data.device = SEGC_DEVICE_CUDA;
#ifdef SEGC_HAVE_CUDA
  CHECK_FAILS(segc_add_forward(&env.graph, other, other_b, &yv),
              SEGC_ERR_INVALID, "add: a is on cuda, the graph on cpu");
#else
  CHECK_FAILS(segc_add_forward(&env.graph, other, other_b, &yv),
              SEGC_ERR_UNSUPPORTED, "add: no cuda kernel for");
#endif
  op_env_destroy(&env);
  free(a);
  free(b);
  free(r);
  free(y);
  free(da);
  free(db);
  return 0;
}

// ---- dropout
// -----------------------------------------------------------------

// y and dx of one dropout in training (seed 99, the given step, first op of
// the pass), loss = sum(r * y).
static int run_dropout(segc_dtype dtype, uint64_t step, float p, const float *x,
                       const float *r, segc_shape s, float *y, float *dx) {
  op_test_env env;
  CHECK_OK(op_env_init(&env, 16, 16));
  env.graph.training = true;
  env.graph.seed = 99;
  env.graph.step = step;
  segc_value *xv, *yv, *loss;
  CHECK_OK(op_input(&env.graph, x, s, dtype, SEGC_LAYOUT_NDHWC, &xv));
  CHECK_OK(segc_dropout_forward(&env.graph, xv, p, &yv));
  CHECK(env.graph.op_index == 1, "dropout takes one op index");
  op_to_f32(&yv->data, y);
  CHECK_OK(op_seed_loss(&env.graph, yv, r, &loss));
  segc_value_release(&env.graph, yv);
  CHECK_OK(segc_graph_backward(&env.graph, loss));
  op_to_f32(&xv->grad, dx);
  op_env_destroy(&env);
  return 0;
}

static int check_dropout(void) {
  const segc_shape s = segc_shape5(2, 8, 16, 16, 16);  // 65536 elements
  const int64_t n = segc_shape_numel(s);
  const float p = 0.2f, scale = 1.0f / 0.8f;
  float *x = op_alloc_f32(n), *r = op_alloc_f32(n), *y = op_alloc_f32(n);
  float *dx = op_alloc_f32(n), *y2 = op_alloc_f32(n), *dx2 = op_alloc_f32(n);
  test_fill_uniform(x, n, 0.5f, 1.5f, 80);  // never 0: a 0 in y means dropped
  test_fill_uniform(r, n, -1.0f, 1.0f, 81);
  run_dropout(SEGC_F32, 5, p, x, r, s, y, dx);

  // The contract: element i is dropped iff uniform(seed, stream, i) < p with
  // stream (dropout, step 5, op index 0); kept values and gradients are
  // scaled by 1/(1-p) (in f32, as PyTorch).
  const uint64_t stream = segc_rng_stream(SEGC_RNG_DROPOUT, 5, 0);
  int64_t dropped = 0, contract = 1, grads = 1;
  for (int64_t i = 0; i < n; ++i) {
    const bool drop = segc_rng_uniform(99, stream, (uint64_t)i) < p;
    dropped += drop;
    contract &= drop ? y[i] == 0.0f : y[i] == x[i] * scale;
    grads &= drop ? dx[i] == 0.0f : dx[i] == r[i] * scale;
  }
  CHECK(contract, "y = mask(uniform < p) * x / (1 - p)");
  CHECK(grads, "backward regenerates the same mask");
  // Binomial(n, p): sd = sqrt(p (1-p) / n) = 0.0016; 5 sd = 0.0078.
  const double fraction = (double)dropped / (double)n;
  CHECK(fabs(fraction - p) < 5.0 * sqrt(p * (1.0 - p) / (double)n),
        "dropped fraction %g, expected %g", fraction, (double)p);

  // Same (seed, step, op index): same mask; another step: another mask.
  run_dropout(SEGC_F32, 5, p, x, r, s, y2, dx2);
  CHECK(memcmp(y, y2, sizeof(float) * (size_t)n) == 0, "same step, same mask");
  run_dropout(SEGC_F32, 6, p, x, r, s, y2, dx2);
  int64_t differ = 0;
  for (int64_t i = 0; i < n; ++i) differ += (y[i] == 0.0f) != (y2[i] == 0.0f);
  // Independent masks differ at a fraction 2p(1-p) = 0.32 of the elements.
  CHECK(differ > n / 4, "another step, another mask (%lld differ)",
        (long long)differ);
  // bf16 uses the same mask.
  run_dropout(SEGC_BF16, 5, p, x, r, s, y2, dx2);
  int64_t same_mask = 1;
  for (int64_t i = 0; i < n; ++i)
    same_mask &= (y[i] == 0.0f) == (y2[i] == 0.0f);
  CHECK(same_mask, "bf16 draws the same mask");
  // 1 vs 2 threads.
  omp_set_num_threads(1);
  run_dropout(SEGC_F32, 5, p, x, r, s, y2, dx2);
  omp_set_num_threads(2);
  CHECK(memcmp(y, y2, sizeof(float) * (size_t)n) == 0 &&
            memcmp(dx, dx2, sizeof(float) * (size_t)n) == 0,
        "dropout 1 vs 2 threads");

  // Eval mode and p == 0: x itself, one more reference, no copy.
  op_test_env env;
  CHECK_OK(op_env_init(&env, 16, 16));
  segc_value *xv, *yv;
  CHECK_OK(op_input(&env.graph, x, s, SEGC_F32, SEGC_LAYOUT_NDHWC, &xv));
  const size_t live = env.activations.live_bytes;
  CHECK_OK(segc_dropout_forward(&env.graph, xv, p, &yv));
  CHECK(yv == xv && xv->data_refs == 2 && env.activations.live_bytes == live,
        "eval: identity without a copy");
  segc_value_release(&env.graph, yv);
  env.graph.training = true;
  CHECK_OK(segc_dropout_forward(&env.graph, xv, 0.0f, &yv));
  CHECK(yv == xv && env.graph.tape_count == 0, "p = 0: identity");
  segc_value_release(&env.graph, yv);
  CHECK_OK(segc_dropout_forward(&env.graph, xv, 1.0f, &yv));
  op_to_f32(&yv->data, y);
  int zeros = 1;
  for (int64_t i = 0; i < n; ++i) zeros &= y[i] == 0.0f;
  CHECK(zeros, "p = 1 drops everything");
  CHECK_FAILS(segc_dropout_forward(&env.graph, xv, 1.5f, &yv), SEGC_ERR_INVALID,
              "probability 1.5 is outside [0, 1]");
  op_env_destroy(&env);
  free(x);
  free(r);
  free(y);
  free(dx);
  free(y2);
  free(dx2);
  return 0;
}

// ---- softmax
// -----------------------------------------------------------------

typedef struct {
  segc_shape shape;
  segc_layout layout;
  const float *r;
  double *y;
  bool residual;  // the tested function is softmax(x) + x
} softmax_context;

static void softmax_reference(const softmax_context *sc, const double *x) {
  const segc_shape s = sc->shape;
  for (int64_t n = 0; n < s.n; ++n)
    for (int64_t d = 0; d < s.d; ++d)
      for (int64_t h = 0; h < s.h; ++h)
        for (int64_t w = 0; w < s.w; ++w) {
          double max = -INFINITY, sum = 0.0;
          for (int64_t c = 0; c < s.c; ++c)
            max = fmax(max, x[op_offset(s, sc->layout, n, c, d, h, w)]);
          for (int64_t c = 0; c < s.c; ++c)
            sum += exp(x[op_offset(s, sc->layout, n, c, d, h, w)] - max);
          for (int64_t c = 0; c < s.c; ++c) {
            const int64_t i = op_offset(s, sc->layout, n, c, d, h, w);
            sc->y[i] = exp(x[i] - max) / sum;
          }
        }
}

static double softmax_loss(const double *x, void *p) {
  softmax_context *sc = p;
  softmax_reference(sc, x);
  double loss = 0.0;
  for (int64_t i = 0; i < segc_shape_numel(sc->shape); ++i)
    loss += sc->r[i] * (sc->y[i] + (sc->residual ? x[i] : 0.0));
  return loss;
}

// Forward within 1e-6 absolute (probabilities are <= 1; expf and the
// division cost a few f32 ulps), and for f32 the gradient of
// sum(r * (softmax(x) + x)) (softmax's backward accumulating onto the add's)
// against finite differences (step 1e-3; f32 backward good to ~1e-7; bound
// 1e-5).
static int check_softmax(segc_shape s, segc_layout layout, segc_dtype dtype,
                         float spread) {
  const int64_t n = segc_shape_numel(s);
  float *x = op_alloc_f32(n), *r = op_alloc_f32(n), *y = op_alloc_f32(n);
  float *dx = op_alloc_f32(n);
  double *xd = op_alloc_f64(n), *ref = op_alloc_f64(n);
  test_fill_uniform(x, n, -spread, spread, 90);
  test_fill_uniform(r, n, -1.0f, 1.0f, 91);
  if (dtype == SEGC_BF16) op_round_bf16(x, n);
  for (int64_t i = 0; i < n; ++i) xd[i] = x[i];
  softmax_context sc = {s, layout, r, ref, false};
  softmax_reference(&sc, xd);
  op_test_env env;
  CHECK_OK(op_env_init(&env, 16, 16));
  env.graph.training = true;
  segc_value *xv, *yv, *loss;
  CHECK_OK(op_input(&env.graph, x, s, dtype, layout, &xv));
  CHECK_OK(segc_softmax_forward(&env.graph, xv, &yv));
  CHECK(yv->data.dtype == SEGC_F32, "softmax output is f32");
  op_to_f32(&yv->data, y);
  const double err = test_max_abs_diff(y, ref, n);
  CHECK(err <= 1e-6, "softmax forward error %g (%s, %s, spread %g)", err,
        layout == SEGC_LAYOUT_NDHWC ? "NDHWC" : "NCDHW", segc_dtype_name(dtype),
        (double)spread);
  segc_value *top = yv;
  if (dtype == SEGC_F32) {
    sc.residual = true;
    CHECK_OK(segc_add_forward(&env.graph, yv, xv, &top));
    segc_value_release(&env.graph, yv);
  }
  CHECK_OK(op_seed_loss(&env.graph, top, r, &loss));
  segc_value_release(&env.graph, top);
  CHECK_OK(segc_graph_backward(&env.graph, loss));
  CHECK(xv->grad.dtype == dtype, "softmax dx has x's dtype");
  op_to_f32(&xv->grad, dx);
  if (dtype == SEGC_F32) {
    segc_gradcheck_report rep;
    CHECK(segc_gradcheck(softmax_loss, &sc, xd, n, dx, 1e-3, 1e-5, &rep),
          "softmax gradcheck: rel error %g at %lld", rep.max_rel_error,
          (long long)rep.worst_index);
  }
  segc_value_release(&env.graph, loss);
  segc_value_release(&env.graph, xv);
  op_env_destroy(&env);
  free(x);
  free(r);
  free(y);
  free(dx);
  free(xd);
  free(ref);
  return 0;
}

static int softmax_run(const float *x, const float *r, segc_shape s,
                       segc_layout layout, float *y, float *dx) {
  op_test_env env;
  CHECK_OK(op_env_init(&env, 16, 16));
  env.graph.training = true;
  segc_value *xv, *yv, *loss;
  CHECK_OK(op_input(&env.graph, x, s, SEGC_F32, layout, &xv));
  CHECK_OK(segc_softmax_forward(&env.graph, xv, &yv));
  op_to_f32(&yv->data, y);
  CHECK_OK(op_seed_loss(&env.graph, yv, r, &loss));
  segc_value_release(&env.graph, yv);
  CHECK_OK(segc_graph_backward(&env.graph, loss));
  op_to_f32(&xv->grad, dx);
  op_env_destroy(&env);
  return 0;
}

static int check_softmax_threads(void) {
  const segc_shape s = segc_shape5(2, 105, 8, 8, 8);
  const int64_t n = segc_shape_numel(s);
  float *x = op_alloc_f32(n), *r = op_alloc_f32(n);
  float *y1 = op_alloc_f32(n), *y2 = op_alloc_f32(n);
  float *d1 = op_alloc_f32(n), *d2 = op_alloc_f32(n);
  test_fill_uniform(x, n, -4.0f, 4.0f, 95);
  test_fill_uniform(r, n, -1.0f, 1.0f, 96);
  omp_set_num_threads(1);
  softmax_run(x, r, s, SEGC_LAYOUT_NDHWC, y1, d1);
  omp_set_num_threads(2);
  softmax_run(x, r, s, SEGC_LAYOUT_NDHWC, y2, d2);
  CHECK(memcmp(y1, y2, sizeof(float) * (size_t)n) == 0,
        "softmax forward 1 vs 2 threads");
  CHECK(memcmp(d1, d2, sizeof(float) * (size_t)n) == 0,
        "softmax backward 1 vs 2 threads");
  // NCDHW (the same logical x and r, transposed) gives the same numbers.
  float *xt = op_alloc_f32(n), *rt = op_alloc_f32(n);
  segc_tensor from = segc_tensor_view(x, s, SEGC_F32, SEGC_LAYOUT_NDHWC,
                                      SEGC_DEVICE_CPU);
  segc_tensor to = segc_tensor_view(xt, s, SEGC_F32, SEGC_LAYOUT_NCDHW,
                                    SEGC_DEVICE_CPU);
  CHECK_OK(segc_tensor_copy(&from, &to));
  from.data = r;
  to.data = rt;
  CHECK_OK(segc_tensor_copy(&from, &to));
  softmax_run(xt, rt, s, SEGC_LAYOUT_NCDHW, y2, d2);
  for (int k = 0; k < 2; ++k) {  // back to NDHWC, into xt and rt
    from = segc_tensor_view(k ? d2 : y2, s, SEGC_F32, SEGC_LAYOUT_NCDHW,
                            SEGC_DEVICE_CPU);
    to = segc_tensor_view(k ? rt : xt, s, SEGC_F32, SEGC_LAYOUT_NDHWC,
                          SEGC_DEVICE_CPU);
    CHECK_OK(segc_tensor_copy(&from, &to));
  }
  CHECK(memcmp(y1, xt, sizeof(float) * (size_t)n) == 0 &&
            memcmp(d1, rt, sizeof(float) * (size_t)n) == 0,
        "softmax NCDHW = NDHWC bitwise");
  free(xt);
  free(rt);
  free(x);
  free(r);
  free(y1);
  free(y2);
  free(d1);
  free(d2);
  return 0;
}

int main(void) {
  check_relu(SEGC_F32);
  check_relu(SEGC_BF16);
  check_add(SEGC_F32);
  check_add(SEGC_BF16);
  check_dropout();
  const segc_shape odd = segc_shape5(2, 7, 3, 2, 5);
  for (int layout = 0; layout < 2; ++layout) {
    check_softmax(odd, (segc_layout)layout, SEGC_F32, 3.0f);
    check_softmax(odd, (segc_layout)layout, SEGC_BF16, 3.0f);
  }
  // Large logits: the max is subtracted first, nothing overflows.
  check_softmax(segc_shape5(1, 105, 2, 3, 2), SEGC_LAYOUT_NDHWC, SEGC_F32,
                80.0f);
  check_softmax_threads();
  return test_finish("elementwise");
}
