// A DICOM CT series (a folder of single-frame Part-10 files) read into a
// segc_volume, placed as dcm2niix places it.
//
// A focused reader, not a DICOM toolkit: it reads the attributes a CT volume
// needs and skips everything else (sequences and undefined lengths included).
// Transfer syntaxes: implicit VR little endian, explicit VR little endian,
// deflated explicit VR little endian (zlib), JPEG 2000 (OpenJPEG) and JPEG-LS
// (CharLS); any other is refused by name. Files are untrusted: every length
// is checked against the bytes present, and a malformed file is one error
// naming it.
//
// Geometry, as dcm2niix writes it: slices sorted along the normal of
// ImageOrientationPatient (row x column direction) by the projection of
// ImagePositionPatient, ascending; the rows flipped (voxel j = Rows - 1 - row)
// so that j runs against the column direction; the affine from DICOM's LPS to
// NIfTI's RAS (x and y negated). The slice step is (last - first position) /
// (slices - 1). Every gap between neighbouring slices must be within 1% of
// the mean gap (else "spacing not uniform"); slices at the same position are
// refused; positions more than 0.06 degrees off the normal (1e-3 mm per mm,
// plus 1e-3 mm) are refused as gantry tilt. Voxels are HU: stored value *
// RescaleSlope + RescaleIntercept, per slice.
#ifndef SEGC_DATA_DICOM_H
#define SEGC_DATA_DICOM_H

#include <stdbool.h>

#include "data/volume.h"

enum { SEGC_DICOM_UID_MAX = 65, SEGC_DICOM_TEXT_MAX = 65 };

typedef struct {
  char series_uid[SEGC_DICOM_UID_MAX];
  char description[SEGC_DICOM_TEXT_MAX];  // SeriesDescription
  char transfer_syntax[SEGC_DICOM_UID_MAX];  // of the first slice
  int slices;
  double spacing[3];  // column, row and slice spacing (mm)
} segc_dicom_series_info;

// True when `path` is a folder: what segc reads as a DICOM series.
bool segc_dicom_is_series_path(const char *path);

// Reads the series in `folder` (its files, not its subfolders; files that
// are not DICOM Part-10, names starting with '.', and DICOM objects without
// pixel data such as a DICOMDIR are passed over). Slices are grouped by
// SeriesInstanceUID (an empty UID is a group too). With several series,
// `series_uid` names the one to read; NULL with several is an error listing
// each (UID, description, slice count). The volume is i16 when the rescale
// is integral and the stored range fits, else i32 or f32. `info` may be NULL.
// Status: SEGC_ERR_IO (cannot read), SEGC_ERR_FORMAT (malformed file),
// SEGC_ERR_UNSUPPORTED (transfer syntax, multi-frame, colour, bit depth,
// gantry tilt, non-uniform spacing), SEGC_ERR_INVALID (no such series,
// several series), SEGC_ERR_NOMEM.
segc_status segc_dicom_read_series(const char *folder, const char *series_uid,
                                   segc_volume *out,
                                   segc_dicom_series_info *info);

#endif
