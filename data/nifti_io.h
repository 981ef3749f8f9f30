// NIfTI-1 and NIfTI-2 files (.nii, .nii.gz) in and out.
//
// The reader parses headers itself (either byte order) and reads exactly the
// voxel bytes a validated header implies, because niftilib allocates what
// the dims say before reading and accepts malformed headers. The writer
// fills niftilib's header structs. Voxels are transposed between the file's
// order (i fastest) and segc_volume's (k fastest) in cache-sized tiles, in
// parallel; results do not depend on the thread count.
#ifndef SEGC_DATA_NIFTI_IO_H
#define SEGC_DATA_NIFTI_IO_H

#include <stdbool.h>
#include <stddef.h>

#include "data/volume.h"

// What the header said, for messages, stats and writing back faithfully.
typedef struct {
  int nifti_version;     // 1 or 2
  int file_datatype;     // NIfTI datatype code as stored
  double scl_slope, scl_inter;  // as applied (1, 0 when not scaling)
  int qform_code, sform_code;
  double pixdim[3];
  int xyzt_units;
  // The placement fields as stored, so that a volume written back on the
  // same grid keeps them (segc_nifti_write). Set by the readers only.
  bool header_read;
  double qfac;             // pixdim[0]
  double quatern[3];       // b, c, d
  double qoffset[3];
  double srow[3][4];
} segc_nifti_info;

// Reads a 3D volume (or 4D with one volume). Integer data without scaling
// keeps a segc integer type (u8 -> u8, i8 and i16 -> i16, u16 and i32 ->
// i32); u32, f32, f64 and any scaled data become f32 (scaling: slope 0 or
// non-finite means none, as nibabel). The affine comes from the sform when
// sform_code is 1..5, else from the qform when qform_code is 1..5 (other
// codes count as 0, as nibabel resets them; qfac is -1 only when pixdim[0]
// is exactly -1); with neither it is nibabel's fallback: pixdim on the
// diagonal, x negated, the grid centre at the origin. Bad input is an error
// naming the file and the reason (truncated, lying header, bad dims,
// unsupported datatype, NaN/Inf voxels with their count). `info` may be
// NULL. Status: SEGC_ERR_IO (cannot open), SEGC_ERR_FORMAT (malformed or
// truncated), SEGC_ERR_UNSUPPORTED (valid NIfTI segc does not read: 5D+,
// several volumes, complex/RGB/64-bit integer types, .hdr/.img pairs),
// SEGC_ERR_NONFINITE (NaN/Inf voxels), SEGC_ERR_NOMEM.
segc_status segc_nifti_read(const char *path, segc_volume *out,
                            segc_nifti_info *info);

// The same from `size` bytes in memory: a whole .nii file, or a .nii.gz when
// the bytes start with the gzip magic (inflated as a stream; refused up
// front when the header needs more bytes than deflate could expand the input
// to; the gzip CRC is checked). `name` is used in messages only.
// segc_nifti_read maps the file and calls this.
segc_status segc_nifti_read_memory(const void *bytes, size_t size,
                                   const char *name, segc_volume *out,
                                   segc_nifti_info *info);

// Writes a .nii.gz (one gzip member, level 1, deflated in parallel in fixed
// 1 MiB blocks as pigz does, so the bytes do not depend on the thread count;
// or an uncompressed .nii when the path ends in .nii) with the volume's dtype
// (u8, i16, i32 or f32; NaN/Inf refused with SEGC_ERR_NONFINITE),
// to a temporary file in the same folder renamed at the end (removed on
// failure). NIfTI-1, or NIfTI-2 when a dimension exceeds 32767; vox_offset
// right after the header, scl_slope 1, scl_inter 0, xyzt_units mm.
// When `like` was filled by a reader and its header gives the volume's
// affine (a label on its CT's grid), the qform and sform are written as that
// header had them: codes (0 stays 0; codes outside 0..5 become 0, as
// nibabel reads them), quaternion, offsets, qfac, pixdim and srow.
// Otherwise the affine is stored exactly (to float32 in NIfTI-1) as the
// sform, with sform_code = like->sform_code when `like` is given and its
// code is 1..5, else 2 (aligned anatomy). The qform holds the same affine as
// pixdim (the column lengths), qfac (-1 for a left-handed affine) and the
// quaternion of the rotation; for an affine with shear it is the closest
// rotation, as nibabel does. qform_code = like->qform_code when 1..5, else 1
// (scanner).
segc_status segc_nifti_write(const char *path, const segc_volume *volume,
                             const segc_nifti_info *like);

#endif
