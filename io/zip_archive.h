// The zip container of PyTorch checkpoints: stored (uncompressed) entries,
// read from memory and written through an atomic file.
//
// Reading trusts nothing: every offset and size is checked against the
// buffer, zip64 records and extra fields are understood, and an entry's bytes
// are handed out only after its method (stored) and CRC-32 are checked.
// Writing aligns each entry's data to 64 bytes with padding in the local
// header's extra field (as PyTorch does, so storages can be mapped) and uses
// zip64 records only when a size or offset needs them.
#ifndef SEGC_IO_ZIP_ARCHIVE_H
#define SEGC_IO_ZIP_ARCHIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "io/atomic_file.h"
#include "io/byte_buffer.h"

enum { SEGC_ZIP_ALIGNMENT = 64 };

typedef struct {
  const uint8_t *name;  // points into the archive; not NUL-terminated
  size_t name_length;
  uint64_t data_offset;  // from the start of the archive
  uint64_t size;         // stored bytes (== uncompressed size when stored)
  uint32_t crc32;
  uint16_t method;       // 0 = stored
  uint16_t flags;
} segc_zip_entry;

typedef struct {
  const uint8_t *bytes;  // the whole archive (not owned)
  size_t size;
  segc_zip_entry *entries;  // sorted by name
  size_t count;
  bool zip64;  // the archive has a zip64 end-of-central-directory record
} segc_zip_reader;

// Parses the central directory. `bytes` must outlive the reader.
segc_status segc_zip_open(segc_zip_reader *zip, const uint8_t *bytes,
                          size_t size);
void segc_zip_close(segc_zip_reader *zip);
// NULL when there is no entry of that name.
const segc_zip_entry *segc_zip_find(const segc_zip_reader *zip,
                                    const char *name, size_t name_length);
// The entry's bytes inside the archive, after checking it is stored, not
// encrypted and (when verify_crc) that its CRC-32 matches.
segc_status segc_zip_entry_data(const segc_zip_reader *zip,
                                const segc_zip_entry *entry, bool verify_crc,
                                const uint8_t **data);

typedef struct {
  segc_atomic_file file;
  segc_byte_buffer central;  // the central directory, written at the end
  uint64_t count;
  bool force_zip64;  // write zip64 fields even when not needed (for tests)
} segc_zip_writer;

segc_status segc_zip_writer_open(segc_zip_writer *zip, const char *path,
                                 bool force_zip64);
// Appends one stored entry. On failure the writer is aborted (no file left).
segc_status segc_zip_writer_add(segc_zip_writer *zip, const char *name,
                                const void *data, uint64_t size);
// Writes the central directory and renames the file into place.
segc_status segc_zip_writer_finish(segc_zip_writer *zip);
void segc_zip_writer_abort(segc_zip_writer *zip);


#endif
