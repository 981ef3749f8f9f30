// MONAI's cropping transforms as boxes: compute a box, then cut it out with
// segc_crop_box (zero padding where the box leaves the image) and undo it
// with segc_uncrop_box.
//
// A box is [start, end) per axis in input voxels; start may be negative and
// end may exceed the input (MONAI pads those parts with 0, mode "constant").
// The output affine is affine @ T(start) (crop) @ T(-pad_before) (pad), the
// two steps MONAI applies.
#ifndef SEGC_DATA_CROP_H
#define SEGC_DATA_CROP_H

#include <stdbool.h>

#include "data/volume.h"

typedef struct {
  int64_t start[3];
  int64_t end[3];
} segc_box;

// CropForeground(select_fn = value > 0, margin, allow_smaller, k_divisible)
// on `source`: the bounding box of voxels > 0, grown by margin (clamped to
// the image when allow_smaller, MONAI 1.4's default), then grown to a
// multiple of k per axis around its centre (extra voxel before: start -=
// floor(extra / 2)), which may leave the image. k <= 0 leaves an axis alone.
// Fails when no voxel is > 0 (MONAI would return an empty image).
segc_status segc_foreground_box(const segc_volume *source,
                                const int64_t margin[3],
                                const int64_t k_divisible[3],
                                bool allow_smaller, segc_box *box);

// CenterSpatialCrop(roi): centre dim / 2 (floor), start = max(centre -
// roi / 2, 0), end = min(start + roi, dim). An axis shorter than roi keeps
// its full length (no padding); roi <= 0 keeps the axis.
segc_status segc_center_crop_box(const int64_t dim[3], const int64_t roi[3],
                                 segc_box *box);

// RandSpatialCrop(roi, random_size=False, random_center=True): size per axis
// min(roi, dim) (roi <= 0: dim); start uniform over the valid starts
// 0 .. dim - size: start[a] = segc_rng_below(seed, stream, a, dim[a] - size
// + 1), i.e. element a (the axis number) of the stream; 0 when the axis
// leaves no choice. Never pads.
segc_status segc_rand_crop_box(const int64_t dim[3], const int64_t roi[3],
                               uint64_t seed, uint64_t stream, segc_box *box);

// out = the box of `in` (same dtype), zero outside the image.
segc_status segc_crop_box(const segc_volume *in, const segc_box *box,
                          segc_volume *out);

// Inverse of segc_crop_box: a volume of `original_dim` and `original_affine`
// holding `cropped` at the box position, zero elsewhere.
segc_status segc_uncrop_box(const segc_volume *cropped, const segc_box *box,
                            const int64_t original_dim[3],
                            const double original_affine[4][4],
                            segc_volume *out);

#endif
