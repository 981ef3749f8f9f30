// ReLU and residual add, forward and backward. Both are elementwise over the
// tensor's storage order, so any layout works unchanged.
#include <stdbool.h>

#include "layers/elementwise.h"
#include "layers/op_common.h"

#define ALWAYS_INLINE static inline __attribute__((always_inline))

// ---- add --------------------------------------------------------------------

typedef struct {
  segc_value *a, *b, *y;
} add_saved;

ALWAYS_INLINE void add_span(const void *a, const void *b, void *y,
                            int64_t first, int64_t end, bool bf16) {
#pragma omp simd
  for (int64_t i = first; i < end; ++i)
    segc_op_store(y, i, segc_op_load(a, i, bf16) + segc_op_load(b, i, bf16),
                  bf16);
}

SEGC_KERNEL_VARIANTS static void add_span_f32(const void *a, const void *b,
                                              void *y, int64_t first,
                                              int64_t end) {
  add_span(a, b, y, first, end, false);
}

SEGC_KERNEL_VARIANTS static void add_span_bf16(const void *a, const void *b,
                                               void *y, int64_t first,
                                               int64_t end) {
  add_span(a, b, y, first, end, true);
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
  const bool bf16 = a->data.dtype == SEGC_BF16;
  void *out = (*y)->data.data;
#pragma omp parallel for schedule(static) if (n > SEGC_OP_PARALLEL_MIN)
  for (int64_t k = 0; k < segc_op_block_count(n); ++k) {
    if (bf16)
      add_span_bf16(a->data.data, b->data.data, out, k * SEGC_OP_BLOCK,
                    segc_op_block_end(k, n));
    else
      add_span_f32(a->data.data, b->data.data, out, k * SEGC_OP_BLOCK,
                   segc_op_block_end(k, n));
  }
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
