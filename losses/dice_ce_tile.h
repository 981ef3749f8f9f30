// The per-voxel kernels of the fused DiceCE loss (losses/dice_ce.c): strided
// access to logits-shaped tensors, conversion of a few voxels into a
// channel-major f32 tile and back, and the softmax of a tile. Static inline
// so that they are compiled into each CPU-specific clone of the callers.
//
// Every routine here uses +, *, / and bit operations only, written so that no
// sum is reordered; GCC in ISO C mode (-std=c11) does not contract a*b+c into
// an FMA, so the clones give the same bits on every CPU. (A compiler that
// contracts by default, such as clang, would still be thread-count
// independent, but not bit-identical across CPUs.)
#ifndef SEGC_LOSSES_DICE_CE_TILE_H
#define SEGC_LOSSES_DICE_CE_TILE_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "core/dtype.h"
#include "core/tensor.h"
#include "losses/dice_ce_math.h"

// Voxels per tile: a thread converts the logits of TILE_VOXELS voxels into a
// channel-major tile (tile[c * TILE_VOXELS + v]) so every step of the softmax
// is a loop over voxels that the compiler vectorises, with no reordering of
// any sum: each voxel's sums still run over the classes in order.
enum { TILE_VOXELS = 32 };

// Element (n, c, voxel v) of a logits-shaped tensor is at
// n * sample_stride + v * voxel_stride + c * class_stride.
typedef struct {
  void *data;
  segc_dtype dtype;
  int64_t sample_stride, voxel_stride, class_stride;
} strided_logits;

static inline strided_logits strided_from(const segc_tensor *t) {
  const int64_t classes = t->shape.c, voxels = segc_shape_spatial(t->shape);
  strided_logits s = {t->data, t->dtype, classes * voxels, 1, voxels};
  if (t->layout == SEGC_LAYOUT_NDHWC) {
    s.voxel_stride = classes;
    s.class_stride = 1;
  }
  return s;
}

// Transposes an 8x8 block: dst[j * dst_stride + i] (+)= src[i * src_stride + j].
// GCC's generic vectors turn this into 8 loads, 24 shuffles and 8 stores
// (two SSE halves each in the baseline build) instead of 64 scalar moves.
typedef float float8 __attribute__((vector_size(32)));
typedef int32_t int8_lanes __attribute__((vector_size(32)));

static inline void transpose8(const float *src, int64_t src_stride, float *dst,
                              int64_t dst_stride, bool accumulate) {
  float8 r[8], t[8], u[8];
  for (int i = 0; i < 8; ++i) memcpy(&r[i], src + i * src_stride, sizeof r[i]);
  const int8_lanes lo = {0, 8, 1, 9, 4, 12, 5, 13};
  const int8_lanes hi = {2, 10, 3, 11, 6, 14, 7, 15};
  const int8_lanes pair_lo = {0, 1, 8, 9, 4, 5, 12, 13};
  const int8_lanes pair_hi = {2, 3, 10, 11, 6, 7, 14, 15};
  const int8_lanes half_lo = {0, 1, 2, 3, 8, 9, 10, 11};
  const int8_lanes half_hi = {4, 5, 6, 7, 12, 13, 14, 15};
  for (int i = 0; i < 8; i += 2) {
    t[i] = __builtin_shuffle(r[i], r[i + 1], lo);
    t[i + 1] = __builtin_shuffle(r[i], r[i + 1], hi);
  }
  for (int i = 0; i < 8; i += 4) {
    u[i] = __builtin_shuffle(t[i], t[i + 2], pair_lo);
    u[i + 1] = __builtin_shuffle(t[i], t[i + 2], pair_hi);
    u[i + 2] = __builtin_shuffle(t[i + 1], t[i + 3], pair_lo);
    u[i + 3] = __builtin_shuffle(t[i + 1], t[i + 3], pair_hi);
  }
  for (int j = 0; j < 4; ++j) {
    r[j] = __builtin_shuffle(u[j], u[j + 4], half_lo);
    r[j + 4] = __builtin_shuffle(u[j], u[j + 4], half_hi);
  }
  for (int j = 0; j < 8; ++j) {
    if (accumulate) {
      float8 old;
      memcpy(&old, dst + j * dst_stride, sizeof old);
      r[j] += old;
    }
    memcpy(dst + j * dst_stride, &r[j], sizeof r[j]);
  }
}

// Loads voxels v0..v0+count of sample n into the channel-major tile as f32;
// voxels count..TILE_VOXELS (a chunk's tail) get zeros.
static inline void load_tile(const strided_logits *x, int64_t n, int64_t v0,
                             int64_t count, int64_t classes, float *tile) {
  const int64_t base = n * x->sample_stride + v0 * x->voxel_stride;
  const int64_t cs = x->class_stride, vs = x->voxel_stride;
  if (x->dtype == SEGC_F32) {
    const float *src = (const float *)x->data + base;
    if (cs == 1) {  // NDHWC: 8x8 blocks, then the edges one by one
      const int64_t v8 = count / 8 * 8, c8 = classes / 8 * 8;
      for (int64_t v = 0; v < v8; v += 8)
        for (int64_t c = 0; c < c8; c += 8)
          transpose8(src + v * vs + c, vs, tile + c * TILE_VOXELS + v,
                     TILE_VOXELS, false);
      for (int64_t v = 0; v < count; ++v)
        for (int64_t c = v < v8 ? c8 : 0; c < classes; ++c)
          tile[c * TILE_VOXELS + v] = src[v * vs + c];
    } else {
      for (int64_t c = 0; c < classes; ++c)
        for (int64_t v = 0; v < count; ++v)
          tile[c * TILE_VOXELS + v] = src[c * cs + v];
    }
  } else {
    const segc_bf16 *src = (const segc_bf16 *)x->data + base;
    if (cs == 1) {
      for (int64_t v = 0; v < count; ++v)
        for (int64_t c = 0; c < classes; ++c)
          tile[c * TILE_VOXELS + v] = segc_bf16_to_f32(src[v * vs + c]);
    } else {
      for (int64_t c = 0; c < classes; ++c)
        for (int64_t v = 0; v < count; ++v)
          tile[c * TILE_VOXELS + v] = segc_bf16_to_f32(src[c * cs + v]);
    }
  }
  if (count < TILE_VOXELS)
    for (int64_t c = 0; c < classes; ++c)
      for (int64_t v = count; v < TILE_VOXELS; ++v) tile[c * TILE_VOXELS + v] = 0;
}

// Stores (or adds, when accumulating) the first `count` voxels of a
// channel-major tile into a gradient.
static inline void store_tile(const strided_logits *g, int64_t n, int64_t v0,
                              int64_t count, int64_t classes, const float *tile,
                              bool accumulate) {
  const int64_t base = n * g->sample_stride + v0 * g->voxel_stride;
  const int64_t cs = g->class_stride, vs = g->voxel_stride;
  if (g->dtype == SEGC_F32) {
    float *dst = (float *)g->data + base;
    if (cs == 1) {  // NDHWC: 8x8 blocks, then the edges one by one
      const int64_t v8 = count / 8 * 8, c8 = classes / 8 * 8;
      for (int64_t v = 0; v < v8; v += 8)
        for (int64_t c = 0; c < c8; c += 8)
          transpose8(tile + c * TILE_VOXELS + v, TILE_VOXELS, dst + v * vs + c,
                     vs, accumulate);
      for (int64_t v = 0; v < count; ++v)
        for (int64_t c = v < v8 ? c8 : 0; c < classes; ++c) {
          const float d = tile[c * TILE_VOXELS + v];
          dst[v * vs + c] = accumulate ? dst[v * vs + c] + d : d;
        }
      return;
    }
    for (int64_t c = 0; c < classes; ++c) {  // NCDHW: runs of voxels
      float *run = dst + c * cs;
      const float *row = tile + c * TILE_VOXELS;
      if (accumulate)
        for (int64_t v = 0; v < count; ++v) run[v] += row[v];
      else
        memcpy(run, row, sizeof(float) * (size_t)count);
    }
    return;
  }
  segc_bf16 *dst = (segc_bf16 *)g->data + base;
  // Walk the destination in memory order: voxel-major for NDHWC, class-major
  // for NCDHW.
  const int64_t outer = cs == 1 ? count : classes;
  const int64_t inner = cs == 1 ? classes : count;
  for (int64_t i = 0; i < outer; ++i)
    for (int64_t j = 0; j < inner; ++j) {
      const int64_t v = cs == 1 ? i : j, c = cs == 1 ? j : i;
      float d = tile[c * TILE_VOXELS + v];
      if (accumulate) d += segc_bf16_to_f32(dst[v * vs + c * cs]);
      dst[v * vs + c * cs] = segc_f32_to_bf16(d);
    }
}

// Replaces a tile of logits by their softmax over the classes. Sets max_logit
// and sum (of exp(x - max)) per voxel. Tail voxels (v >= count) get p = 0.
static inline void softmax_tile(float *tile, int64_t classes, int64_t count,
                                float *max_logit, float *sum) {
  for (int v = 0; v < TILE_VOXELS; ++v) max_logit[v] = tile[v];
  for (int64_t c = 1; c < classes; ++c) {
    const float *row = tile + c * TILE_VOXELS;
    for (int v = 0; v < TILE_VOXELS; ++v)
      max_logit[v] = row[v] > max_logit[v] ? row[v] : max_logit[v];
  }
  for (int v = 0; v < TILE_VOXELS; ++v) sum[v] = 0.0f;
  for (int64_t c = 0; c < classes; ++c) {
    float *row = tile + c * TILE_VOXELS;
    for (int v = 0; v < TILE_VOXELS; ++v) {
      row[v] = exp_nonpositive(row[v] - max_logit[v]);
      sum[v] += row[v];
    }
  }
  float inverse[TILE_VOXELS];
  for (int v = 0; v < TILE_VOXELS; ++v)
    inverse[v] = v < count ? 1.0f / sum[v] : 0.0f;
  for (int64_t c = 0; c < classes; ++c) {
    float *row = tile + c * TILE_VOXELS;
    for (int v = 0; v < TILE_VOXELS; ++v) row[v] *= inverse[v];
  }
}

#endif
