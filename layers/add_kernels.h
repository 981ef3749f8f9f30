// The kernels of the residual add, one table per backend (private to
// layers/): add_cpu.c and add_cuda.cu.
#ifndef SEGC_LAYERS_ADD_KERNELS_H
#define SEGC_LAYERS_ADD_KERNELS_H

#include "core/tensor.h"

typedef struct {
  // y = a + b elementwise over the storage order; a, b and y have one
  // shape, dtype (f32 or bf16) and layout.
  // SEGC_OK, or a backend's failure (a CUDA launch) with its message.
  segc_status (*add)(const segc_tensor *a, const segc_tensor *b,
                     segc_tensor *y);
} segc_add_kernels;

extern const segc_add_kernels segc_add_cpu_kernels;
#ifdef SEGC_HAVE_CUDA
extern const segc_add_kernels segc_add_cuda_kernels;
#endif

#endif
