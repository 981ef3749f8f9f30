// The loader with a synthetic case generator: batches are pure functions of
// (seed, step) whatever the worker count, cache rate or resume point; each
// epoch visits every case once; crops come from the right place; errors in
// a worker reach the caller with their message.
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "data/loader.h"
#include "util/test_util.h"

enum { kCases = 7 };
static atomic_int prepared_count;

// Case c has dims (20 + c, 18, 16 + 2c); voxel value encodes case and index.
static segc_status make_case(void *context, int index, segc_volume *image,
                             segc_volume *label) {
  const int *fail_case = context;
  if (fail_case && index == *fail_case)
    return SEGC_FAIL(SEGC_ERR_IO, "case %d: cannot read broken.nii.gz", index);
  atomic_fetch_add(&prepared_count, 1);
  const int64_t dim[3] = {20 + index, 18, 16 + 2 * index};
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

static segc_loader_config base_config(void) {
  segc_loader_config c = {0};
  c.cases = kCases;
  c.prepare = make_case;
  c.batch_size = 3;
  c.roi[0] = 12;
  c.roi[1] = 10;
  c.roi[2] = 8;
  c.seed = 99;
  return c;
}

// Reads `steps` batches into a flat float copy for comparisons.
static int collect(segc_loader_config cfg, int64_t first, int steps,
                   float *out, int *counts) {
  segc_loader *l;
  CHECK_OK(segc_loader_create(&l, &cfg, first));
  const int64_t voxels = cfg.roi[0] * cfg.roi[1] * cfg.roi[2];
  for (int s = 0; s < steps; ++s) {
    const segc_batch *b;
    double wait;
    CHECK_OK(segc_loader_next(l, &b, &wait));
    CHECK(b->step == first + s, "step %lld, want %lld", (long long)b->step,
          (long long)(first + s));
    counts[s] = b->count;
    memcpy(out + s * cfg.batch_size * voxels, b->images,
           sizeof(float) * (size_t)(b->count * voxels));
  }
  segc_loader_destroy(l);
  return 0;
}

int main(void) {
  segc_loader_config cfg = base_config();
  const int steps = 9;  // 3 epochs of 3 steps (3 + 3 + 1 cases)
  const int64_t voxels = cfg.roi[0] * cfg.roi[1] * cfg.roi[2];
  const size_t floats = (size_t)(steps * cfg.batch_size * voxels);
  float *ref = calloc(floats, sizeof(float)), *other = calloc(floats, sizeof(float));
  int ref_counts[9], counts[9];
  collect(cfg, 0, steps, ref, ref_counts);
  CHECK(ref_counts[0] == 3 && ref_counts[2] == 1,
        "last batch of an epoch is smaller: %d %d", ref_counts[0], ref_counts[2]);

  // Same batches with workers, with a full cache, and resumed at step 4.
  segc_loader_config variant = cfg;
  variant.workers = 2;
  collect(variant, 0, steps, other, counts);
  CHECK(memcmp(ref, other, floats * sizeof(float)) == 0, "2 workers: same batches");
  variant.cache_rate = 1.0;
  atomic_store(&prepared_count, 0);
  memset(other, 0, floats * sizeof(float));
  collect(variant, 0, steps, other, counts);
  CHECK(memcmp(ref, other, floats * sizeof(float)) == 0, "cached: same batches");
  CHECK(atomic_load(&prepared_count) == kCases,
        "a full cache prepares each case once (%d)", atomic_load(&prepared_count));
  variant.cache_rate = 0.5;
  memset(other, 0, floats * sizeof(float));
  collect(variant, 4, steps - 4, other + 4 * cfg.batch_size * voxels, counts);
  CHECK(memcmp(ref + 4 * cfg.batch_size * voxels,
               other + 4 * cfg.batch_size * voxels,
               (floats - (size_t)(4 * cfg.batch_size * voxels)) * sizeof(float)) == 0,
        "resumed at step 4: same batches");

  // Every case once per epoch; crops from where the batch says.
  segc_loader *l;
  CHECK_OK(segc_loader_create(&l, &cfg, 0));
  CHECK(segc_loader_steps_per_epoch(l) == 3, "steps per epoch");
  for (int epoch = 0; epoch < 3; ++epoch) {
    int seen[kCases] = {0};
    for (int s = 0; s < 3; ++s) {
      const segc_batch *b;
      CHECK_OK(segc_loader_next(l, &b, NULL));
      for (int k = 0; k < b->count; ++k) {
        const int c = b->cases[k];
        seen[c]++;
        const int64_t dim[3] = {20 + c, 18, 16 + 2 * c};
        const int64_t *st = b->crop_start[k];
        for (int a = 0; a < 3; ++a)
          CHECK(st[a] >= 0 && st[a] + cfg.roi[a] <= dim[a], "crop inside");
        // Voxel (1, 2, 3) of the crop is case voxel start + (1, 2, 3).
        const float want = (float)(c * 100000 +
                                   ((st[0] + 1) * dim[1] + st[1] + 2) * dim[2] + st[2] + 3);
        const float got = b->images[k * voxels + (1 * cfg.roi[1] + 2) * cfg.roi[2] + 3];
        CHECK(got == want, "crop voxel %g, want %g", (double)got, (double)want);
      }
    }
    for (int c = 0; c < kCases; ++c)
      CHECK(seen[c] == 1, "epoch %d: case %d seen %d times", epoch, c, seen[c]);
  }
  segc_loader_destroy(l);

  // Crop starts spread over the valid range (case 6 on axis 2: 0..20).
  int hits[32] = {0};
  segc_loader *probe;
  CHECK_OK(segc_loader_create(&probe, &cfg, 0));
  const int64_t dim6[3] = {26, 18, 28};
  for (int64_t step = 0; step < 3000; ++step) {
    int64_t st[3];
    segc_loader_crop_for(probe, step, 0, dim6, st);
    hits[st[2]]++;
  }
  int empty = 0;
  for (int i = 0; i <= 20; ++i) empty += hits[i] == 0;
  CHECK(empty == 0 && hits[21] == 0, "every start 0..20 drawn, none beyond");
  segc_loader_destroy(probe);

  // A failing case: the error reaches the caller with its message.
  int broken = 2;
  segc_loader_config bad = cfg;
  bad.prepare_context = &broken;
  bad.workers = 1;
  CHECK_OK(segc_loader_create(&l, &bad, 0));
  segc_status status = SEGC_OK;
  for (int s = 0; s < 3 && status == SEGC_OK; ++s) {
    const segc_batch *b;
    status = segc_loader_next(l, &b, NULL);
  }
  CHECK(status == SEGC_ERR_IO && test_contains(segc_error_message(), "broken.nii.gz"),
        "worker error propagates: %s", segc_error_message());
  segc_loader_destroy(l);
  bad.cache_rate = 1.0;
  CHECK_FAILS(segc_loader_create(&l, &bad, 0), SEGC_ERR_IO, "preparing the cache");

  segc_loader_config wrong = cfg;
  wrong.roi[0] = 40;  // larger than every case
  CHECK_OK(segc_loader_create(&l, &wrong, 0));
  const segc_batch *b;
  CHECK_FAILS(segc_loader_next(l, &b, NULL), SEGC_ERR_INVALID, "below the crop");
  segc_loader_destroy(l);

  free(ref);
  free(other);
  return test_finish("loader");
}
