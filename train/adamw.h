// torch.optim.AdamW over the flat f32 parameter arena.
//
// Per step t (from 1): p -= lr * wd * p; m = b1 m + (1 - b1) g;
// v = b2 v + (1 - b2) g^2; p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t))
// + eps). Elementwise, so the result does not depend on threads. The glue
// (adamw.c) runs the kernel of the optimizer's device (adamw_kernels.h).
#ifndef SEGC_TRAIN_ADAMW_H
#define SEGC_TRAIN_ADAMW_H

#include <stdint.h>

#include "core/status.h"
#include "core/tensor.h"

typedef struct {
  double lr;            // 1e-4 in the bundle
  double beta1, beta2;  // 0.9, 0.999
  double eps;           // 1e-8
  double weight_decay;  // 1e-5 in the bundle (PyTorch's default is 1e-2)
} segc_adamw_config;

segc_adamw_config segc_adamw_default(void);

typedef struct {
  segc_adamw_config config;
  int64_t step;   // steps taken
  int64_t count;  // parameters
  float *m, *v;   // first and second moments (the optimizer-state arena)
  segc_device device;  // where m, v, the parameters and gradients live
} segc_adamw;

// m and v point into caller-owned memory of `count` floats each on `device`
// (zeroed here); the device must have an AdamW kernel (core/backend.h).
segc_status segc_adamw_init_on(segc_adamw *opt, const segc_adamw_config *config,
                               float *m, float *v, int64_t count,
                               segc_device device);
// segc_adamw_init_on with host memory (the CPU backend).
segc_status segc_adamw_init(segc_adamw *opt, const segc_adamw_config *config,
                            float *m, float *v, int64_t count);
// One step over params[0..count) with grads[0..count), both memory of the
// optimizer's device. A non-finite gradient is an error naming its index
// (nothing is changed then).
segc_status segc_adamw_step(segc_adamw *opt, float *params,
                            const float *grads);

#endif
