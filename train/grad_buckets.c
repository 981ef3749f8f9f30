#include "train/grad_buckets.h"

#include <stdlib.h>
#include <string.h>

#include "core/parallel.h"

segc_status segc_grad_buckets_init(segc_grad_buckets *b, float *grads,
                                   int64_t count, size_t bucket_bytes,
                                   segc_allreduce_ops ops) {
  memset(b, 0, sizeof *b);
  if (!grads || count < 1 || !ops.start || !ops.wait)
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "gradient buckets: no gradients or no all-reduce");
  const int64_t per_bucket = (int64_t)((bucket_bytes ? bucket_bytes
                                                     : SEGC_GRAD_BUCKET_BYTES) /
                                       sizeof(float));
  if (per_bucket < 1)
    return SEGC_FAIL(SEGC_ERR_INVALID, "gradient buckets: %zu-byte buckets",
                     bucket_bytes);
  // The arena's start: backward writes it last, so it is sent alone.
  int64_t head = (int64_t)(SEGC_GRAD_LAST_BUCKET_BYTES / sizeof(float));
  if (head > per_bucket) head = per_bucket;
  if (head > count) head = count;
  const int64_t rest = count - head;
  const int64_t n = (rest + per_bucket - 1) / per_bucket + 1;
  b->buckets = calloc((size_t)n, sizeof *b->buckets);
  if (!b->buckets)
    return SEGC_FAIL(SEGC_ERR_NOMEM, "gradient buckets: out of memory");
  b->grads = grads;
  b->count = count;
  b->bucket_count = (int)n;
  b->ops = ops;
  // Bucket 0 ends the arena: backward reaches the last parameters first.
  for (int64_t i = 0; i + 1 < n; ++i) {
    const int64_t end = count - i * per_bucket;
    const int64_t begin = end - per_bucket > head ? end - per_bucket : head;
    b->buckets[i].data = grads + begin;
    b->buckets[i].count = end - begin;
  }
  b->buckets[n - 1].data = grads;
  b->buckets[n - 1].count = head;
  return SEGC_OK;
}

void segc_grad_buckets_destroy(segc_grad_buckets *b) {
  free(b->buckets);
  memset(b, 0, sizeof *b);
}

// The tape entry after which every gradient in the bucket is final: the
// smallest first use among the parameters it holds, or 0 (the end of
// backward) when part of it belongs to no declared use.
static int ready_entry(const segc_grad_bucket *bucket,
                       const segc_graph *graph) {
  const char *begin = (const char *)bucket->data;
  const char *end = begin + sizeof(float) * (size_t)bucket->count;
  size_t covered = 0;
  int ready = graph->tape_count;
  for (int i = 0; i < graph->param_use_count; ++i) {
    const segc_param_use *use = &graph->param_uses[i];
    const char *use_begin = use->grad;
    const char *use_end = use_begin + use->bytes;
    const char *lo = use_begin > begin ? use_begin : begin;
    const char *hi = use_end < end ? use_end : end;
    if (hi <= lo) continue;
    covered += (size_t)(hi - lo);
    if (use->first_entry < ready) ready = use->first_entry;
  }
  return covered == (size_t)(end - begin) ? ready : 0;
}

static segc_status start(segc_grad_buckets *b, segc_grad_bucket *bucket) {
  SEGC_TRY(b->ops.start(b->ops.comm, bucket->data, bucket->count,
                        &bucket->request));
  bucket->started = true;
  return SEGC_OK;
}

static segc_status on_progress(void *user, int entry) {
  segc_grad_buckets *b = user;
  for (int i = 0; i < b->bucket_count; ++i) {
    segc_grad_bucket *bucket = &b->buckets[i];
    if (bucket->started) {
      if (b->ops.poll) SEGC_TRY(b->ops.poll(b->ops.comm, bucket->request));
      continue;
    }
    if (bucket->ready_entry < entry) continue;
    SEGC_TRY(start(b, bucket));
    if (entry > 0) b->started_in_backward++;
  }
  return SEGC_OK;
}

segc_status segc_grad_buckets_arm(segc_grad_buckets *b, segc_graph *graph) {
  if (graph->on_progress)
    return SEGC_FAIL(SEGC_ERR_INTERNAL,
                     "gradient buckets: the graph already has a listener");
  b->started_in_backward = 0;
  b->wait_seconds = 0.0;
  for (int i = 0; i < b->bucket_count; ++i) {
    b->buckets[i].started = false;
    b->buckets[i].request = NULL;
    b->buckets[i].ready_entry = ready_entry(&b->buckets[i], graph);
  }
  graph->on_progress = on_progress;
  graph->progress_user = b;
  return SEGC_OK;
}

segc_status segc_grad_buckets_finish(segc_grad_buckets *b, segc_graph *graph) {
  graph->on_progress = NULL;
  graph->progress_user = NULL;
  segc_status status = SEGC_OK;
  for (int i = 0; i < b->bucket_count && status == SEGC_OK; ++i)
    if (!b->buckets[i].started) status = start(b, &b->buckets[i]);
  // Wait for every started bucket, even after a failure, so that no
  // request outlives the step.
  const double t0 = segc_now();
  for (int i = 0; i < b->bucket_count; ++i) {
    segc_grad_bucket *bucket = &b->buckets[i];
    if (!bucket->started) continue;
    const segc_status waited = b->ops.wait(b->ops.comm, bucket->request);
    if (status == SEGC_OK) status = waited;
    bucket->started = false;
    bucket->request = NULL;
  }
  b->wait_seconds = segc_now() - t0;
  return status;
}
