#include "data/training_case.h"

#include <math.h>
#include <string.h>

#include "data/crop.h"
#include "data/intensity.h"
#include "data/nifti_io.h"
#include "data/orientation.h"
#include "data/spacing.h"

segc_training_transforms segc_training_transforms_bundle(
    const double pixdim[3], const int64_t roi[3]) {
  segc_training_transforms t;
  memset(&t, 0, sizeof t);
  for (int a = 0; a < 3; ++a) {
    t.pixdim[a] = pixdim[a];
    t.k_divisible[a] = roi[a];
    t.center_roi[a] = 160;
  }
  t.margin = 10;
  t.sigma = 0.4;
  t.classes = 105;
  return t;
}

// Replaces *v by f(*v), freeing the old volume.
static void replace(segc_volume *v, segc_volume *next) {
  segc_volume_free(v);
  *v = *next;
}

// Labels as u8 class indices; other integer or float types are accepted when
// every value is a whole number in range.
static segc_status label_to_u8(segc_volume *label, int classes,
                               const char *path) {
  const int64_t n = segc_volume_numel(label);
  int64_t bad = -1;
  float bad_value = 0.0f;
  if (label->dtype != SEGC_U8) {
    for (int64_t i = 0; i < n && bad < 0; ++i) {
      const float v = segc_load_f32(label->data, label->dtype, (size_t)i);
      if (!(v >= 0.0f && v < (float)classes && v == floorf(v))) {
        bad = i;
        bad_value = v;
      }
    }
    if (bad < 0) {
      segc_volume u8;
      SEGC_TRY(segc_volume_copy(label, SEGC_U8, &u8));
      replace(label, &u8);
    }
  } else {
    const uint8_t *d = label->data;
    for (int64_t i = 0; i < n && bad < 0; ++i)
      if (d[i] >= classes) {
        bad = i;
        bad_value = d[i];
      }
  }
  if (bad >= 0)
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "%s: label value %g at voxel %lld is not a class index "
                     "below %d",
                     path, (double)bad_value, (long long)bad, classes);
  return SEGC_OK;
}

static segc_status same_grid(const segc_volume *a, const segc_volume *b,
                             const char *image_path, const char *label_path) {
  for (int i = 0; i < 3; ++i)
    if (a->dim[i] != b->dim[i])
      return SEGC_FAIL(SEGC_ERR_INVALID,
                       "%s (%lldx%lldx%lld) and %s (%lldx%lldx%lld) are on "
                       "different grids",
                       image_path, (long long)a->dim[0], (long long)a->dim[1],
                       (long long)a->dim[2], label_path, (long long)b->dim[0],
                       (long long)b->dim[1], (long long)b->dim[2]);
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 4; ++c)
      if (fabs(a->affine[r][c] - b->affine[r][c]) > 1e-3)
        return SEGC_FAIL(SEGC_ERR_INVALID,
                         "%s and %s have different affines (row %d column %d: "
                         "%g vs %g)",
                         image_path, label_path, r, c, a->affine[r][c],
                         b->affine[r][c]);
  return SEGC_OK;
}

static segc_status transform(const char *image_path, const char *label_path,
                             const segc_training_transforms *t,
                             segc_volume *image, segc_volume *label) {
  segc_volume next;
  SEGC_TRY(label_to_u8(label, t->classes, label_path));
  SEGC_TRY(same_grid(image, label, image_path, label_path));
  SEGC_TRY(segc_orient(image, "RAS", &next, NULL));
  replace(image, &next);
  SEGC_TRY(segc_orient(label, "RAS", &next, NULL));
  replace(label, &next);
  SEGC_TRY(segc_spacing(image, t->pixdim, SEGC_INTERP_BILINEAR, &next, NULL));
  replace(image, &next);
  SEGC_TRY(segc_spacing(label, t->pixdim, SEGC_INTERP_NEAREST, &next, NULL));
  replace(label, &next);
  if (image->dtype != SEGC_F32) {
    SEGC_TRY(segc_volume_copy(image, SEGC_F32, &next));
    replace(image, &next);
  }
  SEGC_TRY(segc_normalize_nonzero(image, NULL));
  const int64_t margin[3] = {t->margin, t->margin, t->margin};
  segc_box box;
  segc_status status = segc_foreground_box(image, margin, t->k_divisible, true, &box);
  if (status != SEGC_OK) return segc_fail_context(status, "%s", image_path);
  SEGC_TRY(segc_crop_box(image, &box, &next));
  replace(image, &next);
  SEGC_TRY(segc_crop_box(label, &box, &next));
  replace(label, &next);
  const double sigma[3] = {t->sigma, t->sigma, t->sigma};
  SEGC_TRY(segc_gaussian_smooth(image, sigma));
  SEGC_TRY(segc_scale_intensity(image, -1.0, 1.0, NULL));
  if (t->center_crop) {
    SEGC_TRY(segc_center_crop_box(image->dim, t->center_roi, &box));
    SEGC_TRY(segc_crop_box(image, &box, &next));
    replace(image, &next);
    SEGC_TRY(segc_crop_box(label, &box, &next));
    replace(label, &next);
  }
  return SEGC_OK;
}

segc_status segc_prepare_training_case(const char *image_path,
                                       const char *label_path,
                                       const segc_training_transforms *t,
                                       segc_volume *image, segc_volume *label) {
  memset(image, 0, sizeof *image);
  memset(label, 0, sizeof *label);
  SEGC_TRY(segc_nifti_read(image_path, image, NULL));
  segc_status status = segc_nifti_read(label_path, label, NULL);
  if (status == SEGC_OK)
    status = transform(image_path, label_path, t, image, label);
  if (status != SEGC_OK) {
    segc_volume_free(image);
    segc_volume_free(label);
  }
  return status;
}
