// A 3D image or label map on a grid with an affine: what NIfTI files hold and
// what MONAI's transforms work on.
//
// Axis order: dim[0], dim[1], dim[2] are NIfTI's axes i, j, k. Voxel (i, j, k)
// sits at data offset (i * dim[1] + j) * dim[2] + k, so k varies fastest. This
// is the memory order of MONAI's (D, H, W) tensor after LoadImage, so a volume
// can be fed to the network as NCDHW without transposing. (A NIfTI file
// stores i fastest; the reader and writer transpose.)
//
// affine maps voxel (i, j, k, 1) to world millimetres in NIfTI's RAS+ frame
// (x grows to the right, y to anterior, z to superior), as nibabel reports.
#ifndef SEGC_DATA_VOLUME_H
#define SEGC_DATA_VOLUME_H

#include <stdint.h>

#include "core/dtype.h"
#include "core/status.h"

typedef struct {
  segc_dtype dtype;
  int64_t dim[3];
  double affine[4][4];
  void *data;  // host memory owned by the volume (malloc)
} segc_volume;

static inline int64_t segc_volume_numel(const segc_volume *v) {
  return v->dim[0] * v->dim[1] * v->dim[2];
}
static inline int64_t segc_volume_offset(const segc_volume *v, int64_t i,
                                         int64_t j, int64_t k) {
  return (i * v->dim[1] + j) * v->dim[2] + k;
}

// Allocates zeroed data for the given dims and dtype; the affine is identity.
segc_status segc_volume_alloc(segc_volume *v, segc_dtype dtype,
                              const int64_t dim[3]);
void segc_volume_free(segc_volume *v);
// Deep copy, converting to `dtype`.
segc_status segc_volume_copy(const segc_volume *src, segc_dtype dtype,
                             segc_volume *dst);
// Voxel spacing: the length of each affine column (mm).
void segc_volume_spacing(const segc_volume *v, double spacing[3]);

#endif
