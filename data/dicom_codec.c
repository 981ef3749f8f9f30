// Pixel data of one frame: native little-endian samples, or an encapsulated
// JPEG 2000 (OpenJPEG) or JPEG-LS (CharLS) codestream; and the raw deflate
// of the deflated transfer syntax (zlib).
#include <charls/charls.h>
#include <limits.h>
#include <openjpeg.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "data/dicom_internal.h"

// The stored value of `raw`: the low `bits` bits, sign-extended when signed
// (PixelRepresentation 1). Bits above BitsStored are not part of the value
// (PS3.5 8.1.1).
static int32_t stored_value(uint32_t raw, int bits, bool is_signed) {
  const uint32_t mask = (1u << bits) - 1u;
  raw &= mask;
  if (is_signed && (raw >> (bits - 1)) & 1u)
    return (int32_t)raw - (int32_t)mask - 1;
  return (int32_t)raw;
}

static uint32_t le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}

// Joins the fragments after the basic offset table into one codestream (a
// single frame may be split over several fragments). The items were checked
// when the file was parsed; they are checked again here since this reads
// them anew.
static segc_status join_fragments(const uint8_t *p, size_t size,
                                  const char *name, uint8_t **out,
                                  size_t *out_size) {
  size_t total = 0, pos = 0;
  int item = 0;
  for (int pass = 0; pass < 2; ++pass) {
    pos = 0;
    item = 0;
    size_t written = 0;
    for (;;) {
      if (size - pos < 8)
        return SEGC_FAIL(SEGC_ERR_FORMAT, "%s: malformed DICOM: encapsulated "
                         "pixel data ends without a delimiter", name);
      const uint32_t tag = le32(p + pos), length = le32(p + pos + 4);
      pos += 8;
      if (tag == 0xE0DDFFFEu) break;  // (FFFE,E0DD) little endian
      if (tag != 0xE000FFFEu || length > size - pos)
        return SEGC_FAIL(SEGC_ERR_FORMAT, "%s: malformed DICOM: bad pixel "
                         "data fragment at byte %zu", name, pos - 8);
      if (item++ > 0) {  // item 0 is the basic offset table
        if (pass == 0) total += length;
        else memcpy(*out + written, p + pos, length);
        written += length;
      }
      pos += length;
    }
    if (pass == 0) {
      if (total == 0)
        return SEGC_FAIL(SEGC_ERR_FORMAT, "%s: malformed DICOM: encapsulated "
                         "pixel data has no fragment", name);
      *out = malloc(total);
      if (!*out)
        return SEGC_FAIL(SEGC_ERR_NOMEM, "%s: out of memory for %zu bytes of "
                         "pixel data", name, total);
    }
  }
  *out_size = total;
  return SEGC_OK;
}

segc_status segc_dicom_decode_frame(const segc_dicom_buffer *buffer,
                                    const segc_dicom_attributes *a,
                                    const char *name, int32_t *values) {
  const size_t count = (size_t)a->rows * (size_t)a->columns;
  const uint8_t *p = buffer->dataset + a->pixel_offset;
  const bool is_signed = a->pixel_representation == 1;
  if (a->coding == SEGC_DICOM_NATIVE) {
    const size_t bytes = (size_t)a->bits_allocated / 8;
    if (a->pixel_length < count * bytes)
      return SEGC_FAIL(SEGC_ERR_FORMAT, "%s: malformed DICOM: pixel data has "
                       "%zu bytes, %d x %d pixels of %d bits need %zu", name,
                       a->pixel_length, a->rows, a->columns, a->bits_allocated,
                       count * bytes);
    for (size_t i = 0; i < count; ++i) {
      const uint32_t raw = bytes == 1 ? p[i]
                                      : (uint32_t)(p[2 * i] | p[2 * i + 1] << 8);
      values[i] = stored_value(raw, a->bits_stored, is_signed);
    }
    return SEGC_OK;
  }
  uint8_t *stream = NULL;
  size_t stream_size = 0;
  SEGC_TRY(join_fragments(p, a->pixel_length, name, &stream, &stream_size));
  bool coded_signed = false;
  segc_status status =
      a->coding == SEGC_DICOM_JPEG2000
          ? segc_dicom_decode_jpeg2000(stream, stream_size, a, name, values,
                                       &coded_signed)
          : segc_dicom_decode_jpegls(stream, stream_size, a, name, values);
  free(stream);
  // Decoded samples must fit BitsStored (later steps rely on the range). A
  // codestream of unsigned samples holds the bit pattern of signed ones.
  const int64_t low = coded_signed && is_signed ? -((int64_t)1 << (a->bits_stored - 1)) : 0;
  const int64_t high = coded_signed && is_signed
                           ? ((int64_t)1 << (a->bits_stored - 1)) - 1
                           : ((int64_t)1 << a->bits_stored) - 1;
  for (size_t i = 0; i < count && status == SEGC_OK; ++i) {
    if (values[i] < low || values[i] > high)
      return SEGC_FAIL(SEGC_ERR_FORMAT, "%s: decoded pixel value %d is "
                       "outside the range of BitsStored %d%s", name, values[i],
                       a->bits_stored, is_signed ? " (signed)" : "");
    if (!coded_signed)
      values[i] = stored_value((uint32_t)values[i], a->bits_stored, is_signed);
  }
  return status;
}

// ---- JPEG 2000 ------------------------------------------------------------

typedef struct {
  const uint8_t *p;
  size_t size, pos;
} memory_stream;

static OPJ_SIZE_T stream_read(void *out, OPJ_SIZE_T n, void *user) {
  memory_stream *s = user;
  if (s->pos >= s->size) return (OPJ_SIZE_T)-1;
  const size_t take = n < s->size - s->pos ? n : s->size - s->pos;
  memcpy(out, s->p + s->pos, take);
  s->pos += take;
  return take;
}

static OPJ_OFF_T stream_skip(OPJ_OFF_T n, void *user) {
  memory_stream *s = user;
  if (n < 0 || (size_t)n > s->size - s->pos) {
    s->pos = s->size;
    return -1;
  }
  s->pos += (size_t)n;
  return n;
}

static OPJ_BOOL stream_seek(OPJ_OFF_T n, void *user) {
  memory_stream *s = user;
  if (n < 0 || (uint64_t)n > s->size) return OPJ_FALSE;
  s->pos = (size_t)n;
  return OPJ_TRUE;
}

typedef struct {
  char text[160];
} codec_message;

// Keeps OpenJPEG's first error (its messages end with a newline).
static void keep_error(const char *message, void *user) {
  codec_message *m = user;
  if (m->text[0]) return;
  snprintf(m->text, sizeof m->text, "%s", message);
  const size_t n = strlen(m->text);
  if (n && m->text[n - 1] == '\n') m->text[n - 1] = '\0';
}
static void ignore_message(const char *message, void *user) {
  (void)message;
  (void)user;
}

segc_status segc_dicom_decode_jpeg2000(const uint8_t *bytes, size_t size,
                                       const segc_dicom_attributes *a,
                                       const char *name, int32_t *values,
                                       bool *is_signed) {
  static const uint8_t kCodestream[4] = {0xFF, 0x4F, 0xFF, 0x51};
  static const uint8_t kJp2[8] = {0, 0, 0, 0x0C, 'j', 'P', ' ', ' '};
  OPJ_CODEC_FORMAT format;
  if (size >= 4 && !memcmp(bytes, kCodestream, 4)) format = OPJ_CODEC_J2K;
  else if (size >= 8 && !memcmp(bytes, kJp2, 8)) format = OPJ_CODEC_JP2;
  else
    return SEGC_FAIL(SEGC_ERR_FORMAT, "%s: malformed DICOM: the pixel data is "
                     "not a JPEG 2000 codestream", name);
  opj_codec_t *codec = opj_create_decompress(format);
  opj_stream_t *stream = opj_stream_create(size < 65536 ? size : 65536, OPJ_TRUE);
  if (!codec || !stream) {
    if (codec) opj_destroy_codec(codec);
    if (stream) opj_stream_destroy(stream);
    return SEGC_FAIL(SEGC_ERR_NOMEM, "%s: out of memory for the JPEG 2000 "
                     "decoder", name);
  }
  memory_stream source = {bytes, size, 0};
  opj_stream_set_user_data(stream, &source, NULL);
  opj_stream_set_user_data_length(stream, size);
  opj_stream_set_read_function(stream, stream_read);
  opj_stream_set_skip_function(stream, stream_skip);
  opj_stream_set_seek_function(stream, stream_seek);
  codec_message message = {{0}};
  opj_set_error_handler(codec, keep_error, &message);
  opj_set_warning_handler(codec, ignore_message, NULL);
  opj_set_info_handler(codec, ignore_message, NULL);
  opj_dparameters_t parameters;
  opj_set_default_decoder_parameters(&parameters);
  opj_image_t *image = NULL;
  // Strict: a truncated codestream is an error, not a partly grey image.
  bool ok = opj_setup_decoder(codec, &parameters) &&
            opj_decoder_set_strict_mode(codec, OPJ_TRUE) &&
            opj_read_header(stream, codec, &image) &&
            opj_decode(codec, stream, image) &&
            opj_end_decompress(codec, stream);
  segc_status status = SEGC_OK;
  if (!ok) {
    status = SEGC_FAIL(SEGC_ERR_FORMAT, "%s: JPEG 2000 pixel data cannot be "
                       "decoded: %s", name,
                       message.text[0] ? message.text : "OpenJPEG failed");
  } else if (image->numcomps != 1) {
    status = SEGC_FAIL(SEGC_ERR_UNSUPPORTED, "%s: JPEG 2000 pixel data has %u "
                       "components; segc reads greyscale CT", name,
                       image->numcomps);
  } else {
    const opj_image_comp_t *c = &image->comps[0];
    if (c->w != (OPJ_UINT32)a->columns || c->h != (OPJ_UINT32)a->rows ||
        c->dx != 1 || c->dy != 1 || !c->data || c->prec < 1 ||
        c->prec > (OPJ_UINT32)a->bits_allocated) {
      status = SEGC_FAIL(SEGC_ERR_FORMAT, "%s: JPEG 2000 pixel data is %ux%u "
                         "of %u bits, the header says %dx%d of %d bits", name,
                         c->w, c->h, c->prec, a->columns, a->rows,
                         a->bits_allocated);
    } else {
      memcpy(values, c->data, sizeof *values * (size_t)a->rows * (size_t)a->columns);
      *is_signed = c->sgnd != 0;
    }
  }
  if (image) opj_image_destroy(image);
  opj_stream_destroy(stream);
  opj_destroy_codec(codec);
  return status;
}

// ---- JPEG-LS --------------------------------------------------------------

segc_status segc_dicom_decode_jpegls(const uint8_t *bytes, size_t size,
                                     const segc_dicom_attributes *a,
                                     const char *name, int32_t *values) {
  charls_jpegls_decoder *decoder = charls_jpegls_decoder_create();
  if (!decoder)
    return SEGC_FAIL(SEGC_ERR_NOMEM, "%s: out of memory for the JPEG-LS "
                     "decoder", name);
  const size_t count = (size_t)a->rows * (size_t)a->columns;
  charls_frame_info frame;
  memset(&frame, 0, sizeof frame);
  charls_jpegls_errc error = charls_jpegls_decoder_set_source_buffer(decoder, bytes, size);
  if (!error) error = charls_jpegls_decoder_read_header(decoder);
  if (!error) error = charls_jpegls_decoder_get_frame_info(decoder, &frame);
  segc_status status = SEGC_OK;
  uint8_t *pixels = NULL;
  if (error) {
    status = SEGC_FAIL(SEGC_ERR_FORMAT, "%s: JPEG-LS pixel data cannot be "
                       "decoded: %s", name, charls_get_error_message(error));
  } else if (frame.component_count != 1 || frame.width != (uint32_t)a->columns ||
             frame.height != (uint32_t)a->rows || frame.bits_per_sample < 2 ||
             frame.bits_per_sample > a->bits_allocated) {
    status = SEGC_FAIL(SEGC_ERR_FORMAT, "%s: JPEG-LS pixel data is %ux%u, %d "
                       "component(s) of %d bits; the header says %dx%d of %d "
                       "bits", name, frame.width, frame.height,
                       frame.component_count, frame.bits_per_sample,
                       a->columns, a->rows, a->bits_allocated);
  }
  const size_t sample_bytes = frame.bits_per_sample > 8 ? 2 : 1;
  size_t need = 0;
  if (status == SEGC_OK) {
    error = charls_jpegls_decoder_get_destination_size(decoder, 0, &need);
    if (error || need != count * sample_bytes)
      status = SEGC_FAIL(SEGC_ERR_FORMAT, "%s: JPEG-LS pixel data: unexpected "
                         "decoded size", name);
  }
  if (status == SEGC_OK && !(pixels = malloc(need)))
    status = SEGC_FAIL(SEGC_ERR_NOMEM, "%s: out of memory", name);
  if (status == SEGC_OK) {
    error = charls_jpegls_decoder_decode_to_buffer(decoder, pixels, need, 0);
    if (error)
      status = SEGC_FAIL(SEGC_ERR_FORMAT, "%s: JPEG-LS pixel data cannot be "
                         "decoded: %s", name, charls_get_error_message(error));
  }
  if (status == SEGC_OK) {
    // CharLS writes samples in the machine's byte order.
    for (size_t i = 0; i < count; ++i) {
      if (sample_bytes == 1) {
        values[i] = pixels[i];
      } else {
        uint16_t v;
        memcpy(&v, pixels + 2 * i, 2);
        values[i] = v;
      }
    }
  }
  free(pixels);
  charls_jpegls_decoder_destroy(decoder);
  return status;
}

// ---- Deflate --------------------------------------------------------------

segc_status segc_dicom_inflate(const uint8_t *bytes, size_t size, size_t limit,
                               const char *name, uint8_t **out,
                               size_t *out_size) {
  *out = NULL;
  *out_size = 0;
  z_stream z;
  memset(&z, 0, sizeof z);
  if (inflateInit2(&z, -MAX_WBITS) != Z_OK)  // raw deflate: no zlib header
    return SEGC_FAIL(SEGC_ERR_NOMEM, "%s: cannot start zlib", name);
  size_t capacity = size < limit / 4 ? 4 * size + 1024 : limit;
  uint8_t *buffer = malloc(capacity);
  segc_status status = buffer ? SEGC_OK
                              : SEGC_FAIL(SEGC_ERR_NOMEM, "%s: out of memory",
                                          name);
  size_t consumed = 0, produced = 0;
  int rc = Z_OK;
  while (status == SEGC_OK && rc != Z_STREAM_END) {
    if (produced == capacity) {
      if (capacity >= limit) {
        status = SEGC_FAIL(SEGC_ERR_UNSUPPORTED, "%s: the deflated dataset "
                           "inflates past %zu bytes", name, limit);
        break;
      }
      const size_t grown = capacity > limit / 2 ? limit : 2 * capacity;
      uint8_t *bigger = realloc(buffer, grown);
      if (!bigger) {
        status = SEGC_FAIL(SEGC_ERR_NOMEM, "%s: out of memory", name);
        break;
      }
      buffer = bigger;
      capacity = grown;
    }
    const size_t in_left = size - consumed, out_left = capacity - produced;
    z.next_in = (Bytef *)(uintptr_t)(bytes + consumed);
    z.avail_in = in_left > UINT_MAX ? UINT_MAX : (uInt)in_left;
    z.next_out = buffer + produced;
    z.avail_out = out_left > UINT_MAX ? UINT_MAX : (uInt)out_left;
    const uInt in_before = z.avail_in, out_before = z.avail_out;
    rc = inflate(&z, Z_NO_FLUSH);
    consumed += in_before - z.avail_in;
    produced += out_before - z.avail_out;
    if (rc == Z_STREAM_END) break;
    if (rc == Z_BUF_ERROR && consumed == size) rc = Z_DATA_ERROR;  // cut short
    if (rc != Z_OK && rc != Z_BUF_ERROR)
      status = SEGC_FAIL(SEGC_ERR_FORMAT, "%s: malformed DICOM: the deflated "
                         "dataset is %s", name,
                         consumed == size ? "truncated" : "corrupt");
  }
  inflateEnd(&z);
  if (status != SEGC_OK) {
    free(buffer);
    return status;
  }
  *out = buffer;
  *out_size = produced;
  return SEGC_OK;
}
