#include "data/labels.h"

#include <stdlib.h>
#include <string.h>

#include "data/json_file.h"

// configs/labels_104.json, in order; tests/test_labels.c checks they agree.
static const char *const bundle_names[SEGC_BUNDLE_CLASS_COUNT] = {
    "background", "spleen", "kidney_right", "kidney_left", "gallbladder",
    "liver", "stomach", "aorta", "inferior_vena_cava",
    "portal_vein_and_splenic_vein", "pancreas", "adrenal_gland_right",
    "adrenal_gland_left", "lung_upper_lobe_left", "lung_lower_lobe_left",
    "lung_upper_lobe_right", "lung_middle_lobe_right",
    "lung_lower_lobe_right", "vertebrae_L5", "vertebrae_L4", "vertebrae_L3",
    "vertebrae_L2", "vertebrae_L1", "vertebrae_T12", "vertebrae_T11",
    "vertebrae_T10", "vertebrae_T9", "vertebrae_T8", "vertebrae_T7",
    "vertebrae_T6", "vertebrae_T5", "vertebrae_T4", "vertebrae_T3",
    "vertebrae_T2", "vertebrae_T1", "vertebrae_C7", "vertebrae_C6",
    "vertebrae_C5", "vertebrae_C4", "vertebrae_C3", "vertebrae_C2",
    "vertebrae_C1", "esophagus", "trachea", "heart_myocardium",
    "heart_atrium_left", "heart_ventricle_left", "heart_atrium_right",
    "heart_ventricle_right", "pulmonary_artery", "brain", "iliac_artery_left",
    "iliac_artery_right", "iliac_vena_left", "iliac_vena_right",
    "small_bowel", "duodenum", "colon", "rib_left_1", "rib_left_2",
    "rib_left_3", "rib_left_4", "rib_left_5", "rib_left_6", "rib_left_7",
    "rib_left_8", "rib_left_9", "rib_left_10", "rib_left_11", "rib_left_12",
    "rib_right_1", "rib_right_2", "rib_right_3", "rib_right_4", "rib_right_5",
    "rib_right_6", "rib_right_7", "rib_right_8", "rib_right_9",
    "rib_right_10", "rib_right_11", "rib_right_12", "humerus_left",
    "humerus_right", "scapula_left", "scapula_right", "clavicula_left",
    "clavicula_right", "femur_left", "femur_right", "hip_left", "hip_right",
    "sacrum", "face", "gluteus_maximus_left", "gluteus_maximus_right",
    "gluteus_medius_left", "gluteus_medius_right", "gluteus_minimus_left",
    "gluteus_minimus_right", "autochthon_left", "autochthon_right",
    "iliopsoas_left", "iliopsoas_right", "urinary_bladder",
};

static segc_status table_from_names(const char *const *names, int count,
                                    const char *source,
                                    segc_label_table *out) {
  out->count = 0;
  out->names = calloc((size_t)count, sizeof *out->names);
  if (!out->names)
    return SEGC_FAIL(SEGC_ERR_NOMEM, "%s: cannot allocate %d label names",
                     source, count);
  for (int c = 0; c < count; ++c) {
    out->names[c] = strdup(names[c]);
    if (!out->names[c]) {
      out->count = c;
      segc_labels_free(out);
      return SEGC_FAIL(SEGC_ERR_NOMEM, "%s: cannot copy label names", source);
    }
  }
  out->count = count;
  return SEGC_OK;
}

segc_status segc_labels_bundle(segc_label_table *out) {
  return table_from_names(bundle_names, SEGC_BUNDLE_CLASS_COUNT,
                          "bundle labels", out);
}

int segc_labels_bundle_find(const char *name) {
  for (int c = 0; c < SEGC_BUNDLE_CLASS_COUNT; ++c)
    if (strcmp(bundle_names[c], name) == 0) return c;
  return -1;
}

segc_status segc_labels_load(const char *path, segc_label_table *out) {
  memset(out, 0, sizeof *out);
  cJSON *root;
  SEGC_TRY(segc_data_json_load(path, &root));
  const cJSON *labels = cJSON_GetObjectItemCaseSensitive(root, "labels");
  segc_status status = SEGC_OK;
  const int count = cJSON_IsArray(labels) ? cJSON_GetArraySize(labels) : 0;
  if (!cJSON_IsArray(labels)) {
    status = SEGC_FAIL(SEGC_ERR_FORMAT,
                       "%s: key \"labels\" is missing or not an array", path);
  } else if (count < 2 || count > 256) {
    status = SEGC_FAIL(SEGC_ERR_FORMAT,
                       "%s: \"labels\" has %d names (2 to 256 allowed)", path,
                       count);
  }
  const char **names = NULL;
  if (status == SEGC_OK) {
    names = calloc((size_t)count, sizeof *names);
    if (!names) status = SEGC_FAIL(SEGC_ERR_NOMEM, "%s: out of memory", path);
  }
  for (int c = 0; status == SEGC_OK && c < count; ++c) {
    const cJSON *item = cJSON_GetArrayItem(labels, c);
    if (!cJSON_IsString(item) || !item->valuestring[0]) {
      status = SEGC_FAIL(SEGC_ERR_FORMAT,
                         "%s: \"labels\"[%d] is not a non-empty string", path,
                         c);
      break;
    }
    names[c] = item->valuestring;
    for (int previous = 0; previous < c; ++previous)
      if (strcmp(names[previous], names[c]) == 0)
        status = SEGC_FAIL(SEGC_ERR_FORMAT,
                           "%s: \"labels\" names \"%s\" twice (%d and %d)",
                           path, names[c], previous, c);
  }
  if (status == SEGC_OK) status = table_from_names(names, count, path, out);
  free(names);
  cJSON_Delete(root);
  return status;
}

void segc_labels_free(segc_label_table *table) {
  if (table->names)
    for (int c = 0; c < table->count; ++c) free(table->names[c]);
  free(table->names);
  table->names = NULL;
  table->count = 0;
}

int segc_labels_find(const segc_label_table *table, const char *name) {
  for (int c = 0; c < table->count; ++c)
    if (strcmp(table->names[c], name) == 0) return c;
  return -1;
}

segc_status segc_labels_require(const segc_label_table *table,
                                const char *name, int *index) {
  *index = segc_labels_find(table, name);
  if (*index < 0)
    return SEGC_FAIL(SEGC_ERR_INVALID, "label table has no class \"%s\"", name);
  return SEGC_OK;
}
