// Checked CUDA, cuDNN and cuBLAS calls for the .cu files: on failure each
// macro records the call, the library's message and the place, and returns
// SEGC_ERR_BACKEND from the enclosing function (which returns segc_status).
// The *_RESULT forms return the status instead, for code that must clean up.
#ifndef SEGC_CORE_CUDA_CHECK_H
#define SEGC_CORE_CUDA_CHECK_H

#include <cuda_runtime.h>

extern "C" {
#include "core/status.h"
}

static inline segc_status segc_cuda_result(cudaError_t status,
                                           const char *call, const char *file,
                                           int line) {
  if (status == cudaSuccess) return SEGC_OK;
  return segc_fail(SEGC_ERR_BACKEND, "CUDA %s failed: %s (%s:%d)", call,
                   cudaGetErrorString(status), file, line);
}

#define SEGC_CUDA_RESULT(call) \
  segc_cuda_result((call), #call, __FILE__, __LINE__)
#define SEGC_CUDA_CHECK(call) SEGC_TRY(SEGC_CUDA_RESULT(call))

#endif
