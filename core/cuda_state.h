// The CUDA backend's state in a backend context (context->cuda), for the
// .cu files: the device it was created on, the cuDNN and cuBLAS handles
// (bound to cudaStreamPerThread, segc's stream contract) and the plans the
// kernels cache per shape (conv3d's descriptors and algorithms). Created by
// segc_backend_context_init(context, SEGC_DEVICE_CUDA, scratch) through
// core/backend_context_cuda.h, destroyed with the context.
#ifndef SEGC_CORE_CUDA_STATE_H
#define SEGC_CORE_CUDA_STATE_H

#include <cublas_v2.h>
#include <cudnn.h>

#include "core/cuda_check.h"

extern "C" {
#include "core/backend_context.h"
#include "core/plan_cache.h"
}

typedef struct {
  int device;  // cudaGetDevice when the context was created
  cudnnHandle_t cudnn;
  cublasHandle_t cublas;
  segc_plan_cache *plans;
} segc_cuda_state;

static inline segc_cuda_state *segc_cuda_state_of(
    segc_backend_context *context) {
  return (segc_cuda_state *)context->cuda;
}

static inline segc_status segc_cudnn_result(cudnnStatus_t status,
                                            const char *call, const char *file,
                                            int line) {
  if (status == CUDNN_STATUS_SUCCESS) return SEGC_OK;
  return segc_fail(SEGC_ERR_BACKEND, "cuDNN %s failed: %s (%s:%d)", call,
                   cudnnGetErrorString(status), file, line);
}
#define SEGC_CUDNN_RESULT(call) \
  segc_cudnn_result((call), #call, __FILE__, __LINE__)
#define SEGC_CUDNN_CHECK(call) SEGC_TRY(SEGC_CUDNN_RESULT(call))

static inline segc_status segc_cublas_result(cublasStatus_t status,
                                             const char *call,
                                             const char *file, int line) {
  if (status == CUBLAS_STATUS_SUCCESS) return SEGC_OK;
  return segc_fail(SEGC_ERR_BACKEND, "cuBLAS %s failed: %s (%s:%d)", call,
                   cublasGetStatusString(status), file, line);
}
#define SEGC_CUBLAS_RESULT(call) \
  segc_cublas_result((call), #call, __FILE__, __LINE__)
#define SEGC_CUBLAS_CHECK(call) SEGC_TRY(SEGC_CUBLAS_RESULT(call))

#endif
