// The DICOM reader (data/dicom.h) on small series this test writes itself
// (tests/dicom_craft.h): implicit, explicit and deflated explicit VR little
// endian, JPEG 2000 (OpenJPEG's encoder) and JPEG-LS (CharLS's encoder), each
// with sequences to skip; slices sorted along the normal whatever the file
// order, rows flipped and the affine in RAS as dcm2niix writes it; signed and
// rescaled values; and the refusals: an unsupported transfer syntax by name,
// two series without a choice (both listed), a truncated file, gantry tilt,
// non-uniform spacing, duplicate positions. (Truncations and byte flips:
// test_dicom_robustness.c.)
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/dtype.h"
#include "data/dicom.h"
#include "data/image_read.h"
#include "dicom_craft.h"
#include "dicom_encode.h"
#include "util/test_util.h"

enum { kRows = 6, kColumns = 5, kSlices = 3 };

static const char *g_temp;

// A fresh folder under the test's temporary folder.
static const char *folder(const char *name) {
  static char path[8][4096];
  static int next;
  char *p = path[next++ % 8];
  snprintf(p, sizeof path[0], "%s/%s", g_temp, name);
  if (mkdir(p, 0755) != 0) {
    fprintf(stderr, "mkdir %s failed\n", p);
    exit(1);
  }
  return p;
}

// The stored value of pixel (row r, column c) of slice s (12 bits).
static uint16_t stored(int r, int c, int s) {
  return (uint16_t)((r * 331 + c * 71 + s * 1013) % 4096);
}

static void fill_pixels(uint16_t *pixels, int s) {
  for (int r = 0; r < kRows; ++r)
    for (int c = 0; c < kColumns; ++c) pixels[r * kColumns + c] = stored(r, c, s);
}

// Slice s of the standard axial series (z = 10 + 2 s), with its pixels.
static craft_slice axial_slice(int s, uint16_t *pixels, const char *syntax) {
  craft_slice slice = craft_default_slice(kRows, kColumns);
  slice.transfer_syntax = syntax;
  slice.position[0] = -100.0;
  slice.position[1] = -50.0;
  slice.position[2] = 10.0 + 2.0 * s;
  slice.instance = s + 1;
  fill_pixels(pixels, s);
  slice.pixels = pixels;
  return slice;
}

// Writes the slices in reverse file-name order (z descending), as the
// shared example does, so that sorting is needed.
static void write_axial_series(const char *dir, const char *syntax) {
  for (int s = 0; s < kSlices; ++s) {
    uint16_t pixels[kRows * kColumns];
    craft_slice slice = axial_slice(s, pixels, syntax);
    char path[4200];
    snprintf(path, sizeof path, "%s/IM%d", dir, kSlices - 1 - s);
    CHECK(craft_write(path, &slice), "writing %s", path);
  }
}

// The volume holds stored(...) - 1024 with voxel (i, j, k) = column i, row
// Rows-1-j of the k-th slice along z, and dcm2niix's affine.
static void check_axial_volume(const segc_volume *v, const char *what) {
  CHECK(v->dim[0] == kColumns && v->dim[1] == kRows && v->dim[2] == kSlices,
        "%s: dims %lldx%lldx%lld", what, (long long)v->dim[0],
        (long long)v->dim[1], (long long)v->dim[2]);
  if (v->dim[0] != kColumns || v->dim[1] != kRows || v->dim[2] != kSlices)
    return;
  CHECK(v->dtype == SEGC_I16, "%s: dtype %s", what, segc_dtype_name(v->dtype));
  int wrong = 0;
  for (int i = 0; i < kColumns; ++i)
    for (int j = 0; j < kRows; ++j)
      for (int k = 0; k < kSlices; ++k) {
        const float got = segc_load_f32(
            v->data, v->dtype, (size_t)segc_volume_offset(v, i, j, k));
        wrong += got != (float)stored(kRows - 1 - j, i, k) - 1024.0f;
      }
  CHECK(wrong == 0, "%s: %d voxels wrong", what, wrong);
  // Row spacing 0.5 (PixelSpacing[0]) along j, column spacing 0.75 along i.
  const double expected[4][4] = {{-0.75, 0, 0, 100.0},
                                 {0, 0.5, 0, 50.0 - (kRows - 1) * 0.5},
                                 {0, 0, 2.0, 10.0},
                                 {0, 0, 0, 1}};
  double worst = 0.0;
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 4; ++c)
      worst = fmax(worst, fabs(v->affine[r][c] - expected[r][c]));
  CHECK(worst < 1e-9, "%s: affine off by %g", what, worst);
}

static int test_syntaxes(void) {
  const char *syntaxes[3] = {CRAFT_EXPLICIT, CRAFT_IMPLICIT, CRAFT_DEFLATED};
  const char *names[3] = {"explicit", "implicit", "deflated"};
  for (int t = 0; t < 3; ++t) {
    const char *dir = folder(names[t]);
    write_axial_series(dir, syntaxes[t]);
    // Not DICOM: passed over.
    CHECK(craft_write_bytes(test_path(dir, "notes.txt"), "hello", 5), "notes");
    segc_volume v;
    segc_dicom_series_info info;
    CHECK_OK(segc_dicom_read_series(dir, NULL, &v, &info));
    check_axial_volume(&v, names[t]);
    CHECK(info.slices == kSlices && !strcmp(info.transfer_syntax, syntaxes[t]) &&
              !strcmp(info.description, "synthetic") &&
              fabs(info.spacing[2] - 2.0) < 1e-12,
          "%s: info %d %s", names[t], info.slices, info.transfer_syntax);
    segc_volume_free(&v);
  }
  return 0;
}

// Bits above BitsStored are not part of the value; PixelRepresentation 1
// sign-extends from BitsStored; a fractional rescale gives f32.
static int test_signed_and_rescaled(void) {
  const char *dir = folder("signed");
  const int16_t values[3] = {-5, 2047, -2048};
  for (int s = 0; s < 2; ++s) {
    uint16_t pixels[kRows * kColumns];
    craft_slice slice = axial_slice(s, pixels, CRAFT_EXPLICIT);
    slice.pixel_representation = 1;
    slice.intercept = 0.0;
    for (int p = 0; p < kRows * kColumns; ++p)  // 12-bit two's complement,
      pixels[p] = (uint16_t)((uint16_t)values[p % 3] & 0x0FFF) |  // junk above
                  (p % 2 ? 0xF000 : 0);
    char path[4200];
    snprintf(path, sizeof path, "%s/s%d", dir, s);
    CHECK(craft_write(path, &slice), "writing");
  }
  segc_volume v;
  CHECK_OK(segc_dicom_read_series(dir, NULL, &v, NULL));
  int wrong = 0;
  for (int i = 0; i < kColumns; ++i)
    for (int j = 0; j < kRows; ++j) {
      const int p = (kRows - 1 - j) * kColumns + i;
      wrong += segc_load_f32(v.data, v.dtype,
                             (size_t)segc_volume_offset(&v, i, j, 0)) !=
               (float)values[p % 3];
    }
  CHECK(v.dtype == SEGC_I16 && wrong == 0, "signed 12-bit: %d wrong (%s)",
        wrong, segc_dtype_name(v.dtype));
  segc_volume_free(&v);

  dir = folder("rescaled8");
  for (int s = 0; s < 2; ++s) {
    uint8_t pixels8[kRows * kColumns];
    uint16_t unused[kRows * kColumns];
    craft_slice slice = axial_slice(s, unused, CRAFT_IMPLICIT);
    slice.bits_allocated = 8;
    slice.bits_stored = 8;
    slice.slope = 0.5;
    slice.intercept = -10.25 * (s + 1);  // differs per slice
    for (int p = 0; p < kRows * kColumns; ++p) pixels8[p] = (uint8_t)(p * 8 + s);
    slice.pixels = pixels8;
    char path[4200];
    snprintf(path, sizeof path, "%s/s%d", dir, s);
    CHECK(craft_write(path, &slice), "writing");
  }
  CHECK_OK(segc_dicom_read_series(dir, NULL, &v, NULL));
  wrong = 0;
  for (int k = 0; k < 2; ++k)
    for (int i = 0; i < kColumns; ++i)
      for (int j = 0; j < kRows; ++j) {
        const int p = (kRows - 1 - j) * kColumns + i;
        const float want = (float)((p * 8 + k) * 0.5 - 10.25 * (k + 1));
        wrong += ((float *)v.data)[segc_volume_offset(&v, i, j, k)] != want;
      }
  CHECK(v.dtype == SEGC_F32 && wrong == 0, "8-bit rescaled: %d wrong (%s)",
        wrong, segc_dtype_name(v.dtype));
  segc_volume_free(&v);
  return 0;
}

static int test_compressed(void) {
  const char *names[4] = {"j2k", "j2k_signed", "jls", "jls_signed"};
  for (int t = 0; t < 4; ++t) {
    const bool j2k = t < 2, is_signed = t % 2 == 1;
    const char *dir = folder(names[t]);
    for (int s = 0; s < kSlices; ++s) {
      uint16_t pixels[kRows * kColumns];
      craft_slice slice = axial_slice(s, pixels, j2k ? CRAFT_JPEG2000 : CRAFT_JPEGLS);
      int32_t values[kRows * kColumns];
      for (int p = 0; p < kRows * kColumns; ++p) {
        // Signed: the same values shifted into -2048..2047, with the
        // intercept moved to keep the same HU.
        values[p] = is_signed ? pixels[p] - 2048 : pixels[p];
        pixels[p] = (uint16_t)values[p] & 0x0FFF;  // JPEG-LS: the bit pattern
      }
      if (is_signed) {
        slice.pixel_representation = 1;
        slice.intercept = -1024.0 + 2048.0;
      }
      craft_buffer code = {0};
      const bool encoded = j2k ? encode_jpeg2000(values, kRows, kColumns, 12,
                                                 is_signed, &code)
                               : encode_jpegls(pixels, kRows, kColumns, 12, &code);
      CHECK(encoded, "%s: encoding slice %d", names[t], s);
      slice.codestream = code.data;
      slice.codestream_size = code.size;
      slice.fragments = s == 1 ? 2 : 1;  // a frame split over two fragments
      char path[4200];
      snprintf(path, sizeof path, "%s/IM%d", dir, kSlices - 1 - s);
      CHECK(craft_write(path, &slice), "writing %s", path);
      free(code.data);
    }
    segc_volume v;
    segc_dicom_series_info info;
    CHECK_OK(segc_dicom_read_series(dir, NULL, &v, &info));
    check_axial_volume(&v, names[t]);
    segc_volume_free(&v);
  }
  return 0;
}

// ---- refusals -------------------------------------------------------------

static int test_refusals(void) {
  segc_volume v;
  // An unsupported transfer syntax, by name and UID.
  const char *dir = folder("baseline");
  uint16_t pixels[kRows * kColumns];
  craft_slice slice = axial_slice(0, pixels, CRAFT_JPEG_BASELINE);
  const uint8_t fake_jpeg[4] = {0xFF, 0xD8, 0xFF, 0xD9};
  slice.codestream = fake_jpeg;
  slice.codestream_size = sizeof fake_jpeg;
  CHECK(craft_write(test_path(dir, "a.dcm"), &slice), "writing");
  CHECK_FAILS(segc_dicom_read_series(dir, NULL, &v, NULL), SEGC_ERR_UNSUPPORTED,
              "a.dcm: DICOM: transfer syntax 1.2.840.10008.1.2.4.50 (JPEG "
              "Baseline) is not supported");

  // A file of another series in a syntax segc cannot decode matters only
  // when its series is chosen.
  dir = folder("baseline_other");
  write_axial_series(dir, CRAFT_EXPLICIT);
  slice = axial_slice(0, pixels, CRAFT_JPEG_BASELINE);
  slice.series_uid = "1.2.3.4.5";
  slice.codestream = fake_jpeg;
  slice.codestream_size = sizeof fake_jpeg;
  CHECK(craft_write(test_path(dir, "b.dcm"), &slice), "writing");
  CHECK_OK(segc_dicom_read_series(dir, "1.2.826.0.1.3680043.2.1143.1", &v, NULL));
  check_axial_volume(&v, "beside a JPEG Baseline series");
  segc_volume_free(&v);
  CHECK_FAILS(segc_dicom_read_series(dir, "1.2.3.4.5", &v, NULL),
              SEGC_ERR_UNSUPPORTED, "b.dcm: DICOM: transfer syntax "
              "1.2.840.10008.1.2.4.50 (JPEG Baseline) is not supported");

  // A rescale that overflows float.
  dir = folder("huge_slope");
  for (int s = 0; s < 2; ++s) {
    slice = axial_slice(s, pixels, CRAFT_EXPLICIT);
    slice.slope = 1e300;
    char path[4200];
    snprintf(path, sizeof path, "%s/s%d", dir, s);
    CHECK(craft_write(path, &slice), "writing");
  }
  CHECK_FAILS(segc_dicom_read_series(dir, NULL, &v, NULL), SEGC_ERR_NONFINITE,
              "give a non-finite value");

  // Encapsulated pixel data under a native syntax.
  dir = folder("encapsulated_native");
  slice = axial_slice(0, pixels, CRAFT_EXPLICIT);
  slice.codestream = fake_jpeg;
  slice.codestream_size = sizeof fake_jpeg;
  CHECK(craft_write(test_path(dir, "a.dcm"), &slice), "writing");
  CHECK_FAILS(segc_dicom_read_series(dir, NULL, &v, NULL), SEGC_ERR_FORMAT,
              "a.dcm: malformed DICOM: encapsulated pixel data with transfer "
              "syntax 1.2.840.10008.1.2.1");

  // A JPEG-LS frame of 16-bit samples that do not fit BitsStored 12.
  dir = folder("jls_range");
  for (int s = 0; s < 2; ++s) {
    slice = axial_slice(s, pixels, CRAFT_JPEGLS);
    pixels[3] = 0xFFFF;
    craft_buffer code = {0};
    CHECK(encode_jpegls(pixels, kRows, kColumns, 16, &code), "encoding");
    slice.codestream = code.data;
    slice.codestream_size = code.size;
    char path[4200];
    snprintf(path, sizeof path, "%s/s%d", dir, s);
    CHECK(craft_write(path, &slice), "writing");
    free(code.data);
  }
  CHECK_FAILS(segc_dicom_read_series(dir, NULL, &v, NULL), SEGC_ERR_FORMAT,
              "s0: decoded pixel value 65535 is outside the range of "
              "BitsStored 12");

  // Two series: refused without a choice, each listed; either can be read.
  dir = folder("two_series");
  write_axial_series(dir, CRAFT_EXPLICIT);
  for (int s = 0; s < 2; ++s) {
    slice = axial_slice(s, pixels, CRAFT_IMPLICIT);
    slice.series_uid = "1.2.3.4.5";
    slice.description = "scout";
    char path[4200];
    snprintf(path, sizeof path, "%s/other%d", dir, s);
    CHECK(craft_write(path, &slice), "writing");
  }
  CHECK_FAILS(segc_dicom_read_series(dir, NULL, &v, NULL), SEGC_ERR_INVALID,
              "2 DICOM series; choose one with --series UID: "
              "1.2.826.0.1.3680043.2.1143.1 \"synthetic\" (3 slices); "
              "1.2.3.4.5 \"scout\" (2 slices)");
  CHECK_FAILS(segc_dicom_read_series(dir, "9.9", &v, NULL), SEGC_ERR_INVALID,
              "no DICOM series 9.9; the folder holds: 1.2.826");
  CHECK_OK(segc_dicom_read_series(dir, "1.2.826.0.1.3680043.2.1143.1", &v, NULL));
  check_axial_volume(&v, "chosen series");
  segc_volume_free(&v);
  CHECK_OK(segc_dicom_read_series(dir, "1.2.3.4.5", &v, NULL));
  CHECK(v.dim[2] == 2, "the other series: %lld slices", (long long)v.dim[2]);
  segc_volume_free(&v);

  // A truncated file: one line naming it.
  dir = folder("truncated");
  write_axial_series(dir, CRAFT_EXPLICIT);
  CHECK(truncate(test_path(dir, "IM1"), 600) == 0, "truncate");
  CHECK_FAILS(segc_dicom_read_series(dir, NULL, &v, NULL), SEGC_ERR_FORMAT,
              "IM1: malformed DICOM: truncated");
  CHECK(!strchr(segc_error_message(), '\n'), "one line");

  // Gantry tilt: positions drift along y as z grows.
  dir = folder("tilt");
  for (int s = 0; s < kSlices; ++s) {
    slice = axial_slice(s, pixels, CRAFT_EXPLICIT);
    slice.position[1] += 0.2 * s;
    char path[4200];
    snprintf(path, sizeof path, "%s/s%d", dir, s);
    CHECK(craft_write(path, &slice), "writing");
  }
  CHECK_FAILS(segc_dicom_read_series(dir, NULL, &v, NULL), SEGC_ERR_UNSUPPORTED,
              "gantry tilt");

  // A missing slice: gaps 2 and 4 mm.
  dir = folder("gap");
  for (int s = 0; s < kSlices; ++s) {
    slice = axial_slice(s, pixels, CRAFT_EXPLICIT);
    if (s == 2) slice.position[2] += 2.0;
    char path[4200];
    snprintf(path, sizeof path, "%s/s%d", dir, s);
    CHECK(craft_write(path, &slice), "writing");
  }
  CHECK_FAILS(segc_dicom_read_series(dir, NULL, &v, NULL), SEGC_ERR_UNSUPPORTED,
              "slice spacing not uniform");

  // Two slices at one position.
  dir = folder("duplicate");
  for (int s = 0; s < 2; ++s) {
    slice = axial_slice(0, pixels, CRAFT_EXPLICIT);
    char path[4200];
    snprintf(path, sizeof path, "%s/s%d", dir, s);
    CHECK(craft_write(path, &slice), "writing");
  }
  CHECK_FAILS(segc_dicom_read_series(dir, NULL, &v, NULL), SEGC_ERR_UNSUPPORTED,
              "same position");

  // No DICOM at all; a folder that is not there.
  dir = folder("empty");
  CHECK_FAILS(segc_dicom_read_series(dir, NULL, &v, NULL), SEGC_ERR_FORMAT,
              "no DICOM image in this folder");
  CHECK_FAILS(segc_image_read(test_path(g_temp, "missing.nii.gz"), NULL, &v, NULL),
              SEGC_ERR_IO, "cannot open");
  return 0;
}

int main(void) {
  g_temp = test_temp_dir("dicom_read");
  test_syntaxes();
  test_signed_and_rescaled();
  test_compressed();
  test_refusals();
  char cleanup[4200];
  snprintf(cleanup, sizeof cleanup, "rm -rf '%s'", g_temp);
  if (system(cleanup) != 0) fprintf(stderr, "note: could not remove %s\n", g_temp);
  return test_finish("dicom_read");
}
