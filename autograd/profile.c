#include "autograd/profile.h"

#include <string.h>

void segc_profile_add(segc_profile *profile, const char *name, bool backward,
                      double seconds) {
  if (!profile) return;
  int i = 0;
  while (i < profile->count && strcmp(profile->entries[i].name, name) != 0) ++i;
  if (i == profile->count) {
    if (profile->count == SEGC_PROFILE_MAX_OPS) return;
    memset(&profile->entries[i], 0, sizeof profile->entries[i]);
    profile->entries[i].name = name;
    profile->count++;
  }
  profile->entries[i].seconds[backward] += seconds;
  profile->entries[i].calls[backward]++;
}

void segc_profile_print(const segc_profile *profile, FILE *out) {
  double total = 0.0;
  for (int i = 0; i < profile->count; ++i)
    total += profile->entries[i].seconds[0] + profile->entries[i].seconds[1];
  fprintf(out, "  %-16s %10s %6s %10s %6s %6s\n", "op", "forward s", "calls",
          "backward s", "calls", "share");
  for (int i = 0; i < profile->count; ++i) {
    const segc_profile_entry *e = &profile->entries[i];
    fprintf(out, "  %-16s %10.3f %6lld %10.3f %6lld %5.1f%%\n", e->name,
            e->seconds[0], (long long)e->calls[0], e->seconds[1],
            (long long)e->calls[1],
            total > 0 ? 100.0 * (e->seconds[0] + e->seconds[1]) / total : 0.0);
  }
}
