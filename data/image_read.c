#include "data/image_read.h"

#include <string.h>

#include "data/dicom.h"

static segc_status read_series(const char *path, const char *dicom_series,
                               segc_volume *out, segc_nifti_info *info,
                               segc_dicom_source *source) {
  segc_dicom_series_info series;
  SEGC_TRY(segc_dicom_read_series_source(path, dicom_series, out, &series,
                                         source));
  if (info) {
    memset(info, 0, sizeof *info);
    info->nifti_version = 1;
    info->file_datatype = 0;  // not read from a NIfTI file
    info->scl_slope = 1.0;
    info->scl_inter = 0.0;
    info->qform_code = 1;
    info->sform_code = 1;
    memcpy(info->pixdim, series.spacing, sizeof info->pixdim);
    info->xyzt_units = 2;  // mm
  }
  return SEGC_OK;
}

segc_status segc_image_read(const char *path, const char *dicom_series,
                            segc_volume *out, segc_nifti_info *info) {
  if (!segc_dicom_is_series_path(path))
    return segc_nifti_read(path, out, info);
  return read_series(path, dicom_series, out, info, NULL);
}

segc_status segc_image_read_dicom_source(const char *path,
                                         const char *dicom_series,
                                         segc_volume *out,
                                         segc_nifti_info *info,
                                         segc_dicom_source *source) {
  memset(source, 0, sizeof *source);
  if (!segc_dicom_is_series_path(path))
    return SEGC_FAIL(SEGC_ERR_INVALID, "%s: a DICOM SEG output needs a DICOM "
                     "series (a folder) as input, not a NIfTI file", path);
  return read_series(path, dicom_series, out, info, source);
}
