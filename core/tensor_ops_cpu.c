// The CPU kernels of core/tensor_ops.h (glue in tensor_ops.c; contract in
// tensor_ops_kernels.h). f32 tensors take plain loops the compiler
// vectorises; other dtypes go through f32 element by element.
#include "core/tensor_ops_kernels.h"

#include <float.h>
#include <math.h>
#include <string.h>

#include "core/parallel.h"

// Elementwise loops below this many elements run on one thread.
enum { PARALLEL_MIN = 1 << 16 };

// Chunks of a sum whose partial sums are held at once (on the stack); more
// chunks are taken this many at a time, still added in chunk order.
enum { SUM_CHUNKS_AT_ONCE = 256 };

// Not finite: infinite or NaN (the comparison is false for NaN). A float
// comparison, so the loops below vectorise.
static inline bool nonfinite(float x) { return !(fabsf(x) <= FLT_MAX); }

static segc_status cpu_fill(const segc_tensor *t, float value) {
  const int64_t n = segc_tensor_numel(t);
#pragma omp parallel for schedule(static) if (n > PARALLEL_MIN)
  for (int64_t i = 0; i < n; ++i)
    segc_store_f32(t->data, t->dtype, (size_t)i, value);
  return SEGC_OK;
}

static segc_status cpu_zero(const segc_tensor *t) {
  memset(t->data, 0, segc_tensor_bytes(t));
  return SEGC_OK;
}

static segc_status cpu_copy(const segc_tensor *src, const segc_tensor *dst) {
  const size_t n = (size_t)segc_tensor_numel(src);
  if (src->layout == dst->layout) {
    segc_convert(src->data, src->dtype, dst->data, dst->dtype, n);
    return SEGC_OK;
  }
  // Layout change: walk the destination in order, gather from the source.
  const segc_shape s = src->shape;
  const int64_t spatial = segc_shape_spatial(s);
#pragma omp parallel for collapse(2) schedule(static) if (n > (1u << 16))
  for (int64_t b = 0; b < s.n; ++b) {
    for (int64_t p = 0; p < spatial; ++p) {
      for (int64_t c = 0; c < s.c; ++c) {
        int64_t ncdhw = (b * s.c + c) * spatial + p;
        int64_t ndhwc = (b * spatial + p) * s.c + c;
        int64_t from = src->layout == SEGC_LAYOUT_NCDHW ? ncdhw : ndhwc;
        int64_t to = dst->layout == SEGC_LAYOUT_NCDHW ? ncdhw : ndhwc;
        segc_store_f32(dst->data, dst->dtype, (size_t)to,
                       segc_load_f32(src->data, src->dtype, (size_t)from));
      }
    }
  }
  return SEGC_OK;
}

static segc_status cpu_add_scalar(const segc_tensor *t, float value) {
  const int64_t n = segc_tensor_numel(t);
#pragma omp parallel for schedule(static) if (n > PARALLEL_MIN)
  for (int64_t i = 0; i < n; ++i)
    segc_store_f32(t->data, t->dtype, (size_t)i,
                   segc_load_f32(t->data, t->dtype, (size_t)i) + value);
  return SEGC_OK;
}

static segc_status cpu_accumulate(const segc_tensor *dst,
                                  const segc_tensor *src) {
  const int64_t n = segc_tensor_numel(dst);
  if (dst->dtype == SEGC_F32 && src->dtype == SEGC_F32) {
    float *d = dst->data;
    const float *s = src->data;
#pragma omp parallel for schedule(static) if (n > PARALLEL_MIN)
    for (int64_t i = 0; i < n; ++i) d[i] += s[i];
    return SEGC_OK;
  }
#pragma omp parallel for schedule(static) if (n > PARALLEL_MIN)
  for (int64_t i = 0; i < n; ++i)
    segc_store_f32(dst->data, dst->dtype, (size_t)i,
                   segc_load_f32(dst->data, dst->dtype, (size_t)i) +
                       segc_load_f32(src->data, src->dtype, (size_t)i));
  return SEGC_OK;
}

static segc_status cpu_scale(const segc_tensor *t, float factor) {
  const int64_t n = segc_tensor_numel(t);
  if (t->dtype == SEGC_F32) {
    float *x = t->data;
#pragma omp parallel for schedule(static) if (n > PARALLEL_MIN)
    for (int64_t i = 0; i < n; ++i) x[i] *= factor;
    return SEGC_OK;
  }
#pragma omp parallel for schedule(static) if (n > PARALLEL_MIN)
  for (int64_t i = 0; i < n; ++i)
    segc_store_f32(t->data, t->dtype, (size_t)i,
                   segc_load_f32(t->data, t->dtype, (size_t)i) * factor);
  return SEGC_OK;
}

static segc_status cpu_axpy(const segc_tensor *y, float alpha,
                            const segc_tensor *x) {
  const int64_t n = segc_tensor_numel(y);
  if (y->dtype == SEGC_F32 && x->dtype == SEGC_F32) {
    float *d = y->data;
    const float *s = x->data;
#pragma omp parallel for schedule(static) if (n > PARALLEL_MIN)
    for (int64_t i = 0; i < n; ++i) d[i] += alpha * s[i];
    return SEGC_OK;
  }
#pragma omp parallel for schedule(static) if (n > PARALLEL_MIN)
  for (int64_t i = 0; i < n; ++i)
    segc_store_f32(y->data, y->dtype, (size_t)i,
                   segc_load_f32(y->data, y->dtype, (size_t)i) +
                       alpha * segc_load_f32(x->data, x->dtype, (size_t)i));
  return SEGC_OK;
}

// The element range [*first, *end) of chunk k of n elements.
static void chunk_range(int64_t k, int64_t n, int64_t *first, int64_t *end) {
  *first = k * SEGC_REDUCE_CHUNK;
  *end = *first + SEGC_REDUCE_CHUNK < n ? *first + SEGC_REDUCE_CHUNK : n;
}

// Multiplies chunk k by factor; true when a result is not finite.
static bool scale_chunk(const segc_tensor *t, float factor, int64_t k) {
  int64_t first, end;
  chunk_range(k, segc_tensor_numel(t), &first, &end);
  bool bad = false;
  if (t->dtype == SEGC_F32) {
    float *x = t->data;
    for (int64_t i = first; i < end; ++i) {
      x[i] *= factor;
      bad |= nonfinite(x[i]);
    }
    return bad;
  }
  for (int64_t i = first; i < end; ++i) {
    segc_store_f32(t->data, t->dtype, (size_t)i,
                   segc_load_f32(t->data, t->dtype, (size_t)i) * factor);
    bad |= nonfinite(segc_load_f32(t->data, t->dtype, (size_t)i));
  }
  return bad;
}

static segc_status cpu_scale_all_finite(const segc_tensor *t, float factor,
                                        bool *all_finite) {
  const int64_t n = segc_tensor_numel(t);
  const int64_t chunks = segc_chunk_count(n, SEGC_REDUCE_CHUNK);
  bool bad = false;
#pragma omp parallel for schedule(static) reduction(| : bad) \
    if (n > PARALLEL_MIN)
  for (int64_t k = 0; k < chunks; ++k) bad |= scale_chunk(t, factor, k);
  *all_finite = !bad;
  return SEGC_OK;
}

// The first non-finite index in chunk k, or n. A vector pass says whether
// there is one; only then is the chunk scanned for it.
static int64_t first_nonfinite_in_chunk(const segc_tensor *t, int64_t k) {
  const int64_t n = segc_tensor_numel(t);
  int64_t first, end;
  chunk_range(k, n, &first, &end);
  if (t->dtype == SEGC_F32) {
    const float *x = t->data;
    bool bad = false;
    for (int64_t i = first; i < end; ++i) bad |= nonfinite(x[i]);
    if (!bad) return n;
    for (int64_t i = first; i < end; ++i)
      if (nonfinite(x[i])) return i;
    return n;
  }
  for (int64_t i = first; i < end; ++i)
    if (nonfinite(segc_load_f32(t->data, t->dtype, (size_t)i))) return i;
  return n;
}

static segc_status cpu_first_nonfinite(const segc_tensor *t, int64_t *index) {
  const int64_t n = segc_tensor_numel(t);
  *index = n;
  if (t->dtype != SEGC_F32 && t->dtype != SEGC_BF16 && t->dtype != SEGC_F16)
    return SEGC_OK;  // integers are always finite
  const int64_t chunks = segc_chunk_count(n, SEGC_REDUCE_CHUNK);
  int64_t first = n;
#pragma omp parallel for schedule(static) reduction(min : first) \
    if (n > PARALLEL_MIN)
  for (int64_t k = 0; k < chunks; ++k) {
    const int64_t i = first_nonfinite_in_chunk(t, k);
    if (i < first) first = i;
  }
  *index = first;
  return SEGC_OK;
}

// The sum of chunk k in double, in storage order.
static double sum_chunk(const segc_tensor *t, int64_t k) {
  int64_t first, end;
  chunk_range(k, segc_tensor_numel(t), &first, &end);
  double s = 0.0;
  if (t->dtype == SEGC_F32) {
    const float *x = t->data;
    for (int64_t i = first; i < end; ++i) s += x[i];
    return s;
  }
  for (int64_t i = first; i < end; ++i)
    s += segc_load_f32(t->data, t->dtype, (size_t)i);
  return s;
}

// Chunks summed in parallel, SUM_CHUNKS_AT_ONCE at a time, and their sums
// added in chunk order: for f32 the same sum as segc_sum_f32.
static segc_status cpu_sum(const segc_tensor *t, double *sum) {
  const int64_t n = segc_tensor_numel(t);
  const int64_t chunks = segc_chunk_count(n, SEGC_REDUCE_CHUNK);
  double partial[SUM_CHUNKS_AT_ONCE];
  double total = 0.0;
  for (int64_t k0 = 0; k0 < chunks; k0 += SUM_CHUNKS_AT_ONCE) {
    const int64_t count = chunks - k0 < SUM_CHUNKS_AT_ONCE
                              ? chunks - k0
                              : SUM_CHUNKS_AT_ONCE;
#pragma omp parallel for schedule(static) if (n > PARALLEL_MIN)
    for (int64_t j = 0; j < count; ++j) partial[j] = sum_chunk(t, k0 + j);
    for (int64_t j = 0; j < count; ++j) total += partial[j];
  }
  *sum = total;
  return SEGC_OK;
}

static segc_status cpu_to_host(const segc_tensor *t, size_t offset,
                               size_t bytes, void *host) {
  memcpy(host, (const unsigned char *)t->data + offset, bytes);
  return SEGC_OK;
}

const segc_tensor_kernels segc_tensor_cpu_kernels = {
    .fill = cpu_fill,
    .zero = cpu_zero,
    .copy = cpu_copy,
    .add_scalar = cpu_add_scalar,
    .accumulate = cpu_accumulate,
    .scale = cpu_scale,
    .axpy = cpu_axpy,
    .scale_all_finite = cpu_scale_all_finite,
    .first_nonfinite = cpu_first_nonfinite,
    .sum = cpu_sum,
    .to_host = cpu_to_host,
};
