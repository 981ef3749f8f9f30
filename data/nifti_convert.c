// Voxel order and type conversion between NIfTI files (i fastest, any stored
// type, either byte order) and segc volumes (k fastest). Both directions work
// on square tiles of kTile x kTile voxels in one (i, k) plane so reads and
// writes stay within a few cache lines; tiles run in parallel. The results do
// not depend on the number of threads (each voxel is computed once; the
// non-finite count is an integer sum).
#include <math.h>
#include <string.h>

#include "data/nifti_internal.h"

enum { kTile = 64 };
// Below this many voxels the OpenMP start-up costs more than it saves.
enum { kParallelMinVoxels = 1 << 16 };

static inline uint16_t load16(const uint8_t *p, bool swap) {
  uint16_t v;
  memcpy(&v, p, sizeof v);
  return swap ? __builtin_bswap16(v) : v;
}
static inline uint32_t load32(const uint8_t *p, bool swap) {
  uint32_t v;
  memcpy(&v, p, sizeof v);
  return swap ? __builtin_bswap32(v) : v;
}
static inline uint64_t load64(const uint8_t *p, bool swap) {
  uint64_t v;
  memcpy(&v, p, sizeof v);
  return swap ? __builtin_bswap64(v) : v;
}
static inline float bits_to_f32(uint32_t bits) {
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
}
static inline double bits_to_f64(uint64_t bits) {
  double d;
  memcpy(&d, &bits, sizeof d);
  return d;
}

// Converts n consecutive stored voxels (a row along i) into out_dtype values;
// returns how many came out NaN or Inf. The type switch sits outside the
// loops so each loop is a simple one the compiler can vectorise.
static int64_t convert_row(const uint8_t *src, int64_t n,
                           const segc_nifti_conversion *c, void *dst) {
  const bool swap = c->swap;
  if (c->out_dtype != SEGC_F32) {  // unscaled integers, exact
    switch (c->datatype) {
      case SEGC_NIFTI_UINT8:
        memcpy(dst, src, (size_t)n);
        return 0;
      case SEGC_NIFTI_INT8: {
        int16_t *out = dst;
        for (int64_t i = 0; i < n; ++i) out[i] = (int8_t)src[i];
        return 0;
      }
      case SEGC_NIFTI_INT16: {
        int16_t *out = dst;
        for (int64_t i = 0; i < n; ++i) out[i] = (int16_t)load16(src + 2 * i, swap);
        return 0;
      }
      case SEGC_NIFTI_UINT16: {
        int32_t *out = dst;
        for (int64_t i = 0; i < n; ++i) out[i] = load16(src + 2 * i, swap);
        return 0;
      }
      default: {  // SEGC_NIFTI_INT32
        int32_t *out = dst;
        for (int64_t i = 0; i < n; ++i) out[i] = (int32_t)load32(src + 4 * i, swap);
        return 0;
      }
    }
  }
  float *out = dst;
  const double slope = c->scaled ? c->slope : 1.0;
  const double inter = c->scaled ? c->inter : 0.0;
  // value * slope + inter in double, rounded once to float.
#define SEGC_ROW_TO_F32(LOAD)                       \
  for (int64_t i = 0; i < n; ++i) {                 \
    const double v = (double)(LOAD);                \
    out[i] = (float)(v * slope + inter);            \
  }
  switch (c->datatype) {
    case SEGC_NIFTI_UINT8: SEGC_ROW_TO_F32(src[i]); break;
    case SEGC_NIFTI_INT8: SEGC_ROW_TO_F32((int8_t)src[i]); break;
    case SEGC_NIFTI_INT16: SEGC_ROW_TO_F32((int16_t)load16(src + 2 * i, swap)); break;
    case SEGC_NIFTI_UINT16: SEGC_ROW_TO_F32(load16(src + 2 * i, swap)); break;
    case SEGC_NIFTI_INT32: SEGC_ROW_TO_F32((int32_t)load32(src + 4 * i, swap)); break;
    case SEGC_NIFTI_UINT32: SEGC_ROW_TO_F32(load32(src + 4 * i, swap)); break;
    case SEGC_NIFTI_FLOAT32:
      if (!c->scaled) {  // a plain copy keeps every bit (and NaN payloads)
        for (int64_t i = 0; i < n; ++i) out[i] = bits_to_f32(load32(src + 4 * i, swap));
      } else {
        SEGC_ROW_TO_F32(bits_to_f32(load32(src + 4 * i, swap)));
      }
      break;
    default: SEGC_ROW_TO_F32(bits_to_f64(load64(src + 8 * i, swap))); break;
  }
#undef SEGC_ROW_TO_F32
  int64_t nonfinite = 0;
  for (int64_t i = 0; i < n; ++i) nonfinite += !isfinite(out[i]);
  return nonfinite;
}

// Copies a converted tile tile[kk][ii] (row length kTile) to
// out[((i0 + ii) * ny + j) * nz + k0 + kk].
#define SEGC_SCATTER_TILE(T)                                               \
  do {                                                                     \
    const T *t = (const T *)tile;                                          \
    T *o = (T *)out;                                                       \
    for (int64_t ii = 0; ii < ti; ++ii) {                                  \
      T *row = o + ((i0 + ii) * ny + j) * nz + k0;                         \
      for (int64_t kk = 0; kk < tk; ++kk) row[kk] = t[kk * kTile + ii];     \
    }                                                                      \
  } while (0)

int64_t segc_nifti_file_to_volume(const void *raw, const int64_t dim[3],
                                  int64_t slab_k0, int64_t slab_k1,
                                  const segc_nifti_conversion *c, void *out) {
  const int64_t nx = dim[0], ny = dim[1], nz = dim[2];
  const int64_t depth = slab_k1 - slab_k0;
  const int64_t tiles_i = (nx + kTile - 1) / kTile;
  const int64_t tiles_k = (depth + kTile - 1) / kTile;
  const int64_t tasks = ny * tiles_i * tiles_k;
  const size_t out_bytes = segc_dtype_size(c->out_dtype);
  const uint8_t *bytes = raw;
  int64_t nonfinite = 0;
#pragma omp parallel for schedule(dynamic, 4) reduction(+ : nonfinite) \
    if (nx * ny * depth > kParallelMinVoxels)
  for (int64_t task = 0; task < tasks; ++task) {
    const int64_t j = task / (tiles_i * tiles_k);
    const int64_t i0 = (task / tiles_k) % tiles_i * kTile;
    const int64_t k0 = slab_k0 + task % tiles_k * kTile;
    const int64_t ti = nx - i0 < kTile ? nx - i0 : kTile;
    const int64_t tk = slab_k1 - k0 < kTile ? slab_k1 - k0 : kTile;
    _Alignas(64) uint8_t tile[kTile * kTile * 4];  // (k, i) in out_dtype
    for (int64_t kk = 0; kk < tk; ++kk) {
      // Index within the slab, which starts at plane slab_k0.
      const int64_t src = ((k0 + kk - slab_k0) * ny + j) * nx + i0;
      nonfinite += convert_row(bytes + src * c->file_bytes, ti, c,
                               tile + (size_t)kk * kTile * out_bytes);
    }
    switch (out_bytes) {
      case 1: SEGC_SCATTER_TILE(uint8_t); break;
      case 2: SEGC_SCATTER_TILE(uint16_t); break;
      default: SEGC_SCATTER_TILE(uint32_t); break;
    }
  }
  return nonfinite;
}

// slab[((k - k0) * ny + j) * nx + i] = volume[(i * ny + j) * nz + k] for one
// tile; each inner loop runs along the contiguous axis of one side.
#define SEGC_GATHER_TILE(T)                                                \
  do {                                                                     \
    const T *v = (const T *)volume;                                        \
    T *s = (T *)slab;                                                      \
    for (int64_t kk = 0; kk < tk; ++kk) {                                  \
      T *row = s + ((k0 + kk - slab_k0) * ny + j) * nx + i0;               \
      const T *col = v + (i0 * ny + j) * nz + k0 + kk;                     \
      for (int64_t ii = 0; ii < ti; ++ii) row[ii] = col[ii * ny * nz];     \
    }                                                                      \
  } while (0)

void segc_nifti_volume_to_file_slab(const void *volume, const int64_t dim[3],
                                    size_t elem_bytes, int64_t slab_k0,
                                    int64_t slab_k1, void *slab) {
  const int64_t nx = dim[0], ny = dim[1], nz = dim[2];
  const int64_t depth = slab_k1 - slab_k0;
  const int64_t tiles_i = (nx + kTile - 1) / kTile;
  const int64_t tiles_k = (depth + kTile - 1) / kTile;
  const int64_t tasks = ny * tiles_i * tiles_k;
#pragma omp parallel for schedule(dynamic, 4) \
    if (nx * ny * depth > kParallelMinVoxels)
  for (int64_t task = 0; task < tasks; ++task) {
    const int64_t j = task / (tiles_i * tiles_k);
    const int64_t i0 = (task / tiles_k) % tiles_i * kTile;
    const int64_t k0 = slab_k0 + task % tiles_k * kTile;
    const int64_t ti = nx - i0 < kTile ? nx - i0 : kTile;
    const int64_t tk = slab_k1 - k0 < kTile ? slab_k1 - k0 : kTile;
    switch (elem_bytes) {
      case 1: SEGC_GATHER_TILE(uint8_t); break;
      case 2: SEGC_GATHER_TILE(uint16_t); break;
      default: SEGC_GATHER_TILE(uint32_t); break;
    }
  }
}
