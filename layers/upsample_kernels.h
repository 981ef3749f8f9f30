// The kernels of trilinear x2 upsampling, one table per backend (private to
// layers/): upsample_cpu.c and upsample_cuda.cu.
#ifndef SEGC_LAYERS_UPSAMPLE_KERNELS_H
#define SEGC_LAYERS_UPSAMPLE_KERNELS_H

#include <stdbool.h>

#include "core/arena.h"
#include "core/tensor.h"

typedef struct {
  // y (N, C, 2D, 2H, 2W) from x (N, C, D, H, W), same dtype and layout;
  // temporaries come from `scratch` and are given back before the return.
  segc_status (*forward)(segc_arena *scratch, const segc_tensor *x,
                         segc_tensor *y);
  // dx = (or +=, when `accumulate`) the transposed map applied to dy.
  segc_status (*backward)(segc_arena *scratch, const segc_tensor *dy,
                          segc_tensor *dx, bool accumulate);
} segc_upsample_kernels;

extern const segc_upsample_kernels segc_upsample_cpu_kernels;
#ifdef SEGC_HAVE_CUDA
extern const segc_upsample_kernels segc_upsample_cuda_kernels;
#endif

#endif
