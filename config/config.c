// Loading: defaults, segc-format files, MONAI bundle files (handed to
// config_bundle.c), --set overrides, cross-key checks and derived values.
// The command line is read in config_args.c.
#include "config/config.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_internal.h"
#include "core/backend.h"
#include "core/cuda_runtime.h"
#include "dist/comm.h"

enum { kMaxConfigBytes = 16 << 20 };

void segc_config_defaults(segc_config *config) {
  memset(config, 0, sizeof *config);
  for (int i = 0; i < segc_config_key_count; ++i) {
    const segc_config_key *key = &segc_config_keys[i];
    cJSON *value = cJSON_Parse(key->default_json);
    segc_status status =
        value ? segc_config_set_key(config, key, value, "schema default")
              : SEGC_ERR_NOMEM;
    cJSON_Delete(value);
    if (status != SEGC_OK) {
      // The table is constant and tested; this is a bug in segc.
      fprintf(stderr, "segc: bad default for config key '%s': %s\n",
              key->name, segc_error_message());
      abort();
    }
  }
  config->amp_given = false;  // the schema's default is not the user's word
}

segc_status segc_config_read_text(const char *path, char **text) {
  *text = NULL;
  FILE *f = fopen(path, "rb");
  if (!f) return SEGC_FAIL(SEGC_ERR_IO, "%s: %s", path, strerror(errno));
  size_t capacity = 4096, used = 0;
  char *buffer = malloc(capacity);
  while (buffer) {
    if (used + 1 >= capacity) {
      if (capacity >= kMaxConfigBytes) break;
      char *grown = realloc(buffer, capacity * 2);
      if (!grown) {
        free(buffer);
        buffer = NULL;
        break;
      }
      buffer = grown;
      capacity *= 2;
    }
    size_t got = fread(buffer + used, 1, capacity - 1 - used, f);
    used += got;
    if (got == 0) break;
  }
  int read_failed = ferror(f);
  int at_end = feof(f);
  fclose(f);
  if (!buffer) return SEGC_FAIL(SEGC_ERR_NOMEM, "%s: out of memory", path);
  if (read_failed) {
    free(buffer);
    return SEGC_FAIL(SEGC_ERR_IO, "%s: read failed", path);
  }
  if (!at_end) {
    free(buffer);
    return SEGC_FAIL(SEGC_ERR_FORMAT, "%s: larger than %d MiB", path,
                     kMaxConfigBytes >> 20);
  }
  buffer[used] = '\0';
  if (strlen(buffer) != used) {
    free(buffer);
    return SEGC_FAIL(SEGC_ERR_FORMAT, "%s: contains a NUL byte", path);
  }
  *text = buffer;
  return SEGC_OK;
}

segc_status segc_config_parse_json(const char *text, const char *origin,
                                   cJSON **root) {
  const char *end = NULL;
  *root = cJSON_ParseWithOpts(text, &end, 1);
  if (*root) return SEGC_OK;
  if (!end || end < text) end = text;
  int line = 1, column = 1;
  for (const char *p = text; p < end && *p; ++p) {
    if (*p == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return SEGC_FAIL(SEGC_ERR_FORMAT,
                   "%s: malformed JSON at line %d, column %d", origin, line,
                   column);
}

static bool is_group(const char *name) {
  size_t n = strlen(name);
  for (int i = 0; i < segc_config_key_count; ++i)
    if (strncmp(segc_config_keys[i].name, name, n) == 0 &&
        segc_config_keys[i].name[n] == '.')
      return true;
  return false;
}

// Applies a segc-format object; `prefix` is the nested object's name or NULL.
static segc_status apply_object(segc_config *config, const cJSON *object,
                                const char *prefix, const char *origin) {
  for (const cJSON *child = object->child; child; child = child->next) {
    for (const cJSON *earlier = object->child; earlier != child;
         earlier = earlier->next)
      if (strcmp(earlier->string, child->string) == 0)
        return SEGC_FAIL(SEGC_ERR_INVALID, "%s: duplicate key '%s%s%s'",
                         origin, prefix ? prefix : "", prefix ? "." : "",
                         child->string);
    char name[256];
    if (!prefix && strchr(child->string, '.'))
      return SEGC_FAIL(SEGC_ERR_INVALID,
                       "%s: key '%s': write nested keys as objects, e.g. "
                       "\"network_def\": {\"init_filters\": 16}",
                       origin, child->string);
    int n = snprintf(name, sizeof name, "%s%s%s", prefix ? prefix : "",
                     prefix ? "." : "", child->string);
    if (n < 0 || (size_t)n >= sizeof name)
      return SEGC_FAIL(SEGC_ERR_INVALID, "%s: key '%.40s...' is too long",
                       origin, child->string);
    const segc_config_key *key = segc_config_find_key(name);
    if (key) {
      SEGC_TRY(segc_config_set_key(config, key, child, origin));
      continue;
    }
    if (!is_group(name)) return segc_config_fail_unknown(origin, name);
    if (!cJSON_IsObject(child))
      return SEGC_FAIL(SEGC_ERR_INVALID,
                       "%s: key '%s': expected an object of %s.* keys",
                       origin, name, name);
    SEGC_TRY(apply_object(config, child, name, origin));
  }
  return SEGC_OK;
}

static segc_status apply_segc_root(segc_config *config, const cJSON *root,
                                   const char *origin) {
  if (!cJSON_IsObject(root))
    return SEGC_FAIL(SEGC_ERR_FORMAT, "%s: a config must be a JSON object",
                     origin);
  return apply_object(config, root, NULL, origin);
}

segc_status segc_config_apply_json_text(segc_config *config, const char *text,
                                        const char *origin) {
  cJSON *root;
  SEGC_TRY(segc_config_parse_json(text, origin, &root));
  segc_config updated = *config;
  segc_status status = apply_segc_root(&updated, root, origin);
  cJSON_Delete(root);
  if (status == SEGC_OK) *config = updated;
  return status;
}

static segc_status apply_set(segc_config *config, const char *assignment) {
  const char *equals = strchr(assignment, '=');
  if (!equals || equals == assignment)
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "--set '%s': expected KEY=VALUE (e.g. --set "
                     "batch_size=2)",
                     assignment);
  char name[256];
  size_t length = (size_t)(equals - assignment);
  if (length >= sizeof name)
    return SEGC_FAIL(SEGC_ERR_INVALID, "--set: key '%.40s...' is too long",
                     assignment);
  memcpy(name, assignment, length);
  name[length] = '\0';
  const char *text = equals + 1;
  const segc_config_key *key = segc_config_find_key(name);
  if (!key && !is_group(name)) return segc_config_fail_unknown("--set", name);

  cJSON *parsed = cJSON_ParseWithOpts(text, NULL, 1);
  bool wants_string =
      key && (key->type == SEGC_KEY_TEXT || key->type == SEGC_KEY_CHOICE ||
              (key->type == SEGC_KEY_AMP && !cJSON_IsBool(parsed)));
  // A bare word is a string (amp=bf16, dataset_dir=/data); so is anything
  // given to a string key that is not a quoted JSON string (output_dir=2024).
  cJSON *value = parsed;
  if (!parsed || (wants_string && !cJSON_IsString(parsed))) {
    cJSON_Delete(parsed);
    value = cJSON_CreateString(text);
    if (!value) return SEGC_FAIL(SEGC_ERR_NOMEM, "--set: out of memory");
  }
  segc_status status;
  if (key) {
    status = segc_config_set_key(config, key, value, "--set");
  } else if (cJSON_IsObject(value)) {
    status = apply_object(config, value, name, "--set");
  } else {
    status = SEGC_FAIL(SEGC_ERR_INVALID,
                       "--set: key '%s': expected an object of %s.* keys "
                       "(or set one: --set %s.init_filters=16)",
                       name, name, name);
  }
  cJSON_Delete(value);
  return status;
}

segc_status segc_config_apply_set(segc_config *config, const char *assignment) {
  segc_config updated = *config;
  SEGC_TRY(apply_set(&updated, assignment));
  *config = updated;
  return SEGC_OK;
}

static segc_status note_metadata(segc_config_notes *notes, const char *path) {
  if (!notes) return SEGC_OK;
  char line[SEGC_CONFIG_TEXT_MAX + 128];
  snprintf(line, sizeof line,
           "%s: the bundle's metadata (versions, channel names) holds no run "
           "settings; skipped",
           path);
  return segc_config_notes_add_line(notes, line);
}

static segc_status load_files(segc_config *config, const char *const *paths,
                              int count, segc_config_notes *notes) {
  cJSON **group = calloc((size_t)(count > 0 ? count : 1), sizeof *group);
  const char **group_paths =
      calloc((size_t)(count > 0 ? count : 1), sizeof *group_paths);
  if (!group || !group_paths) {
    free(group);
    free(group_paths);
    return SEGC_FAIL(SEGC_ERR_NOMEM, "config: out of memory");
  }
  int group_count = 0;
  segc_status status = SEGC_OK;
  for (int i = 0; i <= count && status == SEGC_OK; ++i) {
    cJSON *root = NULL;
    bool bundle = false;
    if (i < count) {
      char *text;
      status = segc_config_read_text(paths[i], &text);
      if (status != SEGC_OK) break;
      status = segc_config_parse_json(text, paths[i], &root);
      free(text);
      if (status != SEGC_OK) break;
      if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        status = SEGC_FAIL(SEGC_ERR_FORMAT,
                           "%s: a config must be a JSON object", paths[i]);
        break;
      }
      if (segc_bundle_is_metadata(root)) {
        cJSON_Delete(root);
        status = note_metadata(notes, paths[i]);
        continue;
      }
      bundle = segc_bundle_is_config(root);
    }
    if (bundle) {  // Read with the bundle files next to it.
      group[group_count] = root;
      group_paths[group_count++] = paths[i];
      continue;
    }
    if (group_count > 0) {
      status = segc_bundle_apply(config, group, group_paths, group_count,
                                 notes);
      for (int g = 0; g < group_count; ++g) cJSON_Delete(group[g]);
      group_count = 0;
    }
    if (root && status == SEGC_OK)
      status = apply_segc_root(config, root, paths[i]);
    cJSON_Delete(root);
  }
  for (int g = 0; g < group_count; ++g) cJSON_Delete(group[g]);
  free(group);
  free(group_paths);
  return status;
}

segc_status segc_config_load_files(segc_config *config,
                                   const char *const *paths, int count,
                                   segc_config_notes *notes) {
  // On a failure the caller's config is left as it was.
  segc_config updated = *config;
  SEGC_TRY(load_files(&updated, paths, count, notes));
  *config = updated;
  return SEGC_OK;
}

segc_status segc_config_load_file(segc_config *config, const char *path,
                                  segc_config_notes *notes) {
  return segc_config_load_files(config, &path, 1, notes);
}

// Keys that are read but that this build cannot act on: refused rather
// than ignored, so that asking for a GPU or several processes never gives a
// silent single-process CPU run.
static segc_status check_implemented(const segc_config *config) {
  if (config->distributed && !segc_comm_have_mpi())
    return SEGC_FAIL(SEGC_ERR_UNSUPPORTED,
                     "config: distributed: true needs MPI, and this build has "
                     "none (install libopenmpi-dev and configure with "
                     "-DSEGC_MPI=ON): leave distributed false");
  // cuda needs a build with CUDA kernels for every op a run uses and a GPU
  // here: refused at once otherwise, naming which is missing.
  if (config->device == SEGC_RUN_ON_CUDA) {
    segc_device device;
    SEGC_TRY(segc_config_device(config, &device));
  }
  return SEGC_OK;
}

segc_status segc_config_validate(const segc_config *config) {
  SEGC_TRY(check_implemented(config));
  const segc_network_def *net = &config->network_def;
  if (net->blocks_up_count != net->blocks_down_count - 1)
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "config: network_def.blocks_up has %d entries; "
                     "network_def.blocks_down has %d levels, so it needs %d",
                     net->blocks_up_count, net->blocks_down_count,
                     net->blocks_down_count - 1);
  if (net->init_filters % net->norm_groups != 0)
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "config: network_def.init_filters (%d) must be a "
                     "multiple of network_def.norm_groups (%d)",
                     net->init_filters, net->norm_groups);
  int multiple = 1 << (net->blocks_down_count - 1);
  int sw_roi[3];
  segc_config_sw_roi(config, sw_roi);
  for (int i = 0; i < 3; ++i) {
    if (config->roi[i] % multiple != 0 || sw_roi[i] % multiple != 0)
      return SEGC_FAIL(SEGC_ERR_INVALID,
                       "config: roi [%d, %d, %d] and sw_roi [%d, %d, %d] "
                       "must be multiples of %d (2^(levels-1) for %d levels)",
                       config->roi[0], config->roi[1], config->roi[2],
                       sw_roi[0], sw_roi[1], sw_roi[2], multiple,
                       net->blocks_down_count);
  }
  if (strchr(config->output_postfix, '/'))
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "config: output_postfix '%s' must not contain '/'",
                     config->output_postfix);
  // The schema's ranges and the checks above cover what
  // segc_segresnet_config_check asks; the network builder checks again.
  return SEGC_OK;
}

segc_status segc_config_check_training(const segc_config *config) {
  bool has_dir = config->dataset_dir[0] != '\0';
  bool has_list = config->datalist[0] != '\0';
  if (has_dir && has_list)
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "config: both dataset_dir ('%s') and datalist ('%s') are "
                     "set; keep one (--set datalist= clears it)",
                     config->dataset_dir, config->datalist);
  if (!has_dir && !has_list)
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "config: training needs dataset_dir (imagesTr/ and "
                     "labelsTr/) or datalist (a datalist JSON)");
  return SEGC_OK;
}

void segc_config_pixdim(const segc_config *config, double pixdim[3]) {
  for (int i = 0; i < 3; ++i)
    pixdim[i] = config->pixdim_set ? config->pixdim[i]
                                   : (config->highres ? 1.5 : 3.0);
}

const char *segc_config_model_name(const segc_config *config) {
  return config->highres ? "model.pt" : "model_lowres.pt";
}

segc_status segc_config_model_path(const segc_config *config, char *path,
                                   size_t size) {
  const char *dir = config->ckpt_dir[0] ? config->ckpt_dir : ".";
  int n = snprintf(path, size, "%s/%s", dir, segc_config_model_name(config));
  if (n < 0 || (size_t)n >= size)
    return SEGC_FAIL(SEGC_ERR_INVALID, "config: ckpt_dir '%s' is too long",
                     config->ckpt_dir);
  return SEGC_OK;
}

void segc_config_sw_roi(const segc_config *config, int roi[3]) {
  for (int i = 0; i < 3; ++i)
    roi[i] = config->sw_roi_set ? config->sw_roi[i] : config->roi[i];
}

segc_dtype segc_config_compute_dtype(const segc_config *config) {
  switch (config->amp) {
    case SEGC_AMP_OFF:
    case SEGC_AMP_ON: return SEGC_F32;
    case SEGC_AMP_BF16: return SEGC_BF16;
    case SEGC_AMP_FP16: return SEGC_F16;
  }
  return SEGC_F32;
}

// The ops a segc run needs on its device: the network's, the loss's and
// the sliding window's.
static const char *const run_ops[] = {"conv3d", "groupnorm", "add",
                                      "upsample2x", "dropout3d", "dice_ce",
                                      "sliding window"};

static segc_status require_run_ops(segc_device device) {
  for (size_t i = 0; i < sizeof run_ops / sizeof run_ops[0]; ++i)
    SEGC_TRY(segc_backend_require_device(run_ops[i], device));
  return SEGC_OK;
}

static bool run_ops_supported(segc_device device) {
  for (size_t i = 0; i < sizeof run_ops / sizeof run_ops[0]; ++i)
    if (!segc_backend_supports(run_ops[i], device, SEGC_F32)) return false;
  return true;
}

segc_status segc_config_device(const segc_config *config, segc_device *device) {
  *device = SEGC_DEVICE_CPU;
  switch (config->device) {
    case SEGC_RUN_ON_CPU:
      return SEGC_OK;
    case SEGC_RUN_ON_CUDA: {
      const segc_status status = require_run_ops(SEGC_DEVICE_CUDA);
      if (status != SEGC_OK)
        return segc_fail_context(status, "config: device \"cuda\"");
      int gpus = 0;
      const char *reason = "";
      if (segc_cuda_device_count_reason(&gpus, &reason) != SEGC_OK || gpus < 1) {
        segc_clear_error();
        return SEGC_FAIL(SEGC_ERR_UNSUPPORTED,
                         "config: device \"cuda\": no CUDA device found here "
                         "(%s); use \"cpu\" or \"auto\"",
                         reason);
      }
      *device = SEGC_DEVICE_CUDA;
      return SEGC_OK;
    }
    case SEGC_RUN_ON_AUTO: {
      if (!run_ops_supported(SEGC_DEVICE_CUDA)) return SEGC_OK;
      int gpus = 0;
      if (segc_cuda_device_count(&gpus) != SEGC_OK)
        segc_clear_error();  // no driver is not an error for "auto"
      else if (gpus > 0)
        *device = SEGC_DEVICE_CUDA;
      return SEGC_OK;
    }
  }
  return SEGC_FAIL(SEGC_ERR_INVALID, "config: device: unknown value %d",
                   (int)config->device);
}

segc_segresnet_config segc_config_network(const segc_config *config) {
  const segc_network_def *net = &config->network_def;
  segc_segresnet_config out;
  memset(&out, 0, sizeof out);
  out.in_channels = net->in_channels;
  out.out_channels = net->out_channels;
  out.init_filters = net->init_filters;
  out.levels = net->blocks_down_count;
  memcpy(out.blocks_down, net->blocks_down, sizeof out.blocks_down);
  memcpy(out.blocks_up, net->blocks_up, sizeof out.blocks_up);
  out.dropout_prob = (float)net->dropout_prob;
  out.norm_groups = net->norm_groups;
  return out;
}

double segc_config_learning_rate(const segc_config *config, int epoch) {
  if (config->lr_schedule == SEGC_LR_CONSTANT) return config->init_LR;
  double progress = (double)epoch / (double)config->max_epochs;
  if (progress < 0.0) progress = 0.0;
  if (progress > 1.0) progress = 1.0;
  return 0.5 * config->init_LR * (1.0 + cos(M_PI * progress));
}
