// AdamW's CUDA kernel (glue in adamw.c): one thread per parameter over the
// flat f32 arenas (params, gradients, m, v: one launch for every tensor of
// the model), running segc_adamw_element, the CPU kernel's formula, on
// cudaStreamPerThread.
#include "core/cuda_ops.cuh"

extern "C" {
#include "train/adamw_kernels.h"
}

__global__ void adamw_kernel(float *params, float *m, float *v,
                             const float *grads, int64_t count,
                             segc_adamw_scalars scalars) {
  SEGC_CUDA_FOR(i, count)
  segc_adamw_element(&params[i], &m[i], &v[i], grads[i], scalars);
}

static segc_status adamw_cuda_update(float *params, float *m, float *v,
                                     const float *grads, int64_t count,
                                     const segc_adamw_scalars *scalars) {
  if (count == 0) return SEGC_OK;
  SEGC_CUDA_LAUNCH("adamw", adamw_kernel, segc_cuda_blocks(count),
                   SEGC_CUDA_THREADS, params, m, v, grads, count, *scalars);
  return SEGC_OK;
}

extern "C" const segc_adamw_kernels segc_adamw_cuda_kernels = {
    adamw_cuda_update};
