// Bad NIfTI input: each case must fail with its own status and a one-line
// message that names the file and the reason, leave no volume behind, and
// not crash or hang (the sanitizer run checks the memory side). Every file is
// read both from disk and from memory (nifti_craft.h's read_blob).
#include <stdint.h>
#include <sys/stat.h>

#include "nifti_craft.h"

static void check_fails(const blob *b, const char *name, segc_status code,
                        const char *needle) {
  segc_volume v;
  segc_clear_error();
  const segc_status status = read_blob(b, name, &v, NULL);
  CHECK(status == code && test_contains(segc_error_message(), needle),
        "%s: got %d '%s', wanted %d with '%s'", name, status,
        segc_error_message(), code, needle);
  if (status == SEGC_OK) segc_volume_free(&v);
  printf("  %-26s -> %s\n", name, segc_error_message());  // for review
}

// A header edit applied to a valid 3x4x5 file; `value` parametrises it.
static double g_value;
typedef void (*edit_fn)(void *header, int version);

static void check_header_edit(int version, int datatype, edit_fn edit,
                              const char *name, segc_status code,
                              const char *needle) {
  layout l = basic(datatype);
  l.version = version;
  l.vox_offset = version == 1 ? 352 : 544;
  blob b = assemble(&l, edit, numel(&l));
  check_fails(&b, name, code, needle);
  blob gz = gzip_blob(&b);
  char gz_name[128];
  snprintf(gz_name, sizeof gz_name, "%s.gz", name);
  check_fails(&gz, gz_name, code, needle);
  blob_free(&gz);
  blob_free(&b);
}

#define N1(h) ((nifti_1_header *)(h))
#define N2(h) ((nifti_2_header *)(h))
static void set_dim0(void *h, int v) { if (v == 1) N1(h)->dim[0] = (short)g_value; else N2(h)->dim[0] = (int64_t)g_value; }
static void set_dim2(void *h, int v) { if (v == 1) N1(h)->dim[2] = (short)g_value; else N2(h)->dim[2] = (int64_t)g_value; }
static void set_dim4(void *h, int v) { if (v == 1) { N1(h)->dim[0] = 4; N1(h)->dim[4] = (short)g_value; } else { N2(h)->dim[0] = 4; N2(h)->dim[4] = (int64_t)g_value; } }
static void set_datatype(void *h, int v) { if (v == 1) N1(h)->datatype = (short)g_value; else N2(h)->datatype = (int16_t)g_value; }
static void set_vox_offset(void *h, int v) { if (v == 1) N1(h)->vox_offset = (float)g_value; else N2(h)->vox_offset = (int64_t)g_value; }
static void set_sizeof_hdr(void *h, int v) { if (v == 1) N1(h)->sizeof_hdr = (int)g_value; else N2(h)->sizeof_hdr = (int)g_value; }
static void set_pair_magic(void *h, int v) { if (v == 1) memcpy(N1(h)->magic, "ni1\0", 4); else memcpy(N2(h)->magic, "ni2\0", 4); }
static void set_bad_magic(void *h, int v) { if (v == 1) memcpy(N1(h)->magic, "n+3\0", 4); else N2(h)->magic[4] = '\n'; }
static void set_inter_inf(void *h, int v) { if (v == 1) { N1(h)->scl_slope = 2; N1(h)->scl_inter = INFINITY; } else { N2(h)->scl_slope = 2; N2(h)->scl_inter = INFINITY; } }
static void set_srow_nan(void *h, int v) { if (v == 1) N1(h)->srow_y[3] = NAN; else N2(h)->srow_y[3] = NAN; }
static void set_huge_slope(void *h, int v) { if (v == 1) N1(h)->scl_slope = 3e38f; else N2(h)->scl_slope = 1e300; }
static void qform_negative_pixdim(void *h, int v) {
  (void)v;
  N1(h)->sform_code = 0;
  N1(h)->qform_code = 1;
  N1(h)->pixdim[2] = -3.0f;
}
static void qform_long_quaternion(void *h, int v) {
  (void)v;
  N1(h)->sform_code = 0;
  N1(h)->qform_code = 1;
  N1(h)->quatern_b = 1.0f;
  N1(h)->quatern_c = 0.5f;
}
static void qform_nan_quaternion(void *h, int v) {
  (void)v;
  N1(h)->sform_code = 0;
  N1(h)->qform_code = 2;
  N1(h)->quatern_d = NAN;
}
// Dims whose product overflows: 32767^3 in NIfTI-1, 2^40 * 2^40 in NIfTI-2.
static void set_huge_dims(void *h, int v) {
  if (v == 1) {
    N1(h)->dim[1] = N1(h)->dim[2] = N1(h)->dim[3] = 32767;
  } else {
    N2(h)->dim[1] = N2(h)->dim[2] = (int64_t)1 << 40;
    N2(h)->dim[3] = INT64_MAX;
  }
}
// Plausible dims (2 GB of voxels) in a tiny file: refused before allocating.
static void set_big_dims(void *h, int v) {
  if (v == 1) { N1(h)->dim[1] = N1(h)->dim[2] = N1(h)->dim[3] = 1260; }
  else { N2(h)->dim[1] = N2(h)->dim[2] = N2(h)->dim[3] = 1260; }
}

static void check_bad_headers(void) {
  for (int version = 1; version <= 2; ++version) {
    char name[64];
#define NAME(s) (snprintf(name, sizeof name, "v%d_%s.nii", version, (s)), name)
    g_value = 0;
    check_header_edit(version, NIFTI_TYPE_INT16, set_dim2, NAME("dim2_zero"), SEGC_ERR_FORMAT, "dim[2] is 0");
    g_value = -3;
    check_header_edit(version, NIFTI_TYPE_INT16, set_dim2, NAME("dim2_negative"), SEGC_ERR_FORMAT, "dim[2] is -3");
    g_value = 0;
    check_header_edit(version, NIFTI_TYPE_INT16, set_dim0, NAME("dim0_zero"), SEGC_ERR_FORMAT, "dim[0] is 0");
    g_value = 9;
    check_header_edit(version, NIFTI_TYPE_INT16, set_dim0, NAME("dim0_nine"), SEGC_ERR_FORMAT, "dim[0] is 9");
    g_value = 5;
    check_header_edit(version, NIFTI_TYPE_INT16, set_dim0, NAME("5d"), SEGC_ERR_UNSUPPORTED, "5-D image");
    g_value = 3;
    check_header_edit(version, NIFTI_TYPE_INT16, set_dim4, NAME("4d_three"), SEGC_ERR_UNSUPPORTED, "3 volumes");
    g_value = 32;
    check_header_edit(version, NIFTI_TYPE_INT16, set_datatype, NAME("complex"), SEGC_ERR_UNSUPPORTED, "complex64");
    g_value = 1024;
    check_header_edit(version, NIFTI_TYPE_INT16, set_datatype, NAME("int64"), SEGC_ERR_UNSUPPORTED, "int64");
    g_value = 3;
    check_header_edit(version, NIFTI_TYPE_INT16, set_datatype, NAME("type3"), SEGC_ERR_FORMAT, "unknown datatype code 3");
    g_value = 100;
    check_header_edit(version, NIFTI_TYPE_INT16, set_vox_offset, NAME("offset_low"), SEGC_ERR_FORMAT, "vox_offset is 100");
    g_value = 100000;
    check_header_edit(version, NIFTI_TYPE_INT16, set_vox_offset, NAME("offset_beyond"), SEGC_ERR_FORMAT, "vox_offset 100000 is beyond");
    g_value = 349;
    check_header_edit(version, NIFTI_TYPE_INT16, set_sizeof_hdr, NAME("sizeof_349"), SEGC_ERR_FORMAT, "sizeof_hdr is 349");
    // The other version's size: the magic is then read from the wrong place.
    g_value = version == 1 ? 540 : 348;
    check_header_edit(version, NIFTI_TYPE_INT16, set_sizeof_hdr, NAME("sizeof_other"), SEGC_ERR_FORMAT,
                      version == 1 ? "not a NIfTI-2 file" : "not a NIfTI-1 file");
    check_header_edit(version, NIFTI_TYPE_INT16, set_pair_magic, NAME("pair"), SEGC_ERR_UNSUPPORTED, ".hdr/.img pair");
    check_header_edit(version, NIFTI_TYPE_INT16, set_bad_magic, NAME("magic"), SEGC_ERR_FORMAT, "magic");
    check_header_edit(version, NIFTI_TYPE_INT16, set_inter_inf, NAME("inter_inf"), SEGC_ERR_FORMAT, "scl_inter is inf");
    check_header_edit(version, NIFTI_TYPE_INT16, set_srow_nan, NAME("srow_nan"), SEGC_ERR_FORMAT, "non-finite entry");
    check_header_edit(version, NIFTI_TYPE_INT16, set_huge_dims, NAME("overflow"), SEGC_ERR_FORMAT, "overflows");
    check_header_edit(version, NIFTI_TYPE_UINT8, set_big_dims, NAME("big_dims"), SEGC_ERR_FORMAT, "truncated");
#undef NAME
  }
  // NIfTI-1 stores vox_offset as a float: fractions and NaN are refused.
  g_value = 352.5;
  check_header_edit(1, NIFTI_TYPE_INT16, set_vox_offset, "offset_fraction.nii", SEGC_ERR_FORMAT, "whole number");
  g_value = NAN;
  check_header_edit(1, NIFTI_TYPE_INT16, set_vox_offset, "offset_nan.nii", SEGC_ERR_FORMAT, "vox_offset is nan");
  check_header_edit(1, NIFTI_TYPE_INT16, qform_negative_pixdim, "qform_pixdim.nii", SEGC_ERR_FORMAT, "pixdim[2] is -3");
  check_header_edit(1, NIFTI_TYPE_INT16, qform_long_quaternion, "quaternion.nii", SEGC_ERR_FORMAT, "norm above 1");
  check_header_edit(1, NIFTI_TYPE_INT16, qform_nan_quaternion, "quaternion_nan.nii", SEGC_ERR_FORMAT, "not finite");
}

static void check_bad_voxels(void) {
  // NaN and Inf in float data: counted and refused.
  layout l = basic(NIFTI_TYPE_FLOAT32);
  blob b = assemble(&l, NULL, numel(&l));
  const float nan = NAN, inf = -INFINITY;
  memcpy(b.bytes + 352 + 4 * 3, &nan, 4);
  memcpy(b.bytes + 352 + 4 * 17, &nan, 4);
  memcpy(b.bytes + 352 + 4 * 59, &inf, 4);
  check_fails(&b, "nan.nii", SEGC_ERR_NONFINITE, "3 of 60 voxels are NaN or Inf");
  blob gz = gzip_blob(&b);
  check_fails(&gz, "nan.nii.gz", SEGC_ERR_NONFINITE, "NaN");
  blob_free(&gz);
  blob_free(&b);
  // float64 beyond float32's range becomes Inf: refused too.
  l = basic(NIFTI_TYPE_FLOAT64);
  b = assemble(&l, NULL, numel(&l));
  const double huge = 1e300;
  memcpy(b.bytes + 352 + 8 * 5, &huge, 8);
  check_fails(&b, "f64_huge.nii", SEGC_ERR_NONFINITE, "1 of 60 voxels");
  blob_free(&b);
  // A gzip file of several 8 MiB read slabs: NaN in the first and the last
  // slab are both counted, and a cut in the second slab is found.
  l = basic(NIFTI_TYPE_FLOAT32);
  l.dim[1] = 130, l.dim[2] = 130, l.dim[3] = 150;  // 10 MB
  b = assemble(&l, NULL, numel(&l));
  memcpy(b.bytes + 352, &nan, 4);
  memcpy(b.bytes + b.size - 4, &inf, 4);
  gz = gzip_blob(&b);
  check_fails(&gz, "nan_slabs.nii.gz", SEGC_ERR_NONFINITE, "2 of 2535000 voxels");
  gz.size = gz.size * 3 / 4;
  check_fails(&gz, "cut_slabs.nii.gz", SEGC_ERR_FORMAT, "truncated gzip stream");
  blob_free(&gz);
  blob_free(&b);
  // Scaling that overflows float32.
  check_header_edit(1, NIFTI_TYPE_INT16, set_huge_slope, "slope_overflow.nii", SEGC_ERR_NONFINITE,
                    "after scl_slope");
}

static void check_bad_containers(void) {
  layout l = basic(NIFTI_TYPE_INT16);
  blob good = assemble(&l, NULL, numel(&l));
  blob gz = gzip_blob(&good);
  // Truncated: plain data, the header itself, gzip halfway and without
  // its 8-byte trailer.
  blob cut = {good.bytes, good.size - 7};
  check_fails(&cut, "cut_data.nii", SEGC_ERR_FORMAT, "truncated");
  cut.size = 200;
  check_fails(&cut, "cut_header.nii", SEGC_ERR_FORMAT, "truncated");
  cut = (blob){gz.bytes, gz.size / 2};
  check_fails(&cut, "cut_half.nii.gz", SEGC_ERR_FORMAT, "truncated");
  cut.size = gz.size - 8;
  check_fails(&cut, "cut_trailer.nii.gz", SEGC_ERR_FORMAT, "truncated gzip stream");
  cut.size = 30;
  check_fails(&cut, "cut_in_header.nii.gz", SEGC_ERR_FORMAT, "truncated gzip stream: it ends after");
  cut.size = 2;  // the gzip magic alone
  check_fails(&cut, "gzip_magic_only.nii.gz", SEGC_ERR_FORMAT, "truncated gzip stream");
  // A wrong CRC, and a broken deflate stream.
  blob bad = {malloc(gz.size), gz.size};
  memcpy(bad.bytes, gz.bytes, gz.size);
  bad.bytes[gz.size - 6] ^= 0x55;
  check_fails(&bad, "bad_crc.nii.gz", SEGC_ERR_FORMAT, "corrupt gzip data (incorrect data check)");
  memcpy(bad.bytes, gz.bytes, gz.size);
  bad.bytes[3] = 0xe0;  // reserved gzip flag bits
  check_fails(&bad, "bad_gzip_header.nii.gz", SEGC_ERR_FORMAT, "corrupt gzip data");
  memcpy(bad.bytes, gz.bytes, gz.size);
  bad.bytes[10] = 0xff;  // first deflate block header: invalid block type 3
  check_fails(&bad, "bad_deflate.nii.gz", SEGC_ERR_FORMAT, "corrupt gzip data");
  blob_free(&bad);
  blob_free(&gz);
  blob_free(&good);

  // Not NIfTI at all.
  blob text = {(uint8_t *)strdup("This is a text file, not an image.\n"), 35};
  check_fails(&text, "text.nii", SEGC_ERR_FORMAT, "not a NIfTI file");
  blob_free(&text);
  uint8_t png_bytes[400] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  blob png = {png_bytes, sizeof png_bytes};
  check_fails(&png, "picture.nii", SEGC_ERR_FORMAT, "not a NIfTI file");
  blob empty = {png_bytes, 0};
  check_fails(&empty, "empty.nii", SEGC_ERR_FORMAT, "only 0 bytes");
  blob tiny = {png_bytes, 3};
  check_fails(&tiny, "tiny.nii", SEGC_ERR_FORMAT, "only 3 bytes");
  uint8_t *zeros = calloc(1, 1 << 16);
  blob zero_file = {zeros, 1 << 16};
  blob zero_gz = gzip_blob(&zero_file);  // a gzip of 64 KB of zeros
  check_fails(&zero_gz, "zeros.nii.gz", SEGC_ERR_FORMAT, "sizeof_hdr is 0");
  blob_free(&zero_gz);
  free(zeros);

  // Paths that are not readable files.
  segc_volume v;
  CHECK_FAILS(segc_nifti_read(test_path(g_dir, "missing.nii.gz"), &v, NULL),
              SEGC_ERR_IO, "cannot open");
  CHECK(mkdir(test_path(g_dir, "folder.nii"), 0755) == 0, "mkdir");
  CHECK_FAILS(segc_nifti_read(test_path(g_dir, "folder.nii"), &v, NULL),
              SEGC_ERR_IO, "DICOM series?");
  uint8_t dicom[256] = {0};  // Part-10: 128-byte preamble, then "DICM"
  memcpy(dicom + 128, "DICM", 4);
  CHECK_FAILS(segc_nifti_read_memory(dicom, sizeof dicom, "ct.dcm", &v, NULL),
              SEGC_ERR_FORMAT, "a DICOM file");
  CHECK_FAILS(segc_nifti_read_memory(NULL, 10, "null", &v, NULL),
              SEGC_ERR_INVALID, "NULL buffer");
}

int main(void) {
  nifti_set_debug_level(0);
  g_dir = test_temp_dir("nifti_bad");
  check_bad_containers();
  check_bad_headers();
  check_bad_voxels();
  return test_finish("nifti_bad");
}
