// The training data loader: MONAI's CacheDataset + DataLoader(shuffle) +
// RandSpatialCropd, with the randomness made a pure function of (seed, step).
//
// Cases are prepared by a caller-given function (the deterministic
// transforms). The first int(count * cache_rate) cases are prepared once at
// start and kept (as MONAI's CacheDataset does); the others are prepared
// again each time they are drawn. Each epoch visits the cases in a shuffled
// order (Fisher-Yates from the counter RNG, stream (SHUFFLE, epoch)); step s
// takes the next batch_size cases of its epoch (the last batch of an epoch
// may be smaller, as DataLoader without drop_last), and each case gives one
// random crop whose start is uniform over the valid starts on each axis
// (stream (CROP, epoch * count + position)). Worker threads fill batches
// ahead of the trainer; resuming at step s gives exactly the batches an
// uninterrupted run would.
//
// Data-parallel training shards each epoch as DistributedSampler(shuffle,
// even_divisible=True) does (data/distributed_sampler.h): the order is
// torch's randperm with seed (run seed + epoch + 1, MONAI's epochs count from
// 1), padded to a multiple of the world size by repeating its start, and
// rank r takes positions r, r + world, ... Sample p of the rank's epoch e
// is at global position g = p * world + rank and crops with stream
// (CROP, e * padded_length + g): one process at batch B*W and W processes at
// batch B draw the same crops for the same cases, and every rank's stream
// is its own.
#ifndef SEGC_DATA_LOADER_H
#define SEGC_DATA_LOADER_H

#include <stdbool.h>
#include <stdint.h>

#include "data/volume.h"

// Prepares case `index`: fills an f32 image and a u8 label on the same grid,
// each dimension at least the crop size. Called from worker threads: it must
// be thread-safe, and its errors are reported through segc_status.
typedef segc_status (*segc_prepare_case_fn)(void *context, int index,
                                            segc_volume *image,
                                            segc_volume *label);

// The most crops one step takes (segc_batch's per-sample arrays). The run
// configuration's batch_size range uses it, so a larger batch is refused
// when the config is read, not when training starts.
enum { SEGC_LOADER_MAX_BATCH = 64 };

typedef struct {
  int cases;
  segc_prepare_case_fn prepare;
  void *prepare_context;
  double cache_rate;   // 0..1
  int batch_size;
  int64_t roi[3];
  int workers;         // prefetch threads (0: prepare in the caller)
  int prefetch;        // batches prepared ahead (default: workers + 1)
  uint64_t seed;
  bool sharded;        // data parallel: this rank's share of each epoch
  int rank, world_size;  // when sharded
} segc_loader_config;

typedef struct {
  int64_t step;
  int count;           // samples in this batch (<= batch_size)
  int epoch;
  int cases[SEGC_LOADER_MAX_BATCH];  // which case each sample came from
  int64_t crop_start[SEGC_LOADER_MAX_BATCH][3];
  float *images;       // (count, 1, r0, r1, r2), NDHWC = NCDHW for one channel
  uint8_t *labels;     // (count, 1, r0, r1, r2)
} segc_batch;

typedef struct segc_loader segc_loader;

// Prepares the cached cases (using the workers) and starts prefetching from
// step `first_step`.
segc_status segc_loader_create(segc_loader **loader,
                               const segc_loader_config *config,
                               int64_t first_step);
void segc_loader_destroy(segc_loader *loader);

// The batch for the next step, in order. The batch stays valid until the next
// call. *wait_seconds is how long this call waited for a worker.
segc_status segc_loader_next(segc_loader *loader, const segc_batch **batch,
                             double *wait_seconds);

int segc_loader_steps_per_epoch(const segc_loader *loader);
// Samples this process takes per epoch (the cases, or its shard's length).
int segc_loader_epoch_length(const segc_loader *loader);
// Bytes held by the cache, and cases cached.
size_t segc_loader_cache_bytes(const segc_loader *loader);
int segc_loader_cached_cases(const segc_loader *loader);
// Crops produced per second of worker time so far.
double segc_loader_crops_per_second(const segc_loader *loader);

// Which case and crop start step `step`, sample `slot` uses (pure function;
// exposed for tests). dims are the prepared case's dims.
int segc_loader_case_for(const segc_loader *loader, int64_t step, int slot);
void segc_loader_crop_for(const segc_loader *loader, int64_t step, int slot,
                          const int64_t dim[3], int64_t start[3]);

#endif
