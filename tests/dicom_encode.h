// Encoders for the compressed syntaxes in the DICOM tests: a lossless JPEG
// 2000 codestream (OpenJPEG) and a JPEG-LS one (CharLS) of one greyscale
// frame. Test code only.
#ifndef SEGC_TESTS_DICOM_ENCODE_H
#define SEGC_TESTS_DICOM_ENCODE_H

#include <charls/charls.h>
#include <openjpeg.h>

#include "dicom_craft.h"

typedef struct {
  craft_buffer b;
  size_t pos;
} j2k_sink;

static inline OPJ_SIZE_T sink_write(void *data, OPJ_SIZE_T n, void *user) {
  j2k_sink *s = user;
  if (s->pos + n > s->b.size) {
    const size_t grow = s->pos + n - s->b.size;
    uint8_t zeros[256] = {0};
    for (size_t left = grow; left > 0;) {
      const size_t take = left < sizeof zeros ? left : sizeof zeros;
      craft_put(&s->b, zeros, take);
      left -= take;
    }
  }
  if (s->b.failed) return (OPJ_SIZE_T)-1;
  memcpy(s->b.data + s->pos, data, n);
  s->pos += n;
  return n;
}
static inline OPJ_OFF_T sink_skip(OPJ_OFF_T n, void *user) {
  j2k_sink *s = user;
  s->pos += (size_t)n;
  return n;
}
static inline OPJ_BOOL sink_seek(OPJ_OFF_T n, void *user) {
  ((j2k_sink *)user)->pos = (size_t)n;
  return OPJ_TRUE;
}

// A lossless J2K codestream of one 16-bit-container frame.
static inline bool encode_jpeg2000(const int32_t *values, int rows, int columns,
                            int bits, bool is_signed, craft_buffer *out) {
  opj_image_cmptparm_t component;
  memset(&component, 0, sizeof component);
  component.dx = component.dy = 1;
  component.w = (OPJ_UINT32)columns;
  component.h = (OPJ_UINT32)rows;
  component.prec = (OPJ_UINT32)bits;
  component.sgnd = is_signed;
  opj_image_t *image = opj_image_create(1, &component, OPJ_CLRSPC_GRAY);
  if (!image) return false;
  image->x1 = (OPJ_UINT32)columns;
  image->y1 = (OPJ_UINT32)rows;
  memcpy(image->comps[0].data, values, sizeof *values * (size_t)rows * (size_t)columns);
  opj_cparameters_t parameters;
  opj_set_default_encoder_parameters(&parameters);
  parameters.numresolution = 2;
  parameters.tcp_numlayers = 1;
  parameters.tcp_rates[0] = 0;  // lossless
  parameters.cp_disto_alloc = 1;
  opj_codec_t *codec = opj_create_compress(OPJ_CODEC_J2K);
  opj_stream_t *stream = opj_stream_create(4096, OPJ_FALSE);
  j2k_sink sink = {{0}, 0};
  bool ok = codec && stream;
  if (ok) {
    opj_stream_set_user_data(stream, &sink, NULL);
    opj_stream_set_write_function(stream, sink_write);
    opj_stream_set_skip_function(stream, sink_skip);
    opj_stream_set_seek_function(stream, sink_seek);
    ok = opj_setup_encoder(codec, &parameters, image) &&
         opj_start_compress(codec, image, stream) &&
         opj_encode(codec, stream) && opj_end_compress(codec, stream);
  }
  if (stream) opj_stream_destroy(stream);
  if (codec) opj_destroy_codec(codec);
  opj_image_destroy(image);
  *out = sink.b;
  return ok && !sink.b.failed;
}

static inline bool encode_jpegls(const uint16_t *pixels, int rows, int columns,
                          int bits, craft_buffer *out) {
  memset(out, 0, sizeof *out);
  charls_jpegls_encoder *encoder = charls_jpegls_encoder_create();
  if (!encoder) return false;
  const charls_frame_info frame = {(uint32_t)columns, (uint32_t)rows, bits, 1};
  size_t capacity = 0, written = 0;
  bool ok = !charls_jpegls_encoder_set_frame_info(encoder, &frame) &&
            !charls_jpegls_encoder_get_estimated_destination_size(encoder, &capacity);
  if (ok) ok = (out->data = malloc(capacity)) != NULL;
  if (ok)
    ok = !charls_jpegls_encoder_set_destination_buffer(encoder, out->data, capacity) &&
         !charls_jpegls_encoder_encode_from_buffer(
             encoder, pixels, sizeof *pixels * (size_t)rows * (size_t)columns, 0) &&
         !charls_jpegls_encoder_get_bytes_written(encoder, &written);
  out->size = written;
  charls_jpegls_encoder_destroy(encoder);
  return ok;
}

#endif
