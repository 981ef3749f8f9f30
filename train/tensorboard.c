#include "train/tensorboard.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

struct segc_tensorboard {
  FILE *file;
  char path[4096];
};

// ---- CRC-32C ---------------------------------------------------------------

static uint32_t crc_table[256];
static pthread_once_t crc_table_once = PTHREAD_ONCE_INIT;

static void build_crc_table(void) {
  for (uint32_t byte = 0; byte < 256; ++byte) {
    uint32_t crc = byte;
    for (int bit = 0; bit < 8; ++bit)
      crc = (crc & 1u) ? (crc >> 1) ^ 0x82f63b78u : crc >> 1;
    crc_table[byte] = crc;
  }
}

uint32_t segc_crc32c(const void *data, size_t size) {
  pthread_once(&crc_table_once, build_crc_table);
  const uint8_t *bytes = data;
  uint32_t crc = 0xffffffffu;
  for (size_t i = 0; i < size; ++i)
    crc = crc_table[(crc ^ bytes[i]) & 0xffu] ^ (crc >> 8);
  return crc ^ 0xffffffffu;
}

uint32_t segc_crc32c_masked(const void *data, size_t size) {
  const uint32_t crc = segc_crc32c(data, size);
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

// ---- protobuf wire format --------------------------------------------------

typedef struct {
  uint8_t bytes[1024];
  size_t size;
} buffer;

static void put_byte(buffer *b, uint8_t v) { b->bytes[b->size++] = v; }

static void put_varint(buffer *b, uint64_t v) {
  while (v >= 0x80u) {
    put_byte(b, (uint8_t)(v | 0x80u));
    v >>= 7;
  }
  put_byte(b, (uint8_t)v);
}

static void put_le(buffer *b, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) put_byte(b, (uint8_t)(v >> (8 * i)));
}

// Field key: (field number << 3) | wire type (0 varint, 1 fixed64,
// 2 length-delimited, 5 fixed32).
static void put_key(buffer *b, int field, int wire_type) {
  put_varint(b, (uint64_t)((field << 3) | wire_type));
}

static void put_double(buffer *b, int field, double v) {
  uint64_t bits;
  memcpy(&bits, &v, sizeof bits);
  put_key(b, field, 1);
  put_le(b, bits, 8);
}

static void put_bytes(buffer *b, int field, const void *data, size_t size) {
  put_key(b, field, 2);
  put_varint(b, size);
  memcpy(b->bytes + b->size, data, size);
  b->size += size;
}

// ---- records ---------------------------------------------------------------

static segc_status write_record(segc_tensorboard *tb, const buffer *event) {
  buffer header = {.size = 0};
  put_le(&header, event->size, 8);
  const uint32_t length_crc = segc_crc32c_masked(header.bytes, 8);
  put_le(&header, length_crc, 4);
  buffer footer = {.size = 0};
  put_le(&footer, segc_crc32c_masked(event->bytes, event->size), 4);
  if (fwrite(header.bytes, 1, header.size, tb->file) != header.size ||
      fwrite(event->bytes, 1, event->size, tb->file) != event->size ||
      fwrite(footer.bytes, 1, footer.size, tb->file) != footer.size ||
      fflush(tb->file) != 0)
    return SEGC_FAIL(SEGC_ERR_IO, "tensorboard %s: write failed: %s", tb->path,
                     strerror(errno));
  return SEGC_OK;
}

static double now_seconds(void) {
  struct timeval tv;
  if (gettimeofday(&tv, NULL) != 0) return (double)time(NULL);
  return (double)tv.tv_sec + 1e-6 * (double)tv.tv_usec;
}

// Opens a file name nobody has: exclusive create ("x"), a suffix if taken.
static segc_status create_event_file(segc_tensorboard *tb, const char *dir) {
  char host[256];
  if (gethostname(host, sizeof host) != 0)
    return SEGC_FAIL(SEGC_ERR_IO, "tensorboard: gethostname failed: %s",
                     strerror(errno));
  host[sizeof host - 1] = '\0';
  for (char *c = host; *c; ++c)
    if (*c == '/') *c = '_';
  const time_t seconds = time(NULL);
  if (seconds == (time_t)-1)
    return SEGC_FAIL(SEGC_ERR_IO, "tensorboard: time() failed");
  for (int attempt = 0; attempt < 100; ++attempt) {
    int n;
    if (attempt == 0)
      n = snprintf(tb->path, sizeof tb->path, "%s/events.out.tfevents.%lld.%s",
                   dir, (long long)seconds, host);
    else
      n = snprintf(tb->path, sizeof tb->path,
                   "%s/events.out.tfevents.%lld.%s.%ld.%d", dir,
                   (long long)seconds, host, (long)getpid(), attempt);
    if (n < 0 || (size_t)n >= sizeof tb->path)
      return SEGC_FAIL(SEGC_ERR_INVALID, "tensorboard: folder name too long: "
                       "%.200s...", dir);
    tb->file = fopen(tb->path, "wbx");
    if (tb->file) return SEGC_OK;
    if (errno == ENOENT || errno == ENOTDIR)
      return SEGC_FAIL(SEGC_ERR_IO, "tensorboard: folder %s does not exist",
                       dir);
    if (errno != EEXIST)
      return SEGC_FAIL(SEGC_ERR_IO, "tensorboard: cannot create %s: %s",
                       tb->path, strerror(errno));
  }
  return SEGC_FAIL(SEGC_ERR_IO, "tensorboard: 100 event file names in %s are "
                   "taken", dir);
}

// Opens an existing event file to add records at its end.
static segc_status open_existing(segc_tensorboard *tb, const char *path,
                                 bool *empty) {
  const int n = snprintf(tb->path, sizeof tb->path, "%s", path);
  if (n < 0 || (size_t)n >= sizeof tb->path)
    return SEGC_FAIL(SEGC_ERR_INVALID, "tensorboard: path too long: %.200s...",
                     path);
  const int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd < 0)
    return SEGC_FAIL(SEGC_ERR_IO, "tensorboard: cannot open %s: %s", path,
                     strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || !(tb->file = fdopen(fd, "ab"))) {
    const int saved = errno;
    close(fd);
    return SEGC_FAIL(SEGC_ERR_IO, "tensorboard: cannot open %s: %s", path,
                     strerror(saved));
  }
  *empty = st.st_size == 0;
  return SEGC_OK;
}

static segc_status open_writer(const char *log_dir, const char *existing,
                               segc_tensorboard **out) {
  *out = NULL;
  if (!existing && (!log_dir || !*log_dir))
    return SEGC_FAIL(SEGC_ERR_INVALID, "tensorboard: no log folder given");
  segc_tensorboard *tb = calloc(1, sizeof *tb);
  if (!tb) return SEGC_FAIL(SEGC_ERR_NOMEM, "tensorboard: out of memory");
  bool empty = true;
  segc_status status = existing ? open_existing(tb, existing, &empty)
                                : create_event_file(tb, log_dir);
  if (status == SEGC_OK && empty) {
    buffer event = {.size = 0};
    static const char kVersion[] = "brain.Event:2";
    put_double(&event, 1, now_seconds());
    put_bytes(&event, 3, kVersion, sizeof kVersion - 1);
    status = write_record(tb, &event);
  }
  if (status != SEGC_OK) {
    if (tb->file) fclose(tb->file);  // already failing; the first error stands
    free(tb);
    return status;
  }
  *out = tb;
  return SEGC_OK;
}

segc_status segc_tensorboard_open(const char *log_dir, segc_tensorboard **out) {
  return open_writer(log_dir, NULL, out);
}

segc_status segc_tensorboard_reopen(const char *path, segc_tensorboard **out) {
  return open_writer(NULL, path, out);
}

segc_status segc_tensorboard_scalar_at(segc_tensorboard *tb, const char *tag,
                                       int64_t step, double value,
                                       double wall_time) {
  if (!tb || !tb->file)
    return SEGC_FAIL(SEGC_ERR_INVALID, "tensorboard: writer is not open");
  const size_t tag_size = tag ? strlen(tag) : 0;
  if (tag_size == 0 || tag_size > SEGC_TB_MAX_TAG)
    return SEGC_FAIL(SEGC_ERR_INVALID, "tensorboard %s: tag must have 1..%d "
                     "bytes, got %zu", tb->path, (int)SEGC_TB_MAX_TAG, tag_size);
  if (!isfinite(wall_time))
    return SEGC_FAIL(SEGC_ERR_NONFINITE, "tensorboard %s: wall time %g",
                     tb->path, wall_time);
  // Value { tag = 1; simple_value = 2 (float) }
  buffer val = {.size = 0};
  put_bytes(&val, 1, tag, tag_size);
  const float simple = (float)value;  // NaN and Inf are legal and shown
  uint32_t bits;
  memcpy(&bits, &simple, sizeof bits);
  put_key(&val, 2, 5);
  put_le(&val, bits, 4);
  // Summary { value = 1 }
  buffer summary = {.size = 0};
  put_bytes(&summary, 1, val.bytes, val.size);
  // Event { wall_time = 1; step = 2; summary = 5 }
  buffer event = {.size = 0};
  put_double(&event, 1, wall_time);
  put_key(&event, 2, 0);
  put_varint(&event, (uint64_t)step);  // two's complement, as int64 fields are
  put_bytes(&event, 5, summary.bytes, summary.size);
  return write_record(tb, &event);
}

segc_status segc_tensorboard_scalar(segc_tensorboard *tb, const char *tag,
                                    int64_t step, double value) {
  return segc_tensorboard_scalar_at(tb, tag, step, value, now_seconds());
}

const char *segc_tensorboard_path(const segc_tensorboard *tb) {
  return tb ? tb->path : "";
}

segc_status segc_tensorboard_close(segc_tensorboard *tb) {
  if (!tb) return SEGC_OK;
  segc_status status = SEGC_OK;
  if (tb->file && fclose(tb->file) != 0)
    status = SEGC_FAIL(SEGC_ERR_IO, "tensorboard %s: close failed: %s",
                       tb->path, strerror(errno));
  free(tb);
  return status;
}
