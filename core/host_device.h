// SEGC_HOST_DEVICE marks a static inline function written once for both
// compilers: plain C for GCC (the CPU kernels and their tests), __host__
// __device__ for nvcc (the CUDA kernels), so the two backends share one
// formula and the CPU tests exercise what the GPU runs.
#ifndef SEGC_CORE_HOST_DEVICE_H
#define SEGC_CORE_HOST_DEVICE_H

#ifdef __CUDACC__
#define SEGC_HOST_DEVICE __host__ __device__
#else
#define SEGC_HOST_DEVICE
#endif

#endif
