// The schema: every key segc reads, with its type, default (the bundle's
// value where the bundle has one) and a one-line description; and the typed
// setter every loader goes through.
#include <ctype.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_internal.h"
#include "data/loader.h"

#define FIELD(f) offsetof(segc_config, f)
#define NET(f) (offsetof(segc_config, network_def) + offsetof(segc_network_def, f))
#define NO_FLAG .flag_offset = SEGC_KEY_NO_FLAG

static const char *const lr_schedules[] = {"constant", "cosine", NULL};
static const char *const sw_modes[] = {"gaussian", "constant", NULL};
static const char *const pad_modes[] = {"replicate", "constant", NULL};
static const char *const output_exts[] = {".nii.gz", ".nii", NULL};
static const char *const devices[] = {"auto", "cpu", "cuda", NULL};
static const char *const backends[] = {"auto", "nccl", "mpi", NULL};

const segc_config_key segc_config_keys[] = {
    {"description", SEGC_KEY_TEXT, "\"\"",
     "free text about this configuration; segc only copies it to the logs",
     FIELD(description), NO_FLAG},
    // Resolution and optimisation.
    {"highres", SEGC_KEY_BOOL, "true",
     "true: 1.5 mm voxels and model.pt; false: 3.0 mm and model_lowres.pt",
     FIELD(highres), NO_FLAG},
    {"pixdim", SEGC_KEY_FLOAT3, "null",
     "explicit voxel spacing [x, y, z] in mm overriding highres; null: from "
     "highres",
     FIELD(pixdim), .flag_offset = (long)FIELD(pixdim_set), .min = 0.0,
     .max = 100.0},
    {"init_LR", SEGC_KEY_FLOAT, "1e-4", "AdamW learning rate",
     FIELD(init_LR), NO_FLAG, .min = 1e-12, .max = 10.0},
    {"weight_decay", SEGC_KEY_FLOAT, "1e-5", "AdamW decoupled weight decay",
     FIELD(weight_decay), NO_FLAG, .min = 0.0, .max = 1.0},
    {"lr_schedule", SEGC_KEY_CHOICE, "\"constant\"",
     "constant (the bundle) or cosine decay to 0 over max_epochs",
     FIELD(lr_schedule), NO_FLAG, .choices = lr_schedules},
    {"batch_size", SEGC_KEY_INT, "4", "training crops per step",
     FIELD(batch_size), NO_FLAG, .min = 1, .max = SEGC_LOADER_MAX_BATCH},
    {"roi", SEGC_KEY_INT3, "[96, 96, 96]",
     "training crop size (RandSpatialCrop roi_size), multiples of "
     "2^(levels-1)",
     FIELD(roi), NO_FLAG, .min = 1, .max = 1024},
    {"val_roi", SEGC_KEY_INT3, "[160, 160, 160]",
     "validation centre crop (CenterSpatialCrop); null: whole volumes",
     FIELD(val_roi), .flag_offset = (long)FIELD(val_roi_set), .min = 1,
     .max = 4096},
    {"val_interval", SEGC_KEY_INT, "20", "epochs between validations",
     FIELD(val_interval), NO_FLAG, .min = 1, .max = 1e6},
    {"max_epochs", SEGC_KEY_INT, "4000", "training epochs",
     FIELD(max_epochs), NO_FLAG, .min = 1, .max = 1e7},
    {"seed", SEGC_KEY_UINT64, "123",
     "seed of segc's random streams (the bundle calls set_determinism(seed="
     "123))",
     FIELD(seed), NO_FLAG, .min = 0, .max = 4294967295.0},
    // Data.
    {"dataset_dir", SEGC_KEY_TEXT, "\"\"",
     "folder with imagesTr/ + labelsTr/ (imagesTs/ for inference); training "
     "needs this or datalist",
     FIELD(dataset_dir), NO_FLAG},
    {"datalist", SEGC_KEY_TEXT, "\"\"",
     "MONAI-style datalist JSON (\"training\": [{\"image\", \"label\"}]); "
     "training needs this or dataset_dir",
     FIELD(datalist), NO_FLAG},
    {"val_cases", SEGC_KEY_INT, "10",
     "the last N cases (sorted by name) validate, the others train",
     FIELD(val_cases), NO_FLAG, .min = 0, .max = 1e6},
    {"cache_rate", SEGC_KEY_FLOAT, "0.4",
     "fraction of training cases kept preprocessed in memory (CacheDataset)",
     FIELD(cache_rate), NO_FLAG, .min = 0.0, .max = 1.0},
    {"num_workers", SEGC_KEY_INT, "4",
     "data loading threads (0: load in the training thread)",
     FIELD(num_workers), NO_FLAG, .min = 0, .max = 256},
    {"labels", SEGC_KEY_TEXT, "\"configs/labels_104.json\"",
     "JSON naming the output channels (index -> structure)", FIELD(labels),
     NO_FLAG},
    // Precision, threads, devices.
    {"amp", SEGC_KEY_AMP, "false",
     "mixed precision: false (f32, exact parity with MONAI); true (the "
     "bundle's, --dtype auto: on the CPU bf16 where this CPU's bf16 "
     "convolutions measure clearly faster, else f32; f32 on a GPU); "
     "\"bf16\"; \"fp16\" (with a loss scaler)",
     FIELD(amp), NO_FLAG},
    {"threads", SEGC_KEY_INT, "0", "CPU threads (0: all cores)",
     FIELD(threads), NO_FLAG, .min = 0, .max = 4096},
    {"device", SEGC_KEY_CHOICE, "\"auto\"",
     "auto (the GPU when this build has CUDA kernels and one is present, "
     "else the CPU), cpu, or cuda (refused without CUDA kernels or a GPU)",
     FIELD(device), NO_FLAG, .choices = devices},
    {"distributed", SEGC_KEY_BOOL, "false",
     "data-parallel training, one process per device under mpirun "
     "(mpirun -np N segtrain ...); batch_size is per process",
     FIELD(distributed), NO_FLAG},
    {"backend", SEGC_KEY_CHOICE, "\"auto\"",
     "gradient all-reduce when distributed: auto (MPI on the CPU, NCCL on "
     "GPUs), mpi, or nccl (GPUs; on the CPU it goes through MPI)",
     FIELD(backend), NO_FLAG, .choices = backends},
    // Outputs and checkpoints.
    {"ckpt_dir", SEGC_KEY_TEXT, "\"models\"",
     "checkpoint folder (model.pt or model_lowres.pt inside)",
     FIELD(ckpt_dir), NO_FLAG},
    {"output_dir", SEGC_KEY_TEXT, "\"eval\"",
     "logs, metrics and predicted label maps", FIELD(output_dir), NO_FLAG},
    {"save_interval", SEGC_KEY_INT, "1",
     "epochs between resumable training states in ckpt_dir (a kill loses "
     "at most the epochs since the last one; 0: only the best model, as "
     "the bundle)",
     FIELD(save_interval), NO_FLAG, .min = 0, .max = 1e7},
    {"resume", SEGC_KEY_TEXT, "\"\"",
     "training state to continue from; empty: start from scratch",
     FIELD(resume), NO_FLAG},
    {"output_postfix", SEGC_KEY_TEXT, "\"trans\"",
     "predicted label maps are named <case>_<postfix><ext>",
     FIELD(output_postfix), NO_FLAG},
    {"output_ext", SEGC_KEY_CHOICE, "\".nii.gz\"",
     "file type of predicted label maps: .nii.gz or .nii", FIELD(output_ext),
     NO_FLAG, .choices = output_exts},
    {"separate_folder", SEGC_KEY_BOOL, "true",
     "write each case's prediction into <output_dir>/<case>/",
     FIELD(separate_folder), NO_FLAG},
    // The network (MONAI SegResNet's arguments).
    {"network_def.spatial_dims", SEGC_KEY_INT, "3",
     "spatial dimensions (segc: 3 only)", NET(spatial_dims), NO_FLAG,
     .min = 3, .max = 3},
    {"network_def.in_channels", SEGC_KEY_INT, "1", "input channels",
     NET(in_channels), NO_FLAG, .min = 1, .max = 64},
    {"network_def.out_channels", SEGC_KEY_INT, "105",
     "output channels (background + structures; labels are 8-bit)",
     NET(out_channels), NO_FLAG, .min = 1, .max = 256},
    {"network_def.init_filters", SEGC_KEY_INT, "32",
     "channels of the first level, doubled at each level down",
     NET(init_filters), NO_FLAG, .min = 1, .max = 1024},
    {"network_def.blocks_down", SEGC_KEY_INT_LIST, "[1, 2, 2, 4]",
     "residual blocks per encoder level (its length is the level count)",
     NET(blocks_down), NO_FLAG, .count_offset = NET(blocks_down_count),
     .min = 0, .max = 64, .min_count = 1},
    {"network_def.blocks_up", SEGC_KEY_INT_LIST, "[1, 1, 1]",
     "residual blocks per decoder level (one fewer than blocks_down)",
     NET(blocks_up), NO_FLAG, .count_offset = NET(blocks_up_count),
     .min = 0, .max = 64, .min_count = 0},
    {"network_def.dropout_prob", SEGC_KEY_FLOAT, "0.2",
     "Dropout3d probability after the first convolution (training only)",
     NET(dropout_prob), NO_FLAG, .min = 0.0, .max = 1.0, .max_open = true},
    {"network_def.norm_groups", SEGC_KEY_INT, "8",
     "GroupNorm groups (MONAI's norm (\"GROUP\", {\"num_groups\": 8}))",
     NET(norm_groups), NO_FLAG, .min = 1, .max = 1024},
    // Sliding-window inference (validation, segeval, seginfer).
    {"sw_roi", SEGC_KEY_INT3, "null",
     "sliding-window size; null: the same as roi", FIELD(sw_roi),
     .flag_offset = (long)FIELD(sw_roi_set), .min = 1, .max = 1024},
    {"sw_batch_size", SEGC_KEY_INT, "1", "windows per network call",
     FIELD(sw_batch_size), NO_FLAG, .min = 1, .max = 256},
    {"sw_overlap", SEGC_KEY_FLOAT, "0.25",
     "overlap of neighbouring windows, in [0, 1)", FIELD(sw_overlap),
     NO_FLAG, .min = 0.0, .max = 1.0, .max_open = true},
    {"sw_mode", SEGC_KEY_CHOICE, "\"gaussian\"",
     "window blending: gaussian (the bundle's inference) or constant (MONAI's "
     "default, the bundle's validation)",
     FIELD(sw_mode), NO_FLAG, .choices = sw_modes},
    {"sw_padding_mode", SEGC_KEY_CHOICE, "\"replicate\"",
     "padding of volumes smaller than a window: replicate or constant (zeros)",
     FIELD(sw_padding_mode), NO_FLAG, .choices = pad_modes},
};
const int segc_config_key_count =
    (int)(sizeof segc_config_keys / sizeof segc_config_keys[0]);

const segc_config_key *segc_config_find_key(const char *name) {
  for (int i = 0; i < segc_config_key_count; ++i)
    if (strcmp(segc_config_keys[i].name, name) == 0) return &segc_config_keys[i];
  return NULL;
}

const char *segc_config_type_name(const segc_config_key *key) {
  bool nullable = key->flag_offset != SEGC_KEY_NO_FLAG;
  switch (key->type) {
    case SEGC_KEY_BOOL: return "bool";
    case SEGC_KEY_INT:
    case SEGC_KEY_UINT64: return "int";
    case SEGC_KEY_FLOAT: return "number";
    case SEGC_KEY_TEXT: return "string";
    case SEGC_KEY_INT3:
      return nullable ? "[int, int, int] or null" : "[int, int, int]";
    case SEGC_KEY_FLOAT3:
      return nullable ? "[x, y, z] or null" : "[x, y, z]";
    case SEGC_KEY_INT_LIST: return "list of int";
    case SEGC_KEY_CHOICE: return "string (choice)";
    case SEGC_KEY_AMP: return "bool or string";
  }
  return "?";
}

// A short JSON rendering of a value for messages.
static void describe_value(const cJSON *value, char *out, size_t size) {
  char *text = cJSON_PrintUnformatted(value);
  if (!text) {
    snprintf(out, size, "(value)");
    return;
  }
  if (strlen(text) > 60) strcpy(text + 57, "...");
  snprintf(out, size, "%s", text);
  cJSON_free(text);
}

static segc_status type_error(const char *origin, const segc_config_key *key,
                              const cJSON *value, const char *expected) {
  char got[80];
  describe_value(value, got, sizeof got);
  return SEGC_FAIL(SEGC_ERR_INVALID, "%s: key '%s': expected %s, got %s",
                   origin, key->name, expected, got);
}

static bool in_range(const segc_config_key *key, double v) {
  return v >= key->min && (key->max_open ? v < key->max : v <= key->max);
}

static segc_status range_error(const char *origin, const segc_config_key *key,
                               double v) {
  return SEGC_FAIL(SEGC_ERR_INVALID,
                   "%s: key '%s': %.17g is out of range [%.17g, %.17g%c",
                   origin, key->name, v, key->min, key->max,
                   key->max_open ? ')' : ']');
}

// An integer-valued finite JSON number in the key's range.
static segc_status read_integer(const char *origin, const segc_config_key *key,
                                const cJSON *item, const cJSON *whole,
                                double *out) {
  if (!cJSON_IsNumber(item) || !isfinite(item->valuedouble) ||
      item->valuedouble != floor(item->valuedouble))
    return type_error(origin, key, whole, "an integer");
  if (!in_range(key, item->valuedouble))
    return range_error(origin, key, item->valuedouble);
  *out = item->valuedouble;
  return SEGC_OK;
}

static segc_status read_real(const char *origin, const segc_config_key *key,
                             const cJSON *item, const cJSON *whole,
                             double *out) {
  if (!cJSON_IsNumber(item) || !isfinite(item->valuedouble))
    return type_error(origin, key, whole, "a finite number");
  if (!in_range(key, item->valuedouble))
    return range_error(origin, key, item->valuedouble);
  *out = item->valuedouble;
  return SEGC_OK;
}

static segc_status set_fixed_array(segc_config *config,
                                   const segc_config_key *key,
                                   const cJSON *value, const char *origin) {
  bool is_int = key->type == SEGC_KEY_INT3;
  const char *expected = is_int ? "3 positive integers [x, y, z]"
                                : "3 positive numbers [x, y, z]";
  if (!cJSON_IsArray(value) || cJSON_GetArraySize(value) != 3)
    return type_error(origin, key, value, expected);
  double v[3];
  for (int i = 0; i < 3; ++i) {
    const cJSON *item = cJSON_GetArrayItem(value, i);
    SEGC_TRY(is_int ? read_integer(origin, key, item, value, &v[i])
                    : read_real(origin, key, item, value, &v[i]));
    if (!is_int && !(v[i] > 0.0)) return range_error(origin, key, v[i]);
  }
  char *base = (char *)config + key->offset;
  for (int i = 0; i < 3; ++i) {
    if (is_int) ((int *)(void *)base)[i] = (int)v[i];
    else ((double *)(void *)base)[i] = v[i];
  }
  return SEGC_OK;
}

static segc_status set_int_list(segc_config *config,
                                const segc_config_key *key,
                                const cJSON *value, const char *origin) {
  int n = cJSON_IsArray(value) ? cJSON_GetArraySize(value) : -1;
  if (n < key->min_count || n > SEGC_SEGRESNET_MAX_LEVELS) {
    char expected[96];
    snprintf(expected, sizeof expected, "a list of %d to %d integers",
             key->min_count, (int)SEGC_SEGRESNET_MAX_LEVELS);
    return type_error(origin, key, value, expected);
  }
  int v[SEGC_SEGRESNET_MAX_LEVELS];
  for (int i = 0; i < n; ++i) {
    double d;
    SEGC_TRY(read_integer(origin, key, cJSON_GetArrayItem(value, i), value,
                          &d));
    v[i] = (int)d;
  }
  int *list = (int *)(void *)((char *)config + key->offset);
  memset(list, 0, sizeof(int) * SEGC_SEGRESNET_MAX_LEVELS);
  memcpy(list, v, sizeof(int) * (size_t)n);
  *(int *)(void *)((char *)config + key->count_offset) = n;
  return SEGC_OK;
}

static segc_status set_choice(segc_config *config, const segc_config_key *key,
                              const cJSON *value, const char *origin) {
  char expected[160] = "one of";
  for (int i = 0; key->choices[i]; ++i) {
    size_t used = strlen(expected);
    snprintf(expected + used, sizeof expected - used, "%s \"%s\"",
             i ? "," : "", key->choices[i]);
  }
  if (!cJSON_IsString(value)) return type_error(origin, key, value, expected);
  for (int i = 0; key->choices[i]; ++i)
    if (strcmp(value->valuestring, key->choices[i]) == 0) {
      memcpy((char *)config + key->offset, &i, sizeof i);
      return SEGC_OK;
    }
  return type_error(origin, key, value, expected);
}

static segc_status set_amp(segc_config *config, const segc_config_key *key,
                           const cJSON *value, const char *origin) {
  segc_amp_mode mode;
  if (cJSON_IsBool(value)) {
    mode = cJSON_IsTrue(value) ? SEGC_AMP_ON : SEGC_AMP_OFF;
  } else if (cJSON_IsString(value) && !strcmp(value->valuestring, "bf16")) {
    mode = SEGC_AMP_BF16;
  } else if (cJSON_IsString(value) && !strcmp(value->valuestring, "fp16")) {
    mode = SEGC_AMP_FP16;
  } else {
    return type_error(origin, key, value, "false, true, \"bf16\" or \"fp16\"");
  }
  memcpy((char *)config + key->offset, &mode, sizeof mode);
  config->amp_given = true;  // segc_config_defaults clears it again
  return SEGC_OK;
}

_Static_assert(sizeof(segc_amp_mode) == sizeof(int) &&
                   sizeof(segc_config_sw_mode) == sizeof(int),
               "choice keys are stored as int-sized enums");

segc_status segc_config_set_key(segc_config *config,
                                const segc_config_key *key,
                                const cJSON *value, const char *origin) {
  char *field = (char *)config + key->offset;
  if (key->flag_offset != SEGC_KEY_NO_FLAG) {
    bool *given = (bool *)((char *)config + key->flag_offset);
    if (cJSON_IsNull(value)) {
      *given = false;
      return SEGC_OK;
    }
    SEGC_TRY(set_fixed_array(config, key, value, origin));
    *given = true;
    return SEGC_OK;
  }
  double v;
  switch (key->type) {
    case SEGC_KEY_BOOL:
      if (!cJSON_IsBool(value))
        return type_error(origin, key, value, "true or false");
      *(bool *)field = cJSON_IsTrue(value);
      return SEGC_OK;
    case SEGC_KEY_INT:
      SEGC_TRY(read_integer(origin, key, value, value, &v));
      *(int *)(void *)field = (int)v;
      return SEGC_OK;
    case SEGC_KEY_UINT64:
      SEGC_TRY(read_integer(origin, key, value, value, &v));
      *(uint64_t *)(void *)field = (uint64_t)v;
      return SEGC_OK;
    case SEGC_KEY_FLOAT:
      SEGC_TRY(read_real(origin, key, value, value, &v));
      *(double *)(void *)field = v;
      return SEGC_OK;
    case SEGC_KEY_TEXT: {
      if (!cJSON_IsString(value))
        return type_error(origin, key, value, "a string");
      size_t length = strlen(value->valuestring);
      if (length >= SEGC_CONFIG_TEXT_MAX)
        return SEGC_FAIL(SEGC_ERR_INVALID,
                         "%s: key '%s': %zu characters, at most %d", origin,
                         key->name, length, SEGC_CONFIG_TEXT_MAX - 1);
      memcpy(field, value->valuestring, length + 1);
      return SEGC_OK;
    }
    case SEGC_KEY_INT3:
    case SEGC_KEY_FLOAT3:
      return set_fixed_array(config, key, value, origin);
    case SEGC_KEY_INT_LIST: return set_int_list(config, key, value, origin);
    case SEGC_KEY_CHOICE: return set_choice(config, key, value, origin);
    case SEGC_KEY_AMP: return set_amp(config, key, value, origin);
  }
  return SEGC_FAIL(SEGC_ERR_INTERNAL, "config key '%s' has no type",
                   key->name);
}

cJSON *segc_config_get_key(const segc_config *config,
                           const segc_config_key *key) {
  const char *field = (const char *)config + key->offset;
  if (key->flag_offset != SEGC_KEY_NO_FLAG &&
      !*(const bool *)((const char *)config + key->flag_offset))
    return cJSON_CreateNull();
  switch (key->type) {
    case SEGC_KEY_BOOL: return cJSON_CreateBool(*(const bool *)field);
    case SEGC_KEY_INT:
      return cJSON_CreateNumber(*(const int *)(const void *)field);
    case SEGC_KEY_UINT64:
      return cJSON_CreateNumber(
          (double)*(const uint64_t *)(const void *)field);
    case SEGC_KEY_FLOAT:
      return cJSON_CreateNumber(*(const double *)(const void *)field);
    case SEGC_KEY_TEXT: return cJSON_CreateString(field);
    case SEGC_KEY_INT3:
      return cJSON_CreateIntArray((const int *)(const void *)field, 3);
    case SEGC_KEY_FLOAT3:
      return cJSON_CreateDoubleArray((const double *)(const void *)field, 3);
    case SEGC_KEY_INT_LIST:
      return cJSON_CreateIntArray(
          (const int *)(const void *)field,
          *(const int *)(const void *)((const char *)config +
                                        key->count_offset));
    case SEGC_KEY_CHOICE: {
      int index;
      memcpy(&index, field, sizeof index);
      return cJSON_CreateString(key->choices[index]);
    }
    case SEGC_KEY_AMP: {
      segc_amp_mode mode;
      memcpy(&mode, field, sizeof mode);
      if (mode == SEGC_AMP_OFF || mode == SEGC_AMP_ON)
        return cJSON_CreateBool(mode == SEGC_AMP_ON);
      return cJSON_CreateString(mode == SEGC_AMP_BF16 ? "bf16" : "fp16");
    }
  }
  return NULL;
}

// Levenshtein distance of two short lowercased strings (keys are < 64).
static int edit_distance(const char *a, const char *b) {
  enum { kMax = 64 };
  size_t n = strlen(a), m = strlen(b);
  if (n >= kMax || m >= kMax) return 1000;
  int row[kMax + 1];
  for (size_t j = 0; j <= m; ++j) row[j] = (int)j;
  for (size_t i = 1; i <= n; ++i) {
    int diagonal = row[0];
    row[0] = (int)i;
    for (size_t j = 1; j <= m; ++j) {
      int above = row[j];
      int same = tolower((unsigned char)a[i - 1]) ==
                 tolower((unsigned char)b[j - 1]);
      int best = diagonal + (same ? 0 : 1);
      if (row[j] + 1 < best) best = row[j] + 1;
      if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
      row[j] = best;
      diagonal = above;
    }
  }
  return row[m];
}

segc_status segc_config_fail_unknown(const char *origin, const char *name) {
  const char *best = NULL;
  int best_distance = 1000;
  for (int i = 0; i < segc_config_key_count; ++i) {
    const char *candidate = segc_config_keys[i].name;
    int d = edit_distance(name, candidate);
    // A nested key's last part, given without its object ("init_filters").
    const char *dot = strrchr(candidate, '.');
    if (dot && !strchr(name, '.')) {
      int leaf = edit_distance(name, dot + 1);
      if (leaf < d) d = leaf;
    }
    if (d < best_distance) {
      best_distance = d;
      best = candidate;
    }
  }
  int allowed = (int)strlen(name) / 3;
  if (allowed < 2) allowed = 2;
  if (best && best_distance <= allowed)
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "%s: unknown key '%s' (did you mean '%s'?)", origin,
                     name, best);
  return SEGC_FAIL(SEGC_ERR_INVALID,
                   "%s: unknown key '%s' (segc --help-config lists the keys)",
                   origin, name);
}
