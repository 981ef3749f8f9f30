// The kernels behind core/tensor_ops.h, one table per backend (private to
// core/): tensor_ops_cpu.c now, tensor_ops_cuda.cu next. tensor_ops.c (the
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

#include "core/tensor.h"

typedef struct {
  // t[i] = value.
  void (*fill)(const segc_tensor *t, float value);
  // t[i] += value (in f32).
  void (*add_scalar)(const segc_tensor *t, float value);
  // dst[i] += src[i] (in f32).
  void (*accumulate)(const segc_tensor *dst, const segc_tensor *src);
  // t[i] *= factor (in f32).
  void (*scale)(const segc_tensor *t, float factor);
  // y[i] += alpha * x[i] (in f32, no fused multiply-add).
  void (*axpy)(const segc_tensor *y, float alpha, const segc_tensor *x);
  // t[i] *= factor; true when every result is finite.
  bool (*scale_all_finite)(const segc_tensor *t, float factor);
  // The storage index of the first element that is not finite, or numel.
  int64_t (*first_nonfinite)(const segc_tensor *t);
  // The sum of all elements in double.
  double (*sum)(const segc_tensor *t);
  // Copies `bytes` bytes of t's memory from byte `offset` to host memory.
  void (*to_host)(const segc_tensor *t, size_t offset, size_t bytes,
                  void *host);
} segc_tensor_kernels;

extern const segc_tensor_kernels segc_tensor_cpu_kernels;

#endif
