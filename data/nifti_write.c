// Writing segc volumes as single-file NIfTI (.nii.gz, or .nii when the name
// says so). The header is niftilib's nifti_1_header (nifti_2_header when a
// dimension exceeds NIfTI-1's 32767), the voxels are transposed slab by slab
// into file order (i fastest) and streamed out (gzip deflated in parallel,
// data/nifti_sink.c), into a temporary file that is renamed over the target
// only when everything succeeded.
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <nifti2_io.h>

#include "data/nifti_internal.h"
#include "data/nifti_io.h"
#include "io/atomic_file.h"

// Bytes per slab transposed at a time: large enough to amortise the
// parallel transpose, small enough not to double a big volume's memory.
enum { kSlabTargetBytes = 8 << 20 };
enum { kNifti1MaxDim = 32767 };

static bool is_plain_nii(const char *path) {
  const size_t n = strlen(path);
  return n >= 4 && strcasecmp(path + n - 4, ".nii") == 0;
}

static int datatype_of(segc_dtype dtype) {
  switch (dtype) {
    case SEGC_U8: return NIFTI_TYPE_UINT8;
    case SEGC_I16: return NIFTI_TYPE_INT16;
    case SEGC_I32: return NIFTI_TYPE_INT32;
    case SEGC_F32: return NIFTI_TYPE_FLOAT32;
    default: return 0;
  }
}

// The code to write: the one in `like` when it is a valid non-zero code.
static int xform_code(int like_code, int fallback) {
  return like_code >= 1 && like_code <= 5 ? like_code : fallback;
}

// Fields common to both header versions, computed once.
typedef struct {
  int datatype, bitpix;
  int64_t dim[3];
  bool nifti2;  // a dimension exceeds NIfTI-1's 32767
  segc_nifti_qform qform;
  double srow[3][4];
  int qform_code, sform_code;
} header_fields;

static bool all_finite(const double *values, int count) {
  for (int i = 0; i < count; ++i)
    if (!isfinite(values[i])) return false;
  return true;
}

// Fills the qform and sform from `like`'s header as read, when that header
// gives exactly the volume's affine (nibabel's rules, with the volume's
// dims for the pixdim fallback): a label on its CT's grid keeps the CT's
// placement fields. Returns false (leaving `f` alone) otherwise.
static bool copy_header_xforms(const segc_volume *v, const segc_nifti_info *like,
                               header_fields *f) {
  if (!like || !like->header_read) return false;
  segc_nifti_header h;
  memset(&h, 0, sizeof h);
  h.version = 1;
  h.dim[0] = 3;
  for (int a = 0; a < 3; ++a) {
    h.dim[a + 1] = v->dim[a];
    h.pixdim[a + 1] = like->pixdim[a];
    h.quatern[a] = like->quatern[a];
    h.qoffset[a] = like->qoffset[a];
  }
  h.pixdim[0] = like->qfac;
  h.qform_code = xform_code(like->qform_code, 0);
  h.sform_code = xform_code(like->sform_code, 0);
  memcpy(h.srow, like->srow, sizeof h.srow);
  if (!all_finite(h.pixdim, 4) || !all_finite(h.quatern, 3) ||
      !all_finite(h.qoffset, 3) || !all_finite(&h.srow[0][0], 12))
    return false;
  double affine[4][4];
  if (segc_nifti_best_affine(&h, "like", affine) != SEGC_OK) {
    segc_clear_error();  // not usable: the caller writes the affine instead
    return false;
  }
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 4; ++c)
      if (affine[r][c] != v->affine[r][c]) return false;
  for (int a = 0; a < 3; ++a) {
    f->qform.quatern[a] = h.quatern[a];
    f->qform.qoffset[a] = h.qoffset[a];
  }
  memcpy(f->qform.pixdim, h.pixdim, sizeof f->qform.pixdim);
  memcpy(f->srow, h.srow, sizeof f->srow);
  f->qform_code = h.qform_code;
  f->sform_code = h.sform_code;
  return true;
}

static void encode_nifti1(const header_fields *f, nifti_1_header *h) {
  memset(h, 0, sizeof *h);
  h->sizeof_hdr = SEGC_NIFTI1_HEADER_BYTES;
  h->dim[0] = 3;
  for (int d = 1; d < 8; ++d) h->dim[d] = d <= 3 ? (short)f->dim[d - 1] : 1;
  h->datatype = (short)f->datatype;
  h->bitpix = (short)f->bitpix;
  for (int d = 0; d < 8; ++d) h->pixdim[d] = d < 4 ? (float)f->qform.pixdim[d] : 1.0f;
  h->vox_offset = SEGC_NIFTI1_MIN_VOX_OFFSET;
  h->scl_slope = 1.0f;
  h->scl_inter = 0.0f;
  h->xyzt_units = NIFTI_UNITS_MM;
  snprintf(h->descrip, sizeof h->descrip, "segc");
  h->qform_code = (short)f->qform_code;
  h->sform_code = (short)f->sform_code;
  h->quatern_b = (float)f->qform.quatern[0];
  h->quatern_c = (float)f->qform.quatern[1];
  h->quatern_d = (float)f->qform.quatern[2];
  h->qoffset_x = (float)f->qform.qoffset[0];
  h->qoffset_y = (float)f->qform.qoffset[1];
  h->qoffset_z = (float)f->qform.qoffset[2];
  for (int c = 0; c < 4; ++c) {
    h->srow_x[c] = (float)f->srow[0][c];
    h->srow_y[c] = (float)f->srow[1][c];
    h->srow_z[c] = (float)f->srow[2][c];
  }
  memcpy(h->magic, "n+1\0", 4);
}

static void encode_nifti2(const header_fields *f, nifti_2_header *h) {
  memset(h, 0, sizeof *h);
  h->sizeof_hdr = SEGC_NIFTI2_HEADER_BYTES;
  memcpy(h->magic, "n+2\0\r\n\032\n", 8);
  h->datatype = (int16_t)f->datatype;
  h->bitpix = (int16_t)f->bitpix;
  h->dim[0] = 3;
  for (int d = 1; d < 8; ++d) h->dim[d] = d <= 3 ? f->dim[d - 1] : 1;
  for (int d = 0; d < 8; ++d) h->pixdim[d] = d < 4 ? f->qform.pixdim[d] : 1.0;
  h->vox_offset = SEGC_NIFTI2_MIN_VOX_OFFSET;
  h->scl_slope = 1.0;
  h->scl_inter = 0.0;
  h->xyzt_units = NIFTI_UNITS_MM;
  snprintf(h->descrip, sizeof h->descrip, "segc");
  h->qform_code = f->qform_code;
  h->sform_code = f->sform_code;
  h->quatern_b = f->qform.quatern[0];
  h->quatern_c = f->qform.quatern[1];
  h->quatern_d = f->qform.quatern[2];
  h->qoffset_x = f->qform.qoffset[0];
  h->qoffset_y = f->qform.qoffset[1];
  h->qoffset_z = f->qform.qoffset[2];
  for (int c = 0; c < 4; ++c) {
    h->srow_x[c] = f->srow[0][c];
    h->srow_y[c] = f->srow[1][c];
    h->srow_z[c] = f->srow[2][c];
  }
}

static segc_status check_volume(const char *path, const segc_volume *v) {
  if (!v || !v->data)
    return SEGC_FAIL(SEGC_ERR_INVALID, "%s: no volume data to write", path);
  for (int a = 0; a < 3; ++a)
    if (v->dim[a] < 1)
      return SEGC_FAIL(SEGC_ERR_INVALID, "%s: volume dim[%d] is %lld", path, a,
                       (long long)v->dim[a]);
  if (!datatype_of(v->dtype))
    return SEGC_FAIL(SEGC_ERR_UNSUPPORTED,
                     "%s: cannot write dtype %s (u8, i16, i32 or f32 only; "
                     "convert with segc_volume_copy)", path,
                     segc_dtype_name(v->dtype));
  if (v->dtype == SEGC_F32) {
    const float *x = v->data;
    const int64_t n = segc_volume_numel(v);
    int64_t nonfinite = 0;
#pragma omp parallel for schedule(static) reduction(+ : nonfinite) \
    if (n > (1 << 16))
    for (int64_t i = 0; i < n; ++i) nonfinite += !isfinite(x[i]);
    if (nonfinite > 0)
      return SEGC_FAIL(SEGC_ERR_NONFINITE,
                       "%s: refusing to write %lld NaN or Inf voxels (of %lld)",
                       path, (long long)nonfinite, (long long)n);
  }
  return SEGC_OK;
}

static segc_status write_contents(segc_nifti_sink *sink, const segc_volume *v,
                                  const header_fields *f, const char *path) {
  const uint8_t no_extensions[4] = {0, 0, 0, 0};
  if (f->nifti2) {
    nifti_2_header h;
    encode_nifti2(f, &h);
    SEGC_TRY(segc_nifti_sink_write(sink, &h, sizeof h));
  } else {
    nifti_1_header h;
    encode_nifti1(f, &h);
    SEGC_TRY(segc_nifti_sink_write(sink, &h, sizeof h));
  }
  SEGC_TRY(segc_nifti_sink_write(sink, no_extensions, sizeof no_extensions));

  const size_t elem = segc_dtype_size(v->dtype);
  const size_t plane = (size_t)v->dim[0] * (size_t)v->dim[1] * elem;
  const int64_t planes = plane >= kSlabTargetBytes ? 1 : kSlabTargetBytes / (int64_t)plane;
  const int64_t slab_planes = planes < v->dim[2] ? planes : v->dim[2];
  void *slab = malloc(plane * (size_t)slab_planes);
  if (!slab)
    return SEGC_FAIL(SEGC_ERR_NOMEM, "%s: cannot allocate a %zu-byte slab", path,
                     plane * (size_t)slab_planes);
  segc_status status = SEGC_OK;
  for (int64_t k0 = 0; k0 < v->dim[2] && status == SEGC_OK; k0 += slab_planes) {
    const int64_t k1 = k0 + slab_planes < v->dim[2] ? k0 + slab_planes : v->dim[2];
    segc_nifti_volume_to_file_slab(v->data, v->dim, elem, k0, k1, slab);
    status = segc_nifti_sink_write(sink, slab, plane * (size_t)(k1 - k0));
  }
  free(slab);
  return status;
}

segc_status segc_nifti_write(const char *path, const segc_volume *volume,
                             const segc_nifti_info *like) {
  if (!path || !*path) return SEGC_FAIL(SEGC_ERR_INVALID, "nifti write: no path");
  SEGC_TRY(check_volume(path, volume));
  header_fields f;
  memset(&f, 0, sizeof f);
  f.datatype = datatype_of(volume->dtype);
  f.bitpix = 8 * (int)segc_dtype_size(volume->dtype);
  for (int a = 0; a < 3; ++a) f.dim[a] = volume->dim[a];
  f.nifti2 = f.dim[0] > kNifti1MaxDim || f.dim[1] > kNifti1MaxDim ||
             f.dim[2] > kNifti1MaxDim;
  segc_status status = SEGC_OK;
  if (!copy_header_xforms(volume, like, &f)) {
    status = segc_nifti_qform_from_affine(volume->affine, &f.qform);
    if (status != SEGC_OK) return segc_fail_context(status, "%s", path);
    memcpy(f.srow, volume->affine, sizeof f.srow);
    f.sform_code = xform_code(like ? like->sform_code : 0, NIFTI_XFORM_ALIGNED_ANAT);
    f.qform_code = xform_code(like ? like->qform_code : 0, NIFTI_XFORM_SCANNER_ANAT);
  }
  for (int r = 0; r < 3 && !f.nifti2; ++r) {  // NIfTI-1 stores float32
    for (int c = 0; c < 4; ++c)
      if (!(fabs(f.srow[r][c]) <= FLT_MAX))
        return SEGC_FAIL(SEGC_ERR_INVALID, "%s: affine[%d][%d] = %g does not "
                         "fit a float32", path, r, c, f.srow[r][c]);
    if (!(fabs(f.qform.qoffset[r]) <= FLT_MAX))
      return SEGC_FAIL(SEGC_ERR_INVALID, "%s: qoffset %d = %g does not fit a "
                       "float32", path, r, f.qform.qoffset[r]);
  }

  // The sink (a compressor) closes the descriptor it is given: it gets a
  // copy, and the atomic file syncs and renames its own.
  segc_atomic_file file;
  SEGC_TRY(segc_atomic_file_open_fd(&file, path));
  const int sink_fd = dup(file.fd);
  if (sink_fd < 0) {
    status = SEGC_FAIL(SEGC_ERR_IO, "%s: dup failed: %s", path, strerror(errno));
    segc_atomic_file_abort(&file);
    return status;
  }
  segc_nifti_sink *sink;
  status = segc_nifti_sink_open(sink_fd, !is_plain_nii(path), path, &sink);
  if (status != SEGC_OK) {
    close(sink_fd);
    segc_atomic_file_abort(&file);
    return status;
  }
  status = write_contents(sink, volume, &f, path);
  if (status == SEGC_OK)
    status = segc_nifti_sink_finish(sink);  // flushes, checks the close
  else
    segc_nifti_sink_abandon(sink);
  if (status == SEGC_OK) status = segc_atomic_file_commit(&file);
  segc_atomic_file_abort(&file);  // after a failure: removes the temporary
  return status;
}
