#include "data/orientation.h"

#include <ctype.h>
#include <math.h>
#include <string.h>

#include "data/affine.h"

static const char axis_labels[3][2] = {{'L', 'R'}, {'P', 'A'}, {'I', 'S'}};

// Inverse transpose of a 3x3 (false when singular).
static bool inverse_transpose3(const double m[3][3], double out[3][3]) {
  double c[3][3];
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) {
      const int i1 = (i + 1) % 3, i2 = (i + 2) % 3;
      const int j1 = (j + 1) % 3, j2 = (j + 2) % 3;
      c[i][j] = m[i1][j1] * m[i2][j2] - m[i1][j2] * m[i2][j1];  // cofactor
    }
  const double det = m[0][0] * c[0][0] + m[0][1] * c[0][1] + m[0][2] * c[0][2];
  if (!(fabs(det) > 1e-12)) return false;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) out[i][j] = c[i][j] / det;
  return true;
}

segc_status segc_affine_ornt(const double affine[4][4], segc_ornt *ornt) {
  // RS: the 3x3 with unit columns; R: its closest rotation (polar factor),
  // found by Newton's iteration X <- (X + X^-T) / 2, which converges to the
  // same orthogonal factor as the SVD nibabel uses.
  double spacing[3];
  segc_affine_spacing(affine, spacing);
  double r[3][3];
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) {
      if (!isfinite(affine[i][j]))
        return SEGC_FAIL(SEGC_ERR_INVALID,
                         "orientation: affine element [%d][%d] is not finite",
                         i, j);
      r[i][j] = affine[i][j] / spacing[j];
    }
  for (int iter = 0; iter < 100; ++iter) {
    double inv_t[3][3];
    if (!inverse_transpose3(r, inv_t))
      return SEGC_FAIL(SEGC_ERR_INVALID,
                       "orientation: the affine's 3x3 part is singular");
    double change = 0.0;
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) {
        const double next = 0.5 * (r[i][j] + inv_t[i][j]);
        change = fmax(change, fabs(next - r[i][j]));
        r[i][j] = next;
      }
    if (change < 1e-15) break;
  }
  // Greedy choice, as io_orientation: per voxel axis the world axis with the
  // largest component, removing chosen world axes from later choices.
  for (int in_axis = 0; in_axis < 3; ++in_axis) {
    int best = -1;
    double best_abs = 0.0;
    for (int w = 0; w < 3; ++w)
      if (fabs(r[w][in_axis]) > best_abs) {
        best_abs = fabs(r[w][in_axis]);
        best = w;
      }
    if (best < 0 || best_abs <= 1e-8)
      return SEGC_FAIL(SEGC_ERR_INVALID,
                       "orientation: voxel axis %d has no world direction",
                       in_axis);
    ornt->world_axis[in_axis] = best;
    ornt->sign[in_axis] = r[best][in_axis] < 0 ? -1 : 1;
    for (int c = 0; c < 3; ++c) r[best][c] = 0.0;
  }
  return SEGC_OK;
}

segc_status segc_axcodes_ornt(const char *axcodes, segc_ornt *ornt) {
  if (!axcodes || strlen(axcodes) != 3)
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "orientation: axis codes '%s' must be 3 letters like RAS",
                     axcodes ? axcodes : "(null)");
  bool used[3] = {false, false, false};
  for (int a = 0; a < 3; ++a) {
    const char code = (char)toupper((unsigned char)axcodes[a]);
    int found = -1;
    for (int w = 0; w < 3; ++w)
      for (int s = 0; s < 2; ++s)
        if (axis_labels[w][s] == code) {
          found = w;
          ornt->sign[a] = s == 0 ? -1 : 1;
        }
    if (found < 0)
      return SEGC_FAIL(SEGC_ERR_INVALID,
                       "orientation: axis codes '%s': '%c' is not one of "
                       "L R P A I S", axcodes, axcodes[a]);
    if (used[found])
      return SEGC_FAIL(SEGC_ERR_INVALID,
                       "orientation: axis codes '%s' name one direction twice",
                       axcodes);
    used[found] = true;
    ornt->world_axis[a] = found;
  }
  return SEGC_OK;
}

segc_status segc_affine_axcodes(const double affine[4][4], char axcodes[4]) {
  segc_ornt ornt;
  SEGC_TRY(segc_affine_ornt(affine, &ornt));
  for (int a = 0; a < 3; ++a)
    axcodes[a] = axis_labels[ornt.world_axis[a]][ornt.sign[a] < 0 ? 0 : 1];
  axcodes[3] = '\0';
  return SEGC_OK;
}

// nibabel.orientations.ornt_transform(start, end).
static void ornt_transform(const segc_ornt *start, const segc_ornt *end,
                           segc_ornt *result) {
  for (int end_in = 0; end_in < 3; ++end_in)
    for (int start_in = 0; start_in < 3; ++start_in)
      if (end->world_axis[end_in] == start->world_axis[start_in]) {
        result->world_axis[start_in] = end_in;
        result->sign[start_in] =
            start->sign[start_in] == end->sign[end_in] ? 1 : -1;
        break;
      }
}

// Copies voxels: output axis m reads input axis `source[m]`, reversed when
// flipped[m].
static void permute_flip(const segc_volume *in, const int source[3],
                         const bool flipped[3], segc_volume *out) {
  const int64_t in_stride[3] = {in->dim[1] * in->dim[2], in->dim[2], 1};
  int64_t stride[3], base = 0;
  for (int m = 0; m < 3; ++m) {
    const int a = source[m];
    stride[m] = flipped[m] ? -in_stride[a] : in_stride[a];
    if (flipped[m]) base += (in->dim[a] - 1) * in_stride[a];
  }
  const size_t elem = segc_dtype_size(in->dtype);
  const int64_t n0 = out->dim[0], n1 = out->dim[1], n2 = out->dim[2];
  const char *src = in->data;
  char *dst = out->data;
#pragma omp parallel for schedule(static)
  for (int64_t row = 0; row < n0 * n1; ++row) {
    const int64_t o0 = row / n1, o1 = row % n1;
    const int64_t first = base + o0 * stride[0] + o1 * stride[1];
    char *d = dst + (size_t)(row * n2) * elem;
    if (stride[2] == 1) {  // the fastest axis is unchanged: one copy per row
      memcpy(d, src + (size_t)first * elem, (size_t)n2 * elem);
    } else if (elem == 4) {
      const uint32_t *s = (const uint32_t *)src;
      for (int64_t o2 = 0; o2 < n2; ++o2)
        ((uint32_t *)d)[o2] = s[first + o2 * stride[2]];
    } else if (elem == 2) {
      const uint16_t *s = (const uint16_t *)src;
      for (int64_t o2 = 0; o2 < n2; ++o2)
        ((uint16_t *)d)[o2] = s[first + o2 * stride[2]];
    } else if (elem == 1) {
      const uint8_t *s = (const uint8_t *)src;
      for (int64_t o2 = 0; o2 < n2; ++o2) ((uint8_t *)d)[o2] = s[first + o2 * stride[2]];
    } else {
      for (int64_t o2 = 0; o2 < n2; ++o2)
        memcpy(d + (size_t)o2 * elem,
               src + (size_t)(first + o2 * stride[2]) * elem, elem);
    }
  }
}

segc_status segc_orient(const segc_volume *in, const char *axcodes,
                        segc_volume *out, segc_orientation_record *record) {
  segc_ornt source, target, transform;
  SEGC_TRY(segc_axcodes_ornt(axcodes, &target));
  SEGC_TRY(segc_affine_ornt(in->affine, &source));
  ornt_transform(&source, &target, &transform);

  // inv_ornt_aff: undo_flip @ undo_reorder. Row r of the result is the unit
  // row of output axis transform.world_axis[r], times its sign, with the
  // flip's shift (shape - 1) in the last column.
  double xform[4][4] = {{0}};
  xform[3][3] = 1.0;
  for (int r = 0; r < 3; ++r) {
    const double center = -((double)in->dim[r] - 1.0) / 2.0;
    xform[r][transform.world_axis[r]] = (double)transform.sign[r];
    xform[r][3] = (double)transform.sign[r] * center - center;
  }
  int64_t out_dim[3];
  int source_axis[3];
  bool flipped[3];
  for (int a = 0; a < 3; ++a) {
    const int m = transform.world_axis[a];
    out_dim[m] = in->dim[a];
    source_axis[m] = a;
    flipped[m] = transform.sign[a] < 0;
  }
  if (record) {
    SEGC_TRY(segc_affine_axcodes(in->affine, record->input_axcodes));
    memcpy(record->input_dim, in->dim, sizeof record->input_dim);
    segc_mat4_copy(in->affine, record->input_affine);
  }
  segc_volume result;
  SEGC_TRY(segc_volume_alloc(&result, in->dtype, out_dim));
  segc_mat4_mul(in->affine, xform, result.affine);
  permute_flip(in, source_axis, flipped, &result);
  *out = result;
  return SEGC_OK;
}

segc_status segc_orient_inverse(const segc_volume *in,
                                const segc_orientation_record *record,
                                segc_volume *out) {
  segc_volume result;
  SEGC_TRY(segc_orient(in, record->input_axcodes, &result, NULL));
  for (int a = 0; a < 3; ++a)
    if (result.dim[a] != record->input_dim[a]) {
      segc_volume_free(&result);
      return SEGC_FAIL(SEGC_ERR_INVALID,
                       "orientation inverse: axis %d has %lld voxels, the "
                       "original had %lld", a, (long long)result.dim[a],
                       (long long)record->input_dim[a]);
    }
  *out = result;
  return SEGC_OK;
}
