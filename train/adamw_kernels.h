// AdamW's elementwise update, one table per backend (private to train/):
// adamw_cpu.c and adamw_cuda.cu. adamw.c (the glue) checks the
// gradients, computes the step's scalars in double as PyTorch does and picks
// the table by the optimizer's device.
#ifndef SEGC_TRAIN_ADAMW_KERNELS_H
#define SEGC_TRAIN_ADAMW_KERNELS_H

#include <math.h>
#include <stdint.h>

#include "core/host_device.h"
#include "core/status.h"

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

// One parameter's step, the formula both kernels run (the order of
// PyTorch's CPU kernels, adamw.c): fmaf is PyTorch's fused multiply-add,
// every other operation is rounded on its own (no contraction: C11 on GCC,
// --fmad=false on nvcc), so the CPU and the GPU give the same bits.
SEGC_HOST_DEVICE static inline void segc_adamw_element(
    float *param, float *m, float *v, float g, segc_adamw_scalars k) {
  const float p = *param * k.decay;
  const float m_i = fmaf(g, k.one_minus_beta1, *m * k.beta1);
  const float v_i = fmaf(k.one_minus_beta2 * g, g, *v * k.beta2);
  const float denom = sqrtf(v_i) / k.bias_correction2_sqrt + k.eps;
  *param = p + k.neg_step_size * m_i / denom;
  *m = m_i;
  *v = v_i;
}

typedef struct {
  // One step over `count` parameters: params, m and v updated in place from
  // grads, all f32 memory of the backend's device. Elementwise.
  // SEGC_OK, or a backend's failure (a CUDA launch) with its message.
  segc_status (*update)(float *params, float *m, float *v, const float *grads,
                        int64_t count, const segc_adamw_scalars *scalars);
} segc_adamw_kernels;

extern const segc_adamw_kernels segc_adamw_cpu_kernels;
#ifdef SEGC_HAVE_CUDA
extern const segc_adamw_kernels segc_adamw_cuda_kernels;
#endif

#endif
