// The few CUDA runtime calls the core needs (device memory for arenas, the
// device, the per-thread stream), checked. Built only with SEGC_CUDA=ON
// (nvcc); without it every function fails with SEGC_ERR_UNSUPPORTED, so
// callers need no #ifdefs.
//
// Stream contract: segc's kernels and library calls run on
// cudaStreamPerThread; segc_cuda_synchronize waits for that stream.
#ifndef SEGC_CORE_CUDA_RUNTIME_H
#define SEGC_CORE_CUDA_RUNTIME_H

#include <stddef.h>

#include "core/status.h"

// Number of CUDA devices (0 when the driver finds none).
segc_status segc_cuda_device_count(int *count);
// The same, and when there are none CUDA's reason: the string of
// cudaGetDeviceCount's error ("no CUDA-capable device is detected"), or
// "0 devices" when the call succeeded with none. The string is static.
segc_status segc_cuda_device_count_reason(int *count, const char **reason);
// cudaSetDevice / cudaGetDevice for the calling thread.
segc_status segc_cuda_set_device(int device);
segc_status segc_cuda_get_device(int *device);
// Waits for everything queued on this thread's stream (cudaStreamPerThread).
segc_status segc_cuda_synchronize(void);
// cudaGetLastError after kernel launches: a failed launch names `what`.
segc_status segc_cuda_check_last(const char *what);
segc_status segc_cuda_malloc(void **ptr, size_t bytes, const char *what);
void segc_cuda_free(void *ptr);
segc_status segc_cuda_memset(void *ptr, int value, size_t bytes);
// Host <-> device copies (direction from the pointers, cudaMemcpyDefault).
segc_status segc_cuda_copy(void *dst, const void *src, size_t bytes);

#endif
