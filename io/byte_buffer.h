// Little-endian field access and a growable byte buffer, shared by the zip,
// pickle and state-file code. Readers take a pointer already checked to have
// enough bytes; the buffer reports running out of memory once and then keeps
// failing, so writers can append many fields and check at the end.
#ifndef SEGC_IO_BYTE_BUFFER_H
#define SEGC_IO_BYTE_BUFFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

static inline uint16_t segc_le16(const uint8_t *p) {
  return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t segc_le32(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
         ((uint32_t)p[3] << 24);
}
static inline uint64_t segc_le64(const uint8_t *p) {
  return (uint64_t)segc_le32(p) | ((uint64_t)segc_le32(p + 4) << 32);
}

typedef struct {
  uint8_t *data;
  size_t size;
  size_t capacity;
  bool failed;  // an allocation failed; every later append is a no-op
} segc_byte_buffer;

void segc_byte_buffer_free(segc_byte_buffer *buffer);
void segc_byte_buffer_append(segc_byte_buffer *buffer, const void *bytes,
                             size_t count);
void segc_byte_buffer_u8(segc_byte_buffer *buffer, uint8_t value);
void segc_byte_buffer_le16(segc_byte_buffer *buffer, uint16_t value);
void segc_byte_buffer_le32(segc_byte_buffer *buffer, uint32_t value);
void segc_byte_buffer_le64(segc_byte_buffer *buffer, uint64_t value);
void segc_byte_buffer_zeros(segc_byte_buffer *buffer, size_t count);
// SEGC_ERR_NOMEM naming `what` if any append failed, else SEGC_OK.
segc_status segc_byte_buffer_status(const segc_byte_buffer *buffer,
                                    const char *what);

// CRC-32 as zlib computes it, for buffers of any length: start from 0 and
// pass the previous result to continue over more bytes.
uint32_t segc_crc32_update(uint32_t crc, const void *data, uint64_t size);
static inline uint32_t segc_crc32(const void *data, uint64_t size) {
  return segc_crc32_update(0, data, size);
}

// True when bytes[0..length) is well-formed UTF-8 (no overlongs, no
// surrogates, nothing above U+10FFFF).
bool segc_utf8_valid(const uint8_t *bytes, size_t length);

#endif
