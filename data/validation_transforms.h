// The bundle's validation preprocessing for an (image, label) pair
// (configs/train.json validate#preprocessing, used by evaluate.json), and the
// inverse that evaluate.json's Invertd applies to the prediction and the
// label before the Dice:
//   Orientation("RAS") -> Spacing(pixdim, bilinear / nearest) ->
//   NormalizeIntensity(nonzero) -> CropForeground(source image, value > 0,
//   margin 10, k_divisible 96) -> GaussianSmooth(sigma 0.4 voxels) ->
//   ScaleIntensity(-1, 1) -> CenterSpatialCrop(val_roi) (when set)
// with the settings of data/training_case.h (the same steps, which segtrain's
// validation runs without needing the inverse); this form also records what
// each step did.
// The inverse pads the crops back with zeros (MONAI inverts crops with
// constant padding, so outside the cropped region both the prediction and
// the label become background), then Spacing back (nearest) and Orientation
// back to the input's axes.
#ifndef SEGC_DATA_VALIDATION_TRANSFORMS_H
#define SEGC_DATA_VALIDATION_TRANSFORMS_H

#include <stdbool.h>

#include "data/crop.h"
#include "data/training_case.h"
#include "data/orientation.h"
#include "data/spacing.h"

typedef struct {
  segc_orientation_record orientation;
  segc_spacing_record spacing;
  int64_t spaced_dim[3];         // grid after Spacing
  double spaced_affine[4][4];
  segc_box foreground;           // CropForeground's box on that grid
  int64_t foreground_dim[3];     // grid after CropForeground
  double foreground_affine[4][4];
  bool center_cropped;
  segc_box center;               // CenterSpatialCrop's box on that grid
  int64_t net_dim[3];            // the network input's grid
  double net_affine[4][4];
} segc_validation_record;

// image: the CT as read (any dtype); label: an integer label on the same
// grid (dims equal, affines within 1e-3 mm, else an error naming both).
// `t` gives pixdim, margin, k_divisible, sigma and the centre crop
// (segc_training_transforms_bundle with center_crop set for validation).
// Outputs: f32 image and u8 label on the network grid (label values must be
// below t->classes).
segc_status segc_preprocess_validation(const segc_volume *image,
                                       const segc_volume *label,
                                       const segc_training_transforms *t,
                                       segc_volume *image_out,
                                       segc_volume *label_out,
                                       segc_validation_record *record);

// Maps a u8 map on the network grid (a prediction or the cropped label) back
// onto the input's grid, zeros where the crops cut. The output's affine is
// the one the steps compute; callers that need the input's bits copy them.
segc_status segc_invert_validation_label(const segc_volume *map,
                                         const segc_validation_record *record,
                                         segc_volume *out);

#endif
