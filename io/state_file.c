#include "io/state_file.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/atomic_file.h"
#include "io/byte_buffer.h"

// Both formats store numbers little-endian and are read in place.
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "segc's file formats assume a little-endian host");

static const char kMagic[8] = {'S', 'E', 'G', 'C', 'S', 'T', 'A', 'T'};
enum {
  kHeaderBytes = 24,
  kAlignment = 64,
  kMaxNameBytes = 1024,
};

static bool valid_kind(int kind) {
  return kind == SEGC_STATE_F32 || kind == SEGC_STATE_I64 ||
         kind == SEGC_STATE_STRING;
}

static const char *kind_name(segc_state_kind kind) {
  switch (kind) {
    case SEGC_STATE_F32: return "f32 array";
    case SEGC_STATE_I64: return "int64";
    case SEGC_STATE_STRING: return "string";
  }
  return "unknown";
}

// ------------------------------------------------------------------ builder

struct segc_state_builder {
  segc_state_entry *entries;
  int count, capacity;
};

segc_status segc_state_builder_create(segc_state_builder **builder) {
  *builder = calloc(1, sizeof **builder);
  if (!*builder) return SEGC_FAIL(SEGC_ERR_NOMEM, "no memory for a state builder");
  return SEGC_OK;
}

// Copies owned by the builder: every name, and the data of ints and strings.
static void free_entry(segc_state_entry *e) {
  free((char *)e->name);
  if (e->kind != SEGC_STATE_F32) free((void *)e->data);
}

void segc_state_builder_free(segc_state_builder *builder) {
  if (!builder) return;
  for (int i = 0; i < builder->count; ++i) free_entry(&builder->entries[i]);
  free(builder->entries);
  free(builder);
}

static segc_status check_name(const segc_state_builder *b, const char *name) {
  const size_t length = name ? strlen(name) : 0;
  if (length == 0 || length > kMaxNameBytes ||
      !segc_utf8_valid((const uint8_t *)name, length))
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "state entry name is empty, longer than %d bytes or not "
                     "UTF-8", kMaxNameBytes);
  for (int i = 0; i < b->count; ++i)
    if (strcmp(b->entries[i].name, name) == 0)
      return SEGC_FAIL(SEGC_ERR_INVALID, "state entry '%s' added twice", name);
  return SEGC_OK;
}

// Appends an entry; takes ownership of `owned_data` (freed on failure).
static segc_status add_entry(segc_state_builder *b, const char *name,
                             segc_state_kind kind, int ndim,
                             const int64_t *shape, uint64_t bytes,
                             const void *data, void *owned_data) {
  segc_status status = check_name(b, name);
  if (status == SEGC_OK && b->count == b->capacity) {
    const int capacity = b->capacity ? 2 * b->capacity : 16;
    segc_state_entry *grown = realloc(b->entries, sizeof *grown * (size_t)capacity);
    if (!grown) status = SEGC_FAIL(SEGC_ERR_NOMEM, "no memory for state entries");
    else b->entries = grown, b->capacity = capacity;
  }
  char *name_copy = status == SEGC_OK ? strdup(name) : NULL;
  if (status == SEGC_OK && !name_copy)
    status = SEGC_FAIL(SEGC_ERR_NOMEM, "no memory for a name");
  if (status != SEGC_OK) {
    free(owned_data);
    return status;
  }
  segc_state_entry *e = &b->entries[b->count++];
  memset(e, 0, sizeof *e);
  e->name = name_copy;
  e->kind = kind;
  e->ndim = ndim;
  for (int d = 0; d < ndim; ++d) e->shape[d] = shape[d];
  e->bytes = bytes;
  e->data = owned_data ? owned_data : data;
  return SEGC_OK;
}

segc_status segc_state_add_f32(segc_state_builder *b, const char *name,
                               const float *data, int ndim,
                               const int64_t *shape) {
  if (ndim < 0 || ndim > SEGC_STATE_MAX_DIMS || (ndim > 0 && !shape))
    return SEGC_FAIL(SEGC_ERR_INVALID, "state entry '%s': %d dimensions",
                     name ? name : "?", ndim);
  int64_t bytes = sizeof(float);
  for (int d = 0; d < ndim; ++d)
    if (shape[d] < 0 || __builtin_mul_overflow(bytes, shape[d], &bytes))
      return SEGC_FAIL(SEGC_ERR_INVALID,
                       "state entry '%s': negative or overflowing shape",
                       name ? name : "?");
  if (bytes > 0 && !data)
    return SEGC_FAIL(SEGC_ERR_INVALID, "state entry '%s' has no data",
                     name ? name : "?");
  return add_entry(b, name, SEGC_STATE_F32, ndim, shape, (uint64_t)bytes,
                   data, NULL);
}

segc_status segc_state_add_i64(segc_state_builder *b, const char *name,
                               int64_t value) {
  int64_t *copy = malloc(sizeof *copy);
  if (!copy) return SEGC_FAIL(SEGC_ERR_NOMEM, "no memory for an int");
  *copy = value;
  return add_entry(b, name, SEGC_STATE_I64, 0, NULL, sizeof *copy, NULL, copy);
}

segc_status segc_state_add_string(segc_state_builder *b, const char *name,
                                  const char *utf8) {
  const size_t length = utf8 ? strlen(utf8) : 0;
  if (!utf8 || !segc_utf8_valid((const uint8_t *)utf8, length))
    return SEGC_FAIL(SEGC_ERR_INVALID, "state entry '%s': text is not UTF-8",
                     name ? name : "?");
  char *copy = strdup(utf8);
  if (!copy) return SEGC_FAIL(SEGC_ERR_NOMEM, "no memory for a string");
  return add_entry(b, name, SEGC_STATE_STRING, 0, NULL, length + 1, NULL, copy);
}

// The bytes of an entry's header, and the padding that follows it.
static uint64_t entry_header_bytes(const segc_state_entry *e) {
  return 2 + strlen(e->name) + 1 + 1 + 8 * (uint64_t)e->ndim + 8;
}

static uint64_t padding_after(uint64_t offset) {
  return (kAlignment - offset % kAlignment) % kAlignment;
}

// Writes `count` bytes and folds them into the running CRC.
static segc_status put(segc_atomic_file *f, uint32_t *crc, const void *data,
                       size_t count) {
  *crc = segc_crc32_update(*crc, data, count);
  return segc_atomic_file_write(f, data, count);
}

static segc_status write_all(const segc_state_builder *b, segc_atomic_file *f) {
  uint64_t length = kHeaderBytes;
  for (int i = 0; i < b->count; ++i) {
    length += entry_header_bytes(&b->entries[i]);
    length += padding_after(length) + b->entries[i].bytes;
  }
  length += 4;  // the CRC
  uint32_t crc = 0;
  segc_byte_buffer header = {0};
  segc_byte_buffer_append(&header, kMagic, sizeof kMagic);
  segc_byte_buffer_le32(&header, SEGC_STATE_FORMAT_VERSION);
  segc_byte_buffer_le32(&header, (uint32_t)b->count);
  segc_byte_buffer_le64(&header, length);
  for (int i = 0; i < b->count; ++i) {
    const segc_state_entry *e = &b->entries[i];
    const size_t name_length = strlen(e->name);
    segc_byte_buffer_le16(&header, (uint16_t)name_length);
    segc_byte_buffer_append(&header, e->name, name_length);
    segc_byte_buffer_u8(&header, (uint8_t)e->kind);
    segc_byte_buffer_u8(&header, (uint8_t)e->ndim);
    for (int d = 0; d < e->ndim; ++d)
      segc_byte_buffer_le64(&header, (uint64_t)e->shape[d]);
    segc_byte_buffer_le64(&header, e->bytes);
    // The file offset so far is what was written plus this header buffer.
    segc_byte_buffer_zeros(&header, padding_after(f->offset + header.size));
    segc_status status = segc_byte_buffer_status(&header, "state file header");
    if (status == SEGC_OK) status = put(f, &crc, header.data, header.size);
    if (status == SEGC_OK) status = put(f, &crc, e->data, (size_t)e->bytes);
    header.size = 0;
    if (status != SEGC_OK) {
      segc_byte_buffer_free(&header);
      return status;
    }
  }
  segc_status status = segc_byte_buffer_status(&header, "state file header");
  if (status == SEGC_OK) status = put(f, &crc, header.data, header.size);
  segc_byte_buffer_free(&header);
  uint8_t trailer[4];
  for (int i = 0; i < 4; ++i) trailer[i] = (uint8_t)(crc >> (8 * i));
  if (status == SEGC_OK) status = segc_atomic_file_write(f, trailer, 4);
  if (status == SEGC_OK && f->offset != length)
    status = SEGC_FAIL(SEGC_ERR_INTERNAL, "state file is %" PRIu64
                       " bytes, planned %" PRIu64, f->offset, length);
  return status;
}

segc_status segc_state_write(const segc_state_builder *b, const char *path) {
  if (!b) return SEGC_FAIL(SEGC_ERR_INVALID, "no state builder");
  segc_atomic_file file;
  segc_status status = segc_atomic_file_open(&file, path);
  if (status == SEGC_OK) status = write_all(b, &file);
  if (status == SEGC_OK) status = segc_atomic_file_commit(&file);
  segc_atomic_file_abort(&file);  // removes the temp file after a failure
  if (status != SEGC_OK)
    return segc_fail_context(status, "writing training state %s", path);
  return SEGC_OK;
}

// ------------------------------------------------------------------ reader

struct segc_state_file {
  char *path;              // for messages ("<memory>" when parsed)
  uint8_t *bytes;          // the whole file, 64-byte aligned, owned
  segc_state_entry *entries;
  const segc_state_entry **sorted;  // by name, for look-ups
  int count;
};

void segc_state_free(segc_state_file *file) {
  if (!file) return;
  free(file->path);
  free(file->bytes);
  free(file->entries);
  free(file->sorted);
  free(file);
}

static int compare_entry_names(const void *a, const void *b) {
  const segc_state_entry *const *x = a, *const *y = b;
  return strcmp((*x)->name, (*y)->name);
}

// Checks one entry at *at and fills `e`; its name is copied to `name`.
static segc_status parse_entry(const uint8_t *bytes, uint64_t end, uint64_t *at,
                               int index, char *name, segc_state_entry *e) {
  if (end - *at < 2)
    return SEGC_FAIL(SEGC_ERR_FORMAT, "entry %d: header cut short", index);
  const uint16_t name_length = segc_le16(bytes + *at);
  *at += 2;
  if (name_length == 0 || name_length > kMaxNameBytes ||
      end - *at < (uint64_t)name_length + 2)
    return SEGC_FAIL(SEGC_ERR_FORMAT, "entry %d: bad name length %u", index,
                     name_length);
  memmove(name, bytes + *at, name_length);  // may overlap: see parse_owned
  name[name_length] = '\0';
  if (memchr(name, '\0', name_length) ||
      !segc_utf8_valid((const uint8_t *)name, name_length))
    return SEGC_FAIL(SEGC_ERR_FORMAT, "entry %d: name is not UTF-8 text", index);
  *at += name_length;
  const int kind = bytes[*at], ndim = bytes[*at + 1];
  *at += 2;
  if (!valid_kind(kind))
    return SEGC_FAIL(SEGC_ERR_FORMAT, "entry '%s': unknown kind %d", name, kind);
  if (ndim > SEGC_STATE_MAX_DIMS || (kind != SEGC_STATE_F32 && ndim != 0))
    return SEGC_FAIL(SEGC_ERR_FORMAT, "entry '%s': %d dimensions", name, ndim);
  if (end - *at < 8 * (uint64_t)ndim + 8)
    return SEGC_FAIL(SEGC_ERR_FORMAT, "entry '%s': header cut short", name);
  uint64_t expected = kind == SEGC_STATE_F32 ? sizeof(float) : 8;
  bool overflow = false;
  e->kind = (segc_state_kind)kind;
  e->ndim = ndim;
  for (int d = 0; d < ndim; ++d, *at += 8) {
    e->shape[d] = (int64_t)segc_le64(bytes + *at);
    overflow |= e->shape[d] < 0 ||
                __builtin_mul_overflow(expected, (uint64_t)e->shape[d], &expected);
  }
  e->bytes = segc_le64(bytes + *at);
  *at += 8;
  *at += padding_after(*at);
  if (*at > end || e->bytes > end - *at)
    return SEGC_FAIL(SEGC_ERR_FORMAT, "entry '%s': %" PRIu64 " data bytes run "
                     "past the end of the file", name, e->bytes);
  const uint8_t *data = bytes + *at;
  if (kind == SEGC_STATE_STRING) {
    if (e->bytes == 0 || data[e->bytes - 1] != '\0' ||
        memchr(data, '\0', e->bytes - 1) ||
        !segc_utf8_valid(data, e->bytes - 1))
      return SEGC_FAIL(SEGC_ERR_FORMAT,
                       "entry '%s': not a NUL-terminated UTF-8 string", name);
  } else if (overflow || e->bytes != expected) {
    return SEGC_FAIL(SEGC_ERR_FORMAT,
                     "entry '%s': %" PRIu64 " bytes do not match its shape",
                     name, e->bytes);
  }
  e->data = data;
  *at += e->bytes;
  return SEGC_OK;
}

// Checks the header, the length and the CRC, then every entry. Takes
// ownership of `bytes` (a 64-byte aligned buffer).
static segc_status parse_owned(uint8_t *bytes, size_t size,
                               segc_state_file *f) {
  f->bytes = bytes;
  if (size < kHeaderBytes + 4)
    return SEGC_FAIL(SEGC_ERR_FORMAT, "only %zu bytes: truncated or not a "
                     "segc training state", size);
  if (memcmp(bytes, kMagic, sizeof kMagic) != 0)
    return SEGC_FAIL(SEGC_ERR_FORMAT, "not a segc training state (no "
                     "SEGCSTAT magic)");
  const uint32_t version = segc_le32(bytes + 8);
  if (version > SEGC_STATE_FORMAT_VERSION)
    return SEGC_FAIL(SEGC_ERR_UNSUPPORTED,
                     "written by a newer segc (format version %u; this build "
                     "reads up to %d)", version, SEGC_STATE_FORMAT_VERSION);
  if (version == 0)
    return SEGC_FAIL(SEGC_ERR_FORMAT, "format version 0 is not valid");
  const uint32_t count = segc_le32(bytes + 12);
  const uint64_t length = segc_le64(bytes + 16);
  if (length != size)
    return SEGC_FAIL(SEGC_ERR_FORMAT, "file is %zu bytes but its header says "
                     "%" PRIu64 " (%s)", size, length,
                     size < length ? "truncated" : "trailing bytes");
  const uint32_t stored_crc = segc_le32(bytes + size - 4);
  const uint32_t crc = segc_crc32(bytes, size - 4);
  if (stored_crc != crc)
    return SEGC_FAIL(SEGC_ERR_FORMAT, "CRC-32 mismatch (stored %08x, data "
                     "%08x): the file is corrupt", stored_crc, crc);
  // Each entry takes at least 12 header bytes.
  if (count > (size - kHeaderBytes) / 12)
    return SEGC_FAIL(SEGC_ERR_FORMAT, "%u entries cannot fit in %zu bytes",
                     count, size);
  f->entries = calloc(count ? count : 1, sizeof *f->entries);
  f->sorted = calloc(count ? count : 1, sizeof *f->sorted);
  if (!f->entries || !f->sorted)
    return SEGC_FAIL(SEGC_ERR_NOMEM, "no memory for %u entries", count);
  // Names are rewritten in place as C strings: each moves two bytes back,
  // over its length field, which is no longer needed.
  uint64_t at = kHeaderBytes;
  const uint64_t end = size - 4;
  for (uint32_t i = 0; i < count; ++i) {
    char *name = (char *)bytes + at;
    SEGC_TRY(parse_entry(bytes, end, &at, (int)i, name, &f->entries[i]));
    f->entries[i].name = name;
    f->sorted[i] = &f->entries[i];
    f->count = (int)i + 1;
  }
  if (at != end)
    return SEGC_FAIL(SEGC_ERR_FORMAT, "%" PRIu64 " unexplained bytes after "
                     "the last entry", end - at);
  qsort(f->sorted, count, sizeof *f->sorted, compare_entry_names);
  for (uint32_t i = 1; i < count; ++i)
    if (strcmp(f->sorted[i - 1]->name, f->sorted[i]->name) == 0)
      return SEGC_FAIL(SEGC_ERR_FORMAT, "entry '%s' appears twice",
                       f->sorted[i]->name);
  return SEGC_OK;
}

static segc_status new_file(const char *path, segc_state_file **file) {
  *file = calloc(1, sizeof **file);
  if (*file) (*file)->path = strdup(path);
  if (!*file || !(*file)->path) {
    segc_state_free(*file);
    *file = NULL;
    return SEGC_FAIL(SEGC_ERR_NOMEM, "no memory to read %s", path);
  }
  return SEGC_OK;
}

static segc_status finish_parse(segc_state_file **file, uint8_t *bytes,
                                size_t size) {
  const segc_status status = parse_owned(bytes, size, *file);
  if (status != SEGC_OK) {
    segc_fail_context(status, "training state %s", (*file)->path);
    segc_state_free(*file);
    *file = NULL;
  }
  return status;
}

static uint8_t *aligned_buffer(size_t size) {
  void *p = NULL;
  return posix_memalign(&p, kAlignment, size ? size : 1) == 0 ? p : NULL;
}

segc_status segc_state_parse(const uint8_t *bytes, size_t size,
                             segc_state_file **file) {
  SEGC_TRY(new_file("<memory>", file));
  uint8_t *copy = aligned_buffer(size);
  if (!copy) {
    segc_state_free(*file);
    *file = NULL;
    return SEGC_FAIL(SEGC_ERR_NOMEM, "no memory for %zu bytes", size);
  }
  if (size) memcpy(copy, bytes, size);
  return finish_parse(file, copy, size);
}

segc_status segc_state_read(const char *path, segc_state_file **file) {
  *file = NULL;
  FILE *f = fopen(path, "rb");
  if (!f)
    return SEGC_FAIL(SEGC_ERR_IO, "cannot open training state %s: %s", path,
                     strerror(errno));
  long size = -1;
  if (fseek(f, 0, SEEK_END) == 0) size = ftell(f);
  if (size < 0 || fseek(f, 0, SEEK_SET) != 0) {
    const int saved = errno;
    fclose(f);
    return SEGC_FAIL(SEGC_ERR_IO, "cannot size training state %s: %s", path,
                     strerror(saved));
  }
  uint8_t *bytes = aligned_buffer((size_t)size);
  segc_status status = SEGC_OK;
  if (!bytes)
    status = SEGC_FAIL(SEGC_ERR_NOMEM, "no memory to read %s (%ld bytes)",
                       path, size);
  else if (fread(bytes, 1, (size_t)size, f) != (size_t)size)
    status = SEGC_FAIL(SEGC_ERR_IO, "cannot read training state %s: %s", path,
                       ferror(f) ? strerror(errno) : "file shrank");
  fclose(f);  // read-only: nothing to lose
  if (status == SEGC_OK) status = new_file(path, file);
  if (status != SEGC_OK) {
    free(bytes);
    return status;
  }
  return finish_parse(file, bytes, (size_t)size);
}

int segc_state_count(const segc_state_file *file) {
  return file ? file->count : 0;
}

const segc_state_entry *segc_state_entry_at(const segc_state_file *file,
                                            int index) {
  if (!file || index < 0 || index >= file->count) return NULL;
  return &file->entries[index];
}

const segc_state_entry *segc_state_find(const segc_state_file *file,
                                        const char *name) {
  if (!file || !name) return NULL;
  int lo = 0, hi = file->count;
  while (lo < hi) {
    const int mid = lo + (hi - lo) / 2;
    const int c = strcmp(name, file->sorted[mid]->name);
    if (c == 0) return file->sorted[mid];
    if (c < 0) hi = mid;
    else lo = mid + 1;
  }
  return NULL;
}

static segc_status find_kind(const segc_state_file *file, const char *name,
                             segc_state_kind kind,
                             const segc_state_entry **entry) {
  *entry = segc_state_find(file, name);
  if (!*entry)
    return SEGC_FAIL(SEGC_ERR_FORMAT, "training state %s has no entry '%s'",
                     file ? file->path : "(none)", name);
  if ((*entry)->kind != kind)
    return SEGC_FAIL(SEGC_ERR_FORMAT,
                     "training state %s: entry '%s' has kind %s, expected %s",
                     file->path, name, kind_name((*entry)->kind),
                     kind_name(kind));
  return SEGC_OK;
}

segc_status segc_state_get_f32(const segc_state_file *file, const char *name,
                               int64_t expected_count, const float **data) {
  const segc_state_entry *e = NULL;
  SEGC_TRY(find_kind(file, name, SEGC_STATE_F32, &e));
  const int64_t count = (int64_t)(e->bytes / sizeof(float));
  if (expected_count >= 0 && count != expected_count)
    return SEGC_FAIL(SEGC_ERR_FORMAT,
                     "training state %s: entry '%s' holds %" PRId64
                     " floats, expected %" PRId64, file->path, name, count,
                     expected_count);
  *data = e->data;
  return SEGC_OK;
}

segc_status segc_state_get_i64(const segc_state_file *file, const char *name,
                               int64_t *value) {
  const segc_state_entry *e = NULL;
  SEGC_TRY(find_kind(file, name, SEGC_STATE_I64, &e));
  memcpy(value, e->data, sizeof *value);  // stored little-endian
  return SEGC_OK;
}

segc_status segc_state_get_string(const segc_state_file *file,
                                  const char *name, const char **text) {
  const segc_state_entry *e = NULL;
  SEGC_TRY(find_kind(file, name, SEGC_STATE_STRING, &e));
  *text = e->data;
  return SEGC_OK;
}
