// conv3d kernels on CUDA: cuDNN 9 through its legacy convolution API
// (cudnnConvolutionForward, cudnnConvolutionBackwardData,
// cudnnConvolutionBackwardFilter). Chosen over the graph (backend) API
// because its three calls map one to one onto conv3d_kernels.h, take NDHWC
// data and a channels-last filter directly, and pick algorithms through
// ranked heuristics that need no engine-config plumbing; cuDNN 9 still
// ships it (deprecation warnings are opt-in, CUDNN_WARN_DEPRECATED). Moving
// to the graph API is local to this file (docs/CUDA.md).
//
// Per shape the backend context's CUDA state caches a plan: descriptors,
// the algorithm picked once from cudnnGet*Algorithm_v7's ranking
// (conv3d_cuda_pick: deterministic algorithms only while
// segc_conv3d_deterministic() is on, the CPU's policy) and its workspace
// size. Workspaces and every temporary come from the context's scratch arena
// (device memory); the layer's weight copies (ODHWI, one per compute dtype)
// are allocated once per layer and dtype, like the CPU's. Every call runs on
// cudaStreamPerThread; scratch is handed back right after queueing, which
// is safe because everything that reuses it runs on the same stream.
#include <stdio.h>
#include <stdlib.h>

#include "core/cuda_state.h"
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
  weight_copy copies[SEGC_DTYPE_COUNT];  // indexed by compute dtype
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
  for (int i = 0; i < SEGC_DTYPE_COUNT; ++i)
    segc_cuda_free(prepared->copies[i].data);
  free(prepared);
}

static unsigned grid_for(int64_t count) {
  const int64_t blocks = (count + 255) / 256;
  return (unsigned)(blocks < 1 ? 1 : blocks > 65535 ? 65535 : blocks);
}

static segc_status launched(const char *what) {
  return segc_cuda_check_last(what);
}

// The weights as ODHWI in `dtype`, converted from the f32 OIDHW master only
// when the parameter changed (version or storage).
static segc_status prepared_weights(segc_conv3d *layer, segc_dtype dtype,
                                    void **out) {
  weight_copy *copy = &prepared_of(layer)->copies[dtype];
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
  const unsigned grid = grid_for(count);
  cudaStream_t stream = cudaStreamPerThread;
  if (dtype == SEGC_BF16)
    conv3d_weights_to_odhwi<<<grid, 256, 0, stream>>>(
        src, (__nv_bfloat16 *)copy->data, count, cin, k);
  else if (dtype == SEGC_F16)
    conv3d_weights_to_odhwi<<<grid, 256, 0, stream>>>(
        src, (__half *)copy->data, count, cin, k);
  else
    conv3d_weights_to_odhwi<<<grid, 256, 0, stream>>>(
        src, (float *)copy->data, count, cin, k);
  SEGC_TRY(launched("conv3d weight copy"));
  copy->version = master->version;
  copy->source = master->value.data;
  copy->valid = true;
  *out = copy->data;
  return SEGC_OK;
}

// ---- plans -----------------------------------------------------------------

typedef struct {
  cudnnTensorDescriptor_t x, y;  // the input side (x, dx), output (y, dy)
  cudnnFilterDescriptor_t w;     // ODHWI (cuDNN's NHWC filter format)
  cudnnConvolutionDescriptor_t conv;
  int algo;
  size_t workspace;  // bytes
  char name[96];
} conv_plan;

static void plan_destroy(void *value) {
  conv_plan *plan = (conv_plan *)value;
  if (!plan) return;
  if (plan->conv) cudnnDestroyConvolutionDescriptor(plan->conv);
  if (plan->w) cudnnDestroyFilterDescriptor(plan->w);
  if (plan->y) cudnnDestroyTensorDescriptor(plan->y);
  if (plan->x) cudnnDestroyTensorDescriptor(plan->x);
  free(plan);
}

static cudnnDataType_t cudnn_dtype(int64_t dtype) {
  return dtype == SEGC_BF16  ? CUDNN_DATA_BFLOAT16
         : dtype == SEGC_F16 ? CUDNN_DATA_HALF
                             : CUDNN_DATA_FLOAT;
}

static segc_shape key_input(const conv3d_cuda_key *k) {
  return segc_shape5(k->n, k->cin, k->d, k->h, k->w);
}

static segc_shape key_output(const conv3d_cuda_key *k) {
  const segc_conv3d_config config = {k->cin, k->cout, (int)k->kernel,
                                     (int)k->stride, (int)k->padding, false};
  return segc_shape5(k->n, k->cout, segc_conv3d_output_size(&config, k->d),
                     segc_conv3d_output_size(&config, k->h),
                     segc_conv3d_output_size(&config, k->w));
}

static segc_status set_ndhwc(cudnnTensorDescriptor_t desc, segc_shape s,
                             cudnnDataType_t dtype) {
  int dims[5], strides[5];
  conv3d_cuda_ndhwc_desc(s, dims, strides);
  SEGC_CUDNN_CHECK(cudnnSetTensorNdDescriptor(desc, dtype, 5, dims, strides));
  return SEGC_OK;
}

static segc_status describe_plan(conv_plan *plan, const conv3d_cuda_key *k) {
  const cudnnDataType_t io = cudnn_dtype(k->io);
  SEGC_CUDNN_CHECK(cudnnCreateTensorDescriptor(&plan->x));
  SEGC_CUDNN_CHECK(cudnnCreateTensorDescriptor(&plan->y));
  SEGC_CUDNN_CHECK(cudnnCreateFilterDescriptor(&plan->w));
  SEGC_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&plan->conv));
  SEGC_TRY(set_ndhwc(plan->x, key_input(k), io));
  SEGC_TRY(set_ndhwc(plan->y, key_output(k), io));
  const int filter[5] = {(int)k->cout, (int)k->cin, (int)k->kernel,
                         (int)k->kernel, (int)k->kernel};
  SEGC_CUDNN_CHECK(
      cudnnSetFilterNdDescriptor(plan->w, io, CUDNN_TENSOR_NHWC, 5, filter));
  const int pad[3] = {(int)k->padding, (int)k->padding, (int)k->padding};
  const int stride[3] = {(int)k->stride, (int)k->stride, (int)k->stride};
  const int dilation[3] = {1, 1, 1};
  // f32 accumulation for every dtype.
  SEGC_CUDNN_CHECK(cudnnSetConvolutionNdDescriptor(
      plan->conv, 3, pad, stride, dilation, CUDNN_CROSS_CORRELATION,
      CUDNN_DATA_FLOAT));
  SEGC_CUDNN_CHECK(cudnnSetConvolutionMathType(
      plan->conv, k->math == CONV3D_CUDA_MATH_FMA ? CUDNN_FMA_MATH
                                                  : CUDNN_TENSOR_OP_MATH));
  // cuDNN's output size must be segc's (a mismatch is a bug here).
  int out[5];
  SEGC_CUDNN_CHECK(cudnnGetConvolutionNdForwardOutputDim(plan->conv, plan->x,
                                                         plan->w, 5, out));
  const segc_shape want = key_output(k);
  if (out[0] != want.n || out[1] != want.c || out[2] != want.d ||
      out[3] != want.h || out[4] != want.w)
    return SEGC_FAIL(SEGC_ERR_INTERNAL,
                     "conv3d: cuDNN's output %dx%dx%dx%dx%d differs from "
                     "segc's",
                     out[0], out[1], out[2], out[3], out[4]);
  return SEGC_OK;
}

static const char *const forward_algos[] = {
    "implicit_gemm", "implicit_precomp_gemm", "gemm", "direct",
    "fft",           "fft_tiling",            "winograd",
    "winograd_nonfused"};
static const char *const backward_data_algos[] = {
    "algo_0", "algo_1", "fft", "fft_tiling", "winograd", "winograd_nonfused"};
static const char *const backward_filter_algos[] = {
    "algo_0", "algo_1", "fft", "algo_3", "winograd", "winograd_nonfused",
    "fft_tiling"};

static const char *algo_name(int64_t pass, int algo) {
  const char *const *names = forward_algos;
  int count = (int)(sizeof forward_algos / sizeof *forward_algos);
  if (pass == CONV3D_CUDA_BACKWARD_DATA) {
    names = backward_data_algos;
    count = (int)(sizeof backward_data_algos / sizeof *backward_data_algos);
  } else if (pass == CONV3D_CUDA_BACKWARD_WEIGHTS) {
    names = backward_filter_algos;
    count =
        (int)(sizeof backward_filter_algos / sizeof *backward_filter_algos);
  }
  return algo >= 0 && algo < count ? names[algo] : "unknown";
}

static const char *pass_name(int64_t pass) {
  return pass == CONV3D_CUDA_FORWARD         ? "forward"
         : pass == CONV3D_CUDA_BACKWARD_DATA ? "backward-data"
                                             : "backward-weights";
}

static const char *math_name(int math) {
  return math == CONV3D_CUDNN_FMA_MATH         ? "fma"
         : math == CONV3D_CUDNN_TENSOR_OP_MATH ? "tensor_op"
                                               : "default";
}

// The same fields from each pass's perf struct.
template <typename Perf>
static int to_candidates(const Perf *perf, int returned,
                         conv3d_cuda_candidate *out) {
  for (int i = 0; i < returned; ++i) {
    out[i].algo = (int)perf[i].algo;
    out[i].ok = perf[i].status == CUDNN_STATUS_SUCCESS;
    out[i].memory = perf[i].memory;
    out[i].deterministic = perf[i].determinism == CUDNN_DETERMINISTIC;
    out[i].math = (int)perf[i].mathType;
  }
  return returned;
}

enum { MAX_ALGOS = 16 };

// Asks cuDNN's heuristics for its ranking and picks the first usable
// algorithm; sets the descriptor's math type and the workspace size.
static segc_status choose_algorithm(cudnnHandle_t handle, conv_plan *plan,
                                    const conv3d_cuda_key *k) {
  conv3d_cuda_candidate candidates[MAX_ALGOS];
  int returned = 0;
  if (k->pass == CONV3D_CUDA_FORWARD) {
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    SEGC_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(
        handle, plan->x, plan->w, plan->conv, plan->y,
        CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &returned, perf));
    to_candidates(perf, returned, candidates);
  } else if (k->pass == CONV3D_CUDA_BACKWARD_DATA) {
    cudnnConvolutionBwdDataAlgoPerf_t
        perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    SEGC_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(
        handle, plan->w, plan->y, plan->conv, plan->x,
        CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &returned, perf));
    to_candidates(perf, returned, candidates);
  } else {
    cudnnConvolutionBwdFilterAlgoPerf_t
        perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    SEGC_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(
        handle, plan->x, plan->y, plan->conv, plan->w,
        CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &returned, perf));
    to_candidates(perf, returned, candidates);
  }
  const size_t limit = (size_t)k->workspace_limit;
  const int pick = conv3d_cuda_pick(candidates, returned, limit,
                                    k->deterministic != 0,
                                    (conv3d_cuda_math)k->math);
  if (pick < 0)
    return SEGC_FAIL(SEGC_ERR_UNSUPPORTED,
                     "conv3d: cuDNN ranks no usable %s algorithm for this "
                     "shape (%d ranked; workspace limit %zu bytes, half the "
                     "scratch arena%s)",
                     pass_name(k->pass), returned, limit,
                     k->deterministic ? "; deterministic only" : "");
  const conv3d_cuda_candidate *c = &candidates[pick];
  const int math =
      conv3d_cuda_run_math((conv3d_cuda_math)k->math, c->math);
  SEGC_CUDNN_CHECK(
      cudnnSetConvolutionMathType(plan->conv, (cudnnMathType_t)math));
  plan->algo = c->algo;
  size_t bytes = 0;
  if (k->pass == CONV3D_CUDA_FORWARD)
    SEGC_CUDNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(
        handle, plan->x, plan->w, plan->conv, plan->y,
        (cudnnConvolutionFwdAlgo_t)c->algo, &bytes));
  else if (k->pass == CONV3D_CUDA_BACKWARD_DATA)
    SEGC_CUDNN_CHECK(cudnnGetConvolutionBackwardDataWorkspaceSize(
        handle, plan->w, plan->y, plan->conv, plan->x,
        (cudnnConvolutionBwdDataAlgo_t)c->algo, &bytes));
  else
    SEGC_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterWorkspaceSize(
        handle, plan->x, plan->y, plan->conv, plan->w,
        (cudnnConvolutionBwdFilterAlgo_t)c->algo, &bytes));
  plan->workspace = bytes > c->memory ? bytes : c->memory;
  snprintf(plan->name, sizeof plan->name, "cudnn:%s:%s:%s%s",
           pass_name(k->pass), algo_name(k->pass, c->algo), math_name(math),
           c->deterministic ? "" : ":nondeterministic");
  return SEGC_OK;
}

// The plan for `key` from the context's cache, built on first use.
static segc_status get_plan(segc_backend_context *backend,
                            const conv3d_cuda_key *key, conv_plan **out) {
  segc_cuda_state *state = segc_cuda_state_of(backend);
  if (!state)
    return SEGC_FAIL(SEGC_ERR_INTERNAL,
                     "conv3d: the backend context has no CUDA state");
  *out = (conv_plan *)segc_plan_cache_find(state->plans, key, sizeof *key);
  if (*out) return SEGC_OK;
  conv_plan *plan = (conv_plan *)calloc(1, sizeof(conv_plan));
  if (!plan)
    return SEGC_FAIL(SEGC_ERR_NOMEM, "conv3d: no memory for a cuDNN plan");
  segc_status status = describe_plan(plan, key);
  if (status == SEGC_OK) status = choose_algorithm(state->cudnn, plan, key);
  if (status != SEGC_OK) {
    plan_destroy(plan);
    return status;
  }
  SEGC_TRY(segc_plan_cache_insert(state->plans, key, sizeof *key, plan,
                                  plan_destroy));
  *out = plan;
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
  const unsigned grid = grid_for(count);
  cudaStream_t stream = cudaStreamPerThread;
  if (t->dtype == SEGC_BF16)
    conv3d_to_f32_kernel<<<grid, 256, 0, stream>>>(
        (const __nv_bfloat16 *)t->data, *out, count);
  else if (t->dtype == SEGC_F16)
    conv3d_to_f32_kernel<<<grid, 256, 0, stream>>>((const __half *)t->data,
                                                   *out, count);
  else
    conv3d_to_f32_kernel<<<grid, 256, 0, stream>>>((const float *)t->data,
                                                   *out, count);
  return launched("conv3d input conversion");
}

// ---- the passes ------------------------------------------------------------

static const float one = 1.0f, zero = 0.0f;

static segc_status finish_output(const float *in, const float *bias,
                                 segc_tensor *y) {
  const int64_t count = segc_tensor_numel(y), channels = y->shape.c;
  const unsigned grid = grid_for(count);
  cudaStream_t stream = cudaStreamPerThread;
  if (y->dtype == SEGC_BF16)
    conv3d_finish_output<<<grid, 256, 0, stream>>>(
        in, bias, (__nv_bfloat16 *)y->data, count, channels);
  else if (y->dtype == SEGC_F16)
    conv3d_finish_output<<<grid, 256, 0, stream>>>(
        in, bias, (__half *)y->data, count, channels);
  else
    conv3d_finish_output<<<grid, 256, 0, stream>>>(
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
  conv_plan *plan;
  SEGC_TRY(get_plan(backend, &key, &plan));
  void *weights;
  SEGC_TRY(prepared_weights(layer, route.io, &weights));
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
  conv_plan *plan;
  SEGC_TRY(get_plan(backend, &key, &plan));
  void *weights;
  SEGC_TRY(prepared_weights(layer, route.io, &weights));
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
  conv_plan *plan;
  SEGC_TRY(get_plan(backend, &key, &plan));
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
  conv3d_grad_add_from_odhwi<<<grid_for(count), 256, 0, cudaStreamPerThread>>>(
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
  conv3d_bias_finish<<<grid_for(channels), 256, 0, stream>>>(p, db, chunks,
                                                             channels);
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
  conv_plan *plan;
  SEGC_TRY(get_plan(backend, &key, &plan));
  *name = plan->name;
  return SEGC_OK;
}

extern "C" const conv3d_kernels conv3d_cuda_kernels = {
    prepared_new, prepared_free,    forward,
    backward_data, backward_weights, impl_name,
};
