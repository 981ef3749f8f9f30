// The programs' command line: "--config FILE" and "--set KEY=VALUE" for
// every program, and for segtrain and segeval config files given as
// positional arguments (`segtrain train.json multi_gpu_train.json`, as
// `mpirun` will call it).
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/config.h"

static bool takes_value(const char *arg, const char *const *value_options) {
  for (int i = 0; value_options && value_options[i]; ++i)
    if (strcmp(arg, value_options[i]) == 0) return true;
  return false;
}

// segc reads configs only as JSON, so the name says which arguments are
// configs: a prediction, a checkpoint or a folder never ends in ".json".
static bool names_config_file(const char *arg) {
  size_t length = strlen(arg);
  return arg[0] != '-' && length > 5 &&
         strcasecmp(arg + length - 5, ".json") == 0;
}

// `positional`: arguments ending in ".json" that are not the value of one of
// `value_options` are config files, in order with the --config ones.
static segc_status read_command_line(int *argc, char **argv, bool positional,
                                     const char *const *value_options,
                                     segc_config *config,
                                     segc_config_notes *notes,
                                     int *file_count) {
  int n = *argc;
  const char **files = calloc((size_t)(n > 0 ? n : 1), sizeof *files);
  const char **sets = calloc((size_t)(n > 0 ? n : 1), sizeof *sets);
  if (!files || !sets) {
    free(files);
    free(sets);
    return SEGC_FAIL(SEGC_ERR_NOMEM, "config: out of memory");
  }
  int files_given = 0, set_count = 0, kept = n > 0 ? 1 : 0;
  segc_status status = SEGC_OK;
  for (int i = 1; i < n && status == SEGC_OK; ++i) {
    bool is_config = strcmp(argv[i], "--config") == 0;
    bool is_set = strcmp(argv[i], "--set") == 0;
    if (is_config || is_set) {
      if (i + 1 >= n) {
        status = SEGC_FAIL(SEGC_ERR_INVALID, "%s needs a value (%s)", argv[i],
                           is_config ? "a config file" : "KEY=VALUE");
        break;
      }
      if (is_config) files[files_given++] = argv[++i];
      else sets[set_count++] = argv[++i];
    } else if (positional && takes_value(argv[i], value_options) &&
               i + 1 < n) {
      argv[kept++] = argv[i++];  // "--datalist list.json" stays the program's
      argv[kept++] = argv[i];
    } else if (positional && names_config_file(argv[i])) {
      files[files_given++] = argv[i];
    } else {
      argv[kept++] = argv[i];
    }
  }
  if (status == SEGC_OK) {
    *argc = kept;
    if (kept < n) argv[kept] = NULL;
    segc_config_defaults(config);
    status = segc_config_load_files(config, files, files_given, notes);
  }
  for (int i = 0; i < set_count && status == SEGC_OK; ++i)
    status = segc_config_apply_set(config, sets[i]);
  if (status == SEGC_OK) status = segc_config_validate(config);
  if (file_count) *file_count = files_given;
  free(files);
  free(sets);
  return status;
}

segc_status segc_config_from_args(int *argc, char **argv, segc_config *config,
                                  segc_config_notes *notes) {
  return read_command_line(argc, argv, false, NULL, config, notes, NULL);
}

segc_status segc_config_from_command_line(int *argc, char **argv,
                                          const char *const *value_options,
                                          segc_config *config,
                                          segc_config_notes *notes,
                                          int *file_count) {
  return read_command_line(argc, argv, true, value_options, config, notes,
                           file_count);
}

bool segc_config_args_name_network(int argc, char *const *argv) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (strcmp(argv[i], "--config") == 0) return true;
    if (strcmp(argv[i], "--set") == 0 &&
        strncmp(argv[i + 1], "network_def", 11) == 0)
      return true;
  }
  return false;
}
