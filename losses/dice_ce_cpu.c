// The CPU kernels of the fused DiceCE loss (glue in dice_ce.c).
// Forward and backward each make one pass over the logits,
// TILE_VOXELS voxels at a time, with the softmax of those voxels computed in
// an L1-sized tile and never stored. The forward keeps per-(sample, class) sums I, P, G and the CE
// sum in double, one set per fixed chunk of SEGC_REDUCE_CHUNK voxels of a
// sample, combined in chunk order, so the result does not depend on the
// thread count. The backward recomputes the softmax from the logits and needs
// only those sums.
#include "losses/dice_ce_kernels.h"

#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <string.h>

#include "core/parallel.h"
#include "losses/dice_ce_tile.h"

// Double accumulators per class for P in a chunk (voxel v goes to lane
// v % SUM_LANES), so that the accumulation vectorises.
enum { SUM_LANES = 8 };
_Static_assert(TILE_VOXELS % SUM_LANES == 0 && TILE_VOXELS % 8 == 0,
               "tiles hold whole lane groups and 8x8 transpose blocks");

// What both passes iterate over: chunks of a sample's voxels.
typedef struct {
  strided_logits logits;
  const uint8_t *labels;  // (N, V)
  int64_t samples, classes, voxels;
  int64_t chunks_per_sample;
  unsigned char *work;    // per thread: work_bytes (see thread_work)
  size_t work_bytes;
} loss_pass;

// A thread's memory: the tile (K x TILE_VOXELS floats) and SUM_LANES
// double accumulators per class.
typedef struct {
  float *tile;
  double *lanes;  // (K, SUM_LANES)
} thread_work;

static size_t work_bytes_for(int64_t classes) {
  const size_t tile = sizeof(float) * (size_t)(classes * TILE_VOXELS);
  const size_t lanes = sizeof(double) * (size_t)(classes * SUM_LANES);
  return (tile + lanes + 63) / 64 * 64;
}

static thread_work thread_work_of(const loss_pass *pass) {
  unsigned char *base =
      pass->work + (size_t)omp_get_thread_num() * pass->work_bytes;
  thread_work w = {(float *)base,
                   (double *)(base + sizeof(float) * (size_t)(pass->classes *
                                                              TILE_VOXELS))};
  return w;
}

static int64_t chunk_end(const loss_pass *pass, int64_t v0) {
  const int64_t end = v0 + SEGC_REDUCE_CHUNK;
  return end < pass->voxels ? end : pass->voxels;
}

// Per chunk: P[K], I[K], G[K] then the CE sum, all double.
static int64_t partial_doubles(int64_t classes) { return 3 * classes + 1; }

// Hot loops are built for AVX-512, AVX2 and the baseline; all three compute
// the same operations in the same order (no FMA contraction in ISO C mode),
// so the results are the same bits on every CPU.
#define SEGC_LOSS_CLONES \
  __attribute__((target_clones("avx512f", "avx2", "default")))

SEGC_LOSS_CLONES
static void forward_chunk(const loss_pass *pass, int64_t chunk,
                          double *partial) {
  const int64_t classes = pass->classes;
  const int64_t n = chunk / pass->chunks_per_sample;
  const int64_t first = (chunk % pass->chunks_per_sample) * SEGC_REDUCE_CHUNK;
  const int64_t last = chunk_end(pass, first);
  const thread_work w = thread_work_of(pass);
  double *pred_sum = partial, *intersection = partial + classes;
  double *label_count = partial + 2 * classes;
  double ce = 0.0;
  memset(partial, 0, sizeof(double) * (size_t)partial_doubles(classes));
  memset(w.lanes, 0, sizeof(double) * (size_t)(classes * SUM_LANES));
  const uint8_t *labels = pass->labels + n * pass->voxels;
  float max_logit[TILE_VOXELS], sum[TILE_VOXELS], label_logit[TILE_VOXELS];
  for (int64_t v0 = first; v0 < last; v0 += TILE_VOXELS) {
    const int64_t count = last - v0 < TILE_VOXELS ? last - v0 : TILE_VOXELS;
    load_tile(&pass->logits, n, v0, count, classes, w.tile);
    for (int64_t v = 0; v < count; ++v)
      label_logit[v] = w.tile[labels[v0 + v] * TILE_VOXELS + v];
    softmax_tile(w.tile, classes, count, max_logit, sum);
    // P: SUM_LANES double accumulators per class, voxel v into lane
    // v % SUM_LANES (tail voxels add exact zeros).
    for (int64_t c = 0; c < classes; ++c) {
      const float *row = w.tile + c * TILE_VOXELS;
      double *lane = w.lanes + c * SUM_LANES;
      for (int v = 0; v < TILE_VOXELS; v += SUM_LANES)
        for (int k = 0; k < SUM_LANES; ++k) lane[k] += (double)row[v + k];
    }
    for (int64_t v = 0; v < count; ++v) {
      const int label = labels[v0 + v];
      intersection[label] += (double)w.tile[label * TILE_VOXELS + v];
      label_count[label] += 1.0;
      // -log p[label] = log(sum) + (max - x[label])
      ce += (double)logf(sum[v]) + (double)(max_logit[v] - label_logit[v]);
    }
  }
  for (int64_t c = 0; c < classes; ++c) {
    double p = 0.0;
    for (int k = 0; k < SUM_LANES; ++k) p += w.lanes[c * SUM_LANES + k];
    pred_sum[c] = p;
  }
  partial[3 * classes] = ce;
}

// Per sample n: coef[c] = g*b[n,c] + ce_scale, dice_b[c] = g*b[n,c],
// dice_a[c] = g*a[n,c] (the Dice derivative w.r.t. p_c is b + a*y_c), all
// already scaled by the loss gradient g.
typedef struct {
  const float *coef, *dice_b, *dice_a;  // (N, K) each
  float ce_scale;                        // g * lambda_ce / (N V)
  strided_logits grad;
  bool accumulate;
} backward_coefficients;

SEGC_LOSS_CLONES
static void backward_chunk(const loss_pass *pass,
                           const backward_coefficients *k, int64_t chunk) {
  const int64_t classes = pass->classes;
  const int64_t n = chunk / pass->chunks_per_sample;
  const int64_t first = (chunk % pass->chunks_per_sample) * SEGC_REDUCE_CHUNK;
  const int64_t last = chunk_end(pass, first);
  const thread_work w = thread_work_of(pass);
  const float *coef = k->coef + n * classes, *dice_b = k->dice_b + n * classes;
  const float *dice_a = k->dice_a + n * classes;
  const uint8_t *labels = pass->labels + n * pass->voxels;
  float max_logit[TILE_VOXELS], sum[TILE_VOXELS], dot[TILE_VOXELS];
  float label_p[TILE_VOXELS];
  for (int64_t v0 = first; v0 < last; v0 += TILE_VOXELS) {
    const int64_t count = last - v0 < TILE_VOXELS ? last - v0 : TILE_VOXELS;
    load_tile(&pass->logits, n, v0, count, classes, w.tile);
    softmax_tile(w.tile, classes, count, max_logit, sum);
    // Dice part through the softmax Jacobian: p_c (g_c - sum_k g_k p_k) with
    // g_k = b_k + a_k y_k; CE part: ce_scale (p_c - y_c).
    for (int v = 0; v < TILE_VOXELS; ++v) dot[v] = 0.0f;
    for (int64_t c = 0; c < classes; ++c) {
      const float *row = w.tile + c * TILE_VOXELS;
      for (int v = 0; v < TILE_VOXELS; ++v) dot[v] += dice_b[c] * row[v];
    }
    for (int64_t v = 0; v < count; ++v) {
      const int label = labels[v0 + v];
      label_p[v] = w.tile[label * TILE_VOXELS + v];
      dot[v] += dice_a[label] * label_p[v];
    }
    for (int64_t c = 0; c < classes; ++c) {
      float *row = w.tile + c * TILE_VOXELS;
      for (int v = 0; v < TILE_VOXELS; ++v) row[v] *= coef[c] - dot[v];
    }
    for (int64_t v = 0; v < count; ++v) {
      const int label = labels[v0 + v];
      w.tile[label * TILE_VOXELS + v] +=
          label_p[v] * dice_a[label] - k->ce_scale;
    }
    store_tile(&k->grad, n, v0, count, classes, w.tile, k->accumulate);
  }
}

// Fails on the first label >= K, naming it.
static segc_status dice_ce_cpu_check_labels(const segc_tensor *tensor,
                                            int64_t classes) {
  const uint8_t *labels = tensor->data;
  const int64_t samples = tensor->shape.n;
  const int64_t voxels = segc_shape_spatial(tensor->shape);
  if (classes > UINT8_MAX) return SEGC_OK;
  const int64_t total = samples * voxels;
  int64_t first_bad = total;
#pragma omp parallel for schedule(static) reduction(min : first_bad)
  for (int64_t i = 0; i < total; ++i)
    if (labels[i] >= classes && i < first_bad) first_bad = i;
  if (first_bad == total) return SEGC_OK;
  return SEGC_FAIL(SEGC_ERR_INVALID,
                   "dice_ce: label value %d (sample %lld, voxel %lld) is not a "
                   "class index: the logits have K=%lld classes (0..%lld)",
                   (int)labels[first_bad], (long long)(first_bad / voxels),
                   (long long)(first_bad % voxels), (long long)classes,
                   (long long)classes - 1);
}

// The per-thread tiles come from the scratch arena.
static segc_status pass_init(segc_arena *scratch, const segc_tensor *logits,
                             const segc_tensor *labels, loss_pass *pass) {
  memset(pass, 0, sizeof *pass);
  pass->logits = strided_from(logits);
  pass->labels = labels->data;
  pass->samples = logits->shape.n;
  pass->classes = logits->shape.c;
  pass->voxels = segc_shape_spatial(logits->shape);
  pass->chunks_per_sample = segc_chunk_count(pass->voxels, SEGC_REDUCE_CHUNK);
  pass->work_bytes = work_bytes_for(pass->classes);
  if (!scratch)
    return SEGC_FAIL(SEGC_ERR_INVALID, "dice_ce: the graph has no scratch arena");
  void *work;
  SEGC_TRY(segc_arena_alloc(scratch,
                            pass->work_bytes * (size_t)segc_threads(), &work));
  pass->work = work;
  return SEGC_OK;
}

static void pass_free(segc_arena *scratch, loss_pass *pass) {
  segc_arena_free(scratch, pass->work,
                  pass->work_bytes * (size_t)segc_threads());
  pass->work = NULL;
}

// Fills the (N, K) sums and returns the CE sum over all voxels.
static segc_status dice_ce_cpu_sums(segc_arena *scratch,
                                    const segc_tensor *logits,
                                    const segc_tensor *labels,
                                    double *intersection, double *pred_sum,
                                    double *label_count, double *ce_sum) {
  loss_pass pass;
  SEGC_TRY(pass_init(scratch, logits, labels, &pass));
  const int64_t classes = pass.classes, stride = partial_doubles(classes);
  const int64_t chunks = pass.samples * pass.chunks_per_sample;
  const size_t partial_bytes = sizeof(double) * (size_t)(chunks * stride);
  void *memory;
  segc_status status = segc_arena_alloc(scratch, partial_bytes, &memory);
  if (status != SEGC_OK) {
    pass_free(scratch, &pass);
    return status;
  }
  double *partials = memory;
  // Each chunk writes its own slot, so any schedule gives the same result;
  // dynamic keeps both threads busy when the machine is shared.
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t chunk = 0; chunk < chunks; ++chunk)
    forward_chunk(&pass, chunk, partials + chunk * stride);
  // Combine in chunk order.
  memset(intersection, 0, sizeof(double) * (size_t)(pass.samples * classes));
  memset(pred_sum, 0, sizeof(double) * (size_t)(pass.samples * classes));
  memset(label_count, 0, sizeof(double) * (size_t)(pass.samples * classes));
  double ce = 0.0;
  for (int64_t chunk = 0; chunk < chunks; ++chunk) {
    const double *part = partials + chunk * stride;
    const int64_t at = (chunk / pass.chunks_per_sample) * classes;
    for (int64_t c = 0; c < classes; ++c) {
      pred_sum[at + c] += part[c];
      intersection[at + c] += part[classes + c];
      label_count[at + c] += part[2 * classes + c];
    }
    ce += part[3 * classes];
  }
  *ce_sum = ce;
  segc_arena_free(scratch, memory, partial_bytes);
  pass_free(scratch, &pass);
  return SEGC_OK;
}

// The logits gradient from the forward's sums, stored or added into target.
static segc_status dice_ce_cpu_grad(segc_arena *scratch,
                                    const segc_dice_ce_config *cfg,
                                    const segc_tensor *loss_grad_tensor,
                                    const segc_tensor *logits,
                                    const segc_tensor *labels,
                                    segc_dice_ce_sums sums,
                                    const segc_tensor *target,
                                    bool accumulate) {
  const float loss_grad = *(const float *)loss_grad_tensor->data;
  loss_pass pass;
  SEGC_TRY(pass_init(scratch, logits, labels, &pass));
  const int64_t samples = pass.samples, classes = pass.classes;
  const size_t table_bytes = sizeof(float) * (size_t)(3 * samples * classes);
  void *memory;
  segc_status status = segc_arena_alloc(scratch, table_bytes, &memory);
  if (status != SEGC_OK) {
    pass_free(scratch, &pass);
    return status;
  }
  float *coef = memory, *dice_b = coef + samples * classes;
  float *dice_a = dice_b + samples * classes;
  const int64_t first_class = segc_dice_ce_first_class(cfg);
  // The coefficients' formula: segc_dice_ce_coefficient (dice_ce_math.h).
  const double w =
      cfg->lambda_dice / (double)(samples * (classes - first_class));
  const double ce_scale =
      (double)loss_grad * cfg->lambda_ce / (double)(samples * pass.voxels);
  for (int64_t i = 0; i < samples * classes; ++i)
    segc_dice_ce_coefficient(sums.intersection[i], sums.pred_sum[i],
                             sums.label_count[i], i % classes >= first_class,
                             w, cfg->smooth_nr, cfg->smooth_dr, loss_grad,
                             ce_scale, &dice_a[i], &dice_b[i], &coef[i]);
  backward_coefficients k = {coef, dice_b, dice_a, (float)ce_scale,
                             strided_from(target), accumulate};
  const int64_t chunks = samples * pass.chunks_per_sample;
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t chunk = 0; chunk < chunks; ++chunk)
    backward_chunk(&pass, &k, chunk);
  segc_arena_free(scratch, memory, table_bytes);
  pass_free(scratch, &pass);
  return SEGC_OK;
}

const segc_dice_ce_kernels segc_dice_ce_cpu_kernels = {
    dice_ce_cpu_check_labels, dice_ce_cpu_sums, dice_ce_cpu_grad};
