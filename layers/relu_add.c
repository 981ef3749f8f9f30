// ReLU and residual add, forward and backward. Both are elementwise over the
// tensor's storage order, so any layout works unchanged.
#include <stdbool.h>

#include "layers/elementwise.h"
#include "layers/op_common.h"

#define ALWAYS_INLINE static inline __attribute__((always_inline))

// ---- ReLU -------------------------------------------------------------------

typedef struct {
  segc_value *x, *y;
} relu_saved;

ALWAYS_INLINE void relu_kernel(const void *x, void *y, int64_t n, bool bf16) {
#pragma omp parallel for simd schedule(static) if (n > SEGC_OP_PARALLEL_MIN)
  for (int64_t i = 0; i < n; ++i) {
    const float v = segc_op_load(x, i, bf16);
    segc_op_store(y, i, v < 0.0f ? 0.0f : v, bf16);  // NaN passes through
  }
}

// dx (+)= dy where y > 0, else 0 (y > 0 exactly where x > 0).
ALWAYS_INLINE void relu_grad_kernel(const void *y, const void *dy, void *dx,
                                    int64_t n, bool accumulate, bool bf16) {
#pragma omp parallel for simd schedule(static) if (n > SEGC_OP_PARALLEL_MIN)
  for (int64_t i = 0; i < n; ++i) {
    float g = segc_op_load(y, i, bf16) > 0.0f ? segc_op_load(dy, i, bf16)
                                              : 0.0f;
    if (accumulate) g += segc_op_load(dx, i, bf16);
    segc_op_store(dx, i, g, bf16);
  }
}

static segc_status relu_backward(segc_graph *graph, void *saved) {
  const relu_saved *st = saved;
  segc_tensor dx;
  bool accumulate;
  SEGC_TRY(segc_value_grad_target(graph, st->x, &dx, &accumulate));
  const int64_t n = segc_tensor_numel(&dx);
  if (dx.dtype == SEGC_BF16)
    relu_grad_kernel(st->y->data.data, st->y->grad.data, dx.data, n,
                     accumulate, true);
  else
    relu_grad_kernel(st->y->data.data, st->y->grad.data, dx.data, n,
                     accumulate, false);
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
  if (x->data.dtype == SEGC_BF16)
    relu_kernel(x->data.data, (*y)->data.data, n, true);
  else
    relu_kernel(x->data.data, (*y)->data.data, n, false);
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

// ---- add --------------------------------------------------------------------

typedef struct {
  segc_value *a, *b, *y;
} add_saved;

ALWAYS_INLINE void add_kernel(const void *a, const void *b, void *y,
                              int64_t n, bool bf16) {
#pragma omp parallel for simd schedule(static) if (n > SEGC_OP_PARALLEL_MIN)
  for (int64_t i = 0; i < n; ++i)
    segc_op_store(y, i, segc_op_load(a, i, bf16) + segc_op_load(b, i, bf16),
                  bf16);
}

// Both inputs receive dy unchanged (stored, or added when a gradient is
// already there; a value added to itself receives it twice).
static segc_status add_backward(segc_graph *graph, void *saved) {
  const add_saved *st = saved;
  if (st->a->requires_grad)
    SEGC_TRY(segc_value_grad_add(graph, st->a, &st->y->grad));
  if (st->b->requires_grad)
    SEGC_TRY(segc_value_grad_add(graph, st->b, &st->y->grad));
  return SEGC_OK;
}

segc_status segc_add_forward(segc_graph *graph, segc_value *a, segc_value *b,
                             segc_value **y) {
  *y = NULL;
  SEGC_TRY(segc_op_check_graph("add", graph));
  SEGC_TRY(segc_op_check_input("add", "a", a));
  SEGC_TRY(segc_op_check_input("add", "b", b));
  SEGC_TRY(segc_op_check_same("add", a, b));
  segc_value *inputs[2] = {a, b};
  const bool record = segc_graph_needs_tape(graph, inputs, 2);
  SEGC_TRY(segc_graph_new_value(graph, a->data.shape, a->data.dtype,
                                a->data.layout, record, y));
  const int64_t n = segc_tensor_numel(&a->data);
  if (a->data.dtype == SEGC_BF16)
    add_kernel(a->data.data, b->data.data, (*y)->data.data, n, true);
  else
    add_kernel(a->data.data, b->data.data, (*y)->data.data, n, false);
  if (!record) return SEGC_OK;
  add_saved *st;  // the backward reads no data: nothing is held
  segc_status status = segc_graph_alloc_saved(graph, sizeof *st, (void **)&st);
  if (status == SEGC_OK) {
    st->a = a;
    st->b = b;
    st->y = *y;
    status = segc_graph_record(graph, "add", add_backward, st, y, 1, NULL, 0);
  }
  if (status != SEGC_OK) {
    segc_value_release(graph, *y);
    *y = NULL;
  }
  return status;
}
