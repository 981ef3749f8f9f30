#include "data/spacing.h"

#include <math.h>
#include <string.h>

#include "data/affine.h"
#include "data/resample.h"

// monai.data.utils.AFFINE_TOL
static const double affine_tol = 1e-3;

static segc_status check_grid(const char *what, const double affine[4][4],
                              const int64_t dim[3]) {
  for (int a = 0; a < 3; ++a)
    if (dim[a] <= 0 || dim[a] > (int64_t)1 << 20)
      return SEGC_FAIL(SEGC_ERR_INVALID, "%s: axis %d has %lld voxels", what,
                       a, (long long)dim[a]);
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 4; ++c)
      if (!isfinite(affine[r][c]))
        return SEGC_FAIL(SEGC_ERR_INVALID,
                         "%s: affine element [%d][%d] is not finite", what, r,
                         c);
  return SEGC_OK;
}

// monai.data.utils.zoom_affine(affine, scale, diagonal=False): keeps the
// rotation of the 3x3 (polar factor via Cholesky), sets column lengths to
// scale, zero translation.
static segc_status zoom_affine(const double affine[4][4], const double scale[3],
                               double out[4][4]) {
  double rzs[4][4] = {{0}}, rzs_t[4][4] = {{0}};
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) rzs[i][j] = rzs_t[j][i] = affine[i][j];
  double gram[4][4], lower[4][4], upper[4][4] = {{0}}, identity[4][4];
  segc_mat4_mul(rzs_t, rzs, gram);
  if (!segc_mat3_cholesky_lower(gram, lower))
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "spacing: the affine's 3x3 part is singular");
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) upper[i][j] = lower[j][i];
  double inv_upper[4][4], rotation[4][4];
  segc_mat4_identity(identity);
  if (!segc_matn_solve(3, upper, identity, inv_upper))
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "spacing: the affine's 3x3 part is singular");
  for (int i = 0; i < 3; ++i) inv_upper[i][3] = inv_upper[3][i] = 0.0;
  inv_upper[3][3] = 0.0;
  segc_mat4_mul(rzs, inv_upper, rotation);
  segc_mat4_identity(out);
  for (int j = 0; j < 3; ++j) {
    const double sign = upper[j][j] > 0 ? 1.0 : (upper[j][j] < 0 ? -1.0 : 0.0);
    const double s = sign * fabs(scale[j]);
    for (int i = 0; i < 3; ++i) out[i][j] = rotation[i][j] * s;
  }
  return SEGC_OK;
}

segc_status segc_spacing_grid(const double affine[4][4], const int64_t dim[3],
                              const double pixdim[3], double out_affine[4][4],
                              int64_t out_dim[3]) {
  SEGC_TRY(check_grid("spacing", affine, dim));
  double original[3], target[3];
  segc_affine_spacing(affine, original);
  for (int a = 0; a < 3; ++a) {
    if (!isfinite(pixdim[a]))
      return SEGC_FAIL(SEGC_ERR_INVALID, "spacing: pixdim[%d] is not finite",
                       a);
    // Spacing keeps an axis whose spacing is within AFFINE_TOL of the
    // target; zoom_affine replaces a non-positive target by the original.
    const double t = pixdim[a];
    target[a] = (t - affine_tol <= original[a] && original[a] <= t + affine_tol)
                    ? original[a]
                    : t;
    if (!(target[a] > 0)) target[a] = original[a];
  }
  double zoomed[4][4];
  SEGC_TRY(zoom_affine(affine, target, zoomed));

  // compute_shape_offset: the 8 corner voxels (meshgrid "ij" order) mapped
  // into the new grid give the extent; the first corner that is smallest on
  // every axis keeps its world position.
  double to_new[4][4];
  if (!segc_matn_solve(4, zoomed, affine, to_new))
    return SEGC_FAIL(SEGC_ERR_INVALID, "spacing: the new affine is singular");
  double corner[8][4], in_new[8][4];
  for (int m = 0; m < 8; ++m) {
    for (int a = 0; a < 3; ++a)
      corner[m][a] = ((m >> (2 - a)) & 1) ? (double)dim[a] - 1.0 : 0.0;
    corner[m][3] = 1.0;
    for (int r = 0; r < 4; ++r) {
      double s = 0.0;
      for (int l = 0; l < 4; ++l) s += to_new[r][l] * corner[m][l];
      in_new[m][r] = s;
    }
  }
  for (int a = 0; a < 3; ++a) {
    double lo = INFINITY, hi = -INFINITY;
    for (int m = 0; m < 8; ++m) {
      const double v = in_new[m][a] / in_new[m][3];
      lo = fmin(lo, v);
      hi = fmax(hi, v);
    }
    const double extent = nearbyint((hi - lo) + 1.0);  // numpy round: half even
    if (!(extent >= 1.0 && extent <= (double)((int64_t)1 << 20)))
      return SEGC_FAIL(SEGC_ERR_INVALID,
                       "spacing: output axis %d would have %g voxels", a,
                       extent);
    out_dim[a] = (int64_t)extent;
  }
  double offset[3];
  int found = -1;
  for (int i = 0; i < 8 && found < 0; ++i) {
    bool smallest = true;
    for (int a = 0; a < 3; ++a) {
      double lowest = INFINITY;
      for (int m = 0; m < 8; ++m)
        lowest = fmin(lowest, in_new[m][a] - in_new[i][a]);
      if (!(fabs(lowest) <= 1e-8)) smallest = false;
    }
    if (smallest) found = i;
  }
  if (found >= 0) {
    for (int r = 0; r < 3; ++r) {
      double s = 0.0;
      for (int l = 0; l < 4; ++l) s += affine[r][l] * corner[found][l];
      offset[r] = s;
    }
  } else {  // centre-aligned fallback of compute_shape_offset
    for (int r = 0; r < 3; ++r) {
      double in_centre = 0.0, out_centre = 0.0;
      for (int l = 0; l < 3; ++l) in_centre += affine[r][l] * ((double)dim[l] / 2.0);
      for (int l = 0; l < 3; ++l)
        out_centre += zoomed[r][l] * ((double)out_dim[l] / 2.0);
      offset[r] = in_centre + affine[r][3] - out_centre;
    }
  }
  segc_mat4_copy(zoomed, out_affine);
  for (int r = 0; r < 3; ++r) out_affine[r][3] = offset[r];
  return SEGC_OK;
}

// monai.networks.utils.normalize_transform(shape, align_corners=False).
static void normalize_transform(const int64_t dim[3], double m[4][4]) {
  segc_mat4_identity(m);
  for (int a = 0; a < 3; ++a) {
    const double n = (double)dim[a];
    m[a][a] = 2.0 / n;
    m[a][3] = 1.0 / n - 1.0;
  }
}

static segc_status copy_as(const segc_volume *in, segc_interp mode,
                           segc_volume *out) {
  return segc_volume_copy(in, mode == SEGC_INTERP_BILINEAR ? SEGC_F32 : in->dtype,
                          out);
}

segc_status segc_resample_to_grid(const segc_volume *in,
                                  const double dst_affine[4][4],
                                  const int64_t dst_dim[3], segc_interp mode,
                                  segc_volume *out, bool *resampled) {
  if (mode != SEGC_INTERP_BILINEAR && mode != SEGC_INTERP_NEAREST)
    return SEGC_FAIL(SEGC_ERR_INVALID, "resample: unknown mode %d", (int)mode);
  if (!in->data)
    return SEGC_FAIL(SEGC_ERR_INVALID, "resample: input volume has no data");
  SEGC_TRY(check_grid("resample input", in->affine, in->dim));
  SEGC_TRY(check_grid("resample output", dst_affine, dst_dim));
  double xform[4][4], identity[4][4];
  if (!segc_matn_solve(4, in->affine, dst_affine, xform))
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "resample: the input affine is not invertible");
  segc_mat4_identity(identity);
  const bool same_size = in->dim[0] == dst_dim[0] && in->dim[1] == dst_dim[1] &&
                         in->dim[2] == dst_dim[2];
  const bool unchanged =
      same_size && (segc_mat4_allclose(in->affine, dst_affine, 1e-5, affine_tol) ||
                    segc_mat4_allclose(xform, identity, 1e-5, affine_tol));
  if (resampled) *resampled = !unchanged;
  if (unchanged) return copy_as(in, mode, out);

  // theta = normalize(src) @ xform @ inverse(normalize(dst)), as
  // monai.networks.utils.to_norm_affine computes it.
  double src_norm[4][4], dst_norm[4][4], dst_norm_inv[4][4], theta[4][4];
  normalize_transform(in->dim, src_norm);
  normalize_transform(dst_dim, dst_norm);
  if (!segc_matn_solve(4, dst_norm, identity, dst_norm_inv))
    return SEGC_FAIL(SEGC_ERR_INTERNAL, "resample: normalisation is singular");
  segc_mat4_mul(src_norm, xform, theta);
  segc_mat4_mul(theta, dst_norm_inv, theta);

  segc_volume result;
  SEGC_TRY(segc_volume_alloc(
      &result, mode == SEGC_INTERP_BILINEAR ? SEGC_F32 : in->dtype, dst_dim));
  segc_mat4_mul(in->affine, xform, result.affine);
  segc_status status = segc_resample_theta(in, theta, mode, &result);
  if (status != SEGC_OK) {
    segc_volume_free(&result);
    return status;
  }
  *out = result;
  return SEGC_OK;
}

segc_status segc_spacing(const segc_volume *in, const double pixdim[3],
                         segc_interp mode, segc_volume *out,
                         segc_spacing_record *record) {
  double new_affine[4][4];
  int64_t new_dim[3];
  SEGC_TRY(segc_spacing_grid(in->affine, in->dim, pixdim, new_affine, new_dim));
  bool resampled = false;
  SEGC_TRY(segc_resample_to_grid(in, new_affine, new_dim, mode, out, &resampled));
  if (record) {
    memcpy(record->input_dim, in->dim, sizeof record->input_dim);
    segc_mat4_copy(in->affine, record->input_affine);
    record->resampled = resampled;
  }
  return SEGC_OK;
}

segc_status segc_spacing_inverse(const segc_volume *in,
                                 const segc_spacing_record *record,
                                 segc_interp mode, segc_volume *out) {
  return segc_resample_to_grid(in, record->input_affine, record->input_dim,
                               mode, out, NULL);
}
