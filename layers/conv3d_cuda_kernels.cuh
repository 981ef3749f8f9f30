// The small CUDA kernels around conv3d's cuDNN calls (layers/conv3d_cuda.cu):
// weight copies OIDHW f32 -> ODHWI in the compute dtype, the weight
// gradient ODHWI -> OIDHW added into the f32 master's, dtype conversions, the
// bias (added before the one rounding to the output dtype) and the bias
// gradient in a fixed summation order (no atomics). Every launch is on
// cudaStreamPerThread; the index maps are in conv3d_cuda_plan.h.
#ifndef SEGC_LAYERS_CONV3D_CUDA_KERNELS_CUH
#define SEGC_LAYERS_CONV3D_CUDA_KERNELS_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

#include "core/cuda_ops.cuh"

extern "C" {
#include "layers/conv3d_cuda_plan.h"
}

__device__ inline float conv3d_to_f32(float v) { return v; }
__device__ inline float conv3d_to_f32(__nv_bfloat16 v) {
  return __bfloat162float(v);
}
__device__ inline float conv3d_to_f32(__half v) { return __half2float(v); }

template <typename T>
__device__ inline T conv3d_from_f32(float v);
template <>
__device__ inline float conv3d_from_f32<float>(float v) {
  return v;
}
template <>
__device__ inline __nv_bfloat16 conv3d_from_f32<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}
template <>
__device__ inline __half conv3d_from_f32<__half>(float v) {
  return __float2half_rn(v);
}

// v rounded to the values of `dtype` (bf16, f16; f32 unchanged).
__device__ inline float conv3d_round_to(float v, int dtype) {
  if (dtype == SEGC_BF16) return __bfloat162float(__float2bfloat16_rn(v));
  if (dtype == SEGC_F16) return __half2float(__float2half_rn(v));
  return v;
}

// The f32 OIDHW master as ODHWI in T, rounded to the values of
// `values_dtype` first (an f32 copy of bf16 weights holds bf16 values).
template <typename T>
__global__ void conv3d_weights_to_odhwi(const float *oidhw, T *odhwi,
                                        int64_t count, int64_t cin, int64_t k,
                                        int values_dtype) {
  SEGC_CUDA_FOR(i, count) {
    odhwi[conv3d_cuda_odhwi_of_oidhw(i, cin, k)] =
        conv3d_from_f32<T>(conv3d_round_to(oidhw[i], values_dtype));
  }
}

// One thread per element: the order of the additions is fixed.
__global__ void conv3d_grad_add_from_odhwi(float *grad_oidhw,
                                           const float *dw_odhwi,
                                           int64_t count, int64_t cin,
                                           int64_t k) {
  SEGC_CUDA_FOR(i, count) {
    grad_oidhw[i] += dw_odhwi[conv3d_cuda_odhwi_of_oidhw(i, cin, k)];
  }
}

template <typename T>
__global__ void conv3d_to_f32_kernel(const T *in, float *out, int64_t count) {
  SEGC_CUDA_FOR(i, count) { out[i] = conv3d_to_f32(in[i]); }
}

// out = (in + bias[channel]) rounded once to T; in may alias out (f32).
template <typename T>
__global__ void conv3d_finish_output(const float *in, const float *bias,
                                     T *out, int64_t count, int64_t channels) {
  SEGC_CUDA_FOR(i, count) {
    float v = in[i];
    if (bias) v += bias[conv3d_cuda_channel_of(i, channels)];
    out[i] = conv3d_from_f32<T>(v);
  }
}

enum { CONV3D_BIAS_LANES = 8, CONV3D_BIAS_CHANNELS = 32 };

// Block (chunk, channel group), threads (32 channels, 8 lanes): each lane
// sums every 8th row of the chunk in order, then lane 0 adds the 8 lane sums
// in order into partials[chunk * channels + channel].
template <typename T>
__global__ void conv3d_bias_partials(const T *dy, float *partials,
                                     int64_t rows, int64_t channels) {
  __shared__ float lane_sums[CONV3D_BIAS_LANES][CONV3D_BIAS_CHANNELS];
  const int64_t chunk = blockIdx.x;
  const int64_t channel =
      (int64_t)blockIdx.y * CONV3D_BIAS_CHANNELS + threadIdx.x;
  const int64_t first = chunk * CONV3D_CUDA_BIAS_ROWS;
  int64_t end = first + CONV3D_CUDA_BIAS_ROWS;
  if (end > rows) end = rows;
  float sum = 0.0f;
  if (channel < channels)
    for (int64_t r = first + threadIdx.y; r < end; r += CONV3D_BIAS_LANES)
      sum += conv3d_to_f32(dy[r * channels + channel]);
  lane_sums[threadIdx.y][threadIdx.x] = sum;
  __syncthreads();
  if (threadIdx.y == 0 && channel < channels) {
    float total = 0.0f;
    for (int lane = 0; lane < CONV3D_BIAS_LANES; ++lane)
      total += lane_sums[lane][threadIdx.x];
    partials[chunk * channels + channel] = total;
  }
}

// db[channel] += the chunks' partial sums, in chunk order.
__global__ void conv3d_bias_finish(const float *partials, float *db,
                                   int64_t chunks, int64_t channels) {
  SEGC_CUDA_FOR(channel, channels) {
    float total = 0.0f;
    for (int64_t k = 0; k < chunks; ++k)
      total += partials[k * channels + channel];
    db[channel] += total;
  }
}

#endif
