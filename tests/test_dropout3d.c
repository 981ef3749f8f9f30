// Channel dropout as MONAI's SegResNet uses it (nn.Dropout3d): whole
// channels of a sample are zeroed or scaled by 1/(1-p); the mask is a pure
// function of (seed, step, op index, n, c); backward applies the same mask;
// eval mode is the identity without a copy. Checked in both layouts, f32 and
// bf16, against expectations computed here from the RNG directly.
#include <math.h>

#include "core/parallel.h"
#include "core/rng.h"
#include "layers/dropout3d.h"
#include "layers/dropout3d_kernels.h"
#include "op_test_util.h"

static int check_layout(segc_layout layout, segc_dtype dtype) {
  op_test_env env;
  CHECK_OK(op_env_init(&env, 64, 16));
  const segc_shape s = segc_shape5(3, 40, 3, 4, 5);
  const int64_t n = segc_shape_numel(s), spatial = 60;
  float *x = op_alloc_f32(n), *r = op_alloc_f32(n), *y = op_alloc_f32(n),
        *g = op_alloc_f32(n);
  test_fill_uniform(x, n, 0.5f, 1.5f, 21);  // nonzero, so zeros mean dropped
  test_fill_uniform(r, n, -1.0f, 1.0f, 22);
  if (dtype == SEGC_BF16) {
    op_round_bf16(x, n);
    op_round_bf16(r, n);
  }
  const float p = 0.2f;
  segc_graph *gph = &env.graph;
  gph->training = true;
  gph->seed = 77;
  gph->step = 5;
  segc_value *xv, *yv, *loss;
  CHECK_OK(op_input(gph, x, s, dtype, layout, &xv));
  CHECK_OK(segc_dropout3d_forward(gph, xv, p, &yv));
  op_to_f32(&yv->data, y);
  const uint64_t stream = segc_rng_stream(SEGC_RNG_DROPOUT, 5, 0);
  int dropped = 0, wrong = 0;
  for (int64_t b = 0; b < s.n; ++b)
    for (int64_t c = 0; c < s.c; ++c) {
      const bool drop = segc_rng_uniform(77, stream, (uint64_t)(b * s.c + c)) < p;
      dropped += drop;
      for (int64_t v = 0; v < spatial; ++v) {
        const int64_t at = op_offset(s, layout, b, c, v / 20, (v / 5) % 4, v % 5);
        float want = drop ? 0.0f : x[at] / (1.0f - p);
        if (dtype == SEGC_BF16) want = segc_bf16_to_f32(segc_f32_to_bf16(want));
        wrong += fabsf(y[at] - want) > 1e-6f * fabsf(want);
      }
    }
  CHECK(wrong == 0, "%s %s: %d values differ from whole-channel dropout",
        segc_dtype_name(dtype), layout == SEGC_LAYOUT_NDHWC ? "ndhwc" : "ncdhw",
        wrong);
  // 120 channels at p = 0.2: 24 expected, 5 standard deviations is +-22.
  CHECK(dropped > 2 && dropped < 46, "dropped %d of 120 channels", dropped);

  // Backward: dx = dy * mask * 1/(1-p), with the same mask.
  CHECK_OK(op_seed_loss(gph, yv, r, &loss));
  CHECK_OK(segc_graph_backward(gph, loss));
  op_to_f32(&xv->grad, g);
  wrong = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float scale = y[i] == 0.0f ? 0.0f : 1.0f / (1.0f - p);
    float want = r[i] * scale;
    if (dtype == SEGC_BF16) want = segc_bf16_to_f32(segc_f32_to_bf16(want));
    wrong += fabsf(g[i] - want) > 1e-6f * fabsf(want);
  }
  CHECK(wrong == 0, "backward uses the forward mask (%d differ)", wrong);
  segc_graph_reset(gph);

  // Another step draws another mask; eval is the identity without a copy.
  gph->step = 6;
  CHECK_OK(op_input(gph, x, s, dtype, layout, &xv));
  CHECK_OK(segc_dropout3d_forward(gph, xv, p, &yv));
  float *y2 = op_alloc_f32(n);
  op_to_f32(&yv->data, y2);
  int differ = 0;
  for (int64_t i = 0; i < n; ++i) differ += (y[i] == 0.0f) != (y2[i] == 0.0f);
  CHECK(differ > 0, "step 6 draws another mask");
  segc_graph_reset(gph);
  gph->training = false;
  CHECK_OK(op_input(gph, x, s, dtype, layout, &xv));
  CHECK_OK(segc_dropout3d_forward(gph, xv, p, &yv));
  CHECK(yv == xv && xv->data_refs == 2, "eval: y is x with one more reference");
  segc_value_release(gph, yv);
  segc_value_release(gph, xv);
  CHECK_FAILS(segc_dropout3d_forward(gph, xv, 1.0f, &yv), SEGC_ERR_INVALID,
              "p must be in [0, 1)");
  op_env_destroy(&env);
  free(x);
  free(r);
  free(y);
  free(y2);
  free(g);
  return 0;
}

// The CPU kernel draws its mask through segc_dropout3d_channel_scale, the
// formula dropout3d_cuda.cu runs: on a tensor of ones every channel's value
// is that formula's scale (exactly), over 1000 channels.
static int check_shared_mask(void) {
  op_test_env env;
  CHECK_OK(op_env_init(&env, 16, 4));
  const segc_shape s = segc_shape5(4, 250, 1, 1, 2);
  const int64_t n = segc_shape_numel(s);
  float *ones = op_alloc_f32(n), *y = op_alloc_f32(n);
  for (int64_t i = 0; i < n; ++i) ones[i] = 1.0f;
  segc_graph *gph = &env.graph;
  gph->training = true;
  gph->seed = 1234;
  gph->step = 9;
  segc_value *xv, *yv;
  CHECK_OK(op_input(gph, ones, s, SEGC_F32, SEGC_LAYOUT_NCDHW, &xv));
  CHECK_OK(segc_dropout3d_forward(gph, xv, 0.35f, &yv));
  op_to_f32(&yv->data, y);
  const uint64_t stream = segc_rng_stream(SEGC_RNG_DROPOUT, 9, 0);
  int wrong = 0, dropped = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float want =
        segc_dropout3d_channel_scale(1234, stream, 0.35f, (uint64_t)(i / 2));
    wrong += y[i] != want;
    dropped += want == 0.0f;
    // The formula is segc_rng_uniform's draw.
    wrong += (want == 0.0f) !=
             (segc_rng_uniform(1234, stream, (uint64_t)(i / 2)) < 0.35f);
  }
  CHECK(wrong == 0, "%d values differ from segc_dropout3d_channel_scale",
        wrong);
  CHECK(dropped > 0 && dropped < n, "some channels dropped (%d values)",
        dropped);
  op_env_destroy(&env);
  free(ones);
  free(y);
  return 0;
}

int main(void) {
  check_shared_mask();
  for (int t = 1; t <= 2; ++t) {
    segc_set_threads(t);
    check_layout(SEGC_LAYOUT_NDHWC, SEGC_F32);
    check_layout(SEGC_LAYOUT_NCDHW, SEGC_F32);
    check_layout(SEGC_LAYOUT_NDHWC, SEGC_BF16);
  }
  return test_finish("dropout3d");
}
