// The voxel-to-world affine of a NIfTI header, chosen as nibabel's
// get_best_affine does, and the qform (quaternion + qfac) of an affine, as
// nibabel's set_qform computes it.
#include <float.h>
#include <math.h>
#include <string.h>

#include "data/nifti_internal.h"

// nibabel resets codes outside 0..5 to 0 ("unknown") when it loads a header.
static bool xform_code_in_use(int code) { return code >= 1 && code <= 5; }

static void set_identity(double a[4][4]) {
  memset(a, 0, 16 * sizeof(double));
  for (int r = 0; r < 4; ++r) a[r][r] = 1.0;
}

// Rotation matrix of a quaternion (w, x, y, z), normalising it first, as
// nibabel's quat2mat.
static void quaternion_to_rotation(const double q[4], double m[3][3]) {
  const double w = q[0], x = q[1], y = q[2], z = q[3];
  const double norm2 = w * w + x * x + y * y + z * z;
  memset(m, 0, 9 * sizeof(double));
  if (norm2 < DBL_EPSILON) {
    for (int r = 0; r < 3; ++r) m[r][r] = 1.0;
    return;
  }
  const double s = 2.0 / norm2;
  const double X = x * s, Y = y * s, Z = z * s;
  const double wX = w * X, wY = w * Y, wZ = w * Z;
  const double xX = x * X, xY = x * Y, xZ = x * Z;
  const double yY = y * Y, yZ = y * Z, zZ = z * Z;
  m[0][0] = 1.0 - (yY + zZ); m[0][1] = xY - wZ;         m[0][2] = xZ + wY;
  m[1][0] = xY + wZ;         m[1][1] = 1.0 - (xX + zZ); m[1][2] = yZ - wX;
  m[2][0] = xZ - wY;         m[2][1] = yZ + wX;         m[2][2] = 1.0 - (xX + yY);
}

void segc_nifti_affine_from_qform(const double quatern[3],
                                  const double qoffset[3],
                                  const double pixdim[4], double affine[4][4]) {
  const double b = quatern[0], c = quatern[1], d = quatern[2];
  const double w2 = 1.0 - (b * b + c * c + d * d);
  const double q[4] = {w2 > 0.0 ? sqrt(w2) : 0.0, b, c, d};
  double rot[3][3];
  quaternion_to_rotation(q, rot);
  const double qfac = pixdim[0] == -1.0 ? -1.0 : 1.0;
  const double zoom[3] = {pixdim[1], pixdim[2], pixdim[3] * qfac};
  set_identity(affine);
  for (int r = 0; r < 3; ++r) {
    for (int col = 0; col < 3; ++col) affine[r][col] = rot[r][col] * zoom[col];
    affine[r][3] = qoffset[r];
  }
}

static segc_status qform_affine(const segc_nifti_header *h, const char *name,
                                double affine[4][4]) {
  for (int a = 1; a <= 3; ++a)
    if (h->pixdim[a] < 0.0)
      return SEGC_FAIL(SEGC_ERR_FORMAT,
                       "%s: qform_code %d but pixdim[%d] is %g (negative "
                       "voxel sizes make the qform undefined)",
                       name, h->qform_code, a, h->pixdim[a]);
  const double b = h->quatern[0], c = h->quatern[1], d = h->quatern[2];
  // The stored b, c, d are float32 in NIfTI-1: allow their rounding, as
  // nibabel does (3 float32 epsilons), and refuse anything larger.
  if (!isfinite(b) || !isfinite(c) || !isfinite(d))
    return SEGC_FAIL(SEGC_ERR_FORMAT,
                     "%s: qform quaternion (b, c, d) = (%g, %g, %g) is not "
                     "finite", name, b, c, d);
  const double w2 = 1.0 - (b * b + c * c + d * d);
  if (!(w2 >= -3.0 * FLT_EPSILON))
    return SEGC_FAIL(SEGC_ERR_FORMAT,
                     "%s: qform quaternion (b, c, d) = (%g, %g, %g) has norm "
                     "above 1", name, b, c, d);
  const double pixdim[4] = {h->pixdim[0], h->pixdim[1], h->pixdim[2],
                            h->pixdim[3]};
  segc_nifti_affine_from_qform(h->quatern, h->qoffset, pixdim, affine);
  return SEGC_OK;
}

// nibabel's shape_zoom_affine with its default x flip: pixdim on the
// diagonal, x negated, the grid centre at the world origin.
static void fallback_affine(const segc_nifti_header *h, double affine[4][4]) {
  set_identity(affine);
  const int64_t ndim = h->dim[0];
  for (int a = 0; a < 3; ++a) {
    const bool present = a < ndim;
    const double shape = present ? (double)h->dim[a + 1] : 1.0;
    double zoom = present ? h->pixdim[a + 1] : 1.0;
    if (a == 0) zoom = -zoom;
    affine[a][a] = zoom;
    affine[a][3] = -(shape - 1.0) / 2.0 * zoom;
  }
}

segc_status segc_nifti_best_affine(const segc_nifti_header *h,
                                   const char *name, double affine[4][4]) {
  const char *source;
  if (xform_code_in_use(h->sform_code)) {
    set_identity(affine);
    for (int r = 0; r < 3; ++r)
      for (int c = 0; c < 4; ++c) affine[r][c] = h->srow[r][c];
    source = "sform";
  } else if (xform_code_in_use(h->qform_code)) {
    SEGC_TRY(qform_affine(h, name, affine));
    source = "qform";
  } else {
    fallback_affine(h, affine);
    source = "pixdim (no qform or sform)";
  }
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 4; ++c)
      if (!isfinite(affine[r][c]))
        return SEGC_FAIL(SEGC_ERR_FORMAT,
                         "%s: the affine from the %s has a non-finite entry "
                         "(row %d, column %d is %g)", name, source, r, c,
                         affine[r][c]);
  return SEGC_OK;
}

static double det3(const double m[3][3]) {
  return m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) -
         m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
         m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
}

// Replaces m by its orthogonal polar factor, the closest orthogonal matrix
// (what nibabel gets from the SVD as U V^T), by Newton's iteration
// X <- (X + X^-T) / 2, which converges quadratically for non-singular m.
static void orthogonalize(double m[3][3]) {
  for (int iter = 0; iter < 100; ++iter) {
    const double det = det3(m);
    double inv_t[3][3];  // (m^-1)^T = cofactor matrix / det
    for (int r = 0; r < 3; ++r)
      for (int c = 0; c < 3; ++c) {
        const int r1 = (r + 1) % 3, r2 = (r + 2) % 3;
        const int c1 = (c + 1) % 3, c2 = (c + 2) % 3;
        inv_t[r][c] = (m[r1][c1] * m[r2][c2] - m[r1][c2] * m[r2][c1]) / det;
      }
    double change = 0.0;
    for (int r = 0; r < 3; ++r)
      for (int c = 0; c < 3; ++c) {
        const double next = 0.5 * (m[r][c] + inv_t[r][c]);
        change = fmax(change, fabs(next - m[r][c]));
        m[r][c] = next;
      }
    if (change < 1e-15) break;
  }
}

// Shepperd's method: the unit quaternion (w >= 0) of a rotation matrix,
// picking the largest pivot for accuracy.
static void rotation_to_quaternion(const double m[3][3], double q[4]) {
  const double trace = m[0][0] + m[1][1] + m[2][2];
  double w, x, y, z;
  if (trace > 0.0) {
    const double s = 2.0 * sqrt(1.0 + trace);  // s = 4w
    w = 0.25 * s;
    x = (m[2][1] - m[1][2]) / s;
    y = (m[0][2] - m[2][0]) / s;
    z = (m[1][0] - m[0][1]) / s;
  } else if (m[0][0] > m[1][1] && m[0][0] > m[2][2]) {
    const double s = 2.0 * sqrt(1.0 + m[0][0] - m[1][1] - m[2][2]);  // 4x
    w = (m[2][1] - m[1][2]) / s;
    x = 0.25 * s;
    y = (m[0][1] + m[1][0]) / s;
    z = (m[0][2] + m[2][0]) / s;
  } else if (m[1][1] > m[2][2]) {
    const double s = 2.0 * sqrt(1.0 + m[1][1] - m[0][0] - m[2][2]);  // 4y
    w = (m[0][2] - m[2][0]) / s;
    x = (m[0][1] + m[1][0]) / s;
    y = 0.25 * s;
    z = (m[1][2] + m[2][1]) / s;
  } else {
    const double s = 2.0 * sqrt(1.0 + m[2][2] - m[0][0] - m[1][1]);  // 4z
    w = (m[1][0] - m[0][1]) / s;
    x = (m[0][2] + m[2][0]) / s;
    y = (m[1][2] + m[2][1]) / s;
    z = 0.25 * s;
  }
  const double sign = w < 0.0 ? -1.0 : 1.0;  // NIfTI stores b, c, d; a >= 0
  const double norm = sqrt(w * w + x * x + y * y + z * z);
  q[0] = sign * w / norm;
  q[1] = sign * x / norm;
  q[2] = sign * y / norm;
  q[3] = sign * z / norm;
}

segc_status segc_nifti_qform_from_affine(const double affine[4][4],
                                         segc_nifti_qform *q) {
  double rot[3][3];
  for (int c = 0; c < 3; ++c) {
    double norm2 = 0.0;
    for (int r = 0; r < 3; ++r) norm2 += affine[r][c] * affine[r][c];
    const double norm = sqrt(norm2);
    if (!(norm > 0.0) || !isfinite(norm))
      return SEGC_FAIL(SEGC_ERR_INVALID,
                       "affine column %d has length %g (voxel size must be "
                       "positive and finite)", c, norm);
    q->pixdim[c + 1] = norm;
    for (int r = 0; r < 3; ++r) rot[r][c] = affine[r][c] / norm;
  }
  for (int r = 0; r < 3; ++r) {
    q->qoffset[r] = affine[r][3];
    if (!isfinite(q->qoffset[r]))
      return SEGC_FAIL(SEGC_ERR_INVALID, "affine translation %d is %g", r,
                       q->qoffset[r]);
  }
  const double det = det3(rot);
  // Unit columns: |det| is 1 for an orthogonal matrix and near 0 when the
  // columns are (almost) coplanar, where no rotation is meaningful.
  if (!(fabs(det) > 1e-6))
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "affine columns are (nearly) linearly dependent "
                     "(determinant of the normalised 3x3 part is %g)", det);
  q->pixdim[0] = 1.0;
  if (det < 0.0) {  // a reflection: qfac -1 flips the third axis
    q->pixdim[0] = -1.0;
    for (int r = 0; r < 3; ++r) rot[r][2] = -rot[r][2];
  }
  orthogonalize(rot);
  double quat[4];
  rotation_to_quaternion(rot, quat);
  for (int i = 0; i < 3; ++i) q->quatern[i] = quat[i + 1];
  return SEGC_OK;
}
