// ReLU forward and backward, elementwise over the tensor's storage order.
// Only the tests use it (the network fuses ReLU into GroupNorm), so it lives
// here and needs no kernel on other backends.
#include <stdbool.h>

#include "layers/op_common.h"
#include "util/reference_ops.h"

#define ALWAYS_INLINE static inline __attribute__((always_inline))

typedef struct {
  segc_value *x, *y;
} relu_saved;

ALWAYS_INLINE void relu_span(const void *x, void *y, int64_t first, int64_t end,
                             bool bf16) {
#pragma omp simd
  for (int64_t i = first; i < end; ++i) {
    const float v = segc_op_load(x, i, bf16);
    segc_op_store(y, i, v < 0.0f ? 0.0f : v, bf16);  // NaN passes through
  }
}

SEGC_KERNEL_VARIANTS static void relu_span_f32(const void *x, void *y,
                                               int64_t first, int64_t end) {
  relu_span(x, y, first, end, false);
}

SEGC_KERNEL_VARIANTS static void relu_span_bf16(const void *x, void *y,
                                                int64_t first, int64_t end) {
  relu_span(x, y, first, end, true);
}

// dx (+)= dy where y > 0, else 0 (y > 0 exactly where x > 0).
ALWAYS_INLINE void relu_grad_span(const void *y, const void *dy, void *dx,
                                  int64_t first, int64_t end, bool accumulate,
                                  bool bf16) {
#pragma omp simd
  for (int64_t i = first; i < end; ++i) {
    float g = segc_op_pass_if_positive(segc_op_load(dy, i, bf16),
                                       segc_op_load(y, i, bf16));
    if (accumulate) g += segc_op_load(dx, i, bf16);
    segc_op_store(dx, i, g, bf16);
  }
}

SEGC_KERNEL_VARIANTS static void relu_grad_span_f32(const void *y,
                                                    const void *dy, void *dx,
                                                    int64_t first, int64_t end,
                                                    bool accumulate) {
  if (accumulate)
    relu_grad_span(y, dy, dx, first, end, true, false);
  else
    relu_grad_span(y, dy, dx, first, end, false, false);
}

SEGC_KERNEL_VARIANTS static void relu_grad_span_bf16(const void *y,
                                                     const void *dy, void *dx,
                                                     int64_t first, int64_t end,
                                                     bool accumulate) {
  if (accumulate)
    relu_grad_span(y, dy, dx, first, end, true, true);
  else
    relu_grad_span(y, dy, dx, first, end, false, true);
}

static segc_status relu_backward(segc_graph *graph, void *saved) {
  const relu_saved *st = saved;
  segc_tensor dx;
  bool accumulate;
  SEGC_TRY(segc_value_grad_target(graph, st->x, &dx, &accumulate));
  const int64_t n = segc_tensor_numel(&dx);
  const bool bf16 = dx.dtype == SEGC_BF16;
  const void *y = st->y->data.data, *dy = st->y->grad.data;
#pragma omp parallel for schedule(static) if (n > SEGC_OP_PARALLEL_MIN)
  for (int64_t b = 0; b < segc_op_block_count(n); ++b) {
    if (bf16)
      relu_grad_span_bf16(y, dy, dx.data, b * SEGC_OP_BLOCK,
                          segc_op_block_end(b, n), accumulate);
    else
      relu_grad_span_f32(y, dy, dx.data, b * SEGC_OP_BLOCK,
                         segc_op_block_end(b, n), accumulate);
  }
  return SEGC_OK;
}

segc_status segc_relu_forward(segc_graph *graph, segc_value *x,
                              segc_value **y) {
  *y = NULL;
  SEGC_TRY(segc_op_check_graph("relu", graph));
  SEGC_TRY(segc_op_check_input("relu", "x", x));
  const bool record = segc_graph_needs_tape(graph, &x, 1);
  SEGC_TRY(segc_graph_new_value(graph, x->data.shape, x->data.dtype,
                                x->data.layout, record, y));
  const int64_t n = segc_tensor_numel(&x->data);
  const bool bf16 = x->data.dtype == SEGC_BF16;
  void *out = (*y)->data.data;
#pragma omp parallel for schedule(static) if (n > SEGC_OP_PARALLEL_MIN)
  for (int64_t b = 0; b < segc_op_block_count(n); ++b) {
    if (bf16)
      relu_span_bf16(x->data.data, out, b * SEGC_OP_BLOCK,
                     segc_op_block_end(b, n));
    else
      relu_span_f32(x->data.data, out, b * SEGC_OP_BLOCK,
                    segc_op_block_end(b, n));
  }
  if (!record) return SEGC_OK;
  // Hold y rather than x: y is usually held by the next op anyway (a
  // convolution's input), while x may be a recomputable GroupNorm output.
  relu_saved *st;
  segc_status status = segc_graph_alloc_saved(graph, sizeof *st, (void **)&st);
  if (status == SEGC_OK) {
    st->x = x;
    st->y = *y;
    status = segc_graph_record(graph, "relu", relu_backward, st, y, 1, y, 1);
  }
  if (status != SEGC_OK) {
    segc_value_release(graph, *y);
    *y = NULL;
  }
  return status;
}

