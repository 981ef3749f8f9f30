#include "core/rng.h"

#include <math.h>

// Philox4x32 constants (Salmon et al., "Parallel random numbers: as easy as
// 1, 2, 3", SC 2011).
#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

void segc_philox4x32(uint64_t seed, uint64_t stream, uint64_t block,
                     uint32_t out[4]) {
  uint32_t c0 = (uint32_t)block, c1 = (uint32_t)(block >> 32);
  uint32_t c2 = (uint32_t)stream, c3 = (uint32_t)(stream >> 32);
  uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
  for (int round = 0; round < 10; ++round) {
    uint64_t p0 = (uint64_t)PHILOX_M0 * c0;
    uint64_t p1 = (uint64_t)PHILOX_M1 * c2;
    uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
    uint32_t n1 = (uint32_t)p1;
    uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
    uint32_t n3 = (uint32_t)p0;
    c0 = n0; c1 = n1; c2 = n2; c3 = n3;
    k0 += PHILOX_W0;
    k1 += PHILOX_W1;
  }
  out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

static inline float bits_to_unit(uint32_t bits) {
  return (float)(bits >> 8) * (1.0f / 16777216.0f);
}

float segc_rng_uniform(uint64_t seed, uint64_t stream, uint64_t index) {
  uint32_t words[4];
  segc_philox4x32(seed, stream, index >> 2, words);
  return bits_to_unit(words[index & 3]);
}

void segc_rng_fill_uniform(uint64_t seed, uint64_t stream, uint64_t first,
                           size_t n, float *out) {
  if (n == 0) return;
  // Blocks are independent, so the parallel split cannot change any value.
  const uint64_t first_block = first >> 2;
  const uint64_t last_block = (first + n - 1) >> 2;
#pragma omp parallel for schedule(static) if (n > (1u << 16))
  for (uint64_t b = first_block; b <= last_block; ++b) {
    uint32_t words[4];
    segc_philox4x32(seed, stream, b, words);
    for (int k = 0; k < 4; ++k) {
      uint64_t index = b * 4 + (uint64_t)k;
      if (index >= first && index < first + n)
        out[index - first] = bits_to_unit(words[k]);
    }
  }
}

double segc_rng_normal(uint64_t seed, uint64_t stream, uint64_t index) {
  uint32_t words[4];
  segc_philox4x32(seed, stream, index, words);
  // 53-bit uniforms in (0, 1] and [0, 1).
  uint64_t a = ((uint64_t)words[0] << 21) ^ (words[1] >> 11);
  uint64_t b = ((uint64_t)words[2] << 21) ^ (words[3] >> 11);
  double u1 = ((double)(a & ((1ull << 53) - 1)) + 1.0) / 9007199254740992.0;
  double u2 = (double)(b & ((1ull << 53) - 1)) / 9007199254740992.0;
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

uint64_t segc_rng_below(uint64_t seed, uint64_t stream, uint64_t index,
                        uint64_t bound) {
  uint32_t words[4];
  segc_philox4x32(seed, stream, index, words);
  uint64_t r = ((uint64_t)words[0] << 32) | words[1];
  // Bias is below 2^-40 for the bounds segc uses (crop positions, epochs).
  return r % bound;
}
