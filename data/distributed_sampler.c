#include "data/distributed_sampler.h"

#include <stdlib.h>

#include "core/mt19937.h"

const char *segc_shard_tail_name(segc_shard_tail tail) {
  switch (tail) {
    case SEGC_SHARD_PAD: return "pad";
    case SEGC_SHARD_DROP_LAST: return "drop_last";
    case SEGC_SHARD_UNEVEN: return "uneven";
  }
  return "unknown";
}

segc_status segc_distributed_sampler_check(const segc_distributed_sampler *s) {
  if (s->case_count < 1)
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "distributed sampler: no cases to shard (%lld)",
                     (long long)s->case_count);
  if (s->world_size < 1)
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "distributed sampler: world size %d, must be at least 1",
                     s->world_size);
  if (s->rank < 0 || s->rank >= s->world_size)
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "distributed sampler: rank %d outside 0 .. %d", s->rank,
                     s->world_size - 1);
  if (s->tail != SEGC_SHARD_PAD && s->tail != SEGC_SHARD_DROP_LAST &&
      s->tail != SEGC_SHARD_UNEVEN)
    return SEGC_FAIL(SEGC_ERR_INVALID, "distributed sampler: unknown tail %d",
                     (int)s->tail);
  if (s->tail == SEGC_SHARD_UNEVEN && s->case_count < s->world_size)
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "distributed sampler: even_divisible false needs at least "
                     "as many cases as ranks (%lld cases, %d ranks), as MONAI",
                     (long long)s->case_count, s->world_size);
  if (s->shuffle && s->case_count >= SEGC_TORCH_RANDPERM_LIMIT)
    return SEGC_FAIL(SEGC_ERR_UNSUPPORTED,
                     "distributed sampler: %lld cases to shuffle; torch 1.x "
                     "and 2.x shuffle %lld or more differently",
                     (long long)s->case_count,
                     (long long)SEGC_TORCH_RANDPERM_LIMIT);
  return SEGC_OK;
}

// The length of the padded or cut order that the ranks share.
static int64_t total_size(const segc_distributed_sampler *s) {
  const int64_t n = s->case_count, world = s->world_size;
  switch (s->tail) {
    case SEGC_SHARD_PAD: return (n + world - 1) / world * world;
    case SEGC_SHARD_DROP_LAST: return n / world * world;
    case SEGC_SHARD_UNEVEN: return n;
  }
  return 0;
}

// Positions rank, rank + world, ... below the total.
static int64_t rank_length(const segc_distributed_sampler *s) {
  const int64_t total = total_size(s);
  if (total <= s->rank) return 0;
  return (total - s->rank + s->world_size - 1) / s->world_size;
}

segc_status segc_distributed_sampler_length(const segc_distributed_sampler *s,
                                            int64_t *length) {
  SEGC_TRY(segc_distributed_sampler_check(s));
  *length = rank_length(s);
  return SEGC_OK;
}

segc_status segc_torch_randperm(int64_t n, uint64_t seed, int64_t *perm) {
  if (n < 1 || n >= SEGC_TORCH_RANDPERM_LIMIT)
    return SEGC_FAIL(SEGC_ERR_INVALID, "randperm: n %lld outside 1 .. %lld",
                     (long long)n, (long long)SEGC_TORCH_RANDPERM_LIMIT - 1);
  segc_mt19937 mt;
  segc_mt19937_seed(&mt, seed);
  for (int64_t i = 0; i < n; ++i) perm[i] = i;
  // torch's Fisher-Yates from the front: position i swaps with a position
  // drawn from i .. n-1 by one 32-bit output modulo the count left.
  for (int64_t i = 0; i < n - 1; ++i) {
    const int64_t z = (int64_t)(segc_mt19937_next(&mt) % (uint64_t)(n - i));
    const int64_t kept = perm[i];
    perm[i] = perm[i + z];
    perm[i + z] = kept;
  }
  return SEGC_OK;
}

segc_status segc_distributed_sampler_epoch(const segc_distributed_sampler *s,
                                           int64_t epoch, int64_t **indices,
                                           int64_t *count) {
  *indices = NULL;
  *count = 0;
  SEGC_TRY(segc_distributed_sampler_check(s));
  if (epoch < 0)
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "distributed sampler: epoch %lld is negative",
                     (long long)epoch);
  const int64_t n = s->case_count, length = rank_length(s);
  int64_t *order = NULL;
  if (s->shuffle) {
    order = malloc((size_t)n * sizeof *order);
    if (!order)
      return SEGC_FAIL(SEGC_ERR_NOMEM,
                       "distributed sampler: no memory to shuffle %lld cases",
                       (long long)n);
    // Wraps modulo 2**64 as torch's manual_seed does with a negative sum.
    const segc_status status =
        segc_torch_randperm(n, s->seed + (uint64_t)epoch, order);
    if (status != SEGC_OK) {
      free(order);
      return status;
    }
  }
  int64_t *out = malloc((size_t)(length > 0 ? length : 1) * sizeof *out);
  if (!out) {
    free(order);
    return SEGC_FAIL(SEGC_ERR_NOMEM,
                     "distributed sampler: no memory for %lld indices",
                     (long long)length);
  }
  for (int64_t j = 0; j < length; ++j) {
    // Padding repeats the order from its start, so position p holds
    // order[p % n] whether the padding is shorter than n or not.
    const int64_t position = (s->rank + j * s->world_size) % n;
    out[j] = order ? order[position] : position;
  }
  free(order);
  *indices = out;
  *count = length;
  return SEGC_OK;
}
