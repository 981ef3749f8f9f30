// A folder of DICOM files to one volume: group by SeriesInstanceUID, pick the
// series, check that the slices make one regular grid, sort them along the
// normal, decode them into the volume (data/dicom.h). Files are read twice:
// headers first (so that nothing is decoded for a series that is refused),
// then pixels one slice at a time.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/dicom_internal.h"
#include "data/file_list.h"

enum {
  kPathMax = 4096,
  kMaxSide = 16384,  // rows or columns; CT images are 512 to 2048
};
// Tolerances (documented in data/dicom.h).
static const double kCosineTolerance = 1e-3;   // unit, orthogonal cosines
static const double kSameOrientation = 1e-4;   // between slices
static const double kSameSpacing = 1e-4;       // mm, in-plane between slices
static const double kGapTolerance = 0.01;      // relative to the mean gap
static const double kTiltPerMm = 1e-3;         // off-normal drift per mm
static const double kTiltSlack = 1e-3;         // mm

typedef struct {
  char *path;
  segc_dicom_attributes a;
  double along;  // position projected on the slice normal
} slice;

typedef struct {
  slice *items;
  int count, capacity;
} slice_list;

static void slices_free(slice_list *list) {
  for (int i = 0; i < list->count; ++i) free(list->items[i].path);
  free(list->items);
  memset(list, 0, sizeof *list);
}

static segc_status slices_add(slice_list *list, const char *path,
                              const segc_dicom_attributes *a) {
  if (list->count == list->capacity) {
    const int grown = list->capacity ? 2 * list->capacity : 64;
    slice *items = realloc(list->items, sizeof *items * (size_t)grown);
    if (!items) return SEGC_FAIL(SEGC_ERR_NOMEM, "out of memory");
    list->items = items;
    list->capacity = grown;
  }
  slice *s = &list->items[list->count];
  s->path = strdup(path);
  if (!s->path) return SEGC_FAIL(SEGC_ERR_NOMEM, "out of memory");
  s->a = *a;
  s->along = 0.0;
  ++list->count;
  return SEGC_OK;
}

// An image this reader can place and decode; anything else is refused with
// the file's name.
static segc_status check_image(const char *path, const segc_dicom_attributes *a) {
  if (a->unsupported_syntax)
    return SEGC_FAIL(SEGC_ERR_UNSUPPORTED,
                     "%s: DICOM: transfer syntax %s (%s) is not supported "
                     "(segc reads implicit/explicit VR little endian, deflate, "
                     "JPEG 2000 and JPEG-LS)", path, a->transfer_syntax,
                     a->unsupported_syntax);
  if (a->frames != 1)
    return SEGC_FAIL(SEGC_ERR_UNSUPPORTED, "%s: DICOM: %d frames in one file "
                     "(multi-frame objects are not supported; a series of "
                     "single-frame files is)", path, a->frames);
  if (a->samples_per_pixel != 1 ||
      (strcmp(a->photometric, "MONOCHROME2") != 0 &&
       strcmp(a->photometric, "MONOCHROME1") != 0))
    return SEGC_FAIL(SEGC_ERR_UNSUPPORTED, "%s: DICOM: %d samples per pixel, "
                     "photometric '%s' (segc reads greyscale MONOCHROME1/2)",
                     path, a->samples_per_pixel, a->photometric);
  if (a->rows < 1 || a->columns < 1)
    return SEGC_FAIL(SEGC_ERR_FORMAT, "%s: malformed DICOM: Rows %d, Columns "
                     "%d", path, a->rows, a->columns);
  if (a->rows > kMaxSide || a->columns > kMaxSide)
    return SEGC_FAIL(SEGC_ERR_UNSUPPORTED, "%s: DICOM: %d x %d pixels (segc "
                     "reads images up to %d x %d)", path, a->rows, a->columns,
                     kMaxSide, kMaxSide);
  if (a->encapsulated != (a->coding != SEGC_DICOM_NATIVE))
    return SEGC_FAIL(SEGC_ERR_FORMAT, "%s: malformed DICOM: %s pixel data "
                     "with transfer syntax %s", path,
                     a->encapsulated ? "encapsulated" : "native",
                     a->transfer_syntax);
  if (a->bits_allocated != 8 && a->bits_allocated != 16)
    return SEGC_FAIL(SEGC_ERR_UNSUPPORTED, "%s: DICOM: BitsAllocated %d (segc "
                     "reads 8 and 16)", path, a->bits_allocated);
  if (a->bits_stored < 1 || a->bits_stored > a->bits_allocated ||
      a->high_bit != a->bits_stored - 1)
    return SEGC_FAIL(SEGC_ERR_UNSUPPORTED, "%s: DICOM: BitsStored %d, HighBit "
                     "%d with BitsAllocated %d (HighBit must be BitsStored - 1)",
                     path, a->bits_stored, a->high_bit, a->bits_allocated);
  // Native data must hold the frame the header describes, before anything
  // is allocated for it; compressed frames are checked when decoded.
  const size_t frame_bytes = (size_t)a->rows * (size_t)a->columns *
                             (size_t)(a->bits_allocated / 8);
  if (a->coding == SEGC_DICOM_NATIVE && a->pixel_length < frame_bytes)
    return SEGC_FAIL(SEGC_ERR_FORMAT, "%s: malformed DICOM: pixel data has "
                     "%zu bytes, %d x %d pixels of %d bits need %zu", path,
                     a->pixel_length, a->rows, a->columns, a->bits_allocated,
                     frame_bytes);
  if (a->pixel_representation != 0 && a->pixel_representation != 1)
    return SEGC_FAIL(SEGC_ERR_FORMAT, "%s: malformed DICOM: "
                     "PixelRepresentation %d", path, a->pixel_representation);
  if (!a->has_position || !a->has_orientation || !a->has_pixel_spacing)
    return SEGC_FAIL(SEGC_ERR_FORMAT, "%s: DICOM: no %s (a CT slice needs "
                     "ImagePositionPatient, ImageOrientationPatient and "
                     "PixelSpacing)", path,
                     !a->has_position      ? "ImagePositionPatient"
                     : !a->has_orientation ? "ImageOrientationPatient"
                                           : "PixelSpacing");
  if (a->pixel_spacing[0] <= 0.0 || a->pixel_spacing[1] <= 0.0)
    return SEGC_FAIL(SEGC_ERR_FORMAT, "%s: DICOM: PixelSpacing %g\\%g is not "
                     "positive", path, a->pixel_spacing[0], a->pixel_spacing[1]);
  if (a->slope == 0.0)
    return SEGC_FAIL(SEGC_ERR_FORMAT, "%s: DICOM: RescaleSlope is 0", path);
  return SEGC_OK;
}

// Reads every file's header. Non-DICOM files and DICOM objects without
// pixel data and without Rows (a DICOMDIR, a report) are passed over; the
// others are checked (check_image) once their series is chosen.
static segc_status read_headers(const char *folder, slice_list *out) {
  segc_name_list names = {0};
  SEGC_TRY(segc_data_list_dir(folder, SEGC_LIST_FILES, "", &names));
  segc_status status = SEGC_OK;
  for (int64_t i = 0; i < names.count && status == SEGC_OK; ++i) {
    char path[kPathMax];
    if (snprintf(path, sizeof path, "%s/%s", folder, names.names[i]) >=
        (int)sizeof path) {
      status = SEGC_FAIL(SEGC_ERR_INVALID, "%s/%s: path too long", folder,
                         names.names[i]);
      break;
    }
    segc_dicom_buffer buffer;
    bool part10 = false;
    status = segc_dicom_load(path, &buffer, &part10);
    if (status != SEGC_OK || !part10) continue;
    segc_dicom_attributes a;
    status = segc_dicom_parse(&buffer, path, &a);
    segc_dicom_buffer_free(&buffer);
    if (status != SEGC_OK) break;
    if (!a.has_pixel_data) {
      if (a.rows > 0)
        status = SEGC_FAIL(SEGC_ERR_FORMAT, "%s: DICOM image without pixel "
                           "data (truncated?)", path);
      continue;
    }
    status = slices_add(out, path, &a);
  }
  segc_name_list_free(&names);
  if (status == SEGC_OK && out->count == 0)
    status = SEGC_FAIL(SEGC_ERR_FORMAT, "%s: no DICOM image in this folder "
                       "(its subfolders are not searched)", folder);
  return status;
}

// Keeps the slices of the chosen series (see data/dicom.h).
static segc_status choose_series(const char *folder, const char *wanted,
                                 slice_list *list) {
  // The distinct UIDs in order of first appearance.
  int *first = malloc(sizeof *first * (size_t)list->count);
  int *counts = calloc((size_t)list->count, sizeof *counts);
  if (!first || !counts) {
    free(first);
    free(counts);
    return SEGC_FAIL(SEGC_ERR_NOMEM, "out of memory");
  }
  int series = 0;
  for (int i = 0; i < list->count; ++i) {
    int s = 0;
    while (s < series && strcmp(list->items[first[s]].a.series_uid,
                                list->items[i].a.series_uid) != 0)
      ++s;
    if (s == series) first[series++] = i;
    ++counts[s];
  }
  int chosen = -1;
  if (wanted) {
    for (int s = 0; s < series; ++s)
      if (!strcmp(list->items[first[s]].a.series_uid, wanted)) chosen = s;
  } else if (series == 1) {
    chosen = 0;
  }
  segc_status status = SEGC_OK;
  if (chosen < 0) {
    char listing[768] = "";
    size_t used = 0;
    for (int s = 0; s < series && used < sizeof listing; ++s) {
      const segc_dicom_attributes *a = &list->items[first[s]].a;
      const int n = snprintf(listing + used, sizeof listing - used,
                             "%s%s \"%s\" (%d slice%s)", s ? "; " : "",
                             a->series_uid[0] ? a->series_uid : "(empty UID)",
                             a->description, counts[s],
                             counts[s] == 1 ? "" : "s");
      if (n < 0) break;
      used += (size_t)n;
    }
    status = wanted ? SEGC_FAIL(SEGC_ERR_INVALID, "%s: no DICOM series %s; "
                                "the folder holds: %s", folder, wanted, listing)
                    : SEGC_FAIL(SEGC_ERR_INVALID, "%s: %d DICOM series; choose "
                                "one with --series UID: %s", folder, series,
                                listing);
  } else {
    const char *uid = list->items[first[chosen]].a.series_uid;
    int kept = 0;
    for (int i = 0; i < list->count; ++i) {
      if (!strcmp(list->items[i].a.series_uid, uid)) {
        list->items[kept++] = list->items[i];
      } else {
        free(list->items[i].path);
      }
    }
    list->count = kept;
  }
  free(first);
  free(counts);
  return status;
}

static double dot3(const double *a, const double *b) {
  return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}

static int by_position(const void *pa, const void *pb) {
  const slice *a = pa, *b = pb;
  return (a->along > b->along) - (a->along < b->along);
}

// Checks the slices form one untilted grid with uniform spacing, sorts them
// and fills the affine (RAS, rows flipped, as dcm2niix) and the spacing.
static segc_status place_slices(const char *folder, slice_list *list,
                                double affine[4][4], double spacing[3]) {
  const segc_dicom_attributes *a0 = &list->items[0].a;
  const char *path0 = list->items[0].path;
  double row[3], column[3], normal[3];
  memcpy(row, a0->orientation, sizeof row);
  memcpy(column, a0->orientation + 3, sizeof column);
  const double row_length = sqrt(dot3(row, row));
  const double column_length = sqrt(dot3(column, column));
  if (fabs(row_length - 1.0) > kCosineTolerance ||
      fabs(column_length - 1.0) > kCosineTolerance ||
      fabs(dot3(row, column)) > kCosineTolerance)
    return SEGC_FAIL(SEGC_ERR_FORMAT, "%s: DICOM: ImageOrientationPatient is "
                     "not two orthogonal unit vectors (tolerance %g)", path0,
                     kCosineTolerance);
  for (int d = 0; d < 3; ++d) {
    row[d] /= row_length;
    column[d] /= column_length;
  }
  normal[0] = row[1] * column[2] - row[2] * column[1];
  normal[1] = row[2] * column[0] - row[0] * column[2];
  normal[2] = row[0] * column[1] - row[1] * column[0];
  for (int i = 0; i < list->count; ++i) {
    slice *s = &list->items[i];
    for (int d = 0; d < 6; ++d)
      if (fabs(s->a.orientation[d] - a0->orientation[d]) > kSameOrientation)
        return SEGC_FAIL(SEGC_ERR_UNSUPPORTED, "%s: DICOM: its "
                         "ImageOrientationPatient differs from %s's (one "
                         "series, several orientations?)", s->path, path0);
    if (s->a.rows != a0->rows || s->a.columns != a0->columns ||
        fabs(s->a.pixel_spacing[0] - a0->pixel_spacing[0]) > kSameSpacing ||
        fabs(s->a.pixel_spacing[1] - a0->pixel_spacing[1]) > kSameSpacing)
      return SEGC_FAIL(SEGC_ERR_UNSUPPORTED, "%s: DICOM: %dx%d pixels of "
                       "%g\\%g mm, but %s has %dx%d of %g\\%g mm", s->path,
                       s->a.rows, s->a.columns, s->a.pixel_spacing[0],
                       s->a.pixel_spacing[1], path0, a0->rows, a0->columns,
                       a0->pixel_spacing[0], a0->pixel_spacing[1]);
    s->along = dot3(s->a.position, normal);
  }
  qsort(list->items, (size_t)list->count, sizeof *list->items, by_position);
  const int n = list->count;
  const slice *first = &list->items[0], *last = &list->items[n - 1];
  for (int i = 1; i < n; ++i)
    if (list->items[i].along - list->items[i - 1].along < 1e-3)
      return SEGC_FAIL(SEGC_ERR_UNSUPPORTED, "%s: DICOM: %s and %s lie at the "
                       "same position (%.4g mm along the normal): duplicate "
                       "slices or several acquisitions in one series", folder,
                       list->items[i - 1].path, list->items[i].path,
                       list->items[i].along);
  double step[3];
  double gap = 0.0;
  if (n > 1) {
    gap = (last->along - first->along) / (n - 1);
    for (int d = 0; d < 3; ++d)
      step[d] = (last->a.position[d] - first->a.position[d]) / (n - 1);
    for (int i = 1; i < n; ++i) {
      const double this_gap = list->items[i].along - list->items[i - 1].along;
      if (fabs(this_gap - gap) > kGapTolerance * gap)
        return SEGC_FAIL(SEGC_ERR_UNSUPPORTED, "%s: DICOM: slice spacing not "
                         "uniform: %.4g mm between %s and %s, %.4g mm on "
                         "average (tolerance 1%%; missing slices?)", folder,
                         this_gap, list->items[i - 1].path,
                         list->items[i].path, gap);
    }
    // Off-normal drift of each slice from the first: gantry tilt.
    for (int i = 1; i < n; ++i) {
      double off[3], drift = 0.0;
      const double along = list->items[i].along - first->along;
      for (int d = 0; d < 3; ++d) {
        off[d] = list->items[i].a.position[d] - first->a.position[d] -
                 along * normal[d];
        drift += off[d] * off[d];
      }
      drift = sqrt(drift);
      if (drift > kTiltPerMm * along + kTiltSlack)
        return SEGC_FAIL(SEGC_ERR_UNSUPPORTED, "%s: DICOM: gantry tilt: the "
                         "slice positions leave the slice normal by %.3g "
                         "degrees; segc reads untilted series only (dcm2niix "
                         "can resample a tilted one)", folder,
                         atan2(drift, along) * 180.0 / M_PI);
    }
  } else {
    gap = a0->slice_thickness > 0.0 ? a0->slice_thickness : 1.0;
    for (int d = 0; d < 3; ++d) step[d] = gap * normal[d];
  }
  const double dx = a0->pixel_spacing[1], dy = a0->pixel_spacing[0];
  // LPS: voxel (i, j, k) is column i, row Rows-1-j of slice k.
  double lps[3][4];
  for (int d = 0; d < 3; ++d) {
    lps[d][0] = dx * row[d];
    lps[d][1] = -dy * column[d];
    lps[d][2] = step[d];
    lps[d][3] = first->a.position[d] + (a0->rows - 1) * dy * column[d];
  }
  memset(affine, 0, sizeof(double) * 16);
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 4; ++c) affine[r][c] = r < 2 ? -lps[r][c] : lps[r][c];
  affine[3][3] = 1.0;
  spacing[0] = dx;
  spacing[1] = dy;
  spacing[2] = gap;
  return SEGC_OK;
}

// The smallest dtype that holds every rescaled value exactly.
static segc_dtype choose_dtype(const slice_list *list) {
  bool integral = true;
  double low = 0.0, high = 0.0;
  for (int i = 0; i < list->count; ++i) {
    const segc_dicom_attributes *a = &list->items[i].a;
    if (a->slope != floor(a->slope) || a->intercept != floor(a->intercept))
      integral = false;
    const double lo = a->pixel_representation ? -ldexp(1.0, a->bits_stored - 1) : 0.0;
    const double hi = a->pixel_representation ? ldexp(1.0, a->bits_stored - 1) - 1.0
                                              : ldexp(1.0, a->bits_stored) - 1.0;
    const double v1 = lo * a->slope + a->intercept, v2 = hi * a->slope + a->intercept;
    const double smaller = fmin(v1, v2), larger = fmax(v1, v2);
    if (i == 0 || smaller < low) low = smaller;
    if (i == 0 || larger > high) high = larger;
  }
  if (!integral) return SEGC_F32;
  if (low >= -32768.0 && high <= 32767.0) return SEGC_I16;
  if (low >= -2147483648.0 && high <= 2147483647.0) return SEGC_I32;
  return SEGC_F32;
}

// Decodes slice k into the volume (voxel j is row Rows-1-j).
static segc_status decode_slice(const slice *s, int64_t k, int32_t *values,
                                segc_volume *v) {
  segc_dicom_buffer buffer;
  bool part10 = false;
  SEGC_TRY(segc_dicom_load(s->path, &buffer, &part10));
  segc_dicom_attributes a;
  segc_status status = part10 ? segc_dicom_parse(&buffer, s->path, &a)
                              : SEGC_FAIL(SEGC_ERR_IO, "%s: no longer a DICOM "
                                          "file (changed while read?)", s->path);
  if (status == SEGC_OK &&
      (!a.has_pixel_data || a.rows != s->a.rows || a.columns != s->a.columns ||
       a.bits_allocated != s->a.bits_allocated ||
       a.bits_stored != s->a.bits_stored || a.coding != s->a.coding ||
       a.pixel_representation != s->a.pixel_representation))
    status = SEGC_FAIL(SEGC_ERR_IO, "%s: changed while the series was read",
                       s->path);
  if (status == SEGC_OK)
    status = segc_dicom_decode_frame(&buffer, &s->a, s->path, values);
  segc_dicom_buffer_free(&buffer);
  SEGC_TRY(status);
  const int64_t rows = s->a.rows, columns = s->a.columns;
  const double slope = s->a.slope, intercept = s->a.intercept;
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t j = rows - 1 - r;
    for (int64_t i = 0; i < columns; ++i) {
      const double hu = values[r * columns + i] * slope + intercept;
      const size_t at = (size_t)segc_volume_offset(v, i, j, k);
      switch (v->dtype) {
        case SEGC_I16: ((int16_t *)v->data)[at] = (int16_t)hu; break;
        case SEGC_I32: ((int32_t *)v->data)[at] = (int32_t)hu; break;
        default:
          if (!isfinite((float)hu))
            return SEGC_FAIL(SEGC_ERR_NONFINITE, "%s: DICOM: RescaleSlope %g "
                             "and RescaleIntercept %g give a non-finite value",
                             s->path, slope, intercept);
          ((float *)v->data)[at] = (float)hu;
          break;
      }
    }
  }
  return SEGC_OK;
}

bool segc_dicom_is_series_path(const char *path) {
  return segc_data_is_dir(path);
}

void segc_dicom_source_free(segc_dicom_source *source) {
  free(source->slices);
  memset(source, 0, sizeof *source);
}

// The placed slices' references and geometry (data/dicom.h).
static segc_status describe_source(const slice_list *list, double gap,
                                   segc_dicom_source *source) {
  const segc_dicom_attributes *a0 = &list->items[0].a;
  source->slices = calloc((size_t)list->count, sizeof *source->slices);
  if (!source->slices) return SEGC_FAIL(SEGC_ERR_NOMEM, "out of memory");
  source->study = a0->study;
  memcpy(source->series_uid, a0->series_uid, sizeof source->series_uid);
  memcpy(source->orientation, a0->orientation, sizeof source->orientation);
  memcpy(source->pixel_spacing, a0->pixel_spacing,
         sizeof source->pixel_spacing);
  source->slice_step = gap;
  source->slice_thickness = a0->slice_thickness > 0.0 ? a0->slice_thickness : gap;
  source->rows = a0->rows;
  source->columns = a0->columns;
  source->count = list->count;
  for (int k = 0; k < list->count; ++k) {
    const segc_dicom_attributes *a = &list->items[k].a;
    segc_dicom_source_slice *s = &source->slices[k];
    memcpy(s->sop_class, a->sop_class, sizeof s->sop_class);
    memcpy(s->sop_instance, a->sop_instance, sizeof s->sop_instance);
    memcpy(s->position, a->position, sizeof s->position);
  }
  return SEGC_OK;
}

segc_status segc_dicom_read_series(const char *folder, const char *series_uid,
                                   segc_volume *out,
                                   segc_dicom_series_info *info) {
  return segc_dicom_read_series_source(folder, series_uid, out, info, NULL);
}

segc_status segc_dicom_read_series_source(const char *folder,
                                          const char *series_uid,
                                          segc_volume *out,
                                          segc_dicom_series_info *info,
                                          segc_dicom_source *source) {
  memset(out, 0, sizeof *out);
  if (info) memset(info, 0, sizeof *info);
  if (source) memset(source, 0, sizeof *source);
  slice_list list = {0};
  double affine[4][4], spacing[3];
  segc_status status = read_headers(folder, &list);
  if (status == SEGC_OK) status = choose_series(folder, series_uid, &list);
  // Only the chosen series' files need to be images segc can read.
  for (int i = 0; status == SEGC_OK && i < list.count; ++i)
    status = check_image(list.items[i].path, &list.items[i].a);
  if (status == SEGC_OK) status = place_slices(folder, &list, affine, spacing);
  int32_t *values = NULL;
  if (status == SEGC_OK) {
    const segc_dicom_attributes *a = &list.items[0].a;
    const int64_t dim[3] = {a->columns, a->rows, list.count};
    status = segc_volume_alloc(out, choose_dtype(&list), dim);
    values = malloc(sizeof *values * (size_t)a->rows * (size_t)a->columns);
    if (status == SEGC_OK && !values)
      status = SEGC_FAIL(SEGC_ERR_NOMEM, "%s: out of memory", folder);
  }
  for (int k = 0; status == SEGC_OK && k < list.count; ++k)
    status = decode_slice(&list.items[k], k, values, out);
  if (status == SEGC_OK && source)
    status = describe_source(&list, spacing[2], source);
  if (status == SEGC_OK) {
    memcpy(out->affine, affine, sizeof affine);
    if (info) {
      const segc_dicom_attributes *a = &list.items[0].a;
      snprintf(info->series_uid, sizeof info->series_uid, "%s", a->series_uid);
      snprintf(info->description, sizeof info->description, "%s",
               a->description);
      snprintf(info->transfer_syntax, sizeof info->transfer_syntax, "%s",
               a->transfer_syntax);
      info->slices = list.count;
      memcpy(info->spacing, spacing, sizeof spacing);
    }
  } else {
    segc_volume_free(out);
    if (source) segc_dicom_source_free(source);
  }
  free(values);
  slices_free(&list);
  return status;
}
