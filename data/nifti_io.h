// NIfTI-1 and NIfTI-2 files (.nii, .nii.gz) in and out, through niftilib.
#ifndef SEGC_DATA_NIFTI_IO_H
#define SEGC_DATA_NIFTI_IO_H

#include <stdbool.h>

#include "data/volume.h"

// What the header said, for messages, stats and writing back faithfully.
typedef struct {
  int nifti_version;     // 1 or 2
  int file_datatype;     // NIfTI datatype code as stored
  double scl_slope, scl_inter;  // as applied (1, 0 when not scaling)
  int qform_code, sform_code;
  double pixdim[3];
  int xyzt_units;
} segc_nifti_info;

// Reads a 3D volume (or 4D with one volume). Integer data without scaling
// keeps a segc integer type (u8 -> u8, i8 and i16 -> i16, u16 and i32 ->
// i32); u32, f32, f64 and any scaled data become f32. The affine comes from
// the sform when sform_code > 0, else the qform (as nibabel). Bad input is
// an error naming the file and the reason (truncated, lying header, bad
// dims, unsupported datatype, NaN/Inf voxels with their count).
segc_status segc_nifti_read(const char *path, segc_volume *out,
                            segc_nifti_info *info);

// Writes a .nii.gz (or .nii when the path says so) with the volume's dtype
// (u8, i16, i32 or f32), the affine as both sform and qform (codes 2 and 1
// ... as set in `like` when given, else aligned/scanner), to a temporary file
// renamed at the end.
segc_status segc_nifti_write(const char *path, const segc_volume *volume,
                             const segc_nifti_info *like);

#endif
