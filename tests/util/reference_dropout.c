// Dropout (nn.Dropout). The mask is never stored: element i (its linear index
// in the tensor's storage order) is dropped iff
// segc_rng_uniform(seed, stream, i) < p, and backward draws the same numbers
// again from the saved stream.
#include <stdbool.h>
#include <string.h>

#include "core/rng.h"
#include "util/reference_ops.h"
#include "layers/op_common.h"

#define ALWAYS_INLINE static inline __attribute__((always_inline))

// Random numbers drawn at a time into a stack buffer (a multiple of the 4
// numbers one Philox block gives).
enum { DRAW_BLOCK = 1024 };

typedef struct {
  segc_value *x, *y;
  uint64_t seed, stream;
  float p, scale;
} dropout_saved;

// out[i] (+)= in[i] * scale where kept, 0 where dropped, for i in
// [first, first + count) (count <= DRAW_BLOCK). Used for y from x (store)
// and dx from dy (store or accumulate).
ALWAYS_INLINE void masked_scale_block(const void *in, void *out, int64_t first,
                                      int64_t count, const dropout_saved *st,
                                      bool accumulate, bool bf16) {
  float u[DRAW_BLOCK];
  segc_rng_fill_uniform(st->seed, st->stream, (uint64_t)first, (size_t)count,
                        u);
  // u and p are in [0, 1]: as non-negative floats they order like their
  // bit patterns, so the comparison can be an integer one (no branch).
  int32_t p_bits;
  memcpy(&p_bits, &st->p, sizeof p_bits);
  const float scale = st->scale;
#pragma omp simd
  for (int64_t j = 0; j < count; ++j) {
    const int64_t i = first + j;
    int32_t u_bits;
    memcpy(&u_bits, &u[j], sizeof u_bits);
    float v =
        segc_op_zero_where(segc_op_load(in, i, bf16) * scale, u_bits < p_bits);
    if (accumulate) v += segc_op_load(out, i, bf16);
    segc_op_store(out, i, v, bf16);
  }
}

SEGC_KERNEL_VARIANTS static void masked_scale_f32(const void *in, void *out,
                                                  int64_t first, int64_t count,
                                                  const dropout_saved *st,
                                                  bool accumulate) {
  if (accumulate)
    masked_scale_block(in, out, first, count, st, true, false);
  else
    masked_scale_block(in, out, first, count, st, false, false);
}

SEGC_KERNEL_VARIANTS static void masked_scale_bf16(const void *in, void *out,
                                                   int64_t first, int64_t count,
                                                   const dropout_saved *st,
                                                   bool accumulate) {
  if (accumulate)
    masked_scale_block(in, out, first, count, st, true, true);
  else
    masked_scale_block(in, out, first, count, st, false, true);
}

static void run_masked_scale(const void *in, void *out, int64_t n,
                             const dropout_saved *st, bool accumulate,
                             bool bf16) {
  const int64_t blocks = (n + DRAW_BLOCK - 1) / DRAW_BLOCK;
#pragma omp parallel for schedule(static) if (n > SEGC_OP_PARALLEL_MIN)
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t first = b * DRAW_BLOCK;
    const int64_t count = n - first < DRAW_BLOCK ? n - first : DRAW_BLOCK;
    if (bf16)
      masked_scale_bf16(in, out, first, count, st, accumulate);
    else
      masked_scale_f32(in, out, first, count, st, accumulate);
  }
}

static segc_status dropout_backward(segc_graph *graph, void *saved) {
  const dropout_saved *st = saved;
  segc_tensor dx;
  bool accumulate;
  SEGC_TRY(segc_value_grad_target(graph, st->x, &dx, &accumulate));
  run_masked_scale(st->y->grad.data, dx.data, segc_tensor_numel(&dx), st,
                   accumulate, dx.dtype == SEGC_BF16);
  return SEGC_OK;
}

segc_status segc_dropout_forward(segc_graph *graph, segc_value *x, float p,
                                 segc_value **y) {
  *y = NULL;
  SEGC_TRY(segc_op_check_graph("dropout", graph));
  SEGC_TRY(segc_op_check_input("dropout", "x", x));
  if (!(p >= 0.0f && p <= 1.0f))
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "dropout: probability %g is outside [0, 1]", (double)p);
  if (!graph->training || p == 0.0f) {  // identity: share x, copy nothing
    x->data_refs++;
    *y = x;
    return SEGC_OK;
  }
  dropout_saved local, *st = &local;
  const bool record = segc_graph_needs_tape(graph, &x, 1);
  if (record) SEGC_TRY(segc_graph_alloc_saved(graph, sizeof *st, (void **)&st));
  st->x = x;
  st->seed = graph->seed;
  st->stream = segc_rng_stream(SEGC_RNG_DROPOUT, graph->step, graph->op_index);
  graph->op_index++;
  st->p = p;
  // As PyTorch: kept values are multiplied by 1/(1-p) in float; p = 1 drops
  // everything.
  st->scale = p < 1.0f ? 1.0f / (float)(1.0 - (double)p) : 0.0f;
  SEGC_TRY(segc_graph_new_value(graph, x->data.shape, x->data.dtype,
                                x->data.layout, record, y));
  st->y = *y;
  run_masked_scale(x->data.data, (*y)->data.data, segc_tensor_numel(&x->data),
                   st, false, x->data.dtype == SEGC_BF16);
  if (!record) return SEGC_OK;
  segc_status status =
      segc_graph_record(graph, "dropout", dropout_backward, st, y, 1, NULL, 0);
  if (status != SEGC_OK) {
    segc_value_release(graph, *y);
    *y = NULL;
  }
  return status;
}
