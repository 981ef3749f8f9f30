// The CUDA kernels of core/tensor_ops.h (glue in tensor_ops.c; contract in
// tensor_ops_kernels.h), on cudaStreamPerThread. Elementwise work is a
// grid-stride loop over the storage order in f32, stored back in the
// tensor's dtype with the host's rounding (core/cuda_ops.cuh).
//
// The sum gives the CPU's value to the bit: one thread sums one chunk of
// SEGC_REDUCE_CHUNK elements in double in storage order, and one thread adds
// the chunk sums in chunk order. The chunk sums and the small results (the
// sum, the first bad index, the finite flag) live in this file's own device
// memory (__device__ variables), so no call allocates; segc calls these from
// one host thread at a time.
#include <float.h>

#include "core/cuda_ops.cuh"

extern "C" {
#include "core/parallel.h"
#include "core/tensor_ops_kernels.h"
}

// Chunk sums held at once: 2^16 chunks (2^28 elements) per group of
// chunks; a larger tensor takes several groups, still added in chunk order.
static const int64_t SUM_GROUP_CHUNKS = 1 << 16;

__device__ double sum_partials[SUM_GROUP_CHUNKS];
__device__ double sum_total;
__device__ unsigned long long first_bad_index;
__device__ int any_nonfinite;

__device__ inline bool nonfinite(float x) { return !(fabsf(x) <= FLT_MAX); }

__global__ void fill_kernel(void *data, segc_dtype dtype, int64_t n,
                            float value) {
  SEGC_CUDA_FOR(i, n) segc_cuda_store(data, dtype, i, value);
}

__global__ void add_scalar_kernel(void *data, segc_dtype dtype, int64_t n,
                                  float value) {
  SEGC_CUDA_FOR(i, n)
  segc_cuda_store(data, dtype, i, segc_cuda_load(data, dtype, i) + value);
}

__global__ void accumulate_kernel(void *dst, segc_dtype dst_dtype,
                                  const void *src, segc_dtype src_dtype,
                                  int64_t n) {
  SEGC_CUDA_FOR(i, n)
  segc_cuda_store(dst, dst_dtype, i,
                  segc_cuda_load(dst, dst_dtype, i) +
                      segc_cuda_load(src, src_dtype, i));
}

__global__ void scale_kernel(void *data, segc_dtype dtype, int64_t n,
                             float factor) {
  SEGC_CUDA_FOR(i, n)
  segc_cuda_store(data, dtype, i, segc_cuda_load(data, dtype, i) * factor);
}

// The product is rounded before the add (no FMA: --fmad=false).
__global__ void axpy_kernel(void *y, segc_dtype y_dtype, float alpha,
                            const void *x, segc_dtype x_dtype, int64_t n) {
  SEGC_CUDA_FOR(i, n)
  segc_cuda_store(y, y_dtype, i,
                  segc_cuda_load(y, y_dtype, i) +
                      alpha * segc_cuda_load(x, x_dtype, i));
}

// The element of the destination at storage index i reads the source at
// the same logical index in the source's layout.
__global__ void copy_kernel(const void *src, segc_dtype src_dtype,
                            segc_layout src_layout, void *dst,
                            segc_dtype dst_dtype, segc_layout dst_layout,
                            int64_t samples, int64_t channels,
                            int64_t spatial) {
  const int64_t n = samples * channels * spatial;
  SEGC_CUDA_FOR(i, n) {
    int64_t from = i;
    if (src_layout != dst_layout) {
      int64_t b, c, p;
      if (dst_layout == SEGC_LAYOUT_NCDHW) {
        p = i % spatial;
        c = i / spatial % channels;
        b = i / (spatial * channels);
        from = (b * spatial + p) * channels + c;
      } else {
        c = i % channels;
        p = i / channels % spatial;
        b = i / (spatial * channels);
        from = (b * channels + c) * spatial + p;
      }
    }
    segc_cuda_store(dst, dst_dtype, i,
                    segc_cuda_load(src, src_dtype, from));
  }
}

__global__ void scale_check_kernel(void *data, segc_dtype dtype, int64_t n,
                                   float factor) {
  bool bad = false;
  SEGC_CUDA_FOR(i, n) {
    segc_cuda_store(data, dtype, i, segc_cuda_load(data, dtype, i) * factor);
    bad |= nonfinite(segc_cuda_load(data, dtype, i));
  }
  if (bad) atomicOr(&any_nonfinite, 1);  // an integer flag: order-free
}

__global__ void first_nonfinite_kernel(const void *data, segc_dtype dtype,
                                       int64_t n) {
  SEGC_CUDA_FOR(i, n) {
    if (nonfinite(segc_cuda_load(data, dtype, i))) {
      atomicMin(&first_bad_index, (unsigned long long)i);  // integer min
      return;  // later indices of this thread are larger
    }
  }
}

__global__ void set_results_kernel(unsigned long long bad_index) {
  first_bad_index = bad_index;
  any_nonfinite = 0;
  sum_total = 0.0;
}

// Chunk first_chunk + j (j < count) summed in double in storage order into
// sum_partials[j].
__global__ void sum_chunks_kernel(const void *data, segc_dtype dtype,
                                  int64_t n, int64_t first_chunk,
                                  int64_t count) {
  SEGC_CUDA_FOR(j, count) {
    const int64_t first = (first_chunk + j) * SEGC_REDUCE_CHUNK;
    const int64_t end =
        first + SEGC_REDUCE_CHUNK < n ? first + SEGC_REDUCE_CHUNK : n;
    double s = 0.0;
    for (int64_t i = first; i < end; ++i) s += segc_cuda_load(data, dtype, i);
    sum_partials[j] = s;
  }
}

// One thread: the group's chunk sums added to the total in chunk order.
__global__ void sum_combine_kernel(int64_t count) {
  double total = sum_total;
  for (int64_t j = 0; j < count; ++j) total += sum_partials[j];
  sum_total = total;
}

static segc_status cuda_fill(const segc_tensor *t, float value) {
  const int64_t n = segc_tensor_numel(t);
  if (n == 0) return SEGC_OK;
  SEGC_CUDA_LAUNCH("tensor fill", fill_kernel, segc_cuda_blocks(n),
                   SEGC_CUDA_THREADS, t->data, t->dtype, n, value);
  return SEGC_OK;
}

static segc_status cuda_zero(const segc_tensor *t) {
  const size_t bytes = segc_tensor_bytes(t);
  if (bytes == 0) return SEGC_OK;
  SEGC_CUDA_CALL("tensor zero",
                 cudaMemsetAsync(t->data, 0, bytes, SEGC_CUDA_STREAM));
  return SEGC_OK;
}

static segc_status cuda_copy(const segc_tensor *src, const segc_tensor *dst) {
  const int64_t n = segc_tensor_numel(src);
  if (n == 0) return SEGC_OK;
  if (src->layout == dst->layout && src->dtype == dst->dtype) {
    SEGC_CUDA_CALL("tensor copy",
                   cudaMemcpyAsync(dst->data, src->data, segc_tensor_bytes(src),
                                   cudaMemcpyDeviceToDevice, SEGC_CUDA_STREAM));
    return SEGC_OK;
  }
  const segc_shape s = src->shape;
  SEGC_CUDA_LAUNCH("tensor copy", copy_kernel, segc_cuda_blocks(n),
                   SEGC_CUDA_THREADS, src->data, src->dtype, src->layout,
                   dst->data, dst->dtype, dst->layout, s.n, s.c,
                   segc_shape_spatial(s));
  return SEGC_OK;
}

static segc_status cuda_add_scalar(const segc_tensor *t, float value) {
  const int64_t n = segc_tensor_numel(t);
  if (n == 0) return SEGC_OK;
  SEGC_CUDA_LAUNCH("tensor add", add_scalar_kernel, segc_cuda_blocks(n),
                   SEGC_CUDA_THREADS, t->data, t->dtype, n, value);
  return SEGC_OK;
}

static segc_status cuda_accumulate(const segc_tensor *dst,
                                   const segc_tensor *src) {
  const int64_t n = segc_tensor_numel(dst);
  if (n == 0) return SEGC_OK;
  SEGC_CUDA_LAUNCH("tensor accumulate", accumulate_kernel, segc_cuda_blocks(n),
                   SEGC_CUDA_THREADS, dst->data, dst->dtype, src->data,
                   src->dtype, n);
  return SEGC_OK;
}

static segc_status cuda_scale(const segc_tensor *t, float factor) {
  const int64_t n = segc_tensor_numel(t);
  if (n == 0) return SEGC_OK;
  SEGC_CUDA_LAUNCH("tensor scale", scale_kernel, segc_cuda_blocks(n),
                   SEGC_CUDA_THREADS, t->data, t->dtype, n, factor);
  return SEGC_OK;
}

static segc_status cuda_axpy(const segc_tensor *y, float alpha,
                             const segc_tensor *x) {
  const int64_t n = segc_tensor_numel(y);
  if (n == 0) return SEGC_OK;
  SEGC_CUDA_LAUNCH("tensor axpy", axpy_kernel, segc_cuda_blocks(n),
                   SEGC_CUDA_THREADS, y->data, y->dtype, alpha, x->data,
                   x->dtype, n);
  return SEGC_OK;
}

static bool is_float(segc_dtype dtype) {
  return dtype == SEGC_F32 || dtype == SEGC_BF16 || dtype == SEGC_F16;
}

static segc_status cuda_scale_all_finite(const segc_tensor *t, float factor,
                                         bool *all_finite) {
  const char *op = "tensor scale";
  const int64_t n = segc_tensor_numel(t);
  *all_finite = true;
  if (n == 0) return SEGC_OK;
  SEGC_CUDA_LAUNCH(op, set_results_kernel, 1, 1, 0ull);
  SEGC_CUDA_LAUNCH(op, scale_check_kernel, segc_cuda_blocks(n),
                   SEGC_CUDA_THREADS, t->data, t->dtype, n, factor);
  int flag = 0;
  SEGC_CUDA_CALL(op, cudaMemcpyFromSymbolAsync(&flag, any_nonfinite,
                                               sizeof flag, 0,
                                               cudaMemcpyDeviceToHost,
                                               SEGC_CUDA_STREAM));
  SEGC_CUDA_SYNC(op);
  *all_finite = flag == 0;
  return SEGC_OK;
}

static segc_status cuda_first_nonfinite(const segc_tensor *t,
                                        int64_t *index) {
  const char *op = "tensor finite";
  const int64_t n = segc_tensor_numel(t);
  *index = n;
  if (n == 0 || !is_float(t->dtype)) return SEGC_OK;  // integers are finite
  SEGC_CUDA_LAUNCH(op, set_results_kernel, 1, 1, (unsigned long long)n);
  SEGC_CUDA_LAUNCH(op, first_nonfinite_kernel, segc_cuda_blocks(n),
                   SEGC_CUDA_THREADS, t->data, t->dtype, n);
  unsigned long long first = 0;
  SEGC_CUDA_CALL(op, cudaMemcpyFromSymbolAsync(&first, first_bad_index,
                                               sizeof first, 0,
                                               cudaMemcpyDeviceToHost,
                                               SEGC_CUDA_STREAM));
  SEGC_CUDA_SYNC(op);
  *index = (int64_t)first;
  return SEGC_OK;
}

static segc_status cuda_sum(const segc_tensor *t, double *sum) {
  const char *op = "tensor sum";
  const int64_t n = segc_tensor_numel(t);
  *sum = 0.0;
  if (n == 0) return SEGC_OK;
  const int64_t chunks = segc_chunk_count(n, SEGC_REDUCE_CHUNK);
  SEGC_CUDA_LAUNCH(op, set_results_kernel, 1, 1, 0ull);
  for (int64_t k0 = 0; k0 < chunks; k0 += SUM_GROUP_CHUNKS) {
    const int64_t count = chunks - k0 < SUM_GROUP_CHUNKS ? chunks - k0
                                                         : SUM_GROUP_CHUNKS;
    SEGC_CUDA_LAUNCH(op, sum_chunks_kernel, segc_cuda_blocks(count),
                     SEGC_CUDA_THREADS, t->data, t->dtype, n, k0, count);
    SEGC_CUDA_LAUNCH(op, sum_combine_kernel, 1, 1, count);
  }
  SEGC_CUDA_CALL(op, cudaMemcpyFromSymbolAsync(sum, sum_total, sizeof *sum, 0,
                                               cudaMemcpyDeviceToHost,
                                               SEGC_CUDA_STREAM));
  SEGC_CUDA_SYNC(op);
  return SEGC_OK;
}

static segc_status cuda_to_host(const segc_tensor *t, size_t offset,
                                size_t bytes, void *host) {
  const char *op = "tensor read";
  if (bytes == 0) return SEGC_OK;
  SEGC_CUDA_CALL(op, cudaMemcpyAsync(host,
                                     (const unsigned char *)t->data + offset,
                                     bytes, cudaMemcpyDeviceToHost,
                                     SEGC_CUDA_STREAM));
  SEGC_CUDA_SYNC(op);
  return SEGC_OK;
}

extern "C" const segc_tensor_kernels segc_tensor_cuda_kernels = {
    cuda_fill,        cuda_zero,
    cuda_copy,        cuda_add_scalar,
    cuda_accumulate,  cuda_scale,
    cuda_axpy,        cuda_scale_all_finite,
    cuda_first_nonfinite, cuda_sum,
    cuda_to_host,
};
