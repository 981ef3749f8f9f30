#include "infer/checkpoint_network.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "data/file_list.h"
#include "data/labels.h"
#include "io/model_io.h"

// segtrain writes a few kilobytes; anything far larger is not its file.
enum { kMaxSavedConfigBytes = 1 << 20 };
static const char kSavedConfigName[] = "segc_config.json";
static const char kBundleLabels[] = "configs/labels_104.json";

void segc_describe_network_shape(const segc_segresnet_config *c, char *text,
                                 size_t size) {
  size_t n = (size_t)snprintf(text, size,
                              "in_channels %lld, out_channels %lld, "
                              "init_filters %lld, blocks_down [",
                              (long long)c->in_channels,
                              (long long)c->out_channels,
                              (long long)c->init_filters);
  for (int i = 0; i < c->levels && n < size; ++i)
    n += (size_t)snprintf(text + n, size - n, "%s%d", i ? "," : "",
                          c->blocks_down[i]);
  if (n < size) n += (size_t)snprintf(text + n, size - n, "], blocks_up [");
  for (int i = 0; i + 1 < c->levels && n < size; ++i)
    n += (size_t)snprintf(text + n, size - n, "%s%d", i ? "," : "",
                          c->blocks_up[i]);
  if (n < size) snprintf(text + n, size - n, "]");
}

static bool same_shape(const segc_segresnet_config *a,
                       const segc_segresnet_config *b) {
  if (a->in_channels != b->in_channels || a->out_channels != b->out_channels ||
      a->init_filters != b->init_filters || a->levels != b->levels)
    return false;
  for (int i = 0; i < a->levels; ++i)
    if (a->blocks_down[i] != b->blocks_down[i]) return false;
  for (int i = 0; i + 1 < a->levels; ++i)
    if (a->blocks_up[i] != b->blocks_up[i]) return false;
  return true;
}

// The checkpoint's folder joined with segc_config.json.
static bool saved_config_path(const char *checkpoint, char *out, size_t size) {
  const char *slash = strrchr(checkpoint, '/');
  const int n = slash ? snprintf(out, size, "%.*s/%s",
                                 (int)(slash - checkpoint), checkpoint,
                                 kSavedConfigName)
                      : snprintf(out, size, "%s", kSavedConfigName);
  return n >= 0 && (size_t)n < size;
}

static segc_status read_text(const char *path, char **text) {
  *text = NULL;
  FILE *f = fopen(path, "rb");
  if (!f) return SEGC_FAIL(SEGC_ERR_IO, "%s: %s", path, strerror(errno));
  char *buffer = malloc(kMaxSavedConfigBytes + 1);
  size_t used = buffer ? fread(buffer, 1, kMaxSavedConfigBytes + 1, f) : 0;
  const bool failed = buffer && ferror(f);
  const int saved_errno = errno;
  fclose(f);
  if (!buffer) return SEGC_FAIL(SEGC_ERR_NOMEM, "%s: out of memory", path);
  if (failed || used > kMaxSavedConfigBytes) {
    free(buffer);
    return failed ? SEGC_FAIL(SEGC_ERR_IO, "%s: read failed: %s", path,
                              strerror(saved_errno))
                  : SEGC_FAIL(SEGC_ERR_FORMAT,
                              "%s: larger than %d bytes: not a config segtrain "
                              "wrote", path, kMaxSavedConfigBytes);
  }
  buffer[used] = '\0';
  *text = buffer;
  return SEGC_OK;
}

// Only network_def is taken from the saved config: the other keys describe
// the training run, and a key an older or newer segc wrote must not stop
// inference.
static segc_status read_saved_network(const char *path,
                                      segc_segresnet_config *out) {
  char *text = NULL;
  SEGC_TRY(read_text(path, &text));
  cJSON *root = cJSON_Parse(text);
  free(text);
  const cJSON *network = cJSON_GetObjectItemCaseSensitive(root, "network_def");
  if (!cJSON_IsObject(root) || !cJSON_IsObject(network)) {
    cJSON_Delete(root);
    return SEGC_FAIL(SEGC_ERR_FORMAT,
                     "%s: %s; segtrain saves this file beside its checkpoints "
                     "(fix or remove it)", path,
                     cJSON_IsObject(root) ? "no network_def object"
                                          : "not a JSON object");
  }
  cJSON *wrapper = cJSON_CreateObject();
  char *network_text = NULL;
  if (wrapper && cJSON_AddItemReferenceToObject(wrapper, "network_def",
                                                (cJSON *)network))
    network_text = cJSON_PrintUnformatted(wrapper);
  cJSON_Delete(wrapper);  // a reference: the item stays in root
  cJSON_Delete(root);
  if (!network_text) return SEGC_FAIL(SEGC_ERR_NOMEM, "%s: out of memory", path);
  segc_config saved;
  segc_config_defaults(&saved);
  const segc_status status =
      segc_config_apply_json_text(&saved, network_text, path);
  free(network_text);
  SEGC_TRY(status);
  *out = segc_config_network(&saved);
  return SEGC_OK;
}

// What decided the class count the caller expects, for the message below.
static void describe_expected_classes(const segc_config *config,
                                      int64_t classes, char *text,
                                      size_t size) {
  const bool bundle_labels = !strcmp(config->labels, kBundleLabels);
  if (classes != config->network_def.out_channels)
    snprintf(text, size, "%lld classes were asked for (--classes)",
             (long long)classes);
  else if (bundle_labels && classes == SEGC_BUNDLE_CLASS_COUNT)
    snprintf(text, size, "the labels (%s, the bundle's) name %lld classes",
             config->labels, (long long)classes);
  else if (!bundle_labels && config->labels[0])
    snprintf(text, size, "the labels file %s names %lld classes",
             config->labels, (long long)classes);
  else
    snprintf(text, size, "network_def.out_channels is %lld",
             (long long)classes);
}

static segc_status refuse_classes(const char *path, int64_t outputs,
                                  const segc_checkpoint_network_options *o) {
  char expected[1200];
  describe_expected_classes(o->config, o->expected_classes, expected,
                            sizeof expected);
  return SEGC_FAIL(
      SEGC_ERR_INVALID,
      "%s has %lld output channels, but %s: for this checkpoint run with "
      "--set network_def.out_channels=%lld and --set labels=FILE with its "
      "%lld class names (without one they are named class_1, ...), or give "
      "the checkpoint trained for %lld classes",
      path, (long long)outputs, expected, (long long)outputs,
      (long long)outputs, (long long)o->expected_classes);
}

// norm_groups and dropout_prob from segc_config.json beside the checkpoint
// when it describes this checkpoint; *source says where they came from.
static segc_status take_saved_settings(
    const char *path, const segc_checkpoint_network_options *o,
    segc_segresnet_config *found, char *source, size_t source_size) {
  char saved_path[4096];
  if (!saved_config_path(path, saved_path, sizeof saved_path) ||
      !segc_data_is_file(saved_path))
    return SEGC_OK;
  segc_segresnet_config saved;
  SEGC_TRY(read_saved_network(saved_path, &saved));
  if (!same_shape(&saved, found)) {
    if (o->warnings) {
      char theirs[256], ours[256];
      segc_describe_network_shape(&saved, theirs, sizeof theirs);
      segc_describe_network_shape(found, ours, sizeof ours);
      fprintf(o->warnings,
              "warning: %s describes another network (%s) than %s holds "
              "(%s): not using its norm_groups\n",
              saved_path, theirs, path, ours);
    }
    return SEGC_OK;
  }
  // The saved value wins over a config the user gave, with a warning rather
  // than an error: GroupNorm with another group count computes another
  // function, so these weights give right labels only with the value they
  // were trained with, and config files list norm_groups even when nobody
  // chose it (every segc config lists every key; the bundle's too).
  if (o->config_named && o->warnings &&
      o->config->network_def.norm_groups != saved.norm_groups)
    fprintf(o->warnings,
            "warning: norm_groups: the config says %d, %s (saved with these "
            "weights) says %d; using %d\n",
            o->config->network_def.norm_groups, saved_path, saved.norm_groups,
            saved.norm_groups);
  found->norm_groups = saved.norm_groups;
  found->dropout_prob = saved.dropout_prob;
  snprintf(source, source_size, "%s", saved_path);
  return SEGC_OK;
}

segc_status segc_checkpoint_network(const char *path,
                                    const segc_pt_state_dict *dict,
                                    const segc_checkpoint_network_options *o,
                                    segc_segresnet_config *out) {
  const segc_segresnet_config wanted = segc_config_network(o->config);
  segc_segresnet_config found = wanted;
  // Shapes first, with a group count that fits any width: the real one is
  // chosen below and checked then.
  found.norm_groups = 1;
  segc_status status = segc_segresnet_config_from_state_dict(dict, &found);
  if (status != SEGC_OK) return segc_fail_context(status, "%s", path);
  if (o->config_named && !same_shape(&found, &wanted)) {
    char have[256], want[256];
    segc_describe_network_shape(&found, have, sizeof have);
    segc_describe_network_shape(&wanted, want, sizeof want);
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "%s holds a network with %s; the config's network_def "
                     "has %s", path, have, want);
  }
  if (o->expected_classes > 0 && found.out_channels != o->expected_classes)
    return refuse_classes(path, found.out_channels, o);
  found.norm_groups = wanted.norm_groups;
  found.dropout_prob = wanted.dropout_prob;
  char source[4096];
  snprintf(source, sizeof source, "%s",
           o->config_named ? "the config" : "the defaults");
  SEGC_TRY(take_saved_settings(path, o, &found, source, sizeof source));
  status = segc_segresnet_config_check(&found);
  if (status != SEGC_OK)
    return segc_fail_context(status, "%s (norm_groups %d from %s)", path,
                             found.norm_groups, source);
  if (o->notes) {
    char shape[256];
    segc_describe_network_shape(&found, shape, sizeof shape);
    fprintf(o->notes, "note: network of %s: %s from its tensor shapes; "
            "norm_groups %d from %s\n", path, shape, found.norm_groups, source);
  }
  *out = found;
  return SEGC_OK;
}
