// Writing DICOM data elements in explicit VR little endian into a byte
// buffer (io/byte_buffer.h): what the DICOM SEG writer needs. Sequences and
// items have undefined lengths and end with their delimiters, so nothing is
// patched afterwards. Callers add elements in ascending tag order (DICOM
// requires it within each dataset and item). A value that cannot be encoded
// (a text longer than its VR allows) marks the buffer failed, like running
// out of memory; segc_dicom_encode_status tells the two apart.
#ifndef SEGC_DATA_DICOM_ENCODE_H
#define SEGC_DATA_DICOM_ENCODE_H

#include <stddef.h>
#include <stdint.h>

#include "io/byte_buffer.h"

#define SEGC_DICOM_TAG(g, e) (((uint32_t)(g) << 16) | (uint32_t)(e))

typedef struct {
  segc_byte_buffer bytes;
  uint32_t bad_tag;  // the first element that could not be encoded, or 0
} segc_dicom_writer;

void segc_dicom_writer_free(segc_dicom_writer *w);
// SEGC_OK, or the error for the first element that failed.
segc_status segc_dicom_encode_status(const segc_dicom_writer *w);

// The header of an element whose value the caller appends (`length` bytes).
void segc_dicom_put_header(segc_dicom_writer *w, uint32_t tag, const char *vr,
                           uint32_t length);
// A text value (VR AE, AS, CS, DA, DS, DT, IS, LO, LT, PN, SH, ST, TM, UI,
// UT), padded to an even length with a space (a NUL for UI). NULL is empty.
void segc_dicom_put_text(segc_dicom_writer *w, uint32_t tag, const char *vr,
                         const char *text);
void segc_dicom_put_us(segc_dicom_writer *w, uint32_t tag, uint16_t value);
void segc_dicom_put_ul_values(segc_dicom_writer *w, uint32_t tag,
                              const uint32_t *values, int count);
// An attribute tag as a value (VR AT).
void segc_dicom_put_at(segc_dicom_writer *w, uint32_t tag, uint32_t value);
// Decimal strings: each value in at most 16 characters, as precise as fits.
void segc_dicom_put_ds(segc_dicom_writer *w, uint32_t tag,
                       const double *values, int count);
void segc_dicom_put_is(segc_dicom_writer *w, uint32_t tag, long long value);
void segc_dicom_put_ob(segc_dicom_writer *w, uint32_t tag, const void *bytes,
                       uint32_t length);

void segc_dicom_begin_sequence(segc_dicom_writer *w, uint32_t tag);
void segc_dicom_end_sequence(segc_dicom_writer *w);
void segc_dicom_begin_item(segc_dicom_writer *w);
void segc_dicom_end_item(segc_dicom_writer *w);

// A code sequence of one item: CodeValue, CodingSchemeDesignator,
// CodeMeaning (and nothing else).
void segc_dicom_put_code(segc_dicom_writer *w, uint32_t sequence_tag,
                         const char *value, const char *scheme,
                         const char *meaning);

// Formats one DS value into out (17 bytes at least): the shortest of %.15g
// down to %.1g that fits in 16 characters.
void segc_dicom_format_ds(double value, char *out, size_t size);

#endif
