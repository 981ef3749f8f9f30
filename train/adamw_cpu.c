// AdamW's CPU kernel (glue in adamw.c): every elementwise operation in f32
// in the order of PyTorch's CPU kernels (the formulas are in adamw.c).
// PyTorch's vectorised kernels fuse the two multiply-adds; fmaf does the
// same single rounding on every CPU, so the results match PyTorch to the
// bit on this machine (tests/test_adamw.c).
#include "train/adamw_kernels.h"

#include <math.h>

// Built with FMA instructions where the CPU has them (fmaf is a correctly
// rounded library call otherwise: same bits).
__attribute__((target_clones("fma", "default")))
static void adamw_cpu_update(float *params, float *m, float *v,
                             const float *grads, int64_t count,
                             const segc_adamw_scalars *scalars) {
  const float decay = scalars->decay;
  const float beta1 = scalars->beta1, one_minus_beta1 = scalars->one_minus_beta1;
  const float beta2 = scalars->beta2, one_minus_beta2 = scalars->one_minus_beta2;
  const float bias_correction2_sqrt = scalars->bias_correction2_sqrt;
  const float eps = scalars->eps, neg_step_size = scalars->neg_step_size;
#pragma omp parallel for schedule(static) if (count > 65536)
  for (int64_t i = 0; i < count; ++i) {
    const float g = grads[i];
    const float p = params[i] * decay;
    const float m_i = fmaf(g, one_minus_beta1, m[i] * beta1);
    const float v_i = fmaf(one_minus_beta2 * g, g, v[i] * beta2);
    const float denom = sqrtf(v_i) / bias_correction2_sqrt + eps;
    params[i] = p + neg_step_size * m_i / denom;
    m[i] = m_i;
    v[i] = v_i;
  }
}

const segc_adamw_kernels segc_adamw_cpu_kernels = {adamw_cpu_update};
