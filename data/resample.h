// Sampling kernels behind segc_resample_to_grid (data/spacing.h): the
// torch grid coordinates and the separable and general resampling loops.
// Internal to data/; use data/spacing.h.
#ifndef SEGC_DATA_RESAMPLE_H
#define SEGC_DATA_RESAMPLE_H

#include "data/spacing.h"

// torch 1.13 affine_grid's base coordinates along an axis of n voxels with
// align_corners=False: linspace(-1, 1, n) * (n - 1) / n, with linspace's own
// rounding (fused multiply-adds in groups of 4 as its AVX2 kernel does).
// out has n elements.
void segc_grid_base(int64_t n, double *out);

// Resamples `in` onto out's grid (out->dim, out->dtype set; data allocated),
// with theta the normalised output-to-input transform MONAI hands to
// affine_grid (rows/columns in NIfTI axis order i, j, k).
segc_status segc_resample_theta(const segc_volume *in, const double theta[4][4],
                                segc_interp mode, segc_volume *out);

#endif
