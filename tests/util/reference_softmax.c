// Softmax over channels (f32 output), forward and backward. Not on the
// training path (the loss fuses its own softmax): used by inference, metrics
// and tests, so one kernel serves both layouts through strides. Each voxel's
// max and sums run over its channels in channel order, so the result is the
// same for any thread count and either layout.
#include <math.h>
#include <stdbool.h>

#include "util/reference_ops.h"
#include "layers/op_common.h"

#define ALWAYS_INLINE static inline __attribute__((always_inline))

// Voxels per task: per-voxel accumulators live on the stack.
enum { VOXEL_BLOCK = 64 };

typedef struct {
  segc_value *x, *y;
} softmax_saved;

// Where element (channel c, voxel v) of sample n sits, per layout.
typedef struct {
  int64_t sample, channel, voxel;  // strides
} strides;

static strides strides_of(const segc_tensor *t) {
  const int64_t c = t->shape.c, spatial = segc_shape_spatial(t->shape);
  strides s = {c * spatial, 1, c};
  if (t->layout == SEGC_LAYOUT_NCDHW) {
    s.channel = spatial;
    s.voxel = 1;
  }
  return s;
}

ALWAYS_INLINE void softmax_block(const void *x, float *y, bool bf16,
                                 int64_t channels, strides st, int64_t base,
                                 int64_t count) {
  float max[VOXEL_BLOCK];
  double sum[VOXEL_BLOCK];
  for (int64_t v = 0; v < count; ++v) {
    max[v] = -INFINITY;
    sum[v] = 0.0;
  }
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t v = 0; v < count; ++v) {
      const float xv =
          segc_op_load(x, base + c * st.channel + v * st.voxel, bf16);
      if (xv > max[v] || isnan(xv)) max[v] = xv;
    }
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t v = 0; v < count; ++v) {
      const int64_t i = base + c * st.channel + v * st.voxel;
      const float e = expf(segc_op_load(x, i, bf16) - max[v]);
      y[i] = e;
      sum[v] += e;
    }
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t v = 0; v < count; ++v) {
      const int64_t i = base + c * st.channel + v * st.voxel;
      y[i] = (float)(y[i] / sum[v]);
    }
}

// dx (+)= y * (dy - sum_c dy * y).
ALWAYS_INLINE void softmax_grad_block(const float *y, const float *dy, void *dx,
                                      bool bf16, int64_t channels, strides st,
                                      int64_t base, int64_t count,
                                      bool accumulate) {
  double dot[VOXEL_BLOCK];
  for (int64_t v = 0; v < count; ++v) dot[v] = 0.0;
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t v = 0; v < count; ++v) {
      const int64_t i = base + c * st.channel + v * st.voxel;
      dot[v] += (double)dy[i] * y[i];
    }
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t v = 0; v < count; ++v) {
      const int64_t i = base + c * st.channel + v * st.voxel;
      float g = (float)(y[i] * ((double)dy[i] - dot[v]));
      if (accumulate) g += segc_op_load(dx, i, bf16);
      segc_op_store(dx, i, g, bf16);
    }
}

// Tasks are (sample, block of voxels).
static int64_t block_count(segc_shape s) {
  return (segc_shape_spatial(s) + VOXEL_BLOCK - 1) / VOXEL_BLOCK;
}

ALWAYS_INLINE void block_span(segc_shape s, strides st, int64_t task,
                              int64_t *base, int64_t *count) {
  const int64_t blocks = block_count(s), n = task / blocks;
  const int64_t first = task % blocks * VOXEL_BLOCK;
  const int64_t left = segc_shape_spatial(s) - first;
  *base = n * st.sample + first * st.voxel;
  *count = left < VOXEL_BLOCK ? left : VOXEL_BLOCK;
}

static void softmax_all(const segc_tensor *x, float *y) {
  const segc_shape s = x->shape;
  const strides st = strides_of(x);
  const int64_t tasks = s.n * block_count(s);
  const bool bf16 = x->dtype == SEGC_BF16;
  const bool parallel = segc_shape_numel(s) > SEGC_OP_PARALLEL_MIN;
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t t = 0; t < tasks; ++t) {
    int64_t base, count;
    block_span(s, st, t, &base, &count);
    if (bf16)
      softmax_block(x->data, y, true, s.c, st, base, count);
    else
      softmax_block(x->data, y, false, s.c, st, base, count);
  }
}

static segc_status softmax_backward(segc_graph *graph, void *saved) {
  const softmax_saved *sv = saved;
  segc_tensor dx;
  bool accumulate;
  SEGC_TRY(segc_value_grad_target(graph, sv->x, &dx, &accumulate));
  const segc_shape s = dx.shape;
  const strides st = strides_of(&dx);
  const int64_t tasks = s.n * block_count(s);
  const bool bf16 = dx.dtype == SEGC_BF16;
  const float *y = sv->y->data.data, *dy = sv->y->grad.data;
  const bool parallel = segc_shape_numel(s) > SEGC_OP_PARALLEL_MIN;
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t t = 0; t < tasks; ++t) {
    int64_t base, count;
    block_span(s, st, t, &base, &count);
    if (bf16)
      softmax_grad_block(y, dy, dx.data, true, s.c, st, base, count,
                         accumulate);
    else
      softmax_grad_block(y, dy, dx.data, false, s.c, st, base, count,
                         accumulate);
  }
  return SEGC_OK;
}

segc_status segc_softmax_forward(segc_graph *graph, segc_value *x,
                                 segc_value **y) {
  *y = NULL;
  SEGC_TRY(segc_op_check_graph("softmax", graph));
  SEGC_TRY(segc_op_check_input("softmax", "x", x));
  const bool record = segc_graph_needs_tape(graph, &x, 1);
  SEGC_TRY(segc_graph_new_value(graph, x->data.shape, SEGC_F32, x->data.layout,
                                record, y));
  softmax_all(&x->data, (*y)->data.data);
  if (!record) return SEGC_OK;
  softmax_saved *sv;  // the backward needs y only
  segc_status status = segc_graph_alloc_saved(graph, sizeof *sv, (void **)&sv);
  if (status == SEGC_OK) {
    sv->x = x;
    sv->y = *y;
    status =
        segc_graph_record(graph, "softmax", softmax_backward, sv, y, 1, y, 1);
  }
  if (status != SEGC_OK) {
    segc_value_release(graph, *y);
    *y = NULL;
  }
  return status;
}
