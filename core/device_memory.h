// Copies between memory on the host and memory on a device, for what
// crosses the seam as bytes: a batch going to the network's device,
// weights loaded from a checkpoint, a training state saved. On the CPU a
// memcpy; when either side is a GPU, the CUDA runtime's copy on the kernels'
// stream, finished when the call returns.
#ifndef SEGC_CORE_DEVICE_MEMORY_H
#define SEGC_CORE_DEVICE_MEMORY_H

#include <stddef.h>

#include "core/status.h"
#include "core/tensor.h"

segc_status segc_device_copy(void *dst, segc_device dst_device,
                             const void *src, segc_device src_device,
                             size_t bytes);

#endif
