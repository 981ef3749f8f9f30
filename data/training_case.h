// The bundle's deterministic training and validation transforms
// (configs/train.json "deterministic_transforms" and validate#preprocessing):
//   LoadImage -> Orientation RAS -> Spacing (bilinear image, nearest label)
//   -> NormalizeIntensity(nonzero) -> CropForeground(source image, value > 0,
//   margin 10, k_divisible roi) -> GaussianSmooth(0.4) on the image
//   -> ScaleIntensity(-1, 1) [-> CenterSpatialCrop(val_roi) for validation].
// Note that the foreground crop runs after normalisation, so "value > 0"
// selects voxels brighter than the mean, as in MONAI.
#ifndef SEGC_DATA_TRAINING_CASE_H
#define SEGC_DATA_TRAINING_CASE_H

#include <stdbool.h>

#include "data/volume.h"

typedef struct {
  double pixdim[3];
  int64_t margin;          // 10
  int64_t k_divisible[3];  // the training crop (96^3)
  double sigma;            // 0.4
  bool center_crop;        // validation
  int64_t center_roi[3];   // 160^3
  int classes;             // labels must be below this (105)
} segc_training_transforms;

// The bundle's settings for a pixdim and crop size.
segc_training_transforms segc_training_transforms_bundle(
    const double pixdim[3], const int64_t roi[3]);

// image: f32 on the transformed grid; label: u8 on the same grid. Errors name
// the file (unreadable, grids that differ, label values out of range).
segc_status segc_prepare_training_case(const char *image_path,
                                       const char *label_path,
                                       const segc_training_transforms *t,
                                       segc_volume *image, segc_volume *label);

#endif
