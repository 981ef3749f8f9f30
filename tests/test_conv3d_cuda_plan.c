// The host-side arithmetic of conv3d's cuDNN kernels
// (layers/conv3d_cuda_plan.h) and the plan cache they keep in the backend
// context (core/plan_cache.h), on the CPU: which dtype and math mode each
// call computes in, the plan key, the choice among cuDNN's ranked
// algorithms (workspace limit, the deterministic policy, no TF32 on true
// f32 data), descriptor strides, and the weight copies' index map. The
// kernels themselves need a GPU (ops_cuda).
#include <string.h>

#include "core/plan_cache.h"
#include "layers/conv3d_cuda_plan.h"
#include "util/test_util.h"

static void check_route(conv3d_cuda_route r, segc_dtype io,
                        conv3d_cuda_math math, bool convert, bool aside,
                        bool bias, const char *what) {
  CHECK(r.io == io && r.math == math && r.convert_inputs == convert &&
            r.output_aside == aside && r.add_bias == bias,
        "%s: io %s math %d convert %d aside %d bias %d", what,
        segc_dtype_name(r.io), (int)r.math, r.convert_inputs, r.output_aside,
        r.add_bias);
}

static void check_routes(void) {
  const conv3d_cuda_math FMA = CONV3D_CUDA_MATH_FMA;
  const conv3d_cuda_math TENSOR = CONV3D_CUDA_MATH_TENSOR;
  // io, math, convert inputs, output aside, add bias.
  check_route(conv3d_cuda_forward_route(SEGC_F32, SEGC_F32, false), SEGC_F32,
              FMA, false, false, false, "f32 -> f32");
  check_route(conv3d_cuda_forward_route(SEGC_F32, SEGC_F32, true), SEGC_F32,
              FMA, false, false, true, "f32 -> f32 +bias (in place)");
  check_route(conv3d_cuda_forward_route(SEGC_F32, SEGC_BF16, false),
              SEGC_F32, FMA, false, true, false, "f32 -> bf16 (aside)");
  check_route(conv3d_cuda_forward_route(SEGC_BF16, SEGC_BF16, false),
              SEGC_BF16, TENSOR, false, false, false, "bf16 native");
  check_route(conv3d_cuda_forward_route(SEGC_F16, SEGC_F16, false), SEGC_F16,
              TENSOR, false, false, false, "f16 native");
  // A bias on bf16 data is added before the one rounding: f32 through TF32.
  check_route(conv3d_cuda_forward_route(SEGC_BF16, SEGC_BF16, true),
              SEGC_F32, TENSOR, true, true, true, "bf16 +bias");
  check_route(conv3d_cuda_forward_route(SEGC_BF16, SEGC_F32, false),
              SEGC_F32, TENSOR, true, false, false, "bf16 -> f32");
  check_route(conv3d_cuda_forward_route(SEGC_F16, SEGC_BF16, false),
              SEGC_F32, TENSOR, true, true, false, "f16 -> bf16");
  check_route(conv3d_cuda_backward_data_route(SEGC_F32), SEGC_F32, FMA,
              false, false, false, "backward-data f32");
  check_route(conv3d_cuda_backward_data_route(SEGC_BF16), SEGC_BF16, TENSOR,
              false, false, false, "backward-data bf16");
  check_route(conv3d_cuda_backward_weights_route(SEGC_F32), SEGC_F32, FMA,
              false, false, false, "backward-weights f32");
  check_route(conv3d_cuda_backward_weights_route(SEGC_F16), SEGC_F32, TENSOR,
              true, false, false, "backward-weights f16 (f32 gradient)");
  // Weight copies: bf16 values in a bf16 copy natively, bf16 values in an
  // f32 copy on the TF32 route (so the weights are rounded as on the CPU),
  // and each pair in a slot of its own.
  const conv3d_cuda_route native =
      conv3d_cuda_forward_route(SEGC_BF16, SEGC_BF16, false);
  const conv3d_cuda_route through_f32 =
      conv3d_cuda_forward_route(SEGC_BF16, SEGC_BF16, true);
  const conv3d_cuda_route f32 =
      conv3d_cuda_forward_route(SEGC_F32, SEGC_BF16, false);
  const conv3d_cuda_route f16 =
      conv3d_cuda_forward_route(SEGC_F16, SEGC_F32, false);
  CHECK(native.values == SEGC_BF16 && through_f32.values == SEGC_BF16 &&
            f32.values == SEGC_F32 && f16.values == SEGC_F16,
        "the weights hold the input dtype's values");
  const int slots[4] = {conv3d_cuda_weight_slot(&native),
                        conv3d_cuda_weight_slot(&through_f32),
                        conv3d_cuda_weight_slot(&f32),
                        conv3d_cuda_weight_slot(&f16)};
  int distinct = 1;
  for (int i = 0; i < 4; ++i) {
    CHECK(slots[i] >= 0 && slots[i] < CONV3D_CUDA_WEIGHT_SLOTS, "slot %d",
          slots[i]);
    for (int j = 0; j < i; ++j) distinct &= slots[i] != slots[j];
  }
  CHECK(distinct, "one slot per (values, storage) pair");
  CHECK(conv3d_cuda_weight_slot(&native) ==
            conv3d_cuda_weight_slot(&(conv3d_cuda_route){
                .io = SEGC_BF16, .values = SEGC_BF16}),
        "backward-data shares the native bf16 copy with the forward");
}

static void check_keys(void) {
  CHECK(sizeof(conv3d_cuda_key) == 14 * sizeof(int64_t),
        "the key has no padding bytes (%zu)", sizeof(conv3d_cuda_key));
  const segc_conv3d_config config = {4, 8, 3, 1, 1, false};
  const segc_shape input = segc_shape5(2, 4, 6, 7, 8);
  const conv3d_cuda_route route =
      conv3d_cuda_forward_route(SEGC_BF16, SEGC_BF16, false);
  const conv3d_cuda_key a = conv3d_cuda_make_key(
      CONV3D_CUDA_FORWARD, &config, input, &route, true, 1 << 20);
  const conv3d_cuda_key b = conv3d_cuda_make_key(
      CONV3D_CUDA_FORWARD, &config, input, &route, true, 1 << 20);
  CHECK(memcmp(&a, &b, sizeof a) == 0, "the same call gives the same key");
  CHECK(a.n == 2 && a.cin == 4 && a.cout == 8 && a.d == 6 && a.h == 7 &&
            a.w == 8 && a.kernel == 3 && a.io == SEGC_BF16,
        "the key holds the shape and dtype");
  conv3d_cuda_key c = conv3d_cuda_make_key(
      CONV3D_CUDA_FORWARD, &config, input, &route, false, 1 << 20);
  CHECK(memcmp(&a, &c, sizeof a) != 0,
        "turning the deterministic policy off plans again");
  c = conv3d_cuda_make_key(CONV3D_CUDA_BACKWARD_DATA, &config, input, &route,
                           true, 1 << 20);
  CHECK(memcmp(&a, &c, sizeof a) != 0, "each pass has its own plan");
  c = conv3d_cuda_make_key(CONV3D_CUDA_FORWARD, &config,
                           segc_shape5(2, 4, 6, 7, 9), &route, true, 1 << 20);
  CHECK(memcmp(&a, &c, sizeof a) != 0, "each shape has its own plan");
  c = conv3d_cuda_make_key(CONV3D_CUDA_FORWARD, &config, input, &route, true,
                           1 << 21);
  CHECK(memcmp(&a, &c, sizeof a) != 0, "a larger scratch arena plans again");
  CHECK(conv3d_cuda_workspace_limit(1000) == 500, "half the scratch arena");
}

static void check_descriptors(void) {
  const segc_shape s = segc_shape5(2, 3, 4, 5, 6);
  int dims[5], strides[5];
  conv3d_cuda_ndhwc_desc(s, dims, strides);
  CHECK(dims[0] == 2 && dims[1] == 3 && dims[2] == 4 && dims[3] == 5 &&
            dims[4] == 6,
        "dims in N, C, D, H, W order");
  CHECK(strides[0] == 360 && strides[1] == 1 && strides[2] == 90 &&
            strides[3] == 18 && strides[4] == 3,
        "NDHWC strides %d %d %d %d %d", strides[0], strides[1], strides[2],
        strides[3], strides[4]);
  const segc_tensor t = segc_tensor_view(NULL, s, SEGC_F32, SEGC_LAYOUT_NDHWC,
                                         SEGC_DEVICE_CPU);
  int mismatches = 0;
  for (int n = 0; n < 2; ++n)
    for (int c = 0; c < 3; ++c)
      for (int d = 0; d < 4; ++d)
        for (int h = 0; h < 5; ++h)
          for (int w = 0; w < 6; ++w) {
            const int64_t at = (int64_t)n * strides[0] + c * strides[1] +
                               d * strides[2] + h * strides[3] +
                               w * strides[4];
            mismatches += at != segc_tensor_offset(&t, n, c, d, h, w);
            mismatches += conv3d_cuda_channel_of(at, 3) != c;
          }
  CHECK(mismatches == 0, "strides address segc's NDHWC storage (%d off)",
        mismatches);
  CHECK(conv3d_cuda_fits_int(segc_shape5(1, 32, 96, 96, 96)),
        "a 96^3 patch of 32 channels fits cuDNN's int dims");
  CHECK(!conv3d_cuda_fits_int(segc_shape5(1, 32, 512, 512, 256)),
        "2^31 elements do not");
  CHECK(!conv3d_cuda_fits_int(segc_shape5(1, 0, 4, 4, 4)), "empty shape");
}

static void check_pick(void) {
  const size_t MB = 1 << 20;
  const conv3d_cuda_candidate ranked[] = {
      {0, false, 0, true, CONV3D_CUDNN_DEFAULT_MATH},        // failed
      {1, true, 64 * MB, true, CONV3D_CUDNN_FMA_MATH},       // too large
      {2, true, 0, false, CONV3D_CUDNN_FMA_MATH},            // atomics
      {3, true, 0, true,
       CONV3D_CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION},        // down-converts
      {4, true, MB, true, CONV3D_CUDNN_TENSOR_OP_MATH},      // TF32 / tensor
      {5, true, MB, true, CONV3D_CUDNN_DEFAULT_MATH},
  };
  const int count = (int)(sizeof ranked / sizeof ranked[0]);
  CHECK(conv3d_cuda_pick(ranked, count, 8 * MB, true,
                         CONV3D_CUDA_MATH_FMA) == 5,
        "f32, deterministic: the first FMA-safe deterministic one that fits");
  CHECK(conv3d_cuda_pick(ranked, count, 8 * MB, false,
                         CONV3D_CUDA_MATH_FMA) == 2,
        "f32, nondeterministic allowed: the atomics one ranks first");
  CHECK(conv3d_cuda_pick(ranked, count, 8 * MB, true,
                         CONV3D_CUDA_MATH_TENSOR) == 4,
        "bf16: tensor cores, never a conversion to f16");
  CHECK(conv3d_cuda_pick(ranked, count, 128 * MB, true,
                         CONV3D_CUDA_MATH_FMA) == 1,
        "a larger workspace limit admits the large one");
  CHECK(conv3d_cuda_pick(ranked, 2, 8 * MB, false, CONV3D_CUDA_MATH_FMA) ==
            -1,
        "nothing usable: -1");
  CHECK(conv3d_cuda_pick(ranked, 0, 8 * MB, false, CONV3D_CUDA_MATH_FMA) ==
            -1,
        "an empty ranking: -1");
  CHECK(conv3d_cuda_run_math(CONV3D_CUDA_MATH_FMA,
                             CONV3D_CUDNN_DEFAULT_MATH) ==
            CONV3D_CUDNN_FMA_MATH,
        "f32 runs with FMA math set, so DEFAULT cannot become TF32");
  CHECK(conv3d_cuda_run_math(CONV3D_CUDA_MATH_TENSOR,
                             CONV3D_CUDNN_TENSOR_OP_MATH) ==
            CONV3D_CUDNN_TENSOR_OP_MATH,
        "tensor routes run with the candidate's math");
}

// The ODHWI map is a permutation, and it is the formula cuDNN's NHWC filter
// format ("KTRSC") describes.
static void check_weight_map(void) {
  const int64_t cout = 2, cin = 3, k = 3, k3 = 27;
  const int64_t count = cout * cin * k3;
  int hits[2 * 3 * 27];
  memset(hits, 0, sizeof hits);
  int wrong = 0;
  int64_t oidhw = 0;
  for (int64_t o = 0; o < cout; ++o)
    for (int64_t i = 0; i < cin; ++i)
      for (int64_t kd = 0; kd < k; ++kd)
        for (int64_t kh = 0; kh < k; ++kh)
          for (int64_t kw = 0; kw < k; ++kw, ++oidhw) {
            const int64_t got = conv3d_cuda_odhwi_of_oidhw(oidhw, cin, k);
            const int64_t want = (((o * k + kd) * k + kh) * k + kw) * cin + i;
            wrong += got != want;
            if (got >= 0 && got < count) hits[got]++;
          }
  int covered = 0;
  for (int64_t j = 0; j < count; ++j) covered += hits[j] == 1;
  CHECK(wrong == 0, "ODHWI index of each OIDHW element (%d wrong)", wrong);
  CHECK(covered == (int)count, "every ODHWI slot written once (%d of %lld)",
        covered, (long long)count);
  CHECK(conv3d_cuda_odhwi_of_oidhw(5, 7, 1) == 5,
        "a 1x1x1 kernel with one output channel keeps its order");
  CHECK(conv3d_cuda_bias_chunks(0) == 0 && conv3d_cuda_bias_chunks(1) == 1 &&
            conv3d_cuda_bias_chunks(CONV3D_CUDA_BIAS_ROWS) == 1 &&
            conv3d_cuda_bias_chunks(CONV3D_CUDA_BIAS_ROWS + 1) == 2,
        "bias partial sums: fixed chunks of rows");
}

static int destroyed;
static void count_destroy(void *value) {
  (void)value;
  ++destroyed;
}

static int check_plan_cache(void) {
  segc_plan_cache *cache;
  CHECK_OK(segc_plan_cache_new(&cache));
  const int64_t key_a[3] = {1, 2, 3}, key_b[3] = {1, 2, 4};
  int value_a = 10, value_b = 20, value_c = 30;
  CHECK(segc_plan_cache_find(cache, key_a, sizeof key_a) == NULL,
        "an empty cache finds nothing");
  CHECK_OK(segc_plan_cache_insert(cache, key_a, sizeof key_a, &value_a,
                                  count_destroy));
  CHECK_OK(segc_plan_cache_insert(cache, key_b, sizeof key_b, &value_b,
                                  count_destroy));
  CHECK(segc_plan_cache_find(cache, key_a, sizeof key_a) == &value_a &&
            segc_plan_cache_find(cache, key_b, sizeof key_b) == &value_b,
        "each key finds its plan");
  CHECK(segc_plan_cache_find(cache, key_a, 2 * sizeof(int64_t)) == NULL,
        "a key of another length is another key");
  CHECK(segc_plan_cache_size(cache) == 2, "two plans");
  CHECK_FAILS(segc_plan_cache_insert(cache, key_a, sizeof key_a, &value_c,
                                     count_destroy),
              SEGC_ERR_INTERNAL, "the key is there already");
  CHECK(destroyed == 1, "a refused plan is destroyed (%d)", destroyed);
  unsigned char big[SEGC_PLAN_KEY_MAX + 1];
  memset(big, 0, sizeof big);
  CHECK_FAILS(segc_plan_cache_insert(cache, big, sizeof big, &value_c,
                                     count_destroy),
              SEGC_ERR_INTERNAL, "a key of 257 bytes");
  CHECK(destroyed == 2, "and so is one with a key too long (%d)", destroyed);
  // Growth past the first block keeps every entry.
  int64_t keys[40];
  for (int i = 0; i < 40; ++i) {
    keys[i] = 100 + i;
    CHECK_OK(segc_plan_cache_insert(cache, &keys[i], sizeof keys[i],
                                    &keys[i], NULL));
  }
  CHECK(segc_plan_cache_size(cache) == 42 &&
            segc_plan_cache_find(cache, key_b, sizeof key_b) == &value_b &&
            segc_plan_cache_find(cache, &keys[39], sizeof keys[39]) ==
                &keys[39],
        "42 plans after growing");
  segc_plan_cache_free(cache);
  CHECK(destroyed == 4, "freeing the cache destroys its plans (%d)",
        destroyed);
  segc_plan_cache_free(NULL);
  return 0;
}

int main(void) {
  check_routes();
  check_keys();
  check_descriptors();
  check_pick();
  check_weight_map();
  if (check_plan_cache()) return test_finish_failed();
  return test_finish("conv3d_cuda_plan");
}
