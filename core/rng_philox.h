// Philox4x32-10 and the uniform draw of core/rng.h as static inline
// functions for both compilers (core/host_device.h): rng.c calls these, and
// CUDA kernels that draw (dropout3d_cuda.cu) call the same code, so a mask
// drawn on the GPU is the CPU's mask bit for bit.
#ifndef SEGC_CORE_RNG_PHILOX_H
#define SEGC_CORE_RNG_PHILOX_H

#include <stdint.h>

#include "core/host_device.h"

// Philox4x32 constants (Salmon et al., "Parallel random numbers: as easy as
// 1, 2, 3", SC 2011).
#define SEGC_PHILOX_M0 0xD2511F53u
#define SEGC_PHILOX_M1 0xCD9E8D57u
#define SEGC_PHILOX_W0 0x9E3779B9u
#define SEGC_PHILOX_W1 0xBB67AE85u

// The 4 x 32 random bits of block `block` of a stream (segc_philox4x32).
SEGC_HOST_DEVICE static inline void segc_philox_block(uint64_t seed,
                                                      uint64_t stream,
                                                      uint64_t block,
                                                      uint32_t out[4]) {
  uint32_t c0 = (uint32_t)block, c1 = (uint32_t)(block >> 32);
  uint32_t c2 = (uint32_t)stream, c3 = (uint32_t)(stream >> 32);
  uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = (uint64_t)SEGC_PHILOX_M0 * c0;
    const uint64_t p1 = (uint64_t)SEGC_PHILOX_M1 * c2;
    const uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
    const uint32_t n1 = (uint32_t)p1;
    const uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
    const uint32_t n3 = (uint32_t)p0;
    c0 = n0;
    c1 = n1;
    c2 = n2;
    c3 = n3;
    k0 += SEGC_PHILOX_W0;
    k1 += SEGC_PHILOX_W1;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}

// [0, 1) from the top 24 bits of a word: exact in f32.
SEGC_HOST_DEVICE static inline float segc_philox_unit(uint32_t bits) {
  return (float)(bits >> 8) * (1.0f / 16777216.0f);
}

// Element `index` of a stream (segc_rng_uniform): word index % 4 of block
// index / 4.
SEGC_HOST_DEVICE static inline float segc_philox_uniform(uint64_t seed,
                                                         uint64_t stream,
                                                         uint64_t index) {
  uint32_t words[4];
  segc_philox_block(seed, stream, index >> 2, words);
  return segc_philox_unit(words[index & 3]);
}

#endif
