// Reading a CT from what the user names: a folder is a DICOM series
// (data/dicom.h), anything else a NIfTI file (data/nifti_io.h). seginfer,
// segeval and library callers go through here.
#ifndef SEGC_DATA_IMAGE_READ_H
#define SEGC_DATA_IMAGE_READ_H

#include "data/dicom.h"
#include "data/nifti_io.h"

// `dicom_series` picks a SeriesInstanceUID when the folder holds several
// (NULL: the folder must hold one; ignored for NIfTI). For a DICOM series,
// `info` (may be NULL) describes a NIfTI header for writing a result on its
// grid: qform and sform code 1 (scanner), pixdim the spacing, no stored
// placement fields (segc_nifti_write stores the affine itself).
segc_status segc_image_read(const char *path, const char *dicom_series,
                            segc_volume *out, segc_nifti_info *info);

// The same for a path that must be a DICOM series, also describing it
// (`source`, see data/dicom.h; free with segc_dicom_source_free).
segc_status segc_image_read_dicom_source(const char *path,
                                         const char *dicom_series,
                                         segc_volume *out,
                                         segc_nifti_info *info,
                                         segc_dicom_source *source);

#endif
