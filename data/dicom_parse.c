// One DICOM Part-10 file: the file meta group (explicit VR little endian),
// then the dataset in the transfer syntax it names. Only top-level
// attributes are kept; sequences (defined or undefined length) are walked
// only to find their end. Every read is checked against the bytes present.
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/dicom_internal.h"

enum {
  kPreambleBytes = 128,
  kMaxDepth = 32,  // nested sequences deeper than this are refused
};
static const uint32_t kUndefinedLength = 0xFFFFFFFFu;
// A dataset that inflates past this is refused (a deflate bomb).
static const size_t kInflateLimit = (size_t)1 << 30;
static const size_t kFileLimit = (size_t)1 << 31;

#define TAG(g, e) (((uint32_t)(g) << 16) | (uint32_t)(e))
enum {
  kTagItem = TAG(0xFFFE, 0xE000),
  kTagItemEnd = TAG(0xFFFE, 0xE00D),
  kTagSequenceEnd = TAG(0xFFFE, 0xE0DD),
  kTagPixelData = TAG(0x7FE0, 0x0010),
};

typedef enum { TS_IMPLICIT, TS_EXPLICIT, TS_DEFLATED, TS_JPEG2000, TS_JPEGLS,
               TS_REFUSED,      // explicit VR LE with pixels segc cannot decode
               TS_BIG_ENDIAN } syntax_kind;

typedef struct {
  const char *uid, *name;
  syntax_kind kind;
} transfer_syntax;

static const transfer_syntax kSyntaxes[] = {
    {"1.2.840.10008.1.2", "Implicit VR Little Endian", TS_IMPLICIT},
    {"1.2.840.10008.1.2.1", "Explicit VR Little Endian", TS_EXPLICIT},
    {"1.2.840.10008.1.2.1.99", "Deflated Explicit VR Little Endian", TS_DEFLATED},
    {"1.2.840.10008.1.2.4.90", "JPEG 2000 Lossless", TS_JPEG2000},
    {"1.2.840.10008.1.2.4.91", "JPEG 2000", TS_JPEG2000},
    {"1.2.840.10008.1.2.4.80", "JPEG-LS Lossless", TS_JPEGLS},
    {"1.2.840.10008.1.2.4.81", "JPEG-LS Near-Lossless", TS_JPEGLS},
    {"1.2.840.10008.1.2.2", "Explicit VR Big Endian", TS_BIG_ENDIAN},
    {"1.2.840.10008.1.2.4.50", "JPEG Baseline", TS_REFUSED},
    {"1.2.840.10008.1.2.4.51", "JPEG Extended", TS_REFUSED},
    {"1.2.840.10008.1.2.4.57", "JPEG Lossless", TS_REFUSED},
    {"1.2.840.10008.1.2.4.70", "JPEG Lossless SV1", TS_REFUSED},
    {"1.2.840.10008.1.2.4.92", "JPEG 2000 Part 2 Lossless", TS_REFUSED},
    {"1.2.840.10008.1.2.4.93", "JPEG 2000 Part 2", TS_REFUSED},
    {"1.2.840.10008.1.2.4.201", "HTJ2K Lossless", TS_REFUSED},
    {"1.2.840.10008.1.2.4.202", "HTJ2K Lossless RPCL", TS_REFUSED},
    {"1.2.840.10008.1.2.4.203", "HTJ2K", TS_REFUSED},
    {"1.2.840.10008.1.2.5", "RLE Lossless", TS_REFUSED},
    {"1.2.840.10008.1.2.4.100", "MPEG2", TS_REFUSED},
    {"1.2.840.10008.1.2.4.102", "MPEG-4", TS_REFUSED},
};

static const transfer_syntax *find_syntax(const char *uid) {
  for (size_t i = 0; i < sizeof kSyntaxes / sizeof kSyntaxes[0]; ++i)
    if (!strcmp(kSyntaxes[i].uid, uid)) return &kSyntaxes[i];
  return NULL;
}

typedef struct {
  const uint8_t *p;
  size_t size, pos;
  const char *name;
} cursor;

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}

static segc_status truncated(const cursor *c, const char *what) {
  return SEGC_FAIL(SEGC_ERR_FORMAT,
                   "%s: malformed DICOM: truncated %s at byte %zu of %zu",
                   c->name, what, c->pos, c->size);
}

// VRs whose length field is 4 bytes after 2 reserved ones (explicit VR).
static bool long_form_vr(const char vr[2]) {
  static const char *const kLong[] = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ",
                                      "UC", "UN", "UR", "UT", "SV", "UV"};
  for (size_t i = 0; i < sizeof kLong / sizeof kLong[0]; ++i)
    if (vr[0] == kLong[i][0] && vr[1] == kLong[i][1]) return true;
  return false;
}

typedef struct {
  uint32_t tag;
  char vr[3];  // "" in implicit VR
  uint32_t length;
  size_t header_at;
} element;

static segc_status read_element_header(cursor *c, bool implicit, element *e) {
  e->header_at = c->pos;
  if (c->size - c->pos < 8) return truncated(c, "element header");
  const uint8_t *p = c->p + c->pos;
  e->tag = TAG(le16(p), le16(p + 2));
  e->vr[0] = '\0';
  // Items and delimiters carry no VR in any syntax.
  if (implicit || (e->tag >> 16) == 0xFFFE) {
    e->length = le32(p + 4);
    c->pos += 8;
    return SEGC_OK;
  }
  e->vr[0] = (char)p[4];
  e->vr[1] = (char)p[5];
  e->vr[2] = '\0';
  if (e->vr[0] < 'A' || e->vr[0] > 'Z' || e->vr[1] < 'A' || e->vr[1] > 'Z')
    return SEGC_FAIL(SEGC_ERR_FORMAT,
                     "%s: malformed DICOM: element (%04X,%04X) at byte %zu has "
                     "no valid VR (0x%02X 0x%02X)", c->name, e->tag >> 16,
                     e->tag & 0xFFFF, c->pos, p[4], p[5]);
  if (long_form_vr(e->vr)) {
    if (c->size - c->pos < 12) return truncated(c, "element header");
    e->length = le32(p + 8);
    c->pos += 12;
  } else {
    e->length = le16(p + 6);
    c->pos += 8;
  }
  return SEGC_OK;
}

static segc_status walk_dataset(cursor *c, bool implicit, int depth,
                                bool in_item, segc_dicom_attributes *keep);

// The items of an undefined-length sequence, up to its delimiter.
static segc_status skip_sequence(cursor *c, bool implicit, int depth) {
  if (depth > kMaxDepth)
    return SEGC_FAIL(SEGC_ERR_FORMAT,
                     "%s: malformed DICOM: sequences nested deeper than %d",
                     c->name, kMaxDepth);
  for (;;) {
    element e = {0};
    if (c->size - c->pos < 8) return truncated(c, "sequence (no delimiter)");
    SEGC_TRY(read_element_header(c, true, &e));
    if (e.tag == kTagSequenceEnd) return SEGC_OK;
    if (e.tag != kTagItem)
      return SEGC_FAIL(SEGC_ERR_FORMAT,
                       "%s: malformed DICOM: (%04X,%04X) inside a sequence at "
                       "byte %zu where an item was expected", c->name,
                       e.tag >> 16, e.tag & 0xFFFF, e.header_at);
    if (e.length == kUndefinedLength) {
      SEGC_TRY(walk_dataset(c, implicit, depth + 1, true, NULL));
    } else {
      if (e.length > c->size - c->pos) return truncated(c, "sequence item");
      c->pos += e.length;
    }
  }
}

// The text of a string value without padding (spaces, NULs), truncated to
// the buffer.
static void copy_text(const uint8_t *value, uint32_t length, char *out,
                      size_t size) {
  size_t start = 0, end = length;
  while (start < end && value[start] == ' ') ++start;
  while (end > start && (value[end - 1] == ' ' || value[end - 1] == '\0')) --end;
  size_t n = end - start;
  if (n >= size) n = size - 1;
  memcpy(out, value + start, n);
  out[n] = '\0';
}

// A DS/IS value of exactly `count` backslash-separated finite numbers.
static segc_status parse_numbers(const cursor *c, const char *what,
                                 const uint8_t *value, uint32_t length,
                                 int count, double *out) {
  int found = 0;
  size_t at = 0;
  while (at <= length) {
    size_t end = at;
    while (end < length && value[end] != '\\') ++end;
    char text[64];
    copy_text(value + at, (uint32_t)(end - at), text, sizeof text);
    char *stop = NULL;
    errno = 0;
    const double v = strtod(text, &stop);
    if (found >= count || !text[0] || *stop != '\0' || errno || !isfinite(v))
      return SEGC_FAIL(SEGC_ERR_FORMAT,
                       "%s: malformed DICOM: %s is not %d finite number%s",
                       c->name, what, count, count > 1 ? "s" : "");
    out[found++] = v;
    at = end + 1;
  }
  if (found != count)
    return SEGC_FAIL(SEGC_ERR_FORMAT,
                     "%s: malformed DICOM: %s has %d values, not %d", c->name,
                     what, found, count);
  return SEGC_OK;
}

static segc_status read_us(const cursor *c, const char *what,
                           const uint8_t *value, uint32_t length, int *out) {
  if (length != 2)
    return SEGC_FAIL(SEGC_ERR_FORMAT,
                     "%s: malformed DICOM: %s has %u bytes, not 2", c->name,
                     what, length);
  *out = le16(value);
  return SEGC_OK;
}

static void copy_unless_empty(const uint8_t *value, uint32_t length, char *out,
                              size_t size) {
  char text[SEGC_DICOM_UID_MAX];
  copy_text(value, length, text, sizeof text);
  if (text[0]) snprintf(out, size, "%s", text);
}

// Keeps the patient and study attributes a derived object copies.
static void keep_study_value(uint32_t tag, const uint8_t *v, uint32_t n,
                             segc_dicom_study *s) {
  switch (tag) {
#define KEEP(g, e, field) \
  case TAG(g, e): copy_text(v, n, s->field, sizeof s->field); return;
    KEEP(0x0008, 0x0005, character_set)
    KEEP(0x0008, 0x0020, study_date)
    KEEP(0x0008, 0x0030, study_time)
    KEEP(0x0008, 0x0050, accession_number)
    KEEP(0x0008, 0x0090, referring_physician)
    KEEP(0x0010, 0x0010, patient_name)
    KEEP(0x0010, 0x0020, patient_id)
    KEEP(0x0010, 0x0030, patient_birth_date)
    KEEP(0x0010, 0x0040, patient_sex)
    KEEP(0x0020, 0x000D, study_uid)
    KEEP(0x0020, 0x0010, study_id)
    KEEP(0x0020, 0x0052, frame_of_reference_uid)
#undef KEEP
    default: return;
  }
}

// Keeps the value of a top-level attribute segc uses.
static segc_status keep_value(const cursor *c, const element *e,
                              const uint8_t *v, segc_dicom_attributes *a) {
  const uint32_t n = e->length;
  double number[3] = {0.0, 0.0, 0.0};
  switch (e->tag) {
    // An empty (anonymised) SOP class or instance UID keeps the file meta's.
    case TAG(0x0008, 0x0016):
      copy_unless_empty(v, n, a->sop_class, sizeof a->sop_class);
      return SEGC_OK;
    case TAG(0x0008, 0x0018):
      copy_unless_empty(v, n, a->sop_instance, sizeof a->sop_instance);
      return SEGC_OK;
    case TAG(0x0008, 0x103E):
      copy_text(v, n, a->description, sizeof a->description);
      return SEGC_OK;
    case TAG(0x0018, 0x0050):
      if (n == 0) return SEGC_OK;
      SEGC_TRY(parse_numbers(c, "SliceThickness", v, n, 1, &a->slice_thickness));
      return SEGC_OK;
    case TAG(0x0020, 0x000E):
      copy_text(v, n, a->series_uid, sizeof a->series_uid);
      return SEGC_OK;
    case TAG(0x0020, 0x0013):
      if (n == 0) return SEGC_OK;
      SEGC_TRY(parse_numbers(c, "InstanceNumber", v, n, 1, number));
      a->instance_number = (int)fmax(-1e9, fmin(1e9, number[0]));
      return SEGC_OK;
    case TAG(0x0020, 0x0032):
      SEGC_TRY(parse_numbers(c, "ImagePositionPatient", v, n, 3, a->position));
      a->has_position = true;
      return SEGC_OK;
    case TAG(0x0020, 0x0037):
      SEGC_TRY(parse_numbers(c, "ImageOrientationPatient", v, n, 6,
                             a->orientation));
      a->has_orientation = true;
      return SEGC_OK;
    case TAG(0x0028, 0x0002):
      return read_us(c, "SamplesPerPixel", v, n, &a->samples_per_pixel);
    case TAG(0x0028, 0x0004):
      copy_text(v, n, a->photometric, sizeof a->photometric);
      return SEGC_OK;
    case TAG(0x0028, 0x0008):
      if (n == 0) return SEGC_OK;
      SEGC_TRY(parse_numbers(c, "NumberOfFrames", v, n, 1, number));
      a->frames = (int)fmax(-1.0, fmin(1e9, number[0]));
      return SEGC_OK;
    case TAG(0x0028, 0x0010):
      return read_us(c, "Rows", v, n, &a->rows);
    case TAG(0x0028, 0x0011):
      return read_us(c, "Columns", v, n, &a->columns);
    case TAG(0x0028, 0x0030):
      SEGC_TRY(parse_numbers(c, "PixelSpacing", v, n, 2, a->pixel_spacing));
      a->has_pixel_spacing = true;
      return SEGC_OK;
    case TAG(0x0028, 0x0100):
      return read_us(c, "BitsAllocated", v, n, &a->bits_allocated);
    case TAG(0x0028, 0x0101):
      return read_us(c, "BitsStored", v, n, &a->bits_stored);
    case TAG(0x0028, 0x0102):
      return read_us(c, "HighBit", v, n, &a->high_bit);
    case TAG(0x0028, 0x0103):
      return read_us(c, "PixelRepresentation", v, n, &a->pixel_representation);
    case TAG(0x0028, 0x1052):
      if (n == 0) return SEGC_OK;
      return parse_numbers(c, "RescaleIntercept", v, n, 1, &a->intercept);
    case TAG(0x0028, 0x1053):
      if (n == 0) return SEGC_OK;
      return parse_numbers(c, "RescaleSlope", v, n, 1, &a->slope);
    default:
      keep_study_value(e->tag, v, n, &a->study);
      return SEGC_OK;
  }
}

// Encapsulated pixel data: the items (offset table, fragments) up to the
// sequence delimiter, all inside the buffer.
static segc_status walk_fragments(cursor *c) {
  for (;;) {
    element e = {0};
    if (c->size - c->pos < 8)
      return truncated(c, "encapsulated pixel data (no delimiter)");
    SEGC_TRY(read_element_header(c, true, &e));
    if (e.tag == kTagSequenceEnd) return SEGC_OK;
    if (e.tag != kTagItem || e.length == kUndefinedLength)
      return SEGC_FAIL(SEGC_ERR_FORMAT,
                       "%s: malformed DICOM: encapsulated pixel data holds "
                       "(%04X,%04X) at byte %zu, not a fragment", c->name,
                       e.tag >> 16, e.tag & 0xFFFF, e.header_at);
    if (e.length > c->size - c->pos) return truncated(c, "pixel data fragment");
    c->pos += e.length;
  }
}

// Walks elements until the end of the buffer (top level) or the item
// delimiter (in_item). `keep` receives top-level attributes (NULL inside
// sequences).
static segc_status walk_dataset(cursor *c, bool implicit, int depth,
                                bool in_item, segc_dicom_attributes *keep) {
  while (c->pos < c->size) {
    element e = {0};
    SEGC_TRY(read_element_header(c, implicit, &e));
    if (in_item && e.tag == kTagItemEnd) return SEGC_OK;
    if ((e.tag >> 16) == 0xFFFE)
      return SEGC_FAIL(SEGC_ERR_FORMAT,
                       "%s: malformed DICOM: stray delimiter (%04X,%04X) at "
                       "byte %zu", c->name, e.tag >> 16, e.tag & 0xFFFF,
                       e.header_at);
    if (e.tag == kTagPixelData && keep) {
      keep->has_pixel_data = true;
      keep->pixel_offset = c->pos;
      keep->encapsulated = e.length == kUndefinedLength;
      if (e.length == kUndefinedLength) {
        SEGC_TRY(walk_fragments(c));
        keep->pixel_length = c->pos - keep->pixel_offset;
        continue;
      }
      if (e.length > c->size - c->pos) return truncated(c, "pixel data");
      keep->pixel_length = e.length;
      c->pos += e.length;
      continue;
    }
    if (e.length == kUndefinedLength) {
      // In implicit VR only sequences have undefined lengths; in explicit VR
      // SQ, and UN whose content is implicit VR (PS3.5 6.2.2).
      const bool un = !strcmp(e.vr, "UN");
      if (!implicit && strcmp(e.vr, "SQ") != 0 && !un)
        return SEGC_FAIL(SEGC_ERR_FORMAT,
                         "%s: malformed DICOM: (%04X,%04X) %s at byte %zu has "
                         "an undefined length", c->name, e.tag >> 16,
                         e.tag & 0xFFFF, e.vr, e.header_at);
      SEGC_TRY(skip_sequence(c, implicit || un, depth + 1));
      continue;
    }
    if (e.length > c->size - c->pos)
      return truncated(c, "element value");
    if (keep) SEGC_TRY(keep_value(c, &e, c->p + c->pos, keep));
    c->pos += e.length;
  }
  if (in_item) return truncated(c, "sequence item (no delimiter)");
  return SEGC_OK;
}

segc_status segc_dicom_load(const char *path, segc_dicom_buffer *buffer,
                            bool *is_part10) {
  memset(buffer, 0, sizeof *buffer);
  *is_part10 = false;
  FILE *f = fopen(path, "rb");
  if (!f)
    return SEGC_FAIL(SEGC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fileno(f), &st) != 0) {
    const int err = errno;
    fclose(f);
    return SEGC_FAIL(SEGC_ERR_IO, "%s: cannot stat: %s", path, strerror(err));
  }
  const size_t size = (size_t)st.st_size;
  uint8_t magic[kPreambleBytes + 4];
  if (size < sizeof magic || fread(magic, 1, sizeof magic, f) != sizeof magic ||
      memcmp(magic + kPreambleBytes, "DICM", 4) != 0) {
    const bool failed = ferror(f) != 0;
    fclose(f);
    return failed ? SEGC_FAIL(SEGC_ERR_IO, "%s: read failed", path) : SEGC_OK;
  }
  if (size > kFileLimit) {
    fclose(f);
    return SEGC_FAIL(SEGC_ERR_UNSUPPORTED, "%s: a DICOM file of %zu bytes "
                     "(more than 2 GiB)", path, size);
  }
  buffer->file = malloc(size);
  if (!buffer->file) {
    fclose(f);
    return SEGC_FAIL(SEGC_ERR_NOMEM, "%s: out of memory for %zu bytes", path,
                     size);
  }
  memcpy(buffer->file, magic, sizeof magic);
  const size_t rest = size - sizeof magic;
  const bool read_ok = fread(buffer->file + sizeof magic, 1, rest, f) == rest;
  const bool closed = fclose(f) == 0;
  if (!read_ok || !closed) {
    segc_dicom_buffer_free(buffer);
    return SEGC_FAIL(SEGC_ERR_IO, "%s: %s failed (file changed while read?)",
                     path, read_ok ? "close" : "read");
  }
  buffer->file_size = size;
  *is_part10 = true;
  return SEGC_OK;
}

void segc_dicom_buffer_free(segc_dicom_buffer *buffer) {
  free(buffer->file);
  free(buffer->inflated);
  memset(buffer, 0, sizeof *buffer);
}

// The file meta group: explicit VR little endian group 0002 elements.
static segc_status read_meta(cursor *c, segc_dicom_attributes *a) {
  char media_class[SEGC_DICOM_UID_MAX] = "";
  while (c->size - c->pos >= 2 && le16(c->p + c->pos) == 0x0002) {
    element e = {0};
    SEGC_TRY(read_element_header(c, false, &e));
    if (e.length == kUndefinedLength || e.length > c->size - c->pos)
      return truncated(c, "file meta element");
    const uint8_t *v = c->p + c->pos;
    if (e.tag == TAG(0x0002, 0x0010))
      copy_text(v, e.length, a->transfer_syntax, sizeof a->transfer_syntax);
    else if (e.tag == TAG(0x0002, 0x0002))
      copy_text(v, e.length, media_class, sizeof media_class);
    else if (e.tag == TAG(0x0002, 0x0003))
      copy_text(v, e.length, a->media_sop_instance,
                sizeof a->media_sop_instance);
    c->pos += e.length;
  }
  memcpy(a->sop_instance, a->media_sop_instance, sizeof a->sop_instance);
  if (!a->transfer_syntax[0])
    return SEGC_FAIL(SEGC_ERR_FORMAT, "%s: malformed DICOM: the file meta "
                     "group has no TransferSyntaxUID (0002,0010)", c->name);
  // The dataset's SOPClassUID and SOPInstanceUID win when present.
  memcpy(a->sop_class, media_class, sizeof media_class);
  return SEGC_OK;
}

segc_status segc_dicom_parse(segc_dicom_buffer *buffer, const char *name,
                             segc_dicom_attributes *out) {
  memset(out, 0, sizeof *out);
  out->slope = 1.0;
  out->frames = 1;
  out->samples_per_pixel = 1;
  cursor c = {buffer->file, buffer->file_size, kPreambleBytes + 4, name};
  if (buffer->file_size < (size_t)kPreambleBytes + 4 ||
      memcmp(buffer->file + kPreambleBytes, "DICM", 4) != 0)
    return SEGC_FAIL(SEGC_ERR_FORMAT, "%s: not a DICOM Part-10 file (no "
                     "\"DICM\" after the 128-byte preamble)", name);
  SEGC_TRY(read_meta(&c, out));
  const transfer_syntax *ts = find_syntax(out->transfer_syntax);
  if (!ts)
    return SEGC_FAIL(SEGC_ERR_UNSUPPORTED,
                     "%s: DICOM: transfer syntax %s (unknown) is not supported",
                     name, out->transfer_syntax);
  if (ts->kind == TS_BIG_ENDIAN)
    return SEGC_FAIL(SEGC_ERR_UNSUPPORTED,
                     "%s: DICOM: transfer syntax %s (%s) is not supported "
                     "(segc reads implicit/explicit VR little endian, deflate, "
                     "JPEG 2000 and JPEG-LS)", name, ts->uid, ts->name);
  // Other refused syntaxes are explicit VR little endian: the attributes
  // are read (the file may belong to a series the user did not choose) and
  // the series reader refuses the syntax by name.
  if (ts->kind == TS_REFUSED) out->unsupported_syntax = ts->name;
  buffer->dataset = buffer->file + c.pos;
  buffer->dataset_size = buffer->file_size - c.pos;
  if (ts->kind == TS_DEFLATED) {
    free(buffer->inflated);
    buffer->inflated = NULL;
    size_t inflated_size = 0;
    SEGC_TRY(segc_dicom_inflate(buffer->dataset, buffer->dataset_size,
                                kInflateLimit, name, &buffer->inflated,
                                &inflated_size));
    buffer->dataset = buffer->inflated;
    buffer->dataset_size = inflated_size;
  }
  out->coding = ts->kind == TS_JPEG2000 ? SEGC_DICOM_JPEG2000
              : ts->kind == TS_JPEGLS   ? SEGC_DICOM_JPEGLS
                                        : SEGC_DICOM_NATIVE;
  cursor d = {buffer->dataset, buffer->dataset_size, 0, name};
  return walk_dataset(&d, ts->kind == TS_IMPLICIT, 0, false, out);
}
