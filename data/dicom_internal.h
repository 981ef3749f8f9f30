// The DICOM reader's parts (data/dicom.h): one file's attributes and pixels
// (dicom_parse.c), the pixel codecs (dicom_codec.c), the series
// (dicom_series.c).
#ifndef SEGC_DATA_DICOM_INTERNAL_H
#define SEGC_DATA_DICOM_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "data/dicom.h"

typedef enum {
  SEGC_DICOM_NATIVE,    // uncompressed pixel data
  SEGC_DICOM_JPEG2000,
  SEGC_DICOM_JPEGLS
} segc_dicom_pixel_coding;

// What one file says (top-level attributes only).
typedef struct {
  char transfer_syntax[SEGC_DICOM_UID_MAX];
  char sop_class[SEGC_DICOM_UID_MAX];
  // SOPInstanceUID, else the file meta's MediaStorageSOPInstanceUID
  // (anonymisers may empty the first).
  char sop_instance[SEGC_DICOM_UID_MAX];
  char media_sop_instance[SEGC_DICOM_UID_MAX];
  char series_uid[SEGC_DICOM_UID_MAX];
  char description[SEGC_DICOM_TEXT_MAX];
  segc_dicom_study study;
  char photometric[17];
  bool has_position, has_orientation, has_pixel_spacing;
  double position[3];     // ImagePositionPatient (LPS, mm)
  double orientation[6];  // ImageOrientationPatient: row, then column cosines
  double pixel_spacing[2];  // PixelSpacing: between rows, between columns
  double slope, intercept;  // 1 and 0 when absent
  double slice_thickness;   // 0 when absent
  int rows, columns;
  int bits_allocated, bits_stored, high_bit, pixel_representation;
  int samples_per_pixel, frames;  // frames: 1 when absent
  int instance_number;
  bool has_pixel_data;
  bool encapsulated;  // pixel data as items (undefined length)
  // The name of a transfer syntax whose attributes can be read but whose
  // pixels segc does not decode (e.g. "JPEG Baseline"), else NULL.
  const char *unsupported_syntax;
  segc_dicom_pixel_coding coding;
  // Pixel data inside the dataset buffer: native bytes, or the first item
  // after the tag of encapsulated data.
  size_t pixel_offset, pixel_length;
} segc_dicom_attributes;

// A file's bytes and its dataset (the bytes after the file meta group, or
// their inflation for the deflated syntax).
typedef struct {
  uint8_t *file;
  size_t file_size;
  uint8_t *inflated;  // owned when deflated
  const uint8_t *dataset;
  size_t dataset_size;
} segc_dicom_buffer;

// Reads `path` into memory. *is_part10 is false (and SEGC_OK returned, the
// buffer empty) when the file has no 128-byte preamble followed by "DICM".
segc_status segc_dicom_load(const char *path, segc_dicom_buffer *buffer,
                            bool *is_part10);
void segc_dicom_buffer_free(segc_dicom_buffer *buffer);

// Parses the file meta group and the dataset of a loaded Part-10 file
// (inflating a deflated dataset into the buffer). Refuses unknown transfer
// syntaxes and big endian by name; marks other undecodable ones
// (unsupported_syntax). `name` is used in messages.
segc_status segc_dicom_parse(segc_dicom_buffer *buffer, const char *name,
                             segc_dicom_attributes *out);

// Decodes the single frame into rows * columns stored values (masked to
// BitsStored and sign-extended when PixelRepresentation is 1).
segc_status segc_dicom_decode_frame(const segc_dicom_buffer *buffer,
                                    const segc_dicom_attributes *a,
                                    const char *name, int32_t *values);

// The codecs: `size` bytes of one frame's codestream into rows * columns
// values; *is_signed says whether the codestream carried signed samples.
segc_status segc_dicom_decode_jpeg2000(const uint8_t *bytes, size_t size,
                                       const segc_dicom_attributes *a,
                                       const char *name, int32_t *values,
                                       bool *is_signed);
segc_status segc_dicom_decode_jpegls(const uint8_t *bytes, size_t size,
                                     const segc_dicom_attributes *a,
                                     const char *name, int32_t *values);

// Raw deflate (RFC 1951) of `size` bytes into a malloc'd buffer, refusing
// output beyond `limit` bytes and a stream that does not end.
segc_status segc_dicom_inflate(const uint8_t *bytes, size_t size, size_t limit,
                               const char *name, uint8_t **out,
                               size_t *out_size);

#endif
