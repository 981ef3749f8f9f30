// The CUDA kernels of the fused DiceCE loss (contract in dice_ce_kernels.h,
// glue in dice_ce.c), on cudaStreamPerThread.
//
// The forward takes the CPU's chunks of SEGC_REDUCE_CHUNK voxels of a
// sample, one block per chunk: first each voxel's softmax max and sum (the
// CPU's exp_nonpositive and class order, dice_ce_math.h) into shared
// memory, then one thread per class walks the chunk's voxels in order and
// sums P (in the CPU's 8 lanes), I and G in double, while one thread sums
// the chunk's CE in voxel order. The chunk sums are combined in chunk order
// by one thread per (sample, class). So P, I and G are the CPU's values to
// the bit, and the CE differs only by the device's logf (within an ulp of
// glibc's). No atomics in any result.
//
// The backward is one thread per voxel with the CPU's per-voxel operations
// in its order; the coefficients are segc_dice_ce_coefficient, computed on
// the device from the loss gradient there (no host round trip).
#include "core/cuda_ops.cuh"

extern "C" {
#include "core/parallel.h"
#include "losses/dice_ce_kernels.h"
#include "losses/dice_ce_math.h"
}

static const char *const op_name = "dice_ce";

enum { CHUNK = SEGC_REDUCE_CHUNK, SUM_LANES = 8, BLOCK = 256 };

// The per-label first bad index (check_labels).
__device__ unsigned long long first_bad_label;

// Element (n, c, voxel v) of a logits-shaped tensor.
struct strided {
  void *data;
  bool bf16;
  int64_t sample_stride, voxel_stride, class_stride;
};

static strided strided_of(const segc_tensor *t) {
  const int64_t classes = t->shape.c, voxels = segc_shape_spatial(t->shape);
  strided s = {t->data, t->dtype == SEGC_BF16, classes * voxels, 1, voxels};
  if (t->layout == SEGC_LAYOUT_NDHWC) {
    s.voxel_stride = classes;
    s.class_stride = 1;
  }
  return s;
}

__device__ inline int64_t at(const strided &x, int64_t n, int64_t v,
                             int64_t c) {
  return n * x.sample_stride + v * x.voxel_stride + c * x.class_stride;
}

__device__ inline float logit(const strided &x, int64_t n, int64_t v,
                              int64_t c) {
  return segc_cuda_load_act(x.data, at(x, n, v, c), x.bf16);
}

// The softmax's max and sum of exp(x - max) of voxel (n, v), classes in
// order (softmax_tile in dice_ce_tile.h).
__device__ inline void voxel_softmax(const strided &x, int64_t n, int64_t v,
                                     int64_t classes, float *max_out,
                                     float *sum_out) {
  float m = logit(x, n, v, 0);
  for (int64_t c = 1; c < classes; ++c) {
    const float xc = logit(x, n, v, c);
    m = xc > m ? xc : m;
  }
  float s = 0.0f;
  for (int64_t c = 0; c < classes; ++c)
    s += exp_nonpositive(logit(x, n, v, c) - m);
  *max_out = m;
  *sum_out = s;
}

__global__ void check_labels_kernel(const uint8_t *labels, int64_t total,
                                    int64_t classes) {
  SEGC_CUDA_FOR(i, total) {
    if (labels[i] >= classes) {
      atomicMin(&first_bad_label, (unsigned long long)i);  // integer min
      return;
    }
  }
}

__global__ void set_first_bad_kernel(unsigned long long value) {
  first_bad_label = value;
}

// partials[chunk][0..K) = P, [K..2K) = I, [2K..3K) = G, [3K] = CE.
__global__ void sums_kernel(strided x, const uint8_t *labels, int64_t classes,
                            int64_t voxels, int64_t chunks_per_sample,
                            int64_t chunks, double *partials) {
  __shared__ float max_logit[CHUNK], sum[CHUNK];
  const int64_t stride = 3 * classes + 1;
  for (int64_t chunk = blockIdx.x; chunk < chunks; chunk += gridDim.x) {
    const int64_t n = chunk / chunks_per_sample;
    const int64_t first = (chunk % chunks_per_sample) * CHUNK;
    const int64_t count = voxels - first < CHUNK ? voxels - first : CHUNK;
    const uint8_t *sample_labels = labels + n * voxels;
    for (int64_t j = threadIdx.x; j < count; j += blockDim.x)
      voxel_softmax(x, n, first + j, classes, &max_logit[j], &sum[j]);
    __syncthreads();
    double *part = partials + chunk * stride;
    for (int64_t c = threadIdx.x; c < classes; c += blockDim.x) {
      double lane[SUM_LANES] = {0}, intersection = 0.0, label_count = 0.0;
      for (int64_t j = 0; j < count; ++j) {
        const float p = exp_nonpositive(logit(x, n, first + j, c) -
                                        max_logit[j]) *
                        (1.0f / sum[j]);
        lane[j % SUM_LANES] += (double)p;
        if (sample_labels[first + j] == c) {
          intersection += (double)p;
          label_count += 1.0;
        }
      }
      double pred = 0.0;
      for (int k = 0; k < SUM_LANES; ++k) pred += lane[k];
      part[c] = pred;
      part[classes + c] = intersection;
      part[2 * classes + c] = label_count;
    }
    if (threadIdx.x == blockDim.x - 1) {
      // -log p[label] = log(sum) + (max - x[label]), voxels in order.
      double ce = 0.0;
      for (int64_t j = 0; j < count; ++j) {
        const int label = sample_labels[first + j];
        ce += (double)logf(sum[j]) +
              (double)(max_logit[j] - logit(x, n, first + j, label));
      }
      part[3 * classes] = ce;
    }
    __syncthreads();  // the shared arrays are refilled for the next chunk
  }
}

// out = [I | P | G] (N, K) each, then the CE: chunk sums in chunk order.
__global__ void combine_kernel(const double *partials, int64_t samples,
                               int64_t classes, int64_t chunks_per_sample,
                               double *out) {
  const int64_t stride = 3 * classes + 1, nk = samples * classes;
  SEGC_CUDA_FOR(i, nk + 1) {
    if (i == nk) {
      double ce = 0.0;
      for (int64_t chunk = 0; chunk < samples * chunks_per_sample; ++chunk)
        ce += partials[chunk * stride + 3 * classes];
      out[3 * nk] = ce;
      continue;
    }
    const int64_t n = i / classes, c = i % classes;
    double pred = 0.0, intersection = 0.0, label_count = 0.0;
    for (int64_t k = 0; k < chunks_per_sample; ++k) {
      const double *part = partials + (n * chunks_per_sample + k) * stride;
      pred += part[c];
      intersection += part[classes + c];
      label_count += part[2 * classes + c];
    }
    out[i] = intersection;
    out[nk + i] = pred;
    out[2 * nk + i] = label_count;
  }
}

// coefs = [dice_a | dice_b | coef] (N, K) each, from sums = [I | P | G].
__global__ void coefficients_kernel(const double *sums, int64_t samples,
                                    int64_t classes, int64_t first_class,
                                    double w, double smooth_nr,
                                    double smooth_dr, double lambda_ce,
                                    int64_t voxels, const float *loss_grad,
                                    float *coefs) {
  const int64_t nk = samples * classes;
  const double ce_scale =
      (double)*loss_grad * lambda_ce / (double)(samples * voxels);
  SEGC_CUDA_FOR(i, nk)
  segc_dice_ce_coefficient(sums[i], sums[nk + i], sums[2 * nk + i],
                           i % classes >= first_class, w, smooth_nr,
                           smooth_dr, *loss_grad, ce_scale, &coefs[i],
                           &coefs[nk + i], &coefs[2 * nk + i]);
}

// The logits gradient of voxel (n, v) (backward_chunk in dice_ce_cpu.c).
__global__ void grad_kernel(strided x, const uint8_t *labels, int64_t samples,
                            int64_t classes, int64_t voxels, double lambda_ce,
                            const float *loss_grad, const float *coefs,
                            strided g, bool accumulate) {
  const int64_t nk = samples * classes;
  const float ce_scale =
      (float)((double)*loss_grad * lambda_ce / (double)(samples * voxels));
  SEGC_CUDA_FOR(t, samples * voxels) {
    const int64_t n = t / voxels, v = t % voxels;
    const float *dice_a = coefs + n * classes;
    const float *dice_b = coefs + nk + n * classes;
    const float *coef = coefs + 2 * nk + n * classes;
    float m, s;
    voxel_softmax(x, n, v, classes, &m, &s);
    const float inverse = 1.0f / s;
    float dot = 0.0f;
    for (int64_t c = 0; c < classes; ++c)
      dot += dice_b[c] * (exp_nonpositive(logit(x, n, v, c) - m) * inverse);
    const int label = labels[t];
    const float label_p =
        exp_nonpositive(logit(x, n, v, label) - m) * inverse;
    dot += dice_a[label] * label_p;
    for (int64_t c = 0; c < classes; ++c) {
      float d = exp_nonpositive(logit(x, n, v, c) - m) * inverse;
      d *= coef[c] - dot;
      if (c == label) d += label_p * dice_a[label] - ce_scale;
      const int64_t i = at(g, n, v, c);
      if (accumulate) d += segc_cuda_load_act(g.data, i, g.bf16);
      segc_cuda_store_act(g.data, i, d, g.bf16);
    }
  }
}

static segc_status cuda_check_labels(const segc_tensor *tensor,
                                     int64_t classes) {
  const int64_t voxels = segc_shape_spatial(tensor->shape);
  const int64_t total = tensor->shape.n * voxels;
  if (classes > UINT8_MAX || total == 0) return SEGC_OK;
  const uint8_t *labels = (const uint8_t *)tensor->data;
  SEGC_CUDA_LAUNCH(op_name, set_first_bad_kernel, 1, 1,
                   (unsigned long long)total);
  SEGC_CUDA_LAUNCH(op_name, check_labels_kernel, segc_cuda_blocks(total),
                   SEGC_CUDA_THREADS, labels, total, classes);
  unsigned long long first = 0;
  SEGC_CUDA_CALL(op_name, cudaMemcpyFromSymbolAsync(
                              &first, first_bad_label, sizeof first, 0,
                              cudaMemcpyDeviceToHost, SEGC_CUDA_STREAM));
  SEGC_CUDA_SYNC(op_name);
  if (first >= (unsigned long long)total) return SEGC_OK;
  uint8_t value = 0;
  SEGC_CUDA_CALL(op_name, cudaMemcpyAsync(&value, labels + first, 1,
                                          cudaMemcpyDeviceToHost,
                                          SEGC_CUDA_STREAM));
  SEGC_CUDA_SYNC(op_name);
  return SEGC_FAIL(SEGC_ERR_INVALID,
                   "dice_ce: label value %d (sample %lld, voxel %lld) is not a "
                   "class index: the logits have K=%lld classes (0..%lld)",
                   (int)value, (long long)(first / voxels),
                   (long long)(first % voxels), (long long)classes,
                   (long long)classes - 1);
}

static segc_status sums_with(const segc_tensor *logits,
                             const segc_tensor *labels, double *partials,
                             double *out, double *intersection,
                             double *pred_sum, double *label_count,
                             double *ce_sum) {
  const int64_t samples = logits->shape.n, classes = logits->shape.c;
  const int64_t voxels = segc_shape_spatial(logits->shape);
  const int64_t per_sample = segc_chunk_count(voxels, CHUNK);
  const int64_t chunks = samples * per_sample, nk = samples * classes;
  const unsigned blocks = chunks < (1 << 20) ? (unsigned)chunks : 1u << 20;
  SEGC_CUDA_LAUNCH(op_name, sums_kernel, blocks, BLOCK, strided_of(logits),
                   (const uint8_t *)labels->data, classes, voxels, per_sample,
                   chunks, partials);
  SEGC_CUDA_LAUNCH(op_name, combine_kernel, segc_cuda_blocks(nk + 1),
                   SEGC_CUDA_THREADS, partials, samples, classes, per_sample,
                   out);
  const size_t bytes = sizeof(double) * (size_t)nk;
  double *const host[3] = {intersection, pred_sum, label_count};
  for (int k = 0; k < 3; ++k)
    SEGC_CUDA_CALL(op_name, cudaMemcpyAsync(host[k], out + k * nk, bytes,
                                            cudaMemcpyDeviceToHost,
                                            SEGC_CUDA_STREAM));
  SEGC_CUDA_CALL(op_name, cudaMemcpyAsync(ce_sum, out + 3 * nk, sizeof *ce_sum,
                                          cudaMemcpyDeviceToHost,
                                          SEGC_CUDA_STREAM));
  SEGC_CUDA_SYNC(op_name);
  return SEGC_OK;
}

static segc_status cuda_sums(segc_arena *scratch, const segc_tensor *logits,
                             const segc_tensor *labels, double *intersection,
                             double *pred_sum, double *label_count,
                             double *ce_sum) {
  if (!scratch)
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "dice_ce: the graph has no scratch arena");
  const int64_t samples = logits->shape.n, classes = logits->shape.c;
  const int64_t voxels = segc_shape_spatial(logits->shape);
  const int64_t chunks = samples * segc_chunk_count(voxels, CHUNK);
  const size_t bytes =
      sizeof(double) * (size_t)(chunks * (3 * classes + 1) +
                                3 * samples * classes + 1);
  void *memory;
  SEGC_TRY(segc_arena_alloc(scratch, bytes, &memory));
  double *partials = (double *)memory;
  const segc_status status =
      sums_with(logits, labels, partials, partials + chunks * (3 * classes + 1),
                intersection, pred_sum, label_count, ce_sum);
  segc_arena_free(scratch, memory, bytes);  // stream order: safe to reuse
  return status;
}

static segc_status grad_with(const segc_dice_ce_config *cfg,
                             const segc_tensor *loss_grad,
                             const segc_tensor *logits,
                             const segc_tensor *labels,
                             segc_dice_ce_sums sums, double *device_sums,
                             float *coefs, const segc_tensor *target,
                             bool accumulate) {
  const int64_t samples = logits->shape.n, classes = logits->shape.c;
  const int64_t voxels = segc_shape_spatial(logits->shape);
  const int64_t nk = samples * classes;
  const size_t bytes = sizeof(double) * (size_t)nk;
  const double *const host[3] = {sums.intersection, sums.pred_sum,
                                 sums.label_count};
  for (int k = 0; k < 3; ++k)
    SEGC_CUDA_CALL(op_name, cudaMemcpyAsync(device_sums + k * nk, host[k],
                                            bytes, cudaMemcpyHostToDevice,
                                            SEGC_CUDA_STREAM));
  const int64_t first_class = segc_dice_ce_first_class(cfg);
  const double w =
      cfg->lambda_dice / (double)(samples * (classes - first_class));
  SEGC_CUDA_LAUNCH(op_name, coefficients_kernel, segc_cuda_blocks(nk),
                   SEGC_CUDA_THREADS, device_sums, samples, classes,
                   first_class, w, cfg->smooth_nr, cfg->smooth_dr,
                   cfg->lambda_ce, voxels, (const float *)loss_grad->data,
                   coefs);
  SEGC_CUDA_LAUNCH(op_name, grad_kernel, segc_cuda_blocks(samples * voxels),
                   SEGC_CUDA_THREADS, strided_of(logits),
                   (const uint8_t *)labels->data, samples, classes, voxels,
                   cfg->lambda_ce, (const float *)loss_grad->data, coefs,
                   strided_of(target), accumulate);
  // The host sums may be freed once this returns: wait for the copies.
  SEGC_CUDA_SYNC(op_name);
  return SEGC_OK;
}

static segc_status cuda_grad(segc_arena *scratch,
                             const segc_dice_ce_config *cfg,
                             const segc_tensor *loss_grad,
                             const segc_tensor *logits,
                             const segc_tensor *labels,
                             segc_dice_ce_sums sums,
                             const segc_tensor *target, bool accumulate) {
  if (!scratch)
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "dice_ce: the graph has no scratch arena");
  const int64_t nk = logits->shape.n * logits->shape.c;
  const size_t sum_bytes = sizeof(double) * (size_t)(3 * nk);
  const size_t bytes = sum_bytes + sizeof(float) * (size_t)(3 * nk);
  void *memory;
  SEGC_TRY(segc_arena_alloc(scratch, bytes, &memory));
  const segc_status status =
      grad_with(cfg, loss_grad, logits, labels, sums, (double *)memory,
                (float *)((char *)memory + sum_bytes), target, accumulate);
  segc_arena_free(scratch, memory, bytes);
  return status;
}

extern "C" const segc_dice_ce_kernels segc_dice_ce_cuda_kernels = {
    cuda_check_labels, cuda_sums, cuda_grad};
