// 3D convolution (PyTorch's nn.Conv3d semantics), on the backend of the
// tensors' device (conv3d_kernels.h: oneDNN on the CPU, cuDNN on CUDA,
// docs/CUDA.md).
//
// Activations are NDHWC; the master weight is the f32 OIDHW parameter. The
// layer keeps the weight reordered (and converted to bf16 when the input is
// bf16) into the format the backend picked, and redoes that only when the
// parameter's version (or its storage pointer) changes: whoever writes
// param->value must bump param->version, or the layer keeps computing with
// its old copy. Primitives are cached in the backend context per shape and
// thread count.
#ifndef SEGC_LAYERS_CONV3D_H
#define SEGC_LAYERS_CONV3D_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "autograd/graph.h"
#include "autograd/param.h"

typedef struct {
  int64_t in_channels, out_channels;
  int kernel;   // cubic kernel size (1 or 3 in SegResNet; any odd size works)
  int stride;   // same on every axis
  int padding;  // zero padding on both sides of every axis
  bool bias;
} segc_conv3d_config;

typedef struct segc_conv3d_prepared segc_conv3d_prepared;  // private

typedef struct {
  segc_conv3d_config config;
  segc_param *weight;  // (out, in, k, k, k) f32 NCDHW (= OIDHW)
  segc_param *bias;    // (1, out, 1, 1, 1) f32, or NULL without bias
  segc_conv3d_prepared *prepared;  // cached weight copies
} segc_conv3d;

// Checks the parameters' shapes against the config; the layer does not own
// them.
segc_status segc_conv3d_init(segc_conv3d *layer,
                             const segc_conv3d_config *config,
                             segc_param *weight, segc_param *bias);
void segc_conv3d_destroy(segc_conv3d *layer);

// Output spatial size: (size + 2 * padding - kernel) / stride + 1.
int64_t segc_conv3d_output_size(const segc_conv3d_config *config,
                                int64_t size);

// y = conv(x, weight) + bias.
// x: (N, Cin, D, H, W) NDHWC, f32 or bf16 (bf16 computes in bf16 with f32
// accumulation; f16 too on CUDA). y: (N, Cout, D', H', W') NDHWC in
// `out_dtype` (f32 or bf16; f16 on CUDA).
// Records backward-data (when x requires a gradient) and backward-weights
// (into weight->grad and bias->grad, accumulated, f32 OIDHW) when training.
segc_status segc_conv3d_forward(segc_graph *graph, segc_conv3d *layer,
                                segc_value *x, segc_dtype out_dtype,
                                segc_value **y);

// The passes on plain tensors, used by segc_conv3d_forward's tape entry and
// by the benchmarks. Activations are NDHWC tensors on the backend context's
// device; every temporary (including oneDNN's scratchpad) comes from the
// context's scratch arena and is freed before returning.
//
// y = conv(x) + bias; y's dtype picks the output dtype.
segc_status segc_conv3d_apply(segc_conv3d *layer, const segc_tensor *x,
                              segc_tensor *y, segc_backend_context *backend);
// dx (=, or += when accumulate) = backward-data of dy. dx's dtype is the
// compute dtype; dy is converted to it when it differs. oneDNN overwrites,
// so accumulating takes a dx-sized temporary from scratch.
segc_status segc_conv3d_backward_data(segc_conv3d *layer,
                                      const segc_tensor *dy, segc_tensor *dx,
                                      bool accumulate,
                                      segc_backend_context *backend);
// weight->grad += d(weight), bias->grad += d(bias) (where those buffers
// exist), f32 OIDHW, computed in x's dtype. The sum over the batch and depth
// is cut into pieces fixed by the shape alone and added in a fixed order, so
// the result does not depend on the thread count (see
// segc_conv3d_set_deterministic). Scratch: the pieces' partial gradients
// (at most ~32 MB) plus oneDNN's scratchpad per thread.
segc_status segc_conv3d_backward_weights(segc_conv3d *layer,
                                         const segc_tensor *x,
                                         const segc_tensor *dy,
                                         segc_backend_context *backend);

// Deterministic backward-weights (the default) or one oneDNN call with all
// threads, whose summation order depends on the thread count (faster on some
// shapes; for comparisons). On CUDA the same setting admits only cuDNN
// algorithms that report themselves deterministic (no atomics), in every
// pass. Process-wide.
void segc_conv3d_set_deterministic(bool deterministic);
bool segc_conv3d_deterministic(void);

typedef enum {
  SEGC_CONV3D_FORWARD,
  SEGC_CONV3D_BACKWARD_DATA,
  SEGC_CONV3D_BACKWARD_WEIGHTS
} segc_conv3d_pass;

// The backend library's name for the implementation a pass uses on this
// shape (oneDNN's "brgconv:avx512_core"); builds the primitive if needed.
// The string lives as long as the backend context.
segc_status segc_conv3d_impl_name(segc_backend_context *backend,
                                  const segc_conv3d_config *config,
                                  segc_shape input, segc_dtype dtype,
                                  segc_dtype out_dtype, segc_conv3d_pass pass,
                                  const char **name);

// The CPU's algorithm for f32 3x3x3 stride-1 padding-1 convolutions (all
// three passes): oneDNN's direct convolution, Winograd F(2x2x2, 3x3x3)
// (backward-weights F(3x3x3, 2x2x2); layers/conv3d_winograd.h),
// or auto (the default): a plan per shape made on its first call by timing
// both, Winograd only where clearly faster. The environment variable
// SEGC_CONV_ALGO=auto|direct|winograd sets the starting value (any other
// value fails those convolutions with a one-line error). Process-wide.
typedef enum {
  SEGC_CONV3D_ALGO_AUTO,
  SEGC_CONV3D_ALGO_DIRECT,
  SEGC_CONV3D_ALGO_WINOGRAD
} segc_conv3d_algorithm;

void segc_conv3d_set_algorithm(segc_conv3d_algorithm algorithm);
segc_conv3d_algorithm segc_conv3d_get_algorithm(void);

// The auto plan of a pass as one line ("winograd (piece 1x16x96x96: direct
// 62.0 ms, winograd 30.1 ms, 2.06x)") into text; returns 0 (text untouched)
// when no plan was made for that shape, else snprintf's count.
int segc_conv3d_plan_describe(const segc_conv3d_config *config,
                              segc_shape input, segc_conv3d_pass pass,
                              char *text, size_t size);

// Floating-point operations of one forward (2 per multiply-add), for the
// benchmarks. Backward-data and backward-weights cost the same each.
double segc_conv3d_flops(const segc_conv3d_config *config, segc_shape input);

#endif
