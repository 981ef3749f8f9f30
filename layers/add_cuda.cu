// The CUDA kernel of the residual add (glue in add.c): y = a + b over the
// storage order in f32, stored in the tensors' dtype (f32 or bf16) with the
// CPU's rounding, on cudaStreamPerThread.
#include "core/cuda_ops.cuh"

extern "C" {
#include "layers/add_kernels.h"
}

__global__ void add_kernel(const void *a, const void *b, void *y, int64_t n,
                           bool bf16) {
  SEGC_CUDA_FOR(i, n)
  segc_cuda_store_act(y, i,
                      segc_cuda_load_act(a, i, bf16) +
                          segc_cuda_load_act(b, i, bf16),
                      bf16);
}

static segc_status add_cuda(const segc_tensor *a, const segc_tensor *b,
                            segc_tensor *y) {
  const int64_t n = segc_tensor_numel(a);
  if (n == 0) return SEGC_OK;
  SEGC_CUDA_LAUNCH("add", add_kernel, segc_cuda_blocks(n), SEGC_CUDA_THREADS,
                   a->data, b->data, y->data, n, a->dtype == SEGC_BF16);
  return SEGC_OK;
}

extern "C" const segc_add_kernels segc_add_cuda_kernels = {add_cuda};
