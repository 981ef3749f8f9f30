#include "data/transforms.h"

#include <string.h>

#include "data/affine.h"

segc_status segc_preprocess_inference(const segc_volume *image,
                                      const double pixdim[3],
                                      segc_volume *net_input,
                                      segc_inference_record *record) {
  if (!record)
    return SEGC_FAIL(SEGC_ERR_INVALID, "preprocess: record must not be NULL");
  memset(record, 0, sizeof *record);
  segc_volume oriented, spaced;
  char codes[4];
  SEGC_TRY(segc_affine_axcodes(image->affine, codes));
  segc_status status;
  if (!strcmp(codes, "RAS")) {
    // Orientation would be the identity (affine @ I is the same affine bit
    // for bit): skip the copy of the whole volume.
    strcpy(record->orientation.input_axcodes, codes);
    memcpy(record->orientation.input_dim, image->dim, sizeof image->dim);
    segc_mat4_copy(image->affine, record->orientation.input_affine);
    status = segc_spacing(image, pixdim, SEGC_INTERP_BILINEAR, &spaced,
                          &record->spacing);
  } else {
    SEGC_TRY(segc_orient(image, "RAS", &oriented, &record->orientation));
    status = segc_spacing(&oriented, pixdim, SEGC_INTERP_BILINEAR, &spaced,
                          &record->spacing);
    segc_volume_free(&oriented);
  }
  if (status != SEGC_OK) return status;
  // Spacing's output is float32 whether or not it resampled.
  status = segc_normalize_nonzero(&spaced, &record->normalize);
  if (status == SEGC_OK)
    status = segc_scale_intensity(&spaced, -1.0, 1.0, record->scale_input_range);
  if (status != SEGC_OK) {
    segc_volume_free(&spaced);
    return status;
  }
  memcpy(record->net_dim, spaced.dim, sizeof record->net_dim);
  segc_mat4_copy(spaced.affine, record->net_affine);
  *net_input = spaced;
  return SEGC_OK;
}

segc_status segc_invert_inference_label(const segc_volume *label,
                                        const segc_inference_record *record,
                                        segc_volume *out) {
  for (int a = 0; a < 3; ++a)
    if (label->dim[a] != record->net_dim[a])
      return SEGC_FAIL(SEGC_ERR_INVALID,
                       "invert label: axis %d has %lld voxels, the network "
                       "grid %lld", a, (long long)label->dim[a],
                       (long long)record->net_dim[a]);
  // The label lives on the network grid: give it that affine without
  // copying the voxels.
  segc_volume on_grid = *label;
  segc_mat4_copy(record->net_affine, on_grid.affine);
  segc_volume unspaced;
  SEGC_TRY(segc_spacing_inverse(&on_grid, &record->spacing, SEGC_INTERP_NEAREST,
                                &unspaced));
  if (!strcmp(record->orientation.input_axcodes, "RAS")) {
    *out = unspaced;  // orienting RAS to RAS is the identity: no copy
    return SEGC_OK;
  }
  segc_status status = segc_orient_inverse(&unspaced, &record->orientation, out);
  segc_volume_free(&unspaced);
  return status;
}
