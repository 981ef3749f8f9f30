// The DICOM SEG writer (data/dicom_seg_write.h) on a small synthetic series
// (3 slices of 5 x 7 pixels, written out of order, anonymised: no study,
// series... only the file meta's instance UIDs), read back with segc's own
// DICOM parser: the SOP class, geometry, frame count, 1-bit pixels (frames
// packed across byte boundaries) equal to the label, the source's UIDs and
// codes referenced; refusals (empty label, wrong grid, bad values, folder
// missing) leave no file; dciodvfy finds no error where it is installed.
// Also the UID maths (data/dicom_uid.h).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/dicom_internal.h"
#include "data/dicom_seg_write.h"
#include "data/dicom_uid.h"
#include "dicom_craft.h"
#include "util/test_util.h"

enum { kRows = 5, kColumns = 7, kSlices = 3, kClasses = 10 };

static const char *const kNames[kClasses] = {
    "background", "spleen", "kidney_right", "kidney_left", "gallbladder",
    "liver", "stomach", "aorta", "inferior_vena_cava",
    "portal_vein_and_splenic_vein"};

static int test_uids(void) {
  char digits[40];
  const uint32_t zero[4] = {0, 0, 0, 0}, small[4] = {0, 0, 0, 1234567890u};
  const uint32_t full[4] = {0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu};
  const uint32_t high[4] = {1, 0, 0, 0};
  segc_dicom_u128_decimal(zero, digits);
  CHECK(!strcmp(digits, "0"), "zero: %s", digits);
  segc_dicom_u128_decimal(small, digits);
  CHECK(!strcmp(digits, "1234567890"), "small: %s", digits);
  segc_dicom_u128_decimal(full, digits);
  CHECK(!strcmp(digits, "340282366920938463463374607431768211455"), "2^128-1: %s",
        digits);
  segc_dicom_u128_decimal(high, digits);
  CHECK(!strcmp(digits, "79228162514264337593543950336"), "2^96: %s", digits);
  char a[64], b[64];
  CHECK_OK(segc_dicom_new_uid(a, sizeof a));
  CHECK_OK(segc_dicom_new_uid(b, sizeof b));
  CHECK(!strncmp(a, "2.25.", 5) && strlen(a) <= 44 && strcmp(a, b) != 0 &&
            (a[5] != '0' || a[6] == '\0'),
        "new UIDs %s %s", a, b);
  return 0;
}

static bool contains_bytes(const uint8_t *hay, size_t n, const char *needle) {
  const size_t m = strlen(needle);
  for (size_t i = 0; i + m <= n; ++i)
    if (!memcmp(hay + i, needle, m)) return true;
  return false;
}

// Writes the series: slice k at z = 2k, files in the order 2, 0, 1.
static void write_series(const char *folder) {
  uint16_t pixels[kRows * kColumns] = {0};
  const int order[kSlices] = {2, 0, 1};
  for (int f = 0; f < kSlices; ++f) {
    craft_slice slice = craft_default_slice(kRows, kColumns);
    slice.series_uid = "";
    slice.instance = 10 + order[f];
    slice.position[0] = -3.0;
    slice.position[1] = 4.5;
    slice.position[2] = 2.0 * order[f];
    slice.pixels = pixels;
    char name[32];
    snprintf(name, sizeof name, "file%d.dcm", f);
    const char *path = test_path(folder, name);
    CHECK(craft_write(path, &slice), "writing %s", path);
  }
}

// The label: liver (5) in slices 0 and 2, portal vein (9) in slice 1; voxel
// values chosen by position so that rows and columns are told apart.
static void fill_label(segc_volume *label) {
  uint8_t *v = label->data;
  for (int k = 0; k < kSlices; ++k)
    for (int j = 0; j < kRows; ++j)
      for (int i = 0; i < kColumns; ++i) {
        const bool on = (i + 2 * j + k) % 3 == 0;
        v[segc_volume_offset(label, i, j, k)] = on ? (k == 1 ? 9 : 5) : 0;
      }
}

// Checks the written SEG's pixels: frame f is (segment, slice) in the
// order liver@0, liver@2, portal@1.
static void check_pixels(const uint8_t *bits, const segc_volume *label) {
  const int frame_slice[3] = {0, 2, 1}, frame_class[3] = {5, 5, 9};
  int wrong = 0;
  for (int f = 0; f < 3; ++f)
    for (int r = 0; r < kRows; ++r)
      for (int c = 0; c < kColumns; ++c) {
        const size_t bit = (size_t)(f * kRows + r) * kColumns + (size_t)c;
        const int got = (bits[bit / 8] >> (bit % 8)) & 1;
        const int k = frame_slice[f], j = kRows - 1 - r;
        const uint8_t value =
            ((uint8_t *)label->data)[segc_volume_offset(label, c, j, k)];
        wrong += got != (value == frame_class[f]);
      }
  CHECK(wrong == 0, "%d pixels differ from the label", wrong);
}

int main(void) {
  test_uids();
  const char *temp = test_temp_dir("dicom_seg");
  char series[4200];
  snprintf(series, sizeof series, "%s/series", temp);
  CHECK(mkdir(series, 0777) == 0, "mkdir %s", series);
  write_series(series);
  segc_volume ct;
  segc_dicom_source source;
  CHECK_OK(segc_dicom_read_series_source(series, NULL, &ct, NULL, &source));
  CHECK(source.count == kSlices && source.rows == kRows &&
            source.columns == kColumns && source.slices[0].position[2] == 0.0 &&
            source.slices[2].position[2] == 4.0 &&
            !strcmp(source.slices[1].sop_instance,
                    "1.2.826.0.1.3680043.2.1143.9.11"),
        "source: %d slices, slice 1 is %s", source.count,
        source.slices[1].sop_instance);
  segc_volume label;
  const int64_t dim[3] = {kColumns, kRows, kSlices};
  CHECK_OK(segc_volume_alloc(&label, SEGC_U8, dim));
  fill_label(&label);
  const segc_dicom_seg_options options = {
      .source = &source, .names = kNames, .name_count = kClasses,
      .algorithm_name = "segc SegResNet", .software_version = "segc 0.10.0"};
  const char *seg_path = test_path(temp, "seg.dcm");
  segc_dicom_seg_summary summary;
  CHECK_OK(segc_dicom_seg_write(seg_path, &label, &options, &summary));
  CHECK(summary.segments == 2 && summary.frames == 3 && summary.new_study_uid &&
            summary.new_series_reference && summary.new_frame_of_reference,
        "summary: %d segments, %d frames", summary.segments, summary.frames);

  segc_dicom_buffer buffer;
  bool part10 = false;
  CHECK_OK(segc_dicom_load(seg_path, &buffer, &part10));
  segc_dicom_attributes a;
  CHECK_OK(segc_dicom_parse(&buffer, seg_path, &a));
  CHECK(!strcmp(a.sop_class, "1.2.840.10008.5.1.4.1.1.66.4") &&
            !strcmp(a.transfer_syntax, "1.2.840.10008.1.2.1"),
        "class %s syntax %s", a.sop_class, a.transfer_syntax);
  CHECK(a.rows == kRows && a.columns == kColumns && a.frames == 3 &&
            a.bits_allocated == 1 && a.bits_stored == 1 && a.high_bit == 0 &&
            a.samples_per_pixel == 1 && !strcmp(a.photometric, "MONOCHROME2"),
        "%d x %d, %d frames, %d bits", a.rows, a.columns, a.frames,
        a.bits_allocated);
  CHECK(!strncmp(a.series_uid, "2.25.", 5) && !strncmp(a.sop_instance, "2.25.", 5) &&
            !strncmp(a.study.study_uid, "2.25.", 5) &&
            !strncmp(a.study.frame_of_reference_uid, "2.25.", 5),
        "new UIDs: series %s study %s", a.series_uid, a.study.study_uid);
  // 3 frames of 35 bits: 105 bits, 14 bytes (even).
  CHECK(a.has_pixel_data && a.pixel_length == 14, "pixel data of %zu bytes",
        a.pixel_length);
  if (a.has_pixel_data && a.pixel_length == 14)
    check_pixels(buffer.dataset + a.pixel_offset, &label);
  const uint8_t *bytes = buffer.file;
  const size_t n = buffer.file_size;
  CHECK(contains_bytes(bytes, n, "1.2.826.0.1.3680043.2.1143.9.10") &&
            contains_bytes(bytes, n, "1.2.826.0.1.3680043.2.1143.9.12"),
        "the source slices are referenced");
  CHECK(contains_bytes(bytes, n, "10200004") && contains_bytes(bytes, n, "Liver") &&
            contains_bytes(bytes, n, "99SEGC") &&
            contains_bytes(bytes, n, "segc-9") &&
            contains_bytes(bytes, n, "segc structure names") &&
            contains_bytes(bytes, n, "123037004") &&
            !contains_bytes(bytes, n, "64033007"),
        "segment codes: liver SNOMED, the portal vein private, no kidney");
  CHECK(contains_bytes(bytes, n, "AUTOMATIC") &&
            contains_bytes(bytes, n, "segc SegResNet") &&
            contains_bytes(bytes, n, "DERIVED\\PRIMARY") &&
            contains_bytes(bytes, n, "121322") && contains_bytes(bytes, n, "113076"),
        "algorithm and derivation");
  segc_dicom_buffer_free(&buffer);
  // dciodvfy (dicom3tools), where installed: no error.
  if (system("command -v dciodvfy >/dev/null 2>&1") == 0) {
    char command[8600];
    snprintf(command, sizeof command, "dciodvfy %s 2>&1 | grep -c '^Error' "
             ">%s/errors.txt", seg_path, temp);
    CHECK(system(command) != -1, "running dciodvfy");
    FILE *f = fopen(test_path(temp, "errors.txt"), "r");
    int errors = -1;
    CHECK(f && fscanf(f, "%d", &errors) == 1 && errors == 0,
          "dciodvfy reports %d errors on %s", errors, seg_path);
    if (f) fclose(f);
  } else {
    printf("dicom_seg: dciodvfy part skipped: not found (apt-get install "
           "dicom3tools)\n");
  }

  // Refusals: nothing written.
  const char *refused = test_path(temp, "refused.dcm");
  memset(label.data, 0, (size_t)segc_volume_numel(&label));
  CHECK_FAILS(segc_dicom_seg_write(refused, &label, &options, NULL),
              SEGC_ERR_INVALID, "holds no structure");
  ((uint8_t *)label.data)[3] = kClasses;
  CHECK_FAILS(segc_dicom_seg_write(refused, &label, &options, NULL),
              SEGC_ERR_INVALID, "label value 10, but only 10 classes");
  segc_volume small;
  const int64_t small_dim[3] = {kColumns, kRows, kSlices - 1};
  CHECK_OK(segc_volume_alloc(&small, SEGC_U8, small_dim));
  CHECK_FAILS(segc_dicom_seg_write(refused, &small, &options, NULL),
              SEGC_ERR_INVALID, "the label is 7 x 5 x 2, the series 7 x 5 x 3");
  fill_label(&label);
  CHECK_FAILS(segc_dicom_seg_write(test_path(temp, "none/seg.dcm"), &label,
                                   &options, NULL),
              SEGC_ERR_IO, "none/seg.dcm");
  CHECK(access(refused, F_OK) != 0, "no refused file");
  segc_volume_free(&small);
  segc_volume_free(&label);
  segc_volume_free(&ct);
  segc_dicom_source_free(&source);
  return test_finish("dicom_seg");
}
