// The CUDA state of a backend context: cuDNN and cuBLAS handles bound to
// cudaStreamPerThread and the per-shape plan cache (core/cuda_state.h).
#include <stdlib.h>

#include "core/cuda_state.h"

extern "C" {
#include "core/backend_context_cuda.h"
#include "core/cuda_runtime.h"
}

static void destroy_state(segc_cuda_state *state) {
  if (!state) return;
  segc_plan_cache_free(state->plans);  // descriptors first, then handles
  if (state->cublas) cublasDestroy(state->cublas);
  if (state->cudnn) cudnnDestroy(state->cudnn);
  free(state);
}

static segc_status create_state(segc_cuda_state *state) {
  SEGC_TRY(segc_cuda_get_device(&state->device));
  SEGC_CUDNN_CHECK(cudnnCreate(&state->cudnn));
  SEGC_CUDNN_CHECK(cudnnSetStream(state->cudnn, cudaStreamPerThread));
  SEGC_CUBLAS_CHECK(cublasCreate(&state->cublas));
  SEGC_CUBLAS_CHECK(cublasSetStream(state->cublas, cudaStreamPerThread));
  return segc_plan_cache_new(&state->plans);
}

extern "C" segc_status segc_backend_context_cuda_init(
    segc_backend_context *context) {
  context->cuda = NULL;
  int devices = 0;
  const char *reason = "";
  SEGC_TRY(segc_cuda_device_count_reason(&devices, &reason));
  if (devices == 0)
    return SEGC_FAIL(SEGC_ERR_UNSUPPORTED,
                     "backend context: no CUDA device found "
                     "(cudaGetDeviceCount: %s)",
                     reason);
  segc_cuda_state *state =
      (segc_cuda_state *)calloc(1, sizeof(segc_cuda_state));
  if (!state)
    return SEGC_FAIL(SEGC_ERR_NOMEM,
                     "backend context: no memory for the CUDA state");
  const segc_status status = create_state(state);
  if (status != SEGC_OK) {
    destroy_state(state);
    return segc_fail_context(status, "backend context");
  }
  context->cuda = state;
  return SEGC_OK;
}

extern "C" void segc_backend_context_cuda_destroy(
    segc_backend_context *context) {
  destroy_state(segc_cuda_state_of(context));
  context->cuda = NULL;
}
