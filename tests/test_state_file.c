// segc's training-state file: bitwise round trip of every entry kind, the
// layout read independently (header fields, 64-byte aligned arrays, zlib's
// CRC-32 at the end), and refusal of truncated, corrupted, foreign and newer
// files.
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "io/state_file.h"
#include "util/test_util.h"

static uint8_t *read_file(const char *path, size_t *size) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  const long length = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *data = malloc((size_t)length);
  *size = fread(data, 1, (size_t)length, f);
  fclose(f);
  return data;
}

static uint32_t get_le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}

// Rewrites the trailing CRC so a deliberately malformed body gets past it.
static void fix_crc(uint8_t *bytes, size_t size) {
  const uint32_t crc = (uint32_t)crc32(0L, bytes, (uInt)(size - 4));
  for (int i = 0; i < 4; ++i) bytes[size - 4 + i] = (uint8_t)(crc >> (8 * i));
}

typedef struct {
  float params[4 * 3 * 3 * 3 * 2], moments[37], scalar[1], empty[1];
  float specials[6];
} sample_arrays;

static const char kConfig[] =
    "{\"lr\": 0.0001, \"spacing_mm\": [1.5, 1.5, 1.5], \"note\": \"µ ü 日本\"}";
static const int64_t kInts[] = {0, -1, INT64_MIN, INT64_MAX, (int64_t)1 << 40};
static const char *const kIntNames[] = {"zero", "minus_one", "min", "max",
                                        "step"};

static void fill(sample_arrays *a) {
  test_fill_uniform(a->params, 216, -1.0f, 1.0f, 1);
  test_fill_uniform(a->moments, 37, 0.0f, 1e-3f, 2);
  a->scalar[0] = 0.25f;
  const uint32_t bits[6] = {0x7f800000u, 0xff800000u, 0x7fc00123u,
                            0x80000000u, 0x00000001u, 0x7f7fffffu};
  memcpy(a->specials, bits, sizeof bits);
}

static segc_status build(const sample_arrays *a, segc_state_builder *b) {
  SEGC_TRY(segc_state_add_f32(b, "params", a->params, 5,
                              (int64_t[]){4, 3, 3, 3, 2}));
  SEGC_TRY(segc_state_add_f32(b, "adam.m", a->moments, 1, (int64_t[]){37}));
  SEGC_TRY(segc_state_add_f32(b, "scalar", a->scalar, 0, NULL));
  SEGC_TRY(segc_state_add_f32(b, "empty", a->empty, 2, (int64_t[]){3, 0}));
  SEGC_TRY(segc_state_add_f32(b, "specials", a->specials, 1, (int64_t[]){6}));
  for (int i = 0; i < 5; ++i) SEGC_TRY(segc_state_add_i64(b, kIntNames[i], kInts[i]));
  SEGC_TRY(segc_state_add_string(b, "config", kConfig));
  return segc_state_add_string(b, "empty_text", "");
}

static int test_round_trip(const char *dir, uint8_t **file_bytes, size_t *file_size) {
  sample_arrays a;
  fill(&a);
  segc_state_builder *b = NULL;
  CHECK_OK(segc_state_builder_create(&b));
  CHECK_OK(build(&a, b));
  const char *path = test_path(dir, "state.segc");
  CHECK_OK(segc_state_write(b, path));

  // Layout, read here without the library.
  size_t size = 0;
  uint8_t *bytes = read_file(path, &size);
  CHECK(bytes && size > 32 && memcmp(bytes, "SEGCSTAT", 8) == 0, "magic");
  CHECK(get_le32(bytes + 8) == 1 && get_le32(bytes + 12) == 12,
        "version %u, %u entries", get_le32(bytes + 8), get_le32(bytes + 12));
  CHECK(get_le32(bytes + 16) == size && get_le32(bytes + 20) == 0,
        "length field %u vs %zu", get_le32(bytes + 16), size);
  CHECK(get_le32(bytes + size - 4) == (uint32_t)crc32(0L, bytes, (uInt)(size - 4)),
        "trailing CRC-32 is zlib's");

  segc_state_file *f = NULL;
  CHECK_OK(segc_state_read(path, &f));
  CHECK(segc_state_count(f) == 12, "%d entries", segc_state_count(f));
  const char *order[12] = {"params", "adam.m", "scalar", "empty", "specials",
                           "zero", "minus_one", "min", "max", "step", "config",
                           "empty_text"};
  for (int i = 0; i < 12 && i < segc_state_count(f); ++i) {
    const segc_state_entry *e = segc_state_entry_at(f, i);
    CHECK(strcmp(e->name, order[i]) == 0, "entry %d is '%s'", i, e->name);
    CHECK(segc_state_find(f, order[i]) == e, "find '%s'", order[i]);
    CHECK(e->kind != SEGC_STATE_F32 || ((uintptr_t)e->data & 63) == 0,
          "'%s' is not 64-byte aligned", e->name);
  }
  const float *p = NULL;
  CHECK_OK(segc_state_get_f32(f, "params", 216, &p));
  CHECK(memcmp(p, a.params, sizeof a.params) == 0, "params bitwise");
  const segc_state_entry *e = segc_state_find(f, "params");
  CHECK(e->ndim == 5 && e->shape[0] == 4 && e->shape[4] == 2, "params shape");
  CHECK_OK(segc_state_get_f32(f, "adam.m", 37, &p));
  CHECK(memcmp(p, a.moments, sizeof a.moments) == 0, "moments bitwise");
  CHECK_OK(segc_state_get_f32(f, "scalar", 1, &p));
  CHECK(p[0] == 0.25f && segc_state_find(f, "scalar")->ndim == 0, "scalar");
  CHECK_OK(segc_state_get_f32(f, "empty", 0, &p));
  CHECK_OK(segc_state_get_f32(f, "specials", 6, &p));
  CHECK(memcmp(p, a.specials, sizeof a.specials) == 0, "specials bitwise");
  for (int i = 0; i < 5; ++i) {
    int64_t v = 7;
    CHECK_OK(segc_state_get_i64(f, kIntNames[i], &v));
    CHECK(v == kInts[i], "%s = %lld", kIntNames[i], (long long)v);
  }
  const char *text = NULL;
  CHECK_OK(segc_state_get_string(f, "config", &text));
  CHECK(strcmp(text, kConfig) == 0, "config text '%s'", text);
  CHECK_OK(segc_state_get_string(f, "empty_text", &text));
  CHECK(text[0] == '\0', "empty text");

  // Look-ups that fail say which file and which entry.
  int64_t v;
  CHECK_FAILS(segc_state_get_i64(f, "params", &v), SEGC_ERR_FORMAT,
              "state.segc: entry 'params' has kind f32 array, expected int64");
  CHECK_FAILS(segc_state_get_f32(f, "adam.v", -1, &p), SEGC_ERR_FORMAT,
              "state.segc has no entry 'adam.v'");
  CHECK_FAILS(segc_state_get_f32(f, "adam.m", 36, &p), SEGC_ERR_FORMAT,
              "'adam.m' holds 37 floats, expected 36");
  segc_state_free(f);

  // A second write of the same builder gives the same bytes.
  CHECK_OK(segc_state_write(b, test_path(dir, "again.segc")));
  size_t again_size = 0;
  uint8_t *again = read_file(test_path(dir, "again.segc"), &again_size);
  CHECK(again && again_size == size && memcmp(again, bytes, size) == 0,
        "writes are deterministic");
  free(again);
  unlink(test_path(dir, "again.segc"));
  unlink(path);
  segc_state_builder_free(b);
  *file_bytes = bytes;
  *file_size = size;
  return 0;
}

static void expect_refused(const char *what, const uint8_t *bytes, size_t size,
                           segc_status code, const char *needle) {
  segc_state_file *f = (segc_state_file *)1;  // must come back NULL
  segc_clear_error();
  const segc_status status = segc_state_parse(bytes, size, &f);
  CHECK(status == code && test_contains(segc_error_message(), needle) && !f,
        "%s: got %s '%s', wanted %s with '%s'", what, segc_status_name(status),
        segc_error_message(), segc_status_name(code), needle);
}

static int test_damage(const uint8_t *good, size_t size) {
  uint8_t *bad = malloc(size);

  // Every truncation is refused; a file cut short names that.
  int refused = 0;
  for (size_t cut = 0; cut < size; ++cut) {
    segc_state_file *f = NULL;
    refused += segc_state_parse(good, cut, &f) == SEGC_ERR_FORMAT && !f;
  }
  CHECK(refused == (int)size, "%d of %zu truncations refused", refused, size);
  expect_refused("cut by 100 bytes", good, size - 100, SEGC_ERR_FORMAT,
                 "truncated");

  // Every single flipped byte is refused (the CRC, or a header check first).
  refused = 0;
  for (size_t at = 0; at < size; ++at) {
    memcpy(bad, good, size);
    bad[at] ^= 0x04;
    segc_state_file *f = NULL;
    refused += segc_state_parse(bad, size, &f) != SEGC_OK && !f;
  }
  CHECK(refused == (int)size, "%d of %zu flipped bytes refused", refused, size);
  memcpy(bad, good, size);
  bad[size / 2] ^= 0x01;
  expect_refused("flipped byte", bad, size, SEGC_ERR_FORMAT, "CRC-32 mismatch");

  memcpy(bad, good, size);
  memcpy(bad, "SEGCSTAX", 8);
  expect_refused("wrong magic", bad, size, SEGC_ERR_FORMAT, "no SEGCSTAT magic");
  expect_refused("a PyTorch file", (const uint8_t *)"PK\x03\x04 and more bytes "
                 "than a header needs", 40, SEGC_ERR_FORMAT, "no SEGCSTAT magic");
  memcpy(bad, good, size);
  bad[8] = 2;  // format version 2
  expect_refused("newer version", bad, size, SEGC_ERR_UNSUPPORTED,
                 "written by a newer segc (format version 2; this build reads "
                 "up to 1)");

  // Malformed bodies behind a valid CRC. The first entry, "params", starts
  // at byte 24: name length (2), name (6), kind, ndim.
  memcpy(bad, good, size);
  bad[24 + 2 + 6] = 9;
  fix_crc(bad, size);
  expect_refused("unknown kind", bad, size, SEGC_ERR_FORMAT,
                 "entry 'params': unknown kind 9");
  memcpy(bad, good, size);
  bad[24 + 2 + 6 + 1 + 1] = 5;  // params shape[0] 4 -> 5: bytes no longer match
  fix_crc(bad, size);
  expect_refused("shape vs bytes", bad, size, SEGC_ERR_FORMAT,
                 "'params': 864 bytes do not match its shape");
  memcpy(bad, good, size);
  memcpy(bad + 24 + 2, "scalar", 6);  // same length as "params"
  fix_crc(bad, size);
  expect_refused("duplicate name", bad, size, SEGC_ERR_FORMAT,
                 "entry 'scalar' appears twice");
  memcpy(bad, good, size);
  bad[12] = 13;  // one more entry than there is
  fix_crc(bad, size);
  expect_refused("count too high", bad, size, SEGC_ERR_FORMAT, "entry 12");
  free(bad);
  return 0;
}

static int test_builder_and_writer_errors(const char *dir) {
  segc_state_builder *b = NULL;
  CHECK_OK(segc_state_builder_create(&b));
  const float x[2] = {1, 2};
  CHECK_OK(segc_state_add_f32(b, "x", x, 1, (int64_t[]){2}));
  CHECK_FAILS(segc_state_add_f32(b, "x", x, 1, (int64_t[]){2}),
              SEGC_ERR_INVALID, "'x' added twice");
  CHECK_FAILS(segc_state_add_i64(b, "", 1), SEGC_ERR_INVALID, "empty");
  CHECK_FAILS(segc_state_add_string(b, "bad", "\xc0\x80"), SEGC_ERR_INVALID,
              "not UTF-8");
  CHECK_FAILS(segc_state_add_f32(b, "neg", x, 1, (int64_t[]){-2}),
              SEGC_ERR_INVALID, "negative");
  CHECK_FAILS(segc_state_add_f32(b, "deep", x, 9, (int64_t[9]){1}),
              SEGC_ERR_INVALID, "9 dimensions");
  const char *missing = test_path(dir, "no_folder/state.segc");
  CHECK_FAILS(segc_state_write(b, missing), SEGC_ERR_IO, "no_folder/state.segc");
  char temp[4200];
  snprintf(temp, sizeof temp, "%s.tmp.%ld", missing, (long)getpid());
  CHECK(access(temp, F_OK) != 0, "temp file left");
  // A rename onto a folder fails after the data is written: no temp left.
  const char *folder = test_path(dir, "a_folder");
  CHECK(mkdir(folder, 0755) == 0, "mkdir");
  CHECK_FAILS(segc_state_write(b, folder), SEGC_ERR_IO, "rename");
  snprintf(temp, sizeof temp, "%s.tmp.%ld", folder, (long)getpid());
  CHECK(access(temp, F_OK) != 0, "temp file left after a failed rename");
  rmdir(folder);
  segc_state_builder_free(b);

  // No entries at all is a valid (if useless) state.
  CHECK_OK(segc_state_builder_create(&b));
  const char *path = test_path(dir, "empty.segc");
  CHECK_OK(segc_state_write(b, path));
  segc_state_file *f = NULL;
  CHECK_OK(segc_state_read(path, &f));
  CHECK(segc_state_count(f) == 0 && !segc_state_find(f, "x"), "empty state");
  segc_state_free(f);
  segc_state_builder_free(b);
  unlink(path);
  CHECK_FAILS(segc_state_read(path, &f), SEGC_ERR_IO, "empty.segc");
  return 0;
}

int main(void) {
  const char *dir = test_temp_dir("state_file");
  uint8_t *bytes = NULL;
  size_t size = 0;
  if (test_round_trip(dir, &bytes, &size) != 0) return test_finish_failed();
  if (test_damage(bytes, size) != 0) return test_finish_failed();
  free(bytes);
  if (test_builder_and_writer_errors(dir) != 0) return test_finish_failed();
  rmdir(dir);
  return test_finish("state_file");
}
