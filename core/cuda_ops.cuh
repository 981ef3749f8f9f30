// Shared by the CUDA kernel files (<op>_cuda.cu; nvcc only): checked launches
// on cudaStreamPerThread, grid sizes, and element loads and stores that round
// exactly as core/dtype.c does on the host.
//
// Every kernel runs on cudaStreamPerThread (one stream per host thread; segc
// calls ops from one thread). A failed runtime call or launch returns a
// segc_status whose message names the op, the call and CUDA's error string.
// The CUDA sources are compiled with --fmad=false (CMakeLists.txt): like GCC
// in ISO C mode, nvcc then never contracts a*b+c into an FMA, so a formula
// written once for both compilers rounds the same on both.
//
// Temporaries come from the scratch arena (device memory) and may go back
// to it as soon as the kernels that use them are launched: a later user of
// that memory runs on the same stream, after them (segc_cuda_copy and
// segc_cuda_memset run on that stream too).
#ifndef SEGC_CORE_CUDA_OPS_CUH
#define SEGC_CORE_CUDA_OPS_CUH

#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdint.h>

extern "C" {
#include "core/dtype.h"
#include "core/status.h"
}

#define SEGC_CUDA_STREAM cudaStreamPerThread

// A runtime call (cudaMemcpyAsync, cudaStreamSynchronize, ...).
#define SEGC_CUDA_CALL(op, call)                                            \
  do {                                                                      \
    const cudaError_t cuda_call_status_ = (call);                           \
    if (cuda_call_status_ != cudaSuccess)                                   \
      return segc_fail(SEGC_ERR_BACKEND, "%s: CUDA %s failed: %s", (op),    \
                       #call, cudaGetErrorString(cuda_call_status_));       \
  } while (0)

// A kernel launch on cudaStreamPerThread, checked right after it.
#define SEGC_CUDA_LAUNCH(op, kernel, blocks, threads, ...)                  \
  do {                                                                      \
    kernel<<<(blocks), (threads), 0, SEGC_CUDA_STREAM>>>(__VA_ARGS__);      \
    const cudaError_t cuda_launch_status_ = cudaGetLastError();             \
    if (cuda_launch_status_ != cudaSuccess)                                 \
      return segc_fail(SEGC_ERR_BACKEND,                                    \
                       "%s: CUDA launch of %s failed: %s", (op), #kernel,   \
                       cudaGetErrorString(cuda_launch_status_));            \
  } while (0)

// Waits for this thread's stream (before a host reads what a kernel wrote).
#define SEGC_CUDA_SYNC(op) \
  SEGC_CUDA_CALL(op, cudaStreamSynchronize(SEGC_CUDA_STREAM))

enum { SEGC_CUDA_THREADS = 256 };

// Blocks of SEGC_CUDA_THREADS for n work items in a grid-stride loop: at
// most 2^20 blocks, at least one.
static inline unsigned segc_cuda_blocks(int64_t n) {
  int64_t blocks = (n + SEGC_CUDA_THREADS - 1) / SEGC_CUDA_THREADS;
  if (blocks > (1 << 20)) blocks = 1 << 20;
  return blocks > 0 ? (unsigned)blocks : 1u;
}

// Grid-stride loop over [0, n).
#define SEGC_CUDA_FOR(i, n)                                                   \
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n);   \
       i += (int64_t)gridDim.x * blockDim.x)

__device__ inline float segc_cuda_bf16_to_f32(uint16_t h) {
  return __uint_as_float((uint32_t)h << 16);
}

// Round to nearest even; NaN stays a quiet NaN (segc_f32_to_bf16).
__device__ inline uint16_t segc_cuda_f32_to_bf16(float f) {
  const uint32_t bits = __float_as_uint(f);
  if ((bits & 0x7fffffffu) > 0x7f800000u)
    return (uint16_t)((bits >> 16) | 0x0040u);
  return (uint16_t)((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
}

// NaN to 0, round to nearest even, saturate (core/dtype.c).
__device__ inline float segc_cuda_saturate_round(float v, float lo, float hi) {
  if (!(v == v)) return 0.0f;
  v = rintf(v);
  return v < lo ? lo : (v > hi ? hi : v);
}

// Element i of a device buffer of any dtype as f32 (segc_load_f32).
__device__ inline float segc_cuda_load(const void *p, segc_dtype dtype,
                                       int64_t i) {
  switch (dtype) {
    case SEGC_F32: return ((const float *)p)[i];
    case SEGC_BF16: return segc_cuda_bf16_to_f32(((const uint16_t *)p)[i]);
    case SEGC_F16: return __half2float(((const __half *)p)[i]);
    case SEGC_U8: return (float)((const uint8_t *)p)[i];
    case SEGC_I16: return (float)((const int16_t *)p)[i];
    case SEGC_I32: return (float)((const int32_t *)p)[i];
    default: return 0.0f;
  }
}

// Stores v into element i in the buffer's dtype (segc_store_f32).
__device__ inline void segc_cuda_store(void *p, segc_dtype dtype, int64_t i,
                                       float v) {
  switch (dtype) {
    case SEGC_F32: ((float *)p)[i] = v; break;
    case SEGC_BF16: ((uint16_t *)p)[i] = segc_cuda_f32_to_bf16(v); break;
    case SEGC_F16: ((__half *)p)[i] = __float2half_rn(v); break;
    case SEGC_U8:
      ((uint8_t *)p)[i] = (uint8_t)segc_cuda_saturate_round(v, 0.0f, 255.0f);
      break;
    case SEGC_I16:
      ((int16_t *)p)[i] =
          (int16_t)segc_cuda_saturate_round(v, -32768.0f, 32767.0f);
      break;
    case SEGC_I32:
      ((int32_t *)p)[i] = (int32_t)segc_cuda_saturate_round(
          v, -2147483648.0f, 2147483520.0f);
      break;
    default: break;
  }
}

// The f32 / bf16 pair of the activation kernels (segc_op_load/store).
__device__ inline float segc_cuda_load_act(const void *p, int64_t i,
                                           bool bf16) {
  return bf16 ? segc_cuda_bf16_to_f32(((const uint16_t *)p)[i])
              : ((const float *)p)[i];
}

__device__ inline void segc_cuda_store_act(void *p, int64_t i, float v,
                                           bool bf16) {
  if (bf16)
    ((uint16_t *)p)[i] = segc_cuda_f32_to_bf16(v);
  else
    ((float *)p)[i] = v;
}

#endif
