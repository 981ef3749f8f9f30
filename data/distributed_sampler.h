// Which cases each rank takes in an epoch, exactly as
// torch.utils.data.DistributedSampler and MONAI's DistributedSampler
// (monai/data/samplers.py, which adds even_divisible) choose them.
//
// One epoch's order: with shuffle, torch.randperm(n) from a torch.Generator
// seeded with seed + epoch (the sampler's set_epoch); without, 0 .. n-1. The
// order is then cut to a total length and rank r takes the positions r,
// r + world, r + 2 world, ... below it:
//   SEGC_SHARD_PAD        torch drop_last=False, MONAI even_divisible=True
//                         (the bundle's training): total = ceil(n / world) *
//                         world, the order repeated from its start to fill it
//                         (position p holds order[p % n]); every rank gets
//                         ceil(n / world) cases, a case may come twice.
//   SEGC_SHARD_DROP_LAST  torch drop_last=True: total = floor(n / world) *
//                         world, the tail of the order left out.
//   SEGC_SHARD_UNEVEN     MONAI even_divisible=False (the bundle's
//                         validation): total = n, every case exactly once,
//                         ranks below n % world get one case more. As MONAI
//                         (1.0 and later), n < world is refused.
// The lists depend on (n, world, rank, seed, epoch, shuffle, tail) only.
//
// Limits: n >= 1 (torch would give empty lists for n = 0); with shuffle, n <
// 214748364 (= UINT32_MAX / 20: above it torch 2.x draws randperm differently
// from torch 1.x); epoch >= 0, and seed + epoch wraps modulo 2**64 as a
// negative Python seed does (torch raises where the sum reaches 2**64).
#ifndef SEGC_DATA_DISTRIBUTED_SAMPLER_H
#define SEGC_DATA_DISTRIBUTED_SAMPLER_H

#include <stdbool.h>
#include <stdint.h>

#include "core/status.h"

typedef enum {
  SEGC_SHARD_PAD = 0,
  SEGC_SHARD_DROP_LAST,
  SEGC_SHARD_UNEVEN
} segc_shard_tail;

// Largest n torch 1.x and 2.x shuffle alike (exclusive).
#define SEGC_TORCH_RANDPERM_LIMIT ((int64_t)(UINT32_MAX / 20))

typedef struct {
  int64_t case_count;  // n, the length of the dataset
  int world_size;
  int rank;            // 0 .. world_size - 1
  uint64_t seed;       // torch's seed argument (default 0), same on all ranks
  bool shuffle;
  segc_shard_tail tail;
} segc_distributed_sampler;

// "pad", "drop_last", "uneven".
const char *segc_shard_tail_name(segc_shard_tail tail);

// SEGC_OK, or SEGC_ERR_INVALID naming the setting that is out of range.
segc_status segc_distributed_sampler_check(const segc_distributed_sampler *s);

// How many cases the rank takes per epoch (torch's len(sampler)).
segc_status segc_distributed_sampler_length(const segc_distributed_sampler *s,
                                            int64_t *length);

// The rank's case indices for `epoch`, in order, in a new array (free() it;
// never NULL on success, even when *count is 0).
segc_status segc_distributed_sampler_epoch(const segc_distributed_sampler *s,
                                           int64_t epoch, int64_t **indices,
                                           int64_t *count);

// torch.randperm(n, generator=g) on the CPU after g.manual_seed(seed), for
// 1 <= n < SEGC_TORCH_RANDPERM_LIMIT: perm receives n indices.
segc_status segc_torch_randperm(int64_t n, uint64_t seed, int64_t *perm);

#endif
