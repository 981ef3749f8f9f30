// The public entry points to GroupNorm's forward passes (groupnorm.h), so
// benchmarks time them without the kernels' private header.
#include "layers/groupnorm.h"
#include "layers/groupnorm_kernels.h"

int64_t segc_groupnorm_partial_count(segc_shape s) {
  return 2 * s.n * s.c * segc_gn_chunk_count(s);
}

void segc_groupnorm_statistics_pass(const segc_tensor *x, double *partial) {
  segc_gn_sums(x->data, x->dtype == SEGC_BF16, x->shape, partial);
}

void segc_groupnorm_normalize_pass(const segc_tensor *x, void *y,
                                   const float *scale, const float *shift,
                                   bool relu) {
  segc_gn_apply(x->data, y, x->dtype == SEGC_BF16, x->shape,
                (segc_gn_affine){scale, shift, relu});
}
