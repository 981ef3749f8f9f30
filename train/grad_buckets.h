// Gradient buckets for data-parallel training, as PyTorch's DDP does them:
// the flat gradient arena is cut into contiguous buckets, and each bucket's
// all-reduce starts as soon as backward has written the last gradient in it,
// so that communication overlaps the rest of backward. Buckets are filled
// from the end of the arena, whose parameters (the decoder's last layers)
// backward finishes first; the arena's first 1 MiB (the first layers, final
// only when backward ends) is a bucket of its own, so that what is left to
// send after backward is small.
//
// The all-reduce itself is behind two calls (start, wait) so that this file
// needs neither MPI nor NCCL: the communicator supplies them.
#ifndef SEGC_TRAIN_GRAD_BUCKETS_H
#define SEGC_TRAIN_GRAD_BUCKETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "autograd/graph.h"
#include "core/status.h"

// DDP's default bucket size (bucket_cap_mb = 25), and the most the bucket
// holding the arena's start takes.
enum { SEGC_GRAD_BUCKET_BYTES = 25 << 20, SEGC_GRAD_LAST_BUCKET_BYTES = 1 << 20 };

typedef struct {
  // Starts summing `count` floats at `data` over every process, in place;
  // *request identifies it for wait.
  segc_status (*start)(void *comm, float *data, int64_t count,
                       void **request);
  segc_status (*wait)(void *comm, void *request);
  // Optional (NULL: none): lets a started all-reduce progress; called for
  // the buckets in flight after each backward op, for libraries (MPI) that
  // move non-blocking collectives forward only inside their calls.
  segc_status (*poll)(void *comm, void *request);
  void *comm;
} segc_allreduce_ops;

typedef struct {
  float *data;      // (count,) a range of the flat gradient arena
  int64_t count;
  int ready_entry;  // start once backward has run this tape entry
  bool started;
  void *request;
} segc_grad_bucket;

typedef struct {
  float *grads;     // the flat gradient arena, (count,)
  int64_t count;
  segc_grad_bucket *buckets;  // buckets[0] ends the arena
  int bucket_count;
  segc_allreduce_ops ops;
  int started_in_backward;  // of the last step: buckets that overlapped
  double wait_seconds;      // of the last step: time spent waiting
} segc_grad_buckets;

// Cuts `grads` into buckets of at most `bucket_bytes` (0: the default).
segc_status segc_grad_buckets_init(segc_grad_buckets *b, float *grads,
                                   int64_t count, size_t bucket_bytes,
                                   segc_allreduce_ops ops);
void segc_grad_buckets_destroy(segc_grad_buckets *b);

// Before backward (after forward recorded the tape): sets when each bucket
// is final from the graph's parameter uses and listens to its progress. A
// bucket holding a gradient no op of this pass declared is final only at
// the end of backward.
segc_status segc_grad_buckets_arm(segc_grad_buckets *b, segc_graph *graph);

// After backward: starts the buckets not started yet, waits for all, and
// stops listening. Every gradient then holds the sum over the processes.
segc_status segc_grad_buckets_finish(segc_grad_buckets *b, segc_graph *graph);

#endif
