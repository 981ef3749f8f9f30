// AdamW as torch.optim.AdamW's single-tensor path (torch/optim/adamw.py,
// amsgrad false, maximize false) computes it: the scalars (1 - lr*wd, the
// bias corrections, the step size) in double as Python does, rounded to f32
// where the tensor op receives them (here); every elementwise operation in
// f32 in the same order as PyTorch's CPU kernels (the kernel of the
// optimizer's device, adamw_kernels.h: adamw_cpu.c):
//   p = p * (1 - lr*wd)                          mul_
//   m = fma(g, 1 - b1, m * b1)                   mul_, add_(alpha): fmadd
//   v = fma((1 - b2) * g, g, v * b2)             mul_, addcmul_ (contracted)
//   denom = sqrt(v) / sqrt(1 - b2^t) + eps       sqrt, div, add_
//   p = p + (-lr / (1 - b1^t)) * m / denom       addcdiv_
// PyTorch's vectorised kernels fuse the two multiply-adds marked above (its
// AVX2/AVX-512 builds).
#include "train/adamw.h"

#include <math.h>
#include <string.h>

#include "core/backend.h"
#include "core/tensor_ops.h"
#include "train/adamw_kernels.h"

#ifdef SEGC_HAVE_CUDA
static const segc_adamw_kernels *const kernels_by_device[SEGC_DEVICE_COUNT] =
    SEGC_BACKEND_KERNELS(&segc_adamw_cpu_kernels, &segc_adamw_cuda_kernels);
#else
static const segc_adamw_kernels *const kernels_by_device[SEGC_DEVICE_COUNT] =
    SEGC_BACKEND_KERNELS(&segc_adamw_cpu_kernels, NULL);
#endif

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

// `count` floats at `data` on the optimizer's device, as a flat tensor.
static segc_tensor flat_view(const segc_adamw *opt, const float *data) {
  return segc_tensor_view((void *)data, segc_shape5(1, 1, 1, 1, opt->count),
                          SEGC_F32, SEGC_LAYOUT_NCDHW, opt->device);
}

segc_status segc_adamw_init_on(segc_adamw *opt, const segc_adamw_config *config,
                               float *m, float *v, int64_t count,
                               segc_device device) {
  if (!opt || !config)
    return SEGC_FAIL(SEGC_ERR_INVALID, "adamw: NULL optimizer or config");
  if (count < 0 || (count > 0 && (!m || !v)))
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "adamw: %lld parameters need m and v buffers",
                     (long long)count);
  SEGC_TRY(check_config(config));
  SEGC_TRY(segc_backend_require("adamw", device, SEGC_F32));
  memset(opt, 0, sizeof *opt);
  opt->config = *config;
  opt->count = count;
  opt->m = m;
  opt->v = v;
  opt->device = device;
  if (count == 0) return SEGC_OK;
  segc_tensor moments[2] = {flat_view(opt, m), flat_view(opt, v)};
  SEGC_TRY(segc_tensor_zero(&moments[0]));
  return segc_tensor_zero(&moments[1]);
}

segc_status segc_adamw_init(segc_adamw *opt, const segc_adamw_config *config,
                            float *m, float *v, int64_t count) {
  return segc_adamw_init_on(opt, config, m, v, count, SEGC_DEVICE_CPU);
}

segc_status segc_adamw_step(segc_adamw *opt, float *params,
                            const float *grads) {
  if (!opt || (opt->count > 0 && (!params || !grads)))
    return SEGC_FAIL(SEGC_ERR_INVALID, "adamw: NULL optimizer, params or grads");
  SEGC_TRY(segc_backend_require("adamw", opt->device, SEGC_F32));
  const int64_t count = opt->count;
  const segc_tensor gradients = flat_view(opt, grads);
  int64_t bad;
  SEGC_TRY(segc_tensor_first_nonfinite(&gradients, &bad));
  if (bad < count) {
    float value;
    SEGC_TRY(segc_tensor_read_f32(&gradients, bad, &value));
    return SEGC_FAIL(SEGC_ERR_NONFINITE,
                     "adamw: gradient %lld of %lld is %g; step %lld skipped, "
                     "nothing changed",
                     (long long)bad, (long long)count, (double)value,
                     (long long)opt->step + 1);
  }
  const segc_adamw_config *c = &opt->config;
  const double t = (double)(opt->step + 1);
  const double bias_correction1 = 1.0 - pow(c->beta1, t);
  const double bias_correction2 = 1.0 - pow(c->beta2, t);
  const segc_adamw_scalars scalars = {
      .decay = (float)(1.0 - c->lr * c->weight_decay),
      .beta1 = (float)c->beta1,
      .one_minus_beta1 = (float)(1.0 - c->beta1),
      .beta2 = (float)c->beta2,
      .one_minus_beta2 = (float)(1.0 - c->beta2),
      .bias_correction2_sqrt = (float)sqrt(bias_correction2),
      .eps = (float)c->eps,
      .neg_step_size = (float)(-(c->lr / bias_correction1)),
  };
  SEGC_TRY(kernels_by_device[opt->device]->update(params, opt->m, opt->v,
                                                  grads, count, &scalars));
  opt->step++;
  return SEGC_OK;
}
