// conv3d: the layer, its prepared weight copies, forward, backward-data and
// the graph op. Backward-weights is in conv3d_weight_grad.c, primitive
// building in conv3d_primitives.c.
#include "layers/conv3d.h"

#include <stdlib.h>
#include <string.h>

#include "core/backend.h"
#include "core/parallel.h"
#include "core/tensor_ops.h"
#include "layers/conv3d_internal.h"

// Weight copies in oneDNN's formats: forward and backward-data may each want
// their own format, in f32 and in bf16.
enum { PREPARED_SLOTS = 4 };

typedef struct {
  dnnl_memory_desc_t desc;  // format and dtype of the copy
  void *data;
  size_t bytes;             // allocated
  uint64_t version;         // param->version it was made from
  const void *source;       // param->value.data it was made from
  bool valid;
} weight_copy;

struct segc_conv3d_prepared {
  weight_copy copies[PREPARED_SLOTS];
  int next_evict;
};

int64_t segc_conv3d_output_size(const segc_conv3d_config *config,
                                int64_t size) {
  return (size + 2 * config->padding - config->kernel) / config->stride + 1;
}

double segc_conv3d_flops(const segc_conv3d_config *config, segc_shape input) {
  const double k3 = (double)config->kernel * config->kernel * config->kernel;
  const double outputs = (double)input.n * (double)config->out_channels *
                         (double)segc_conv3d_output_size(config, input.d) *
                         (double)segc_conv3d_output_size(config, input.h) *
                         (double)segc_conv3d_output_size(config, input.w);
  return 2.0 * outputs * (double)config->in_channels * k3;
}

static segc_status check_param(const segc_param *p, segc_shape want,
                               const char *layer_name, const char *role) {
  char got[64], wanted[64];
  if (!p->value.data)
    return SEGC_FAIL(SEGC_ERR_INVALID, "%s: %s '%s' has no data", layer_name,
                     role, p->name);
  if (p->value.dtype != SEGC_F32 || p->value.layout != SEGC_LAYOUT_NCDHW)
    return SEGC_FAIL(SEGC_ERR_UNSUPPORTED,
                     "%s: %s '%s' must be an f32 NCDHW (OIDHW) tensor",
                     layer_name, role, p->name);
  SEGC_TRY(segc_backend_require("conv3d", p->value.device, p->value.dtype));
  if (!segc_shape_equal(p->value.shape, want))
    return SEGC_FAIL(SEGC_ERR_INVALID, "%s: %s '%s' has shape %s, expected %s",
                     layer_name, role, p->name,
                     segc_shape_str(p->value.shape, got, sizeof got),
                     segc_shape_str(want, wanted, sizeof wanted));
  if (p->grad.data &&
      (!segc_shape_equal(p->grad.shape, want) || p->grad.dtype != SEGC_F32 ||
       p->grad.layout != SEGC_LAYOUT_NCDHW ||
       p->grad.device != p->value.device))
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "%s: gradient of %s '%s' must be f32 NCDHW %s on the "
                     "weight's device",
                     layer_name, role, p->name,
                     segc_shape_str(want, wanted, sizeof wanted));
  return SEGC_OK;
}

segc_status segc_conv3d_init(segc_conv3d *layer,
                             const segc_conv3d_config *config,
                             segc_param *weight, segc_param *bias) {
  memset(layer, 0, sizeof *layer);
  char name[96];
  conv3d_describe(config, name, sizeof name);
  if (config->in_channels < 1 || config->out_channels < 1 ||
      config->kernel < 1 || config->stride < 1 || config->padding < 0)
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "%s: channels, kernel and stride must be >= 1 and "
                     "padding >= 0", name);
  if (!weight)
    return SEGC_FAIL(SEGC_ERR_INVALID, "%s: no weight parameter", name);
  if (config->bias != (bias != NULL))
    return SEGC_FAIL(SEGC_ERR_INVALID, "%s: %s", name,
                     config->bias ? "the config has a bias but no bias "
                                    "parameter was given"
                                  : "a bias parameter was given but the "
                                    "config has none");
  const int64_t k = config->kernel;
  SEGC_TRY(check_param(weight,
                       segc_shape5(config->out_channels, config->in_channels,
                                   k, k, k),
                       name, "weight"));
  if (bias)
    SEGC_TRY(check_param(bias, segc_shape5(1, config->out_channels, 1, 1, 1),
                         name, "bias"));
  layer->prepared = calloc(1, sizeof *layer->prepared);
  if (!layer->prepared)
    return SEGC_FAIL(SEGC_ERR_NOMEM, "%s: no memory for the layer", name);
  layer->config = *config;
  layer->weight = weight;
  layer->bias = bias;
  return SEGC_OK;
}

void segc_conv3d_destroy(segc_conv3d *layer) {
  if (!layer) return;
  if (layer->prepared) {
    for (int i = 0; i < PREPARED_SLOTS; ++i)
      free(layer->prepared->copies[i].data);
    free(layer->prepared);
  }
  memset(layer, 0, sizeof *layer);
}

static segc_status check_layer(const segc_conv3d *layer) {
  if (!layer || !layer->prepared || !layer->weight)
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "conv3d: layer not initialised (call segc_conv3d_init)");
  return SEGC_OK;
}

static segc_shape with_channels(segc_shape s, int64_t c) {
  s.c = c;
  return s;
}

// The weights in the format (and dtype) `conv` wants, reordered from the
// f32 OIDHW master only when the parameter changed (version or storage).
// Contract: whoever changes param->value bumps param->version.
static segc_status prepared_weights(segc_conv3d *layer,
                                    const segc_dnnl_cached *conv,
                                    const conv3d_key *conv_key,
                                    segc_arena *scratch, void **out) {
  const dnnl_memory_desc_t *want =
      dnnl_primitive_desc_query_md(conv->desc, dnnl_query_weights_md, 0);
  if (!want || want->ndims != 5)
    return SEGC_FAIL(SEGC_ERR_INTERNAL,
                     "conv3d: oneDNN reports no weights descriptor");
  segc_conv3d_prepared *prepared = layer->prepared;
  const segc_param *master = layer->weight;
  weight_copy *copy = NULL;
  for (int i = 0; i < PREPARED_SLOTS && !copy; ++i)
    if (prepared->copies[i].valid &&
        dnnl_memory_desc_equal(&prepared->copies[i].desc, want))
      copy = &prepared->copies[i];
  if (copy && copy->version == master->version &&
      copy->source == master->value.data) {
    *out = copy->data;
    return SEGC_OK;
  }
  if (!copy) {
    for (int i = 0; i < PREPARED_SLOTS && !copy; ++i)
      if (!prepared->copies[i].valid) copy = &prepared->copies[i];
    if (!copy) {
      copy = &prepared->copies[prepared->next_evict];
      prepared->next_evict = (prepared->next_evict + 1) % PREPARED_SLOTS;
    }
  }
  copy->valid = false;
  const size_t bytes = dnnl_memory_desc_get_size(want);
  if (copy->bytes < bytes) {
    free(copy->data);
    copy->data = NULL;
    copy->bytes = 0;
    // Once per layer and format: setup, not the hot loop.
    if (posix_memalign(&copy->data, SEGC_ARENA_ALIGN, bytes) != 0) {
      copy->data = NULL;
      return SEGC_FAIL(SEGC_ERR_NOMEM,
                       "conv3d: no memory for a %zu-byte weight copy", bytes);
    }
    copy->bytes = bytes;
  }
  conv3d_key reorder_key = *conv_key;
  reorder_key.kind = CONV3D_REORDER_WEIGHTS_IN;
  reorder_key.threads = segc_threads();
  reorder_key.of_kind = conv_key->kind;
  reorder_key.of_threads = conv_key->threads;
  segc_dnnl_cached *reorder;
  SEGC_TRY(conv3d_primitive(&reorder_key, &reorder));
  const conv3d_arg args[2] = {{DNNL_ARG_FROM, master->value.data},
                              {DNNL_ARG_TO, copy->data}};
  SEGC_TRY(conv3d_run(reorder, args, 2, scratch));
  copy->desc = *want;
  copy->version = master->version;
  copy->source = master->value.data;
  copy->valid = true;
  *out = copy->data;
  return SEGC_OK;
}

static segc_status apply(segc_conv3d *layer, const segc_tensor *x,
                         segc_tensor *y, segc_arena *scratch) {
  segc_shape out;
  SEGC_TRY(conv3d_check_activation(
      x, with_channels(x->shape, layer->config.in_channels), "input"));
  SEGC_TRY(conv3d_output_shape(&layer->config, x->shape, &out));
  SEGC_TRY(conv3d_check_activation(y, out, "output"));
  // oneDNN has no f32 convolution with a bf16 destination: go through f32.
  const bool through_f32 = x->dtype == SEGC_F32 && y->dtype == SEGC_BF16;
  const conv3d_key key = conv3d_make_key(
      CONV3D_FORWARD, &layer->config, x->shape, conv3d_dnnl_dtype(x->dtype),
      through_f32 ? dnnl_f32 : conv3d_dnnl_dtype(y->dtype));
  segc_dnnl_cached *conv;
  SEGC_TRY(conv3d_primitive(&key, &conv));
  void *weights;
  SEGC_TRY(prepared_weights(layer, conv, &key, scratch, &weights));
  segc_tensor dst = *y;
  if (through_f32)
    SEGC_TRY(segc_arena_tensor(scratch, out, SEGC_F32, SEGC_LAYOUT_NDHWC,
                               &dst));
  conv3d_arg args[4] = {{DNNL_ARG_SRC, x->data},
                        {DNNL_ARG_WEIGHTS, weights},
                        {DNNL_ARG_DST, dst.data},
                        {DNNL_ARG_BIAS, NULL}};
  int count = 3;
  if (layer->bias) args[count++].data = layer->bias->value.data;
  segc_status status = conv3d_run(conv, args, count, scratch);
  if (through_f32) {
    if (status == SEGC_OK) status = segc_tensor_copy(&dst, y);
    segc_arena_free_tensor(scratch, &dst);
  }
  return status;
}

segc_status segc_conv3d_apply(segc_conv3d *layer, const segc_tensor *x,
                              segc_tensor *y, segc_arena *scratch) {
  SEGC_TRY(check_layer(layer));
  const segc_status status =
      x && y && scratch
          ? apply(layer, x, y, scratch)
          : SEGC_FAIL(SEGC_ERR_INVALID, "input, output and scratch needed");
  if (status == SEGC_OK) return SEGC_OK;
  char name[96], shape[64];
  return segc_fail_context(status, "%s forward on %s",
                           conv3d_describe(&layer->config, name, sizeof name),
                           x ? segc_shape_str(x->shape, shape, sizeof shape)
                             : "(no input)");
}

static segc_status backward_data(segc_conv3d *layer, const segc_tensor *dy,
                                 segc_tensor *dx, bool accumulate,
                                 segc_arena *scratch) {
  segc_shape out;
  SEGC_TRY(conv3d_check_activation(
      dx, with_channels(dx->shape, layer->config.in_channels),
      "input gradient"));
  SEGC_TRY(conv3d_output_shape(&layer->config, dx->shape, &out));
  SEGC_TRY(conv3d_check_activation(dy, out, "output gradient"));
  const dnnl_data_type_t compute = conv3d_dnnl_dtype(dx->dtype);
  const conv3d_key key = conv3d_make_key(CONV3D_BACKWARD_DATA, &layer->config,
                                         dx->shape, compute, compute);
  segc_dnnl_cached *conv;
  SEGC_TRY(conv3d_primitive(&key, &conv));
  void *weights;
  SEGC_TRY(prepared_weights(layer, conv, &key, scratch, &weights));
  segc_tensor diff_dst, target = *dx;
  bool converted;
  SEGC_TRY(conv3d_dy_in(dy, dx->dtype, scratch, &diff_dst, &converted));
  // oneDNN overwrites diff_src: compute a contribution aside to add it.
  segc_status status = SEGC_OK;
  if (accumulate)
    status = segc_arena_tensor(scratch, dx->shape, dx->dtype,
                               SEGC_LAYOUT_NDHWC, &target);
  if (status == SEGC_OK) {
    const conv3d_arg args[3] = {{DNNL_ARG_DIFF_DST, diff_dst.data},
                                {DNNL_ARG_WEIGHTS, weights},
                                {DNNL_ARG_DIFF_SRC, target.data}};
    status = conv3d_run(conv, args, 3, scratch);
    if (accumulate) {
      if (status == SEGC_OK) status = segc_tensor_accumulate(dx, &target);
      segc_arena_free_tensor(scratch, &target);
    }
  }
  if (converted) segc_arena_free_tensor(scratch, &diff_dst);
  return status;
}

segc_status segc_conv3d_backward_data(segc_conv3d *layer,
                                      const segc_tensor *dy, segc_tensor *dx,
                                      bool accumulate, segc_arena *scratch) {
  SEGC_TRY(check_layer(layer));
  const segc_status status =
      dy && dx && scratch
          ? backward_data(layer, dy, dx, accumulate, scratch)
          : SEGC_FAIL(SEGC_ERR_INVALID,
                      "gradients and scratch needed");
  if (status == SEGC_OK) return SEGC_OK;
  char name[96], shape[64];
  return segc_fail_context(status, "%s backward-data on %s",
                           conv3d_describe(&layer->config, name, sizeof name),
                           dx ? segc_shape_str(dx->shape, shape, sizeof shape)
                              : "(no input gradient)");
}

segc_status segc_conv3d_impl_name(const segc_conv3d_config *config,
                                  segc_shape input, segc_dtype dtype,
                                  segc_dtype out_dtype, segc_conv3d_pass pass,
                                  const char **name) {
  const dnnl_data_type_t compute = conv3d_dnnl_dtype(dtype);
  conv3d_key key;
  if (pass == SEGC_CONV3D_BACKWARD_WEIGHTS) {
    key = conv3d_weight_grad_key(config, input, compute);
  } else {
    const bool through_f32 = dtype == SEGC_F32 && out_dtype == SEGC_BF16;
    key = conv3d_make_key(
        pass == SEGC_CONV3D_FORWARD ? CONV3D_FORWARD : CONV3D_BACKWARD_DATA,
        config, input, compute,
        pass == SEGC_CONV3D_FORWARD && !through_f32
            ? conv3d_dnnl_dtype(out_dtype)
            : compute);
  }
  segc_dnnl_cached *conv;
  SEGC_TRY(conv3d_primitive(&key, &conv));
  SEGC_DNNL_CHECK(dnnl_primitive_desc_query(
      conv->desc, dnnl_query_impl_info_str, 0, (void *)name));
  return SEGC_OK;
}

// The graph op: the tape holds x (backward-weights reads it), not y.
typedef struct {
  segc_conv3d *layer;
  segc_value *x, *y;
} conv_saved;

static bool wants_weight_grads(const segc_conv3d *layer) {
  return layer->weight->grad.data ||
         (layer->bias && layer->bias->grad.data);
}

static segc_status conv_backward(segc_graph *graph, void *saved) {
  conv_saved *s = saved;
  const segc_dtype compute = s->x->data.dtype;
  segc_tensor dy;
  bool converted;
  // Convert a gradient of another dtype once for both passes.
  SEGC_TRY(conv3d_dy_in(&s->y->grad, compute, graph->scratch, &dy,
                        &converted));
  segc_status status = SEGC_OK;
  if (s->x->requires_grad) {
    segc_tensor dx;
    bool accumulate;
    status = segc_value_grad_target(graph, s->x, &dx, &accumulate);
    if (status == SEGC_OK)
      status = segc_conv3d_backward_data(s->layer, &dy, &dx, accumulate,
                                         graph->scratch);
  }
  if (status == SEGC_OK && wants_weight_grads(s->layer))
    status = segc_conv3d_backward_weights(s->layer, &s->x->data, &dy,
                                          graph->scratch);
  if (converted) segc_arena_free_tensor(graph->scratch, &dy);
  return status;
}

static segc_status forward_op(segc_graph *graph, segc_conv3d *layer,
                              segc_value *x, segc_dtype out_dtype,
                              segc_value **y) {
  if (out_dtype != SEGC_F32 && out_dtype != SEGC_BF16)
    return SEGC_FAIL(SEGC_ERR_UNSUPPORTED,
                     "output dtype %s, only f32 and bf16",
                     segc_dtype_name(out_dtype));
  segc_shape out;
  SEGC_TRY(conv3d_output_shape(&layer->config, x->data.shape, &out));
  bool record = false;
  if (graph->training) {
    segc_value *inputs[3] = {x, NULL, NULL};
    SEGC_TRY(segc_param_value(graph, layer->weight, &inputs[1]));
    if (layer->bias)
      SEGC_TRY(segc_param_value(graph, layer->bias, &inputs[2]));
    record = segc_graph_needs_tape(graph, inputs, 3);
  }
  SEGC_TRY(segc_graph_new_value(graph, out, out_dtype, SEGC_LAYOUT_NDHWC,
                                record, y));
  segc_status status = apply(layer, &x->data, &(*y)->data, graph->scratch);
  if (status != SEGC_OK) {
    segc_value_release(graph, *y);
    *y = NULL;
    return status;
  }
  if (!record) return SEGC_OK;
  conv_saved *saved;
  SEGC_TRY(segc_graph_alloc_saved(graph, sizeof *saved, (void **)&saved));
  saved->layer = layer;
  saved->x = x;
  saved->y = *y;
  return segc_graph_record(graph, "conv3d", conv_backward, saved, y, 1, &x,
                           1);
}

segc_status segc_conv3d_forward(segc_graph *graph, segc_conv3d *layer,
                                segc_value *x, segc_dtype out_dtype,
                                segc_value **y) {
  SEGC_TRY(check_layer(layer));
  char name[96], shape[64];
  conv3d_describe(&layer->config, name, sizeof name);
  if (!graph || !x || !y)
    return SEGC_FAIL(SEGC_ERR_INVALID, "%s: graph, input and output needed",
                     name);
  const segc_status status = forward_op(graph, layer, x, out_dtype, y);
  if (status == SEGC_OK) return SEGC_OK;
  return segc_fail_context(status, "%s forward on %s", name,
                           segc_shape_str(x->data.shape, shape, sizeof shape));
}
