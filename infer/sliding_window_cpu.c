// The sliding window's CPU kernels (sliding_window_kernels.h): device memory
// is host memory here, so the window is cut straight out of the image and
// the labels are written in place.
#include <stdbool.h>
#include <string.h>

#include "infer/sliding_window_kernels.h"

static segc_status cpu_importance(const int64_t roi[3], segc_sw_blend blend,
                                  double sigma_scale, float *map) {
  segc_sw_importance_map(roi, blend, sigma_scale, map);
  return SEGC_OK;
}

void segc_sw_extract_host(const segc_sw_geometry *g, segc_sw_padding padding,
                          const float *image, const int64_t start[3],
                          float *out) {
  const int64_t r0 = g->roi[0], r1 = g->roi[1], r2 = g->roi[2];
#pragma omp parallel for schedule(static)
  for (int64_t a = 0; a < r0; ++a) {
    int64_t i = start[0] + a - g->pad_before[0];
    i = i < 0 ? 0 : (i >= g->dim[0] ? g->dim[0] - 1 : i);
    for (int64_t b = 0; b < r1; ++b) {
      int64_t j = start[1] + b - g->pad_before[1];
      j = j < 0 ? 0 : (j >= g->dim[1] ? g->dim[1] - 1 : j);
      const float *row = image + (i * g->dim[1] + j) * g->dim[2];
      float *dst = out + (a * r1 + b) * r2;
      const bool zero_row = padding == SEGC_SW_PAD_ZERO &&
                            (start[0] + a - g->pad_before[0] != i ||
                             start[1] + b - g->pad_before[1] != j);
      for (int64_t c = 0; c < r2; ++c) {
        const int64_t raw = start[2] + c - g->pad_before[2];
        const int64_t k = raw < 0 ? 0 : (raw >= g->dim[2] ? g->dim[2] - 1 : raw);
        dst[c] = zero_row || (padding == SEGC_SW_PAD_ZERO && raw != k) ? 0.0f
                                                                       : row[k];
      }
    }
  }
}

static segc_status cpu_extract(const segc_sw_geometry *g,
                               segc_sw_padding padding, const float *image,
                               const int64_t start[3], float *out) {
  segc_sw_extract_host(g, padding, image, start, out);
  return SEGC_OK;
}

static segc_status cpu_clear(segc_arena *scratch, const segc_sw_geometry *g,
                             float *pool, const int32_t *slots,
                             int64_t count) {
  (void)scratch;
  for (int64_t n = 0; n < count; ++n)
    memset(pool + (size_t)slots[n] * g->cell_floats, 0,
           g->cell_floats * sizeof(float));
  return SEGC_OK;
}

static inline float load_f32(const float *p, int64_t i) { return p[i]; }
static inline float load_bf16(const segc_bf16 *p, int64_t i) {
  return segc_bf16_to_f32(p[i]);
}
static inline float load_f16(const segc_f16 *p, int64_t i) {
  return segc_f16_to_f32(p[i]);
}

// One loop per logits dtype, so that the f32 loop stays a plain multiply-add
// the compiler vectorises. Rows of the window are distinct voxels, so the
// threads never write the same cell element.
#define BLEND_LOOP(TYPE, LOAD)                                                \
  do {                                                                        \
    const TYPE *logits_data = logits->data;                                   \
    _Pragma("omp parallel for schedule(static)")                             \
    for (int64_t a = 0; a < r0; ++a) {                                        \
      const int64_t pa = start[0] + a;                                        \
      for (int64_t b = 0; b < r1; ++b) {                                      \
        const int64_t pb = start[1] + b;                                      \
        int64_t row_offset;                                                   \
        const int32_t *row_slots = segc_sw_row_slots(                         \
            g, cells->lo, cells->hi, cells->slots, pa, pb, &row_offset);      \
        for (int64_t c = 0; c < r2; ++c) {                                    \
          const int64_t pc = start[2] + c;                                    \
          const int64_t v = (a * r1 + b) * r2 + c;                            \
          const float w = weights[v];                                         \
          float *dst = pool + segc_sw_row_voxel_offset(g, cells->lo,          \
                                                       row_slots, row_offset, \
                                                       pc);                   \
          const TYPE *src = logits_data + v * K;                              \
          for (int64_t k = 0; k < K; ++k) dst[k] += LOAD(src, k) * w;         \
          dst[K] += w;                                                        \
        }                                                                     \
      }                                                                       \
    }                                                                         \
  } while (0)

static segc_status cpu_blend(segc_arena *scratch, const segc_sw_geometry *g,
                             const int64_t start[3], const float *weights,
                             const segc_tensor *logits, float *pool,
                             const segc_sw_window_cells *cells) {
  (void)scratch;  // no temporaries on the CPU
  const int64_t K = g->channels;
  const int64_t r0 = g->roi[0], r1 = g->roi[1], r2 = g->roi[2];
  switch (logits->dtype) {
    case SEGC_BF16:
      BLEND_LOOP(segc_bf16, load_bf16);
      break;
    case SEGC_F16:
      BLEND_LOOP(segc_f16, load_f16);
      break;
    default:  // f32: the glue asked the backend table for the dtype
      BLEND_LOOP(float, load_f32);
      break;
  }
  return SEGC_OK;
}

static void finalize_cell(const segc_sw_geometry *g, const float *data,
                          int64_t cell, uint8_t *labels) {
  const int64_t K = g->channels;
  const int64_t ci = cell / (g->grid[1] * g->grid[2]);
  const int64_t cj = (cell / g->grid[2]) % g->grid[1];
  const int64_t ck = cell % g->grid[2];
  for (int64_t a = 0; a < g->cell[0]; ++a) {
    const int64_t i = ci * g->cell[0] + a - g->pad_before[0];
    if (i < 0 || i >= g->dim[0]) continue;
    for (int64_t b = 0; b < g->cell[1]; ++b) {
      const int64_t j = cj * g->cell[1] + b - g->pad_before[1];
      if (j < 0 || j >= g->dim[1]) continue;
      for (int64_t c = 0; c < g->cell[2]; ++c) {
        const int64_t k = ck * g->cell[2] + c - g->pad_before[2];
        if (k < 0 || k >= g->dim[2]) continue;
        const float *v =
            data + (size_t)((a * g->cell[1] + b) * g->cell[2] + c) *
                       (size_t)(K + 1);
        labels[(i * g->dim[1] + j) * g->dim[2] + k] = segc_sw_argmax(v, K);
      }
    }
  }
}

static segc_status cpu_finalize(segc_arena *scratch,
                                const segc_sw_geometry *g, const float *pool,
                                const int64_t *cells, const int32_t *slots,
                                int64_t count, uint8_t *labels) {
  (void)scratch;
#pragma omp parallel for schedule(dynamic, 4)
  for (int64_t n = 0; n < count; ++n)
    finalize_cell(g, pool + (size_t)slots[n] * g->cell_floats, cells[n], labels);
  return SEGC_OK;
}

const segc_sw_kernels segc_sw_cpu_kernels = {
    .importance = cpu_importance,
    .extract = cpu_extract,
    .clear = cpu_clear,
    .blend = cpu_blend,
    .finalize = cpu_finalize,
};
