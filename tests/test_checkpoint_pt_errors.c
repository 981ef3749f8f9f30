// Malformed checkpoints: every kind of damage gives its own clear error (and
// never a crash, a read out of bounds or a partial result). Archives are
// built here from hand-written pickles so each case changes one thing from a
// control that parses.
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/checkpoint_pt.h"
#include "io/checkpoint_pt_internal.h"
#include "io/zip_archive.h"
#include "util/test_util.h"

typedef struct {
  uint8_t data[8192];
  size_t size;
} bytes;

static void emit(bytes *b, const void *p, size_t n) {
  if (b->size + n > sizeof b->data) abort();  // a bug in this test
  memcpy(b->data + b->size, p, n);
  b->size += n;
}
static void emit_byte(bytes *b, uint8_t v) { emit(b, &v, 1); }
static void emit_string(bytes *b, const char *s) {  // BINUNICODE
  const uint32_t n = (uint32_t)strlen(s);
  const uint8_t header[5] = {'X', (uint8_t)n, (uint8_t)(n >> 8),
                             (uint8_t)(n >> 16), (uint8_t)(n >> 24)};
  emit(b, header, 5);
  emit(b, s, n);
}
static void emit_global(bytes *b, const char *module, const char *name) {
  emit_byte(b, 'c');
  emit(b, module, strlen(module));
  emit_byte(b, '\n');
  emit(b, name, strlen(name));
  emit_byte(b, '\n');
}
static void emit_int(bytes *b, int64_t v) {
  if (v >= INT32_MIN && v <= INT32_MAX) {  // BININT
    const uint32_t u = (uint32_t)(int32_t)v;
    const uint8_t op[5] = {'J', (uint8_t)u, (uint8_t)(u >> 8),
                           (uint8_t)(u >> 16), (uint8_t)(u >> 24)};
    emit(b, op, 5);
    return;
  }
  emit_byte(b, 0x8a);  // LONG1, 8 bytes
  emit_byte(b, 8);
  for (int i = 0; i < 8; ++i) emit_byte(b, (uint8_t)((uint64_t)v >> (8 * i)));
}

// One state-dict entry, 'w' -> _rebuild_tensor_v2(...), with the fields a
// case may change.
typedef struct {
  const char *key;
  const char *storage_class;
  const char *storage_key;
  int64_t numel, offset;
  int ndim;
  int64_t shape[10], stride[10];
} tensor_spec;

static tensor_spec control_spec(void) {
  return (tensor_spec){.key = "w", .storage_class = "FloatStorage",
                       .storage_key = "0", .numel = 6, .offset = 0, .ndim = 2,
                       .shape = {2, 3}, .stride = {3, 1}};
}

static void emit_tensor_value(bytes *b, const tensor_spec *s) {
  emit_global(b, "torch._utils", "_rebuild_tensor_v2");
  emit_byte(b, '(');
  emit_byte(b, '(');
  emit_string(b, "storage");
  emit_global(b, "torch", s->storage_class);
  emit_string(b, s->storage_key);
  emit_string(b, "cpu");
  emit_int(b, s->numel);
  emit_byte(b, 't');
  emit_byte(b, 'Q');  // BINPERSID
  emit_int(b, s->offset);
  emit_byte(b, '(');
  for (int d = 0; d < s->ndim; ++d) emit_int(b, s->shape[d]);
  emit_byte(b, 't');
  emit_byte(b, '(');
  for (int d = 0; d < s->ndim; ++d) emit_int(b, s->stride[d]);
  emit_byte(b, 't');
  emit_byte(b, 0x89);  // NEWFALSE
  emit_byte(b, '}');   // backward hooks
  emit_byte(b, 't');
  emit_byte(b, 'R');
}

static void emit_tensor_entry(bytes *b, const tensor_spec *s) {
  emit_string(b, s->key);
  emit_tensor_value(b, s);
}

// OrderedDict with the given entries; `tail` is emitted just before STOP.
static bytes dict_pickle(const tensor_spec *specs, int count, const void *tail,
                         size_t tail_length, bool stop) {
  bytes b = {.size = 0};
  emit_byte(&b, 0x80);
  emit_byte(&b, 2);
  emit_global(&b, "collections", "OrderedDict");
  emit_byte(&b, ')');
  emit_byte(&b, 'R');
  emit_byte(&b, '(');
  for (int i = 0; i < count; ++i) emit_tensor_entry(&b, &specs[i]);
  emit_byte(&b, 'u');  // SETITEMS
  if (tail_length) emit(&b, tail, tail_length);
  if (stop) emit_byte(&b, '.');
  return b;
}

typedef struct {
  const char *name;
  const void *data;
  size_t size;
} record;

static const char *g_dir;
static const float kStorage[6] = {1.5f, -2.0f, 3.25f, 0.0f, -0.5f, 7.0f};

// Writes a zip of the given records and returns its bytes (caller frees).
static uint8_t *archive_of(const record *records, int count, size_t *size) {
  const char *path = test_path(g_dir, "crafted.zip");
  segc_zip_writer zip;
  if (segc_zip_writer_open(&zip, path, false) != SEGC_OK) abort();
  for (int i = 0; i < count; ++i)
    if (segc_zip_writer_add(&zip, records[i].name, records[i].data,
                            records[i].size) != SEGC_OK)
      abort();
  if (segc_zip_writer_finish(&zip) != SEGC_OK) abort();
  FILE *f = fopen(path, "rb");
  fseek(f, 0, SEEK_END);
  const long length = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *data = malloc((size_t)length);
  *size = fread(data, 1, (size_t)length, f);
  fclose(f);
  unlink(path);
  return data;
}

// The usual records around a pickle: version and one 6-float storage.
static uint8_t *checkpoint_of(const bytes *pickle, size_t *size) {
  const record records[] = {{"arc/data.pkl", pickle->data, pickle->size},
                            {"arc/data/0", kStorage, sizeof kStorage},
                            {"arc/version", "3\n", 2}};
  return archive_of(records, 3, size);
}

// Parses and expects failure `code` with `needle` in the message and an
// empty result.
static void expect_failure(const char *what, const uint8_t *data, size_t size,
                           segc_status code, const char *needle) {
  segc_pt_state_dict dict;
  segc_clear_error();
  const segc_status status = segc_pt_parse(data, size, &dict);
  CHECK(status == code && test_contains(segc_error_message(), needle),
        "%s: got %s '%s', wanted %s with '%s'", what, segc_status_name(status),
        segc_error_message(), segc_status_name(code), needle);
  CHECK(dict.count == 0 && dict.tensors == NULL, "%s: partial result", what);
  segc_pt_free(&dict);
}

static void expect_pickle_failure(const char *what, const bytes *pickle,
                                  segc_status code, const char *needle) {
  size_t size = 0;
  uint8_t *data = checkpoint_of(pickle, &size);
  expect_failure(what, data, size, code, needle);
  free(data);
}

static int test_control(void) {
  const tensor_spec spec = control_spec();
  bytes pickle = dict_pickle(&spec, 1, NULL, 0, true);
  size_t size = 0;
  uint8_t *data = checkpoint_of(&pickle, &size);
  segc_pt_state_dict dict;
  CHECK_OK(segc_pt_parse(data, size, &dict));
  CHECK(dict.count == 1 && strcmp(dict.tensors[0].name, "w") == 0 &&
            dict.tensors[0].ndim == 2 && dict.tensors[0].shape[0] == 2 &&
            dict.tensors[0].shape[1] == 3 &&
            memcmp(dict.tensors[0].data, kStorage, sizeof kStorage) == 0,
        "control checkpoint reads back");
  segc_pt_free(&dict);
  free(data);

  // A transposed view with an offset: element (i, j) is storage[1 + i + 2j].
  tensor_spec view = control_spec();
  view.numel = 6, view.offset = 1, view.shape[0] = 2, view.shape[1] = 2;
  view.stride[0] = 1, view.stride[1] = 2;
  pickle = dict_pickle(&view, 1, NULL, 0, true);
  data = checkpoint_of(&pickle, &size);
  CHECK_OK(segc_pt_parse(data, size, &dict));
  const float *v = dict.tensors[0].data;
  CHECK(v[0] == kStorage[1] && v[1] == kStorage[3] && v[2] == kStorage[2] &&
            v[3] == kStorage[4],
        "strided view gathered: %g %g %g %g", v[0], v[1], v[2], v[3]);
  segc_pt_free(&dict);
  free(data);
  return 0;
}

static int test_bad_pickles(void) {
  const tensor_spec good = control_spec();
  const uint8_t unknown[] = {0xff};
  bytes p = dict_pickle(&good, 1, unknown, 1, true);
  expect_pickle_failure("unknown opcode", &p, SEGC_ERR_FORMAT,
                        "unknown pickle opcode");
  expect_pickle_failure("unknown opcode names data.pkl", &p, SEGC_ERR_FORMAT,
                        "arc/data.pkl: pickle offset");
  const uint8_t newobj[] = {0x81};
  p = dict_pickle(&good, 1, newobj, sizeof newobj, true);
  expect_pickle_failure("NEWOBJ", &p, SEGC_ERR_FORMAT, "opcode NEWOBJ");
  p = dict_pickle(&good, 1, NULL, 0, false);
  expect_pickle_failure("no STOP", &p, SEGC_ERR_FORMAT, "without STOP");
  const uint8_t bad_get[] = {'h', 9};
  p = dict_pickle(&good, 1, bad_get, sizeof bad_get, true);
  expect_pickle_failure("BINGET of nothing", &p, SEGC_ERR_FORMAT, "memo");
  const uint8_t pop_too_far[] = {'R'};
  p = dict_pickle(&good, 1, pop_too_far, 1, true);
  expect_pickle_failure("REDUCE underflow", &p, SEGC_ERR_FORMAT, "underflow");
  const uint8_t cut_string[] = {'X', 0xff, 0xff, 0, 0, 'a'};
  p = dict_pickle(&good, 1, cut_string, sizeof cut_string, true);
  expect_pickle_failure("string past the end", &p, SEGC_ERR_FORMAT,
                        "ends inside an opcode");
  const uint8_t bad_utf8[] = {'X', 2, 0, 0, 0, 0xc0, 0x80};
  p = dict_pickle(&good, 1, bad_utf8, sizeof bad_utf8, true);
  expect_pickle_failure("overlong UTF-8", &p, SEGC_ERR_FORMAT, "UTF-8");

  p = (bytes){.size = 0};
  const uint8_t just_int[] = {0x80, 2, 'K', 5, '.'};
  emit(&p, just_int, sizeof just_int);
  expect_pickle_failure("root is an int", &p, SEGC_ERR_FORMAT,
                        "holds a value of type int, not a state dict");
  p = (bytes){.size = 0};
  const uint8_t int_value[] = {0x80, 2, '}', 'X', 1, 0, 0, 0, 'w', 'K', 5, 's', '.'};
  emit(&p, int_value, sizeof int_value);
  expect_pickle_failure("value is an int", &p, SEGC_ERR_FORMAT,
                        "value of 'w' has type int, not a tensor");
  const tensor_spec twice[2] = {good, good};
  p = dict_pickle(twice, 2, NULL, 0, true);
  expect_pickle_failure("duplicate key", &p, SEGC_ERR_FORMAT,
                        "key 'w' appears twice");
  return 0;
}

static void emit_short_string(bytes *b, const char *s) {  // SHORT_BINUNICODE
  emit_byte(b, 0x8c);
  emit_byte(b, (uint8_t)strlen(s));
  emit(b, s, strlen(s));
}

// Protocol 4's opcodes as Python's pickler writes them (torch.save with
// pickle_protocol=4), and their damaged forms.
static int test_protocol4_pickles(void) {
  const tensor_spec spec = control_spec();
  bytes p = {.size = 0};
  const uint8_t proto[] = {0x80, 4, 0x95, 0, 0, 0, 0, 0, 0, 0, 0};
  emit(&p, proto, sizeof proto);  // the FRAME length is set below
  emit_short_string(&p, "collections");
  emit_byte(&p, 0x94);  // MEMOIZE -> 0
  emit_short_string(&p, "OrderedDict");
  emit_byte(&p, 0x94);  // 1
  emit_byte(&p, 0x93);  // STACK_GLOBAL
  emit_byte(&p, 0x94);  // 2
  emit_byte(&p, ')');
  emit_byte(&p, 'R');
  emit_byte(&p, 0x94);  // 3: the dict
  emit_byte(&p, '(');
  const uint8_t long_key[] = {0x8d, 1, 0, 0, 0, 0, 0, 0, 0, 'w'};  // BINUNICODE8
  emit(&p, long_key, sizeof long_key);
  emit_tensor_value(&p, &spec);
  emit_byte(&p, 0x94);  // 4: the tensor
  emit_short_string(&p, "v");
  const uint8_t get_tensor[] = {'h', 4};
  emit(&p, get_tensor, sizeof get_tensor);
  emit_byte(&p, 'u');
  emit_byte(&p, '.');
  const uint64_t frame = p.size - sizeof proto;
  for (int i = 0; i < 8; ++i) p.data[3 + i] = (uint8_t)(frame >> (8 * i));
  size_t size = 0;
  uint8_t *data = checkpoint_of(&p, &size);
  segc_pt_state_dict dict;
  CHECK_OK(segc_pt_parse(data, size, &dict));
  CHECK(dict.count == 2 && !strcmp(dict.tensors[0].name, "w") &&
            !strcmp(dict.tensors[1].name, "v") &&
            memcmp(dict.tensors[1].data, kStorage, sizeof kStorage) == 0,
        "protocol 4 pickle reads back: %d tensors", dict.count);
  segc_pt_free(&dict);
  free(data);

  p = (bytes){.size = 0};
  const uint8_t proto6[] = {0x80, 6, '}', '.'};
  emit(&p, proto6, sizeof proto6);
  expect_pickle_failure("protocol 6", &p, SEGC_ERR_UNSUPPORTED,
                        "pickle protocol 6 (segc reads protocols 2 to 5)");
  const struct {
    const char *what;
    uint8_t tail[12];
    size_t length;
    const char *needle;
  } bad[] = {
      {"FRAME past the end", {0x95, 0xff, 0xff, 0, 0, 0, 0, 0, 0}, 9,
       "FRAME longer than the pickle"},
      {"STACK_GLOBAL of ints", {'K', 1, 'K', 2, 0x93}, 5,
       "STACK_GLOBAL of values that are not two strings"},
      {"STACK_GLOBAL of empty names", {0x8c, 0, 0x8c, 0, 0x93}, 5,
       "GLOBAL with an empty name"},
      {"BINUNICODE8 past the end", {0x8d, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                    0xff, 0xff}, 9, "ends inside an opcode"},
      {"BINBYTES8 past the end", {0x8e, 0, 0, 0, 0, 0, 0, 0, 1}, 9,
       "ends inside an opcode"},
      {"ADDITEMS on a list", {']', '(', 'K', 1, 0x90}, 5,
       "ADDITEMS on a value that is not a set"},
      {"out-of-band buffer", {0x97}, 1, "opcode NEXT_BUFFER"},
      {"MEMOIZE of nothing", {'(', 0x94}, 2, "stack underflow"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; ++i) {
    p = dict_pickle(&spec, 1, bad[i].tail, bad[i].length, true);
    expect_pickle_failure(bad[i].what, &p, SEGC_ERR_FORMAT, bad[i].needle);
  }
  return 0;
}

// Caps that keep hostile pickles bounded; real state dicts never come near.
static int test_pickle_limits(void) {
  static uint8_t big[1300000];
  size_t n = 0;
  big[n++] = 0x80, big[n++] = 2;
  for (int i = 0; i < 70000; ++i) big[n++] = '(';  // MARK
  big[n++] = '.';
  record r[3] = {{"arc/data.pkl", big, n},
                 {"arc/data/0", kStorage, sizeof kStorage},
                 {"arc/version", "3\n", 2}};
  size_t size = 0;
  uint8_t *data = archive_of(r, 3, &size);
  expect_failure("70000 MARKs", data, size, SEGC_ERR_FORMAT, "too many nested MARKs");
  free(data);
  n = 2;
  for (int i = 0; i < 1100000; ++i) big[n++] = 'N';  // NONE
  big[n++] = '.';
  r[0].size = n;
  data = archive_of(r, 3, &size);
  expect_failure("1.1 million values", data, size, SEGC_ERR_FORMAT, "stack too deep");
  free(data);
  n = 2;
  big[n++] = 'c';
  for (int i = 0; i < 600; ++i) big[n++] = 'm';
  memcpy(big + n, "\nname\n.", 7);
  n += 7;
  r[0].size = n;
  data = archive_of(r, 3, &size);
  expect_failure("long GLOBAL", data, size, SEGC_ERR_FORMAT, "GLOBAL name too long");
  free(data);
  return 0;
}

static int test_bad_tensors(void) {
  tensor_spec s = control_spec();
  s.numel = 7;  // the record holds 6 floats
  bytes p = dict_pickle(&s, 1, NULL, 0, true);
  expect_pickle_failure("storage shorter than numel", &p, SEGC_ERR_FORMAT,
                        "holds 24 bytes, fewer than its 7 float32");
  s = control_spec();
  s.offset = 1;  // (2, 3) from offset 1 needs 7 elements
  p = dict_pickle(&s, 1, NULL, 0, true);
  expect_pickle_failure("view past the storage", &p, SEGC_ERR_FORMAT,
                        "tensor 'w' (offset 1, 2 dims) reaches past");
  s = control_spec();
  s.stride[0] = (int64_t)1 << 62;  // overflows when multiplied out
  s.shape[0] = 4;
  p = dict_pickle(&s, 1, NULL, 0, true);
  expect_pickle_failure("stride overflow", &p, SEGC_ERR_FORMAT, "reaches past");
  s = control_spec();
  s.shape[1] = -3;
  p = dict_pickle(&s, 1, NULL, 0, true);
  expect_pickle_failure("negative size", &p, SEGC_ERR_FORMAT,
                        "size[1] is not a non-negative int");
  s = control_spec();
  s.storage_class = "LongStorage";
  p = dict_pickle(&s, 1, NULL, 0, true);
  expect_pickle_failure("int64 tensor", &p, SEGC_ERR_UNSUPPORTED,
                        "tensor 'w': dtype int64 (torch.LongStorage)");
  s.storage_class = "FooStorage";
  p = dict_pickle(&s, 1, NULL, 0, true);
  expect_pickle_failure("unknown storage", &p, SEGC_ERR_UNSUPPORTED,
                        "unknown storage type torch.FooStorage");
  s = control_spec();
  s.ndim = 9;
  for (int d = 0; d < 9; ++d) s.shape[d] = 1, s.stride[d] = 1;
  p = dict_pickle(&s, 1, NULL, 0, true);
  expect_pickle_failure("nine dims", &p, SEGC_ERR_UNSUPPORTED,
                        "tensor 'w' has 9 dimensions (at most 8)");
  s = control_spec();
  s.storage_key = "7";
  p = dict_pickle(&s, 1, NULL, 0, true);
  expect_pickle_failure("missing storage", &p, SEGC_ERR_FORMAT,
                        "storage record arc/data/7 is missing");
  return 0;
}

static int test_bad_records(void) {
  const tensor_spec good = control_spec();
  const bytes p = dict_pickle(&good, 1, NULL, 0, true);
  size_t size = 0;
  uint8_t *data;
  record r[4] = {{"arc/data.pkl", p.data, p.size},
                 {"arc/data/0", kStorage, sizeof kStorage},
                 {"arc/version", "99\n", 3}};
  data = archive_of(r, 3, &size);
  expect_failure("version 99", data, size, SEGC_ERR_UNSUPPORTED,
                 "archive format version 99");
  free(data);
  r[2] = (record){"arc/versio", "3\n", 2};
  data = archive_of(r, 3, &size);
  expect_failure("no version", data, size, SEGC_ERR_FORMAT,
                 "arc/version is missing");
  free(data);
  r[2] = (record){"arc/version", "3\n", 2};
  r[3] = (record){"arc/byteorder", "big", 3};
  data = archive_of(r, 4, &size);
  expect_failure("big endian", data, size, SEGC_ERR_UNSUPPORTED, "big-endian");
  free(data);
  r[3] = (record){"arc/constants.pkl", "", 0};
  data = archive_of(r, 4, &size);
  expect_failure("TorchScript", data, size, SEGC_ERR_UNSUPPORTED,
                 "TorchScript archive");
  free(data);
  r[3] = (record){"arc/.data/serialization_id", "1234", 4};
  data = archive_of(r, 4, &size);
  segc_pt_state_dict dict;
  CHECK_OK(segc_pt_parse(data, size, &dict));  // unknown records are ignored
  segc_pt_free(&dict);
  free(data);
  r[0].name = "arc/data.pickle";
  data = archive_of(r, 3, &size);
  expect_failure("no data.pkl", data, size, SEGC_ERR_FORMAT,
                 "no <archive>/data.pkl");
  free(data);
  return 0;
}

static uint32_t le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}

// Damage to a file torch wrote (the fixture's first central directory entry
// is data.pkl, its local header is at offset 0).
static int test_damaged_zip(void) {
  const char *path = test_path(getenv("SEGC_SOURCE_DIR") ? getenv("SEGC_SOURCE_DIR") : ".",
                               "tests/data/checkpoints/plain_f32.pt");
  FILE *f = fopen(path, "rb");
  CHECK(f != NULL, "open %s", path);
  if (!f) return 1;
  uint8_t *good = malloc(1 << 16), *bad = malloc(1 << 16);
  const size_t size = fread(good, 1, 1 << 16, f);
  fclose(f);
  segc_pt_state_dict dict;
  CHECK_OK(segc_pt_parse(good, size, &dict));
  const int tensors = dict.count;
  segc_pt_free(&dict);

  // Every truncation fails cleanly (most lose the end record).
  int refused = 0;
  for (size_t cut = 0; cut < size; ++cut) {
    memcpy(bad, good, cut);
    segc_clear_error();
    refused += segc_pt_parse(bad, cut, &dict) == SEGC_ERR_FORMAT;
    segc_pt_free(&dict);
  }
  CHECK(refused == (int)size, "%d of %zu truncations refused", refused, size);
  expect_failure("truncated by one byte", good, size - 1, SEGC_ERR_FORMAT,
                 "no end-of-central-directory record; truncated?");
  expect_failure("empty", good, 0, SEGC_ERR_FORMAT, "only 0 bytes");

  const size_t end = size - 22;  // no comment
  const size_t directory = le32(good + end + 16);
  const size_t zip64_record = le32(good + end - 20 + 8);
  CHECK(le32(good + end - 20) == 0x07064b50u && le32(good + zip64_record) == 0x06064b50u,
        "torch wrote zip64 end records");
  struct { const char *what; size_t at; uint8_t value; segc_status code; const char *needle; } cases[] = {
      {"local header signature", 0, 'X', SEGC_ERR_FORMAT, "bad local header signature at offset 0"},
      {"end record signature", end, 'X', SEGC_ERR_FORMAT, "no end-of-central-directory"},
      {"central signature", directory, 'X', SEGC_ERR_FORMAT, "bad central directory signature"},
      {"compressed method", directory + 10, 8, SEGC_ERR_UNSUPPORTED, "compressed (method 8)"},
      {"encrypted", directory + 8, 0x09, SEGC_ERR_UNSUPPORTED, "encrypted"},
      {"local offset", directory + 45, 0x70, SEGC_ERR_FORMAT, "outside the archive"},
      // torch always writes zip64 end records; their offsets are the ones used.
      {"directory offset", zip64_record + 48 + 3, 0x70, SEGC_ERR_FORMAT, "outside"},
      {"zip64 record offset", end - 20 + 8 + 3, 0x70, SEGC_ERR_FORMAT, "zip64 end record offset"},
      {"legacy pickle", 0, 0x80, SEGC_ERR_UNSUPPORTED, "legacy torch.save format"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; ++i) {
    memcpy(bad, good, size);
    bad[cases[i].at] = cases[i].value;
    if (cases[i].value == 0x80) bad[1] = 2;
    expect_failure(cases[i].what, bad, size, cases[i].code, cases[i].needle);
  }
  // Sizes that claim to be in a zip64 field that is not there.
  memcpy(bad, good, size);
  memset(bad + directory + 20, 0xff, 8);
  expect_failure("zip64 sizes without the field", bad, size, SEGC_ERR_FORMAT,
                 "zip64 extra field");

  // A flipped bit in the last storage: the CRC catches it; without the CRC
  // check (the fuzzer's mode) the file parses and only that value differs.
  memcpy(bad, good, size);
  segc_zip_reader zip;
  CHECK_OK(segc_zip_open(&zip, good, size));
  const segc_zip_entry *storage = segc_zip_find(&zip, "plain_f32/data/0", 16);
  CHECK(storage != NULL && storage->size > 0, "fixture has plain_f32/data/0");
  if (storage) bad[storage->data_offset + storage->size - 1] ^= 0x10;
  segc_zip_close(&zip);
  segc_pt_state_dict a, b;
  const segc_pt_parse_options no_crc = {.verify_crc = false};
  segc_clear_error();
  const segc_status status = segc_pt_parse(bad, size, &a);
  CHECK(status == SEGC_ERR_FORMAT &&
            test_contains(segc_error_message(), "CRC-32 mismatch"),
        "flipped byte: %s", segc_error_message());
  CHECK_OK(segc_pt_parse_with(bad, size, &no_crc, &a));
  CHECK_OK(segc_pt_parse(good, size, &b));
  int differing = 0;
  for (int i = 0; i < a.count && a.count == tensors; ++i) {
    const int64_t n = segc_pt_tensor_bytes(&a.tensors[i]);
    differing += n > 0 && memcmp(a.tensors[i].data, b.tensors[i].data, (size_t)n) != 0;
  }
  CHECK(a.count == tensors && differing == 1, "%d tensors differ", differing);
  segc_pt_free(&a);
  segc_pt_free(&b);
  free(good);
  free(bad);
  return 0;
}

static int test_read_errors(void) {
  CHECK_FAILS(segc_pt_read(test_path(g_dir, "absent.pt"), &(segc_pt_state_dict){0}),
              SEGC_ERR_IO, "absent.pt");
  const char *empty = test_path(g_dir, "empty.pt");
  FILE *f = fopen(empty, "wb");
  CHECK(f && fclose(f) == 0, "create %s", empty);
  CHECK_FAILS(segc_pt_read(empty, &(segc_pt_state_dict){0}), SEGC_ERR_FORMAT,
              "empty.pt: empty file");
  unlink(empty);
  CHECK_FAILS(segc_pt_read(g_dir, &(segc_pt_state_dict){0}), SEGC_ERR_FORMAT,
              "not a regular file");
  return 0;
}

int main(void) {
  g_dir = test_temp_dir("checkpoint_pt_errors");
  int failed = test_control() || test_bad_pickles() ||
               test_protocol4_pickles() || test_pickle_limits() ||
               test_bad_tensors() ||
               test_bad_records() || test_damaged_zip() || test_read_errors();
  rmdir(g_dir);
  return failed ? test_finish_failed() : test_finish("checkpoint_pt_errors");
}
