#include "core/rng.h"

#include <math.h>

#include "core/rng_philox.h"

void segc_philox4x32(uint64_t seed, uint64_t stream, uint64_t block,
                     uint32_t out[4]) {
  segc_philox_block(seed, stream, block, out);
}

float segc_rng_uniform(uint64_t seed, uint64_t stream, uint64_t index) {
  return segc_philox_uniform(seed, stream, index);
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
        out[index - first] = segc_philox_unit(words[k]);
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
