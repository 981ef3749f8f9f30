// Trilinear x2 upsampling (align_corners=False) against the naive reference
// of util/op_reference.c (PyTorch's definition: source coordinate
// (o + 0.5)/2 - 0.5 clamped at 0, upper neighbour clamped to the border),
// in both layouts and dtypes, including size-1 axes where every neighbour is
// clamped; gradients by finite differences, accumulation, and 1 vs 2
// threads bitwise.
#include <math.h>
#include <omp.h>

#include "autograd/gradcheck.h"
#include "layers/elementwise.h"
#include "op_test_util.h"

typedef struct {
  segc_shape shape;  // input
  segc_layout layout;
  const float *r;
  double *y;
  double factor;  // the tested function is factor * upsample(x)
} up_context;

static void up_reference(const up_context *uc, const double *x) {
  upsample_reference(uc->shape, uc->layout, uc->factor, x, uc->y);
}

static double upsample_loss(const double *x, void *p) {
  up_context *uc = p;
  up_reference(uc, x);
  double loss = 0.0;
  for (int64_t i = 0; i < 8 * segc_shape_numel(uc->shape); ++i)
    loss += uc->r[i] * uc->y[i];
  return loss;
}

static const char *layout_name(segc_layout layout) {
  return layout == SEGC_LAYOUT_NDHWC ? "NDHWC" : "NCDHW";
}

// Forward: f32 within 1e-6 max|x| (weights are exact multiples of 1/16; six
// f32 roundings of values <= max|x|); bf16 (reference from the same bf16
// input) also within 2^-8 |ref| for rounding the output. Gradient (f32):
// loss = sum(r * (up(x) + up(x))), the second backward accumulating, against
// finite differences (linear function: exact up to rounding; bound 1e-5).
static int check_case(segc_shape s, segc_layout layout, segc_dtype dtype) {
  const int64_t n = segc_shape_numel(s), big = 8 * n;
  const segc_shape o = segc_shape5(s.n, s.c, 2 * s.d, 2 * s.h, 2 * s.w);
  float *x = op_alloc_f32(n), *r = op_alloc_f32(big), *y = op_alloc_f32(big);
  float *dx = op_alloc_f32(n);
  double *xd = op_alloc_f64(n), *ref = op_alloc_f64(big);
  test_fill_uniform(x, n, -1.0f, 2.0f, 100);
  test_fill_uniform(r, big, -1.0f, 1.0f, 101);
  if (dtype == SEGC_BF16) op_round_bf16(x, n);
  for (int64_t i = 0; i < n; ++i) xd[i] = x[i];
  up_context uc = {s, layout, r, ref, 1.0};
  up_reference(&uc, xd);

  op_test_env env;
  CHECK_OK(op_env_init(&env, 16, 16));
  env.graph.training = true;
  segc_value *xv, *y1, *y2, *sum, *loss;
  CHECK_OK(op_input(&env.graph, x, s, dtype, layout, &xv));
  CHECK_OK(segc_upsample2x_forward(&env.graph, xv, &y1));
  CHECK(segc_shape_equal(y1->data.shape, o) && y1->data.layout == layout &&
            y1->data.dtype == dtype,
        "output shape, layout and dtype");
  op_to_f32(&y1->data, y);
  const double rel = dtype == SEGC_BF16 ? 1.0 / 256 : 0.0;
  double worst = 0.0;
  for (int64_t i = 0; i < big; ++i) {
    const double excess = fabs(y[i] - ref[i]) - rel * fabs(ref[i]);
    if (excess > worst || isnan(excess))
      worst = isnan(excess) ? INFINITY : excess;
  }
  char buf[96];
  CHECK(worst <= 1e-6 * 2.0, "upsample forward %s %s %s: beyond bound by %g",
        segc_shape_str(s, buf, sizeof buf), layout_name(layout),
        segc_dtype_name(dtype), worst);

  CHECK_OK(segc_upsample2x_forward(&env.graph, xv, &y2));
  CHECK_OK(segc_add_forward(&env.graph, y1, y2, &sum));
  CHECK_OK(op_seed_loss(&env.graph, sum, r, &loss));
  segc_value_release(&env.graph, y1);
  segc_value_release(&env.graph, y2);
  segc_value_release(&env.graph, sum);
  CHECK_OK(segc_graph_backward(&env.graph, loss));
  op_to_f32(&xv->grad, dx);
  if (dtype == SEGC_F32) {
    uc.factor = 2.0;
    segc_gradcheck_report rep;
    CHECK(segc_gradcheck(upsample_loss, &uc, xd, n, dx, 1e-3, 1e-5, &rep),
          "upsample gradient %s %s: rel error %g at %lld (analytic %g, "
          "numeric %g)",
          segc_shape_str(s, buf, sizeof buf), layout_name(layout),
          rep.max_rel_error, (long long)rep.worst_index, rep.worst_analytic,
          rep.worst_numeric);
  }
  segc_value_release(&env.graph, loss);
  segc_value_release(&env.graph, xv);
  CHECK(env.scratch.live_bytes == 0, "scratch given back");
  op_env_destroy(&env);
  free(x);
  free(r);
  free(y);
  free(dx);
  free(xd);
  free(ref);
  return 0;
}

// Output and input gradient (bytes) for one thread count.
static int run_once(segc_dtype dtype, void *y_out, void *dx_out) {
  const segc_shape s = segc_shape5(1, 16, 8, 8, 8);
  const int64_t n = segc_shape_numel(s);
  float *x = op_alloc_f32(n), *r = op_alloc_f32(8 * n);
  test_fill_uniform(x, n, -1.0f, 2.0f, 110);
  test_fill_uniform(r, 8 * n, -1.0f, 1.0f, 111);
  op_test_env env;
  CHECK_OK(op_env_init(&env, 16, 16));
  env.graph.training = true;
  segc_value *xv, *yv, *loss;
  CHECK_OK(op_input(&env.graph, x, s, dtype, SEGC_LAYOUT_NDHWC, &xv));
  CHECK_OK(segc_upsample2x_forward(&env.graph, xv, &yv));
  memcpy(y_out, yv->data.data, segc_tensor_bytes(&yv->data));
  CHECK_OK(op_seed_loss(&env.graph, yv, r, &loss));
  segc_value_release(&env.graph, yv);
  CHECK_OK(segc_graph_backward(&env.graph, loss));
  memcpy(dx_out, xv->grad.data, segc_tensor_bytes(&xv->grad));
  op_env_destroy(&env);
  free(x);
  free(r);
  return 0;
}

static int check_threads(segc_dtype dtype) {
  const size_t n = 16 * 8 * 8 * 8, bytes = n * segc_dtype_size(dtype);
  void *y1 = malloc(8 * bytes), *y2 = malloc(8 * bytes);
  void *d1 = malloc(bytes), *d2 = malloc(bytes);
  omp_set_num_threads(1);
  run_once(dtype, y1, d1);
  omp_set_num_threads(2);
  run_once(dtype, y2, d2);
  CHECK(memcmp(y1, y2, 8 * bytes) == 0, "forward 1 vs 2 threads (%s)",
        segc_dtype_name(dtype));
  CHECK(memcmp(d1, d2, bytes) == 0, "backward 1 vs 2 threads (%s)",
        segc_dtype_name(dtype));
  free(y1);
  free(y2);
  free(d1);
  free(d2);
  return 0;
}

int main(void) {
  const segc_shape shapes[3] = {
      segc_shape5(2, 3, 1, 4, 5),   // D = 1: both neighbours clamped
      segc_shape5(1, 16, 3, 2, 3),  // channels-last rows of 16 channels
      segc_shape5(1, 2, 2, 1, 1),   // H = W = 1
  };
  for (int k = 0; k < 3; ++k)
    for (int layout = 0; layout < 2; ++layout) {
      check_case(shapes[k], (segc_layout)layout, SEGC_F32);
      check_case(shapes[k], (segc_layout)layout, SEGC_BF16);
    }
  check_threads(SEGC_F32);
  check_threads(SEGC_BF16);
  return test_finish("upsample");
}
