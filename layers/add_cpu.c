// The CPU kernel of the residual add (glue in add.c): elementwise over the
// storage order, in blocks of SEGC_OP_BLOCK, one per task.
#include <stdbool.h>

#include "layers/add_kernels.h"
#include "layers/op_common.h"

#define ALWAYS_INLINE static inline __attribute__((always_inline))

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

static segc_status add_cpu(const segc_tensor *a, const segc_tensor *b,
                           segc_tensor *y) {
  const int64_t n = segc_tensor_numel(a);
  const bool bf16 = a->dtype == SEGC_BF16;
  void *out = y->data;
#pragma omp parallel for schedule(static) if (n > SEGC_OP_PARALLEL_MIN)
  for (int64_t k = 0; k < segc_op_block_count(n); ++k) {
    if (bf16)
      add_span_bf16(a->data, b->data, out, k * SEGC_OP_BLOCK,
                    segc_op_block_end(k, n));
    else
      add_span_f32(a->data, b->data, out, k * SEGC_OP_BLOCK,
                   segc_op_block_end(k, n));
  }
  return SEGC_OK;
}

const segc_add_kernels segc_add_cpu_kernels = {add_cpu};
