// Without SEGC_CUDA the CUDA functions report that they are not built.
#ifndef SEGC_HAVE_CUDA
#include "core/cuda_runtime.h"

static segc_status not_built(void) {
  return SEGC_FAIL(SEGC_ERR_UNSUPPORTED,
                   "this segc was built without CUDA (configure with "
                   "-DSEGC_CUDA=ON where nvcc is installed)");
}

segc_status segc_cuda_device_count(int *count) {
  *count = 0;
  return not_built();
}

segc_status segc_cuda_device_count_reason(int *count, const char **reason) {
  *count = 0;
  *reason = "this segc was built without CUDA";
  return not_built();
}

segc_status segc_cuda_set_device(int device) {
  (void)device;
  return not_built();
}

segc_status segc_cuda_get_device(int *device) {
  *device = -1;
  return not_built();
}

segc_status segc_cuda_synchronize(void) { return not_built(); }

segc_status segc_cuda_check_last(const char *what) {
  (void)what;
  return not_built();
}

segc_status segc_cuda_malloc(void **ptr, size_t bytes, const char *what) {
  (void)bytes;
  (void)what;
  *ptr = NULL;
  return not_built();
}

void segc_cuda_free(void *ptr) { (void)ptr; }

segc_status segc_cuda_memset(void *ptr, int value, size_t bytes) {
  (void)ptr;
  (void)value;
  (void)bytes;
  return not_built();
}

segc_status segc_cuda_copy(void *dst, const void *src, size_t bytes) {
  (void)dst;
  (void)src;
  (void)bytes;
  return not_built();
}
#else
// The CUDA build compiles core/cuda_runtime_cuda.cu instead.
typedef int segc_cuda_runtime_absent_unused;
#endif
