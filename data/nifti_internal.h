// Internal to data/nifti_*.c: the decoded header, the affine math and the
// voxel transposes, split into small files. Not part of the public API.
#ifndef SEGC_DATA_NIFTI_INTERNAL_H
#define SEGC_DATA_NIFTI_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/dtype.h"
#include "core/status.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "segc's NIfTI code assumes a little-endian host"
// Output stream of a file being written (data/nifti_sink.c): plain bytes,
// or a gzip member deflated in parallel in fixed 1 MiB blocks (the bytes do
// not depend on the thread count). Owns fd once open succeeds; every write and
// the close are checked; `name` is used in messages and must outlive it.
typedef struct segc_nifti_sink segc_nifti_sink;
segc_status segc_nifti_sink_open(int fd, bool gzip, const char *name,
                                 segc_nifti_sink **sink);
segc_status segc_nifti_sink_write(segc_nifti_sink *sink, const void *data,
                                  size_t bytes);
// Flushes, writes the gzip trailer, closes and frees.
segc_status segc_nifti_sink_finish(segc_nifti_sink *sink);
// Closes and frees without finishing (after a failure).
void segc_nifti_sink_abandon(segc_nifti_sink *sink);

#endif

enum {
  SEGC_NIFTI1_HEADER_BYTES = 348,
  SEGC_NIFTI2_HEADER_BYTES = 540,
  SEGC_NIFTI1_MIN_VOX_OFFSET = 352,  // header + 4-byte extension flag
  SEGC_NIFTI2_MIN_VOX_OFFSET = 544,
};

// NIfTI datatype codes (nifti1.h) that segc reads.
enum {
  SEGC_NIFTI_UINT8 = 2,
  SEGC_NIFTI_INT16 = 4,
  SEGC_NIFTI_INT32 = 8,
  SEGC_NIFTI_FLOAT32 = 16,
  SEGC_NIFTI_FLOAT64 = 64,
  SEGC_NIFTI_INT8 = 256,
  SEGC_NIFTI_UINT16 = 512,
  SEGC_NIFTI_UINT32 = 768,
};

// A header decoded into host order and wide types, NIfTI-1 or NIfTI-2 alike.
typedef struct {
  int version;        // 1 or 2
  bool swapped;       // stored in the other byte order
  int header_bytes;   // 348 or 540
  int64_t dim[8];     // dim[0] is the number of dimensions
  int datatype;
  double pixdim[8];   // pixdim[0] is qfac
  double vox_offset;  // NIfTI-1 stores a float; checked to be integral later
  double scl_slope, scl_inter;
  int qform_code, sform_code;
  double quatern[3];  // b, c, d
  double qoffset[3];
  double srow[3][4];
  int xyzt_units;
} segc_nifti_header;

// Bytes per voxel and the segc dtype an unscaled voxel becomes; 0 when segc
// does not read this datatype. `name` is set for known codes (else NULL).
int segc_nifti_datatype_bytes(int datatype, segc_dtype *unscaled_dtype,
                              const char **name);

// Decodes `size` bytes that start with a header. Fails (naming `name`) when
// the bytes are too few, the sizeof_hdr field matches neither version in
// either byte order, or the magic is wrong. Checks nothing else.
segc_status segc_nifti_decode_header(const uint8_t *bytes, size_t size,
                                     const char *name, segc_nifti_header *h);
// How many header bytes the first 4 bytes announce (348 or 540), 0 if none.
int segc_nifti_announced_header_bytes(const uint8_t first4[4]);

// The affine nibabel's get_best_affine returns: sform when its code is valid
// and non-zero, else qform, else the pixdim diagonal centred on the grid.
segc_status segc_nifti_best_affine(const segc_nifti_header *h,
                                   const char *name, double affine[4][4]);

// qform parameters that represent the affine's rotation part (the closest
// rotation when the columns are not orthogonal), as nibabel's set_qform.
typedef struct {
  double quatern[3];  // b, c, d with a >= 0
  double qoffset[3];
  double pixdim[4];   // qfac (+1 or -1), then the column norms
} segc_nifti_qform;
segc_status segc_nifti_qform_from_affine(const double affine[4][4],
                                         segc_nifti_qform *q);
// The affine a qform describes (nibabel's quat2mat; pixdim[3] *= qfac).
void segc_nifti_affine_from_qform(const double quatern[3],
                                  const double qoffset[3],
                                  const double pixdim[4], double affine[4][4]);

// How file voxels turn into volume voxels.
typedef struct {
  int datatype;      // NIfTI code of the stored voxels
  int file_bytes;    // bytes per stored voxel
  bool swap;         // stored in the other byte order
  bool scaled;       // apply value * slope + inter (output is f32)
  double slope, inter;
  segc_dtype out_dtype;
} segc_nifti_conversion;

// raw: the stored voxels of planes slab_k0 <= k < slab_k1 (i fastest, then
// j, then k). out: the whole volume, k fastest, in c->out_dtype; only those
// planes are written. Returns the number of NaN or Inf values produced.
int64_t segc_nifti_file_to_volume(const void *raw, const int64_t dim[3],
                                  int64_t slab_k0, int64_t slab_k1,
                                  const segc_nifti_conversion *c, void *out);
// Writes slices k0 <= k < k1 of a k-fastest volume in file order (i
// fastest) into `slab`, elem_bytes per voxel.
void segc_nifti_volume_to_file_slab(const void *volume, const int64_t dim[3],
                                    size_t elem_bytes, int64_t k0, int64_t k1,
                                    void *slab);

// Output stream of a file being written (data/nifti_sink.c): plain bytes,
// or a gzip member deflated in parallel in fixed 1 MiB blocks (the bytes do
// not depend on the thread count). Owns fd once open succeeds; every write and
// the close are checked; `name` is used in messages and must outlive it.
typedef struct segc_nifti_sink segc_nifti_sink;
segc_status segc_nifti_sink_open(int fd, bool gzip, const char *name,
                                 segc_nifti_sink **sink);
segc_status segc_nifti_sink_write(segc_nifti_sink *sink, const void *data,
                                  size_t bytes);
// Flushes, writes the gzip trailer, closes and frees.
segc_status segc_nifti_sink_finish(segc_nifti_sink *sink);
// Closes and frees without finishing (after a failure).
void segc_nifti_sink_abandon(segc_nifti_sink *sink);

#endif
