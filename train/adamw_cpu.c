// AdamW's CPU kernel (glue in adamw.c): every elementwise operation in f32
// in the order of PyTorch's CPU kernels (the formulas are in adamw.c; the
// per-element step is segc_adamw_element, shared with adamw_cuda.cu).
// PyTorch's vectorised kernels fuse the two multiply-adds; fmaf does the
// same single rounding on every CPU, so the results match PyTorch to the
// bit on this machine (tests/test_adamw.c).
#include "train/adamw_kernels.h"

#include <math.h>

// Built with FMA instructions where the CPU has them (fmaf is a correctly
// rounded library call otherwise: same bits).
__attribute__((target_clones("fma", "default")))
static void update_all(float *params, float *m, float *v, const float *grads,
                       int64_t count, segc_adamw_scalars scalars) {
#pragma omp parallel for schedule(static) if (count > 65536)
  for (int64_t i = 0; i < count; ++i)
    segc_adamw_element(&params[i], &m[i], &v[i], grads[i], scalars);
}

static segc_status adamw_cpu_update(float *params, float *m, float *v,
                                    const float *grads, int64_t count,
                                    const segc_adamw_scalars *scalars) {
  update_all(params, m, v, grads, count, *scalars);
  return SEGC_OK;
}

const segc_adamw_kernels segc_adamw_cpu_kernels = {adamw_cpu_update};
