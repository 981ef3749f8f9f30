// Robustness of the DICOM reader (data/dicom.h) on files this test writes
// (tests/dicom_craft.h): every truncation of a valid file (explicit,
// implicit, deflated, JPEG 2000) is an error naming the folder or file in one
// line, never a volume; random byte flips (outside the JPEG 2000 codestream:
// the codec is not under test) give an error or a volume, never a crash.
// Run under the sanitizer build, this is the reader's fuzz check.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/dicom.h"
#include "dicom_craft.h"
#include "dicom_encode.h"
#include "util/test_util.h"

enum { kRows = 6, kColumns = 5 };

static const char *g_temp;

static const char *folder(const char *name) {
  static char path[4096];
  snprintf(path, sizeof path, "%s/%s", g_temp, name);
  if (mkdir(path, 0755) != 0) {
    fprintf(stderr, "mkdir %s failed\n", path);
    exit(1);
  }
  return path;
}

// One axial CT slice (12 bits stored, intercept -1024) in `syntax`.
static craft_slice test_slice(uint16_t *pixels, const char *syntax) {
  craft_slice slice = craft_default_slice(kRows, kColumns);
  slice.transfer_syntax = syntax;
  for (int p = 0; p < kRows * kColumns; ++p) pixels[p] = (uint16_t)(p * 131 % 4096);
  slice.pixels = pixels;
  slice.instance = 1;
  return slice;
}

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static uint64_t next_random(void) {  // xorshift64*
  g_rng ^= g_rng >> 12;
  g_rng ^= g_rng << 25;
  g_rng ^= g_rng >> 27;
  return g_rng * 2685821657736338717ull;
}

// Every truncation of `file` is an error; random byte flips (outside the
// codestream for the JPEG syntaxes: the codecs are not under test) give an
// error or a volume.
static int sweep(const char *name, const craft_buffer *file, size_t protect_from) {
  const char *dir = folder(name);
  const char *path = test_path(dir, "slice.dcm");
  int survived = 0;
  for (size_t cut = 0; cut < file->size; ++cut) {
    CHECK(craft_write_bytes(path, file->data, cut), "write");
    segc_volume v;
    segc_clear_error();
    const segc_status status = segc_dicom_read_series(dir, NULL, &v, NULL);
    if (status == SEGC_OK) {
      ++survived;
      segc_volume_free(&v);
    } else {
      CHECK(test_contains(segc_error_message(), dir) &&
                !strchr(segc_error_message(), '\n'),
            "%s cut at %zu: message '%s'", name, cut, segc_error_message());
    }
  }
  CHECK(survived == 0, "%s: %d truncations were read as valid", name, survived);
  uint8_t *copy = malloc(file->size);
  CHECK(copy != NULL, "malloc");
  if (!copy) return 0;
  const size_t limit = protect_from ? protect_from : file->size;
  for (int trial = 0; trial < 600; ++trial) {
    memcpy(copy, file->data, file->size);
    const int flips = 1 + (int)(next_random() % 4);
    for (int f = 0; f < flips; ++f) {
      const size_t at = 132 + next_random() % (limit - 132);
      copy[at] = (uint8_t)next_random();
    }
    CHECK(craft_write_bytes(path, copy, file->size), "write");
    segc_volume v;
    if (segc_dicom_read_series(dir, NULL, &v, NULL) == SEGC_OK)
      segc_volume_free(&v);
  }
  free(copy);
  return 0;
}

static int test_robustness(void) {
  const char *syntaxes[4] = {CRAFT_EXPLICIT, CRAFT_IMPLICIT, CRAFT_DEFLATED,
                             CRAFT_JPEG2000};
  const char *names[4] = {"fuzz_explicit", "fuzz_implicit", "fuzz_deflated",
                          "fuzz_j2k"};
  for (int t = 0; t < 4; ++t) {
    uint16_t pixels[kRows * kColumns];
    craft_slice slice = test_slice(pixels, syntaxes[t]);
    craft_buffer code = {0};
    if (t == 3) {
      int32_t values[kRows * kColumns];
      for (int p = 0; p < kRows * kColumns; ++p) values[p] = pixels[p];
      CHECK(encode_jpeg2000(values, kRows, kColumns, 12, false, &code), "j2k");
      slice.codestream = code.data;
      slice.codestream_size = code.size;
    }
    craft_buffer file;
    CHECK(craft_file(&slice, &file), "crafting %s", names[t]);
    sweep(names[t], &file, t == 3 ? file.size - code.size - 16 : 0);
    free(file.data);
    free(code.data);
  }
  return 0;
}

int main(void) {
  g_temp = test_temp_dir("dicom_robustness");
  test_robustness();
  char cleanup[4200];
  snprintf(cleanup, sizeof cleanup, "rm -rf '%s'", g_temp);
  if (test_failures == 0 && system(cleanup) != 0)
    fprintf(stderr, "note: could not remove %s\n", g_temp);
  return test_finish("dicom_robustness");
}
