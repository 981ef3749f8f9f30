// Resampling a volume to a new grid for `segprep resample`: MONAI's Spacing
// when only a spacing is given, or an explicit output shape.
//
// The corner convention is MONAI's: voxel 0 keeps its world position and
// the extent is measured between voxel centres, (n - 1) * spacing. With only
// a shape, the spacing per axis is chosen so that the output spans the same
// extent: (n_in - 1) * spacing_in / (n_out - 1) (an axis of 1 output voxel
// keeps the input spacing). With a shape and a spacing the grid is exactly
// that, from the same corner. The axis directions never change.
#ifndef SEGC_DATA_REGRID_H
#define SEGC_DATA_REGRID_H

#include <stdbool.h>
#include <stdint.h>

#include "data/spacing.h"
#include "data/volume.h"

typedef struct {
  bool have_shape;
  int64_t shape[3];
  bool have_spacing;
  double spacing[3];  // mm
  segc_interp mode;   // bilinear (output f32) or nearest (dtype kept)
} segc_regrid_request;

// The output grid the request describes.
segc_status segc_regrid_target(const segc_volume *in,
                               const segc_regrid_request *request,
                               double out_affine[4][4], int64_t out_dim[3]);

segc_status segc_regrid(const segc_volume *in,
                        const segc_regrid_request *request, segc_volume *out);

#endif
