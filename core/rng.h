// Counter-based random numbers (Philox4x32-10).
//
// A random value is a pure function of (seed, stream, index): no state is
// advanced, so results do not depend on the thread count or on the order in
// which threads draw. A stream names one use (the dropout of one layer in one
// step, the crop of one sample, ...); segc_rng_stream() builds stream ids.
#ifndef SEGC_CORE_RNG_H
#define SEGC_CORE_RNG_H

#include <stddef.h>
#include <stdint.h>

// Purposes keep streams of different uses apart.
typedef enum {
  SEGC_RNG_INIT = 1,     // weight initialisation
  SEGC_RNG_DROPOUT = 2,  // dropout masks
  SEGC_RNG_CROP = 3,     // random crop positions
  SEGC_RNG_SHUFFLE = 4,  // epoch order
  SEGC_RNG_PHANTOM = 5,  // synthetic data
  SEGC_RNG_TEST = 6      // tests
} segc_rng_purpose;

// Builds a stream id from a purpose and two counters (e.g. step and layer).
// a keeps 40 bits, b keeps 16 bits.
static inline uint64_t segc_rng_stream(segc_rng_purpose purpose, uint64_t a,
                                       uint64_t b) {
  return ((uint64_t)purpose << 56) | ((a & 0xffffffffffull) << 16) |
         (b & 0xffffull);
}

// The 4 x 32 random bits of block `block` of a stream.
void segc_philox4x32(uint64_t seed, uint64_t stream, uint64_t block,
                     uint32_t out[4]);

// Uniform in [0, 1) with 24 random bits, element `index` of the stream
// (element i uses word i % 4 of block i / 4).
float segc_rng_uniform(uint64_t seed, uint64_t stream, uint64_t index);
// Fills out[0..n) with elements first..first+n of the stream.
void segc_rng_fill_uniform(uint64_t seed, uint64_t stream, uint64_t first,
                           size_t n, float *out);
// A standard normal (Box-Muller over elements 2*index and 2*index+1).
double segc_rng_normal(uint64_t seed, uint64_t stream, uint64_t index);
// Uniform integer in [0, bound) (bound > 0), from 64 random bits.
uint64_t segc_rng_below(uint64_t seed, uint64_t stream, uint64_t index,
                        uint64_t bound);

#endif
