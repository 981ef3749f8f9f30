// Decoding NIfTI-1 (348-byte) and NIfTI-2 (540-byte) headers from raw bytes
// in either byte order. Field offsets are those of nifti1.h / nifti2.h.
#include <string.h>

#include "data/nifti_internal.h"

int segc_nifti_datatype_bytes(int datatype, segc_dtype *unscaled_dtype,
                              const char **name) {
  struct known { int code, bytes; segc_dtype dtype; const char *name; };
  static const struct known table[] = {
      {SEGC_NIFTI_UINT8, 1, SEGC_U8, "uint8"},
      {SEGC_NIFTI_INT8, 1, SEGC_I16, "int8"},
      {SEGC_NIFTI_INT16, 2, SEGC_I16, "int16"},
      {SEGC_NIFTI_UINT16, 2, SEGC_I32, "uint16"},
      {SEGC_NIFTI_INT32, 4, SEGC_I32, "int32"},
      {SEGC_NIFTI_UINT32, 4, SEGC_F32, "uint32"},
      {SEGC_NIFTI_FLOAT32, 4, SEGC_F32, "float32"},
      {SEGC_NIFTI_FLOAT64, 8, SEGC_F32, "float64"},
      // Valid NIfTI types segc does not read (bytes 0).
      {1, 0, SEGC_F32, "binary (1 bit)"},
      {32, 0, SEGC_F32, "complex64"},
      {128, 0, SEGC_F32, "rgb24"},
      {1024, 0, SEGC_F32, "int64"},
      {1280, 0, SEGC_F32, "uint64"},
      {1536, 0, SEGC_F32, "float128"},
      {1792, 0, SEGC_F32, "complex128"},
      {2048, 0, SEGC_F32, "complex256"},
      {2304, 0, SEGC_F32, "rgba32"},
  };
  if (name) *name = NULL;
  for (size_t t = 0; t < sizeof table / sizeof table[0]; ++t) {
    if (table[t].code != datatype) continue;
    if (name) *name = table[t].name;
    if (unscaled_dtype) *unscaled_dtype = table[t].dtype;
    return table[t].bytes;
  }
  return 0;
}

// Readers of one field at a byte offset, swapping when the file's byte order
// differs from the host's.
typedef struct {
  const uint8_t *bytes;
  bool swap;
} field_reader;

static uint16_t load_u16(field_reader r, size_t at) {
  uint16_t v;
  memcpy(&v, r.bytes + at, sizeof v);
  return r.swap ? __builtin_bswap16(v) : v;
}
static uint32_t load_u32(field_reader r, size_t at) {
  uint32_t v;
  memcpy(&v, r.bytes + at, sizeof v);
  return r.swap ? __builtin_bswap32(v) : v;
}
static uint64_t load_u64(field_reader r, size_t at) {
  uint64_t v;
  memcpy(&v, r.bytes + at, sizeof v);
  return r.swap ? __builtin_bswap64(v) : v;
}
static int16_t load_i16(field_reader r, size_t at) {
  return (int16_t)load_u16(r, at);
}
static int32_t load_i32(field_reader r, size_t at) {
  return (int32_t)load_u32(r, at);
}
static int64_t load_i64(field_reader r, size_t at) {
  return (int64_t)load_u64(r, at);
}
static double load_f32(field_reader r, size_t at) {
  uint32_t bits = load_u32(r, at);
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
}
static double load_f64(field_reader r, size_t at) {
  uint64_t bits = load_u64(r, at);
  double d;
  memcpy(&d, &bits, sizeof d);
  return d;
}

int segc_nifti_announced_header_bytes(const uint8_t first4[4]) {
  int32_t native;
  memcpy(&native, first4, sizeof native);
  const int32_t swapped = (int32_t)__builtin_bswap32((uint32_t)native);
  if (native == SEGC_NIFTI1_HEADER_BYTES || swapped == SEGC_NIFTI1_HEADER_BYTES)
    return SEGC_NIFTI1_HEADER_BYTES;
  if (native == SEGC_NIFTI2_HEADER_BYTES || swapped == SEGC_NIFTI2_HEADER_BYTES)
    return SEGC_NIFTI2_HEADER_BYTES;
  return 0;
}

static void decode_nifti1(field_reader r, segc_nifti_header *h) {
  for (int d = 0; d < 8; ++d) h->dim[d] = load_i16(r, 40 + 2 * (size_t)d);
  h->datatype = load_i16(r, 70);
  for (int d = 0; d < 8; ++d) h->pixdim[d] = load_f32(r, 76 + 4 * (size_t)d);
  h->vox_offset = load_f32(r, 108);
  h->scl_slope = load_f32(r, 112);
  h->scl_inter = load_f32(r, 116);
  h->xyzt_units = r.bytes[123];
  h->qform_code = load_i16(r, 252);
  h->sform_code = load_i16(r, 254);
  for (int q = 0; q < 3; ++q) {
    h->quatern[q] = load_f32(r, 256 + 4 * (size_t)q);
    h->qoffset[q] = load_f32(r, 268 + 4 * (size_t)q);
  }
  for (int row = 0; row < 3; ++row)
    for (int c = 0; c < 4; ++c)
      h->srow[row][c] = load_f32(r, 280 + 16 * (size_t)row + 4 * (size_t)c);
}

static void decode_nifti2(field_reader r, segc_nifti_header *h) {
  h->datatype = load_i16(r, 12);
  for (int d = 0; d < 8; ++d) h->dim[d] = load_i64(r, 16 + 8 * (size_t)d);
  for (int d = 0; d < 8; ++d) h->pixdim[d] = load_f64(r, 104 + 8 * (size_t)d);
  // An int64 offset; a double holds every offset a real file can have
  // exactly, and absurd ones are rejected later either way.
  h->vox_offset = (double)load_i64(r, 168);
  h->scl_slope = load_f64(r, 176);
  h->scl_inter = load_f64(r, 184);
  h->qform_code = load_i32(r, 344);
  h->sform_code = load_i32(r, 348);
  for (int q = 0; q < 3; ++q) {
    h->quatern[q] = load_f64(r, 352 + 8 * (size_t)q);
    h->qoffset[q] = load_f64(r, 376 + 8 * (size_t)q);
  }
  for (int row = 0; row < 3; ++row)
    for (int c = 0; c < 4; ++c)
      h->srow[row][c] = load_f64(r, 400 + 32 * (size_t)row + 8 * (size_t)c);
  h->xyzt_units = load_i32(r, 500);
}

static segc_status check_magic(const uint8_t *magic, int version,
                               const char *name) {
  if (version == 1) {
    if (memcmp(magic, "ni1\0", 4) == 0)
      return SEGC_FAIL(SEGC_ERR_UNSUPPORTED,
                       "%s: a NIfTI-1 .hdr/.img pair header (magic 'ni1'); "
                       "only single-file .nii is supported", name);
    if (memcmp(magic, "n+1\0", 4) != 0)
      return SEGC_FAIL(SEGC_ERR_FORMAT,
                       "%s: not a NIfTI-1 file: magic is %02x %02x %02x %02x, "
                       "not 'n+1'", name, magic[0], magic[1], magic[2],
                       magic[3]);
    return SEGC_OK;
  }
  if (memcmp(magic, "ni2\0", 4) == 0)
    return SEGC_FAIL(SEGC_ERR_UNSUPPORTED,
                     "%s: a NIfTI-2 .hdr/.img pair header (magic 'ni2'); "
                     "only single-file .nii is supported", name);
  // The 4 bytes after "n+2\0" catch transfers that mangle line ends.
  if (memcmp(magic, "n+2\0\r\n\032\n", 8) != 0)
    return SEGC_FAIL(SEGC_ERR_FORMAT,
                     "%s: not a NIfTI-2 file: magic is not 'n+2\\0\\r\\n"
                     "\\032\\n'", name);
  return SEGC_OK;
}

segc_status segc_nifti_decode_header(const uint8_t *bytes, size_t size,
                                     const char *name, segc_nifti_header *h) {
  memset(h, 0, sizeof *h);
  if (size < 4)
    return SEGC_FAIL(SEGC_ERR_FORMAT,
                     "%s: not a NIfTI file: only %zu bytes", name, size);
  const int header_bytes = segc_nifti_announced_header_bytes(bytes);
  if (header_bytes == 0) {
    // A DICOM Part-10 file has "DICM" after a 128-byte preamble.
    if (size >= 132 && memcmp(bytes + 128, "DICM", 4) == 0)
      return SEGC_FAIL(SEGC_ERR_FORMAT,
                       "%s: a DICOM file, not NIfTI (.nii, .nii.gz); give "
                       "seginfer/segeval the folder holding its series",
                       name);
    int32_t announced;
    memcpy(&announced, bytes, sizeof announced);
    return SEGC_FAIL(SEGC_ERR_FORMAT,
                     "%s: not a NIfTI file: sizeof_hdr is %d (0x%08x), not "
                     "348 (NIfTI-1) or 540 (NIfTI-2) in either byte order",
                     name, announced, (unsigned)announced);
  }
  int32_t native;
  memcpy(&native, bytes, sizeof native);
  field_reader r = {bytes, native != header_bytes};
  h->header_bytes = header_bytes;
  h->swapped = r.swap;
  h->version = header_bytes == SEGC_NIFTI1_HEADER_BYTES ? 1 : 2;
  // The magic first (when the bytes reach it): a sizeof_hdr that names the
  // wrong version is then reported as such rather than as a short file.
  const size_t magic_at = h->version == 1 ? 344 : 4;
  const size_t magic_bytes = h->version == 1 ? 4 : 8;
  if (size >= magic_at + magic_bytes)
    SEGC_TRY(check_magic(bytes + magic_at, h->version, name));
  if (size < (size_t)header_bytes)
    return SEGC_FAIL(SEGC_ERR_FORMAT,
                     "%s: truncated: sizeof_hdr says a %d-byte header but the "
                     "data ends after %zu bytes", name, header_bytes, size);
  if (h->version == 1)
    decode_nifti1(r, h);
  else
    decode_nifti2(r, h);
  return SEGC_OK;
}
