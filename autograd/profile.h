// Optional per-op timing for benchmarks: when graph->profile is set,
// backward times every tape entry under its op name, and forward code that
// wants a breakdown (segresnet_forward) times its calls.
#ifndef SEGC_AUTOGRAD_PROFILE_H
#define SEGC_AUTOGRAD_PROFILE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum { SEGC_PROFILE_MAX_OPS = 32 };

typedef struct {
  const char *name;  // a string literal (op names are)
  double seconds[2];  // [0] forward, [1] backward
  int64_t calls[2];
} segc_profile_entry;

typedef struct {
  segc_profile_entry entries[SEGC_PROFILE_MAX_OPS];
  int count;
} segc_profile;

void segc_profile_add(segc_profile *profile, const char *name, bool backward,
                      double seconds);
// Prints one line per op with forward and backward seconds and shares.
void segc_profile_print(const segc_profile *profile, FILE *out);

#endif
