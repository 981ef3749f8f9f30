// Small arithmetic on whole tensors for the glue of ops, the tape, the
// trainer and the optimizer, so that none of them loops over host pointers
// itself. Each asks the backend table (core/backend.h) for its device and
// dtype and fails with its message (SEGC_ERR_UNSUPPORTED) where the build
// has no kernel; the kernels are per backend (tensor_ops_kernels.h:
// tensor_ops_cpu.c). Elements are taken in storage order, arithmetic is in
// f32 with results stored in the tensor's dtype, and no result depends on
// the thread count (reductions combine fixed chunks in a fixed order).
//
// A tensor without data (data NULL, elements > 0) is SEGC_ERR_INVALID; where
// two tensors meet they must have the same shape, layout and device.
#ifndef SEGC_CORE_TENSOR_OPS_H
#define SEGC_CORE_TENSOR_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "core/tensor.h"

// Every element = value (converted to t's dtype).
segc_status segc_tensor_fill(segc_tensor *t, float value);

// Every element += value, in f32, stored back in t's dtype.
segc_status segc_tensor_add_scalar(segc_tensor *t, float value);

// dst += src elementwise in f32 (stored back in dst's dtype); any dtypes.
segc_status segc_tensor_accumulate(segc_tensor *dst, const segc_tensor *src);

// t *= factor elementwise (f32, bf16, f16).
segc_status segc_tensor_scale(segc_tensor *t, float factor);

// y += alpha * x elementwise (f32, bf16, f16): the product is rounded to f32
// before the add (no fused multiply-add), as PyTorch's CPU add_(alpha) is
// not fused either.
segc_status segc_tensor_axpy(segc_tensor *y, float alpha,
                             const segc_tensor *x);

// *all_finite = no element of tensors[0..count) is infinite or NaN (integer
// tensors always are finite). A flat arena is one tensor (a 1x1x1x1xN view).
segc_status segc_tensors_all_finite(const segc_tensor *tensors, int count,
                                    bool *all_finite);

// *index = the storage index of the first element of t that is infinite or
// NaN, or t's element count when there is none.
segc_status segc_tensor_first_nonfinite(const segc_tensor *t, int64_t *index);

// t *= factor, and *all_finite = every result is finite: one pass over t
// (mixed precision's unscale of the gradients).
segc_status segc_tensor_scale_all_finite(segc_tensor *t, float factor,
                                         bool *all_finite);

// *sum = the sum of all elements, in double, over chunks of
// SEGC_REDUCE_CHUNK elements combined in chunk order (for f32 the same value
// as segc_sum_f32).
segc_status segc_tensor_sum(const segc_tensor *t, double *sum);

// Copies t's bytes (its dtype, its layout) into host memory of `host_bytes`
// (at least segc_tensor_bytes(t)): a copy on the CPU, a device-to-host copy
// on a device.
segc_status segc_tensor_to_host(const segc_tensor *t, void *host,
                                size_t host_bytes);

// Element `index` (storage order) of t as f32 in host memory: a loss, a
// scale, the value a message names.
segc_status segc_tensor_read_f32(const segc_tensor *t, int64_t index,
                                 float *value);

#endif
