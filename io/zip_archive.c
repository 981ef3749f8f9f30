#include "io/zip_archive.h"

#include <stdlib.h>
#include <string.h>

// Record signatures and fixed sizes from the zip specification (APPNOTE).
enum {
  kLocalSignature = 0x04034b50,
  kCentralSignature = 0x02014b50,
  kEndSignature = 0x06054b50,
  kZip64EndSignature = 0x06064b50,
  kZip64LocatorSignature = 0x07064b50,
  kLocalHeaderBytes = 30,
  kCentralHeaderBytes = 46,
  kEndBytes = 22,
  kZip64EndBytes = 56,
  kZip64LocatorBytes = 20,
  kZip64ExtraId = 0x0001,
  kFlagEncrypted = 0x0001,
};
static const uint32_t kMax32 = 0xffffffffu;

// ---------------------------------------------------------------- reading

static bool fits(uint64_t offset, uint64_t length, uint64_t size) {
  return offset <= size && length <= size - offset;
}

// Finds the end-of-central-directory record; a zip comment may follow it.
static segc_status find_end_record(const segc_zip_reader *zip, size_t *at) {
  if (zip->size < kEndBytes)
    return SEGC_FAIL(SEGC_ERR_FORMAT,
                     "not a zip archive: only %zu bytes", zip->size);
  const size_t last = zip->size - kEndBytes;
  const size_t first = last > 0xffff ? last - 0xffff : 0;
  for (size_t pos = last + 1; pos-- > first;) {
    const uint8_t *p = zip->bytes + pos;
    if (segc_le32(p) == kEndSignature &&
        pos + kEndBytes + segc_le16(p + 20) <= zip->size) {
      *at = pos;
      return SEGC_OK;
    }
  }
  return SEGC_FAIL(SEGC_ERR_FORMAT,
                   "not a zip archive (no end-of-central-directory record; "
                   "truncated?)");
}

typedef struct {
  uint64_t count, directory_offset, directory_size;
  uint64_t directory_limit;  // the directory must end before this offset
} directory_location;

static segc_status locate_directory(segc_zip_reader *zip,
                                    directory_location *where) {
  size_t end_at = 0;
  SEGC_TRY(find_end_record(zip, &end_at));
  const uint8_t *end = zip->bytes + end_at;
  if (segc_le16(end + 4) != 0 || segc_le16(end + 6) != 0 ||
      segc_le16(end + 8) != segc_le16(end + 10))
    return SEGC_FAIL(SEGC_ERR_UNSUPPORTED,
                     "zip archive spans several disks");
  where->count = segc_le16(end + 10);
  where->directory_size = segc_le32(end + 12);
  where->directory_offset = segc_le32(end + 16);
  where->directory_limit = end_at;
  zip->zip64 = false;
  if (end_at >= kZip64LocatorBytes &&
      segc_le32(end - kZip64LocatorBytes) == kZip64LocatorSignature) {
    const uint8_t *locator = end - kZip64LocatorBytes;
    const uint64_t record_at = segc_le64(locator + 8);
    const uint64_t locator_at = end_at - kZip64LocatorBytes;
    if (!fits(record_at, kZip64EndBytes, locator_at))
      return SEGC_FAIL(SEGC_ERR_FORMAT,
                       "zip64 end record offset %llu is outside the archive",
                       (unsigned long long)record_at);
    const uint8_t *record = zip->bytes + record_at;
    if (segc_le32(record) != kZip64EndSignature)
      return SEGC_FAIL(SEGC_ERR_FORMAT,
                       "bad zip64 end record signature at offset %llu",
                       (unsigned long long)record_at);
    if (segc_le32(record + 16) != 0 || segc_le32(record + 20) != 0 ||
        segc_le64(record + 24) != segc_le64(record + 32))
      return SEGC_FAIL(SEGC_ERR_UNSUPPORTED,
                       "zip archive spans several disks");
    where->count = segc_le64(record + 32);
    where->directory_size = segc_le64(record + 40);
    where->directory_offset = segc_le64(record + 48);
    where->directory_limit = record_at;
    zip->zip64 = true;
  }
  if (!fits(where->directory_offset, where->directory_size,
            where->directory_limit))
    return SEGC_FAIL(SEGC_ERR_FORMAT,
                     "central directory (offset %llu, %llu bytes) lies outside "
                     "the archive; truncated?",
                     (unsigned long long)where->directory_offset,
                     (unsigned long long)where->directory_size);
  if (where->count > where->directory_size / kCentralHeaderBytes)
    return SEGC_FAIL(SEGC_ERR_FORMAT,
                     "central directory claims %llu entries in %llu bytes",
                     (unsigned long long)where->count,
                     (unsigned long long)where->directory_size);
  return SEGC_OK;
}

// Replaces 0xffffffff sizes and offsets by the zip64 extra field's values.
static segc_status read_zip64_extra(const uint8_t *extra, size_t length,
                                    uint64_t *size, uint64_t *stored_size,
                                    uint64_t *local_offset, const char *name) {
  const bool need[3] = {*size == kMax32, *stored_size == kMax32,
                        *local_offset == kMax32};
  if (!need[0] && !need[1] && !need[2]) return SEGC_OK;
  size_t at = 0;
  while (length - at >= 4) {
    const uint16_t id = segc_le16(extra + at);
    const uint16_t field_length = segc_le16(extra + at + 2);
    at += 4;
    if (field_length > length - at) break;
    if (id == kZip64ExtraId) {
      uint64_t *targets[3] = {size, stored_size, local_offset};
      size_t used = 0;
      for (int k = 0; k < 3; ++k) {
        if (!need[k]) continue;
        if (field_length - used < 8)
          return SEGC_FAIL(SEGC_ERR_FORMAT,
                           "entry '%s': zip64 extra field too short", name);
        *targets[k] = segc_le64(extra + at + used);
        used += 8;
      }
      return SEGC_OK;
    }
    at += field_length;
  }
  return SEGC_FAIL(SEGC_ERR_FORMAT,
                   "entry '%s': sizes need a zip64 extra field, none found",
                   name);
}

static void printable_name(const uint8_t *name, size_t length, char *out,
                           size_t out_size) {
  size_t n = 0;
  for (size_t i = 0; i < length && n + 1 < out_size; ++i)
    out[n++] = (name[i] >= 0x20 && name[i] < 0x7f) ? (char)name[i] : '?';
  out[n] = '\0';
}

static segc_status read_central_entry(const segc_zip_reader *zip,
                                      const uint8_t *directory,
                                      uint64_t directory_size, uint64_t *at,
                                      segc_zip_entry *entry) {
  if (!fits(*at, kCentralHeaderBytes, directory_size))
    return SEGC_FAIL(SEGC_ERR_FORMAT, "central directory is cut short");
  const uint8_t *h = directory + *at;
  if (segc_le32(h) != kCentralSignature)
    return SEGC_FAIL(SEGC_ERR_FORMAT,
                     "bad central directory signature at offset %llu",
                     (unsigned long long)(directory - zip->bytes + *at));
  const uint16_t name_length = segc_le16(h + 28);
  const uint16_t extra_length = segc_le16(h + 30);
  const uint16_t comment_length = segc_le16(h + 32);
  const uint64_t record_bytes =
      (uint64_t)kCentralHeaderBytes + name_length + extra_length + comment_length;
  if (!fits(*at, record_bytes, directory_size))
    return SEGC_FAIL(SEGC_ERR_FORMAT, "central directory is cut short");
  char name[128];
  printable_name(h + kCentralHeaderBytes, name_length, name, sizeof name);
  entry->name = h + kCentralHeaderBytes;
  entry->name_length = name_length;
  entry->flags = segc_le16(h + 8);
  entry->method = segc_le16(h + 10);
  entry->crc32 = segc_le32(h + 16);
  uint64_t stored_size = segc_le32(h + 20);
  uint64_t size = segc_le32(h + 24);
  uint64_t local_offset = segc_le32(h + 42);
  SEGC_TRY(read_zip64_extra(h + kCentralHeaderBytes + name_length,
                            extra_length, &size, &stored_size, &local_offset,
                            name));
  *at += record_bytes;

  if (!fits(local_offset, kLocalHeaderBytes, zip->size))
    return SEGC_FAIL(SEGC_ERR_FORMAT,
                     "entry '%s': local header offset %llu is outside the "
                     "archive", name, (unsigned long long)local_offset);
  const uint8_t *local = zip->bytes + local_offset;
  if (segc_le32(local) != kLocalSignature)
    return SEGC_FAIL(SEGC_ERR_FORMAT,
                     "entry '%s': bad local header signature at offset %llu",
                     name, (unsigned long long)local_offset);
  entry->data_offset = local_offset + kLocalHeaderBytes + segc_le16(local + 26) +
                       segc_le16(local + 28);
  entry->size = stored_size;
  if (entry->method == 0 && stored_size != size)
    return SEGC_FAIL(SEGC_ERR_FORMAT,
                     "entry '%s' is stored but its sizes differ (%llu, %llu)",
                     name, (unsigned long long)stored_size,
                     (unsigned long long)size);
  if (!fits(entry->data_offset, stored_size, zip->size))
    return SEGC_FAIL(SEGC_ERR_FORMAT,
                     "entry '%s' (%llu bytes at offset %llu) runs past the end "
                     "of the archive; truncated?", name,
                     (unsigned long long)stored_size,
                     (unsigned long long)entry->data_offset);
  return SEGC_OK;
}

static int compare_names(const uint8_t *a, size_t a_length, const uint8_t *b,
                         size_t b_length) {
  const int c = memcmp(a, b, a_length < b_length ? a_length : b_length);
  if (c != 0) return c;
  return (a_length > b_length) - (a_length < b_length);
}

static int compare_entries(const void *a, const void *b) {
  const segc_zip_entry *x = a, *y = b;
  return compare_names(x->name, x->name_length, y->name, y->name_length);
}

segc_status segc_zip_open(segc_zip_reader *zip, const uint8_t *bytes,
                          size_t size) {
  memset(zip, 0, sizeof *zip);
  zip->bytes = bytes;
  zip->size = size;
  directory_location where = {0};
  SEGC_TRY(locate_directory(zip, &where));
  if (where.count == 0)
    return SEGC_FAIL(SEGC_ERR_FORMAT, "zip archive has no entries");
  zip->entries = calloc((size_t)where.count, sizeof *zip->entries);
  if (!zip->entries)
    return SEGC_FAIL(SEGC_ERR_NOMEM, "no memory for %llu zip entries",
                     (unsigned long long)where.count);
  const uint8_t *directory = bytes + where.directory_offset;
  uint64_t at = 0;
  for (uint64_t i = 0; i < where.count; ++i) {
    const segc_status status = read_central_entry(
        zip, directory, where.directory_size, &at, &zip->entries[i]);
    if (status != SEGC_OK) {
      segc_zip_close(zip);
      return status;
    }
  }
  zip->count = (size_t)where.count;
  qsort(zip->entries, zip->count, sizeof *zip->entries, compare_entries);
  for (size_t i = 1; i < zip->count; ++i) {
    if (compare_entries(&zip->entries[i - 1], &zip->entries[i]) == 0) {
      char name[128];
      printable_name(zip->entries[i].name, zip->entries[i].name_length, name,
                     sizeof name);
      segc_zip_close(zip);
      return SEGC_FAIL(SEGC_ERR_FORMAT, "zip entry '%s' appears twice", name);
    }
  }
  return SEGC_OK;
}

void segc_zip_close(segc_zip_reader *zip) {
  free(zip->entries);
  memset(zip, 0, sizeof *zip);
}

const segc_zip_entry *segc_zip_find(const segc_zip_reader *zip,
                                    const char *name, size_t name_length) {
  size_t lo = 0, hi = zip->count;
  while (lo < hi) {
    const size_t mid = lo + (hi - lo) / 2;
    const segc_zip_entry *e = &zip->entries[mid];
    const int c = compare_names((const uint8_t *)name, name_length, e->name,
                                e->name_length);
    if (c == 0) return e;
    if (c < 0) hi = mid;
    else lo = mid + 1;
  }
  return NULL;
}

segc_status segc_zip_entry_data(const segc_zip_reader *zip,
                                const segc_zip_entry *entry, bool verify_crc,
                                const uint8_t **data) {
  char name[128];
  printable_name(entry->name, entry->name_length, name, sizeof name);
  if (entry->flags & kFlagEncrypted)
    return SEGC_FAIL(SEGC_ERR_UNSUPPORTED, "zip entry '%s' is encrypted", name);
  if (entry->method != 0)
    return SEGC_FAIL(SEGC_ERR_UNSUPPORTED,
                     "zip entry '%s' is compressed (method %u); PyTorch "
                     "checkpoints store entries uncompressed", name,
                     (unsigned)entry->method);
  *data = zip->bytes + entry->data_offset;
  if (verify_crc) {
    const uint32_t crc = segc_crc32(*data, entry->size);
    if (crc != entry->crc32)
      return SEGC_FAIL(SEGC_ERR_FORMAT,
                       "zip entry '%s': CRC-32 mismatch (stored %08x, data "
                       "%08x); the file is corrupt", name, entry->crc32, crc);
  }
  return SEGC_OK;
}
