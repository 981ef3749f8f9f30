// Segmentation metrics with MONAI's rules.
//
// Dice (monai/metrics/meandice.py, include_background false, ignore_empty
// true): per class c >= 1, 2|P∩G| / (|P| + |G|); a class absent from the
// reference (|G| = 0) gives NaN and is left out of every mean.
//
// Normalized surface distance at tolerance tau mm
// (monai/metrics/surface_dice.py, use_subvoxels false, euclidean): edges are
// mask XOR its binary erosion (6-neighbourhood, outside the image counts as
// background); NSD = (#pred edge voxels within tau of the reference edge +
// #reference edge voxels within tau of the predicted edge) / (#pred edges +
// #reference edges), distances with the voxel spacing; NaN when both are
// empty, and edge voxels facing an empty other side are at infinity.
#ifndef SEGC_INFER_METRICS_H
#define SEGC_INFER_METRICS_H

#include <stdint.h>

#include "data/volume.h"

typedef struct {
  int classes;                 // K (including background 0)
  int64_t *pred_count;         // |P_c|, K entries
  int64_t *ref_count;          // |G_c|
  int64_t *overlap;            // |P_c ∩ G_c|
  double *dice;                // K entries; [0] unused (NaN)
  double *nsd;                 // K entries or NULL when not computed
} segc_case_metrics;

// Compares two u8 label maps on the same grid (dims equal; affines equal to
// 1e-3 mm, else an error naming both). With tolerance_mm > 0 the NSD is
// computed too (spacing from the affine). Label values >= classes are an
// error naming the value and the map ("prediction" or "reference") holding
// it; callers that read files check each with segc_metrics_check_classes
// first, so that the message names the file.
segc_status segc_metrics_compute(const segc_volume *pred,
                                 const segc_volume *ref, int classes,
                                 double tolerance_mm,
                                 segc_case_metrics *out);
void segc_metrics_free(segc_case_metrics *m);

// Every value of the u8 label map below `classes`, else an error
// "<what>: label value V at voxel (i, j, k) is not below the K classes".
segc_status segc_metrics_check_classes(const segc_volume *labels, int classes,
                                       const char *what);

// Mean over classes 1..K-1 of the non-NaN values (NaN when none).
double segc_metrics_mean(const double *values, int classes);

// Exact Euclidean distance transform (squared distances scaled by the
// spacing) of a 3D mask: out[v] = distance from v to the nearest voxel where
// `target` is nonzero (INFINITY when there is none). dims with k fastest.
segc_status segc_distance_transform(const uint8_t *target,
                                    const int64_t dim[3],
                                    const double spacing[3], float *out);

#endif
