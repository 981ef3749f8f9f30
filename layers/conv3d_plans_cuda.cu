// conv3d's cuDNN plans (layers/conv3d_cuda.cuh): descriptors for NDHWC data
// and an ODHWI filter, the algorithm picked once from cudnnGet*Algorithm_v7's
// ranking, and its workspace size, cached per key in the backend context.
#include <stdio.h>
#include <stdlib.h>

#include "layers/conv3d_cuda.cuh"

static void plan_destroy(void *value) {
  conv3d_cuda_plan *plan = (conv3d_cuda_plan *)value;
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

static segc_status describe_plan(conv3d_cuda_plan *plan, const conv3d_cuda_key *k) {
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

// Sets the descriptor's math type for running `algo` and asks for the
// workspace that needs.
static segc_status workspace_bytes(cudnnHandle_t handle, conv3d_cuda_plan *plan,
                                   int64_t pass, int algo, int math,
                                   size_t *bytes) {
  SEGC_CUDNN_CHECK(
      cudnnSetConvolutionMathType(plan->conv, (cudnnMathType_t)math));
  if (pass == CONV3D_CUDA_FORWARD)
    SEGC_CUDNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(
        handle, plan->x, plan->w, plan->conv, plan->y,
        (cudnnConvolutionFwdAlgo_t)algo, bytes));
  else if (pass == CONV3D_CUDA_BACKWARD_DATA)
    SEGC_CUDNN_CHECK(cudnnGetConvolutionBackwardDataWorkspaceSize(
        handle, plan->w, plan->y, plan->conv, plan->x,
        (cudnnConvolutionBwdDataAlgo_t)algo, bytes));
  else
    SEGC_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterWorkspaceSize(
        handle, plan->x, plan->y, plan->conv, plan->w,
        (cudnnConvolutionBwdFilterAlgo_t)algo, bytes));
  return SEGC_OK;
}

// Asks cuDNN's heuristics for its ranking and picks the first usable
// algorithm; sets the descriptor's math type and the workspace size.
static segc_status choose_algorithm(cudnnHandle_t handle, conv3d_cuda_plan *plan,
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
  // The ranking's memory figure is an estimate: the size asked for with
  // the math type set decides, and a candidate over the limit gives way to
  // the next one.
  const size_t limit = (size_t)k->workspace_limit;
  for (int from = 0; from < returned;) {
    int pick = conv3d_cuda_pick(candidates + from, returned - from, limit,
                                k->deterministic != 0,
                                (conv3d_cuda_math)k->math);
    if (pick < 0) break;
    pick += from;
    const conv3d_cuda_candidate *c = &candidates[pick];
    const int math = conv3d_cuda_run_math((conv3d_cuda_math)k->math, c->math);
    size_t bytes = 0;
    SEGC_TRY(workspace_bytes(handle, plan, k->pass, c->algo, math, &bytes));
    if (bytes < c->memory) bytes = c->memory;
    if (bytes > limit) {
      from = pick + 1;
      continue;
    }
    plan->algo = c->algo;
    plan->workspace = bytes;
    snprintf(plan->name, sizeof plan->name, "cudnn:%s:%s:%s%s",
             pass_name(k->pass), algo_name(k->pass, c->algo), math_name(math),
             c->deterministic ? "" : ":nondeterministic");
    return SEGC_OK;
  }
  // A backend failure, not "unsupported": the table promises this dtype.
  return SEGC_FAIL(SEGC_ERR_BACKEND,
                   "conv3d: cuDNN ranks no usable %s algorithm for this "
                   "shape (%d ranked; workspace limit %zu bytes, half the "
                   "scratch arena%s)",
                   pass_name(k->pass), returned, limit,
                   k->deterministic ? "; deterministic only" : "");
}

segc_status conv3d_cuda_get_plan(segc_backend_context *backend,
                                 const conv3d_cuda_key *key,
                                 conv3d_cuda_plan **out) {
  segc_cuda_state *state = segc_cuda_state_of(backend);
  if (!state)
    return SEGC_FAIL(SEGC_ERR_INTERNAL,
                     "conv3d: the backend context has no CUDA state");
  *out = (conv3d_cuda_plan *)segc_plan_cache_find(state->plans, key, sizeof *key);
  if (*out) return SEGC_OK;
  conv3d_cuda_plan *plan = (conv3d_cuda_plan *)calloc(1, sizeof(conv3d_cuda_plan));
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
