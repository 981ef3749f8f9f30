// segc's own file for the training state (parameters, optimizer moments,
// counters, the config): named, typed entries that are read back bit for bit.
//
// Layout, little-endian throughout (format version 1):
//   "SEGCSTAT"            8-byte magic
//   uint32 version        SEGC_STATE_FORMAT_VERSION
//   uint32 entry_count
//   uint64 file_length    the whole file, CRC included (catches truncation)
//   entry_count times:
//     uint16 name_length, name (UTF-8, no NUL)
//     uint8  kind (segc_state_kind), uint8 ndim (0..8), int64 shape[ndim]
//     uint64 byte_length
//     zero padding to a 64-byte file offset, so arrays can be used in place
//     data (f32: numel * 4 bytes; i64: 8 bytes; string: UTF-8 and a NUL)
//   uint32 crc32          zlib's CRC-32 of every byte before it
// The writer goes through a temporary file and a rename.
#ifndef SEGC_IO_STATE_FILE_H
#define SEGC_IO_STATE_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

enum { SEGC_STATE_FORMAT_VERSION = 1, SEGC_STATE_MAX_DIMS = 8 };

typedef enum {
  SEGC_STATE_F32 = 1,     // an array of floats with a shape
  SEGC_STATE_I64 = 2,     // one signed 64-bit integer (ndim 0)
  SEGC_STATE_STRING = 3,  // UTF-8 text, e.g. the config as JSON (ndim 0)
} segc_state_kind;

typedef struct {
  const char *name;
  segc_state_kind kind;
  int ndim;
  int64_t shape[SEGC_STATE_MAX_DIMS];
  uint64_t bytes;    // data bytes (strings: including the NUL)
  const void *data;  // 64-byte aligned in a file that was read
} segc_state_entry;

// ---- writing
typedef struct segc_state_builder segc_state_builder;

segc_status segc_state_builder_create(segc_state_builder **builder);
void segc_state_builder_free(segc_state_builder *builder);
// Arrays are not copied: `data` must stay valid until segc_state_write.
segc_status segc_state_add_f32(segc_state_builder *builder, const char *name,
                               const float *data, int ndim,
                               const int64_t *shape);
segc_status segc_state_add_i64(segc_state_builder *builder, const char *name,
                               int64_t value);
// The text is copied.
segc_status segc_state_add_string(segc_state_builder *builder,
                                  const char *name, const char *utf8);
segc_status segc_state_write(const segc_state_builder *builder,
                             const char *path);

// ---- reading
typedef struct segc_state_file segc_state_file;

// Reads and checks the whole file (magic, version, length, CRC, every
// entry). Errors name the file and what is wrong.
segc_status segc_state_read(const char *path, segc_state_file **file);
// The same from memory (the bytes are copied).
segc_status segc_state_parse(const uint8_t *bytes, size_t size,
                             segc_state_file **file);
void segc_state_free(segc_state_file *file);

int segc_state_count(const segc_state_file *file);
const segc_state_entry *segc_state_entry_at(const segc_state_file *file,
                                            int index);
// NULL when absent.
const segc_state_entry *segc_state_find(const segc_state_file *file,
                                        const char *name);
// Typed look-ups that fail with a message naming the file and the entry when
// it is absent or of another kind. expected_count < 0 accepts any size.
segc_status segc_state_get_f32(const segc_state_file *file, const char *name,
                               int64_t expected_count, const float **data);
segc_status segc_state_get_i64(const segc_state_file *file, const char *name,
                               int64_t *value);
segc_status segc_state_get_string(const segc_state_file *file,
                                  const char *name, const char **text);

#endif
