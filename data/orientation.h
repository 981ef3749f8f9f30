// MONAI's Orientation(axcodes): reorders and reverses the voxel axes so that
// they point along the named world directions. No interpolation: only flips
// and axis permutations; the affine is updated as MONAI does
// (affine @ nibabel.orientations.inv_ornt_aff(transform, shape)).
//
// Axis codes name, for each voxel axis i, j, k, the world direction the index
// grows towards: R/L (x), A/P (y), S/I (z); "RAS" is nibabel's canonical
// frame and what the bundle uses. Upper or lower case is accepted.
#ifndef SEGC_DATA_ORIENTATION_H
#define SEGC_DATA_ORIENTATION_H

#include "data/volume.h"

// nibabel's orientation array: voxel axis a corresponds to world axis
// world_axis[a] (0 = x, 1 = y, 2 = z), in the negative direction when
// sign[a] is -1. For a transform between orientations (ornt_transform),
// world_axis[a] is the output voxel axis that input axis a becomes.
typedef struct {
  int world_axis[3];
  int sign[3];
} segc_ornt;

// nibabel.orientations.io_orientation: the closest axis-aligned orientation
// of an affine (polar decomposition of the normalised 3x3, then greedy
// largest-component choice per voxel axis). Fails for a singular 3x3.
segc_status segc_affine_ornt(const double affine[4][4], segc_ornt *ornt);
// nibabel.orientations.axcodes2ornt with labels (L,R), (P,A), (I,S).
segc_status segc_axcodes_ornt(const char *axcodes, segc_ornt *ornt);
// aff2axcodes: the three letters (plus NUL) of an affine's orientation.
segc_status segc_affine_axcodes(const double affine[4][4], char axcodes[4]);

// What Orientation did, for the inverse.
typedef struct {
  char input_axcodes[4];      // orientation of the input; the inverse goes back
  int64_t input_dim[3];
  double input_affine[4][4];
} segc_orientation_record;

// out = Orientation(axcodes)(in), same dtype. `record` may be NULL.
segc_status segc_orient(const segc_volume *in, const char *axcodes,
                        segc_volume *out, segc_orientation_record *record);
// MONAI's inverse: Orientation(axcodes = the input's axcodes) applied to `in`
// (whose affine is the current one). Checks that the result has the recorded
// shape.
segc_status segc_orient_inverse(const segc_volume *in,
                                const segc_orientation_record *record,
                                segc_volume *out);

#endif
