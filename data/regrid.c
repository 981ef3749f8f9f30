#include "data/regrid.h"

#include <math.h>
#include <string.h>

static segc_status check_request(const segc_regrid_request *request) {
  if (!request->have_shape && !request->have_spacing)
    return SEGC_FAIL(SEGC_ERR_INVALID, "resample: give a spacing, a shape or both");
  for (int a = 0; a < 3; ++a) {
    if (request->have_shape &&
        (request->shape[a] < 1 || request->shape[a] > 4096))
      return SEGC_FAIL(SEGC_ERR_INVALID,
                       "resample: shape %lld on axis %d is outside 1..4096",
                       (long long)request->shape[a], a);
    if (request->have_spacing &&
        !(request->spacing[a] > 0.0 && request->spacing[a] <= 1000.0))
      return SEGC_FAIL(SEGC_ERR_INVALID,
                       "resample: spacing %g on axis %d is outside (0, 1000] mm",
                       request->spacing[a], a);
  }
  return SEGC_OK;
}

segc_status segc_regrid_target(const segc_volume *in,
                               const segc_regrid_request *request,
                               double out_affine[4][4], int64_t out_dim[3]) {
  SEGC_TRY(check_request(request));
  if (!request->have_shape)
    return segc_spacing_grid(in->affine, in->dim, request->spacing, out_affine,
                             out_dim);
  double old_spacing[3];
  segc_volume_spacing(in, old_spacing);
  memcpy(out_affine, in->affine, 16 * sizeof(double));
  for (int a = 0; a < 3; ++a) {
    if (!(old_spacing[a] > 0.0))
      return SEGC_FAIL(SEGC_ERR_INVALID,
                       "resample: the input affine has a zero column %d", a);
    double spacing = old_spacing[a];
    if (request->have_spacing) {
      spacing = request->spacing[a];
    } else if (request->shape[a] > 1) {
      if (in->dim[a] == 1)
        return SEGC_FAIL(SEGC_ERR_INVALID,
                         "resample: axis %d has one voxel, so it has no extent "
                         "to keep; give --spacing as well",
                         a);
      spacing = (double)(in->dim[a] - 1) * old_spacing[a] /
                (double)(request->shape[a] - 1);
    }
    // Scale column a; the translation (voxel 0) stays.
    for (int r = 0; r < 3; ++r)
      out_affine[r][a] = in->affine[r][a] * (spacing / old_spacing[a]);
    out_dim[a] = request->shape[a];
  }
  return SEGC_OK;
}

segc_status segc_regrid(const segc_volume *in,
                        const segc_regrid_request *request, segc_volume *out) {
  SEGC_TRY(check_request(request));
  if (!request->have_shape)
    return segc_spacing(in, request->spacing, request->mode, out, NULL);
  double affine[4][4];
  int64_t dim[3];
  SEGC_TRY(segc_regrid_target(in, request, affine, dim));
  return segc_resample_to_grid(in, affine, dim, request->mode, out, NULL);
}
