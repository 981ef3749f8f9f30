// A label map on a DICOM series' grid written as a DICOM Segmentation object
// (SOP class 1.2.840.10008.5.1.4.1.1.66.4, PS3.3 A.51): a BINARY
// segmentation with one segment per class present in the label (background
// excepted), one frame per segment and source slice where that segment has
// voxels, explicit VR little endian, 1 bit per pixel, frames packed one
// after the other.
//
// What it records:
// - the source's patient and study (the same StudyInstanceUID, patient name
//   and id, study date...), its FrameOfReferenceUID and its series
//   (ReferencedSeriesSequence with every source slice);
// - per frame: PlanePositionSequence (the source slice's
//   ImagePositionPatient), DerivationImageSequence / SourceImageSequence
//   (the source slice's SOP class and instance UIDs),
//   SegmentIdentificationSequence and FrameContentSequence
//   (DimensionIndexValues: segment number, then the position's rank among
//   the positions present);
// - shared: PixelMeasuresSequence (PixelSpacing, SliceThickness,
//   SpacingBetweenSlices) and PlaneOrientationSequence;
// - DimensionIndexSequence: ReferencedSegmentNumber, ImagePositionPatient;
// - SegmentSequence: number, label (the structure name), AUTOMATIC, the
//   algorithm's name, and the codes of data/dicom_seg_codes.h.
// New UIDs (SOP instance, series, dimension organisation) come from
// data/dicom_uid.h. A source without StudyInstanceUID, SeriesInstanceUID or
// FrameOfReferenceUID (anonymised) gets a new one in the SEG; the summary
// says which, so that callers can tell the user. A source slice without any
// SOP instance UID cannot be referenced: that is an error.
#ifndef SEGC_DATA_DICOM_SEG_WRITE_H
#define SEGC_DATA_DICOM_SEG_WRITE_H

#include <stdbool.h>

#include "data/dicom.h"
#include "data/volume.h"

typedef struct {
  const segc_dicom_source *source;
  const char *const *names;  // class names (index 0 is background)
  int name_count;
  const char *algorithm_name;     // SegmentAlgorithmName
  const char *software_version;   // SoftwareVersions
  const char *series_description; // NULL: "segc segmentation"
} segc_dicom_seg_options;

typedef struct {
  int segments, frames;
  bool new_study_uid, new_series_reference, new_frame_of_reference;
} segc_dicom_seg_summary;

// Writes the SEG of `label` (u8, dims columns x rows x slices of the
// source, voxel (i, j, k) = column i, row rows-1-j of source slice k) to
// `path` atomically (io/atomic_file.h). A label without any structure is
// refused (a SEG needs one segment at least). `summary` may be NULL.
segc_status segc_dicom_seg_write(const char *path, const segc_volume *label,
                                 const segc_dicom_seg_options *options,
                                 segc_dicom_seg_summary *summary);

#endif
