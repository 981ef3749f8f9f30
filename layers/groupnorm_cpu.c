#include "layers/groupnorm_kernels.h"

#include <math.h>

#include "layers/op_common.h"

#define ALWAYS_INLINE static inline __attribute__((always_inline))

// Channels handled together in the reductions: the accumulators of one block
// stay in registers while the chunk's voxels stream past. 32 covers a whole
// voxel of SegResNet's widest full-resolution tensor in one pass (16 took
// 1.2-1.4x longer at 32x96^3: two strided passes over each chunk).
enum { CHANNEL_BLOCK = 32 };

int64_t segc_gn_chunk_voxels(int64_t channels) {
  const int64_t v = SEGC_GN_CHUNK_ELEMENTS / channels;
  return v > 0 ? v : 1;
}

int64_t segc_gn_chunk_count(segc_shape s) {
  const int64_t v = segc_gn_chunk_voxels(s.c);
  return (segc_shape_spatial(s) + v - 1) / v;
}

#define load segc_op_load
#define store segc_op_store

ALWAYS_INLINE size_t elem_bytes(bool bf16) { return bf16 ? 2 : 4; }

// The voxel range [first, end) of chunk k of a sample with `voxels` voxels.
ALWAYS_INLINE void chunk_range(segc_shape s, int64_t k, int64_t *first,
                               int64_t *end) {
  const int64_t v = segc_gn_chunk_voxels(s.c);
  *first = k * v;
  *end =
      *first + v < segc_shape_spatial(s) ? *first + v : segc_shape_spatial(s);
}

// ---- forward statistics ----------------------------------------------------

// Sums over voxels [v0, v1) for channels [c0, c0 + width) of one sample.
// Accumulators are local arrays (registers once unrolled for the constant
// width): pointers to them would force a store per voxel.
ALWAYS_INLINE void sums_block(const void *restrict xs, bool bf16,
                              int64_t channels, int64_t v0, int64_t v1,
                              int64_t c0, int width, double *sum_out,
                              double *sumsq_out) {
  double sum[CHANNEL_BLOCK] = {0}, sumsq[CHANNEL_BLOCK] = {0};
  for (int64_t v = v0; v < v1; ++v) {
    const int64_t base = v * channels + c0;
#pragma omp simd
    for (int j = 0; j < width; ++j) {
      const double xv = load(xs, base + j, bf16);
      sum[j] += xv;
      sumsq[j] += xv * xv;
    }
  }
  for (int j = 0; j < width; ++j) {
    sum_out[j] = sum[j];
    sumsq_out[j] = sumsq[j];
  }
}

ALWAYS_INLINE void sums_task(const void *x, bool bf16, segc_shape s,
                             int64_t task, double *partial) {
  const int64_t chunks = segc_gn_chunk_count(s);
  const int64_t n = task / chunks, k = task % chunks;
  const void *xs = (const char *)x +
                   (size_t)(n * s.c * segc_shape_spatial(s)) * elem_bytes(bf16);
  int64_t v0, v1;
  chunk_range(s, k, &v0, &v1);
  for (int64_t c0 = 0; c0 < s.c; c0 += CHANNEL_BLOCK) {
    double sum[CHANNEL_BLOCK], sumsq[CHANNEL_BLOCK];
    const int width =
        s.c - c0 < CHANNEL_BLOCK ? (int)(s.c - c0) : CHANNEL_BLOCK;
    if (width == CHANNEL_BLOCK)  // constant width: fully unrolled
      sums_block(xs, bf16, s.c, v0, v1, c0, CHANNEL_BLOCK, sum, sumsq);
    else
      sums_block(xs, bf16, s.c, v0, v1, c0, width, sum, sumsq);
    for (int j = 0; j < width; ++j) {
      double *p = partial + ((n * s.c + c0 + j) * chunks + k) * 2;
      p[0] = sum[j];
      p[1] = sumsq[j];
    }
  }
}

SEGC_KERNEL_VARIANTS static void sums_task_f32(const void *x, segc_shape s,
                                               int64_t t, double *partial) {
  sums_task(x, false, s, t, partial);
}

SEGC_KERNEL_VARIANTS static void sums_task_bf16(const void *x, segc_shape s,
                                                int64_t t, double *partial) {
  sums_task(x, true, s, t, partial);
}

void segc_gn_sums(const void *x, bool bf16, segc_shape s, double *partial) {
  const int64_t tasks = s.n * segc_gn_chunk_count(s);
  const bool parallel = segc_shape_numel(s) > SEGC_OP_PARALLEL_MIN;
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t t = 0; t < tasks; ++t) {
    if (bf16)
      sums_task_bf16(x, s, t, partial);
    else
      sums_task_f32(x, s, t, partial);
  }
}

// ---- statistics (per sample and group) ------------------------------------

void segc_gn_statistics(const double *partial, segc_shape s, int groups,
                        float eps, const float *gamma, const float *beta,
                        double *mean_out, double *rstd_out, float *scale,
                        float *shift) {
  const int64_t chunks = segc_gn_chunk_count(s);
  const int64_t per_group = s.c / groups;
  const double count = (double)(per_group * segc_shape_spatial(s));
  for (int64_t n = 0; n < s.n; ++n) {
    for (int64_t g = 0; g < groups; ++g) {
      double sum = 0.0, sumsq = 0.0;
      for (int64_t k = 0; k < chunks; ++k) {
        double chunk_sum = 0.0, chunk_sumsq = 0.0;
        for (int64_t c = g * per_group; c < (g + 1) * per_group; ++c) {
          const double *p = partial + ((n * s.c + c) * chunks + k) * 2;
          chunk_sum += p[0];
          chunk_sumsq += p[1];
        }
        sum += chunk_sum;
        sumsq += chunk_sumsq;
      }
      const double mean = sum / count;
      double var = sumsq / count - mean * mean;  // population variance
      if (var < 0.0) var = 0.0;                  // rounding on a constant group
      const double rstd = 1.0 / sqrt(var + (double)eps);
      mean_out[n * groups + g] = mean;
      rstd_out[n * groups + g] = rstd;
      for (int64_t c = g * per_group; c < (g + 1) * per_group; ++c) {
        const float gamma_c = gamma ? gamma[c] : 1.0f;
        const float beta_c = beta ? beta[c] : 0.0f;
        const double scale_c = gamma_c * rstd;
        scale[n * s.c + c] = (float)scale_c;
        shift[n * s.c + c] = (float)(beta_c - mean * scale_c);
      }
    }
  }
}

// ---- normalize --------------------------------------------------------------

ALWAYS_INLINE float affine_relu(float xv, float scale, float shift, bool relu) {
  const float z = xv * scale + shift;
  return relu && z < 0.0f ? 0.0f : z;  // NaN passes through, as in PyTorch
}

ALWAYS_INLINE void apply_task(const void *x, void *y, bool bf16, segc_shape s,
                              segc_gn_affine affine, int64_t task) {
  const int64_t chunks = segc_gn_chunk_count(s);
  const int64_t n = task / chunks, k = task % chunks;
  const int64_t sample = n * s.c * segc_shape_spatial(s);
  const float *scale = affine.scale + n * s.c, *shift = affine.shift + n * s.c;
  int64_t v0, v1;
  chunk_range(s, k, &v0, &v1);
  for (int64_t v = v0; v < v1; ++v) {
    const int64_t base = sample + v * s.c;
#pragma omp simd
    for (int64_t c = 0; c < s.c; ++c)
      store(
          y, base + c,
          affine_relu(load(x, base + c, bf16), scale[c], shift[c], affine.relu),
          bf16);
  }
}

SEGC_KERNEL_VARIANTS static void apply_task_f32(const void *x, void *y,
                                                segc_shape s,
                                                segc_gn_affine affine,
                                                int64_t t) {
  apply_task(x, y, false, s, affine, t);
}

SEGC_KERNEL_VARIANTS static void apply_task_bf16(const void *x, void *y,
                                                 segc_shape s,
                                                 segc_gn_affine affine,
                                                 int64_t t) {
  apply_task(x, y, true, s, affine, t);
}

void segc_gn_apply(const void *x, void *y, bool bf16, segc_shape s,
                   segc_gn_affine affine) {
  const int64_t tasks = s.n * segc_gn_chunk_count(s);
  const bool parallel = segc_shape_numel(s) > SEGC_OP_PARALLEL_MIN;
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t t = 0; t < tasks; ++t) {
    if (bf16)
      apply_task_bf16(x, y, s, affine, t);
    else
      apply_task_f32(x, y, s, affine, t);
  }
}

// ---- backward ---------------------------------------------------------------

// The gradient reaching the affine output: dy where the ReLU passed, else 0.
// The mask repeats the forward's float arithmetic, so it matches it exactly.
ALWAYS_INLINE float masked_grad(float dyv, float xv, float scale, float shift,
                                bool relu) {
  return relu ? segc_op_pass_if_positive(dyv, xv * scale + shift) : dyv;
}

ALWAYS_INLINE void grad_sums_block(const void *restrict xs,
                                   const void *restrict dys, bool bf16,
                                   int64_t channels, int64_t v0, int64_t v1,
                                   int64_t c0, int width, const float *scale_in,
                                   const float *shift_in, bool relu,
                                   const double *mean_in, double *sum_dz_out,
                                   double *sum_dz_xc_out) {
  float scale[CHANNEL_BLOCK] = {0}, shift[CHANNEL_BLOCK] = {0};
  double mean[CHANNEL_BLOCK] = {0};
  double sum_dz[CHANNEL_BLOCK] = {0}, sum_dz_xc[CHANNEL_BLOCK] = {0};
  for (int j = 0; j < width; ++j) {
    scale[j] = scale_in[j];
    shift[j] = shift_in[j];
    mean[j] = mean_in[j];
  }
  for (int64_t v = v0; v < v1; ++v) {
    const int64_t base = v * channels + c0;
#pragma omp simd
    for (int j = 0; j < width; ++j) {
      const float xv = load(xs, base + j, bf16);
      const double dz =
          masked_grad(load(dys, base + j, bf16), xv, scale[j], shift[j], relu);
      sum_dz[j] += dz;
      sum_dz_xc[j] += dz * ((double)xv - mean[j]);
    }
  }
  for (int j = 0; j < width; ++j) {
    sum_dz_out[j] = sum_dz[j];
    sum_dz_xc_out[j] = sum_dz_xc[j];
  }
}

ALWAYS_INLINE void grad_sums_task(const void *x, const void *dy, bool bf16,
                                  segc_shape s, segc_gn_affine affine,
                                  int groups, const double *group_mean,
                                  int64_t task, double *partial) {
  const int64_t chunks = segc_gn_chunk_count(s);
  const int64_t n = task / chunks, k = task % chunks;
  const int64_t per_group = s.c / groups;
  const size_t sample_bytes =
      (size_t)(n * s.c * segc_shape_spatial(s)) * elem_bytes(bf16);
  const void *xs = (const char *)x + sample_bytes;
  const void *dys = (const char *)dy + sample_bytes;
  int64_t v0, v1;
  chunk_range(s, k, &v0, &v1);
  for (int64_t c0 = 0; c0 < s.c; c0 += CHANNEL_BLOCK) {
    double sum_dz[CHANNEL_BLOCK], sum_dz_xc[CHANNEL_BLOCK];
    const int width =
        s.c - c0 < CHANNEL_BLOCK ? (int)(s.c - c0) : CHANNEL_BLOCK;
    const int64_t nc = n * s.c + c0;
    double mean[CHANNEL_BLOCK];  // each channel's group mean
    for (int j = 0; j < width; ++j)
      mean[j] = group_mean[n * groups + (c0 + j) / per_group];
    if (width == CHANNEL_BLOCK)
      grad_sums_block(xs, dys, bf16, s.c, v0, v1, c0, CHANNEL_BLOCK,
                      affine.scale + nc, affine.shift + nc, affine.relu, mean,
                      sum_dz, sum_dz_xc);
    else
      grad_sums_block(xs, dys, bf16, s.c, v0, v1, c0, width, affine.scale + nc,
                      affine.shift + nc, affine.relu, mean, sum_dz, sum_dz_xc);
    for (int j = 0; j < width; ++j) {
      double *p = partial + ((nc + j) * chunks + k) * 2;
      p[0] = sum_dz[j];
      p[1] = sum_dz_xc[j];
    }
  }
}

SEGC_KERNEL_VARIANTS static void grad_sums_task_f32(
    const void *x, const void *dy, segc_shape s, segc_gn_affine affine,
    int groups, const double *mean, int64_t t, double *partial) {
  grad_sums_task(x, dy, false, s, affine, groups, mean, t, partial);
}

SEGC_KERNEL_VARIANTS static void grad_sums_task_bf16(
    const void *x, const void *dy, segc_shape s, segc_gn_affine affine,
    int groups, const double *mean, int64_t t, double *partial) {
  grad_sums_task(x, dy, true, s, affine, groups, mean, t, partial);
}

void segc_gn_grad_sums(const void *x, const void *dy, bool bf16, segc_shape s,
                       segc_gn_affine affine, int groups, const double *mean,
                       double *partial) {
  const int64_t tasks = s.n * segc_gn_chunk_count(s);
  const bool parallel = segc_shape_numel(s) > SEGC_OP_PARALLEL_MIN;
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t t = 0; t < tasks; ++t) {
    if (bf16)
      grad_sums_task_bf16(x, dy, s, affine, groups, mean, t, partial);
    else
      grad_sums_task_f32(x, dy, s, affine, groups, mean, t, partial);
  }
}

ALWAYS_INLINE void grad_input_task(const void *x, const void *dy, void *dx,
                                   bool bf16, segc_shape s,
                                   segc_gn_affine affine, segc_gn_grad_map map,
                                   bool accumulate, int64_t task) {
  const int64_t chunks = segc_gn_chunk_count(s);
  const int64_t n = task / chunks, k = task % chunks;
  const int64_t sample = n * s.c * segc_shape_spatial(s), nc = n * s.c;
  const float *scale = affine.scale + nc, *shift = affine.shift + nc;
  const float *dz_scale = map.dz_scale + nc, *x_scale = map.x_scale + nc;
  const float *center = map.center + nc, *offset = map.offset + nc;
  int64_t v0, v1;
  chunk_range(s, k, &v0, &v1);
  for (int64_t v = v0; v < v1; ++v) {
    const int64_t base = sample + v * s.c;
#pragma omp simd
    for (int64_t c = 0; c < s.c; ++c) {
      const float xv = load(x, base + c, bf16);
      const float dz = masked_grad(load(dy, base + c, bf16), xv, scale[c],
                                   shift[c], affine.relu);
      float g = dz_scale[c] * dz + x_scale[c] * (xv - center[c]) + offset[c];
      if (accumulate) g += load(dx, base + c, bf16);
      store(dx, base + c, g, bf16);
    }
  }
}

SEGC_KERNEL_VARIANTS static void grad_input_task_f32(
    const void *x, const void *dy, void *dx, segc_shape s,
    segc_gn_affine affine, segc_gn_grad_map map, bool accumulate, int64_t t) {
  // Constant `accumulate` in each call: no branch left in the loop.
  if (accumulate)
    grad_input_task(x, dy, dx, false, s, affine, map, true, t);
  else
    grad_input_task(x, dy, dx, false, s, affine, map, false, t);
}

SEGC_KERNEL_VARIANTS static void grad_input_task_bf16(
    const void *x, const void *dy, void *dx, segc_shape s,
    segc_gn_affine affine, segc_gn_grad_map map, bool accumulate, int64_t t) {
  if (accumulate)
    grad_input_task(x, dy, dx, true, s, affine, map, true, t);
  else
    grad_input_task(x, dy, dx, true, s, affine, map, false, t);
}

void segc_gn_grad_input(const void *x, const void *dy, void *dx, bool bf16,
                        segc_shape s, segc_gn_affine affine,
                        segc_gn_grad_map map, bool accumulate) {
  const int64_t tasks = s.n * segc_gn_chunk_count(s);
  const bool parallel = segc_shape_numel(s) > SEGC_OP_PARALLEL_MIN;
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t t = 0; t < tasks; ++t) {
    if (bf16)
      grad_input_task_bf16(x, dy, dx, s, affine, map, accumulate, t);
    else
      grad_input_task_f32(x, dy, dx, s, affine, map, accumulate, t);
  }
}

// ---- gradient maps (per sample and channel) -------------------------------

// Per (sample, channel) sums of dz and dz * (x - mean), chunks in order.
static void combine_grad_chunks(const double *partial, segc_shape s,
                                double *sum_dz, double *sum_dz_xc) {
  const int64_t chunks = segc_gn_chunk_count(s);
  for (int64_t nc = 0; nc < s.n * s.c; ++nc) {
    double a = 0.0, b = 0.0;
    for (int64_t k = 0; k < chunks; ++k) {
      a += partial[(nc * chunks + k) * 2];
      b += partial[(nc * chunks + k) * 2 + 1];
    }
    sum_dz[nc] = a;
    sum_dz_xc[nc] = b;
  }
}

// dx = rstd * (gamma dz - mean(gamma dz) - xhat mean(gamma dz xhat)) as the
// map dz_scale * dz + x_scale * (x - center) + offset.
static void grad_map(segc_shape s, int groups, const double *mean_in,
                     const double *rstd_in, const float *gamma,
                     const double *sum_dz, const double *sum_dz_xc,
                     float *coefs) {
  const int64_t per_group = s.c / groups;
  const double count = (double)(per_group * segc_shape_spatial(s));
  const int64_t nc_count = s.n * s.c;
  float *dz_scale = coefs, *x_scale = coefs + nc_count;
  float *center = coefs + 2 * nc_count, *offset = coefs + 3 * nc_count;
  for (int64_t n = 0; n < s.n; ++n) {
    for (int64_t g = 0; g < groups; ++g) {
      const double mean = mean_in[n * groups + g];
      const double rstd = rstd_in[n * groups + g];
      // sum(gamma * dz) and sum(gamma * dz * xhat) over the group.
      double gdz = 0.0, gdz_xhat = 0.0;
      for (int64_t c = g * per_group; c < (g + 1) * per_group; ++c) {
        const double gamma_c = gamma ? gamma[c] : 1.0f;
        gdz += gamma_c * sum_dz[n * s.c + c];
        gdz_xhat += gamma_c * sum_dz_xc[n * s.c + c] * rstd;
      }
      for (int64_t c = g * per_group; c < (g + 1) * per_group; ++c) {
        const int64_t nc = n * s.c + c;
        const float gamma_c = gamma ? gamma[c] : 1.0f;
        dz_scale[nc] = (float)(gamma_c * rstd);
        x_scale[nc] = (float)(-rstd * rstd * gdz_xhat / count);
        center[nc] = (float)mean;
        offset[nc] = (float)(-rstd * gdz / count);
      }
    }
  }
}

// gamma_grad[c] += sum_n sum_dz_xc * rstd; beta_grad[c] += sum_n sum_dz.
static void param_grads(segc_shape s, int groups, const double *rstd,
                        const double *sum_dz, const double *sum_dz_xc,
                        float *gamma_grad, float *beta_grad) {
  for (int64_t c = 0; c < s.c; ++c) {
    double dgamma = 0.0, dbeta = 0.0;
    for (int64_t n = 0; n < s.n; ++n) {
      const double r = rstd[n * groups + c / (s.c / groups)];
      dgamma += sum_dz_xc[n * s.c + c] * r;
      dbeta += sum_dz[n * s.c + c];
    }
    if (gamma_grad) gamma_grad[c] += (float)dgamma;
    if (beta_grad) beta_grad[c] += (float)dbeta;
  }
}

void segc_gn_grad_finish(const double *partial, segc_shape s, int groups,
                         const double *mean, const double *rstd,
                         const float *gamma, double *sums, float *coefs,
                         float *gamma_grad, float *beta_grad) {
  double *sum_dz = sums, *sum_dz_xc = sums + s.n * s.c;
  combine_grad_chunks(partial, s, sum_dz, sum_dz_xc);
  grad_map(s, groups, mean, rstd, gamma, sum_dz, sum_dz_xc, coefs);
  param_grads(s, groups, rstd, sum_dz, sum_dz_xc, gamma_grad, beta_grad);
}

// The table's entries: the functions above, which cannot fail.
static segc_status cpu_sums(const void *x, bool bf16, segc_shape s,
                            double *partial) {
  segc_gn_sums(x, bf16, s, partial);
  return SEGC_OK;
}

static segc_status cpu_statistics(const double *partial, segc_shape s,
                                  int groups, float eps, const float *gamma,
                                  const float *beta, double *mean,
                                  double *rstd, float *scale, float *shift) {
  segc_gn_statistics(partial, s, groups, eps, gamma, beta, mean, rstd, scale,
                     shift);
  return SEGC_OK;
}

static segc_status cpu_apply(const void *x, void *y, bool bf16, segc_shape s,
                             segc_gn_affine affine) {
  segc_gn_apply(x, y, bf16, s, affine);
  return SEGC_OK;
}

static segc_status cpu_grad_sums(const void *x, const void *dy, bool bf16,
                                 segc_shape s, segc_gn_affine affine,
                                 int groups, const double *mean,
                                 double *partial) {
  segc_gn_grad_sums(x, dy, bf16, s, affine, groups, mean, partial);
  return SEGC_OK;
}

static segc_status cpu_grad_finish(const double *partial, segc_shape s,
                                   int groups, const double *mean,
                                   const double *rstd, const float *gamma,
                                   double *sums, float *coefs,
                                   float *gamma_grad, float *beta_grad) {
  segc_gn_grad_finish(partial, s, groups, mean, rstd, gamma, sums, coefs,
                      gamma_grad, beta_grad);
  return SEGC_OK;
}

static segc_status cpu_grad_input(const void *x, const void *dy, void *dx,
                                  bool bf16, segc_shape s,
                                  segc_gn_affine affine, segc_gn_grad_map map,
                                  bool accumulate) {
  segc_gn_grad_input(x, dy, dx, bf16, s, affine, map, accumulate);
  return SEGC_OK;
}

const segc_gn_kernels segc_gn_cpu_kernels = {
    .sums = cpu_sums,
    .statistics = cpu_statistics,
    .apply = cpu_apply,
    .grad_sums = cpu_grad_sums,
    .grad_finish = cpu_grad_finish,
    .grad_input = cpu_grad_input,
};
