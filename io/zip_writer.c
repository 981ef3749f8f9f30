// Writing side of zip_archive.h: stored entries, 64-byte aligned data.
#include <string.h>

#include "io/zip_archive.h"

enum {
  kLocalSignature = 0x04034b50,
  kCentralSignature = 0x02014b50,
  kEndSignature = 0x06054b50,
  kZip64EndSignature = 0x06064b50,
  kZip64LocatorSignature = 0x07064b50,
  kLocalHeaderBytes = 30,
  kZip64ExtraId = 0x0001,
  kPaddingExtraId = 0x4246,  // "FB", the id PyTorch uses for its padding
  kVersionPlain = 20,        // zip 2.0: stored entries
  kVersionZip64 = 45,        // zip 4.5: zip64 records
  kMadeByUnix = 3 << 8,
  kDosDate = (0 << 9) | (1 << 5) | 1,  // 1980-01-01: a fixed, valid date
};
static const uint64_t kMax32 = 0xffffffffu;

segc_status segc_zip_writer_open(segc_zip_writer *zip, const char *path,
                                 bool force_zip64) {
  memset(zip, 0, sizeof *zip);
  zip->force_zip64 = force_zip64;
  return segc_atomic_file_open(&zip->file, path);
}

void segc_zip_writer_abort(segc_zip_writer *zip) {
  segc_atomic_file_abort(&zip->file);
  segc_byte_buffer_free(&zip->central);
}

static segc_status abort_with(segc_zip_writer *zip, segc_status status) {
  segc_zip_writer_abort(zip);
  return status;
}

segc_status segc_zip_writer_add(segc_zip_writer *zip, const char *name,
                                const void *data, uint64_t size) {
  const size_t name_length = strlen(name);
  if (name_length == 0 || name_length > 0xffff)
    return abort_with(zip, SEGC_FAIL(SEGC_ERR_INVALID,
                                     "zip entry name of %zu bytes", name_length));
  const uint64_t offset = zip->file.offset;
  const uint32_t crc = segc_crc32(data, size);
  const bool big_size = zip->force_zip64 || size >= kMax32;
  const bool big_offset = zip->force_zip64 || offset >= kMax32;
  const uint16_t version = (big_size || big_offset) ? kVersionZip64 : kVersionPlain;

  // Local header: the zip64 field (both sizes) if needed, then padding so the
  // data starts on a 64-byte boundary.
  const size_t zip64_local = big_size ? 4 + 16 : 0;
  const uint64_t unpadded = offset + kLocalHeaderBytes + name_length + zip64_local + 4;
  const size_t padding = (size_t)((SEGC_ZIP_ALIGNMENT - unpadded % SEGC_ZIP_ALIGNMENT) %
                                  SEGC_ZIP_ALIGNMENT);
  segc_byte_buffer local = {0};
  segc_byte_buffer_le32(&local, kLocalSignature);
  segc_byte_buffer_le16(&local, version);
  segc_byte_buffer_le16(&local, 0);  // flags
  segc_byte_buffer_le16(&local, 0);  // method: stored
  segc_byte_buffer_le16(&local, 0);  // time
  segc_byte_buffer_le16(&local, kDosDate);
  segc_byte_buffer_le32(&local, crc);
  segc_byte_buffer_le32(&local, big_size ? (uint32_t)kMax32 : (uint32_t)size);
  segc_byte_buffer_le32(&local, big_size ? (uint32_t)kMax32 : (uint32_t)size);
  segc_byte_buffer_le16(&local, (uint16_t)name_length);
  segc_byte_buffer_le16(&local, (uint16_t)(zip64_local + 4 + padding));
  segc_byte_buffer_append(&local, name, name_length);
  if (big_size) {
    segc_byte_buffer_le16(&local, kZip64ExtraId);
    segc_byte_buffer_le16(&local, 16);
    segc_byte_buffer_le64(&local, size);
    segc_byte_buffer_le64(&local, size);
  }
  segc_byte_buffer_le16(&local, kPaddingExtraId);
  segc_byte_buffer_le16(&local, (uint16_t)padding);
  for (size_t i = 0; i < padding; ++i) segc_byte_buffer_u8(&local, 'Z');
  segc_status status = segc_byte_buffer_status(&local, name);
  if (status == SEGC_OK)
    status = segc_atomic_file_write(&zip->file, local.data, local.size);
  segc_byte_buffer_free(&local);
  if (status != SEGC_OK) return abort_with(zip, status);
  status = segc_atomic_file_write(&zip->file, data, (size_t)size);
  if (status != SEGC_OK) return abort_with(zip, status);

  // Its central directory record: the zip64 field holds, in order, the sizes
  // and the offset that did not fit in 32 bits.
  const uint16_t zip64_central = (uint16_t)((big_size ? 16 : 0) + (big_offset ? 8 : 0));
  segc_byte_buffer *c = &zip->central;
  segc_byte_buffer_le32(c, kCentralSignature);
  segc_byte_buffer_le16(c, (uint16_t)(kMadeByUnix | version));
  segc_byte_buffer_le16(c, version);
  segc_byte_buffer_le16(c, 0);  // flags
  segc_byte_buffer_le16(c, 0);  // stored
  segc_byte_buffer_le16(c, 0);
  segc_byte_buffer_le16(c, kDosDate);
  segc_byte_buffer_le32(c, crc);
  segc_byte_buffer_le32(c, big_size ? (uint32_t)kMax32 : (uint32_t)size);
  segc_byte_buffer_le32(c, big_size ? (uint32_t)kMax32 : (uint32_t)size);
  segc_byte_buffer_le16(c, (uint16_t)name_length);
  segc_byte_buffer_le16(c, zip64_central ? (uint16_t)(4 + zip64_central) : 0);
  segc_byte_buffer_le16(c, 0);  // comment
  segc_byte_buffer_le16(c, 0);  // disk
  segc_byte_buffer_le16(c, 0);  // internal attributes
  segc_byte_buffer_le32(c, (uint32_t)0644 << 16);  // external: rw-r--r--
  segc_byte_buffer_le32(c, big_offset ? (uint32_t)kMax32 : (uint32_t)offset);
  segc_byte_buffer_append(c, name, name_length);
  if (zip64_central) {
    segc_byte_buffer_le16(c, kZip64ExtraId);
    segc_byte_buffer_le16(c, zip64_central);
    if (big_size) {
      segc_byte_buffer_le64(c, size);
      segc_byte_buffer_le64(c, size);
    }
    if (big_offset) segc_byte_buffer_le64(c, offset);
  }
  status = segc_byte_buffer_status(c, "zip central directory");
  if (status != SEGC_OK) return abort_with(zip, status);
  zip->count++;
  return SEGC_OK;
}

segc_status segc_zip_writer_finish(segc_zip_writer *zip) {
  const uint64_t directory_offset = zip->file.offset;
  const uint64_t directory_size = zip->central.size;
  const bool zip64 = zip->force_zip64 || zip->count >= 0xffff ||
                     directory_offset >= kMax32 || directory_size >= kMax32;
  segc_byte_buffer *c = &zip->central;
  if (zip64) {
    const uint64_t record_offset = directory_offset + directory_size;
    segc_byte_buffer_le32(c, kZip64EndSignature);
    segc_byte_buffer_le64(c, 44);  // bytes after this field
    segc_byte_buffer_le16(c, kMadeByUnix | kVersionZip64);
    segc_byte_buffer_le16(c, kVersionZip64);
    segc_byte_buffer_le32(c, 0);  // this disk
    segc_byte_buffer_le32(c, 0);  // directory's disk
    segc_byte_buffer_le64(c, zip->count);
    segc_byte_buffer_le64(c, zip->count);
    segc_byte_buffer_le64(c, directory_size);
    segc_byte_buffer_le64(c, directory_offset);
    segc_byte_buffer_le32(c, kZip64LocatorSignature);
    segc_byte_buffer_le32(c, 0);
    segc_byte_buffer_le64(c, record_offset);
    segc_byte_buffer_le32(c, 1);  // disks
  }
  const uint16_t count16 = zip64 ? 0xffff : (uint16_t)zip->count;
  segc_byte_buffer_le32(c, kEndSignature);
  segc_byte_buffer_le16(c, 0);
  segc_byte_buffer_le16(c, 0);
  segc_byte_buffer_le16(c, count16);
  segc_byte_buffer_le16(c, count16);
  segc_byte_buffer_le32(c, zip64 ? (uint32_t)kMax32 : (uint32_t)directory_size);
  segc_byte_buffer_le32(c, zip64 ? (uint32_t)kMax32 : (uint32_t)directory_offset);
  segc_byte_buffer_le16(c, 0);  // comment
  segc_status status = segc_byte_buffer_status(c, "zip central directory");
  if (status == SEGC_OK)
    status = segc_atomic_file_write(&zip->file, c->data, c->size);
  if (status == SEGC_OK) status = segc_atomic_file_commit(&zip->file);
  if (status != SEGC_OK) return abort_with(zip, status);
  segc_byte_buffer_free(&zip->central);
  return SEGC_OK;
}
