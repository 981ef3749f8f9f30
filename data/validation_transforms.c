#include "data/validation_transforms.h"

#include <math.h>
#include <string.h>

#include "data/affine.h"
#include "data/intensity.h"

static segc_status check_same_grid(const segc_volume *image,
                                   const segc_volume *label) {
  for (int a = 0; a < 3; ++a)
    if (image->dim[a] != label->dim[a])
      return SEGC_FAIL(SEGC_ERR_INVALID,
                       "the image is %lldx%lldx%lld, its label %lldx%lldx%lld",
                       (long long)image->dim[0], (long long)image->dim[1],
                       (long long)image->dim[2], (long long)label->dim[0],
                       (long long)label->dim[1], (long long)label->dim[2]);
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 4; ++c)
      if (fabs(image->affine[r][c] - label->affine[r][c]) > 1e-3)
        return SEGC_FAIL(SEGC_ERR_INVALID,
                         "the image and its label have different affines "
                         "(entry [%d][%d]: %g vs %g)", r, c,
                         image->affine[r][c], label->affine[r][c]);
  return SEGC_OK;
}

// Orientation and Spacing for both; the label keeps its own bits as u8.
static segc_status orient_and_space(const segc_volume *image,
                                    const segc_volume *label,
                                    const double pixdim[3], segc_volume *img,
                                    segc_volume *lab,
                                    segc_validation_record *r) {
  segc_volume label_u8, oriented;
  SEGC_TRY(segc_volume_copy(label, SEGC_U8, &label_u8));
  memcpy(label_u8.affine, image->affine, sizeof label_u8.affine);
  segc_status status = segc_orient(image, "RAS", &oriented, &r->orientation);
  if (status == SEGC_OK) {
    status = segc_spacing(&oriented, pixdim, SEGC_INTERP_BILINEAR, img,
                          &r->spacing);
    segc_volume_free(&oriented);
  }
  if (status == SEGC_OK) {
    status = segc_orient(&label_u8, "RAS", &oriented, NULL);
    if (status == SEGC_OK) {
      status = segc_spacing(&oriented, pixdim, SEGC_INTERP_NEAREST, lab, NULL);
      segc_volume_free(&oriented);
    }
    if (status != SEGC_OK) segc_volume_free(img);
  }
  segc_volume_free(&label_u8);
  return status;
}

// Cuts the same box out of both volumes, replacing them.
static segc_status crop_both(segc_volume *img, segc_volume *lab,
                             const segc_box *box) {
  segc_volume img_cut, lab_cut;
  SEGC_TRY(segc_crop_box(img, box, &img_cut));
  const segc_status status = segc_crop_box(lab, box, &lab_cut);
  if (status != SEGC_OK) {
    segc_volume_free(&img_cut);
    return status;
  }
  segc_volume_free(img);
  segc_volume_free(lab);
  *img = img_cut;
  *lab = lab_cut;
  return SEGC_OK;
}

static segc_status check_label_values(const segc_volume *label, int classes) {
  const int64_t n = segc_volume_numel(label);
  for (int64_t i = 0; i < n; ++i) {
    const float v = segc_load_f32(label->data, label->dtype, (size_t)i);
    if (!(v >= 0.0f && v < (float)classes && v == floorf(v)))
      return SEGC_FAIL(SEGC_ERR_INVALID,
                       "label value %g at voxel %lld is not a class index "
                       "below %d", v, (long long)i, classes);
  }
  return SEGC_OK;
}

segc_status segc_preprocess_validation(const segc_volume *image,
                                       const segc_volume *label,
                                       const segc_training_transforms *t,
                                       segc_volume *image_out,
                                       segc_volume *label_out,
                                       segc_validation_record *record) {
  memset(record, 0, sizeof *record);
  SEGC_TRY(check_same_grid(image, label));
  SEGC_TRY(check_label_values(label, t->classes));
  segc_volume img, lab;
  SEGC_TRY(orient_and_space(image, label, t->pixdim, &img, &lab, record));
  memcpy(record->spaced_dim, img.dim, sizeof record->spaced_dim);
  segc_mat4_copy(img.affine, record->spaced_affine);
  const int64_t margin[3] = {t->margin, t->margin, t->margin};
  const double sigma[3] = {t->sigma, t->sigma, t->sigma};
  segc_status status = segc_normalize_nonzero(&img, NULL);
  if (status == SEGC_OK)
    status = segc_foreground_box(&img, margin, t->k_divisible, true,
                                 &record->foreground);
  if (status == SEGC_OK) status = crop_both(&img, &lab, &record->foreground);
  if (status == SEGC_OK) {
    memcpy(record->foreground_dim, img.dim, sizeof record->foreground_dim);
    segc_mat4_copy(img.affine, record->foreground_affine);
    status = segc_gaussian_smooth(&img, sigma);
  }
  if (status == SEGC_OK) status = segc_scale_intensity(&img, -1.0, 1.0, NULL);
  if (status == SEGC_OK && t->center_crop) {
    record->center_cropped = true;
    status = segc_center_crop_box(img.dim, t->center_roi, &record->center);
    if (status == SEGC_OK) status = crop_both(&img, &lab, &record->center);
  }
  if (status != SEGC_OK) {
    segc_volume_free(&img);
    segc_volume_free(&lab);
    return status;
  }
  memcpy(record->net_dim, img.dim, sizeof record->net_dim);
  segc_mat4_copy(img.affine, record->net_affine);
  *image_out = img;
  *label_out = lab;
  return SEGC_OK;
}

segc_status segc_invert_validation_label(const segc_volume *map,
                                         const segc_validation_record *r,
                                         segc_volume *out) {
  if (memcmp(map->dim, r->net_dim, sizeof r->net_dim) != 0)
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "invert: the map is %lldx%lldx%lld, the network grid "
                     "%lldx%lldx%lld", (long long)map->dim[0],
                     (long long)map->dim[1], (long long)map->dim[2],
                     (long long)r->net_dim[0], (long long)r->net_dim[1],
                     (long long)r->net_dim[2]);
  segc_volume on_grid = *map;  // a view with the network grid's affine
  segc_mat4_copy(r->net_affine, on_grid.affine);
  segc_volume foreground = {0}, spaced, unspaced;
  if (r->center_cropped)
    SEGC_TRY(segc_uncrop_box(&on_grid, &r->center, r->foreground_dim,
                             r->foreground_affine, &foreground));
  const segc_volume *before_center = r->center_cropped ? &foreground : &on_grid;
  segc_status status = segc_uncrop_box(before_center, &r->foreground,
                                       r->spaced_dim, r->spaced_affine,
                                       &spaced);
  segc_volume_free(&foreground);
  SEGC_TRY(status);
  status = segc_spacing_inverse(&spaced, &r->spacing, SEGC_INTERP_NEAREST,
                                &unspaced);
  segc_volume_free(&spaced);
  SEGC_TRY(status);
  status = segc_orient_inverse(&unspaced, &r->orientation, out);
  segc_volume_free(&unspaced);
  return status;
}
