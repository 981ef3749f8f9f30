#include "data/dicom_encode.h"

#include <stdio.h>
#include <string.h>

enum { kUndefinedLength = 0xFFFFFFFF, kShortMax = 0xFFFE };

void segc_dicom_writer_free(segc_dicom_writer *w) {
  segc_byte_buffer_free(&w->bytes);
  w->bad_tag = 0;
}

segc_status segc_dicom_encode_status(const segc_dicom_writer *w) {
  if (w->bad_tag)
    return SEGC_FAIL(SEGC_ERR_INVALID, "DICOM: the value of (%04X,%04X) is "
                     "too long for its VR", w->bad_tag >> 16,
                     w->bad_tag & 0xFFFF);
  return segc_byte_buffer_status(&w->bytes, "a DICOM dataset");
}

static void mark_bad(segc_dicom_writer *w, uint32_t tag) {
  if (!w->bad_tag) w->bad_tag = tag;
  w->bytes.failed = true;
}

// VRs with a 2-byte reserved field and a 4-byte length (PS3.5 7.1.2).
static int long_form(const char *vr) {
  static const char *const kLong[] = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ",
                                      "UC", "UN", "UR", "UT", "SV", "UV"};
  for (size_t i = 0; i < sizeof kLong / sizeof kLong[0]; ++i)
    if (!strcmp(vr, kLong[i])) return 1;
  return 0;
}

static void put_tag(segc_byte_buffer *b, uint32_t tag) {
  segc_byte_buffer_le16(b, (uint16_t)(tag >> 16));
  segc_byte_buffer_le16(b, (uint16_t)(tag & 0xFFFF));
}

void segc_dicom_put_header(segc_dicom_writer *w, uint32_t tag, const char *vr,
                           uint32_t length) {
  segc_byte_buffer *b = &w->bytes;
  put_tag(b, tag);
  segc_byte_buffer_append(b, vr, 2);
  if (long_form(vr)) {
    segc_byte_buffer_le16(b, 0);
    segc_byte_buffer_le32(b, length);
  } else if (length > kShortMax) {
    mark_bad(w, tag);
  } else {
    segc_byte_buffer_le16(b, (uint16_t)length);
  }
}

void segc_dicom_put_text(segc_dicom_writer *w, uint32_t tag, const char *vr,
                         const char *text) {
  const size_t n = text ? strlen(text) : 0;
  const size_t padded = n + (n & 1);
  if (padded > kShortMax) {
    mark_bad(w, tag);
    return;
  }
  segc_dicom_put_header(w, tag, vr, (uint32_t)padded);
  if (n) segc_byte_buffer_append(&w->bytes, text, n);
  if (n & 1) segc_byte_buffer_u8(&w->bytes, strcmp(vr, "UI") ? ' ' : '\0');
}

void segc_dicom_put_us(segc_dicom_writer *w, uint32_t tag, uint16_t value) {
  segc_dicom_put_header(w, tag, "US", 2);
  segc_byte_buffer_le16(&w->bytes, value);
}

void segc_dicom_put_ul_values(segc_dicom_writer *w, uint32_t tag,
                              const uint32_t *values, int count) {
  segc_dicom_put_header(w, tag, "UL", (uint32_t)count * 4u);
  for (int i = 0; i < count; ++i) segc_byte_buffer_le32(&w->bytes, values[i]);
}

void segc_dicom_put_at(segc_dicom_writer *w, uint32_t tag, uint32_t value) {
  segc_dicom_put_header(w, tag, "AT", 4);
  put_tag(&w->bytes, value);
}

void segc_dicom_format_ds(double value, char *out, size_t size) {
  for (int precision = 15; precision >= 1; --precision) {
    const int n = snprintf(out, size, "%.*g", precision, value);
    if (n > 0 && n <= 16) return;
  }
  snprintf(out, size, "0");
}

void segc_dicom_put_ds(segc_dicom_writer *w, uint32_t tag,
                       const double *values, int count) {
  char text[16 * 17 + 1] = "";
  if (count > 16) {
    mark_bad(w, tag);
    return;
  }
  size_t used = 0;
  for (int i = 0; i < count; ++i) {
    char one[32];
    segc_dicom_format_ds(values[i], one, sizeof one);
    used += (size_t)snprintf(text + used, sizeof text - used, "%s%s",
                             i ? "\\" : "", one);
  }
  segc_dicom_put_text(w, tag, "DS", text);
}

void segc_dicom_put_is(segc_dicom_writer *w, uint32_t tag, long long value) {
  char text[32];
  snprintf(text, sizeof text, "%lld", value);
  if (strlen(text) > 12) {
    mark_bad(w, tag);
    return;
  }
  segc_dicom_put_text(w, tag, "IS", text);
}

void segc_dicom_put_ob(segc_dicom_writer *w, uint32_t tag, const void *bytes,
                       uint32_t length) {
  segc_dicom_put_header(w, tag, "OB", length + (length & 1));
  segc_byte_buffer_append(&w->bytes, bytes, length);
  if (length & 1) segc_byte_buffer_u8(&w->bytes, 0);
}

void segc_dicom_begin_sequence(segc_dicom_writer *w, uint32_t tag) {
  segc_dicom_put_header(w, tag, "SQ", kUndefinedLength);
}

// Items and delimiters: a tag and a 4-byte length, no VR.
static void put_delimiter(segc_dicom_writer *w, uint16_t element,
                          uint32_t length) {
  put_tag(&w->bytes, SEGC_DICOM_TAG(0xFFFE, element));
  segc_byte_buffer_le32(&w->bytes, length);
}

void segc_dicom_end_sequence(segc_dicom_writer *w) {
  put_delimiter(w, 0xE0DD, 0);
}

void segc_dicom_begin_item(segc_dicom_writer *w) {
  put_delimiter(w, 0xE000, kUndefinedLength);
}

void segc_dicom_end_item(segc_dicom_writer *w) { put_delimiter(w, 0xE00D, 0); }

void segc_dicom_put_code(segc_dicom_writer *w, uint32_t sequence_tag,
                         const char *value, const char *scheme,
                         const char *meaning) {
  segc_dicom_begin_sequence(w, sequence_tag);
  segc_dicom_begin_item(w);
  segc_dicom_put_text(w, SEGC_DICOM_TAG(0x0008, 0x0100), "SH", value);
  segc_dicom_put_text(w, SEGC_DICOM_TAG(0x0008, 0x0102), "SH", scheme);
  segc_dicom_put_text(w, SEGC_DICOM_TAG(0x0008, 0x0104), "LO", meaning);
  segc_dicom_end_item(w);
  segc_dicom_end_sequence(w);
}
