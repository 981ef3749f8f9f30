// The CPU kernel of Dropout3d (glue in dropout3d.c): the channel mask from
// the counter RNG, and the scaling, in any layout and dtype.
#include "layers/dropout3d_kernels.h"

// Scale per (n, c): 0 for dropped channels, 1/(1-p) for kept ones.
static segc_status channel_scales(segc_arena *scratch, uint64_t seed,
                                  uint64_t stream, float p, segc_shape shape,
                                  float **scales) {
  const size_t count = (size_t)(shape.n * shape.c);
  SEGC_TRY(segc_arena_alloc(scratch, count * sizeof(float), (void **)scales));
  for (size_t i = 0; i < count; ++i)
    (*scales)[i] = segc_dropout3d_channel_scale(seed, stream, p, i);
  return SEGC_OK;
}

// out = in * scales[n, c] (+ out when accumulating). Channels-last f32 and
// bf16 take a fast path: the scale of a channel repeats every C elements.
static void apply_scales(const segc_tensor *in, const float *scales,
                         segc_tensor *out, bool accumulate) {
  const segc_shape s = in->shape;
  const int64_t spatial = segc_shape_spatial(s);
  const int64_t total = segc_shape_numel(s);
  const bool same_f32 = in->dtype == SEGC_F32 && out->dtype == SEGC_F32;
  const bool same_bf16 = in->dtype == SEGC_BF16 && out->dtype == SEGC_BF16;
  if (in->layout == SEGC_LAYOUT_NDHWC && (same_f32 || same_bf16)) {
    const int64_t rows = s.n * spatial;
#pragma omp parallel for schedule(static) if (total > (1 << 16))
    for (int64_t r = 0; r < rows; ++r) {
      const float *scale = scales + (r / spatial) * s.c;
      const int64_t base = r * s.c;
      if (same_f32) {
        const float *x = (const float *)in->data + base;
        float *y = (float *)out->data + base;
        for (int64_t c = 0; c < s.c; ++c)
          y[c] = (accumulate ? y[c] : 0.0f) + x[c] * scale[c];
      } else {
        const segc_bf16 *x = (const segc_bf16 *)in->data + base;
        segc_bf16 *y = (segc_bf16 *)out->data + base;
        for (int64_t c = 0; c < s.c; ++c) {
          const float v = segc_bf16_to_f32(x[c]) * scale[c];
          y[c] = segc_f32_to_bf16(accumulate ? segc_bf16_to_f32(y[c]) + v : v);
        }
      }
    }
    return;
  }
#pragma omp parallel for schedule(static) if (total > (1 << 16))
  for (int64_t i = 0; i < total; ++i) {
    int64_t n, c;
    if (in->layout == SEGC_LAYOUT_NDHWC) {
      c = i % s.c;
      n = i / (s.c * spatial);
    } else {
      c = (i / spatial) % s.c;
      n = i / (s.c * spatial);
    }
    float v = segc_load_f32(in->data, in->dtype, (size_t)i) *
              scales[n * s.c + c];
    if (accumulate) v += segc_load_f32(out->data, out->dtype, (size_t)i);
    segc_store_f32(out->data, out->dtype, (size_t)i, v);
  }
}

static segc_status dropout3d_cpu_apply(segc_arena *scratch, uint64_t seed,
                                       uint64_t stream, float p,
                                       const segc_tensor *in, segc_tensor *out,
                                       bool accumulate) {
  float *scales;
  SEGC_TRY(channel_scales(scratch, seed, stream, p, in->shape, &scales));
  apply_scales(in, scales, out, accumulate);
  segc_arena_free(scratch, scales,
                  (size_t)(in->shape.n * in->shape.c) * sizeof(float));
  return SEGC_OK;
}

const segc_dropout3d_kernels segc_dropout3d_cpu_kernels = {dropout3d_cpu_apply};
