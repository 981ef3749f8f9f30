// MONAI's intensity transforms on float32 volumes, in place (the volumes are
// large; the bundle never needs the input afterwards):
// NormalizeIntensity(nonzero=True), ScaleIntensity(minv, maxv) and
// GaussianSmooth(sigma) (GaussianFilter, approx="erf", truncated=4).
//
// Statistics use double accumulators over fixed chunks combined in chunk
// order, so results do not depend on the thread count. The element-wise
// arithmetic is float32 in MONAI's order, since MONAI works on float32
// tensors with float32 scalars.
#ifndef SEGC_DATA_INTENSITY_H
#define SEGC_DATA_INTENSITY_H

#include "data/volume.h"

typedef struct {
  int64_t count;  // voxels that were != 0 (the ones normalised)
  float mean;     // as applied: (v - mean) / std
  float std;      // population std; 1 when it was 0 (MONAI's rule)
} segc_normalize_stats;

// NormalizeIntensity(nonzero=True): v -> (v - mean) / std for v != 0 with
// mean and population std over those voxels; zero voxels stay 0. A volume
// with no nonzero voxel is left as it is (count 0). `stats` may be NULL.
segc_status segc_normalize_nonzero(segc_volume *image,
                                   segc_normalize_stats *stats);

// ScaleIntensity(minv, maxv): v -> (v - min) / (max - min) * (maxv - minv) +
// minv over the whole volume. When max == min MONAI returns v * minv; so does
// this. `input_range` (may be NULL) receives min and max.
segc_status segc_scale_intensity(segc_volume *image, double minv, double maxv,
                                 float input_range[2]);

// GaussianFilter's 1D kernel for one sigma: 2 * tail + 1 taps with
// tail = int(max(4 sigma, 0.5) + 0.5), tap x = 0.5 * (erf((x + 0.5) t) -
// erf((x - 0.5) t)), t = 0.70710678 / sigma, not renormalised.
// Returns the tap count, or 0 when more than `capacity` would be needed.
int segc_gaussian_kernel(double sigma, float *taps, int capacity);

// GaussianSmooth(sigma): separable convolution along i, then j, then k, zero
// padding at the borders (MONAI's separable_filtering default), float32
// between passes as in MONAI, each tap sum accumulated in double. sigma per
// axis in voxels, > 0.
segc_status segc_gaussian_smooth(segc_volume *image, const double sigma[3]);

#endif
