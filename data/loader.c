#include "data/loader.h"

#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/parallel.h"
#include "core/rng.h"
#include "data/distributed_sampler.h"

enum { kMaxSlots = 16 };

typedef enum { SLOT_FREE = 0, SLOT_FILLING, SLOT_READY } slot_state;

typedef struct {
  segc_batch batch;
  slot_state state;
  segc_status status;
  char message[1024];
} batch_slot;

typedef struct {
  segc_volume image, label;
  bool ready;
} cached_case;

struct segc_loader {
  segc_loader_config config;
  int cached_count;
  cached_case *cache;
  size_t cache_bytes;
  int epoch_length;   // samples per epoch for this process
  int steps_per_epoch;
  segc_distributed_sampler shard;  // when config.sharded

  batch_slot slots[kMaxSlots];
  int slot_count;
  int64_t next_to_fill;     // next step a worker takes
  int64_t next_to_consume;  // next step segc_loader_next returns
  bool stopping;
  pthread_mutex_t mutex;
  pthread_cond_t changed;
  pthread_t threads[32];
  int thread_count;

  double worker_seconds;
  int64_t crops_made;
};

int segc_loader_steps_per_epoch(const segc_loader *l) { return l->steps_per_epoch; }
int segc_loader_epoch_length(const segc_loader *l) { return l->epoch_length; }
size_t segc_loader_cache_bytes(const segc_loader *l) { return l->cache_bytes; }
int segc_loader_cached_cases(const segc_loader *l) { return l->cached_count; }

double segc_loader_crops_per_second(const segc_loader *l) {
  return l->worker_seconds > 0 ? (double)l->crops_made / l->worker_seconds : 0.0;
}

// This process's cases of `epoch`, epoch_length of them.
static segc_status epoch_order(const segc_loader *l, int epoch, int *order) {
  if (l->config.sharded) {
    int64_t *indices, count;
    SEGC_TRY(segc_distributed_sampler_epoch(&l->shard, (int64_t)epoch + 1,
                                            &indices, &count));
    for (int64_t i = 0; i < count && i < l->epoch_length; ++i)
      order[i] = (int)indices[i];
    free(indices);
    if (count != l->epoch_length)
      return SEGC_FAIL(SEGC_ERR_INTERNAL, "loader: shard of %lld cases, "
                       "expected %d", (long long)count, l->epoch_length);
    return SEGC_OK;
  }
  const int n = l->config.cases;
  for (int i = 0; i < n; ++i) order[i] = i;
  const uint64_t stream = segc_rng_stream(SEGC_RNG_SHUFFLE, (uint64_t)epoch, 0);
  for (int i = n - 1; i > 0; --i) {
    const int j = (int)segc_rng_below(l->config.seed, stream, (uint64_t)i,
                                      (uint64_t)i + 1);
    const int t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  return SEGC_OK;
}

// Position of the sample inside its epoch, and the epoch.
static int epoch_position(const segc_loader *l, int64_t step, int slot,
                          int *epoch) {
  *epoch = (int)(step / l->steps_per_epoch);
  return (int)(step % l->steps_per_epoch) * l->config.batch_size + slot;
}

static int batch_count(const segc_loader *l, int64_t step) {
  int epoch;
  const int first = epoch_position(l, step, 0, &epoch);
  const int left = l->epoch_length - first;
  return left < l->config.batch_size ? left : l->config.batch_size;
}

int segc_loader_case_for(const segc_loader *l, int64_t step, int slot) {
  int epoch;
  const int pos = epoch_position(l, step, slot, &epoch);
  int *order = malloc(sizeof(int) * (size_t)l->epoch_length);
  if (!order) return -1;
  const int c = epoch_order(l, epoch, order) == SEGC_OK ? order[pos] : -1;
  free(order);
  return c;
}

void segc_loader_crop_for(const segc_loader *l, int64_t step, int slot,
                          const int64_t dim[3], int64_t start[3]) {
  int epoch;
  const int pos = epoch_position(l, step, slot, &epoch);
  uint64_t item = (uint64_t)epoch * (uint64_t)l->config.cases + (uint64_t)pos;
  if (l->config.sharded) {
    const uint64_t world = (uint64_t)l->config.world_size;
    item = (uint64_t)epoch * (uint64_t)l->epoch_length * world +
           (uint64_t)pos * world + (uint64_t)l->config.rank;
  }
  const uint64_t stream = segc_rng_stream(SEGC_RNG_CROP, item, 0);
  for (int a = 0; a < 3; ++a)
    start[a] = (int64_t)segc_rng_below(l->config.seed, stream, (uint64_t)a,
                                       (uint64_t)(dim[a] - l->config.roi[a] + 1));
}

static void copy_crop(const segc_volume *v, const int64_t start[3],
                      const int64_t roi[3], void *out) {
  const size_t elem = segc_dtype_size(v->dtype);
  for (int64_t a = 0; a < roi[0]; ++a)
    for (int64_t b = 0; b < roi[1]; ++b) {
      const int64_t src = segc_volume_offset(v, start[0] + a, start[1] + b, start[2]);
      memcpy((char *)out + (size_t)((a * roi[1] + b) * roi[2]) * elem,
             (const char *)v->data + (size_t)src * elem, (size_t)roi[2] * elem);
    }
}

static segc_status check_case(const segc_loader *l, int index,
                              const segc_volume *image,
                              const segc_volume *label) {
  if (image->dtype != SEGC_F32 || label->dtype != SEGC_U8)
    return SEGC_FAIL(SEGC_ERR_INTERNAL, "case %d: prepared as %s/%s", index,
                     segc_dtype_name(image->dtype), segc_dtype_name(label->dtype));
  for (int a = 0; a < 3; ++a) {
    if (image->dim[a] != label->dim[a])
      return SEGC_FAIL(SEGC_ERR_INVALID,
                       "case %d: image and label grids differ on axis %d "
                       "(%lld vs %lld)",
                       index, a, (long long)image->dim[a], (long long)label->dim[a]);
    if (image->dim[a] < l->config.roi[a])
      return SEGC_FAIL(SEGC_ERR_INVALID,
                       "case %d: size %lld on axis %d is below the crop %lld",
                       index, (long long)image->dim[a], a,
                       (long long)l->config.roi[a]);
  }
  return SEGC_OK;
}

// Fills one batch (called by a worker, or by the caller without workers).
static segc_status fill_batch(segc_loader *l, int64_t step, segc_batch *batch) {
  const int64_t voxels = l->config.roi[0] * l->config.roi[1] * l->config.roi[2];
  batch->step = step;
  batch->count = batch_count(l, step);
  int *order = malloc(sizeof(int) * (size_t)l->epoch_length);
  if (!order) return SEGC_FAIL(SEGC_ERR_NOMEM, "loader: out of memory");
  int epoch;
  const int first = epoch_position(l, step, 0, &epoch);
  batch->epoch = epoch;
  segc_status status = epoch_order(l, epoch, order);
  for (int s = 0; s < batch->count && status == SEGC_OK; ++s) {
    const int c = order[first + s];
    batch->cases[s] = c;
    segc_volume image, label;
    const bool cached = c < l->cached_count;
    if (cached) {
      image = l->cache[c].image;
      label = l->cache[c].label;
    } else {
      status = l->config.prepare(l->config.prepare_context, c, &image, &label);
      if (status != SEGC_OK) break;
      status = check_case(l, c, &image, &label);
      if (status != SEGC_OK) {
        segc_volume_free(&image);
        segc_volume_free(&label);
        break;
      }
    }
    segc_loader_crop_for(l, step, s, image.dim, batch->crop_start[s]);
    copy_crop(&image, batch->crop_start[s], l->config.roi,
              batch->images + s * voxels);
    copy_crop(&label, batch->crop_start[s], l->config.roi,
              batch->labels + s * voxels);
    if (!cached) {
      segc_volume_free(&image);
      segc_volume_free(&label);
    }
  }
  free(order);
  return status;
}

static void *worker_main(void *arg) {
  segc_loader *l = arg;
  // Workers run their transforms single-threaded: the trainer's OpenMP
  // threads own the cores.
  omp_set_num_threads(1);
  pthread_mutex_lock(&l->mutex);
  for (;;) {
    while (!l->stopping) {
      batch_slot *slot = &l->slots[l->next_to_fill % l->slot_count];
      if (slot->state == SLOT_FREE && l->next_to_fill < l->next_to_consume + l->slot_count)
        break;
      pthread_cond_wait(&l->changed, &l->mutex);
    }
    if (l->stopping) break;
    const int64_t step = l->next_to_fill++;
    batch_slot *slot = &l->slots[step % l->slot_count];
    slot->state = SLOT_FILLING;
    pthread_mutex_unlock(&l->mutex);
    const double t0 = segc_now();
    segc_status status = fill_batch(l, step, &slot->batch);
    const double t1 = segc_now();
    pthread_mutex_lock(&l->mutex);
    slot->status = status;
    if (status != SEGC_OK)
      snprintf(slot->message, sizeof slot->message, "%s", segc_error_message());
    slot->state = SLOT_READY;
    l->worker_seconds += t1 - t0;
    l->crops_made += slot->batch.count;
    pthread_cond_broadcast(&l->changed);
  }
  pthread_mutex_unlock(&l->mutex);
  return NULL;
}

typedef struct {
  segc_loader *loader;
  int next;
  segc_status status;
  char message[1024];
  pthread_mutex_t mutex;
} cache_job;

static void *cache_worker(void *arg) {
  cache_job *job = arg;
  segc_loader *l = job->loader;
  omp_set_num_threads(1);
  for (;;) {
    pthread_mutex_lock(&job->mutex);
    const int c = job->status == SEGC_OK && job->next < l->cached_count ? job->next++ : -1;
    pthread_mutex_unlock(&job->mutex);
    if (c < 0) break;
    cached_case *cc = &l->cache[c];
    segc_status status = l->config.prepare(l->config.prepare_context, c,
                                           &cc->image, &cc->label);
    if (status == SEGC_OK) status = check_case(l, c, &cc->image, &cc->label);
    pthread_mutex_lock(&job->mutex);
    if (status != SEGC_OK && job->status == SEGC_OK) {
      job->status = status;
      snprintf(job->message, sizeof job->message, "%s", segc_error_message());
    }
    if (status == SEGC_OK) cc->ready = true;
    pthread_mutex_unlock(&job->mutex);
  }
  return NULL;
}

static segc_status fill_cache(segc_loader *l) {
  cache_job job = {.loader = l, .status = SEGC_OK};
  pthread_mutex_init(&job.mutex, NULL);
  const int threads = l->config.workers > 0 ? l->config.workers : 1;
  pthread_t ids[32];
  int started = 0;
  if (l->config.workers > 0) {
    for (; started < threads && started < 32; ++started)
      if (pthread_create(&ids[started], NULL, cache_worker, &job) != 0) break;
  }
  if (started == 0) cache_worker(&job);
  for (int t = 0; t < started; ++t) pthread_join(ids[t], NULL);
  pthread_mutex_destroy(&job.mutex);
  if (job.status != SEGC_OK)
    return segc_fail(job.status, "preparing the cache: %s", job.message);
  for (int c = 0; c < l->cached_count; ++c)
    l->cache_bytes += (size_t)segc_volume_numel(&l->cache[c].image) *
                          (sizeof(float) + 1);
  return SEGC_OK;
}

segc_status segc_loader_create(segc_loader **out, const segc_loader_config *config,
                               int64_t first_step) {
  *out = NULL;
  if (config->cases < 1 || !config->prepare)
    return SEGC_FAIL(SEGC_ERR_INVALID, "loader: no training cases");
  // The run configuration checks the same range; this guards other callers.
  if (config->batch_size < 1 || config->batch_size > SEGC_LOADER_MAX_BATCH)
    return SEGC_FAIL(SEGC_ERR_INVALID, "loader: batch_size %d (1..%d)",
                     config->batch_size, SEGC_LOADER_MAX_BATCH);
  if (!(config->cache_rate >= 0.0 && config->cache_rate <= 1.0))
    return SEGC_FAIL(SEGC_ERR_INVALID, "loader: cache_rate %g not in [0, 1]",
                     config->cache_rate);
  if (config->workers < 0 || config->workers > 32)
    return SEGC_FAIL(SEGC_ERR_INVALID, "loader: %d workers (0..32)",
                     config->workers);
  segc_distributed_sampler shard = {config->cases, config->world_size,
                                    config->rank, config->seed, true,
                                    SEGC_SHARD_PAD};
  int64_t epoch_length = config->cases;
  if (config->sharded)
    SEGC_TRY(segc_distributed_sampler_length(&shard, &epoch_length));
  segc_loader *l = calloc(1, sizeof *l);
  if (!l) return SEGC_FAIL(SEGC_ERR_NOMEM, "loader: out of memory");
  l->config = *config;
  l->shard = shard;
  l->epoch_length = (int)epoch_length;
  l->steps_per_epoch = (l->epoch_length + config->batch_size - 1) / config->batch_size;
  l->cached_count = (int)(config->cases * config->cache_rate);
  l->cache = calloc((size_t)(l->cached_count + 1), sizeof(cached_case));
  int prefetch = config->prefetch > 0 ? config->prefetch : config->workers + 1;
  l->slot_count = config->workers > 0 ? (prefetch < kMaxSlots ? prefetch : kMaxSlots) : 1;
  if (l->slot_count < 1) l->slot_count = 1;
  l->next_to_fill = l->next_to_consume = first_step;
  const size_t voxels = (size_t)(config->roi[0] * config->roi[1] * config->roi[2]);
  segc_status status = l->cache ? SEGC_OK
                                : SEGC_FAIL(SEGC_ERR_NOMEM, "loader: out of memory");
  for (int s = 0; s < l->slot_count && status == SEGC_OK; ++s) {
    segc_batch *b = &l->slots[s].batch;
    b->images = malloc(sizeof(float) * voxels * (size_t)config->batch_size);
    b->labels = malloc(voxels * (size_t)config->batch_size);
    if (!b->images || !b->labels)
      status = SEGC_FAIL(SEGC_ERR_NOMEM, "loader: no memory for %d batches",
                         l->slot_count);
  }
  pthread_mutex_init(&l->mutex, NULL);
  pthread_cond_init(&l->changed, NULL);
  if (status == SEGC_OK) status = fill_cache(l);
  for (int t = 0; status == SEGC_OK && t < config->workers; ++t) {
    if (pthread_create(&l->threads[t], NULL, worker_main, l) != 0) {
      status = SEGC_FAIL(SEGC_ERR_INTERNAL, "loader: cannot start worker %d", t);
      break;
    }
    l->thread_count++;
  }
  if (status != SEGC_OK) {
    segc_loader_destroy(l);
    return status;
  }
  *out = l;
  return SEGC_OK;
}

void segc_loader_destroy(segc_loader *l) {
  if (!l) return;
  pthread_mutex_lock(&l->mutex);
  l->stopping = true;
  pthread_cond_broadcast(&l->changed);
  pthread_mutex_unlock(&l->mutex);
  for (int t = 0; t < l->thread_count; ++t) pthread_join(l->threads[t], NULL);
  pthread_mutex_destroy(&l->mutex);
  pthread_cond_destroy(&l->changed);
  for (int s = 0; s < l->slot_count; ++s) {
    free(l->slots[s].batch.images);
    free(l->slots[s].batch.labels);
  }
  if (l->cache)
    for (int c = 0; c < l->cached_count; ++c) {
      segc_volume_free(&l->cache[c].image);
      segc_volume_free(&l->cache[c].label);
    }
  free(l->cache);
  free(l);
}

segc_status segc_loader_next(segc_loader *l, const segc_batch **batch,
                             double *wait_seconds) {
  const double t0 = segc_now();
  if (l->thread_count == 0) {
    batch_slot *slot = &l->slots[0];
    const int64_t step = l->next_to_consume++;
    SEGC_TRY(fill_batch(l, step, &slot->batch));
    l->crops_made += slot->batch.count;
    l->worker_seconds += segc_now() - t0;
    *batch = &slot->batch;
    if (wait_seconds) *wait_seconds = segc_now() - t0;
    return SEGC_OK;
  }
  pthread_mutex_lock(&l->mutex);
  // Hand the previous batch's slot back to the workers.
  if (l->next_to_consume > 0) {
    batch_slot *prev = &l->slots[(l->next_to_consume - 1) % l->slot_count];
    if (prev->state == SLOT_READY && prev->batch.step == l->next_to_consume - 1)
      prev->state = SLOT_FREE;
  }
  pthread_cond_broadcast(&l->changed);
  const int64_t step = l->next_to_consume;
  batch_slot *slot = &l->slots[step % l->slot_count];
  while (!(slot->state == SLOT_READY && slot->batch.step == step))
    pthread_cond_wait(&l->changed, &l->mutex);
  l->next_to_consume++;
  segc_status status = slot->status;
  char message[1024];
  snprintf(message, sizeof message, "%s", slot->message);
  pthread_mutex_unlock(&l->mutex);
  if (wait_seconds) *wait_seconds = segc_now() - t0;
  if (status != SEGC_OK) return segc_fail(status, "%s", message);
  *batch = &slot->batch;
  return SEGC_OK;
}
