// Synthetic CT phantom: a torso from the pelvis to the lung bases with 43
// of the bundle's classes (organs, vessels, vertebrae, ribs, muscles, hip
// bones) drawn as smooth deformed shapes at realistic Hounsfield units, with
// Gaussian noise and per-case variation. Used to train and test segc without
// real data.
//
// Case k depends only on (seed, k): its random numbers come from the counter
// RNG stream (SEGC_RNG_PHANTOM, k), so it is the same whatever the number of
// cases or threads.
//
// The anatomy is laid out for a 288 mm cube (96 voxels at 3 mm) and scaled to
// the field of view of the grid, so every class is present at any size.
#ifndef SEGC_PHANTOM_PHANTOM_H
#define SEGC_PHANTOM_PHANTOM_H

#include <stdbool.h>
#include <stdint.h>

#include "core/status.h"
#include "data/volume.h"

typedef struct {
  int64_t dim[3];      // grid in RAS axis order (before --orientation)
  double spacing[3];   // mm
  uint64_t seed;
  char orientation[4];  // axis codes of the written arrays, e.g. "RAS", "LPS"
                        // (either case)
  // Classes written to the label (index = bundle class); the others are
  // still drawn in the CT but labelled background. All set by default.
  bool labelled[256];
} segc_phantom_options;

// Keeps only the named structures (comma-separated bundle names) in the
// labels; an unknown or undrawn name is an error naming it.
segc_status segc_phantom_label_only(segc_phantom_options *options,
                                    const char *names);

// 96x96x96 at 3 mm, seed 1, RAS.
void segc_phantom_default_options(segc_phantom_options *options);
// Checks sizes (4..1024 voxels an axis), spacings (0 < s <= 50 mm) and the
// orientation code.
segc_status segc_phantom_check_options(const segc_phantom_options *options);

// Case `case_index`: ct is i16 (HU), label u8 (bundle class indices), both
// in options->orientation with matching affines.
segc_status segc_phantom_case(const segc_phantom_options *options,
                              int64_t case_index, segc_volume *ct,
                              segc_volume *label);

// Writes cases 0..cases-1 as DIR/imagesTr/case_XXXX.nii.gz and
// DIR/labelsTr/case_XXXX.nii.gz, and DIR/datalist.json whose last
// `validation_count` cases are "validation" (paths relative to DIR).
segc_status segc_phantom_write_dataset(const char *dir,
                                       const segc_phantom_options *options,
                                       int64_t cases, int64_t validation_count);

// The bundle class names the phantom draws (every one in every case).
int segc_phantom_class_count(void);
const char *segc_phantom_class_name(int i);

// Rewrites a RAS volume (axes i, j, k along +x, +y, +z) in another axis
// order and direction given by codes such as "LPS" or "SAR" (letter a: the
// direction axis a points to); the affine changes so every voxel keeps its
// world position.
segc_status segc_phantom_reorient(const segc_volume *ras, const char *codes,
                                  segc_volume *out);

#endif
