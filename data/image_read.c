#include "data/image_read.h"

#include <string.h>

#include "data/dicom.h"

segc_status segc_image_read(const char *path, const char *dicom_series,
                            segc_volume *out, segc_nifti_info *info) {
  if (!segc_dicom_is_series_path(path))
    return segc_nifti_read(path, out, info);
  segc_dicom_series_info series;
  SEGC_TRY(segc_dicom_read_series(path, dicom_series, out, &series));
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
