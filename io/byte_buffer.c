#include "io/byte_buffer.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

void segc_byte_buffer_free(segc_byte_buffer *buffer) {
  free(buffer->data);
  memset(buffer, 0, sizeof *buffer);
}

void segc_byte_buffer_append(segc_byte_buffer *buffer, const void *bytes,
                             size_t count) {
  if (buffer->failed || count == 0) return;
  if (count > SIZE_MAX / 2 - buffer->size) {
    buffer->failed = true;
    return;
  }
  if (buffer->size + count > buffer->capacity) {
    size_t capacity = buffer->capacity ? buffer->capacity : 256;
    while (capacity < buffer->size + count) capacity *= 2;
    uint8_t *grown = realloc(buffer->data, capacity);
    if (!grown) {
      buffer->failed = true;
      return;
    }
    buffer->data = grown;
    buffer->capacity = capacity;
  }
  memcpy(buffer->data + buffer->size, bytes, count);
  buffer->size += count;
}

void segc_byte_buffer_u8(segc_byte_buffer *buffer, uint8_t value) {
  segc_byte_buffer_append(buffer, &value, 1);
}

void segc_byte_buffer_le16(segc_byte_buffer *buffer, uint16_t value) {
  const uint8_t b[2] = {(uint8_t)value, (uint8_t)(value >> 8)};
  segc_byte_buffer_append(buffer, b, sizeof b);
}

void segc_byte_buffer_le32(segc_byte_buffer *buffer, uint32_t value) {
  uint8_t b[4];
  for (int i = 0; i < 4; ++i) b[i] = (uint8_t)(value >> (8 * i));
  segc_byte_buffer_append(buffer, b, sizeof b);
}

void segc_byte_buffer_le64(segc_byte_buffer *buffer, uint64_t value) {
  uint8_t b[8];
  for (int i = 0; i < 8; ++i) b[i] = (uint8_t)(value >> (8 * i));
  segc_byte_buffer_append(buffer, b, sizeof b);
}

void segc_byte_buffer_zeros(segc_byte_buffer *buffer, size_t count) {
  static const uint8_t zeros[64];
  while (count > 0) {
    size_t n = count < sizeof zeros ? count : sizeof zeros;
    segc_byte_buffer_append(buffer, zeros, n);
    count -= n;
  }
}

segc_status segc_byte_buffer_status(const segc_byte_buffer *buffer,
                                    const char *what) {
  if (buffer->failed)
    return SEGC_FAIL(SEGC_ERR_NOMEM, "%s: out of memory building %zu bytes",
                     what, buffer->size);
  return SEGC_OK;
}

uint32_t segc_crc32_update(uint32_t crc, const void *data, uint64_t size) {
  const uint8_t *bytes = data;
  uLong value = crc;
  while (size > 0) {  // zlib takes 32-bit lengths
    const uInt chunk = size > (1u << 30) ? (1u << 30) : (uInt)size;
    value = crc32(value, bytes, chunk);
    bytes += chunk;
    size -= chunk;
  }
  return (uint32_t)value;
}

bool segc_utf8_valid(const uint8_t *bytes, size_t length) {
  size_t i = 0;
  while (i < length) {
    const uint8_t c = bytes[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t extra;
    uint32_t code, min_code;
    if ((c & 0xe0) == 0xc0) {
      extra = 1, code = c & 0x1fu, min_code = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
      extra = 2, code = c & 0x0fu, min_code = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
      extra = 3, code = c & 0x07u, min_code = 0x10000;
    } else {
      return false;
    }
    if (length - i <= extra) return false;
    for (size_t k = 1; k <= extra; ++k) {
      if ((bytes[i + k] & 0xc0) != 0x80) return false;
      code = (code << 6) | (bytes[i + k] & 0x3fu);
    }
    if (code < min_code || code > 0x10ffff ||
        (code >= 0xd800 && code <= 0xdfff))
      return false;
    i += extra + 1;
  }
  return true;
}
