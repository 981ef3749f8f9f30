// Data sharding (data/distributed_sampler): every rank's list equals what
// torch's and MONAI's DistributedSampler give (tests/data/
// distributed_sampler_ref.txt, written by tools/write_sampler_reference.py
// from torch 1.13), plus the properties the trainer relies on: each case once
// per epoch across the ranks (plus the padding), epochs in different orders,
// lists that depend on the inputs alone.
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mt19937.h"
#include "data/distributed_sampler.h"
#include "util/test_util.h"

// The C++ standard's check of std::mt19937: default seed 5489, the 10000th
// output is 4123659995; the first is 3499211612.
static void test_mt19937_known_outputs(void) {
  segc_mt19937 mt;
  segc_mt19937_seed(&mt, 5489);
  uint32_t first = segc_mt19937_next(&mt), last = first;
  for (int i = 1; i < 10000; ++i) last = segc_mt19937_next(&mt);
  CHECK(first == 3499211612u, "first output %" PRIu32, first);
  CHECK(last == 4123659995u, "10000th output %" PRIu32, last);
  // torch keeps the low 32 bits of the seed.
  segc_mt19937 wide, narrow;
  segc_mt19937_seed(&wide, (UINT64_C(1) << 32) + 7);
  segc_mt19937_seed(&narrow, 7);
  CHECK(segc_mt19937_next(&wide) == segc_mt19937_next(&narrow),
        "seed 2**32 + 7 differs from seed 7");
}

// One reference line, parsed.
typedef struct {
  segc_distributed_sampler sampler;
  int64_t epoch;
  bool refused;
  int64_t count;
  int64_t *indices;
} reference_line;

static bool parse_tail(const char *word, segc_shard_tail *tail) {
  for (int t = SEGC_SHARD_PAD; t <= SEGC_SHARD_UNEVEN; ++t)
    if (!strcmp(word, segc_shard_tail_name((segc_shard_tail)t))) {
      *tail = (segc_shard_tail)t;
      return true;
    }
  return false;
}

// Reads the next integer after *p; false when there is none.
static bool next_integer(char **p, long long *value) {
  char *end;
  errno = 0;
  *value = strtoll(*p, &end, 10);
  if (end == *p || errno) return false;
  *p = end;
  return true;
}

static bool next_unsigned(char **p, uint64_t *value) {
  char *end;
  errno = 0;
  *value = strtoull(*p, &end, 10);
  if (end == *p || errno) return false;
  *p = end;
  return true;
}

// Parses "case ..." or "refused ..." (the tool's docstring has the format).
static bool parse_line(char *line, reference_line *ref) {
  memset(ref, 0, sizeof *ref);
  char kind[16], tail[16];
  int used = 0;
  if (sscanf(line, "%15s %15s%n", kind, tail, &used) != 2) return false;
  ref->refused = !strcmp(kind, "refused");
  if (!ref->refused && strcmp(kind, "case")) return false;
  if (!parse_tail(tail, &ref->sampler.tail)) return false;
  char *p = line + used;
  long long n, world, rank, epoch, shuffle;
  uint64_t seed;
  if (!next_integer(&p, &n) || !next_integer(&p, &world) ||
      !next_integer(&p, &rank) || !next_unsigned(&p, &seed) ||
      !next_integer(&p, &epoch) || !next_integer(&p, &shuffle))
    return false;
  ref->sampler = (segc_distributed_sampler){
      .case_count = n, .world_size = (int)world, .rank = (int)rank,
      .seed = seed, .shuffle = shuffle != 0, .tail = ref->sampler.tail};
  ref->epoch = epoch;
  if (ref->refused) return true;
  long long count;
  if (!next_integer(&p, &count) || count < 0) return false;
  ref->count = count;
  ref->indices = malloc((size_t)(count > 0 ? count : 1) * sizeof *ref->indices);
  if (!ref->indices) return false;
  for (int64_t i = 0; i < count; ++i) {
    long long index;
    if (!next_integer(&p, &index)) return false;
    ref->indices[i] = index;
  }
  return true;
}

static void describe(const reference_line *ref, char *text, size_t size) {
  const segc_distributed_sampler *s = &ref->sampler;
  snprintf(text, size, "%s n=%lld world=%d rank=%d seed=%" PRIu64
           " epoch=%lld shuffle=%d", segc_shard_tail_name(s->tail),
           (long long)s->case_count, s->world_size, s->rank, s->seed,
           (long long)ref->epoch, (int)s->shuffle);
}

static void compare_line(const reference_line *ref) {
  char what[160];
  describe(ref, what, sizeof what);
  int64_t *indices = NULL, count = -1, length = -1;
  const segc_status status =
      segc_distributed_sampler_epoch(&ref->sampler, ref->epoch, &indices, &count);
  if (ref->refused) {
    CHECK(status == SEGC_ERR_INVALID, "%s: torch/MONAI refuse it, segc gave %s",
          what, segc_status_name(status));
    free(indices);
    return;
  }
  CHECK(status == SEGC_OK, "%s: %s", what, segc_error_message());
  if (status != SEGC_OK) return;
  CHECK(segc_distributed_sampler_length(&ref->sampler, &length) == SEGC_OK &&
        length == count, "%s: length %lld, list of %lld", what,
        (long long)length, (long long)count);
  bool same = count == ref->count;
  for (int64_t i = 0; same && i < count; ++i) same = indices[i] == ref->indices[i];
  CHECK(same, "%s: %lld indices starting %lld, torch %lld starting %lld", what,
        (long long)count, count ? (long long)indices[0] : -1LL,
        (long long)ref->count, ref->count ? (long long)ref->indices[0] : -1LL);
  free(indices);
}

// Compares every line; returns how many it compared (-1: unreadable file).
static int compare_reference(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) {
    fprintf(stderr, "FAIL cannot open %s: %s\n", path, strerror(errno));
    return -1;
  }
  char *line = NULL;
  size_t capacity = 0;
  int compared = 0, promised = -1, line_number = 0;
  bool ok = true;
  while (ok && getline(&line, &capacity, f) >= 0) {
    line_number++;
    if (line[0] == '#') continue;
    if (!strncmp(line, "end ", 4)) {
      promised = atoi(line + 4);
      break;
    }
    reference_line ref;
    ok = parse_line(line, &ref);
    if (ok) {
      compare_line(&ref);
      compared++;
    } else {
      fprintf(stderr, "FAIL %s:%d: cannot parse the line\n", path, line_number);
    }
    free(ref.indices);
  }
  const bool read_error = ferror(f) != 0;
  free(line);
  fclose(f);
  if (!ok || read_error) return -1;
  CHECK(promised == compared, "%s: %d lines compared, the file promises %d",
        path, compared, promised);
  return compared;
}

// Gathers one epoch over all ranks and checks how often each case comes.
static void check_epoch_coverage(segc_distributed_sampler s, int64_t epoch) {
  const int64_t n = s.case_count;
  const int world = s.world_size;
  int64_t *seen = calloc((size_t)n, sizeof *seen);
  CHECK(seen != NULL, "no memory");
  if (!seen) return;
  int64_t total = 0, shortest = INT64_MAX, longest = 0;
  for (int rank = 0; rank < world; ++rank) {
    s.rank = rank;
    int64_t *indices = NULL, count = 0;
    if (segc_distributed_sampler_epoch(&s, epoch, &indices, &count) != SEGC_OK) {
      CHECK(false, "n=%lld world=%d rank=%d: %s", (long long)n, world, rank,
            segc_error_message());
      free(seen);
      return;
    }
    for (int64_t i = 0; i < count; ++i) {
      CHECK(indices[i] >= 0 && indices[i] < n, "index %lld of %lld cases",
            (long long)indices[i], (long long)n);
      if (indices[i] >= 0 && indices[i] < n) seen[indices[i]]++;
    }
    free(indices);
    total += count;
    if (count < shortest) shortest = count;
    if (count > longest) longest = count;
  }
  int64_t fewest = INT64_MAX, most = 0;
  for (int64_t c = 0; c < n; ++c) {
    if (seen[c] < fewest) fewest = seen[c];
    if (seen[c] > most) most = seen[c];
  }
  free(seen);
  const char *tail = segc_shard_tail_name(s.tail);
  if (s.tail == SEGC_SHARD_PAD) {
    // Every case, the first ones again as padding up to a multiple of world.
    CHECK(total == (n + world - 1) / world * world && fewest >= 1 &&
          most - fewest <= 1 && shortest == longest,
          "%s n=%lld world=%d: %lld in all, each case %lld..%lld times", tail,
          (long long)n, world, (long long)total, (long long)fewest,
          (long long)most);
  } else if (s.tail == SEGC_SHARD_UNEVEN) {
    CHECK(total == n && fewest == 1 && most == 1 && longest - shortest <= 1,
          "%s n=%lld world=%d: %lld in all, each case %lld..%lld times", tail,
          (long long)n, world, (long long)total, (long long)fewest,
          (long long)most);
  } else {
    CHECK(total == n / world * world && most <= 1 && shortest == longest,
          "%s n=%lld world=%d: %lld in all, a case up to %lld times", tail,
          (long long)n, world, (long long)total, (long long)most);
  }
}

static void test_coverage(void) {
  for (int64_t n = 1; n <= 40; ++n)
    for (int world = 1; world <= 6; ++world)
      for (int t = SEGC_SHARD_PAD; t <= SEGC_SHARD_UNEVEN; ++t) {
        if (t == SEGC_SHARD_UNEVEN && n < world) continue;
        for (int shuffle = 0; shuffle <= 1; ++shuffle)
          for (int64_t epoch = 0; epoch < 3; ++epoch) {
            const segc_distributed_sampler s = {
                .case_count = n, .world_size = world, .seed = 17,
                .shuffle = shuffle, .tail = (segc_shard_tail)t};
            check_epoch_coverage(s, epoch);
          }
      }
}

// The whole order of an epoch: one rank, no padding.
static bool epoch_order(int64_t n, uint64_t seed, bool shuffle, int64_t epoch,
                        int64_t **order) {
  const segc_distributed_sampler s = {.case_count = n, .world_size = 1,
                                      .seed = seed, .shuffle = shuffle};
  int64_t count = 0;
  const bool ok = segc_distributed_sampler_epoch(&s, epoch, order, &count) ==
                  SEGC_OK && count == n;
  CHECK(ok, "n=%lld epoch=%lld: %s", (long long)n, (long long)epoch,
        segc_error_message());
  return ok;
}

static void test_epochs_differ(void) {
  enum { EPOCHS = 6 };
  const uint64_t seeds[] = {0, 123};
  for (int64_t n = 8; n <= 40; n += 8)
    for (int k = 0; k < 2; ++k) {
      int64_t *orders[EPOCHS] = {NULL};
      bool ok = true;
      for (int e = 0; e < EPOCHS && ok; ++e)
        ok = epoch_order(n, seeds[k], true, e, &orders[e]);
      for (int a = 0; ok && a < EPOCHS; ++a)
        for (int b = a + 1; b < EPOCHS; ++b)
          CHECK(memcmp(orders[a], orders[b], (size_t)n * sizeof(int64_t)),
                "n=%lld seed=%" PRIu64 ": epochs %d and %d in the same order",
                (long long)n, seeds[k], a, b);
      for (int e = 0; e < EPOCHS; ++e) free(orders[e]);
    }
  // Without shuffle every epoch is 0 .. n-1.
  int64_t *order = NULL;
  if (epoch_order(9, 5, false, 4, &order))
    for (int64_t i = 0; i < 9; ++i)
      CHECK(order[i] == i, "unshuffled position %lld holds %lld", (long long)i,
            (long long)order[i]);
  free(order);
}

// The same inputs give the same list whatever was asked before, and the
// sampler settings are left as they were.
static void test_inputs_alone(void) {
  const segc_distributed_sampler s = {.case_count = 13, .world_size = 3,
                                      .rank = 1, .seed = 99, .shuffle = true};
  const segc_distributed_sampler copy = s;
  int64_t *first = NULL, *again = NULL, *other = NULL, n1 = 0, n2 = 0, n3 = 0;
  CHECK(segc_distributed_sampler_epoch(&s, 4, &first, &n1) == SEGC_OK, "first");
  const segc_distributed_sampler rank0 = {.case_count = 13, .world_size = 3,
                                          .seed = 99, .shuffle = true};
  CHECK(segc_distributed_sampler_epoch(&rank0, 7, &other, &n3) == SEGC_OK,
        "between");
  CHECK(segc_distributed_sampler_epoch(&s, 4, &again, &n2) == SEGC_OK, "again");
  CHECK(first && again && n1 == n2 &&
        !memcmp(first, again, (size_t)n1 * sizeof *first),
        "the same inputs gave another list");
  CHECK(!memcmp(&s, &copy, sizeof s), "the sampler settings changed");
  free(first);
  free(again);
  free(other);
}

static void test_bad_settings(void) {
  int64_t *indices = NULL, count = 0;
  segc_distributed_sampler s = {.case_count = 0, .world_size = 2};
  CHECK_FAILS(segc_distributed_sampler_epoch(&s, 0, &indices, &count),
              SEGC_ERR_INVALID, "no cases");
  s.case_count = 5;
  s.world_size = 0;
  CHECK_FAILS(segc_distributed_sampler_epoch(&s, 0, &indices, &count),
              SEGC_ERR_INVALID, "world size 0");
  s.world_size = 2;
  s.rank = 2;
  CHECK_FAILS(segc_distributed_sampler_epoch(&s, 0, &indices, &count),
              SEGC_ERR_INVALID, "rank 2 outside 0 .. 1");
  s.rank = -1;
  CHECK_FAILS(segc_distributed_sampler_length(&s, &count), SEGC_ERR_INVALID,
              "rank -1");
  s.rank = 0;
  CHECK_FAILS(segc_distributed_sampler_epoch(&s, -1, &indices, &count),
              SEGC_ERR_INVALID, "epoch -1 is negative");
  s.tail = SEGC_SHARD_UNEVEN;
  s.world_size = 6;
  CHECK_FAILS(segc_distributed_sampler_epoch(&s, 0, &indices, &count),
              SEGC_ERR_INVALID, "5 cases, 6 ranks");
  s.tail = (segc_shard_tail)7;
  CHECK_FAILS(segc_distributed_sampler_length(&s, &count), SEGC_ERR_INVALID,
              "unknown tail 7");
  s.tail = SEGC_SHARD_PAD;
  s.shuffle = true;
  s.case_count = SEGC_TORCH_RANDPERM_LIMIT;
  CHECK_FAILS(segc_distributed_sampler_length(&s, &count), SEGC_ERR_UNSUPPORTED,
              "shuffle 214748364 or more differently");
  int64_t perm[1];
  CHECK_FAILS(segc_torch_randperm(0, 0, perm), SEGC_ERR_INVALID, "n 0 outside");
  CHECK(indices == NULL && count == 0, "a refused call left output behind");
}

int main(void) {
  test_mt19937_known_outputs();
  const char *source = getenv("SEGC_SOURCE_DIR");
  char path[4096];
  const int written = snprintf(path, sizeof path,
                               "%s/tests/data/distributed_sampler_ref.txt",
                               source && *source ? source : ".");
  CHECK(written > 0 && written < (int)sizeof path, "source path too long");
  const int compared = compare_reference(path);
  CHECK(compared > 1000, "%d reference lines compared (the file has ~1750)",
        compared);
  test_coverage();
  test_epochs_differ();
  test_inputs_alone();
  test_bad_settings();
  return test_finish("distributed_sampler");
}
