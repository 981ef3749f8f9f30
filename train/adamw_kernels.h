// AdamW's elementwise update, one table per backend (private to train/):
// adamw_cpu.c now, adamw_cuda.cu next. adamw.c (the glue) checks the
// gradients, computes the step's scalars in double as PyTorch does and picks
// the table by the optimizer's device.
#ifndef SEGC_TRAIN_ADAMW_KERNELS_H
#define SEGC_TRAIN_ADAMW_KERNELS_H

#include <stdint.h>

// The scalars of one step, rounded to f32 where PyTorch's tensor ops receive
// them (adamw.c).
typedef struct {
  float decay;                  // 1 - lr * weight_decay
  float beta1, one_minus_beta1;
  float beta2, one_minus_beta2;
  float bias_correction2_sqrt;  // sqrt(1 - beta2^t)
  float eps;
  float neg_step_size;          // -lr / (1 - beta1^t)
} segc_adamw_scalars;

typedef struct {
  // One step over `count` parameters: params, m and v updated in place from
  // grads, all f32 memory of the backend's device. Elementwise.
  void (*update)(float *params, float *m, float *v, const float *grads,
                 int64_t count, const segc_adamw_scalars *scalars);
} segc_adamw_kernels;

extern const segc_adamw_kernels segc_adamw_cpu_kernels;

#endif
