// CUDA runtime wrappers (nvcc). Every call is checked; a failure names the
// call, CUDA's message and the place.
extern "C" {
#include "core/cuda_runtime.h"
}

#include <cuda_runtime.h>

#include "core/cuda_check.h"

extern "C" segc_status segc_cuda_device_count_reason(int *count,
                                                     const char **reason) {
  *count = 0;
  *reason = "0 devices";
  cudaError_t status = cudaGetDeviceCount(count);
  // No driver or no device is an answer (zero devices), not a failure.
  if (status == cudaErrorNoDevice || status == cudaErrorInsufficientDriver) {
    cudaGetLastError();
    *count = 0;
    *reason = cudaGetErrorString(status);
    return SEGC_OK;
  }
  SEGC_CUDA_CHECK(status);
  return SEGC_OK;
}

extern "C" segc_status segc_cuda_device_count(int *count) {
  const char *reason;
  return segc_cuda_device_count_reason(count, &reason);
}

extern "C" segc_status segc_cuda_set_device(int device) {
  SEGC_CUDA_CHECK(cudaSetDevice(device));
  return SEGC_OK;
}

extern "C" segc_status segc_cuda_get_device(int *device) {
  *device = -1;
  SEGC_CUDA_CHECK(cudaGetDevice(device));
  return SEGC_OK;
}

extern "C" segc_status segc_cuda_synchronize(void) {
  SEGC_CUDA_CHECK(cudaStreamSynchronize(cudaStreamPerThread));
  return SEGC_OK;
}

extern "C" segc_status segc_cuda_check_last(const char *what) {
  const cudaError_t status = cudaGetLastError();
  if (status == cudaSuccess) return SEGC_OK;
  return segc_fail(SEGC_ERR_BACKEND, "%s: CUDA kernel launch failed: %s",
                   what, cudaGetErrorString(status));
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

// On cudaStreamPerThread like every kernel, so ordered after the work
// queued before it without relying on the legacy stream's implicit sync.
extern "C" segc_status segc_cuda_memset(void *ptr, int value, size_t bytes) {
  SEGC_CUDA_CHECK(cudaMemsetAsync(ptr, value, bytes, cudaStreamPerThread));
  return SEGC_OK;
}

// Synchronous for the host: a host buffer is filled (or free to reuse) when
// it returns.
extern "C" segc_status segc_cuda_copy(void *dst, const void *src,
                                      size_t bytes) {
  SEGC_CUDA_CHECK(
      cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, cudaStreamPerThread));
  SEGC_CUDA_CHECK(cudaStreamSynchronize(cudaStreamPerThread));
  return SEGC_OK;
}
