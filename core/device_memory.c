#include "core/device_memory.h"

#include <string.h>

#include "core/backend.h"
#include "core/cuda_runtime.h"

segc_status segc_device_copy(void *dst, segc_device dst_device,
                             const void *src, segc_device src_device,
                             size_t bytes) {
  if (bytes == 0) return SEGC_OK;
  if (!dst || !src)
    return SEGC_FAIL(SEGC_ERR_INVALID, "device copy: NULL buffer for %zu bytes",
                     bytes);
  if (dst_device == SEGC_DEVICE_CPU && src_device == SEGC_DEVICE_CPU) {
    memcpy(dst, src, bytes);
    return SEGC_OK;
  }
  if ((dst_device != SEGC_DEVICE_CPU && dst_device != SEGC_DEVICE_CUDA) ||
      (src_device != SEGC_DEVICE_CPU && src_device != SEGC_DEVICE_CUDA))
    return SEGC_FAIL(SEGC_ERR_UNSUPPORTED, "device copy: from %s to %s",
                     segc_device_name(src_device), segc_device_name(dst_device));
  segc_status status = segc_cuda_copy(dst, src, bytes);
  if (status != SEGC_OK)
    return segc_fail_context(status, "copying %zu bytes from %s to %s", bytes,
                             segc_device_name(src_device),
                             segc_device_name(dst_device));
  return SEGC_OK;
}
