#include "core/mt19937.h"

enum { SHIFT_WORDS = 397 };
static const uint32_t MATRIX_A = 0x9908b0dfu;
static const uint32_t UPPER_BIT = 0x80000000u;
static const uint32_t LOWER_BITS = 0x7fffffffu;

void segc_mt19937_seed(segc_mt19937 *mt, uint64_t seed) {
  mt->state[0] = (uint32_t)(seed & 0xffffffffu);
  for (uint32_t i = 1; i < SEGC_MT19937_STATE_WORDS; ++i) {
    const uint32_t prev = mt->state[i - 1];
    mt->state[i] = 1812433253u * (prev ^ (prev >> 30)) + i;
  }
  mt->next = SEGC_MT19937_STATE_WORDS;
}

// Regenerates all 624 words at once (the "twist").
static void twist(segc_mt19937 *mt) {
  for (int i = 0; i < SEGC_MT19937_STATE_WORDS; ++i) {
    const uint32_t upper = mt->state[i] & UPPER_BIT;
    const uint32_t lower =
        mt->state[(i + 1) % SEGC_MT19937_STATE_WORDS] & LOWER_BITS;
    const uint32_t y = upper | lower;
    mt->state[i] = mt->state[(i + SHIFT_WORDS) % SEGC_MT19937_STATE_WORDS] ^
                   (y >> 1) ^ ((y & 1u) ? MATRIX_A : 0u);
  }
  mt->next = 0;
}

uint32_t segc_mt19937_next(segc_mt19937 *mt) {
  if (mt->next >= SEGC_MT19937_STATE_WORDS) twist(mt);
  uint32_t y = mt->state[mt->next++];
  y ^= y >> 11;
  y ^= (y << 7) & 0x9d2c5680u;
  y ^= (y << 15) & 0xefc60000u;
  y ^= y >> 18;
  return y;
}
