// conv3d kernels on CUDA: cuDNN 9 through its legacy convolution API
// (cudnnConvolutionForward, cudnnConvolutionBackwardData,
// cudnnConvolutionBackwardFilter). Chosen over the graph (backend) API
// because its three calls map one to one onto conv3d_kernels.h, take NDHWC
// data and a channels-last filter directly, and pick algorithms through
// ranked heuristics that need no engine-config plumbing; cuDNN 9 still
// ships it (deprecation warnings are opt-in, CUDNN_WARN_DEPRECATED). Moving
// to the graph API is local to this file and conv3d_plans_cuda.cu (plans:
// descriptors and the algorithm choice), docs/CUDA.md.
//
// Per shape the backend context's CUDA state caches a plan: descriptors,
// the algorithm picked once from cudnnGet*Algorithm_v7's ranking
// (conv3d_cuda_pick: deterministic algorithms only while
// segc_conv3d_deterministic() is on, the CPU's policy) and its workspace
// size. Workspaces and every temporary come from the context's scratch arena
// (device memory); the layer's weight copies (ODHWI, one per values and
// storage dtype) are allocated once per layer and kind, like the CPU's. Every call runs on
// cudaStreamPerThread; scratch is handed back right after queueing, which
// is safe because everything that reuses it runs on the same stream.
#include <stdio.h>
#include <stdlib.h>

#include "core/cuda_state.h"
#include "layers/conv3d_cuda.cuh"
#include "layers/conv3d_cuda_kernels.cuh"

extern "C" {
#include "core/cuda_runtime.h"
#include "layers/conv3d_kernels.h"
}

// ---- weight copies ---------------------------------------------------------

typedef struct {
  void *data;  // device, ODHWI in the slot's dtype
  size_t bytes;
  uint64_t version;    // param->version it was made from
  const void *source;  // param->value.data it was made from
  bool valid;
} weight_copy;

// The layer's opaque segc_conv3d_prepared on CUDA (a type of its own, so the
// CPU's struct of that name is the only one).
typedef struct {
  weight_copy copies[CONV3D_CUDA_WEIGHT_SLOTS];  // conv3d_cuda_weight_slot
} cuda_prepared;

static cuda_prepared *prepared_of(segc_conv3d *layer) {
  return (cuda_prepared *)layer->prepared;
}

static segc_status prepared_new(segc_conv3d_prepared **out) {
  *out = (segc_conv3d_prepared *)calloc(1, sizeof(cuda_prepared));
  if (!*out)
    return SEGC_FAIL(SEGC_ERR_NOMEM, "no memory for the layer's weight copies");
  return SEGC_OK;
}

static void prepared_free(segc_conv3d_prepared *opaque) {
  cuda_prepared *prepared = (cuda_prepared *)opaque;
  for (int i = 0; i < CONV3D_CUDA_WEIGHT_SLOTS; ++i)
    segc_cuda_free(prepared->copies[i].data);
  free(prepared);
}

static segc_status launched(const char *what) {
  return segc_cuda_check_last(what);
}

// The weights as ODHWI in the route's io dtype holding its values' dtype,
// converted from the f32 OIDHW master only when the parameter changed
// (version or storage).
static segc_status prepared_weights(segc_conv3d *layer,
                                    const conv3d_cuda_route *route,
                                    void **out) {
  const segc_dtype dtype = route->io;
  const int values = (int)route->values;
  weight_copy *copy =
      &prepared_of(layer)->copies[conv3d_cuda_weight_slot(route)];
  const segc_param *master = layer->weight;
  if (copy->valid && copy->version == master->version &&
      copy->source == master->value.data) {
    *out = copy->data;
    return SEGC_OK;
  }
  copy->valid = false;
  const int64_t count = segc_tensor_numel(&master->value);
  const size_t bytes = (size_t)count * segc_dtype_size(dtype);
  if (copy->bytes < bytes) {
    segc_cuda_free(copy->data);
    copy->data = NULL;
    copy->bytes = 0;
    // Once per layer and dtype: setup, not the hot loop.
    SEGC_TRY(segc_cuda_malloc(&copy->data, bytes, "conv3d weight copy"));
    copy->bytes = bytes;
  }
  const int64_t cin = layer->config.in_channels, k = layer->config.kernel;
  const float *src = (const float *)master->value.data;
  const unsigned grid = segc_cuda_blocks(count);
  cudaStream_t stream = cudaStreamPerThread;
  if (dtype == SEGC_BF16)
    conv3d_weights_to_odhwi<<<grid, SEGC_CUDA_THREADS, 0, stream>>>(
        src, (__nv_bfloat16 *)copy->data, count, cin, k, values);
  else if (dtype == SEGC_F16)
    conv3d_weights_to_odhwi<<<grid, SEGC_CUDA_THREADS, 0, stream>>>(
        src, (__half *)copy->data, count, cin, k, values);
  else
    conv3d_weights_to_odhwi<<<grid, SEGC_CUDA_THREADS, 0, stream>>>(
        src, (float *)copy->data, count, cin, k, values);
  SEGC_TRY(launched("conv3d weight copy"));
  copy->version = master->version;
  copy->source = master->value.data;
  copy->valid = true;
  *out = copy->data;
  return SEGC_OK;
}

static segc_status check_sizes(const segc_tensor *a, const segc_tensor *b) {
  const segc_tensor *const tensors[2] = {a, b};
  for (int i = 0; i < 2; ++i)
    if (!conv3d_cuda_fits_int(tensors[i]->shape))
      return SEGC_FAIL(SEGC_ERR_UNSUPPORTED,
                       "conv3d: cuDNN takes at most %d elements per tensor, "
                       "a tensor has %lld (use a smaller batch or window)",
                       INT_MAX, (long long)segc_tensor_numel(tensors[i]));
  return SEGC_OK;
}

static conv3d_cuda_key plan_key(segc_backend_context *backend,
                                conv3d_cuda_pass pass,
                                const segc_conv3d_config *config,
                                segc_shape input,
                                const conv3d_cuda_route *route) {
  return conv3d_cuda_make_key(
      pass, config, input, route, segc_conv3d_deterministic(),
      conv3d_cuda_workspace_limit(backend->scratch->capacity));
}

// ---- scratch ---------------------------------------------------------------

enum { MAX_TEMPS = 6 };

// The temporaries of one call, handed back together in reverse order.
typedef struct {
  segc_arena *arena;
  void *ptr[MAX_TEMPS];
  size_t bytes[MAX_TEMPS];
  int count;
} temps;

static segc_status take(temps *t, size_t bytes, void **out) {
  *out = NULL;
  if (bytes == 0) return SEGC_OK;
  if (t->count == MAX_TEMPS)
    return SEGC_FAIL(SEGC_ERR_INTERNAL, "conv3d: too many temporaries");
  SEGC_TRY(segc_arena_alloc(t->arena, bytes, out));
  t->ptr[t->count] = *out;
  t->bytes[t->count++] = bytes;
  return SEGC_OK;
}

static void give_back(temps *t) {
  while (t->count > 0) {
    --t->count;
    segc_arena_free(t->arena, t->ptr[t->count], t->bytes[t->count]);
  }
}

// An f32 copy of `t` in scratch.
static segc_status f32_copy(temps *tmp, const segc_tensor *t, float **out) {
  const int64_t count = segc_tensor_numel(t);
  void *p;
  SEGC_TRY(take(tmp, sizeof(float) * (size_t)count, &p));
  *out = (float *)p;
  const unsigned grid = segc_cuda_blocks(count);
  cudaStream_t stream = cudaStreamPerThread;
  if (t->dtype == SEGC_BF16)
    conv3d_to_f32_kernel<<<grid, SEGC_CUDA_THREADS, 0, stream>>>(
        (const __nv_bfloat16 *)t->data, *out, count);
  else if (t->dtype == SEGC_F16)
    conv3d_to_f32_kernel<<<grid, SEGC_CUDA_THREADS, 0, stream>>>((const __half *)t->data,
                                                   *out, count);
  else
    conv3d_to_f32_kernel<<<grid, SEGC_CUDA_THREADS, 0, stream>>>((const float *)t->data,
                                                   *out, count);
  return launched("conv3d input conversion");
}

// ---- the passes ------------------------------------------------------------

static const float one = 1.0f, zero = 0.0f;

static segc_status finish_output(const float *in, const float *bias,
                                 segc_tensor *y) {
  const int64_t count = segc_tensor_numel(y), channels = y->shape.c;
  const unsigned grid = segc_cuda_blocks(count);
  cudaStream_t stream = cudaStreamPerThread;
  if (y->dtype == SEGC_BF16)
    conv3d_finish_output<<<grid, SEGC_CUDA_THREADS, 0, stream>>>(
        in, bias, (__nv_bfloat16 *)y->data, count, channels);
  else if (y->dtype == SEGC_F16)
    conv3d_finish_output<<<grid, SEGC_CUDA_THREADS, 0, stream>>>(
        in, bias, (__half *)y->data, count, channels);
  else
    conv3d_finish_output<<<grid, SEGC_CUDA_THREADS, 0, stream>>>(
        in, bias, (float *)y->data, count, channels);
  return launched("conv3d bias and output conversion");
}

static segc_status run_forward(segc_backend_context *backend,
                               segc_conv3d *layer, const segc_tensor *x,
                               segc_tensor *y, temps *tmp) {
  const conv3d_cuda_route route =
      conv3d_cuda_forward_route(x->dtype, y->dtype, layer->bias != NULL);
  const conv3d_cuda_key key =
      plan_key(backend, CONV3D_CUDA_FORWARD, &layer->config, x->shape, &route);
  conv3d_cuda_plan *plan;
  SEGC_TRY(conv3d_cuda_get_plan(backend, &key, &plan));
  void *weights;
  SEGC_TRY(prepared_weights(layer, &route, &weights));
  const void *src = x->data;
  if (route.convert_inputs) {
    float *converted;
    SEGC_TRY(f32_copy(tmp, x, &converted));
    src = converted;
  }
  void *dst = y->data;
  if (route.output_aside)
    SEGC_TRY(take(tmp, sizeof(float) * (size_t)segc_tensor_numel(y), &dst));
  void *workspace;
  SEGC_TRY(take(tmp, plan->workspace, &workspace));
  SEGC_CUDNN_CHECK(cudnnConvolutionForward(
      segc_cuda_state_of(backend)->cudnn, &one, plan->x, src, plan->w,
      weights, plan->conv, (cudnnConvolutionFwdAlgo_t)plan->algo, workspace,
      plan->workspace, &zero, plan->y, dst));
  if (!route.add_bias && !route.output_aside) return SEGC_OK;
  return finish_output((const float *)dst,
                       layer->bias ? (const float *)layer->bias->value.data
                                   : NULL,
                       y);
}

static segc_status forward(segc_backend_context *backend, segc_conv3d *layer,
                           const segc_tensor *x, segc_tensor *y) {
  SEGC_TRY(check_sizes(x, y));
  temps tmp = {backend->scratch, {NULL}, {0}, 0};
  const segc_status status = run_forward(backend, layer, x, y, &tmp);
  give_back(&tmp);
  return status;
}

static segc_status backward_data(segc_backend_context *backend,
                                 segc_conv3d *layer, const segc_tensor *dy,
                                 segc_tensor *dx, bool accumulate) {
  SEGC_TRY(check_sizes(dx, dy));
  const conv3d_cuda_route route = conv3d_cuda_backward_data_route(dx->dtype);
  const conv3d_cuda_key key = plan_key(backend, CONV3D_CUDA_BACKWARD_DATA,
                                       &layer->config, dx->shape, &route);
  conv3d_cuda_plan *plan;
  SEGC_TRY(conv3d_cuda_get_plan(backend, &key, &plan));
  void *weights;
  SEGC_TRY(prepared_weights(layer, &route, &weights));
  temps tmp = {backend->scratch, {NULL}, {0}, 0};
  void *workspace;
  segc_status status = take(&tmp, plan->workspace, &workspace);
  // Accumulating is cuDNN's beta = 1: one rounding, no temporary.
  const float beta = accumulate ? 1.0f : 0.0f;
  if (status == SEGC_OK)
    status = SEGC_CUDNN_RESULT(cudnnConvolutionBackwardData(
        segc_cuda_state_of(backend)->cudnn, &one, plan->w, weights, plan->y,
        dy->data, plan->conv, (cudnnConvolutionBwdDataAlgo_t)plan->algo,
        workspace, plan->workspace, &beta, plan->x, dx->data));
  give_back(&tmp);
  return status;
}

static segc_status weight_gradient(segc_backend_context *backend,
                                   segc_conv3d *layer, const segc_tensor *x,
                                   const segc_tensor *dy, temps *tmp) {
  const conv3d_cuda_route route =
      conv3d_cuda_backward_weights_route(x->dtype);
  const conv3d_cuda_key key = plan_key(backend, CONV3D_CUDA_BACKWARD_WEIGHTS,
                                       &layer->config, x->shape, &route);
  conv3d_cuda_plan *plan;
  SEGC_TRY(conv3d_cuda_get_plan(backend, &key, &plan));
  const void *xs = x->data, *dys = dy->data;
  if (route.convert_inputs) {
    float *cx, *cdy;
    SEGC_TRY(f32_copy(tmp, x, &cx));
    SEGC_TRY(f32_copy(tmp, dy, &cdy));
    xs = cx;
    dys = cdy;
  }
  segc_tensor *grad = &layer->weight->grad;
  const int64_t count = segc_tensor_numel(grad);
  void *dw, *workspace;
  SEGC_TRY(take(tmp, sizeof(float) * (size_t)count, &dw));
  SEGC_TRY(take(tmp, plan->workspace, &workspace));
  SEGC_CUDNN_CHECK(cudnnConvolutionBackwardFilter(
      segc_cuda_state_of(backend)->cudnn, &one, plan->x, xs, plan->y, dys,
      plan->conv, (cudnnConvolutionBwdFilterAlgo_t)plan->algo, workspace,
      plan->workspace, &zero, plan->w, dw));
  conv3d_grad_add_from_odhwi<<<segc_cuda_blocks(count), SEGC_CUDA_THREADS, 0,
                               cudaStreamPerThread>>>(
      (float *)grad->data, (const float *)dw, count,
      layer->config.in_channels, layer->config.kernel);
  return launched("conv3d weight gradient");
}

static segc_status bias_gradient(const segc_tensor *dy, float *db,
                                 temps *tmp) {
  const int64_t channels = dy->shape.c;
  const int64_t rows = segc_tensor_numel(dy) / channels;
  const int64_t chunks = conv3d_cuda_bias_chunks(rows);
  void *partials;
  SEGC_TRY(take(tmp, sizeof(float) * (size_t)(chunks * channels), &partials));
  const dim3 grid((unsigned)chunks,
                  (unsigned)((channels + CONV3D_BIAS_CHANNELS - 1) /
                             CONV3D_BIAS_CHANNELS));
  const dim3 block(CONV3D_BIAS_CHANNELS, CONV3D_BIAS_LANES);
  cudaStream_t stream = cudaStreamPerThread;
  float *p = (float *)partials;
  if (dy->dtype == SEGC_BF16)
    conv3d_bias_partials<<<grid, block, 0, stream>>>(
        (const __nv_bfloat16 *)dy->data, p, rows, channels);
  else if (dy->dtype == SEGC_F16)
    conv3d_bias_partials<<<grid, block, 0, stream>>>((const __half *)dy->data,
                                                     p, rows, channels);
  else
    conv3d_bias_partials<<<grid, block, 0, stream>>>((const float *)dy->data,
                                                     p, rows, channels);
  SEGC_TRY(launched("conv3d bias gradient"));
  conv3d_bias_finish<<<segc_cuda_blocks(channels), SEGC_CUDA_THREADS, 0,
                       stream>>>(p, db, chunks, channels);
  return launched("conv3d bias gradient");
}

static segc_status backward_weights(segc_backend_context *backend,
                                    segc_conv3d *layer, const segc_tensor *x,
                                    const segc_tensor *dy) {
  SEGC_TRY(check_sizes(x, dy));
  temps tmp = {backend->scratch, {NULL}, {0}, 0};
  segc_status status = SEGC_OK;
  if (layer->weight->grad.data)
    status = weight_gradient(backend, layer, x, dy, &tmp);
  give_back(&tmp);
  if (status == SEGC_OK && layer->bias && layer->bias->grad.data) {
    status = bias_gradient(dy, (float *)layer->bias->grad.data, &tmp);
    give_back(&tmp);
  }
  return status;
}

static segc_status impl_name(segc_backend_context *backend,
                             const segc_conv3d_config *config,
                             segc_shape input, segc_dtype dtype,
                             segc_dtype out_dtype, segc_conv3d_pass pass,
                             const char **name) {
  conv3d_cuda_route route;
  conv3d_cuda_pass which;
  if (pass == SEGC_CONV3D_FORWARD) {
    route = conv3d_cuda_forward_route(dtype, out_dtype, config->bias);
    which = CONV3D_CUDA_FORWARD;
  } else if (pass == SEGC_CONV3D_BACKWARD_DATA) {
    route = conv3d_cuda_backward_data_route(dtype);
    which = CONV3D_CUDA_BACKWARD_DATA;
  } else {
    route = conv3d_cuda_backward_weights_route(dtype);
    which = CONV3D_CUDA_BACKWARD_WEIGHTS;
  }
  if (!conv3d_cuda_fits_int(input))
    return SEGC_FAIL(SEGC_ERR_UNSUPPORTED,
                     "conv3d: cuDNN takes at most %d elements per tensor",
                     INT_MAX);
  const conv3d_cuda_key key = plan_key(backend, which, config, input, &route);
  conv3d_cuda_plan *plan;
  SEGC_TRY(conv3d_cuda_get_plan(backend, &key, &plan));
  *name = plan->name;
  return SEGC_OK;
}

extern "C" const conv3d_kernels conv3d_cuda_kernels = {
    prepared_new, prepared_free,    forward,
    backward_data, backward_weights, impl_name,
};
