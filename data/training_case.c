#include "data/training_case.h"

#include <string.h>

#include "data/nifti_io.h"
#include "data/validation_transforms.h"

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

segc_status segc_prepare_training_case(const char *image_path,
                                       const char *label_path,
                                       const segc_training_transforms *t,
                                       segc_volume *image, segc_volume *label) {
  memset(image, 0, sizeof *image);
  memset(label, 0, sizeof *label);
  segc_volume ct, mask;
  SEGC_TRY(segc_nifti_read(image_path, &ct, NULL));
  segc_status status = segc_nifti_read(label_path, &mask, NULL);
  if (status != SEGC_OK) {
    segc_volume_free(&ct);
    return status;
  }
  // The same steps as validation; training does not need the record.
  segc_validation_record record;
  status = segc_preprocess_validation(&ct, &mask, t, image, label, &record);
  segc_volume_free(&ct);
  segc_volume_free(&mask);
  if (status != SEGC_OK)
    return segc_fail_context(status, "%s with %s", image_path, label_path);
  return SEGC_OK;
}
