// MONAI's Spacing(pixdim, mode, padding_mode="border", align_corners=False,
// diagonal=False, scale_extent=False, dtype=float64) and the SpatialResample
// its inverse uses.
//
// Output grid (monai/data/utils.py zoom_affine + compute_shape_offset): the
// 3x3 keeps the input's rotation with columns of length pixdim; the shape is
// round_half_even(extent / pixdim + 1) per axis; the corner voxel keeps its
// world position. An axis whose spacing is already within 1e-3 mm of the
// target keeps it. When the new grid equals the old one (affines within 1e-3)
// nothing is resampled, as in MONAI.
//
// Sampling (what MONAI's AffineTransform -> torch affine_grid + grid_sample
// compute, in float64): output voxel o reads input position
// x = ((g + 1) * n_in - 1) / 2, where g is the normalised grid coordinate
// torch derives from o, clamped to [0, n_in - 1] (border padding). Bilinear:
// trilinear weights of the 8 neighbours, result rounded to float32. Nearest:
// the voxel at round(x), halves rounded away from zero. The grid coordinates
// are computed with the same float64 operations as torch 1.13 on an AVX2 CPU
// (including its linspace), so exact ties (a 3 mm -> 1.5 mm grid puts every
// second output voxel half-way between two inputs) fall the same way.
//
// Axis-aligned grids (the bundle's case after Orientation) are resampled
// separably; oblique ones through a general per-voxel path.
#ifndef SEGC_DATA_SPACING_H
#define SEGC_DATA_SPACING_H

#include <stdbool.h>

#include "data/volume.h"

typedef enum {
  SEGC_INTERP_BILINEAR = 0,  // trilinear, output float32
  SEGC_INTERP_NEAREST = 1    // output keeps the input dtype
} segc_interp;

// What Spacing did, for the inverse.
typedef struct {
  int64_t input_dim[3];
  double input_affine[4][4];
  bool resampled;  // false when MONAI's "affine unchanged" shortcut applied
} segc_spacing_record;

// The output grid Spacing would produce (no data touched). pixdim components
// <= 0 keep the input's spacing on that axis.
segc_status segc_spacing_grid(const double affine[4][4], const int64_t dim[3],
                              const double pixdim[3], double out_affine[4][4],
                              int64_t out_dim[3]);

// out = Spacing(pixdim, mode)(in). `record` may be NULL.
segc_status segc_spacing(const segc_volume *in, const double pixdim[3],
                         segc_interp mode, segc_volume *out,
                         segc_spacing_record *record);

// MONAI's SpatialResample(in, dst_affine, spatial_size): resamples onto the
// grid (dst_affine, dst_dim). The output affine is in->affine @ xform with
// xform = solve(in->affine, dst_affine), as MONAI sets it. `resampled` (may
// be NULL) tells whether the no-change shortcut was skipped.
segc_status segc_resample_to_grid(const segc_volume *in,
                                  const double dst_affine[4][4],
                                  const int64_t dst_dim[3], segc_interp mode,
                                  segc_volume *out, bool *resampled);

// MONAI's inverse of Spacing: resample `in` (on the Spacing output grid, with
// its affine) back to the recorded input affine and shape. Invertd with
// nearest_interp=True uses SEGC_INTERP_NEAREST.
segc_status segc_spacing_inverse(const segc_volume *in,
                                 const segc_spacing_record *record,
                                 segc_interp mode, segc_volume *out);

#endif
