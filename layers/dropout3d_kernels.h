// The kernels of Dropout3d, one table per backend (private to layers/):
// dropout3d_cpu.c and dropout3d_cuda.cu.
#ifndef SEGC_LAYERS_DROPOUT3D_KERNELS_H
#define SEGC_LAYERS_DROPOUT3D_KERNELS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/host_device.h"
#include "core/rng_philox.h"
#include "core/tensor.h"

// The scale of channel `index` = n*C + c of a Dropout3d mask: 0 where
// segc_rng_uniform(seed, stream, index) < p (dropped), else 1/(1-p). Both
// kernels draw through this, so the GPU's mask is the CPU's.
SEGC_HOST_DEVICE static inline float segc_dropout3d_channel_scale(
    uint64_t seed, uint64_t stream, float p, uint64_t index) {
  return segc_philox_uniform(seed, stream, index) < p ? 0.0f
                                                      : 1.0f / (1.0f - p);
}

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
#ifdef SEGC_HAVE_CUDA
extern const segc_dropout3d_kernels segc_dropout3d_cuda_kernels;
#endif

#endif
