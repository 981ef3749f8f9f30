#include "autograd/graph.h"

#include <stdlib.h>
#include <string.h>

#include "core/backend.h"
#include "core/parallel.h"
#include "core/tensor_ops.h"

segc_status segc_graph_init(segc_graph *graph, segc_backend_context *backend,
                            segc_arena *activations, size_t meta_bytes) {
  memset(graph, 0, sizeof *graph);
  if (!backend || !backend->scratch || !activations)
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "graph: the backend context or activation arena is not "
                     "set up");
  if (activations->device != backend->device)
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "graph: activation arena '%s' is on %s, the backend on %s",
                     activations->name, segc_device_name(activations->device),
                     segc_device_name(backend->device));
  graph->backend = backend;
  graph->activations = activations;
  // Value structs and tape contexts are read by the host code that drives
  // the kernels, whatever the device.
  SEGC_TRY(segc_arena_init(&graph->meta, "graph metadata", meta_bytes,
                           SEGC_DEVICE_CPU));
  graph->tape_capacity = 256;
  graph->tape = malloc(sizeof(segc_tape_entry) * (size_t)graph->tape_capacity);
  if (!graph->tape) {
    segc_arena_destroy(&graph->meta);
    return SEGC_FAIL(SEGC_ERR_NOMEM, "graph: no memory for the tape");
  }
  return SEGC_OK;
}

void segc_graph_destroy(segc_graph *graph) {
  segc_arena_destroy(&graph->meta);
  free(graph->tape);
  free(graph->param_uses);
  memset(graph, 0, sizeof *graph);
}

void segc_graph_reset(segc_graph *graph) {
  graph->tape_count = 0;
  graph->op_index = 0;
  graph->param_use_count = 0;
  segc_arena_reset(&graph->meta);
  if (graph->activations) segc_arena_reset(graph->activations);
}

segc_status segc_graph_use_param(segc_graph *graph, const void *grad,
                                 size_t bytes) {
  if (!graph->training || !grad) return SEGC_OK;
  for (int i = 0; i < graph->param_use_count; ++i)
    if (graph->param_uses[i].grad == grad) return SEGC_OK;
  if (graph->param_use_count == graph->param_use_capacity) {
    const int grown =
        graph->param_use_capacity ? 2 * graph->param_use_capacity : 128;
    segc_param_use *bigger =
        realloc(graph->param_uses, sizeof(segc_param_use) * (size_t)grown);
    if (!bigger)
      return SEGC_FAIL(SEGC_ERR_NOMEM, "graph: no memory for parameter uses");
    graph->param_uses = bigger;
    graph->param_use_capacity = grown;
  }
  graph->param_uses[graph->param_use_count++] =
      (segc_param_use){grad, bytes, graph->tape_count};
  return SEGC_OK;
}

static segc_status new_value_struct(segc_graph *graph, segc_value **out) {
  void *p;
  SEGC_TRY(segc_arena_calloc(&graph->meta, sizeof(segc_value), &p));
  *out = p;
  return SEGC_OK;
}

segc_status segc_graph_wrap(segc_graph *graph, segc_tensor data,
                            const segc_tensor *grad, bool requires_grad,
                            const char *name, segc_value **out) {
  segc_value *v;
  SEGC_TRY(new_value_struct(graph, &v));
  v->data = data;
  v->persistent = true;
  v->data_refs = 1;
  v->requires_grad = requires_grad;
  v->name = name;
  if (grad) {
    SEGC_TRY(segc_tensor_expect_shape(grad, data.shape,
                                      name ? name : "parameter gradient"));
    v->grad = *grad;
    // Caller-owned gradients accumulate across the pass: the caller zeroes
    // them before the step.
    v->grad_written = true;
  }
  *out = v;
  return SEGC_OK;
}

segc_status segc_graph_new_value(segc_graph *graph, segc_shape shape,
                                 segc_dtype dtype, segc_layout layout,
                                 bool requires_grad, segc_value **out) {
  segc_value *v;
  SEGC_TRY(new_value_struct(graph, &v));
  SEGC_TRY(segc_arena_tensor(graph->activations, shape, dtype, layout,
                             &v->data));
  v->data_refs = 1;
  v->requires_grad = requires_grad && graph->training;
  *out = v;
  return SEGC_OK;
}

static void free_value_data(segc_graph *graph, segc_value *value) {
  if (!value->persistent && value->data.data)
    segc_arena_free_tensor(graph->activations, &value->data);
}

void segc_value_release(segc_graph *graph, segc_value *value) {
  if (!value || value->data_refs <= 0) return;
  if (--value->data_refs == 0) free_value_data(graph, value);
}

segc_status segc_graph_alloc_saved(segc_graph *graph, size_t bytes,
                                   void **out) {
  return segc_arena_calloc(&graph->meta, bytes, out);
}

bool segc_graph_needs_tape(const segc_graph *graph, segc_value *const *inputs,
                           int input_count) {
  if (!graph->training) return false;
  for (int i = 0; i < input_count; ++i)
    if (inputs[i] && inputs[i]->requires_grad) return true;
  return false;
}

segc_status segc_graph_record(segc_graph *graph, const char *op,
                              segc_backward_fn backward, void *saved,
                              segc_value *const *outputs, int output_count,
                              segc_value *const *held, int held_count) {
  if (output_count > SEGC_TAPE_MAX_OUTPUTS || held_count > SEGC_TAPE_MAX_HELD)
    return SEGC_FAIL(SEGC_ERR_INTERNAL, "tape: op %s records too many values",
                     op);
  if (graph->tape_count == graph->tape_capacity) {
    int grown = graph->tape_capacity * 2;
    segc_tape_entry *bigger =
        realloc(graph->tape, sizeof(segc_tape_entry) * (size_t)grown);
    if (!bigger) return SEGC_FAIL(SEGC_ERR_NOMEM, "tape: out of memory");
    graph->tape = bigger;
    graph->tape_capacity = grown;
  }
  segc_tape_entry *e = &graph->tape[graph->tape_count++];
  memset(e, 0, sizeof *e);
  e->op = op;
  e->backward = backward;
  e->saved = saved;
  for (int i = 0; i < output_count; ++i) {
    e->outputs[i] = outputs[i];
    outputs[i]->requires_grad = true;
  }
  e->output_count = output_count;
  for (int i = 0; i < held_count; ++i) {
    e->held[i] = held[i];
    if (!held[i]->recompute) held[i]->data_refs++;
  }
  e->held_count = held_count;
  return SEGC_OK;
}

// Rebuilds the data of a recomputable value whose data was freed.
static segc_status ensure_data(segc_graph *graph, segc_value *value) {
  if (value->data.data) return SEGC_OK;
  if (!value->recompute)
    return SEGC_FAIL(SEGC_ERR_INTERNAL,
                     "backward needs a value whose data was freed");
  SEGC_TRY(segc_arena_alloc(graph->activations,
                            segc_tensor_bytes(&value->data),
                            &value->data.data));
  return value->recompute(graph, value->recompute_saved, value);
}

static void free_grad(segc_graph *graph, segc_value *value) {
  if (!value->persistent && value->grad.data) {
    segc_arena_free_tensor(graph->activations, &value->grad);
    value->grad_written = false;
  }
}

segc_status segc_graph_backward(segc_graph *graph, segc_value *loss) {
  return segc_graph_backward_seeded(graph, loss, 1.0f);
}

segc_status segc_graph_backward_seeded(segc_graph *graph, segc_value *loss,
                                       float seed_value) {
  if (segc_tensor_numel(&loss->data) != 1 || loss->data.dtype != SEGC_F32)
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "backward: the loss must be one f32 value");
  if (!loss->requires_grad)
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "backward: the loss does not depend on anything that "
                     "requires a gradient (was the graph in training mode?)");
  segc_tensor seed;
  bool accumulate;
  SEGC_TRY(segc_value_grad_target(graph, loss, &seed, &accumulate));
  SEGC_TRY(accumulate ? segc_tensor_add_scalar(&seed, seed_value)
                      : segc_tensor_fill(&seed, seed_value));

  for (int i = graph->tape_count - 1; i >= 0; --i) {
    segc_tape_entry *e = &graph->tape[i];
    bool any_grad = false;
    for (int k = 0; k < e->output_count; ++k)
      if (e->outputs[k]->grad_written) any_grad = true;
    if (any_grad) {
      for (int k = 0; k < e->held_count; ++k)
        SEGC_TRY(ensure_data(graph, e->held[k]));
      const double started = graph->profile ? segc_now() : 0.0;
      segc_status status = e->backward(graph, e->saved);
      if (graph->profile)
        segc_profile_add(graph->profile, e->op, true, segc_now() - started);
      if (status != SEGC_OK)
        return segc_fail_context(status, "backward of %s", e->op);
    }
    if (graph->on_progress) {
      const segc_status status = graph->on_progress(graph->progress_user, i);
      if (status != SEGC_OK)
        return segc_fail_context(status, "after the backward of %s", e->op);
    }
    for (int k = 0; k < e->output_count; ++k) free_grad(graph, e->outputs[k]);
    for (int k = 0; k < e->held_count; ++k) {
      segc_value *h = e->held[k];
      if (h->recompute) {
        if (h->data_refs == 0) free_value_data(graph, h);
      } else {
        segc_value_release(graph, h);
      }
    }
  }
  graph->tape_count = 0;
  return SEGC_OK;
}

segc_status segc_value_grad_target(segc_graph *graph, segc_value *value,
                                   segc_tensor *target, bool *accumulate) {
  if (!value->grad.data) {
    value->grad = value->data;
    value->grad.data = NULL;
    // Activation gradients are kept in f32 whatever the activation dtype,
    // except bf16 activations, whose gradients are bf16 too (AMP).
    SEGC_TRY(segc_arena_alloc(graph->activations,
                              segc_tensor_bytes(&value->grad),
                              &value->grad.data));
    value->grad_written = false;
  }
  *target = value->grad;
  *accumulate = value->grad_written;
  value->grad_written = true;
  return SEGC_OK;
}

segc_status segc_value_grad_add(segc_graph *graph, segc_value *value,
                                const segc_tensor *contribution) {
  segc_tensor target;
  bool accumulate;
  SEGC_TRY(segc_value_grad_target(graph, value, &target, &accumulate));
  SEGC_TRY(segc_tensor_expect_shape(contribution, target.shape,
                                    "gradient contribution"));
  if (contribution->layout != target.layout ||
      contribution->device != target.device)
    return SEGC_FAIL(SEGC_ERR_INTERNAL,
                     "gradient contribution in another layout/device");
  if (!accumulate) return segc_tensor_copy(contribution, &target);
  return segc_tensor_accumulate(&target, contribution);
}

segc_status segc_value_grad_zeros(segc_graph *graph, segc_value *value) {
  segc_tensor target;
  bool accumulate;
  SEGC_TRY(segc_value_grad_target(graph, value, &target, &accumulate));
  if (!accumulate) SEGC_TRY(segc_tensor_zero(&target));
  return SEGC_OK;
}
