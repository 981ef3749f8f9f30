// The autograd graph: values, the tape, and backward.
//
// A forward pass runs ops on values. In training mode each op pushes a tape
// entry holding what its backward needs; segc_graph_backward() replays the
// entries in reverse. Every backward accumulates (+=) into gradient buffers,
// so a value used twice (a residual) simply receives two contributions.
//
// Memory: value data and activation gradients live in the activation arena.
// A value's data is freed when its last holder lets go: the caller (who
// releases after the last forward use) and each tape entry that needs the
// data in backward. In inference mode nothing is recorded, so activations are
// freed as soon as the forward code releases them. A value marked
// recomputable (GroupNorm+ReLU output) is not kept alive by the tape: its data
// is rebuilt from the producer's saved inputs when a backward needs it.
// A gradient buffer is freed right after its producer's backward, its last
// reader.
#ifndef SEGC_AUTOGRAD_GRAPH_H
#define SEGC_AUTOGRAD_GRAPH_H

#include <stdbool.h>
#include <stdint.h>

#include "autograd/profile.h"
#include "core/arena.h"
#include "core/backend_context.h"
#include "core/status.h"
#include "core/tensor.h"

typedef struct segc_graph segc_graph;
typedef struct segc_value segc_value;

// A parameter gradient an op of this pass writes, and the tape index from
// which on entries may write it (the tape count when the op took it).
typedef struct {
  const void *grad;  // the parameter's gradient storage
  size_t bytes;
  int first_entry;
} segc_param_use;

typedef segc_status (*segc_backward_fn)(segc_graph *graph, void *saved);
// Called by backward after the tape entry `entry` (and every later one) has
// run: from then on, the gradient of a parameter first used at tape index
// >= entry is final (see segc_graph_use_param). Data-parallel training
// starts a bucket's all-reduce there, while backward goes on.
typedef segc_status (*segc_backward_progress_fn)(void *user, int entry);
typedef segc_status (*segc_recompute_fn)(segc_graph *graph, void *saved,
                                         segc_value *out);

struct segc_value {
  segc_tensor data;  // forward result; data.data is NULL once freed
  segc_tensor grad;  // gradient, same shape; grad.data NULL until written
  int data_refs;     // holders of the data (caller + tape entries)
  bool requires_grad;
  bool persistent;   // parameter or caller-owned input: never freed here
  bool grad_written; // grad holds a value (else the first write may store)
  // Set by an op whose output can be rebuilt in backward (and so is not
  // kept alive by the tape).
  segc_recompute_fn recompute;
  void *recompute_saved;
  const char *name;  // parameter name, for messages; NULL for activations
};

enum { SEGC_TAPE_MAX_HELD = 6, SEGC_TAPE_MAX_OUTPUTS = 2 };

typedef struct {
  const char *op;  // for messages
  segc_backward_fn backward;
  void *saved;     // op-specific context, in the graph's metadata arena
  segc_value *outputs[SEGC_TAPE_MAX_OUTPUTS];
  int output_count;
  segc_value *held[SEGC_TAPE_MAX_HELD];  // values whose data backward reads
  int held_count;
} segc_tape_entry;

struct segc_graph {
  segc_backend_context *backend;  // device, engine/stream, primitive cache
  segc_arena *activations;  // value data and activation gradients; op
                            // temporaries come from backend->scratch
  segc_arena meta;          // value structs and tape contexts (small)
  bool training;            // record the tape, dropout active
  uint64_t seed;            // run seed (dropout streams)
  uint64_t step;            // training step (dropout streams)
  uint32_t op_index;        // ops created so far in this pass
  segc_tape_entry *tape;
  int tape_count, tape_capacity;
  segc_profile *profile;    // NULL: no timing (see autograd/profile.h)
  // Parameters used in this pass, with the tape index of their first use.
  segc_param_use *param_uses;
  int param_use_count, param_use_capacity;
  segc_backward_progress_fn on_progress;  // NULL: nobody listens
  void *progress_user;
};

// Sets up a graph on a caller-owned backend context and activation arena
// (on the context's device). `meta_bytes` sizes the small host metadata
// arena (a few MB is plenty for SegResNet).
segc_status segc_graph_init(segc_graph *graph, segc_backend_context *backend,
                            segc_arena *activations, size_t meta_bytes);
void segc_graph_destroy(segc_graph *graph);
// Forgets the tape and every activation: call between steps.
void segc_graph_reset(segc_graph *graph);

// A value that wraps caller-owned memory (an input batch or a parameter).
// Parameters pass requires_grad and a gradient tensor the caller owns (the
// flat gradient arena); backward accumulates into it.
segc_status segc_graph_wrap(segc_graph *graph, segc_tensor data,
                            const segc_tensor *grad, bool requires_grad,
                            const char *name, segc_value **out);

// A new activation with freshly allocated (uninitialised) data; the caller
// holds one data reference.
segc_status segc_graph_new_value(segc_graph *graph, segc_shape shape,
                                 segc_dtype dtype, segc_layout layout,
                                 bool requires_grad, segc_value **out);

// Takes one more data reference (a value kept for later, like a skip
// connection).
static inline void segc_value_retain(segc_value *value) { value->data_refs++; }

// Lets go of one data reference (the caller's, after the last use).
void segc_value_release(segc_graph *graph, segc_value *value);

// Small op contexts for the tape, from the metadata arena.
segc_status segc_graph_alloc_saved(segc_graph *graph, size_t bytes,
                                   void **out);

// Records an op. `held` values get a data reference (unless recomputable);
// `outputs` are the values whose gradient the backward reads.
segc_status segc_graph_record(segc_graph *graph, const char *op,
                              segc_backward_fn backward, void *saved,
                              segc_value *const *outputs, int output_count,
                              segc_value *const *held, int held_count);

// True when an op with these inputs must record itself.
bool segc_graph_needs_tape(const segc_graph *graph, segc_value *const *inputs,
                           int input_count);

// Seeds d(loss)/d(loss) = 1 for a scalar f32 loss value and replays the
// tape in reverse. Parameter gradients are accumulated (+=): zero them first.
segc_status segc_graph_backward(segc_graph *graph, segc_value *loss);
// Same with d(loss)/d(loss) = seed (a loss scale for fp16 training).
segc_status segc_graph_backward_seeded(segc_graph *graph, segc_value *loss,
                                       float seed);

// Records that an op of this pass writes the gradient `grad` (`bytes` long)
// in its backward; ops call it in forward, before recording their entry.
// Repeated uses keep the first. Only training passes record.
segc_status segc_graph_use_param(segc_graph *graph, const void *grad,
                                 size_t bytes);

// For backward functions: where to put a gradient contribution for `value`.
// When the value has no gradient yet, *target is its (possibly freshly
// allocated) grad buffer and *accumulate is false: the op may store. When a
// gradient is already there, *accumulate is true: the op must add.
segc_status segc_value_grad_target(segc_graph *graph, segc_value *value,
                                   segc_tensor *target, bool *accumulate);

// Adds `contribution` into the value's gradient (allocating it if needed).
// For ops that compute a contribution into scratch first.
segc_status segc_value_grad_add(segc_graph *graph, segc_value *value,
                                const segc_tensor *contribution);

// Ensures value->grad exists and is zero-filled where nothing was written.
segc_status segc_value_grad_zeros(segc_graph *graph, segc_value *value);

#endif
