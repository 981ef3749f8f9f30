#include "data/dicom_seg_write.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "data/dicom_encode.h"
#include "data/dicom_seg_codes.h"
#include "data/dicom_uid.h"
#include "io/atomic_file.h"

#define T SEGC_DICOM_TAG

static const char kSegmentationClass[] = "1.2.840.10008.5.1.4.1.1.66.4";
static const char kExplicitLittle[] = "1.2.840.10008.1.2.1";
// segc's implementation class UID: 2.25. and a fixed 128-bit random number.
static const char kImplementationClass[] =
    "2.25.205336938619801296674479498044830363147";
static const uint32_t kMaxBytes = 0xFFFFFFF0u;  // one OB value

// Which slices each class covers, and the frames that follow from it.
typedef struct {
  int classes, slices;
  uint8_t *present;   // classes x slices: class c has voxels in slice k
  int *segment_class; // segment s (0-based) -> class
  int segments;
  int *position_rank; // slice k -> 1-based rank among slices with a frame
  int frames;
} frame_plan;

static void plan_free(frame_plan *p) {
  free(p->present);
  free(p->segment_class);
  free(p->position_rank);
  memset(p, 0, sizeof *p);
}

static segc_status plan_frames(const segc_volume *label, int classes,
                               frame_plan *p) {
  memset(p, 0, sizeof *p);
  p->classes = classes;
  p->slices = (int)label->dim[2];
  p->present = calloc((size_t)classes * (size_t)p->slices, 1);
  p->segment_class = malloc(sizeof *p->segment_class * (size_t)classes);
  p->position_rank = calloc((size_t)p->slices, sizeof *p->position_rank);
  if (!p->present || !p->segment_class || !p->position_rank) {
    plan_free(p);
    return SEGC_FAIL(SEGC_ERR_NOMEM, "out of memory");
  }
  // Memory order has k fastest (data/volume.h).
  const uint8_t *v = label->data;
  const int64_t count = segc_volume_numel(label);
  for (int64_t at = 0; at < count; ++at) {
    if (v[at] >= classes) {
      const int value = v[at];
      plan_free(p);
      return SEGC_FAIL(SEGC_ERR_INVALID, "DICOM SEG: label value %d, but "
                       "only %d classes are named", value, classes);
    }
    p->present[(size_t)v[at] * (size_t)p->slices + (size_t)(at % p->slices)] = 1;
  }
  int64_t frames = 0;
  for (int c = 1; c < classes; ++c) {
    int covered = 0;
    for (int k = 0; k < p->slices; ++k) {
      covered += p->present[(size_t)c * (size_t)p->slices + (size_t)k];
      if (p->present[(size_t)c * (size_t)p->slices + (size_t)k])
        p->position_rank[k] = 1;
    }
    if (covered) p->segment_class[p->segments++] = c;
    frames += covered;
  }
  int rank = 0;
  for (int k = 0; k < p->slices; ++k)
    if (p->position_rank[k]) p->position_rank[k] = ++rank;
  if (p->segments == 0) {
    plan_free(p);
    return SEGC_FAIL(SEGC_ERR_INVALID, "DICOM SEG: the label holds no "
                     "structure (a segmentation object needs one segment at "
                     "least)");
  }
  const int64_t columns = label->dim[0], rows = label->dim[1];
  if ((double)frames * (double)rows * (double)columns / 8.0 > kMaxBytes ||
      frames > 2147483647) {
    plan_free(p);
    return SEGC_FAIL(SEGC_ERR_UNSUPPORTED, "DICOM SEG: %lld frames of %lld x "
                     "%lld pixels exceed one object's 4 GiB", (long long)frames,
                     (long long)rows, (long long)columns);
  }
  p->frames = (int)frames;
  return SEGC_OK;
}

static bool covers(const frame_plan *p, int c, int k) {
  return p->present[(size_t)c * (size_t)p->slices + (size_t)k] != 0;
}

// The UIDs of this object, and those standing in for the source's missing
// ones.
typedef struct {
  char instance[SEGC_DICOM_UID_MAX], series[SEGC_DICOM_UID_MAX];
  char dimensions[SEGC_DICOM_UID_MAX], study[SEGC_DICOM_UID_MAX];
  char source_series[SEGC_DICOM_UID_MAX], frame_of_reference[SEGC_DICOM_UID_MAX];
  char date[16], time[16];
} object_ids;

static segc_status keep_or_new(const char *given, char *out, bool *made) {
  *made = !given[0];
  if (*made) return segc_dicom_new_uid(out, SEGC_DICOM_UID_MAX);
  snprintf(out, SEGC_DICOM_UID_MAX, "%s", given);
  return SEGC_OK;
}

static segc_status make_ids(const segc_dicom_source *s, object_ids *ids,
                            segc_dicom_seg_summary *summary) {
  SEGC_TRY(segc_dicom_new_uid(ids->instance, sizeof ids->instance));
  SEGC_TRY(segc_dicom_new_uid(ids->series, sizeof ids->series));
  SEGC_TRY(segc_dicom_new_uid(ids->dimensions, sizeof ids->dimensions));
  SEGC_TRY(keep_or_new(s->study.study_uid, ids->study, &summary->new_study_uid));
  SEGC_TRY(keep_or_new(s->series_uid, ids->source_series,
                       &summary->new_series_reference));
  SEGC_TRY(keep_or_new(s->study.frame_of_reference_uid, ids->frame_of_reference,
                       &summary->new_frame_of_reference));
  const time_t now = time(NULL);
  struct tm local;
  if (now == (time_t)-1 || !localtime_r(&now, &local))
    return SEGC_FAIL(SEGC_ERR_IO, "DICOM SEG: cannot read the clock");
  strftime(ids->date, sizeof ids->date, "%Y%m%d", &local);
  strftime(ids->time, sizeof ids->time, "%H%M%S", &local);
  return SEGC_OK;
}

static void put_file_meta(segc_dicom_writer *meta, const object_ids *ids) {
  const uint8_t version[2] = {0, 1};
  segc_dicom_put_ob(meta, T(0x0002, 0x0001), version, 2);
  segc_dicom_put_text(meta, T(0x0002, 0x0002), "UI", kSegmentationClass);
  segc_dicom_put_text(meta, T(0x0002, 0x0003), "UI", ids->instance);
  segc_dicom_put_text(meta, T(0x0002, 0x0010), "UI", kExplicitLittle);
  segc_dicom_put_text(meta, T(0x0002, 0x0012), "UI", kImplementationClass);
  segc_dicom_put_text(meta, T(0x0002, 0x0013), "SH", "SEGC");
}

static void put_referenced_series(segc_dicom_writer *w,
                                  const segc_dicom_source *s,
                                  const object_ids *ids) {
  segc_dicom_begin_sequence(w, T(0x0008, 0x1115));
  segc_dicom_begin_item(w);
  segc_dicom_begin_sequence(w, T(0x0008, 0x114A));
  for (int k = 0; k < s->count; ++k) {
    segc_dicom_begin_item(w);
    segc_dicom_put_text(w, T(0x0008, 0x1150), "UI", s->slices[k].sop_class);
    segc_dicom_put_text(w, T(0x0008, 0x1155), "UI", s->slices[k].sop_instance);
    segc_dicom_end_item(w);
  }
  segc_dicom_end_sequence(w);
  segc_dicom_put_text(w, T(0x0020, 0x000E), "UI", ids->source_series);
  segc_dicom_end_item(w);
  segc_dicom_end_sequence(w);
}

static void put_dimension_index(segc_dicom_writer *w, const object_ids *ids) {
  segc_dicom_begin_sequence(w, T(0x0020, 0x9221));
  segc_dicom_begin_item(w);
  segc_dicom_put_text(w, T(0x0020, 0x9164), "UI", ids->dimensions);
  segc_dicom_end_item(w);
  segc_dicom_end_sequence(w);
  // (index pointer, functional group, label) per dimension.
  const uint32_t dims[2][2] = {{T(0x0062, 0x000B), T(0x0062, 0x000A)},
                               {T(0x0020, 0x0032), T(0x0020, 0x9113)}};
  const char *labels[2] = {"ReferencedSegmentNumber", "ImagePositionPatient"};
  segc_dicom_begin_sequence(w, T(0x0020, 0x9222));
  for (int d = 0; d < 2; ++d) {
    segc_dicom_begin_item(w);
    segc_dicom_put_text(w, T(0x0020, 0x9164), "UI", ids->dimensions);
    segc_dicom_put_at(w, T(0x0020, 0x9165), dims[d][0]);
    segc_dicom_put_at(w, T(0x0020, 0x9167), dims[d][1]);
    segc_dicom_put_text(w, T(0x0020, 0x9421), "LO", labels[d]);
    segc_dicom_end_item(w);
  }
  segc_dicom_end_sequence(w);
}

// Declares segc's private coding scheme (PS3.3 C.12.1.1.2) when a segment
// uses it.
static void put_private_scheme(segc_dicom_writer *w, const frame_plan *p,
                               const segc_dicom_seg_options *o) {
  bool used = false;
  for (int s = 0; s < p->segments; ++s) {
    segc_dicom_structure_codes codes;
    segc_dicom_structure_codes_for(o->names[p->segment_class[s]],
                                   p->segment_class[s], &codes);
    used = used || !strcmp(codes.type.scheme, SEGC_DICOM_PRIVATE_SCHEME) ||
           !strcmp(codes.category.scheme, SEGC_DICOM_PRIVATE_SCHEME);
  }
  if (!used) return;
  segc_dicom_begin_sequence(w, T(0x0008, 0x0110));
  segc_dicom_begin_item(w);
  segc_dicom_put_text(w, T(0x0008, 0x0102), "SH", SEGC_DICOM_PRIVATE_SCHEME);
  segc_dicom_put_text(w, T(0x0008, 0x0115), "ST",
                      "segc structure names (code value segc-<class index>)");
  segc_dicom_put_text(w, T(0x0008, 0x0116), "ST", "segc");
  segc_dicom_end_item(w);
  segc_dicom_end_sequence(w);
}

static void put_segments(segc_dicom_writer *w, const frame_plan *p,
                         const segc_dicom_seg_options *o) {
  segc_dicom_begin_sequence(w, T(0x0062, 0x0002));
  for (int s = 0; s < p->segments; ++s) {
    const int c = p->segment_class[s];
    segc_dicom_structure_codes codes;
    segc_dicom_structure_codes_for(o->names[c], c, &codes);
    segc_dicom_begin_item(w);
    segc_dicom_put_code(w, T(0x0062, 0x0003), codes.category.value,
                        codes.category.scheme, codes.category.meaning);
    segc_dicom_put_us(w, T(0x0062, 0x0004), (uint16_t)(s + 1));
    segc_dicom_put_text(w, T(0x0062, 0x0005), "LO", o->names[c]);
    segc_dicom_put_text(w, T(0x0062, 0x0008), "CS", "AUTOMATIC");
    segc_dicom_put_text(w, T(0x0062, 0x0009), "LO", o->algorithm_name);
    segc_dicom_begin_sequence(w, T(0x0062, 0x000F));
    segc_dicom_begin_item(w);
    segc_dicom_put_text(w, T(0x0008, 0x0100), "SH", codes.type.value);
    segc_dicom_put_text(w, T(0x0008, 0x0102), "SH", codes.type.scheme);
    segc_dicom_put_text(w, T(0x0008, 0x0104), "LO", codes.type.meaning);
    if (codes.modifier.value)
      segc_dicom_put_code(w, T(0x0062, 0x0011), codes.modifier.value,
                          codes.modifier.scheme, codes.modifier.meaning);
    segc_dicom_end_item(w);
    segc_dicom_end_sequence(w);
    segc_dicom_end_item(w);
  }
  segc_dicom_end_sequence(w);
}

static void put_shared_groups(segc_dicom_writer *w,
                              const segc_dicom_source *s) {
  segc_dicom_begin_sequence(w, T(0x5200, 0x9229));
  segc_dicom_begin_item(w);
  segc_dicom_begin_sequence(w, T(0x0020, 0x9116));
  segc_dicom_begin_item(w);
  segc_dicom_put_ds(w, T(0x0020, 0x0037), s->orientation, 6);
  segc_dicom_end_item(w);
  segc_dicom_end_sequence(w);
  segc_dicom_begin_sequence(w, T(0x0028, 0x9110));
  segc_dicom_begin_item(w);
  segc_dicom_put_ds(w, T(0x0018, 0x0050), &s->slice_thickness, 1);
  segc_dicom_put_ds(w, T(0x0018, 0x0088), &s->slice_step, 1);
  segc_dicom_put_ds(w, T(0x0028, 0x0030), s->pixel_spacing, 2);
  segc_dicom_end_item(w);
  segc_dicom_end_sequence(w);
  segc_dicom_end_item(w);
  segc_dicom_end_sequence(w);
}

static void put_frame_group(segc_dicom_writer *w, const segc_dicom_source *s,
                            const frame_plan *p, int segment, int k) {
  const segc_dicom_source_slice *slice = &s->slices[k];
  segc_dicom_begin_item(w);
  segc_dicom_begin_sequence(w, T(0x0008, 0x9124));  // DerivationImage
  segc_dicom_begin_item(w);
  segc_dicom_begin_sequence(w, T(0x0008, 0x2112));  // SourceImage
  segc_dicom_begin_item(w);
  segc_dicom_put_text(w, T(0x0008, 0x1150), "UI", slice->sop_class);
  segc_dicom_put_text(w, T(0x0008, 0x1155), "UI", slice->sop_instance);
  // Each frame lies exactly on its source slice's pixels.
  segc_dicom_put_text(w, T(0x0028, 0x135A), "CS", "YES");
  segc_dicom_put_code(w, T(0x0040, 0xA170), "121322", "DCM",
                      "Source image for image processing operation");
  segc_dicom_end_item(w);
  segc_dicom_end_sequence(w);
  segc_dicom_put_code(w, T(0x0008, 0x9215), "113076", "DCM", "Segmentation");
  segc_dicom_end_item(w);
  segc_dicom_end_sequence(w);
  segc_dicom_begin_sequence(w, T(0x0020, 0x9111));  // FrameContent
  segc_dicom_begin_item(w);
  const uint32_t index[2] = {(uint32_t)segment, (uint32_t)p->position_rank[k]};
  segc_dicom_put_ul_values(w, T(0x0020, 0x9157), index, 2);
  segc_dicom_end_item(w);
  segc_dicom_end_sequence(w);
  segc_dicom_begin_sequence(w, T(0x0020, 0x9113));  // PlanePosition
  segc_dicom_begin_item(w);
  segc_dicom_put_ds(w, T(0x0020, 0x0032), slice->position, 3);
  segc_dicom_end_item(w);
  segc_dicom_end_sequence(w);
  segc_dicom_begin_sequence(w, T(0x0062, 0x000A));  // SegmentIdentification
  segc_dicom_begin_item(w);
  segc_dicom_put_us(w, T(0x0062, 0x000B), (uint16_t)segment);
  segc_dicom_end_item(w);
  segc_dicom_end_sequence(w);
  segc_dicom_end_item(w);
}

// Every attribute but the pixel data, in tag order.
static void put_dataset(segc_dicom_writer *w, const segc_dicom_source *s,
                        const frame_plan *p, const object_ids *ids,
                        const segc_dicom_seg_options *o) {
  const segc_dicom_study *st = &s->study;
  if (st->character_set[0])
    segc_dicom_put_text(w, T(0x0008, 0x0005), "CS", st->character_set);
  segc_dicom_put_text(w, T(0x0008, 0x0008), "CS", "DERIVED\\PRIMARY");
  segc_dicom_put_text(w, T(0x0008, 0x0016), "UI", kSegmentationClass);
  segc_dicom_put_text(w, T(0x0008, 0x0018), "UI", ids->instance);
  segc_dicom_put_text(w, T(0x0008, 0x0020), "DA", st->study_date);
  segc_dicom_put_text(w, T(0x0008, 0x0023), "DA", ids->date);
  segc_dicom_put_text(w, T(0x0008, 0x0030), "TM", st->study_time);
  segc_dicom_put_text(w, T(0x0008, 0x0033), "TM", ids->time);
  segc_dicom_put_text(w, T(0x0008, 0x0050), "SH", st->accession_number);
  segc_dicom_put_text(w, T(0x0008, 0x0060), "CS", "SEG");
  segc_dicom_put_text(w, T(0x0008, 0x0070), "LO", "segc");
  segc_dicom_put_text(w, T(0x0008, 0x0090), "PN", st->referring_physician);
  put_private_scheme(w, p, o);
  segc_dicom_put_text(w, T(0x0008, 0x103E), "LO",
                      o->series_description ? o->series_description
                                            : "segc segmentation");
  segc_dicom_put_text(w, T(0x0008, 0x1090), "LO", "segc seginfer");
  put_referenced_series(w, s, ids);
  segc_dicom_put_text(w, T(0x0010, 0x0010), "PN", st->patient_name);
  segc_dicom_put_text(w, T(0x0010, 0x0020), "LO", st->patient_id);
  segc_dicom_put_text(w, T(0x0010, 0x0030), "DA", st->patient_birth_date);
  segc_dicom_put_text(w, T(0x0010, 0x0040), "CS", st->patient_sex);
  segc_dicom_put_text(w, T(0x0018, 0x1000), "LO", "1");
  segc_dicom_put_text(w, T(0x0018, 0x1020), "LO", o->software_version);
  segc_dicom_put_text(w, T(0x0020, 0x000D), "UI", ids->study);
  segc_dicom_put_text(w, T(0x0020, 0x000E), "UI", ids->series);
  segc_dicom_put_text(w, T(0x0020, 0x0010), "SH", st->study_id);
  segc_dicom_put_is(w, T(0x0020, 0x0011), 900);
  segc_dicom_put_is(w, T(0x0020, 0x0013), 1);
  segc_dicom_put_text(w, T(0x0020, 0x0052), "UI", ids->frame_of_reference);
  segc_dicom_put_text(w, T(0x0020, 0x1040), "LO", "");
  put_dimension_index(w, ids);
  segc_dicom_put_us(w, T(0x0028, 0x0002), 1);
  segc_dicom_put_text(w, T(0x0028, 0x0004), "CS", "MONOCHROME2");
  segc_dicom_put_is(w, T(0x0028, 0x0008), p->frames);
  segc_dicom_put_us(w, T(0x0028, 0x0010), (uint16_t)s->rows);
  segc_dicom_put_us(w, T(0x0028, 0x0011), (uint16_t)s->columns);
  segc_dicom_put_us(w, T(0x0028, 0x0100), 1);
  segc_dicom_put_us(w, T(0x0028, 0x0101), 1);
  segc_dicom_put_us(w, T(0x0028, 0x0102), 0);
  segc_dicom_put_us(w, T(0x0028, 0x0103), 0);
  segc_dicom_put_text(w, T(0x0028, 0x2110), "CS", "00");
  segc_dicom_put_text(w, T(0x0062, 0x0001), "CS", "BINARY");
  put_segments(w, p, o);
  segc_dicom_put_text(w, T(0x0070, 0x0080), "CS", "SEGC");
  segc_dicom_put_text(w, T(0x0070, 0x0081), "LO", "segc automatic segmentation");
  segc_dicom_put_text(w, T(0x0070, 0x0084), "PN", "");
  put_shared_groups(w, s);
  segc_dicom_begin_sequence(w, T(0x5200, 0x9230));
  for (int seg = 0; seg < p->segments; ++seg)
    for (int k = 0; k < p->slices; ++k)
      if (covers(p, p->segment_class[seg], k)) put_frame_group(w, s, p, seg + 1, k);
  segc_dicom_end_sequence(w);
}

// Packs every frame's bits (first pixel in the lowest bit, frames back to
// back) into the file in chunks; pads the value to an even length.
static segc_status write_pixels(segc_atomic_file *file, const segc_volume *label,
                                const frame_plan *p, uint32_t value_bytes) {
  enum { kChunk = 1 << 16 };
  uint8_t chunk[kChunk];
  size_t used = 0;
  uint8_t byte = 0;
  int bit = 0;
  uint32_t written = 0;
  const int64_t columns = label->dim[0], rows = label->dim[1];
  const uint8_t *v = label->data;
  for (int seg = 0; seg < p->segments; ++seg) {
    const int c = p->segment_class[seg];
    for (int k = 0; k < p->slices; ++k) {
      if (!covers(p, c, k)) continue;
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t j = rows - 1 - r;
        for (int64_t i = 0; i < columns; ++i) {
          if (v[segc_volume_offset(label, i, j, k)] == c)
            byte |= (uint8_t)(1u << bit);
          if (++bit == 8) {
            chunk[used++] = byte;
            byte = 0;
            bit = 0;
            if (used == kChunk) {
              SEGC_TRY(segc_atomic_file_write(file, chunk, used));
              written += (uint32_t)used;
              used = 0;
            }
          }
        }
      }
    }
  }
  if (bit) chunk[used++] = byte;
  while (written + used < value_bytes) {
    if (used == kChunk) {
      SEGC_TRY(segc_atomic_file_write(file, chunk, used));
      written += (uint32_t)used;
      used = 0;
    }
    chunk[used++] = 0;
  }
  return segc_atomic_file_write(file, chunk, used);
}

static segc_status check_inputs(const segc_volume *label,
                                const segc_dicom_seg_options *o) {
  const segc_dicom_source *s = o->source;
  if (label->dtype != SEGC_U8)
    return SEGC_FAIL(SEGC_ERR_INVALID, "DICOM SEG: the label must be u8");
  if (!s || s->count < 1 || !s->slices)
    return SEGC_FAIL(SEGC_ERR_INVALID, "DICOM SEG: no source series");
  if (label->dim[0] != s->columns || label->dim[1] != s->rows ||
      label->dim[2] != s->count)
    return SEGC_FAIL(SEGC_ERR_INVALID, "DICOM SEG: the label is %lld x %lld "
                     "x %lld, the series %d x %d x %d",
                     (long long)label->dim[0], (long long)label->dim[1],
                     (long long)label->dim[2], s->columns, s->rows, s->count);
  if (s->rows > 65535 || s->columns > 65535)
    return SEGC_FAIL(SEGC_ERR_UNSUPPORTED, "DICOM SEG: %d x %d pixels",
                     s->rows, s->columns);
  for (int k = 0; k < s->count; ++k)
    if (!s->slices[k].sop_instance[0] || !s->slices[k].sop_class[0])
      return SEGC_FAIL(SEGC_ERR_INVALID, "DICOM SEG: source slice %d has no "
                       "SOP instance or class UID to reference", k + 1);
  if (!o->names || o->name_count < 2 || o->name_count > 256)
    return SEGC_FAIL(SEGC_ERR_INVALID, "DICOM SEG: %d class names",
                     o->name_count);
  if (!o->algorithm_name || !o->algorithm_name[0] || !o->software_version)
    return SEGC_FAIL(SEGC_ERR_INVALID, "DICOM SEG: no algorithm name");
  return SEGC_OK;
}

segc_status segc_dicom_seg_write(const char *path, const segc_volume *label,
                                 const segc_dicom_seg_options *o,
                                 segc_dicom_seg_summary *summary) {
  segc_dicom_seg_summary local = {0};
  if (!summary) summary = &local;
  memset(summary, 0, sizeof *summary);
  SEGC_TRY(check_inputs(label, o));
  frame_plan p;
  SEGC_TRY(plan_frames(label, o->name_count, &p));
  object_ids ids;
  segc_status status = make_ids(o->source, &ids, summary);
  segc_dicom_writer meta = {0}, body = {0};
  const uint64_t bits = (uint64_t)p.frames * (uint64_t)o->source->rows *
                        (uint64_t)o->source->columns;
  const uint32_t pixel_bytes = (uint32_t)((bits + 7) / 8);
  const uint32_t value_bytes = pixel_bytes + (pixel_bytes & 1);
  if (status == SEGC_OK) {
    put_file_meta(&meta, &ids);
    put_dataset(&body, o->source, &p, &ids, o);
    segc_dicom_put_header(&body, T(0x7FE0, 0x0010), "OB", value_bytes);
    status = segc_dicom_encode_status(&meta);
    if (status == SEGC_OK) status = segc_dicom_encode_status(&body);
  }
  segc_atomic_file file = {0};
  if (status == SEGC_OK) status = segc_atomic_file_open(&file, path);
  if (status == SEGC_OK) {
    uint8_t head[128 + 4 + 12] = {0};
    memcpy(head + 128, "DICM", 4);
    segc_dicom_writer group = {0};  // FileMetaInformationGroupLength
    segc_dicom_put_header(&group, T(0x0002, 0x0000), "UL", 4);
    segc_byte_buffer_le32(&group.bytes, (uint32_t)meta.bytes.size);
    status = segc_dicom_encode_status(&group);
    if (status == SEGC_OK) {
      memcpy(head + 132, group.bytes.data, 12);
      status = segc_atomic_file_write(&file, head, sizeof head);
    }
    segc_dicom_writer_free(&group);
  }
  if (status == SEGC_OK)
    status = segc_atomic_file_write(&file, meta.bytes.data, meta.bytes.size);
  if (status == SEGC_OK)
    status = segc_atomic_file_write(&file, body.bytes.data, body.bytes.size);
  if (status == SEGC_OK) status = write_pixels(&file, label, &p, value_bytes);
  if (status == SEGC_OK) status = segc_atomic_file_commit(&file);
  segc_atomic_file_abort(&file);
  summary->segments = p.segments;
  summary->frames = p.frames;
  segc_dicom_writer_free(&meta);
  segc_dicom_writer_free(&body);
  plan_free(&p);
  return status;
}
