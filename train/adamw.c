// AdamW as torch.optim.AdamW's single-tensor path (torch/optim/adamw.py,
// amsgrad false, maximize false) computes it: the scalars (1 - lr*wd, the
// bias corrections, the step size) in double as Python does, rounded to f32
// where the tensor op receives them; every elementwise operation in f32 in
// the same order as PyTorch's CPU kernels:
//   p = p * (1 - lr*wd)                          mul_
//   m = fma(g, 1 - b1, m * b1)                   mul_, add_(alpha): fmadd
//   v = fma((1 - b2) * g, g, v * b2)             mul_, addcmul_ (contracted)
//   denom = sqrt(v) / sqrt(1 - b2^t) + eps       sqrt, div, add_
//   p = p + (-lr / (1 - b1^t)) * m / denom       addcdiv_
// PyTorch's vectorised kernels fuse the two multiply-adds marked above (its
// AVX2/AVX-512 builds); fmaf does the same single rounding on every CPU, so
// the results match PyTorch to the bit on this machine (tests/test_adamw.c).
#include "train/adamw.h"

#include <math.h>
#include <string.h>

segc_adamw_config segc_adamw_default(void) {
  segc_adamw_config config = {
      .lr = 1e-4,
      .beta1 = 0.9,
      .beta2 = 0.999,
      .eps = 1e-8,
      .weight_decay = 1e-5,
  };
  return config;
}

static segc_status check_config(const segc_adamw_config *c) {
  if (!(c->lr >= 0.0) || !isfinite(c->lr))
    return SEGC_FAIL(SEGC_ERR_INVALID, "adamw: learning rate %g is not valid",
                     c->lr);
  if (!(c->beta1 >= 0.0 && c->beta1 < 1.0))
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "adamw: beta1 %g is outside [0, 1)", c->beta1);
  if (!(c->beta2 >= 0.0 && c->beta2 < 1.0))
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "adamw: beta2 %g is outside [0, 1)", c->beta2);
  if (!(c->eps >= 0.0) || !isfinite(c->eps))
    return SEGC_FAIL(SEGC_ERR_INVALID, "adamw: eps %g is not valid", c->eps);
  if (!(c->weight_decay >= 0.0) || !isfinite(c->weight_decay))
    return SEGC_FAIL(SEGC_ERR_INVALID, "adamw: weight decay %g is not valid",
                     c->weight_decay);
  return SEGC_OK;
}

segc_status segc_adamw_init(segc_adamw *opt, const segc_adamw_config *config,
                            float *m, float *v, int64_t count) {
  if (!opt || !config)
    return SEGC_FAIL(SEGC_ERR_INVALID, "adamw: NULL optimizer or config");
  if (count < 0 || (count > 0 && (!m || !v)))
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "adamw: %lld parameters need m and v buffers",
                     (long long)count);
  SEGC_TRY(check_config(config));
  memset(opt, 0, sizeof *opt);
  opt->config = *config;
  opt->count = count;
  opt->m = m;
  opt->v = v;
  if (count > 0) {
    memset(m, 0, sizeof(float) * (size_t)count);
    memset(v, 0, sizeof(float) * (size_t)count);
  }
  return SEGC_OK;
}

// The index of the first non-finite gradient, or count when all are finite.
static int64_t first_nonfinite(const float *grads, int64_t count) {
  int64_t first = count;
#pragma omp parallel for schedule(static) reduction(min : first)
  for (int64_t i = 0; i < count; ++i)
    if (!isfinite(grads[i]) && i < first) first = i;
  return first;
}

// The elementwise update; built with FMA instructions where the CPU has them
// (fmaf is a correctly rounded library call otherwise: same bits).
__attribute__((target_clones("fma", "default")))
static void adamw_update(float *params, float *m, float *v, const float *grads,
                         int64_t count, float decay, float beta1,
                         float one_minus_beta1, float beta2,
                         float one_minus_beta2, float bias_correction2_sqrt,
                         float eps, float neg_step_size) {
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

segc_status segc_adamw_step(segc_adamw *opt, float *params,
                            const float *grads) {
  if (!opt || (opt->count > 0 && (!params || !grads)))
    return SEGC_FAIL(SEGC_ERR_INVALID, "adamw: NULL optimizer, params or grads");
  const int64_t count = opt->count;
  const int64_t bad = first_nonfinite(grads, count);
  if (bad < count)
    return SEGC_FAIL(SEGC_ERR_NONFINITE,
                     "adamw: gradient %lld of %lld is %g; step %lld skipped, "
                     "nothing changed",
                     (long long)bad, (long long)count, (double)grads[bad],
                     (long long)opt->step + 1);
  const segc_adamw_config *c = &opt->config;
  const double t = (double)(opt->step + 1);
  const double bias_correction1 = 1.0 - pow(c->beta1, t);
  const double bias_correction2 = 1.0 - pow(c->beta2, t);
  const float decay = (float)(1.0 - c->lr * c->weight_decay);
  const float beta1 = (float)c->beta1, beta2 = (float)c->beta2;
  const float one_minus_beta1 = (float)(1.0 - c->beta1);
  const float one_minus_beta2 = (float)(1.0 - c->beta2);
  const float bias_correction2_sqrt = (float)sqrt(bias_correction2);
  const float eps = (float)c->eps;
  const float neg_step_size = (float)(-(c->lr / bias_correction1));
  adamw_update(params, opt->m, opt->v, grads, count, decay, beta1,
               one_minus_beta1, beta2, one_minus_beta2, bias_correction2_sqrt,
               eps, neg_step_size);
  opt->step++;
  return SEGC_OK;
}
