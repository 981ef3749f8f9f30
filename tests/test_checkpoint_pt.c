// PyTorch checkpoints: every fixture written by torch.save (see
// tools/make_checkpoint_fixtures.py) read back key by key and bit by bit,
// C write -> C read round trips, and the writer's own failure paths.
// Malformed inputs are in test_checkpoint_pt_errors.c.
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/checkpoint_pt.h"
#include "io/checkpoint_pt_internal.h"
#include "io/zip_archive.h"
#include "util/test_util.h"

static const char *fixture_dir(void) {
  static char dir[4096];
  const char *source = getenv("SEGC_SOURCE_DIR");
  snprintf(dir, sizeof dir, "%s/tests/data/checkpoints",
           source && *source ? source : ".");
  return dir;
}

static char *read_whole_file(const char *path, size_t *size) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *data = NULL;
  if (fseek(f, 0, SEEK_END) == 0) {
    const long length = ftell(f);
    if (length >= 0 && fseek(f, 0, SEEK_SET) == 0) {
      data = malloc((size_t)length + 1);
      if (data && fread(data, 1, (size_t)length, f) != (size_t)length) {
        free(data);
        data = NULL;
      }
      if (data) {
        data[length] = '\0';
        *size = (size_t)length;
      }
    }
  }
  fclose(f);
  return data;
}

// Element i's raw bits (4 bytes for f32, 2 for f16/bf16).
static uint32_t element_bits(const segc_pt_tensor *t, int64_t i) {
  if (t->dtype == SEGC_F32) {
    uint32_t bits;
    memcpy(&bits, (const uint8_t *)t->data + 4 * i, 4);
    return bits;
  }
  uint16_t bits;
  memcpy(&bits, (const uint8_t *)t->data + 2 * i, 2);
  return bits;
}

static int64_t numel_of(const segc_pt_tensor *t) {
  int64_t n = 1;
  for (int d = 0; d < t->ndim; ++d) n *= t->shape[d];
  return n;
}

// Compares one tensor with its expected.json record: name, dtype, shape and
// the bits of every element.
static void check_tensor(const char *fixture, const segc_pt_tensor *t,
                         const cJSON *want) {
  const char *name = cJSON_GetObjectItem(want, "name")->valuestring;
  const char *dtype = cJSON_GetObjectItem(want, "dtype")->valuestring;
  const cJSON *shape = cJSON_GetObjectItem(want, "shape");
  const cJSON *bits = cJSON_GetObjectItem(want, "bits");
  CHECK(strcmp(t->name, name) == 0, "%s: key '%s', expected '%s'", fixture,
        t->name, name);
  CHECK(strcmp(segc_dtype_name(t->dtype), dtype) == 0, "%s/%s: dtype %s vs %s",
        fixture, name, segc_dtype_name(t->dtype), dtype);
  CHECK(t->ndim == cJSON_GetArraySize(shape), "%s/%s: ndim %d vs %d", fixture,
        name, t->ndim, cJSON_GetArraySize(shape));
  if (t->ndim != cJSON_GetArraySize(shape)) return;
  for (int d = 0; d < t->ndim; ++d)
    CHECK(t->shape[d] == (int64_t)cJSON_GetArrayItem(shape, d)->valuedouble,
          "%s/%s: shape[%d] = %lld", fixture, name, d, (long long)t->shape[d]);
  const int64_t n = numel_of(t);
  CHECK(n == cJSON_GetArraySize(bits), "%s/%s: %lld elements vs %d", fixture,
        name, (long long)n, cJSON_GetArraySize(bits));
  if (n != cJSON_GetArraySize(bits)) return;
  int64_t mismatches = 0, first = -1;
  const cJSON *item = bits->child;
  for (int64_t i = 0; i < n; ++i, item = item->next) {
    if (element_bits(t, i) != (uint32_t)item->valuedouble) {
      if (first < 0) first = i;
      ++mismatches;
    }
  }
  CHECK(mismatches == 0, "%s/%s: %lld elements differ, first at %lld", fixture,
        name, (long long)mismatches, (long long)first);
}

static int test_fixtures(void) {
  size_t size = 0;
  char *text = read_whole_file(test_path(fixture_dir(), "expected.json"), &size);
  CHECK(text != NULL, "cannot read %s/expected.json", fixture_dir());
  if (!text) return 1;
  cJSON *expected = cJSON_Parse(text);
  free(text);
  CHECK(expected != NULL, "expected.json does not parse");
  if (!expected) return 1;
  int fixtures = 0;
  for (const cJSON *entry = expected->child; entry; entry = entry->next) {
    const char *fixture = entry->string;
    const char *path = test_path(fixture_dir(), fixture);
    segc_pt_state_dict dict;
    const cJSON *error = cJSON_GetObjectItem(entry, "error");
    ++fixtures;
    if (error) {
      segc_clear_error();
      const segc_status status = segc_pt_read(path, &dict);
      CHECK(status != SEGC_OK, "%s must be refused", fixture);
      CHECK(test_contains(segc_error_message(), error->valuestring) &&
                test_contains(segc_error_message(), fixture),
            "%s: message '%s' should name the file and say '%s'", fixture,
            segc_error_message(), error->valuestring);
      CHECK(dict.count == 0 && dict.tensors == NULL, "%s: output left empty",
            fixture);
      continue;
    }
    CHECK_OK(segc_pt_read(path, &dict));
    const cJSON *tensors = cJSON_GetObjectItem(entry, "tensors");
    CHECK(dict.count == cJSON_GetArraySize(tensors), "%s: %d tensors, want %d",
          fixture, dict.count, cJSON_GetArraySize(tensors));
    int i = 0;
    for (const cJSON *want = tensors->child; want && i < dict.count;
         want = want->next, ++i) {
      check_tensor(fixture, &dict.tensors[i], want);
      const char *name = cJSON_GetObjectItem(want, "name")->valuestring;
      CHECK(segc_pt_find(&dict, name) == &dict.tensors[i], "find '%s'", name);
    }
    CHECK(segc_pt_find(&dict, "no.such.key") == NULL, "find of a missing key");
    segc_pt_free(&dict);
    CHECK(dict.count == 0 && dict.tensors == NULL, "free empties the dict");
  }
  CHECK(fixtures >= 6, "only %d fixtures in expected.json", fixtures);
  cJSON_Delete(expected);
  return 0;
}

enum { kLayerCount = 40 };  // enough memo entries to need LONG_BINPUT (> 255)

typedef struct {
  segc_pt_state_dict dict;
  segc_pt_tensor tensors[kLayerCount + 16];
} owned_dict;

static void add_tensor(owned_dict *o, const char *name, segc_dtype dtype,
                       int ndim, const int64_t *shape, uint64_t stream) {
  segc_pt_tensor *t = &o->tensors[o->dict.count++];
  memset(t, 0, sizeof *t);
  t->name = strdup(name);
  t->dtype = dtype;
  t->ndim = ndim;
  int64_t n = 1;
  for (int d = 0; d < ndim; ++d) n *= (t->shape[d] = shape[d]);
  float *values = malloc(sizeof(float) * (size_t)(n ? n : 1));
  test_fill_uniform(values, n, -2.0f, 2.0f, stream);
  t->data = malloc(segc_dtype_size(dtype) * (size_t)(n ? n : 1));
  segc_convert(values, SEGC_F32, t->data, dtype, (size_t)n);
  free(values);
}

static void free_owned(owned_dict *o) {
  for (int i = 0; i < o->dict.count; ++i) {
    free(o->tensors[i].name);
    free(o->tensors[i].data);
  }
  o->dict.count = 0;
}

// Shapes that cover 0 to 8 dims, an empty tensor, all three dtypes, special
// values, an int above 65535 in the pickle, and many keys.
static void make_round_trip_dict(owned_dict *o) {
  memset(o, 0, sizeof *o);
  o->dict.tensors = o->tensors;
  add_tensor(o, "convInit.conv.weight", SEGC_F32, 5, (int64_t[]){8, 1, 3, 3, 3}, 1);
  add_tensor(o, "convInit.conv.bias", SEGC_F32, 1, (int64_t[]){8}, 2);
  add_tensor(o, "scalar", SEGC_F32, 0, NULL, 3);
  add_tensor(o, "empty", SEGC_F32, 2, (int64_t[]){0, 4}, 4);
  add_tensor(o, "eight.dims", SEGC_F32, 8, (int64_t[]){1, 2, 1, 2, 1, 2, 1, 3}, 5);
  add_tensor(o, "f16.weight", SEGC_F16, 3, (int64_t[]){2, 3, 4}, 6);
  add_tensor(o, "bf16.long", SEGC_BF16, 1, (int64_t[]){70000}, 7);
  add_tensor(o, "specials", SEGC_F32, 1, (int64_t[]){6}, 8);
  const uint32_t specials[6] = {0x7f800000u, 0xff800000u, 0x7fc12345u,
                                0x80000000u, 0x00000001u, 0x7f7fffffu};
  memcpy(o->tensors[o->dict.count - 1].data, specials, sizeof specials);
  for (int i = 0; i < kLayerCount; ++i) {
    char name[64];
    snprintf(name, sizeof name, "layers.%d.weight", i);
    add_tensor(o, name, i % 3 == 0 ? SEGC_BF16 : SEGC_F32, 2,
               (int64_t[]){2, 1 + i % 4}, 100 + (uint64_t)i);
  }
}

// Same keys in the same order, same dtypes and shapes, identical bytes.
static void check_same_dict(const char *what, const segc_pt_state_dict *got,
                            const segc_pt_state_dict *want) {
  CHECK(got->count == want->count, "%s: %d tensors, want %d", what,
        got->count, want->count);
  for (int i = 0; i < got->count && i < want->count; ++i) {
    const segc_pt_tensor *a = &got->tensors[i], *b = &want->tensors[i];
    CHECK(strcmp(a->name, b->name) == 0, "%s: key %d '%s' vs '%s'", what, i,
          a->name, b->name);
    CHECK(a->dtype == b->dtype && a->ndim == b->ndim &&
              memcmp(a->shape, b->shape, sizeof(int64_t) * (size_t)a->ndim) == 0,
          "%s: '%s' dtype or shape differs", what, a->name);
    const int64_t bytes = segc_pt_tensor_bytes(b);
    CHECK(segc_pt_tensor_bytes(a) == bytes &&
              (bytes == 0 || memcmp(a->data, b->data, (size_t)bytes) == 0),
          "%s: '%s' bytes differ", what, a->name);
    CHECK(((uintptr_t)a->data & 63) == 0, "%s: '%s' data not 64-byte aligned",
          what, a->name);
  }
}

// The archive layout torch expects: archive/ records, 64-byte aligned data.
static void check_layout(const char *path, bool zip64) {
  size_t size = 0;
  char *bytes = read_whole_file(path, &size);
  CHECK(bytes != NULL, "cannot read back %s", path);
  if (!bytes) return;
  segc_zip_reader zip;
  if (segc_zip_open(&zip, (const uint8_t *)bytes, size) == SEGC_OK) {
    CHECK(zip.zip64 == zip64, "%s: zip64 record %d", path, (int)zip.zip64);
    for (size_t i = 0; i < zip.count; ++i) {
      const segc_zip_entry *e = &zip.entries[i];
      CHECK(e->data_offset % 64 == 0, "%.*s at offset %llu", (int)e->name_length,
            (const char *)e->name, (unsigned long long)e->data_offset);
      CHECK(e->name_length > 8 && memcmp(e->name, "archive/", 8) == 0,
            "entry '%.*s' outside archive/", (int)e->name_length, e->name);
    }
    CHECK(segc_zip_find(&zip, "archive/version", 15) != NULL, "version record");
    segc_zip_close(&zip);
  } else {
    CHECK(false, "%s does not open as zip: %s", path, segc_error_message());
  }
  free(bytes);
}

// expected.json's format, read by tools/check_checkpoint_loads.py.
static void write_expected_json(const char *path, const segc_pt_state_dict *d) {
  cJSON *root = cJSON_CreateObject(), *list = cJSON_CreateArray();
  cJSON_AddItemToObject(root, "tensors", list);
  for (int i = 0; i < d->count; ++i) {
    const segc_pt_tensor *t = &d->tensors[i];
    cJSON *item = cJSON_CreateObject(), *shape = cJSON_CreateArray(),
          *bits = cJSON_CreateArray();
    cJSON_AddStringToObject(item, "name", t->name);
    cJSON_AddStringToObject(item, "dtype", segc_dtype_name(t->dtype));
    for (int k = 0; k < t->ndim; ++k)
      cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->shape[k]));
    for (int64_t k = 0; k < numel_of(t); ++k)
      cJSON_AddItemToArray(bits, cJSON_CreateNumber(element_bits(t, k)));
    cJSON_AddItemToObject(item, "shape", shape);
    cJSON_AddItemToObject(item, "bits", bits);
    cJSON_AddItemToArray(list, item);
  }
  char *text = cJSON_PrintUnformatted(root);
  FILE *f = fopen(path, "w");
  CHECK(f && text && fputs(text, f) >= 0 && fclose(f) == 0, "write %s", path);
  free(text);
  cJSON_Delete(root);
}

static bool same_file_bytes(const char *a, const char *b) {
  size_t size_a = 0, size_b = 0;
  char *x = read_whole_file(a, &size_a), *y = read_whole_file(b, &size_b);
  const bool same = x && y && size_a == size_b && memcmp(x, y, size_a) == 0;
  free(x);
  free(y);
  return same;
}

static int test_round_trip(const char *dir) {
  owned_dict source;
  make_round_trip_dict(&source);
  const char *path = test_path(dir, "roundtrip.pt");
  CHECK_OK(segc_pt_write(path, &source.dict));
  check_layout(path, false);
  segc_pt_state_dict back;
  CHECK_OK(segc_pt_read(path, &back));
  check_same_dict("round trip", &back, &source.dict);
  segc_pt_free(&back);
  write_expected_json(test_path(dir, "roundtrip_expected.json"), &source.dict);

  // Writing is deterministic: the same dict gives the same bytes.
  const char *again = test_path(dir, "roundtrip_again.pt");
  CHECK_OK(segc_pt_write(again, &source.dict));
  CHECK(same_file_bytes(path, again), "two writes differ");
  unlink(again);

  // Zip64 records everywhere (as a >4 GiB file would need) read back too.
  const char *zip64 = test_path(dir, "roundtrip_zip64.pt");
  const segc_pt_write_options force = {.force_zip64 = true};
  CHECK_OK(segc_pt_write_with(zip64, &source.dict, &force));
  check_layout(zip64, true);
  CHECK_OK(segc_pt_read(zip64, &back));
  check_same_dict("zip64 round trip", &back, &source.dict);
  segc_pt_free(&back);
  free_owned(&source);

  // torch's own files survive a C rewrite unchanged (views come back
  // gathered, so the rewrite stores them contiguous).
  const char *fixtures[] = {"plain_f32.pt", "views.pt", "half_types.pt",
                            "wrapped.pt"};
  for (size_t i = 0; i < sizeof fixtures / sizeof *fixtures; ++i) {
    segc_pt_state_dict original;
    CHECK_OK(segc_pt_read(test_path(fixture_dir(), fixtures[i]), &original));
    char name[64];
    snprintf(name, sizeof name, "resaved_%s", fixtures[i]);
    CHECK_OK(segc_pt_write(test_path(dir, name), &original));
    CHECK_OK(segc_pt_read(test_path(dir, name), &back));
    check_same_dict(name, &back, &original);
    snprintf(name, sizeof name, "resaved_%.*s_expected.json",
             (int)(strlen(fixtures[i]) - 3), fixtures[i]);
    write_expected_json(test_path(dir, name), &original);
    segc_pt_free(&back);
    segc_pt_free(&original);
  }
  return 0;
}

static bool exists(const char *path) { return access(path, F_OK) == 0; }

static bool temp_file_left(const char *path) {
  char temp[4200];
  snprintf(temp, sizeof temp, "%s.tmp.%ld", path, (long)getpid());
  return exists(temp);
}

static int test_writer_failures(const char *dir) {
  owned_dict good;
  make_round_trip_dict(&good);

  const char *missing_dir = test_path(dir, "no_such_folder/model.pt");
  CHECK_FAILS(segc_pt_write(missing_dir, &good.dict), SEGC_ERR_IO,
              "no_such_folder/model.pt");
  CHECK(!temp_file_left(missing_dir), "temp file left behind");

  // Renaming onto a folder fails after everything is written: the temp file
  // must be removed and the folder untouched.
  const char *folder = test_path(dir, "a_folder");
  CHECK(mkdir(folder, 0755) == 0, "mkdir %s", folder);
  CHECK_FAILS(segc_pt_write(folder, &good.dict), SEGC_ERR_IO, "rename");
  CHECK(!temp_file_left(folder), "temp file left after a failed rename");
  struct stat info;
  CHECK(stat(folder, &info) == 0 && S_ISDIR(info.st_mode), "folder intact");
  rmdir(folder);

  const char *path = test_path(dir, "refused.pt");
  segc_pt_tensor saved = good.tensors[1];
  good.tensors[1].dtype = SEGC_U8;
  CHECK_FAILS(segc_pt_write(path, &good.dict), SEGC_ERR_UNSUPPORTED,
              "'convInit.conv.bias': dtype u8");
  good.tensors[1] = saved;
  good.tensors[1].ndim = 9;
  CHECK_FAILS(segc_pt_write(path, &good.dict), SEGC_ERR_INVALID, "9 dimensions");
  good.tensors[1] = saved;
  good.tensors[1].shape[0] = -1;
  CHECK_FAILS(segc_pt_write(path, &good.dict), SEGC_ERR_INVALID, "negative");
  good.tensors[1] = saved;
  good.tensors[1].data = NULL;
  CHECK_FAILS(segc_pt_write(path, &good.dict), SEGC_ERR_INVALID, "no data");
  good.tensors[1] = saved;
  char *name = good.tensors[2].name;
  good.tensors[2].name = good.tensors[0].name;
  CHECK_FAILS(segc_pt_write(path, &good.dict), SEGC_ERR_INVALID,
              "'convInit.conv.weight' appears twice");
  good.tensors[2].name = name;
  CHECK(!exists(path) && !temp_file_left(path), "refused writes leave no file");
  free_owned(&good);
  return 0;
}

static void remove_temp_files(const char *dir) {
  const char *names[] = {"roundtrip.pt", "roundtrip_expected.json",
                         "roundtrip_zip64.pt", "resaved_plain_f32.pt",
                         "resaved_plain_f32_expected.json", "resaved_views.pt",
                         "resaved_views_expected.json", "resaved_half_types.pt",
                         "resaved_half_types_expected.json", "resaved_wrapped.pt",
                         "resaved_wrapped_expected.json"};
  for (size_t i = 0; i < sizeof names / sizeof *names; ++i)
    unlink(test_path(dir, names[i]));
  rmdir(dir);
}

int main(void) {
  if (test_fixtures() != 0) return test_finish_failed();
  const char *dir = test_temp_dir("checkpoint_pt");
  if (test_round_trip(dir) != 0) return test_finish_failed();
  if (test_writer_failures(dir) != 0) return test_finish_failed();
  // SEGC_KEEP_TEST_FILES=1 keeps what C wrote, for
  // tools/check_checkpoint_loads.py <file.pt> <file_expected.json>.
  const char *keep = getenv("SEGC_KEEP_TEST_FILES");
  if (keep && *keep && strcmp(keep, "0") != 0)
    printf("kept the written checkpoints in %s\n", dir);
  else
    remove_temp_files(dir);
  return test_finish("checkpoint_pt");
}
