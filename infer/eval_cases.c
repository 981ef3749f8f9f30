#include "infer/eval_cases.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/file_list.h"
#include "data/image_read.h"
#include "infer/infer_report.h"

typedef struct {
  char **paths;
  int count, capacity;
} path_list;

static segc_status push(path_list *list, const char *path) {
  if (list->count == list->capacity) {
    const int capacity = list->capacity ? 2 * list->capacity : 32;
    char **grown = realloc(list->paths, sizeof *grown * (size_t)capacity);
    if (!grown) return SEGC_FAIL(SEGC_ERR_NOMEM, "out of memory");
    list->paths = grown;
    list->capacity = capacity;
  }
  list->paths[list->count] = strdup(path);
  if (!list->paths[list->count]) return SEGC_FAIL(SEGC_ERR_NOMEM, "out of memory");
  list->count++;
  return SEGC_OK;
}

static void free_list(path_list *list) {
  for (int i = 0; i < list->count; ++i) free(list->paths[i]);
  free(list->paths);
  memset(list, 0, sizeof *list);
}

static segc_status add_images_of(path_list *list, const char *dir) {
  const char *endings[2] = {".nii.gz", ".nii"};
  for (int e = 0; e < 2; ++e) {
    segc_name_list names;
    SEGC_TRY(segc_data_list_dir(dir, SEGC_LIST_FILES, endings[e], &names));
    segc_status status = SEGC_OK;
    for (int64_t i = 0; i < names.count && status == SEGC_OK; ++i) {
      char path[8192];
      snprintf(path, sizeof path, "%s/%s", dir, names.names[i]);
      status = push(list, path);
    }
    segc_name_list_free(&names);
    SEGC_TRY(status);
  }
  return SEGC_OK;
}

// Files of a source: the file itself, or a folder's images and those of its
// subfolders when `nested`.
static segc_status collect(const char *source, bool nested, path_list *list) {
  if (segc_data_is_file(source)) return push(list, source);
  if (!segc_data_is_dir(source))
    return SEGC_FAIL(SEGC_ERR_IO, "%s: no such file or folder", source);
  SEGC_TRY(add_images_of(list, source));
  if (!nested) return SEGC_OK;
  segc_name_list folders;
  SEGC_TRY(segc_data_list_dir(source, SEGC_LIST_FOLDERS, "", &folders));
  segc_status status = SEGC_OK;
  for (int64_t i = 0; i < folders.count && status == SEGC_OK; ++i) {
    char path[8192];
    snprintf(path, sizeof path, "%s/%s", source, folders.names[i]);
    status = add_images_of(list, path);
  }
  segc_name_list_free(&folders);
  return status;
}

static void pair_key(const char *path, const char *postfix, char *key,
                     size_t size) {
  segc_case_name(path, key, size);
  if (!postfix || !postfix[0]) return;
  const size_t n = strlen(key), p = strlen(postfix);
  if (n > p + 1 && key[n - p - 1] == '_' && !strcmp(key + n - p, postfix))
    key[n - p - 1] = '\0';
}

void segc_eval_pairs_free(segc_eval_pairs *pairs) {
  for (int i = 0; i < pairs->count; ++i) {
    free(pairs->pred[i]);
    free(pairs->label[i]);
  }
  free(pairs->pred);
  free(pairs->label);
  memset(pairs, 0, sizeof *pairs);
}

static segc_status match(const path_list *preds, const path_list *labels,
                         const char *postfix, segc_eval_pairs *out) {
  char a[512], b[512];
  for (int i = 0; i < preds->count; ++i)
    for (int j = i + 1; j < preds->count; ++j) {
      pair_key(preds->paths[i], postfix, a, sizeof a);
      pair_key(preds->paths[j], postfix, b, sizeof b);
      if (!strcmp(a, b))
        return SEGC_FAIL(SEGC_ERR_INVALID,
                         "predictions %s and %s are both for case '%s'",
                         preds->paths[i], preds->paths[j], a);
    }
  const bool as_given = preds->count == 1 && labels->count == 1;
  int used = 0;
  for (int j = 0; j < labels->count; ++j) {
    pair_key(labels->paths[j], NULL, b, sizeof b);
    int found = as_given ? 0 : -1;
    for (int i = 0; i < preds->count && found < 0; ++i) {
      pair_key(preds->paths[i], postfix, a, sizeof a);
      if (!strcmp(a, b)) found = i;
    }
    if (found < 0)
      return SEGC_FAIL(SEGC_ERR_INVALID,
                       "no prediction for label %s (looked for case '%s' "
                       "among %d prediction files)", labels->paths[j], b,
                       preds->count);
    out->pred[j] = strdup(preds->paths[found]);
    out->label[j] = strdup(labels->paths[j]);
    out->count = j + 1;
    if (!out->pred[j] || !out->label[j])
      return SEGC_FAIL(SEGC_ERR_NOMEM, "out of memory");
    used++;
  }
  out->unpaired_predictions = preds->count - used;
  return SEGC_OK;
}

segc_status segc_eval_pair_files(const char *const *preds, int pred_count,
                                 const char *const *labels, int label_count,
                                 const char *postfix, segc_eval_pairs *out) {
  memset(out, 0, sizeof *out);
  path_list p = {0}, l = {0};
  segc_status status = SEGC_OK;
  for (int i = 0; i < pred_count && status == SEGC_OK; ++i)
    status = collect(preds[i], true, &p);
  for (int i = 0; i < label_count && status == SEGC_OK; ++i)
    status = collect(labels[i], false, &l);
  if (status == SEGC_OK && (p.count == 0 || l.count == 0))
    status = SEGC_FAIL(SEGC_ERR_INVALID, "found %d prediction and %d label "
                       "files (.nii.gz / .nii)", p.count, l.count);
  if (status == SEGC_OK) {
    out->pred = calloc((size_t)l.count, sizeof *out->pred);
    out->label = calloc((size_t)l.count, sizeof *out->label);
    status = out->pred && out->label
                 ? match(&p, &l, postfix, out)
                 : SEGC_FAIL(SEGC_ERR_NOMEM, "out of memory");
  }
  if (status != SEGC_OK) segc_eval_pairs_free(out);
  free_list(&p);
  free_list(&l);
  return status;
}

segc_status segc_read_label_map(const char *path, const char *what,
                                segc_volume *out) {
  segc_volume raw;
  SEGC_TRY(segc_nifti_read(path, &raw, NULL));
  if (raw.dtype == SEGC_U8) {
    *out = raw;
    return SEGC_OK;
  }
  const int64_t n = segc_volume_numel(&raw);
  for (int64_t i = 0; i < n; ++i) {
    const float v = segc_load_f32(raw.data, raw.dtype, (size_t)i);
    if (v < 0.0f || v > 255.0f || v != floorf(v)) {
      segc_volume_free(&raw);
      return SEGC_FAIL(SEGC_ERR_INVALID,
                       "%s %s: value %g at voxel %lld is not a class index "
                       "0..255", what, path, v, (long long)i);
    }
  }
  const segc_status status = segc_volume_copy(&raw, SEGC_U8, out);
  segc_volume_free(&raw);
  return status;
}

static segc_status predict_on_grid(segc_infer_model *model,
                                   const segc_infer_settings *settings,
                                   const segc_volume *image, segc_volume *pred) {
  size_t bytes = 0;
  SEGC_TRY(segc_sw_scratch_bytes(&settings->sw, image->dim, &bytes));
  segc_arena scratch;
  // The accumulator lives where the predictor's logits are.
  SEGC_TRY(segc_arena_init(&scratch, "sliding window", bytes,
                           model->net.device));
  segc_sw_config sw = settings->sw;
  sw.channels = model->net.config.out_channels;
  const segc_status status = segc_sliding_window_argmax(
      &sw, segc_segresnet_predict, &model->predictor, image, &scratch, pred, NULL);
  segc_arena_destroy(&scratch);
  return status;
}

segc_status segc_eval_case(segc_infer_model *model,
                           const segc_infer_settings *settings,
                           const segc_training_transforms *t,
                           const char *image_path,
                           const char *label_path, segc_volume *pred,
                           segc_volume *label) {
  memset(pred, 0, sizeof *pred);
  memset(label, 0, sizeof *label);
  segc_volume image, raw_label, net_image, net_label, net_pred = {0};
  SEGC_TRY(segc_image_read(image_path, settings->dicom_series, &image, NULL));
  segc_status status = segc_read_label_map(label_path, "label", &raw_label);
  if (status != SEGC_OK) {
    segc_volume_free(&image);
    return status;
  }
  segc_validation_record record;
  status = segc_preprocess_validation(&image, &raw_label, t, &net_image,
                                      &net_label, &record);
  segc_volume_free(&image);
  if (status != SEGC_OK) {
    segc_volume_free(&raw_label);
    return segc_fail_context(status, "%s", image_path);
  }
  status = predict_on_grid(model, settings, &net_image, &net_pred);
  segc_volume_free(&net_image);
  if (status == SEGC_OK)
    status = segc_invert_validation_label(&net_pred, &record, pred);
  if (status == SEGC_OK)
    status = segc_invert_validation_label(&net_label, &record, label);
  segc_volume_free(&net_pred);
  segc_volume_free(&net_label);
  if (status == SEGC_OK) {
    // Invertd restores the original affine: keep the label file's bits.
    memcpy(pred->affine, raw_label.affine, sizeof pred->affine);
    memcpy(label->affine, raw_label.affine, sizeof label->affine);
  } else {
    segc_volume_free(pred);
    segc_volume_free(label);
  }
  segc_volume_free(&raw_label);
  return status;
}
