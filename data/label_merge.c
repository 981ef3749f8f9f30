#include "data/label_merge.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/file_list.h"

void segc_merge_report_free(segc_merge_report *report) {
  free(report->class_voxels);
  free(report->overlaps);
  for (int64_t i = 0; i < report->unknown_count; ++i) free(report->unknown[i]);
  free(report->unknown);
  memset(report, 0, sizeof *report);
}

// Mask file name -> structure name: strips ".nii.gz" or ".nii"; false for
// other files.
static bool mask_name(const char *file, char *name, size_t size) {
  const size_t n = strlen(file);
  size_t stem;
  if (n > 7 && strcmp(file + n - 7, ".nii.gz") == 0) {
    stem = n - 7;
  } else if (n > 4 && strcmp(file + n - 4, ".nii") == 0) {
    stem = n - 4;
  } else {
    return false;
  }
  snprintf(name, size, "%.*s", (int)stem, file);
  return true;
}

// Mask value > 0.5, whatever the dtype the reader produced.
static bool mask_on(const segc_volume *mask, int64_t v) {
  switch (mask->dtype) {
    case SEGC_U8: return ((const uint8_t *)mask->data)[v] != 0;
    case SEGC_I16: return ((const int16_t *)mask->data)[v] > 0;
    case SEGC_I32: return ((const int32_t *)mask->data)[v] > 0;
    case SEGC_F32: return ((const float *)mask->data)[v] > 0.5f;
    default: return segc_load_f32(mask->data, mask->dtype, (size_t)v) > 0.5f;
  }
}

// Same dims and affine (within SEGC_MERGE_AFFINE_TOLERANCE) as the reference.
static segc_status check_grid(const segc_volume *v, const char *path,
                              const segc_volume *reference,
                              const char *reference_path) {
  if (v->dim[0] != reference->dim[0] || v->dim[1] != reference->dim[1] ||
      v->dim[2] != reference->dim[2])
    return SEGC_FAIL(SEGC_ERR_FORMAT,
                     "%s: shape %lldx%lldx%lld differs from %s (%lldx%lldx%lld)",
                     path, (long long)v->dim[0], (long long)v->dim[1],
                     (long long)v->dim[2], reference_path,
                     (long long)reference->dim[0], (long long)reference->dim[1],
                     (long long)reference->dim[2]);
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 4; ++c) {
      const double d = fabs(v->affine[r][c] - reference->affine[r][c]);
      if (!(d <= SEGC_MERGE_AFFINE_TOLERANCE))
        return SEGC_FAIL(SEGC_ERR_FORMAT,
                         "%s: affine differs from %s's by %g at row %d, column "
                         "%d (tolerance %g)",
                         path, reference_path, d, r, c,
                         SEGC_MERGE_AFFINE_TOLERANCE);
    }
  return SEGC_OK;
}

typedef struct {
  int class_index;
  char *file;
} known_mask;

static int compare_known(const void *a, const void *b) {
  const known_mask *x = a, *y = b;
  return (x->class_index > y->class_index) - (x->class_index < y->class_index);
}

// Sorts the folder's NIfTI files into known masks (by class index) and
// unknown names.
static segc_status classify_masks(const char *masks_dir,
                                  const segc_label_table *labels,
                                  const segc_name_list *files,
                                  known_mask *known, int64_t *known_count,
                                  segc_merge_report *report) {
  *known_count = 0;
  for (int64_t f = 0; f < files->count; ++f) {
    char name[1024];
    if (!mask_name(files->names[f], name, sizeof name)) continue;
    const int c = segc_labels_find(labels, name);
    if (c <= 0) {  // background is not a mask either
      char *copy = strdup(name);
      if (!copy) return SEGC_FAIL(SEGC_ERR_NOMEM, "merge: out of memory");
      report->unknown[report->unknown_count++] = copy;
      continue;
    }
    for (int64_t k = 0; k < *known_count; ++k)
      if (known[k].class_index == c)
        return SEGC_FAIL(SEGC_ERR_FORMAT, "%s: class %s has two files, %s and %s",
                         masks_dir, name, known[k].file, files->names[f]);
    known[*known_count].class_index = c;
    known[*known_count].file = files->names[f];
    ++*known_count;
  }
  qsort(known, (size_t)*known_count, sizeof *known, compare_known);
  return SEGC_OK;
}

// Applies one mask: voxels > 0.5 get class c; claimed[a] counts the voxels
// that class a held before.
static void apply_mask(const segc_volume *mask, int c, uint8_t *out,
                       int64_t claimed[256]) {
  const int64_t n = segc_volume_numel(mask);
  int64_t counts[256] = {0};
  // Integer counts: the sum is the same for any thread split.
#pragma omp parallel for schedule(static) reduction(+ : counts[:256])
  for (int64_t v = 0; v < n; ++v) {
    if (!mask_on(mask, v)) continue;
    counts[out[v]]++;
    out[v] = (uint8_t)c;
  }
  for (int a = 0; a < 256; ++a) claimed[a] = counts[a];
}

static segc_status build_report(const segc_volume *label, int class_count,
                                const int64_t *pairs,
                                segc_merge_report *report) {
  report->class_count = class_count;
  report->class_voxels = calloc((size_t)class_count, sizeof(int64_t));
  int64_t pair_count = 0;
  for (int64_t p = 0; p < (int64_t)class_count * class_count; ++p)
    pair_count += pairs[p] > 0;
  report->overlaps = calloc((size_t)(pair_count ? pair_count : 1),
                            sizeof *report->overlaps);
  if (!report->class_voxels || !report->overlaps)
    return SEGC_FAIL(SEGC_ERR_NOMEM, "merge: out of memory");
  const uint8_t *values = label->data;
  for (int64_t v = 0; v < segc_volume_numel(label); ++v)
    report->class_voxels[values[v]]++;
  for (int c = 1; c < class_count; ++c)
    report->classes_present += report->class_voxels[c] > 0;
  for (int lower = 1; lower < class_count; ++lower)
    for (int higher = lower + 1; higher < class_count; ++higher) {
      const int64_t voxels = pairs[lower * class_count + higher];
      if (voxels == 0) continue;
      report->overlaps[report->overlap_count++] =
          (segc_merge_overlap){lower, higher, voxels};
      report->overlap_voxels += voxels;
    }
  return SEGC_OK;
}

segc_status segc_merge_masks(const char *masks_dir,
                             const segc_label_table *labels, bool strict,
                             segc_volume *label, segc_nifti_info *grid_info,
                             segc_merge_report *report) {
  memset(label, 0, sizeof *label);
  memset(report, 0, sizeof *report);
  if (labels->count < 2 || labels->count > 256)
    return SEGC_FAIL(SEGC_ERR_INVALID, "merge: %d classes (2..256 allowed)",
                     labels->count);
  segc_name_list files;
  SEGC_TRY(segc_data_list_dir(masks_dir, SEGC_LIST_FILES, "", &files));
  const int class_count = labels->count;
  known_mask *known = calloc((size_t)(files.count + 1), sizeof *known);
  report->unknown = calloc((size_t)(files.count + 1), sizeof *report->unknown);
  int64_t *pairs = calloc((size_t)class_count * class_count, sizeof *pairs);
  segc_volume reference = {0};
  char reference_path[4096 + 512] = "";
  int64_t known_count = 0;
  segc_status s = SEGC_OK;
  if (!known || !report->unknown || !pairs)
    s = SEGC_FAIL(SEGC_ERR_NOMEM, "merge: out of memory");
  if (s == SEGC_OK)
    s = classify_masks(masks_dir, labels, &files, known, &known_count, report);
  if (s == SEGC_OK && strict && report->unknown_count > 0)
    s = SEGC_FAIL(SEGC_ERR_FORMAT,
                  "%s: %lld mask(s) name no class of the label table, first "
                  "%s (--strict)",
                  masks_dir, (long long)report->unknown_count,
                  report->unknown[0]);
  if (s == SEGC_OK && known_count == 0)
    s = SEGC_FAIL(SEGC_ERR_FORMAT,
                  "%s: no mask named after a class (%lld NIfTI files, none "
                  "known)",
                  masks_dir, (long long)report->unknown_count);
  for (int64_t k = 0; s == SEGC_OK && k < known_count; ++k) {
    char path[4096 + 512];
    snprintf(path, sizeof path, "%s/%s", masks_dir, known[k].file);
    segc_volume mask;
    segc_nifti_info info;
    s = segc_nifti_read(path, &mask, &info);
    if (s != SEGC_OK) break;
    if (k == 0) {
      snprintf(reference_path, sizeof reference_path, "%s", path);
      if (grid_info) *grid_info = info;
      s = segc_volume_alloc(label, SEGC_U8, mask.dim);
      if (s == SEGC_OK) {
        memcpy(label->affine, mask.affine, sizeof label->affine);
        reference = *label;  // dims and affine only
      }
    } else {
      s = check_grid(&mask, path, &reference, reference_path);
    }
    if (s == SEGC_OK) {
      int64_t claimed[256];
      apply_mask(&mask, known[k].class_index, label->data, claimed);
      for (int a = 1; a < class_count; ++a)
        pairs[a * class_count + known[k].class_index] += claimed[a];
      report->masks_merged++;
    }
    segc_volume_free(&mask);
  }
  if (s == SEGC_OK) s = build_report(label, class_count, pairs, report);
  free(pairs);
  free(known);
  segc_name_list_free(&files);
  if (s != SEGC_OK) {
    segc_volume_free(label);
    segc_merge_report_free(report);
  }
  return s;
}

segc_status segc_merge_dataset(const char *dataset_dir, const char *out_dir,
                               const segc_label_table *labels, bool strict,
                               segc_merge_case_done on_case, void *user) {
  segc_name_list cases;
  SEGC_TRY(segc_data_list_dir(dataset_dir, SEGC_LIST_FOLDERS, "", &cases));
  segc_status s = SEGC_OK;
  if (cases.count == 0)
    s = SEGC_FAIL(SEGC_ERR_FORMAT, "%s: no case folders", dataset_dir);
  char path[8192], other[8192];
  for (int64_t c = 0; s == SEGC_OK && c < cases.count; ++c) {
    const char *name = cases.names[c];
    snprintf(path, sizeof path, "%s/%s/segmentations", dataset_dir, name);
    snprintf(other, sizeof other, "%s/%s/ct.nii.gz", dataset_dir, name);
    if (!segc_data_is_dir(path) || !segc_data_is_file(other))
      s = SEGC_FAIL(SEGC_ERR_FORMAT,
                    "%s/%s: a case folder needs segmentations/ and ct.nii.gz",
                    dataset_dir, name);
  }
  for (int sub = 0; s == SEGC_OK && sub < 2; ++sub) {
    snprintf(path, sizeof path, "%s/%s", out_dir, sub ? "labelsTr" : "imagesTr");
    s = segc_data_make_dirs(path);
  }
  for (int64_t c = 0; s == SEGC_OK && c < cases.count; ++c) {
    const char *name = cases.names[c];
    segc_volume label, ct = {0};
    segc_nifti_info info;
    segc_merge_report report;
    snprintf(path, sizeof path, "%s/%s/segmentations", dataset_dir, name);
    s = segc_merge_masks(path, labels, strict, &label, &info, &report);
    if (s != SEGC_OK) break;
    snprintf(path, sizeof path, "%s/%s/ct.nii.gz", dataset_dir, name);
    s = segc_nifti_read(path, &ct, NULL);
    if (s == SEGC_OK) {
      snprintf(other, sizeof other, "%s/%s/segmentations", dataset_dir, name);
      s = check_grid(&ct, path, &label, other);
    }
    segc_volume_free(&ct);
    if (s == SEGC_OK) {
      snprintf(other, sizeof other, "%s/imagesTr/%s.nii.gz", out_dir, name);
      s = segc_data_copy_file(path, other);
    }
    if (s == SEGC_OK) {
      snprintf(other, sizeof other, "%s/labelsTr/%s.nii.gz", out_dir, name);
      s = segc_nifti_write(other, &label, &info);
    }
    if (s == SEGC_OK && on_case) on_case(name, &report, user);
    segc_volume_free(&label);
    segc_merge_report_free(&report);
  }
  segc_name_list_free(&cases);
  return s;
}
