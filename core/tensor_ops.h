// Small arithmetic on whole tensors for the glue of ops, the tape and the
// trainer, so that none of them loops over host pointers itself. Each asks
// the backend table (core/backend.h) for its device and dtype and fails
// with its message (SEGC_ERR_UNSUPPORTED) where the build has no kernel;
// the CPU version is here, and results do not depend on the thread count.
#ifndef SEGC_CORE_TENSOR_OPS_H
#define SEGC_CORE_TENSOR_OPS_H

#include "core/status.h"
#include "core/tensor.h"

// Every element = value (converted to t's dtype).
segc_status segc_tensor_fill(segc_tensor *t, float value);

// Every element += value, in f32, stored back in t's dtype.
segc_status segc_tensor_add_scalar(segc_tensor *t, float value);

// dst += src elementwise in f32 (stored back in dst's dtype); same shape,
// layout and device, any dtypes.
segc_status segc_tensor_accumulate(segc_tensor *dst, const segc_tensor *src);

#endif
