#include "layers/dropout3d.h"

#include <stdlib.h>

#include "core/backend.h"
#include "core/rng.h"

typedef struct {
  segc_value *x, *y;
  float p;
  uint64_t seed, stream;
} dropout3d_saved;

// Scale per (n, c): 0 for dropped channels, 1/(1-p) for kept ones.
static segc_status channel_scales(segc_graph *graph, uint64_t seed,
                                  uint64_t stream, float p, segc_shape shape,
                                  float **scales) {
  const size_t count = (size_t)(shape.n * shape.c);
  SEGC_TRY(segc_arena_alloc(graph->scratch, count * sizeof(float),
                            (void **)scales));
  const float keep_scale = 1.0f / (1.0f - p);
  for (size_t i = 0; i < count; ++i)
    (*scales)[i] = segc_rng_uniform(seed, stream, i) < p ? 0.0f : keep_scale;
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

static segc_status dropout3d_backward(segc_graph *graph, void *p) {
  dropout3d_saved *s = p;
  float *scales;
  SEGC_TRY(channel_scales(graph, s->seed, s->stream, s->p, s->y->grad.shape,
                          &scales));
  segc_tensor target;
  bool accumulate;
  segc_status status = segc_value_grad_target(graph, s->x, &target, &accumulate);
  if (status == SEGC_OK) {
    if (target.layout != s->y->grad.layout) {
      status = SEGC_FAIL(SEGC_ERR_INTERNAL, "dropout3d: gradient layouts differ");
    } else {
      apply_scales(&s->y->grad, scales, &target, accumulate);
    }
  }
  segc_arena_free(graph->scratch, scales,
                  (size_t)(s->y->grad.shape.n * s->y->grad.shape.c) *
                      sizeof(float));
  return status;
}

segc_status segc_dropout3d_forward(segc_graph *graph, segc_value *x, float p,
                                   segc_value **y) {
  if (!(p >= 0.0f && p < 1.0f))
    return SEGC_FAIL(SEGC_ERR_INVALID, "dropout3d: p must be in [0, 1), got %g",
                     (double)p);
  SEGC_TRY(segc_backend_require("dropout3d", x->data.device, x->data.dtype));
  if (!graph->training || p == 0.0f) {
    segc_value_retain(x);
    *y = x;
    return SEGC_OK;
  }
  const uint64_t stream =
      segc_rng_stream(SEGC_RNG_DROPOUT, graph->step, graph->op_index++);
  SEGC_TRY(segc_graph_new_value(graph, x->data.shape, x->data.dtype,
                                x->data.layout, x->requires_grad, y));
  float *scales;
  SEGC_TRY(channel_scales(graph, graph->seed, stream, p, x->data.shape,
                          &scales));
  apply_scales(&x->data, scales, &(*y)->data, false);
  segc_arena_free(graph->scratch, scales,
                  (size_t)(x->data.shape.n * x->data.shape.c) * sizeof(float));
  if (!segc_graph_needs_tape(graph, &x, 1)) return SEGC_OK;
  dropout3d_saved *saved;
  SEGC_TRY(segc_graph_alloc_saved(graph, sizeof *saved, (void **)&saved));
  saved->x = x;
  saved->y = *y;
  saved->p = p;
  saved->seed = graph->seed;
  saved->stream = stream;
  return segc_graph_record(graph, "dropout3d", dropout3d_backward, saved, y, 1,
                           NULL, 0);
}
