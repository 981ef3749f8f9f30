#include "data/crop.h"

#include <string.h>

#include "core/rng.h"
#include "data/affine.h"

static bool is_positive(const segc_volume *v, int64_t i) {
  return segc_load_f32(v->data, v->dtype, (size_t)i) > 0.0f;
}

segc_status segc_foreground_box(const segc_volume *source,
                                const int64_t margin[3],
                                const int64_t k_divisible[3],
                                bool allow_smaller, segc_box *box) {
  if (!source->data)
    return SEGC_FAIL(SEGC_ERR_INVALID, "crop_foreground: source has no data");
  for (int a = 0; a < 3; ++a)
    if (margin[a] < 0)
      return SEGC_FAIL(SEGC_ERR_INVALID,
                       "crop_foreground: margin[%d] = %lld is negative", a,
                       (long long)margin[a]);
  const int64_t *d = source->dim;
  int64_t lo[3] = {d[0], d[1], d[2]}, hi[3] = {-1, -1, -1};
  // Per plane i, then combined: min and max do not depend on the order.
#pragma omp parallel
  {
    int64_t my_lo[3] = {d[0], d[1], d[2]}, my_hi[3] = {-1, -1, -1};
#pragma omp for schedule(static)
    for (int64_t i = 0; i < d[0]; ++i)
      for (int64_t j = 0; j < d[1]; ++j)
        for (int64_t k = 0; k < d[2]; ++k)
          if (is_positive(source, (i * d[1] + j) * d[2] + k)) {
            const int64_t at[3] = {i, j, k};
            for (int a = 0; a < 3; ++a) {
              if (at[a] < my_lo[a]) my_lo[a] = at[a];
              if (at[a] > my_hi[a]) my_hi[a] = at[a];
            }
          }
#pragma omp critical(segc_foreground_box)
    for (int a = 0; a < 3; ++a) {
      if (my_lo[a] < lo[a]) lo[a] = my_lo[a];
      if (my_hi[a] > hi[a]) hi[a] = my_hi[a];
    }
  }
  if (hi[0] < 0)
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "crop_foreground: no voxel > 0 in the %lldx%lldx%lld source",
                     (long long)d[0], (long long)d[1], (long long)d[2]);
  for (int a = 0; a < 3; ++a) {
    int64_t start = lo[a] - margin[a], end = hi[a] + margin[a] + 1;
    if (allow_smaller) {
      if (start < 0) start = 0;
      if (end > d[a]) end = d[a];
    }
    const int64_t size = end - start;
    const int64_t k = k_divisible[a];
    const int64_t new_size = k > 0 ? (size + k - 1) / k * k : size;
    // numpy floor_divide of a non-negative difference
    start -= (new_size - size) / 2;
    box->start[a] = start;
    box->end[a] = start + new_size;
  }
  return SEGC_OK;
}

segc_status segc_center_crop_box(const int64_t dim[3], const int64_t roi[3],
                                 segc_box *box) {
  for (int a = 0; a < 3; ++a) {
    if (dim[a] <= 0)
      return SEGC_FAIL(SEGC_ERR_INVALID, "center_crop: axis %d has %lld voxels",
                       a, (long long)dim[a]);
    const int64_t size = roi[a] > 0 ? roi[a] : dim[a];
    int64_t start = dim[a] / 2 - size / 2;
    if (start < 0) start = 0;
    const int64_t end = start + size < dim[a] ? start + size : dim[a];
    box->start[a] = start;
    box->end[a] = end;
  }
  return SEGC_OK;
}

segc_status segc_rand_crop_box(const int64_t dim[3], const int64_t roi[3],
                               uint64_t seed, uint64_t stream, segc_box *box) {
  for (int a = 0; a < 3; ++a) {
    if (dim[a] <= 0)
      return SEGC_FAIL(SEGC_ERR_INVALID, "rand_crop: axis %d has %lld voxels",
                       a, (long long)dim[a]);
    int64_t size = roi[a] > 0 ? roi[a] : dim[a];
    if (size > dim[a]) size = dim[a];
    const int64_t choices = dim[a] - size + 1;
    const int64_t start =
        choices > 1 ? (int64_t)segc_rng_below(seed, stream, (uint64_t)a,
                                              (uint64_t)choices)
                    : 0;
    box->start[a] = start;
    box->end[a] = start + size;
  }
  return SEGC_OK;
}

// Copies the overlap of a box of `src` into `dst`, where dst voxel 0 sits at
// src voxel `dst_origin` (both volumes the same dtype).
static void copy_overlap(const segc_volume *src, const int64_t dst_origin[3],
                         segc_volume *dst) {
  int64_t lo[3], hi[3];
  for (int a = 0; a < 3; ++a) {
    lo[a] = dst_origin[a] > 0 ? dst_origin[a] : 0;
    hi[a] = dst_origin[a] + dst->dim[a] < src->dim[a]
                ? dst_origin[a] + dst->dim[a]
                : src->dim[a];
    if (hi[a] <= lo[a]) return;  // no overlap: all padding
  }
  const size_t elem = segc_dtype_size(src->dtype);
  const size_t run = (size_t)(hi[2] - lo[2]) * elem;
  const int64_t rows_j = hi[1] - lo[1];
#pragma omp parallel for schedule(static)
  for (int64_t row = 0; row < (hi[0] - lo[0]) * rows_j; ++row) {
    const int64_t i = lo[0] + row / rows_j, j = lo[1] + row % rows_j;
    const char *s = (const char *)src->data +
                    (size_t)segc_volume_offset(src, i, j, lo[2]) * elem;
    char *d = (char *)dst->data +
              (size_t)segc_volume_offset(dst, i - dst_origin[0], j - dst_origin[1],
                                         lo[2] - dst_origin[2]) * elem;
    memcpy(d, s, run);
  }
}

segc_status segc_crop_box(const segc_volume *in, const segc_box *box,
                          segc_volume *out) {
  int64_t dim[3];
  double crop_shift[3], pad_shift[3];
  for (int a = 0; a < 3; ++a) {
    dim[a] = box->end[a] - box->start[a];
    if (dim[a] <= 0)
      return SEGC_FAIL(SEGC_ERR_INVALID, "crop: box axis %d is empty (%lld..%lld)",
                       a, (long long)box->start[a], (long long)box->end[a]);
    crop_shift[a] = (double)(box->start[a] > 0 ? box->start[a] : 0);
    pad_shift[a] = -(double)(box->start[a] < 0 ? -box->start[a] : 0);
  }
  segc_volume result;
  SEGC_TRY(segc_volume_alloc(&result, in->dtype, dim));  // zeroed: the padding
  segc_mat4_shift(in->affine, crop_shift, result.affine);
  segc_mat4_shift(result.affine, pad_shift, result.affine);
  copy_overlap(in, box->start, &result);
  *out = result;
  return SEGC_OK;
}

segc_status segc_uncrop_box(const segc_volume *cropped, const segc_box *box,
                            const int64_t original_dim[3],
                            const double original_affine[4][4],
                            segc_volume *out) {
  int64_t origin[3];
  for (int a = 0; a < 3; ++a) {
    if (cropped->dim[a] != box->end[a] - box->start[a])
      return SEGC_FAIL(SEGC_ERR_INVALID,
                       "uncrop: axis %d has %lld voxels, the box %lld", a,
                       (long long)cropped->dim[a],
                       (long long)(box->end[a] - box->start[a]));
    origin[a] = -box->start[a];  // the original's voxel 0 in cropped voxels
  }
  segc_volume result;
  SEGC_TRY(segc_volume_alloc(&result, cropped->dtype, original_dim));
  segc_mat4_copy(original_affine, result.affine);
  copy_overlap(cropped, origin, &result);
  *out = result;
  return SEGC_OK;
}
