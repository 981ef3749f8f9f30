// The loader's data-parallel shards (data/loader.h): W ranks at batch B take,
// step by step, exactly the cases and crops one sharded process takes at
// batch B*W; over an epoch the ranks together see every case (plus the
// DistributedSampler padding); each rank's share follows the sampler's list
// (randperm of run seed + epoch + 1); crops of different ranks differ.
#include <stdlib.h>
#include <string.h>

#include "data/distributed_sampler.h"
#include "data/loader.h"
#include "util/test_util.h"

enum { kCases = 10, kOddCases = 7, kMaxWorld = 3 };

// Case c has dims (20 + c, 18, 16 + c); voxel value encodes case and index.
static segc_status make_case(void *context, int index, segc_volume *image,
                             segc_volume *label) {
  (void)context;
  const int64_t dim[3] = {20 + index, 18, 16 + index};
  SEGC_TRY(segc_volume_alloc(image, SEGC_F32, dim));
  SEGC_TRY(segc_volume_alloc(label, SEGC_U8, dim));
  float *im = image->data;
  uint8_t *lb = label->data;
  for (int64_t v = 0; v < segc_volume_numel(image); ++v) {
    im[v] = (float)(index * 100000 + v);
    lb[v] = (uint8_t)((v + index) % 5);
  }
  return SEGC_OK;
}

static segc_loader_config config_for(int cases, int batch, int rank,
                                     int world) {
  segc_loader_config c = {0};
  c.cases = cases;
  c.prepare = make_case;
  c.batch_size = batch;
  c.roi[0] = 12;
  c.roi[1] = 10;
  c.roi[2] = 8;
  c.seed = 5;
  c.cache_rate = 1.0;
  c.sharded = true;
  c.rank = rank;
  c.world_size = world;
  return c;
}

// W ranks at batch 1 against one process at batch W, for `steps` steps.
static int check_equal_split(int world, int steps) {
  segc_loader *one, *ranks[kMaxWorld];
  segc_loader_config big = config_for(kCases, world, 0, 1);
  CHECK_OK(segc_loader_create(&one, &big, 0));
  for (int r = 0; r < world; ++r) {
    segc_loader_config c = config_for(kCases, 1, r, world);
    CHECK_OK(segc_loader_create(&ranks[r], &c, 0));
  }
  const int64_t voxels = big.roi[0] * big.roi[1] * big.roi[2];
  int mismatches = 0;
  for (int s = 0; s < steps; ++s) {
    const segc_batch *b;
    double wait;
    CHECK_OK(segc_loader_next(one, &b, &wait));
    for (int r = 0; r < world; ++r) {
      const segc_batch *rb;
      CHECK_OK(segc_loader_next(ranks[r], &rb, &wait));
      if (rb->count != 1 || b->count != world ||
          rb->cases[0] != b->cases[r] ||
          memcmp(rb->crop_start[0], b->crop_start[r], sizeof rb->crop_start[0]) ||
          memcmp(rb->images, b->images + r * voxels, sizeof(float) * (size_t)voxels) ||
          memcmp(rb->labels, b->labels + r * voxels, (size_t)voxels))
        mismatches++;
    }
  }
  CHECK(mismatches == 0, "world %d: %d rank batches differ from the one-process "
        "batch's samples", world, mismatches);
  segc_loader_destroy(one);
  for (int r = 0; r < world; ++r) segc_loader_destroy(ranks[r]);
  return 0;
}

// Over each of three epochs, the ranks' cases are the sampler's lists, and
// together cover every case (the padding repeats the order's start).
static int check_epochs(int cases, int world) {
  int seen[kCases] = {0};
  for (int r = 0; r < world; ++r) {
    segc_loader *l;
    segc_loader_config c = config_for(cases, 2, r, world);
    CHECK_OK(segc_loader_create(&l, &c, 0));
    const int length = segc_loader_epoch_length(l);
    CHECK(length == (cases + world - 1) / world,
          "rank %d of %d: %d samples per epoch", r, world, length);
    const segc_distributed_sampler s = {cases, world, r, 5, true,
                                        SEGC_SHARD_PAD};
    for (int epoch = 0; epoch < 3; ++epoch) {
      int64_t *want, count;
      CHECK_OK(segc_distributed_sampler_epoch(&s, epoch + 1, &want, &count));
      int wrong = 0;
      for (int p = 0; p < length; ++p) {
        const int64_t step = (int64_t)epoch * segc_loader_steps_per_epoch(l) +
                             p / 2;
        const int got = segc_loader_case_for(l, step, p % 2);
        if (got != want[p]) wrong++;
        if (epoch == 0 && got >= 0 && got < cases) seen[got]++;
      }
      free(want);
      CHECK(wrong == 0, "%d cases of rank %d/%d epoch %d are not the "
            "sampler's", wrong, r, world, epoch);
    }
    segc_loader_destroy(l);
  }
  int missing = 0, extra = 0;
  for (int c = 0; c < cases; ++c) {
    if (seen[c] == 0) missing++;
    extra += seen[c] > 1 ? seen[c] - 1 : 0;
  }
  const int padding = (cases + world - 1) / world * world - cases;
  CHECK(missing == 0 && extra == padding,
        "%d cases over %d ranks: %d never seen, %d repeats (padding %d)", cases,
        world, missing, extra, padding);
  return 0;
}

// Two ranks crop the same case at different places (their streams differ).
static int check_streams_differ(void) {
  segc_loader *a, *b;
  segc_loader_config ca = config_for(kCases, 1, 0, 2);
  segc_loader_config cb = config_for(kCases, 1, 1, 2);
  CHECK_OK(segc_loader_create(&a, &ca, 0));
  CHECK_OK(segc_loader_create(&b, &cb, 0));
  const int64_t dim[3] = {40, 40, 40};
  int same = 0;
  for (int64_t step = 0; step < 5; ++step) {
    int64_t sa[3], sb[3];
    segc_loader_crop_for(a, step, 0, dim, sa);
    segc_loader_crop_for(b, step, 0, dim, sb);
    same += memcmp(sa, sb, sizeof sa) == 0;
  }
  CHECK(same < 5, "ranks 0 and 1 crop alike at every step");
  segc_loader_destroy(a);
  segc_loader_destroy(b);
  return 0;
}

int main(void) {
  if (check_equal_split(2, 5) || check_equal_split(3, 3) ||
      check_epochs(kCases, 1) || check_epochs(kCases, 3) ||
      check_epochs(kOddCases, 2) || check_epochs(kOddCases, 3) ||
      check_streams_differ())
    return test_finish_failed();
  segc_loader_config bad = config_for(kCases, 1, 2, 2);
  segc_loader *l;
  CHECK_FAILS(segc_loader_create(&l, &bad, 0), SEGC_ERR_INVALID, "rank");
  return test_finish("loader_shards");
}
