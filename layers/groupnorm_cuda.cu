// The CUDA kernels of GroupNorm(+ReLU) over channels-last memory (contract
// in groupnorm_kernels.h, glue in groupnorm.c), on cudaStreamPerThread.
//
// Deterministic, and the CPU's arithmetic: the chunk sums are taken by one
// thread per (sample, channel, chunk) over the chunk's voxels in voxel order
// in double, exactly as groupnorm_cpu.c does, and the small per-(sample,
// group) and per-channel steps run one thread per result with the CPU's
// loops. No atomics anywhere; no float operation is contracted
// (--fmad=false), so the statistics, the maps and the outputs are the CPU's
// values (up to the device's double sqrt and division, both correctly
// rounded as on the CPU).
#include "core/cuda_ops.cuh"

extern "C" {
#include "layers/groupnorm_kernels.h"
}

static const char *const op_name = "groupnorm";

// Voxels per chunk and chunks per sample (segc_gn_chunk_voxels/count).
__host__ __device__ inline int64_t chunk_voxels(int64_t channels) {
  const int64_t v = SEGC_GN_CHUNK_ELEMENTS / channels;
  return v > 0 ? v : 1;
}

__host__ __device__ inline int64_t chunk_count(segc_shape s) {
  const int64_t v = chunk_voxels(s.c);
  return (s.d * s.h * s.w + v - 1) / v;
}

// Work item t = (sample n, chunk k, channel c), channel fastest so that a
// warp reads consecutive channels of one voxel.
struct chunk_item {
  int64_t n, k, c, v0, v1;
};

__device__ inline chunk_item chunk_item_of(segc_shape s, int64_t t) {
  const int64_t chunks = chunk_count(s), spatial = s.d * s.h * s.w;
  chunk_item it;
  it.c = t % s.c;
  it.k = t / s.c % chunks;
  it.n = t / (s.c * chunks);
  it.v0 = it.k * chunk_voxels(s.c);
  it.v1 = it.v0 + chunk_voxels(s.c) < spatial ? it.v0 + chunk_voxels(s.c)
                                              : spatial;
  return it;
}

__global__ void sums_kernel(const void *x, bool bf16, segc_shape s,
                            double *partial) {
  const int64_t items = s.n * chunk_count(s) * s.c;
  const int64_t spatial = s.d * s.h * s.w;
  SEGC_CUDA_FOR(t, items) {
    const chunk_item it = chunk_item_of(s, t);
    const int64_t base = it.n * s.c * spatial + it.c;
    double sum = 0.0, sumsq = 0.0;
    for (int64_t v = it.v0; v < it.v1; ++v) {
      const double xv = segc_cuda_load_act(x, base + v * s.c, bf16);
      sum += xv;
      sumsq += xv * xv;
    }
    double *p = partial + ((it.n * s.c + it.c) * chunk_count(s) + it.k) * 2;
    p[0] = sum;
    p[1] = sumsq;
  }
}

// One thread per (sample, group): segc_gn_statistics' loops.
__global__ void statistics_kernel(const double *partial, segc_shape s,
                                  int groups, float eps, const float *gamma,
                                  const float *beta, double *mean_out,
                                  double *rstd_out, float *scale,
                                  float *shift) {
  const int64_t chunks = chunk_count(s);
  const int64_t per_group = s.c / groups;
  const double count = (double)(per_group * s.d * s.h * s.w);
  SEGC_CUDA_FOR(t, s.n * groups) {
    const int64_t n = t / groups, g = t % groups;
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
    double var = sumsq / count - mean * mean;
    if (var < 0.0) var = 0.0;
    const double rstd = 1.0 / sqrt(var + (double)eps);
    mean_out[t] = mean;
    rstd_out[t] = rstd;
    for (int64_t c = g * per_group; c < (g + 1) * per_group; ++c) {
      const float gamma_c = gamma ? gamma[c] : 1.0f;
      const float beta_c = beta ? beta[c] : 0.0f;
      const double scale_c = gamma_c * rstd;
      scale[n * s.c + c] = (float)scale_c;
      shift[n * s.c + c] = (float)(beta_c - mean * scale_c);
    }
  }
}

__global__ void apply_kernel(const void *x, void *y, bool bf16, segc_shape s,
                             segc_gn_affine affine) {
  const int64_t total = s.n * s.c * s.d * s.h * s.w;
  const int64_t sample = s.c * s.d * s.h * s.w;
  SEGC_CUDA_FOR(i, total) {
    const int64_t nc = i / sample * s.c + i % s.c;
    const float z =
        segc_cuda_load_act(x, i, bf16) * affine.scale[nc] + affine.shift[nc];
    segc_cuda_store_act(y, i, affine.relu && z < 0.0f ? 0.0f : z, bf16);
  }
}

// dy where the forward's ReLU passed (the bits of z are > 0), else +0: the
// CPU's segc_op_pass_if_positive on the same float z.
__device__ inline float masked_grad(float dyv, float xv, float scale,
                                    float shift, bool relu) {
  if (!relu) return dyv;
  return __float_as_int(xv * scale + shift) > 0 ? dyv : 0.0f;
}

__global__ void grad_sums_kernel(const void *x, const void *dy, bool bf16,
                                 segc_shape s, segc_gn_affine affine,
                                 int groups, const double *group_mean,
                                 double *partial) {
  const int64_t items = s.n * chunk_count(s) * s.c;
  const int64_t spatial = s.d * s.h * s.w, per_group = s.c / groups;
  SEGC_CUDA_FOR(t, items) {
    const chunk_item it = chunk_item_of(s, t);
    const int64_t nc = it.n * s.c + it.c;
    const int64_t base = it.n * s.c * spatial + it.c;
    const float scale = affine.scale[nc], shift = affine.shift[nc];
    const double mean = group_mean[it.n * groups + it.c / per_group];
    double sum_dz = 0.0, sum_dz_xc = 0.0;
    for (int64_t v = it.v0; v < it.v1; ++v) {
      const float xv = segc_cuda_load_act(x, base + v * s.c, bf16);
      const double dz =
          masked_grad(segc_cuda_load_act(dy, base + v * s.c, bf16), xv, scale,
                      shift, affine.relu);
      sum_dz += dz;
      sum_dz_xc += dz * ((double)xv - mean);
    }
    double *p = partial + (nc * chunk_count(s) + it.k) * 2;
    p[0] = sum_dz;
    p[1] = sum_dz_xc;
  }
}

// Per (sample, channel): the chunk sums in chunk order.
__global__ void combine_grad_chunks_kernel(const double *partial, segc_shape s,
                                           double *sum_dz, double *sum_dz_xc) {
  const int64_t chunks = chunk_count(s);
  SEGC_CUDA_FOR(nc, s.n * s.c) {
    double a = 0.0, b = 0.0;
    for (int64_t k = 0; k < chunks; ++k) {
      a += partial[(nc * chunks + k) * 2];
      b += partial[(nc * chunks + k) * 2 + 1];
    }
    sum_dz[nc] = a;
    sum_dz_xc[nc] = b;
  }
}

// Per (sample, group): the input-gradient map (groupnorm_cpu.c grad_map).
__global__ void grad_map_kernel(segc_shape s, int groups,
                                const double *mean_in, const double *rstd_in,
                                const float *gamma, const double *sum_dz,
                                const double *sum_dz_xc, float *coefs) {
  const int64_t per_group = s.c / groups;
  const double count = (double)(per_group * s.d * s.h * s.w);
  const int64_t nc_count = s.n * s.c;
  float *dz_scale = coefs, *x_scale = coefs + nc_count;
  float *center = coefs + 2 * nc_count, *offset = coefs + 3 * nc_count;
  SEGC_CUDA_FOR(t, s.n * groups) {
    const int64_t n = t / groups, g = t % groups;
    const double mean = mean_in[t], rstd = rstd_in[t];
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

// Per channel: the parameter gradients, samples in order.
__global__ void param_grads_kernel(segc_shape s, int groups,
                                   const double *rstd, const double *sum_dz,
                                   const double *sum_dz_xc, float *gamma_grad,
                                   float *beta_grad) {
  SEGC_CUDA_FOR(c, s.c) {
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

__global__ void grad_input_kernel(const void *x, const void *dy, void *dx,
                                  bool bf16, segc_shape s,
                                  segc_gn_affine affine, segc_gn_grad_map map,
                                  bool accumulate) {
  const int64_t total = s.n * s.c * s.d * s.h * s.w;
  const int64_t sample = s.c * s.d * s.h * s.w;
  SEGC_CUDA_FOR(i, total) {
    const int64_t nc = i / sample * s.c + i % s.c;
    const float xv = segc_cuda_load_act(x, i, bf16);
    const float dz = masked_grad(segc_cuda_load_act(dy, i, bf16), xv,
                                 affine.scale[nc], affine.shift[nc],
                                 affine.relu);
    float g = map.dz_scale[nc] * dz + map.x_scale[nc] * (xv - map.center[nc]) +
              map.offset[nc];
    if (accumulate) g += segc_cuda_load_act(dx, i, bf16);
    segc_cuda_store_act(dx, i, g, bf16);
  }
}

static segc_status cuda_sums(const void *x, bool bf16, segc_shape s,
                             double *partial) {
  const int64_t items = s.n * chunk_count(s) * s.c;
  if (items == 0) return SEGC_OK;
  SEGC_CUDA_LAUNCH(op_name, sums_kernel, segc_cuda_blocks(items),
                   SEGC_CUDA_THREADS, x, bf16, s, partial);
  return SEGC_OK;
}

static segc_status cuda_statistics(const double *partial, segc_shape s,
                                   int groups, float eps, const float *gamma,
                                   const float *beta, double *mean,
                                   double *rstd, float *scale, float *shift) {
  const int64_t items = s.n * groups;
  if (items == 0) return SEGC_OK;
  SEGC_CUDA_LAUNCH(op_name, statistics_kernel, segc_cuda_blocks(items),
                   SEGC_CUDA_THREADS, partial, s, groups, eps, gamma, beta,
                   mean, rstd, scale, shift);
  return SEGC_OK;
}

static segc_status cuda_apply(const void *x, void *y, bool bf16, segc_shape s,
                              segc_gn_affine affine) {
  const int64_t total = segc_shape_numel(s);
  if (total == 0) return SEGC_OK;
  SEGC_CUDA_LAUNCH(op_name, apply_kernel, segc_cuda_blocks(total),
                   SEGC_CUDA_THREADS, x, y, bf16, s, affine);
  return SEGC_OK;
}

static segc_status cuda_grad_sums(const void *x, const void *dy, bool bf16,
                                  segc_shape s, segc_gn_affine affine,
                                  int groups, const double *mean,
                                  double *partial) {
  const int64_t items = s.n * chunk_count(s) * s.c;
  if (items == 0) return SEGC_OK;
  SEGC_CUDA_LAUNCH(op_name, grad_sums_kernel, segc_cuda_blocks(items),
                   SEGC_CUDA_THREADS, x, dy, bf16, s, affine, groups, mean,
                   partial);
  return SEGC_OK;
}

static segc_status cuda_grad_finish(const double *partial, segc_shape s,
                                    int groups, const double *mean,
                                    const double *rstd, const float *gamma,
                                    double *sums, float *coefs,
                                    float *gamma_grad, float *beta_grad) {
  const int64_t nc = s.n * s.c;
  if (nc == 0) return SEGC_OK;
  double *sum_dz = sums, *sum_dz_xc = sums + nc;
  SEGC_CUDA_LAUNCH(op_name, combine_grad_chunks_kernel, segc_cuda_blocks(nc),
                   SEGC_CUDA_THREADS, partial, s, sum_dz, sum_dz_xc);
  SEGC_CUDA_LAUNCH(op_name, grad_map_kernel,
                   segc_cuda_blocks(s.n * groups), SEGC_CUDA_THREADS, s,
                   groups, mean, rstd, gamma, sum_dz, sum_dz_xc, coefs);
  if (gamma_grad || beta_grad)
    SEGC_CUDA_LAUNCH(op_name, param_grads_kernel, segc_cuda_blocks(s.c),
                     SEGC_CUDA_THREADS, s, groups, rstd, sum_dz, sum_dz_xc,
                     gamma_grad, beta_grad);
  return SEGC_OK;
}

static segc_status cuda_grad_input(const void *x, const void *dy, void *dx,
                                   bool bf16, segc_shape s,
                                   segc_gn_affine affine, segc_gn_grad_map map,
                                   bool accumulate) {
  const int64_t total = segc_shape_numel(s);
  if (total == 0) return SEGC_OK;
  SEGC_CUDA_LAUNCH(op_name, grad_input_kernel, segc_cuda_blocks(total),
                   SEGC_CUDA_THREADS, x, dy, dx, bf16, s, affine, map,
                   accumulate);
  return SEGC_OK;
}

extern "C" const segc_gn_kernels segc_gn_cuda_kernels = {
    cuda_sums,        cuda_statistics, cuda_apply,
    cuda_grad_sums,   cuda_grad_finish, cuda_grad_input,
};
