// The kernels of Dropout3d, one table per backend (private to layers/):
// dropout3d_cpu.c now, dropout3d_cuda.cu next.
#ifndef SEGC_LAYERS_DROPOUT3D_KERNELS_H
#define SEGC_LAYERS_DROPOUT3D_KERNELS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/tensor.h"

typedef struct {
  // out = in * mask[n, c] (or out += ..., when `accumulate`), where
  // mask[n, c] is 0 when segc_rng_uniform(seed, stream, n*C + c) < p, else
  // 1/(1-p). in and out have one shape and layout; temporaries come from
  // `scratch` and are given back before the return.
  segc_status (*apply)(segc_arena *scratch, uint64_t seed, uint64_t stream,
                       float p, const segc_tensor *in, segc_tensor *out,
                       bool accumulate);
} segc_dropout3d_kernels;

extern const segc_dropout3d_kernels segc_dropout3d_cpu_kernels;

#endif
