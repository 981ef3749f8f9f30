#include "data/datalist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/file_list.h"
#include "data/json_file.h"

const char *segc_datalist_split_name(segc_datalist_split split) {
  switch (split) {
    case SEGC_DATALIST_TRAINING: return "training";
    case SEGC_DATALIST_VALIDATION: return "validation";
    case SEGC_DATALIST_TESTING: return "testing";
    default: return "?";
  }
}

void segc_datalist_init(segc_datalist *list) { memset(list, 0, sizeof *list); }

void segc_datalist_free(segc_datalist *list) {
  for (int s = 0; s < SEGC_DATALIST_SPLITS; ++s) {
    for (int64_t i = 0; i < list->count[s]; ++i) {
      free(list->items[s][i].image);
      free(list->items[s][i].label);
    }
    free(list->items[s]);
  }
  memset(list, 0, sizeof *list);
}

segc_status segc_datalist_append(segc_datalist *list, segc_datalist_split split,
                                 const char *image, const char *label) {
  if (split < 0 || split >= SEGC_DATALIST_SPLITS || !image)
    return SEGC_FAIL(SEGC_ERR_INVALID, "datalist: bad split or missing image");
  if (!label && split != SEGC_DATALIST_TESTING)
    return SEGC_FAIL(SEGC_ERR_INVALID, "datalist: %s entry %s has no label",
                     segc_datalist_split_name(split), image);
  if (list->count[split] == list->capacity[split]) {
    const int64_t capacity = list->capacity[split] ? 2 * list->capacity[split] : 16;
    segc_datalist_item *grown =
        realloc(list->items[split], (size_t)capacity * sizeof *grown);
    if (!grown) return SEGC_FAIL(SEGC_ERR_NOMEM, "datalist: out of memory");
    list->items[split] = grown;
    list->capacity[split] = capacity;
  }
  segc_datalist_item item = {strdup(image), label ? strdup(label) : NULL};
  if (!item.image || (label && !item.label)) {
    free(item.image);
    free(item.label);
    return SEGC_FAIL(SEGC_ERR_NOMEM, "datalist: out of memory");
  }
  list->items[split][list->count[split]++] = item;
  return SEGC_OK;
}

// os.path.normpath for '/'-separated paths: drops empty and "." parts and
// resolves ".." against the part before it (kept at the start of a relative
// path, dropped at the root). Writes into out (at least strlen(path) + 2).
static void normalise_path(const char *path, char *out) {
  const bool absolute = path[0] == '/';
  char *parts[1024];
  int count = 0;
  char *copy = strdup(path);
  if (!copy) {
    strcpy(out, path);
    return;
  }
  char *save = NULL;
  for (char *p = strtok_r(copy, "/", &save); p && count < 1024;
       p = strtok_r(NULL, "/", &save)) {
    if (strcmp(p, ".") == 0) continue;
    if (strcmp(p, "..") == 0) {
      if (count > 0 && strcmp(parts[count - 1], "..") != 0) {
        --count;
        continue;
      }
      if (absolute) continue;
    }
    parts[count++] = p;
  }
  char *w = out;
  if (absolute) *w++ = '/';
  for (int i = 0; i < count; ++i) {
    if (i > 0) *w++ = '/';
    const size_t n = strlen(parts[i]);
    memcpy(w, parts[i], n);
    w += n;
  }
  if (w == out) *w++ = '.';
  *w = '\0';
  free(copy);
}

// Joins a datalist entry to the JSON file's folder, as MONAI does.
static segc_status resolve_path(const char *base_dir, const char *entry,
                                char **resolved) {
  const size_t size = strlen(base_dir) + strlen(entry) + 4;
  char *joined = malloc(size), *normal = malloc(size);
  if (!joined || !normal) {
    free(joined);
    free(normal);
    return SEGC_FAIL(SEGC_ERR_NOMEM, "datalist: out of memory");
  }
  if (entry[0] == '/')
    snprintf(joined, size, "%s", entry);
  else
    snprintf(joined, size, "%s/%s", base_dir, entry);
  normalise_path(joined, normal);
  free(joined);
  *resolved = normal;
  return SEGC_OK;
}

static void parent_dir(const char *path, char *out, size_t size) {
  const char *slash = strrchr(path, '/');
  if (!slash) {
    snprintf(out, size, ".");
  } else if (slash == path) {
    snprintf(out, size, "/");
  } else {
    snprintf(out, size, "%.*s", (int)(slash - path), path);
  }
}

// One entry's path for `key` ("image" or "label"): NULL and OK when the key
// is absent and optional.
static segc_status entry_path(const char *file, const char *base_dir,
                              const char *split, int64_t index,
                              const cJSON *entry, const char *key,
                              bool required, bool check_files, char **out) {
  *out = NULL;
  const cJSON *value = NULL;
  if (cJSON_IsString(entry)) {  // Decathlon "test": a bare image path
    if (strcmp(key, "image") == 0) value = entry;
  } else if (cJSON_IsObject(entry)) {
    value = cJSON_GetObjectItemCaseSensitive(entry, key);
  } else {
    return SEGC_FAIL(SEGC_ERR_FORMAT, "%s: %s[%lld] is not an object", file,
                     split, (long long)index);
  }
  if (!value) {
    if (!required) return SEGC_OK;
    return SEGC_FAIL(SEGC_ERR_FORMAT, "%s: %s[%lld] has no key \"%s\"", file,
                     split, (long long)index, key);
  }
  if (cJSON_IsArray(value))
    return SEGC_FAIL(SEGC_ERR_UNSUPPORTED,
                     "%s: %s[%lld].%s is a list of paths (multi-channel "
                     "inputs are not supported)",
                     file, split, (long long)index, key);
  if (!cJSON_IsString(value) || !value->valuestring[0])
    return SEGC_FAIL(SEGC_ERR_FORMAT,
                     "%s: %s[%lld].%s is not a non-empty string", file, split,
                     (long long)index, key);
  SEGC_TRY(resolve_path(base_dir, value->valuestring, out));
  // An image may be a folder: a DICOM series (data/image_read.h).
  const bool folder_ok = !strcmp(key, "image") && segc_data_is_dir(*out);
  if (check_files && !segc_data_is_file(*out) && !folder_ok) {
    segc_status s = SEGC_FAIL(SEGC_ERR_IO, "%s: %s[%lld].%s: %s does not exist",
                              file, split, (long long)index, key, *out);
    free(*out);
    *out = NULL;
    return s;
  }
  return SEGC_OK;
}

static segc_status read_split(const char *file, const char *base_dir,
                              const cJSON *root, const char *key,
                              segc_datalist_split split, bool check_files,
                              segc_datalist *out) {
  const cJSON *array = cJSON_GetObjectItemCaseSensitive(root, key);
  if (!array) return SEGC_OK;
  if (!cJSON_IsArray(array))
    return SEGC_FAIL(SEGC_ERR_FORMAT, "%s: key \"%s\" is not a list", file, key);
  const bool label_required = split != SEGC_DATALIST_TESTING;
  int64_t index = 0;
  for (const cJSON *entry = array->child; entry; entry = entry->next, ++index) {
    char *image = NULL, *label = NULL;
    segc_status s = entry_path(file, base_dir, key, index, entry, "image", true,
                               check_files, &image);
    if (s == SEGC_OK)
      s = entry_path(file, base_dir, key, index, entry, "label",
                     label_required, check_files, &label);
    if (s == SEGC_OK) s = segc_datalist_append(out, split, image, label);
    free(image);
    free(label);
    SEGC_TRY(s);
  }
  return SEGC_OK;
}

segc_status segc_datalist_read_json(const char *path, bool check_files,
                                    segc_datalist *out) {
  segc_datalist_init(out);
  cJSON *root;
  SEGC_TRY(segc_data_json_load(path, &root));
  char base_dir[4096];
  parent_dir(path, base_dir, sizeof base_dir);
  segc_status s = SEGC_OK;
  const cJSON *training = cJSON_GetObjectItemCaseSensitive(root, "training");
  if (!cJSON_IsObject(root))
    s = SEGC_FAIL(SEGC_ERR_FORMAT, "%s: the top level is not an object", path);
  else if (!training)
    s = SEGC_FAIL(SEGC_ERR_FORMAT, "%s: key \"training\" is missing", path);
  else if (cJSON_GetObjectItemCaseSensitive(root, "testing") &&
           cJSON_GetObjectItemCaseSensitive(root, "test"))
    s = SEGC_FAIL(SEGC_ERR_FORMAT,
                  "%s: has both \"testing\" and \"test\"; keep one", path);
  if (s == SEGC_OK)
    s = read_split(path, base_dir, root, "training", SEGC_DATALIST_TRAINING,
                   check_files, out);
  if (s == SEGC_OK)
    s = read_split(path, base_dir, root, "validation",
                   SEGC_DATALIST_VALIDATION, check_files, out);
  if (s == SEGC_OK)
    s = read_split(path, base_dir, root, "testing", SEGC_DATALIST_TESTING,
                   check_files, out);
  if (s == SEGC_OK)
    s = read_split(path, base_dir, root, "test", SEGC_DATALIST_TESTING,
                   check_files, out);
  cJSON_Delete(root);
  if (s != SEGC_OK) segc_datalist_free(out);
  return s;
}

static const char *const nifti_suffix = ".nii.gz";

// Case name of a file: without ".nii.gz" and, when `strip_channel`, without
// nnU-Net's image channel suffix "_0000".
static void case_name(const char *file, bool strip_channel, char *out,
                      size_t size) {
  size_t n = strlen(file) - strlen(nifti_suffix);
  if (strip_channel && n > 5 && strncmp(file + n - 5, "_0000", 5) == 0) n -= 5;
  snprintf(out, size, "%.*s", (int)n, file);
}

// An image and a label name the same case when their names agree, or when
// the image carries nnU-Net's channel suffix and the label does not
// (case_0000 is a case of its own when both have it).
static bool same_case(const char *image, const char *label) {
  char a[1024], b[1024];
  case_name(image, false, a, sizeof a);
  case_name(label, false, b, sizeof b);
  if (strcmp(a, b) == 0) return true;
  case_name(image, true, a, sizeof a);
  return strcmp(a, b) == 0;
}

segc_status segc_datalist_from_dataset_dir(const char *dir,
                                           int64_t validation_count,
                                           segc_datalist *out) {
  segc_datalist_init(out);
  char images_dir[4096], labels_dir[4096];
  snprintf(images_dir, sizeof images_dir, "%s/imagesTr", dir);
  snprintf(labels_dir, sizeof labels_dir, "%s/labelsTr", dir);
  if (!segc_data_is_dir(images_dir) || !segc_data_is_dir(labels_dir))
    return SEGC_FAIL(SEGC_ERR_IO,
                     "%s: dataset_dir needs the folders imagesTr and labelsTr",
                     dir);
  segc_name_list images, labels = {0};
  SEGC_TRY(segc_data_list_dir(images_dir, SEGC_LIST_FILES, nifti_suffix, &images));
  segc_status s = segc_data_list_dir(labels_dir, SEGC_LIST_FILES, nifti_suffix,
                                     &labels);
  const int64_t pairs = images.count < labels.count ? images.count : labels.count;
  for (int64_t i = 0; s == SEGC_OK && i < pairs; ++i) {
    if (!same_case(images.names[i], labels.names[i]))
      s = SEGC_FAIL(SEGC_ERR_FORMAT,
                    "%s: image %s and label %s are paired by sorted order but "
                    "name different cases",
                    dir, images.names[i], labels.names[i]);
  }
  if (s == SEGC_OK && images.count != labels.count) {
    const bool more_images = images.count > labels.count;
    s = SEGC_FAIL(SEGC_ERR_FORMAT,
                  "%s: %lld images but %lld labels; %s/%s has no partner", dir,
                  (long long)images.count, (long long)labels.count,
                  more_images ? "imagesTr" : "labelsTr",
                  more_images ? images.names[pairs] : labels.names[pairs]);
  }
  if (s == SEGC_OK && images.count == 0)
    s = SEGC_FAIL(SEGC_ERR_FORMAT, "%s: imagesTr holds no *.nii.gz files", dir);
  if (s == SEGC_OK && (validation_count < 0 || validation_count >= pairs))
    s = SEGC_FAIL(SEGC_ERR_INVALID,
                  "%s: %lld cases; the last %lld validate, which leaves none "
                  "to train on",
                  dir, (long long)pairs, (long long)validation_count);
  for (int64_t i = 0; s == SEGC_OK && i < pairs; ++i) {
    char image[4096 + 256], label[4096 + 256];
    snprintf(image, sizeof image, "%s/%s", images_dir, images.names[i]);
    snprintf(label, sizeof label, "%s/%s", labels_dir, labels.names[i]);
    const segc_datalist_split split = i >= pairs - validation_count
                                          ? SEGC_DATALIST_VALIDATION
                                          : SEGC_DATALIST_TRAINING;
    s = segc_datalist_append(out, split, image, label);
  }
  segc_name_list_free(&images);
  segc_name_list_free(&labels);
  if (s != SEGC_OK) segc_datalist_free(out);
  return s;
}

segc_status segc_datalist_load(const char *source, int64_t validation_count,
                               bool check_files, segc_datalist *out) {
  if (segc_data_is_dir(source))
    return segc_datalist_from_dataset_dir(source, validation_count, out);
  return segc_datalist_read_json(source, check_files, out);
}

segc_status segc_datalist_write_json(const segc_datalist *list,
                                     const char *path) {
  cJSON *root = cJSON_CreateObject();
  bool ok = root != NULL;
  for (int s = 0; ok && s < SEGC_DATALIST_SPLITS; ++s) {
    if (s != SEGC_DATALIST_TRAINING && list->count[s] == 0) continue;
    cJSON *array = cJSON_AddArrayToObject(root, segc_datalist_split_name(s));
    ok = array != NULL;
    for (int64_t i = 0; ok && i < list->count[s]; ++i) {
      cJSON *entry = cJSON_CreateObject();
      ok = entry && cJSON_AddItemToArray(array, entry) &&
           cJSON_AddStringToObject(entry, "image", list->items[s][i].image);
      if (ok && list->items[s][i].label)
        ok = cJSON_AddStringToObject(entry, "label", list->items[s][i].label);
    }
  }
  segc_status status =
      ok ? segc_data_json_save(root, path)
         : SEGC_FAIL(SEGC_ERR_NOMEM, "%s: cannot build the datalist JSON", path);
  cJSON_Delete(root);
  return status;
}
