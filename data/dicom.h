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

enum {
  SEGC_DICOM_UID_MAX = 65,
  SEGC_DICOM_TEXT_MAX = 65,
  SEGC_DICOM_NAME_MAX = 200  // a person name: three groups of 64
};

// The series' patient and study attributes, as the first slice gives them
// (padding removed; a value longer than its buffer is cut). A derived object
// (a DICOM SEG) copies them so that it lands in the same patient and study.
typedef struct {
  char study_uid[SEGC_DICOM_UID_MAX];            // (0020,000D)
  char frame_of_reference_uid[SEGC_DICOM_UID_MAX];  // (0020,0052)
  char character_set[SEGC_DICOM_TEXT_MAX];       // (0008,0005)
  char patient_name[SEGC_DICOM_NAME_MAX];        // (0010,0010)
  char patient_id[SEGC_DICOM_TEXT_MAX];          // (0010,0020)
  char patient_birth_date[SEGC_DICOM_TEXT_MAX];  // (0010,0030)
  char patient_sex[SEGC_DICOM_TEXT_MAX];         // (0010,0040)
  char study_date[SEGC_DICOM_TEXT_MAX];          // (0008,0020)
  char study_time[SEGC_DICOM_TEXT_MAX];          // (0008,0030)
  char study_id[SEGC_DICOM_TEXT_MAX];            // (0020,0010)
  char accession_number[SEGC_DICOM_TEXT_MAX];    // (0008,0050)
  char referring_physician[SEGC_DICOM_NAME_MAX];  // (0008,0090)
} segc_dicom_study;

// One source slice, in the volume's slice order (voxel k).
typedef struct {
  char sop_class[SEGC_DICOM_UID_MAX];
  char sop_instance[SEGC_DICOM_UID_MAX];
  double position[3];  // ImagePositionPatient (LPS, mm)
} segc_dicom_source_slice;

// Where a volume read from a series came from: what a derived object needs
// to reference the series and lie on its grid. Voxel (i, j, k) is column i,
// row rows-1-j of slices[k] (data/dicom.h's placement).
typedef struct {
  segc_dicom_study study;
  char series_uid[SEGC_DICOM_UID_MAX];
  double orientation[6];    // ImageOrientationPatient of the first slice
  double pixel_spacing[2];  // between rows, between columns (mm)
  double slice_thickness;   // SliceThickness, or the slice step when absent
  double slice_step;        // between neighbouring slices (mm)
  int rows, columns, count;
  segc_dicom_source_slice *slices;  // count entries (malloc'd)
} segc_dicom_source;

void segc_dicom_source_free(segc_dicom_source *source);

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

// The same, also filling `source` (may be NULL; freed by the caller with
// segc_dicom_source_free, and left empty on failure).
segc_status segc_dicom_read_series_source(const char *folder,
                                          const char *series_uid,
                                          segc_volume *out,
                                          segc_dicom_series_info *info,
                                          segc_dicom_source *source);

#endif
