// Host-side arithmetic of conv3d's cuDNN kernels (layers/conv3d_cuda.cu),
// as static inline functions usable from C and CUDA so the CPU tests
// exercise them (tests/test_conv3d_cuda_plan.c): which dtype and math mode
// a call computes in (its route), the key of the per-shape plan cache, the
// choice among cuDNN's ranked algorithms, descriptor dims and strides, and
// the index maps of the weight copies and the bias gradient's partial sums.
//
// Routes (why): cuDNN's legacy convolutions read and write one dtype (x, w
// and y alike) and accumulate in f32.
// - f32 runs on FMA kernels (CUDNN_FMA_MATH): true f32 like the CPU, never
//   TF32, which would round inputs to 10 bits (1e-3, far outside the f32
//   tolerance of the op harness).
// - bf16/f16 with the same output dtype and no bias runs natively on tensor
//   cores: one rounding of the f32 accumulator.
// - Any other forward (a bias, or an output dtype other than the input's)
//   and every bf16/f16 backward-weights run in f32 on f32 copies of the
//   bf16/f16 values with tensor-core math: TF32 holds bf16 and f16 values
//   exactly, so products are exact and sums f32, and the bias is added
//   before the one rounding to the output dtype (adding it to an already
//   rounded bf16 output would round twice, outside the bf16 tolerance), and
//   the weight gradient is the f32 one the CPU computes.
#ifndef SEGC_LAYERS_CONV3D_CUDA_PLAN_H
#define SEGC_LAYERS_CONV3D_CUDA_PLAN_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/dtype.h"
#include "core/tensor.h"
#include "layers/conv3d.h"

#ifndef SEGC_HOST_DEVICE
#ifdef __CUDACC__
#define SEGC_HOST_DEVICE __host__ __device__
#else
#define SEGC_HOST_DEVICE
#endif
#endif

typedef enum {
  CONV3D_CUDA_FORWARD = 1,
  CONV3D_CUDA_BACKWARD_DATA,
  CONV3D_CUDA_BACKWARD_WEIGHTS
} conv3d_cuda_pass;

typedef enum {
  CONV3D_CUDA_MATH_FMA = 1,  // f32 FMA kernels only
  CONV3D_CUDA_MATH_TENSOR    // tensor cores (bf16/f16, or TF32 on copies)
} conv3d_cuda_math;

typedef struct {
  segc_dtype io;          // what cuDNN reads and writes
  segc_dtype values;      // the dtype whose values x and the weights hold:
                          // the weight copy is rounded to it (bf16 input:
                          // bf16 weights, also in an f32 copy), as on the
                          // CPU
  conv3d_cuda_math math;
  bool convert_inputs;    // x (and dy) copied to `io` (f32) first
  bool output_aside;      // cuDNN writes an `io` scratch tensor, then segc's
                          // kernel adds the bias and converts into y
  bool add_bias;          // segc's kernel adds the bias (forward)
} conv3d_cuda_route;

static inline bool conv3d_cuda_low_precision(segc_dtype dtype) {
  return dtype == SEGC_BF16 || dtype == SEGC_F16;
}

static inline conv3d_cuda_route conv3d_cuda_forward_route(segc_dtype x,
                                                          segc_dtype y,
                                                          bool bias) {
  conv3d_cuda_route r;
  memset(&r, 0, sizeof r);
  r.add_bias = bias;
  r.values = x;
  if (conv3d_cuda_low_precision(x) && y == x && !bias) {
    r.io = x;
    r.math = CONV3D_CUDA_MATH_TENSOR;
    return r;
  }
  r.io = SEGC_F32;
  r.convert_inputs = x != SEGC_F32;
  r.math = r.convert_inputs ? CONV3D_CUDA_MATH_TENSOR : CONV3D_CUDA_MATH_FMA;
  r.output_aside = y != SEGC_F32;
  return r;
}

// dx = backward-data(dy) with dy already in dx's dtype (the glue converts):
// native, accumulating through cuDNN's beta (one rounding).
static inline conv3d_cuda_route conv3d_cuda_backward_data_route(
    segc_dtype dtype) {
  conv3d_cuda_route r;
  memset(&r, 0, sizeof r);
  r.io = dtype;
  r.values = dtype;
  r.math = conv3d_cuda_low_precision(dtype) ? CONV3D_CUDA_MATH_TENSOR
                                            : CONV3D_CUDA_MATH_FMA;
  return r;
}

// The f32 weight gradient from x and dy of one dtype.
static inline conv3d_cuda_route conv3d_cuda_backward_weights_route(
    segc_dtype dtype) {
  conv3d_cuda_route r;
  memset(&r, 0, sizeof r);
  r.io = SEGC_F32;
  r.values = dtype;
  r.convert_inputs = dtype != SEGC_F32;
  r.math = r.convert_inputs ? CONV3D_CUDA_MATH_TENSOR : CONV3D_CUDA_MATH_FMA;
  return r;
}

// Everything a plan (descriptors, algorithm, workspace size) depends on.
// All fields are int64_t, so the struct has no padding bytes and is
// compared with memcmp by the plan cache (core/plan_cache.h).
typedef struct {
  int64_t pass;  // conv3d_cuda_pass
  int64_t n, cin, cout, d, h, w;  // the input (x, or dx), NCDHW order
  int64_t kernel, stride, padding;
  int64_t io, math;               // route
  int64_t deterministic;          // only deterministic algorithms
  int64_t workspace_limit;        // bytes
} conv3d_cuda_key;

static inline conv3d_cuda_key conv3d_cuda_make_key(
    conv3d_cuda_pass pass, const segc_conv3d_config *config, segc_shape input,
    const conv3d_cuda_route *route, bool deterministic,
    size_t workspace_limit) {
  conv3d_cuda_key k;
  memset(&k, 0, sizeof k);
  k.pass = pass;
  k.n = input.n;
  k.cin = config->in_channels;
  k.cout = config->out_channels;
  k.d = input.d;
  k.h = input.h;
  k.w = input.w;
  k.kernel = config->kernel;
  k.stride = config->stride;
  k.padding = config->padding;
  k.io = route->io;
  k.math = route->math;
  k.deterministic = deterministic;
  k.workspace_limit = (int64_t)workspace_limit;
  return k;
}

// The most workspace an algorithm may ask for: half the scratch arena, so
// the call's other temporaries (converted inputs, an f32 output aside, the
// weight gradient) fit beside it. Fixed by the arena's capacity, so a
// context always plans a shape the same way.
static inline size_t conv3d_cuda_workspace_limit(size_t scratch_capacity) {
  return scratch_capacity / 2;
}

// cuDNN's legacy descriptors take int dims and strides.
static inline bool conv3d_cuda_fits_int(segc_shape s) {
  return s.n > 0 && s.c > 0 && s.d > 0 && s.h > 0 && s.w > 0 &&
         segc_shape_numel(s) <= (int64_t)INT_MAX;
}

// Dims in cuDNN's N, C, D, H, W order with the strides of NDHWC storage
// (channels innermost). Callers check conv3d_cuda_fits_int first.
static inline void conv3d_cuda_ndhwc_desc(segc_shape s, int dims[5],
                                          int strides[5]) {
  dims[0] = (int)s.n;
  dims[1] = (int)s.c;
  dims[2] = (int)s.d;
  dims[3] = (int)s.h;
  dims[4] = (int)s.w;
  strides[1] = 1;
  strides[4] = (int)s.c;
  strides[3] = (int)(s.w * s.c);
  strides[2] = (int)(s.h * s.w * s.c);
  strides[0] = (int)(s.d * s.h * s.w * s.c);
}

// cuDNN's math types (cudnnMathType_t's values, mirrored so this header
// needs no cuDNN).
enum {
  CONV3D_CUDNN_DEFAULT_MATH = 0,
  CONV3D_CUDNN_TENSOR_OP_MATH = 1,
  CONV3D_CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION = 2,
  CONV3D_CUDNN_FMA_MATH = 3
};

// One entry of cuDNN's ranked algorithm list (cudnnGet*Algorithm_v7).
typedef struct {
  int algo;
  bool ok;             // status CUDNN_STATUS_SUCCESS
  size_t memory;       // workspace bytes
  bool deterministic;  // CUDNN_DETERMINISTIC
  int math;            // CONV3D_CUDNN_*_MATH
} conv3d_cuda_candidate;

// Whether the route may run a candidate: never with conversion to a lower
// precision (f32 data rounded to f16); on the FMA route only FMA kernels
// (DEFAULT permits TF32 from Ampere on, so it runs with FMA set).
static inline bool conv3d_cuda_math_allowed(conv3d_cuda_math route,
                                            int candidate_math) {
  if (candidate_math == CONV3D_CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION)
    return false;
  if (route == CONV3D_CUDA_MATH_FMA)
    return candidate_math == CONV3D_CUDNN_FMA_MATH ||
           candidate_math == CONV3D_CUDNN_DEFAULT_MATH;
  return true;
}

// The math type the convolution descriptor gets for a chosen candidate.
static inline int conv3d_cuda_run_math(conv3d_cuda_math route,
                                       int candidate_math) {
  return route == CONV3D_CUDA_MATH_FMA ? CONV3D_CUDNN_FMA_MATH
                                       : candidate_math;
}

// The first usable candidate in cuDNN's ranking (best first): succeeded,
// fits the workspace limit, deterministic when asked, allowed math; -1 when
// none. Heuristics (cudnnGet*_v7), not timing (cudnnFind*): the choice
// depends only on the shape, dtype, GPU and cuDNN version, so two runs pick
// the same algorithm and a deterministic run stays reproducible.
static inline int conv3d_cuda_pick(const conv3d_cuda_candidate *candidates,
                                   int count, size_t workspace_limit,
                                   bool deterministic, conv3d_cuda_math math) {
  for (int i = 0; i < count; ++i) {
    const conv3d_cuda_candidate *c = &candidates[i];
    if (c->ok && c->memory <= workspace_limit &&
        (!deterministic || c->deterministic) &&
        conv3d_cuda_math_allowed(math, c->math))
      return i;
  }
  return -1;
}

// The weight copies are ODHWI (cuDNN's NHWC filter format for NDHWC data,
// "KTRSC"); the master is OIDHW. Index in the copy of the master's element
// at `oidhw` (linear), for a kernel of size k and cin input channels.
static inline SEGC_HOST_DEVICE int64_t conv3d_cuda_odhwi_of_oidhw(
    int64_t oidhw, int64_t cin, int64_t k) {
  const int64_t k3 = k * k * k;
  const int64_t spatial = oidhw % k3;  // (kd * k + kh) * k + kw
  const int64_t rest = oidhw / k3;
  const int64_t i = rest % cin, o = rest / cin;
  return (o * k3 + spatial) * cin + i;
}

// The weight copy a route uses: one slot per (values, storage) pair, the
// storage being `values` itself or f32 (f32 copies of bf16/f16 values).
enum { CONV3D_CUDA_WEIGHT_SLOTS = 2 * SEGC_DTYPE_COUNT };

static inline int conv3d_cuda_weight_slot(const conv3d_cuda_route *route) {
  return route->io == route->values ? (int)route->values
                                    : SEGC_DTYPE_COUNT + (int)route->values;
}

// The bias gradient sums dy over rows (voxels of the batch) per channel:
// partial sums over fixed chunks of rows, then the chunks in order, so the
// result does not depend on the launch (no atomics).
enum { CONV3D_CUDA_BIAS_ROWS = 4096 };

static inline int64_t conv3d_cuda_bias_chunks(int64_t rows) {
  return (rows + CONV3D_CUDA_BIAS_ROWS - 1) / CONV3D_CUDA_BIAS_ROWS;
}

// The channel of the element at `index` of an NDHWC tensor.
static inline SEGC_HOST_DEVICE int64_t conv3d_cuda_channel_of(int64_t index,
                                                              int64_t c) {
  return index % c;
}

#endif
