// conv3d glue, the same on every backend: the layer, the checks, the
// conversion of an output gradient to the compute dtype, and the graph op.
// The arithmetic is in the backend's kernels (conv3d_kernels.h), picked by
// the backend context's device.
#include "layers/conv3d.h"

#include <stdio.h>
#include <string.h>

#include "core/backend.h"
#include "layers/conv3d_kernels.h"

static const conv3d_kernels *const kernels_by_device[SEGC_DEVICE_COUNT] =
    SEGC_BACKEND_KERNELS(&conv3d_cpu_kernels, CONV3D_CUDA_KERNELS);

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

// "conv3d 32->32 k3 s1 p1" (+ " +bias"), for messages.
static const char *describe(const segc_conv3d_config *config, char *buf,
                            int bytes) {
  snprintf(buf, (size_t)bytes, "conv3d %lld->%lld k%d s%d p%d%s",
           (long long)config->in_channels, (long long)config->out_channels,
           config->kernel, config->stride, config->padding,
           config->bias ? " +bias" : "");
  return buf;
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
  describe(config, name, sizeof name);
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
  if (bias) {
    SEGC_TRY(check_param(bias, segc_shape5(1, config->out_channels, 1, 1, 1),
                         name, "bias"));
    if (bias->value.device != weight->value.device)
      return SEGC_FAIL(SEGC_ERR_INVALID,
                       "%s: bias '%s' is on %s, the weight on %s", name,
                       bias->name, segc_device_name(bias->value.device),
                       segc_device_name(weight->value.device));
  }
  const segc_status status =
      kernels_by_device[weight->value.device]->prepared_new(&layer->prepared);
  if (status != SEGC_OK)
    return segc_fail_context(status, "%s", name);
  layer->config = *config;
  layer->weight = weight;
  layer->bias = bias;
  return SEGC_OK;
}

void segc_conv3d_destroy(segc_conv3d *layer) {
  if (!layer) return;
  if (layer->prepared && layer->weight)
    kernels_by_device[layer->weight->value.device]->prepared_free(
        layer->prepared);
  memset(layer, 0, sizeof *layer);
}

static segc_status check_layer(const segc_conv3d *layer) {
  if (!layer || !layer->prepared || !layer->weight)
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "conv3d: layer not initialised (call segc_conv3d_init)");
  return SEGC_OK;
}

// The layer's weights and the backend context on one device (the tensors
// are checked against the context by check_activation).
static segc_status check_backend(const segc_conv3d *layer,
                                 const segc_backend_context *backend) {
  if (!backend || !backend->scratch)
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "conv3d: no backend context (segc_backend_context_init)");
  if (layer->weight->value.device != backend->device)
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "conv3d: the weights are on %s, the backend context on %s",
                     segc_device_name(layer->weight->value.device),
                     segc_device_name(backend->device));
  return SEGC_OK;
}

// An activation tensor: NDHWC, a float dtype the backend has (f32 and bf16
// on the CPU, also f16 on CUDA), the given shape, on `device`.
static segc_status check_activation(const segc_tensor *t, segc_shape want,
                                    segc_device device, const char *what) {
  char got[64], wanted[64];
  if (!t || !t->data)
    return SEGC_FAIL(SEGC_ERR_INVALID, "%s has no data", what);
  if (t->layout != SEGC_LAYOUT_NDHWC)
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "%s must be NDHWC (channels-last), got NCDHW", what);
  if (t->dtype != SEGC_F32 && t->dtype != SEGC_BF16 && t->dtype != SEGC_F16)
    return SEGC_FAIL(SEGC_ERR_UNSUPPORTED, "%s is %s, only f32, bf16 and f16",
                     what, segc_dtype_name(t->dtype));
  SEGC_TRY(segc_backend_require("conv3d", t->device, t->dtype));
  if (t->device != device)
    return SEGC_FAIL(SEGC_ERR_INVALID, "%s is on %s, the layer on %s", what,
                     segc_device_name(t->device), segc_device_name(device));
  if (!segc_shape_equal(t->shape, want))
    return SEGC_FAIL(SEGC_ERR_INVALID, "%s has shape %s, expected %s", what,
                     segc_shape_str(t->shape, got, sizeof got),
                     segc_shape_str(want, wanted, sizeof wanted));
  return SEGC_OK;
}

// Output shape for an input shape, or a message when the input is smaller
// than the kernel.
static segc_status output_shape(const segc_conv3d_config *config,
                                segc_shape input, segc_shape *out) {
  const int64_t sizes[3] = {input.d, input.h, input.w};
  static const char *const axes[3] = {"D", "H", "W"};
  for (int i = 0; i < 3; ++i)
    if (sizes[i] + 2 * config->padding < config->kernel)
      return SEGC_FAIL(SEGC_ERR_INVALID,
                       "input size %lld on axis %s is smaller than the kernel",
                       (long long)sizes[i], axes[i]);
  *out = segc_shape5(input.n, config->out_channels,
                     segc_conv3d_output_size(config, input.d),
                     segc_conv3d_output_size(config, input.h),
                     segc_conv3d_output_size(config, input.w));
  return SEGC_OK;
}

static segc_shape with_channels(segc_shape s, int64_t c) {
  s.c = c;
  return s;
}

// Checks x (the input or its gradient, in_channels) and y (the output or
// its gradient) of one call.
static segc_status check_pair(const segc_conv3d *layer,
                              const segc_backend_context *backend,
                              const segc_tensor *x, const char *x_what,
                              const segc_tensor *y, const char *y_what) {
  SEGC_TRY(check_backend(layer, backend));
  if (!x || !y)
    return SEGC_FAIL(SEGC_ERR_INVALID, "%s and %s needed", x_what, y_what);
  SEGC_TRY(check_activation(x,
                            with_channels(x->shape, layer->config.in_channels),
                            backend->device, x_what));
  segc_shape out;
  SEGC_TRY(output_shape(&layer->config, x->shape, &out));
  return check_activation(y, out, backend->device, y_what);
}

// dy in `dtype`: dy itself, or a converted copy in scratch (*converted: the
// caller frees it). The backward passes compute in the input's dtype.
static segc_status dy_in(segc_backend_context *backend, const segc_tensor *dy,
                         segc_dtype dtype, segc_tensor *out, bool *converted) {
  *out = *dy;
  *converted = false;
  if (dy->dtype == dtype) return SEGC_OK;
  SEGC_TRY(segc_arena_tensor(backend->scratch, dy->shape, dtype, dy->layout,
                             out));
  const segc_status status = segc_tensor_copy(dy, out);
  if (status != SEGC_OK) {
    segc_arena_free_tensor(backend->scratch, out);
    return status;
  }
  *converted = true;
  return SEGC_OK;
}

static segc_status with_context(segc_status status, const segc_conv3d *layer,
                                const char *pass, const segc_tensor *x) {
  if (status == SEGC_OK) return SEGC_OK;
  char name[96], shape[64];
  return segc_fail_context(status, "%s %s on %s",
                           describe(&layer->config, name, sizeof name), pass,
                           x && x->data ? segc_shape_str(x->shape, shape,
                                                         sizeof shape)
                                        : "(no tensor)");
}

static segc_status apply(segc_conv3d *layer, const segc_tensor *x,
                         segc_tensor *y, segc_backend_context *backend) {
  SEGC_TRY(check_pair(layer, backend, x, "input", y, "output"));
  return kernels_by_device[backend->device]->forward(backend, layer, x, y);
}

segc_status segc_conv3d_apply(segc_conv3d *layer, const segc_tensor *x,
                              segc_tensor *y, segc_backend_context *backend) {
  SEGC_TRY(check_layer(layer));
  return with_context(apply(layer, x, y, backend), layer, "forward", x);
}

static segc_status backward_data(segc_conv3d *layer, const segc_tensor *dy,
                                 segc_tensor *dx, bool accumulate,
                                 segc_backend_context *backend) {
  SEGC_TRY(check_pair(layer, backend, dx, "input gradient", dy,
                      "output gradient"));
  segc_tensor diff_dst;
  bool converted;
  SEGC_TRY(dy_in(backend, dy, dx->dtype, &diff_dst, &converted));
  const segc_status status = kernels_by_device[backend->device]->backward_data(
      backend, layer, &diff_dst, dx, accumulate);
  if (converted) segc_arena_free_tensor(backend->scratch, &diff_dst);
  return status;
}

segc_status segc_conv3d_backward_data(segc_conv3d *layer,
                                      const segc_tensor *dy, segc_tensor *dx,
                                      bool accumulate,
                                      segc_backend_context *backend) {
  SEGC_TRY(check_layer(layer));
  return with_context(backward_data(layer, dy, dx, accumulate, backend), layer,
                      "backward-data", dx);
}

static segc_status backward_weights(segc_conv3d *layer, const segc_tensor *x,
                                    const segc_tensor *dy,
                                    segc_backend_context *backend) {
  SEGC_TRY(check_pair(layer, backend, x, "input", dy, "output gradient"));
  segc_tensor diff_dst;
  bool converted;
  SEGC_TRY(dy_in(backend, dy, x->dtype, &diff_dst, &converted));
  const segc_status status =
      kernels_by_device[backend->device]->backward_weights(backend, layer, x,
                                                           &diff_dst);
  if (converted) segc_arena_free_tensor(backend->scratch, &diff_dst);
  return status;
}

segc_status segc_conv3d_backward_weights(segc_conv3d *layer,
                                         const segc_tensor *x,
                                         const segc_tensor *dy,
                                         segc_backend_context *backend) {
  SEGC_TRY(check_layer(layer));
  return with_context(backward_weights(layer, x, dy, backend), layer,
                      "backward-weights", x);
}

segc_status segc_conv3d_impl_name(segc_backend_context *backend,
                                  const segc_conv3d_config *config,
                                  segc_shape input, segc_dtype dtype,
                                  segc_dtype out_dtype, segc_conv3d_pass pass,
                                  const char **name) {
  if (!backend || !backend->scratch)
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "conv3d: no backend context (segc_backend_context_init)");
  SEGC_TRY(segc_backend_require("conv3d", backend->device, dtype));
  return kernels_by_device[backend->device]->impl_name(
      backend, config, input, dtype, out_dtype, pass, name);
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
  segc_backend_context *backend = graph->backend;
  segc_tensor dy;
  bool converted;
  // Convert a gradient of another dtype once for both passes.
  SEGC_TRY(dy_in(backend, &s->y->grad, s->x->data.dtype, &dy, &converted));
  segc_status status = SEGC_OK;
  if (s->x->requires_grad) {
    segc_tensor dx;
    bool accumulate;
    status = segc_value_grad_target(graph, s->x, &dx, &accumulate);
    if (status == SEGC_OK)
      status = segc_conv3d_backward_data(s->layer, &dy, &dx, accumulate,
                                         backend);
  }
  if (status == SEGC_OK && wants_weight_grads(s->layer))
    status = segc_conv3d_backward_weights(s->layer, &s->x->data, &dy, backend);
  if (converted) segc_arena_free_tensor(backend->scratch, &dy);
  return status;
}

static segc_status forward_op(segc_graph *graph, segc_conv3d *layer,
                              segc_value *x, segc_dtype out_dtype,
                              segc_value **y) {
  if (out_dtype != SEGC_F32 && out_dtype != SEGC_BF16 && out_dtype != SEGC_F16)
    return SEGC_FAIL(SEGC_ERR_UNSUPPORTED,
                     "output dtype %s, only f32, bf16 and f16",
                     segc_dtype_name(out_dtype));
  segc_shape out;
  SEGC_TRY(output_shape(&layer->config, x->data.shape, &out));
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
  segc_status status = apply(layer, &x->data, &(*y)->data, graph->backend);
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
  describe(&layer->config, name, sizeof name);
  if (!graph || !x || !y)
    return SEGC_FAIL(SEGC_ERR_INVALID, "%s: graph, input and output needed",
                     name);
  const segc_status status = forward_op(graph, layer, x, out_dtype, y);
  if (status == SEGC_OK) return SEGC_OK;
  return segc_fail_context(status, "%s forward on %s", name,
                           segc_shape_str(x->data.shape, shape, sizeof shape));
}
