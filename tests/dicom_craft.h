// A small DICOM Part-10 writer for the tests: CT slices in implicit VR,
// explicit VR or deflated explicit VR little endian, native or encapsulated
// pixel data (the codestream made by the caller, e.g. with OpenJPEG or
// CharLS), with a nested undefined-length sequence and a defined-length one
// before the pixel data so that the reader has to skip them. Test code only.
#ifndef SEGC_TESTS_DICOM_CRAFT_H
#define SEGC_TESTS_DICOM_CRAFT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define CRAFT_IMPLICIT "1.2.840.10008.1.2"
#define CRAFT_EXPLICIT "1.2.840.10008.1.2.1"
#define CRAFT_DEFLATED "1.2.840.10008.1.2.1.99"
#define CRAFT_JPEG2000 "1.2.840.10008.1.2.4.90"
#define CRAFT_JPEGLS "1.2.840.10008.1.2.4.80"
#define CRAFT_JPEG_BASELINE "1.2.840.10008.1.2.4.50"

typedef struct {
  uint8_t *data;
  size_t size, capacity;
  bool failed;
} craft_buffer;

static inline void craft_put(craft_buffer *b, const void *bytes, size_t n) {
  if (b->failed) return;
  if (b->size + n > b->capacity) {
    size_t grown = b->capacity ? b->capacity : 1024;
    while (grown < b->size + n) grown *= 2;
    uint8_t *bigger = realloc(b->data, grown);
    if (!bigger) {
      b->failed = true;
      return;
    }
    b->data = bigger;
    b->capacity = grown;
  }
  if (n) memcpy(b->data + b->size, bytes, n);
  b->size += n;
}
static inline void craft_u16(craft_buffer *b, uint16_t v) {
  const uint8_t p[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
  craft_put(b, p, 2);
}
static inline void craft_u32(craft_buffer *b, uint32_t v) {
  const uint8_t p[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16),
                        (uint8_t)(v >> 24)};
  craft_put(b, p, 4);
}

static inline bool craft_long_vr(const char *vr) {
  return !strcmp(vr, "OB") || !strcmp(vr, "OW") || !strcmp(vr, "SQ") ||
         !strcmp(vr, "UN") || !strcmp(vr, "UT");
}

// An element header (value follows); length 0xFFFFFFFF for undefined.
static inline void craft_header(craft_buffer *b, bool explicit_vr, uint16_t group,
                         uint16_t element, const char *vr, uint32_t length) {
  craft_u16(b, group);
  craft_u16(b, element);
  if (!explicit_vr) {
    craft_u32(b, length);
  } else if (craft_long_vr(vr)) {
    craft_put(b, vr, 2);
    craft_u16(b, 0);
    craft_u32(b, length);
  } else {
    craft_put(b, vr, 2);
    craft_u16(b, (uint16_t)length);
  }
}

// A string value padded to even length (UI with NUL, others with space).
static inline void craft_string(craft_buffer *b, bool explicit_vr, uint16_t group,
                         uint16_t element, const char *vr, const char *text) {
  const size_t n = strlen(text), padded = n + (n & 1);
  craft_header(b, explicit_vr, group, element, vr, (uint32_t)padded);
  craft_put(b, text, n);
  if (padded > n) craft_put(b, strcmp(vr, "UI") ? " " : "", 1);
}
static inline void craft_us(craft_buffer *b, bool explicit_vr, uint16_t group,
                     uint16_t element, uint16_t v) {
  craft_header(b, explicit_vr, group, element, "US", 2);
  craft_u16(b, v);
}
static inline void craft_numbers(craft_buffer *b, bool explicit_vr, uint16_t group,
                          uint16_t element, const double *v, int count) {
  char text[256];
  size_t used = 0;
  for (int i = 0; i < count; ++i)
    used += (size_t)snprintf(text + used, sizeof text - used, "%s%.10g",
                             i ? "\\" : "", v[i]);
  craft_string(b, explicit_vr, group, element, "DS", text);
}

typedef struct {
  const char *transfer_syntax;
  const char *series_uid, *description;
  double position[3], orientation[6], spacing[2];
  double slope, intercept;
  int rows, columns, bits_allocated, bits_stored, pixel_representation;
  int instance;
  // Native: rows * columns samples, u8 or 16-bit little endian as stored.
  const void *pixels;
  // Encapsulated (JPEG syntaxes): the frame's codestream, split into
  // `fragments` fragments (1 or 2).
  const uint8_t *codestream;
  size_t codestream_size;
  int fragments;
} craft_slice;

// The CT defaults: 16-bit unsigned, 12 stored, axial, 0.5 mm pixels.
static inline craft_slice craft_default_slice(int rows, int columns) {
  craft_slice s;
  memset(&s, 0, sizeof s);
  s.transfer_syntax = CRAFT_EXPLICIT;
  s.series_uid = "1.2.826.0.1.3680043.2.1143.1";
  s.description = "synthetic";
  const double axial[6] = {1, 0, 0, 0, 1, 0};
  memcpy(s.orientation, axial, sizeof axial);
  s.spacing[0] = 0.5;
  s.spacing[1] = 0.75;
  s.slope = 1.0;
  s.intercept = -1024.0;
  s.rows = rows;
  s.columns = columns;
  s.bits_allocated = 16;
  s.bits_stored = 12;
  s.fragments = 1;
  return s;
}

static inline void craft_dataset(craft_buffer *b, const craft_slice *s, bool ev) {
  craft_string(b, ev, 0x0008, 0x0016, "UI", "1.2.840.10008.5.1.4.1.1.2");
  craft_string(b, ev, 0x0008, 0x0060, "CS", "CT");
  craft_string(b, ev, 0x0008, 0x103E, "LO", s->description);
  // ReferencedImageSequence: undefined length, one undefined-length item
  // holding a nested defined-length sequence.
  craft_header(b, ev, 0x0008, 0x1140, "SQ", 0xFFFFFFFFu);
  craft_u16(b, 0xFFFE); craft_u16(b, 0xE000); craft_u32(b, 0xFFFFFFFFu);
  craft_string(b, ev, 0x0008, 0x1150, "UI", "1.2.840.10008.5.1.4.1.1.2");
  {
    craft_buffer inner = {0};
    craft_string(&inner, ev, 0x0028, 0x0010, "US", "xx");  // not top level
    craft_header(b, ev, 0x0008, 0x1199, "SQ", (uint32_t)(inner.size + 8));
    craft_u16(b, 0xFFFE); craft_u16(b, 0xE000); craft_u32(b, (uint32_t)inner.size);
    craft_put(b, inner.data, inner.size);
    b->failed |= inner.failed;
    free(inner.data);
  }
  craft_u16(b, 0xFFFE); craft_u16(b, 0xE00D); craft_u32(b, 0);
  craft_u16(b, 0xFFFE); craft_u16(b, 0xE0DD); craft_u32(b, 0);
  const double thickness = 1.0;
  craft_numbers(b, ev, 0x0018, 0x0050, &thickness, 1);
  craft_string(b, ev, 0x0020, 0x000E, "UI", s->series_uid);
  char instance[16];
  snprintf(instance, sizeof instance, "%d", s->instance);
  craft_string(b, ev, 0x0020, 0x0013, "IS", instance);
  craft_numbers(b, ev, 0x0020, 0x0032, s->position, 3);
  craft_numbers(b, ev, 0x0020, 0x0037, s->orientation, 6);
  craft_us(b, ev, 0x0028, 0x0002, 1);
  craft_string(b, ev, 0x0028, 0x0004, "CS", "MONOCHROME2");
  craft_us(b, ev, 0x0028, 0x0010, (uint16_t)s->rows);
  craft_us(b, ev, 0x0028, 0x0011, (uint16_t)s->columns);
  craft_numbers(b, ev, 0x0028, 0x0030, s->spacing, 2);
  craft_us(b, ev, 0x0028, 0x0100, (uint16_t)s->bits_allocated);
  craft_us(b, ev, 0x0028, 0x0101, (uint16_t)s->bits_stored);
  craft_us(b, ev, 0x0028, 0x0102, (uint16_t)(s->bits_stored - 1));
  craft_us(b, ev, 0x0028, 0x0103, (uint16_t)s->pixel_representation);
  craft_numbers(b, ev, 0x0028, 0x1052, &s->intercept, 1);
  craft_numbers(b, ev, 0x0028, 0x1053, &s->slope, 1);
  if (s->codestream) {
    craft_header(b, true, 0x7FE0, 0x0010, "OB", 0xFFFFFFFFu);
    craft_u16(b, 0xFFFE); craft_u16(b, 0xE000); craft_u32(b, 0);  // offset table
    // Fragments other than the last must have even length (no padding
    // inside the codestream).
    const size_t first = s->fragments == 2 ? s->codestream_size / 4 * 2
                                           : s->codestream_size;
    const size_t parts[2] = {first, s->codestream_size - first};
    size_t at = 0;
    for (int f = 0; f < 2; ++f) {
      if (parts[f] == 0) continue;
      const size_t padded = parts[f] + (parts[f] & 1);
      craft_u16(b, 0xFFFE); craft_u16(b, 0xE000); craft_u32(b, (uint32_t)padded);
      craft_put(b, s->codestream + at, parts[f]);
      if (padded > parts[f]) craft_put(b, "", 1);
      at += parts[f];
    }
    craft_u16(b, 0xFFFE); craft_u16(b, 0xE0DD); craft_u32(b, 0);
  } else {
    const size_t bytes = (size_t)s->rows * (size_t)s->columns *
                         (size_t)(s->bits_allocated / 8);
    const size_t padded = bytes + (bytes & 1);
    craft_header(b, ev, 0x7FE0, 0x0010, s->bits_allocated == 8 ? "OB" : "OW",
                 (uint32_t)padded);
    craft_put(b, s->pixels, bytes);
    if (padded > bytes) craft_put(b, "", 1);
  }
}

// Raw deflate of the dataset (the deflated transfer syntax).
static inline bool craft_deflate(craft_buffer *dataset) {
  z_stream z;
  memset(&z, 0, sizeof z);
  if (deflateInit2(&z, 6, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return false;
  const uLong bound = deflateBound(&z, (uLong)dataset->size);
  uint8_t *out = malloc(bound);
  if (!out) {
    deflateEnd(&z);
    return false;
  }
  z.next_in = dataset->data;
  z.avail_in = (uInt)dataset->size;
  z.next_out = out;
  z.avail_out = (uInt)bound;
  const int rc = deflate(&z, Z_FINISH);
  const size_t n = bound - z.avail_out;
  deflateEnd(&z);
  if (rc != Z_STREAM_END) {
    free(out);
    return false;
  }
  free(dataset->data);
  dataset->data = out;
  dataset->size = dataset->capacity = n;
  return true;
}

// The whole Part-10 file in `out` (caller frees out->data).
static inline bool craft_file(const craft_slice *s, craft_buffer *out) {
  memset(out, 0, sizeof *out);
  const bool implicit = !strcmp(s->transfer_syntax, CRAFT_IMPLICIT);
  craft_buffer dataset = {0};
  craft_dataset(&dataset, s, !implicit);
  if (!strcmp(s->transfer_syntax, CRAFT_DEFLATED) && !craft_deflate(&dataset))
    dataset.failed = true;
  craft_buffer meta = {0};
  const uint8_t version[2] = {0, 1};
  craft_header(&meta, true, 0x0002, 0x0001, "OB", 2);
  craft_put(&meta, version, 2);
  craft_string(&meta, true, 0x0002, 0x0002, "UI", "1.2.840.10008.5.1.4.1.1.2");
  char instance_uid[64];
  snprintf(instance_uid, sizeof instance_uid, "1.2.826.0.1.3680043.2.1143.9.%d",
           s->instance);
  craft_string(&meta, true, 0x0002, 0x0003, "UI", instance_uid);
  craft_string(&meta, true, 0x0002, 0x0010, "UI", s->transfer_syntax);
  uint8_t preamble[128] = {0};
  craft_put(out, preamble, sizeof preamble);
  craft_put(out, "DICM", 4);
  craft_header(out, true, 0x0002, 0x0000, "UL", 4);
  craft_u32(out, (uint32_t)meta.size);
  craft_put(out, meta.data, meta.size);
  craft_put(out, dataset.data, dataset.size);
  const bool ok = !out->failed && !meta.failed && !dataset.failed;
  free(meta.data);
  free(dataset.data);
  return ok;
}

static inline bool craft_write_bytes(const char *path, const void *bytes, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f) return false;
  const bool wrote = fwrite(bytes, 1, n, f) == n;
  return (fclose(f) == 0) && wrote;
}

static inline bool craft_write(const char *path, const craft_slice *s) {
  craft_buffer file;
  bool ok = craft_file(s, &file);
  ok = ok && craft_write_bytes(path, file.data, file.size);
  free(file.data);
  return ok;
}

#endif
