// TensorBoard event files: the CRC-32C against the standard check value and
// a bit-by-bit CRC written here, then a file read back record by record with
// a TFRecord reader and protobuf decoder written here (independent of the
// writer's encoder): framing, both masked CRCs, and every field.
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "train/tensorboard.h"
#include "util/test_util.h"

// CRC-32C one bit at a time, straight from the definition.
static uint32_t bitwise_crc32c(const uint8_t *data, size_t size) {
  uint32_t crc = 0xffffffffu;
  for (size_t i = 0; i < size; ++i) {
    crc ^= data[i];
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1u)));
  }
  return ~crc;
}

static uint32_t mask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }

static int test_crc(void) {
  CHECK(segc_crc32c("123456789", 9) == 0xe3069283u, "crc32c(\"123456789\") = %08x",
        segc_crc32c("123456789", 9));
  CHECK(segc_crc32c("", 0) == 0, "crc32c of nothing is 0");
  uint8_t data[300];
  for (size_t i = 0; i < sizeof data; ++i) data[i] = (uint8_t)(segc_rng_uniform(7, 0, i) * 256);
  int mismatches = 0;
  for (size_t n = 0; n <= sizeof data; n += 13)
    mismatches += segc_crc32c(data, n) != bitwise_crc32c(data, n) ||
                  segc_crc32c_masked(data, n) != mask(bitwise_crc32c(data, n));
  CHECK(mismatches == 0, "%d lengths where the table CRC differs from the bitwise one",
        mismatches);
  return 0;
}

// ---- an independent reader ----------------------------------------------------

typedef struct {
  double wall_time;
  int64_t step;
  bool has_step, has_version, has_summary;
  char version[64];
  char tag[300];
  float value;
  int values;
} event;

static uint64_t read_le(const uint8_t *p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

static bool varint(const uint8_t **p, const uint8_t *end, uint64_t *out) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64 && *p < end; shift += 7) {
    const uint8_t b = *(*p)++;
    v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *out = v;
      return true;
    }
  }
  return false;
}

// Walks one message; calls back per field. Returns false on malformed input.
typedef bool (*field_fn)(void *ctx, int field, int wire, uint64_t number,
                         const uint8_t *bytes, size_t size);
static bool walk(const uint8_t *p, const uint8_t *end, field_fn fn, void *ctx) {
  while (p < end) {
    uint64_t key, number = 0, size = 0;
    if (!varint(&p, end, &key)) return false;
    const int wire = (int)(key & 7), field = (int)(key >> 3);
    const uint8_t *bytes = p;
    if (wire == 0) {
      if (!varint(&p, end, &number)) return false;
    } else if (wire == 1 || wire == 5) {
      size = wire == 1 ? 8 : 4;
      if ((size_t)(end - p) < size) return false;
      number = read_le(p, (int)size);
      p += size;
    } else if (wire == 2) {
      if (!varint(&p, end, &size) || (uint64_t)(end - p) < size) return false;
      bytes = p;
      p += size;
    } else {
      return false;
    }
    if (!fn(ctx, field, wire, number, bytes, (size_t)size)) return false;
  }
  return true;
}

static bool value_field(void *ctx, int field, int wire, uint64_t number,
                        const uint8_t *bytes, size_t size) {
  event *e = ctx;
  if (field == 1 && wire == 2 && size < sizeof e->tag) {
    memcpy(e->tag, bytes, size);
    e->tag[size] = '\0';
    return true;
  }
  if (field == 2 && wire == 5) {
    const uint32_t bits = (uint32_t)number;
    memcpy(&e->value, &bits, sizeof bits);
    return true;
  }
  return false;
}

static bool summary_field(void *ctx, int field, int wire, uint64_t number,
                          const uint8_t *bytes, size_t size) {
  (void)number;
  event *e = ctx;
  if (field != 1 || wire != 2) return false;
  e->values++;
  return walk(bytes, bytes + size, value_field, ctx);
}

static bool event_field(void *ctx, int field, int wire, uint64_t number,
                        const uint8_t *bytes, size_t size) {
  event *e = ctx;
  if (field == 1 && wire == 1) {
    memcpy(&e->wall_time, &number, sizeof e->wall_time);
  } else if (field == 2 && wire == 0) {
    e->step = (int64_t)number;
    e->has_step = true;
  } else if (field == 3 && wire == 2 && size < sizeof e->version) {
    memcpy(e->version, bytes, size);
    e->version[size] = '\0';
    e->has_version = true;
  } else if (field == 5 && wire == 2) {
    e->has_summary = true;
    return walk(bytes, bytes + size, summary_field, ctx);
  } else {
    return false;
  }
  return true;
}

// Reads every record of the file into events; returns how many, -1 on a
// framing error (reported).
static int read_events(const char *path, event *events, int capacity) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  int count = 0;
  uint8_t header[12], data[2048], footer[4];
  for (;;) {
    const size_t got = fread(header, 1, 12, f);
    if (got == 0) break;
    const uint64_t length = read_le(header, 8);
    bool ok = got == 12 && length <= sizeof data && count < capacity &&
              read_le(header + 8, 4) == mask(bitwise_crc32c(header, 8)) &&
              fread(data, 1, length, f) == length && fread(footer, 1, 4, f) == 4 &&
              read_le(footer, 4) == mask(bitwise_crc32c(data, length));
    if (ok) {
      memset(&events[count], 0, sizeof events[count]);
      ok = walk(data, data + length, event_field, &events[count]);
    }
    if (!ok) {
      fprintf(stderr, "record %d of %s is malformed\n", count, path);
      fclose(f);
      return -1;
    }
    count++;
  }
  fclose(f);
  return count;
}

static int count_event_files(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return -1;
  int n = 0;
  for (struct dirent *e; (e = readdir(d));)
    n += strncmp(e->d_name, "events.out.tfevents.", 20) == 0;
  closedir(d);
  return n;
}

static int test_file(const char *dir) {
  segc_tensorboard *tb;
  CHECK_OK(segc_tensorboard_open(dir, &tb));
  const char *path = segc_tensorboard_path(tb);
  const char *name = strrchr(path, '/') + 1;
  CHECK(strncmp(name, "events.out.tfevents.", 20) == 0 && name[20] >= '1' && name[20] <= '9',
        "file name %s", name);
  // Loss per step, Dice every 5 steps, a negative step and a NaN too.
  enum { Steps = 12 };
  for (int s = 0; s < Steps; ++s) {
    CHECK_OK(segc_tensorboard_scalar_at(tb, SEGC_TB_TRAIN_LOSS, s, 2.0 / (1.0 + s),
                                        1.7e9 + s));
    if (s % 5 == 4)
      CHECK_OK(segc_tensorboard_scalar(tb, SEGC_TB_VAL_MEAN_DICE, s, 0.1 * s));
  }
  CHECK_OK(segc_tensorboard_scalar_at(tb, "odd/negative_step", -3, NAN, 1.7e9));
  // Flushed: the file is complete on disk before close.
  event events[32];
  const int before_close = read_events(path, events, 32);
  CHECK(before_close == 1 + Steps + 2 + 1, "%d records readable before close", before_close);
  char saved[4096];
  snprintf(saved, sizeof saved, "%s", path);
  CHECK_OK(segc_tensorboard_close(tb));
  printf("wrote %s\n", saved);

  const int n = read_events(saved, events, 32);
  CHECK(n == 1 + Steps + 2 + 1, "%d records", n);
  if (n != 1 + Steps + 2 + 1) return 0;
  CHECK(events[0].has_version && strcmp(events[0].version, "brain.Event:2") == 0 &&
            !events[0].has_summary && events[0].wall_time > 1.6e9,
        "first record: file_version '%s', wall time %f", events[0].version,
        events[0].wall_time);
  int e = 1, wrong = 0;
  for (int s = 0; s < Steps; ++s) {
    const event *loss = &events[e++];
    wrong += !(loss->has_step && loss->step == s && loss->values == 1 &&
               strcmp(loss->tag, "train_loss") == 0 &&
               loss->value == (float)(2.0 / (1.0 + s)) && loss->wall_time == 1.7e9 + s);
    if (s % 5 == 4) {
      const event *dice = &events[e++];
      wrong += !(dice->step == s && strcmp(dice->tag, "val_mean_dice") == 0 &&
                 dice->value == (float)(0.1 * s) && dice->wall_time > 1.6e9);
    }
  }
  CHECK(wrong == 0, "%d scalar records decode differently from what was written", wrong);
  CHECK(events[e].step == -3 && isnan(events[e].value) &&
            strcmp(events[e].tag, "odd/negative_step") == 0,
        "negative step %lld and NaN value", (long long)events[e].step);

  // A second writer in the same second gets its own file.
  segc_tensorboard *a, *b;
  CHECK_OK(segc_tensorboard_open(dir, &a));
  CHECK_OK(segc_tensorboard_open(dir, &b));
  CHECK(strcmp(segc_tensorboard_path(a), segc_tensorboard_path(b)) != 0, "distinct files");
  CHECK_OK(segc_tensorboard_close(a));
  CHECK_OK(segc_tensorboard_close(b));
  CHECK(count_event_files(dir) == 3, "three event files in the folder");
  return 0;
}

static int test_errors(const char *dir) {
  segc_tensorboard *tb = NULL;
  CHECK_FAILS(segc_tensorboard_open(test_path(dir, "missing"), &tb), SEGC_ERR_IO,
              "does not exist");
  CHECK(tb == NULL, "no writer on failure");
  CHECK_OK(segc_tensorboard_open(dir, &tb));
  CHECK_FAILS(segc_tensorboard_scalar(tb, "", 1, 1.0), SEGC_ERR_INVALID, "tag must have");
  char long_tag[SEGC_TB_MAX_TAG + 2];
  memset(long_tag, 'a', sizeof long_tag - 1);
  long_tag[sizeof long_tag - 1] = '\0';
  CHECK_FAILS(segc_tensorboard_scalar(tb, long_tag, 1, 1.0), SEGC_ERR_INVALID,
              "got 257");
  CHECK_FAILS(segc_tensorboard_scalar_at(tb, "x", 1, 1.0, INFINITY), SEGC_ERR_NONFINITE,
              "wall time");
  CHECK_OK(segc_tensorboard_close(tb));
  CHECK_OK(segc_tensorboard_close(NULL));
  return 0;
}

// Reopening (a resumed run) adds records to the same file, without a second
// file_version record; an empty file gets one; a missing file is an error.
static int test_reopen(const char *dir) {
  segc_tensorboard *tb;
  CHECK_OK(segc_tensorboard_open(dir, &tb));
  char path[4096];
  snprintf(path, sizeof path, "%s", segc_tensorboard_path(tb));
  CHECK_OK(segc_tensorboard_scalar_at(tb, SEGC_TB_TRAIN_LOSS, 1, 0.5, 1.7e9));
  CHECK_OK(segc_tensorboard_close(tb));
  CHECK_OK(segc_tensorboard_reopen(path, &tb));
  CHECK(strcmp(segc_tensorboard_path(tb), path) == 0, "the same file");
  CHECK_OK(segc_tensorboard_scalar_at(tb, SEGC_TB_TRAIN_LOSS, 2, 0.25, 1.7e9));
  CHECK_OK(segc_tensorboard_close(tb));
  event events[8];
  const int n = read_events(path, events, 8);
  CHECK(n == 3 && events[0].has_version && !events[1].has_version &&
            events[1].step == 1 && !events[2].has_version && events[2].step == 2,
        "version, step 1, step 2 in one file (%d records)", n);
  CHECK(count_event_files(dir) == 1, "one event file");
  FILE *f = fopen(test_path(dir, "events.out.tfevents.empty"), "w");
  CHECK(f && fclose(f) == 0, "empty event file made");
  CHECK_OK(segc_tensorboard_reopen(test_path(dir, "events.out.tfevents.empty"), &tb));
  CHECK_OK(segc_tensorboard_close(tb));
  CHECK(read_events(test_path(dir, "events.out.tfevents.empty"), events, 8) == 1 &&
            events[0].has_version,
        "an empty file gets the file_version record");
  CHECK_FAILS(segc_tensorboard_reopen(test_path(dir, "missing"), &tb),
              SEGC_ERR_IO, "missing");
  return 0;
}

int main(void) {
  char dir[4096], errors_dir[4096], reopen_dir[4096];  // test_temp_dir reuses its buffer
  snprintf(dir, sizeof dir, "%s", test_temp_dir("tensorboard"));
  snprintf(errors_dir, sizeof errors_dir, "%s", test_temp_dir("tensorboard_errors"));
  snprintf(reopen_dir, sizeof reopen_dir, "%s", test_temp_dir("tensorboard_reopen"));
  if (test_crc() || test_file(dir) || test_errors(errors_dir) ||
      test_reopen(reopen_dir))
    return 1;  // a CHECK_OK stopped a part and said why
  return test_finish("tensorboard");
}
