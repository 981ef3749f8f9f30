#include "core/backend_context.h"

#include <string.h>

#include "core/backend.h"
#include "core/backend_context_cuda.h"

typedef struct {
  segc_status (*init)(segc_backend_context *context);
  void (*destroy)(segc_backend_context *context);
} backend_lifecycle;

static segc_status cpu_init(segc_backend_context *context) {
  return segc_dnnl_state_init(&context->dnnl);
}

static void cpu_destroy(segc_backend_context *context) {
  segc_dnnl_state_destroy(&context->dnnl);
}

static const backend_lifecycle cpu_lifecycle = {cpu_init, cpu_destroy};
#ifdef SEGC_HAVE_CUDA
// cuDNN and cuBLAS handles on cudaStreamPerThread, the plan cache
// (core/backend_context_cuda.cu); refused when no device is present.
static const backend_lifecycle cuda_lifecycle = {
    segc_backend_context_cuda_init, segc_backend_context_cuda_destroy};
#define CUDA_LIFECYCLE (&cuda_lifecycle)
#else
#define CUDA_LIFECYCLE NULL
#endif
static const backend_lifecycle *const lifecycle_by_device[SEGC_DEVICE_COUNT] =
    SEGC_BACKEND_KERNELS(&cpu_lifecycle, CUDA_LIFECYCLE);

segc_status segc_backend_context_init(segc_backend_context *context,
                                      segc_device device,
                                      segc_arena *scratch) {
  memset(context, 0, sizeof *context);
  SEGC_TRY(segc_backend_require_device("backend context", device));
  if (!scratch || !scratch->base)
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "backend context: the scratch arena is not set up");
  if (scratch->device != device)
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "backend context: scratch arena '%s' is on %s, the "
                     "context on %s",
                     scratch->name, segc_device_name(scratch->device),
                     segc_device_name(device));
  context->device = device;
  context->scratch = scratch;
  const segc_status status = lifecycle_by_device[device]->init(context);
  if (status != SEGC_OK) memset(context, 0, sizeof *context);
  return status;
}

void segc_backend_context_destroy(segc_backend_context *context) {
  if (!context->scratch) return;  // never set up, or destroyed already
  lifecycle_by_device[context->device]->destroy(context);
  memset(context, 0, sizeof *context);
}
