// The 32-bit Mersenne Twister MT19937 (Matsumoto and Nishimura 1998), the
// generator behind C++'s std::mt19937 and torch's CPU generator.
//
// torch.Generator().manual_seed(s) seeds it with the low 32 bits of s (s as a
// two's-complement uint64, so -3 and 2**64 - 3 are the same seed), and its
// random() is one 32-bit output. segc's own random streams use the counter
// based Philox (core/rng.h); this one exists to reproduce torch's sequences.
#ifndef SEGC_CORE_MT19937_H
#define SEGC_CORE_MT19937_H

#include <stdint.h>

enum { SEGC_MT19937_STATE_WORDS = 624 };

typedef struct {
  uint32_t state[SEGC_MT19937_STATE_WORDS];
  int next;  // index of the next state word to temper; 624: twist first
} segc_mt19937;

// Seeds as torch's manual_seed(seed): only the low 32 bits count.
void segc_mt19937_seed(segc_mt19937 *mt, uint64_t seed);
// The next 32-bit output (torch's CPUGeneratorImpl::random()).
uint32_t segc_mt19937_next(segc_mt19937 *mt);

#endif
