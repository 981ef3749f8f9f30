// The few CUDA runtime calls the core needs (device memory for arenas),
// checked. Built only with SEGC_CUDA=ON (nvcc); without it every function
// fails with SEGC_ERR_UNSUPPORTED, so callers need no #ifdefs.
#ifndef SEGC_CORE_CUDA_RUNTIME_H
#define SEGC_CORE_CUDA_RUNTIME_H

#include <stddef.h>

#include "core/status.h"

// Number of CUDA devices (0 when the driver finds none).
segc_status segc_cuda_device_count(int *count);
segc_status segc_cuda_malloc(void **ptr, size_t bytes, const char *what);
void segc_cuda_free(void *ptr);
segc_status segc_cuda_memset(void *ptr, int value, size_t bytes);
// Host <-> device copies (direction from the pointers, cudaMemcpyDefault).
segc_status segc_cuda_copy(void *dst, const void *src, size_t bytes);

#endif
