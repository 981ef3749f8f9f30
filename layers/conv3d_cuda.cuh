// Private to conv3d's CUDA kernels: the per-shape plan (cuDNN descriptors,
// the chosen algorithm and its workspace) that conv3d_plans_cuda.cu builds
// and caches in the backend context's CUDA state, and conv3d_cuda.cu runs.
#ifndef SEGC_LAYERS_CONV3D_CUDA_CUH
#define SEGC_LAYERS_CONV3D_CUDA_CUH

#include "core/cuda_state.h"

extern "C" {
#include "layers/conv3d_cuda_plan.h"
}

typedef struct {
  cudnnTensorDescriptor_t x, y;  // the input side (x, dx), output (y, dy)
  cudnnFilterDescriptor_t w;     // ODHWI (cuDNN's NHWC filter format)
  cudnnConvolutionDescriptor_t conv;
  int algo;
  size_t workspace;  // bytes
  char name[96];     // "cudnn:<pass>:<algorithm>:<math>"
} conv3d_cuda_plan;

// The plan for `key` from the context's plan cache, built on first use:
// descriptors, then the first usable algorithm of cuDNN's heuristic ranking
// (conv3d_cuda_pick) whose workspace fits the key's limit.
segc_status conv3d_cuda_get_plan(segc_backend_context *backend,
                                 const conv3d_cuda_key *key,
                                 conv3d_cuda_plan **out);

#endif
