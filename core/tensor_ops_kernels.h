// The kernels behind core/tensor_ops.h, one table per backend (private to
// core/): tensor_ops_cpu.c and tensor_ops_cuda.cu. tensor_ops.c (the
// glue) checks the arguments, asks the backend table and picks the table by
// the tensors' device, so every function here gets tensors already checked:
// data present, same shape, layout and device where two are involved.
//
// All work runs in storage order. Reductions cut the tensor into chunks of
// SEGC_REDUCE_CHUNK elements (core/parallel.h), reduce each chunk on its
// own and combine the chunks in chunk order, so no result depends on the
// thread count.
#ifndef SEGC_CORE_TENSOR_OPS_KERNELS_H
#define SEGC_CORE_TENSOR_OPS_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "core/tensor.h"

// Every function returns SEGC_OK, or a backend's failure (a CUDA launch or
// copy) with its message; results come back through the pointers.
typedef struct {
  // t[i] = value.
  segc_status (*fill)(const segc_tensor *t, float value);
  // t[i] = 0 (every byte).
  segc_status (*zero)(const segc_tensor *t);
  // dst = src converted to dst's dtype and layout (same shape and device).
  segc_status (*copy)(const segc_tensor *src, const segc_tensor *dst);
  // t[i] += value (in f32).
  segc_status (*add_scalar)(const segc_tensor *t, float value);
  // dst[i] += src[i] (in f32).
  segc_status (*accumulate)(const segc_tensor *dst, const segc_tensor *src);
  // t[i] *= factor (in f32).
  segc_status (*scale)(const segc_tensor *t, float factor);
  // y[i] += alpha * x[i] (in f32, no fused multiply-add).
  segc_status (*axpy)(const segc_tensor *y, float alpha, const segc_tensor *x);
  // t[i] *= factor; *all_finite = every result is finite.
  segc_status (*scale_all_finite)(const segc_tensor *t, float factor,
                                  bool *all_finite);
  // *index = the storage index of the first element that is not finite, or
  // numel.
  segc_status (*first_nonfinite)(const segc_tensor *t, int64_t *index);
  // *sum = the sum of all elements in double.
  segc_status (*sum)(const segc_tensor *t, double *sum);
  // Copies `bytes` bytes of t's memory from byte `offset` to host memory.
  segc_status (*to_host)(const segc_tensor *t, size_t offset, size_t bytes,
                         void *host);
} segc_tensor_kernels;

extern const segc_tensor_kernels segc_tensor_cpu_kernels;
#ifdef SEGC_HAVE_CUDA
extern const segc_tensor_kernels segc_tensor_cuda_kernels;
#endif

// The table of a device the backend table has accepted (tensor_ops.c).
const segc_tensor_kernels *segc_tensor_kernels_on(segc_device device);

#endif
