// The CUDA part of a backend context (core/backend_context.h), built only
// with SEGC_CUDA=ON (core/backend_context_cuda.cu); core/backend_context.c
// calls it only then. Init refuses with one line when no device is present:
// "backend context: no CUDA device found (cudaGetDeviceCount: ...)".
#ifndef SEGC_CORE_BACKEND_CONTEXT_CUDA_H
#define SEGC_CORE_BACKEND_CONTEXT_CUDA_H

#include "core/backend_context.h"

// Creates context->cuda (core/cuda_state.h) on the calling thread's current
// device (cudaSetDevice is the caller's business; device 0 by default).
segc_status segc_backend_context_cuda_init(segc_backend_context *context);
// Destroys the plans, the handles and the state; safe on a NULL state.
void segc_backend_context_cuda_destroy(segc_backend_context *context);

#endif
