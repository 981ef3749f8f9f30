// CUDA runtime wrappers (nvcc). Every call is checked; a failure names the
// call, CUDA's message and the place.
extern "C" {
#include "core/cuda_runtime.h"
}

#include <cuda_runtime.h>

#define SEGC_CUDA_CHECK(call)                                                  \
  do {                                                                         \
    cudaError_t cuda_status_ = (call);                                         \
    if (cuda_status_ != cudaSuccess)                                           \
      return segc_fail(SEGC_ERR_BACKEND, "CUDA %s failed: %s (%s:%d)", #call,  \
                       cudaGetErrorString(cuda_status_), __FILE__, __LINE__);  \
  } while (0)

extern "C" segc_status segc_cuda_device_count(int *count) {
  *count = 0;
  cudaError_t status = cudaGetDeviceCount(count);
  // No driver or no device is an answer (zero devices), not a failure.
  if (status == cudaErrorNoDevice || status == cudaErrorInsufficientDriver) {
    cudaGetLastError();
    *count = 0;
    return SEGC_OK;
  }
  SEGC_CUDA_CHECK(status);
  return SEGC_OK;
}

extern "C" segc_status segc_cuda_malloc(void **ptr, size_t bytes,
                                        const char *what) {
  *ptr = NULL;
  cudaError_t status = cudaMalloc(ptr, bytes);
  if (status != cudaSuccess)
    return segc_fail(SEGC_ERR_NOMEM, "%s: cudaMalloc of %zu bytes failed: %s",
                     what, bytes, cudaGetErrorString(status));
  return SEGC_OK;
}

extern "C" void segc_cuda_free(void *ptr) {
  if (ptr) cudaFree(ptr);
}

extern "C" segc_status segc_cuda_memset(void *ptr, int value, size_t bytes) {
  SEGC_CUDA_CHECK(cudaMemset(ptr, value, bytes));
  return SEGC_OK;
}

extern "C" segc_status segc_cuda_copy(void *dst, const void *src,
                                      size_t bytes) {
  SEGC_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDefault));
  return SEGC_OK;
}
