// Reading a JSON file with cJSON, with errors that name the file and the
// line and column of a syntax error.
#ifndef SEGC_DATA_JSON_FILE_H
#define SEGC_DATA_JSON_FILE_H

#include <cjson/cJSON.h>

#include "core/status.h"

// Parses the whole file; the caller frees *root with cJSON_Delete.
segc_status segc_data_json_load(const char *path, cJSON **root);

// Writes `root` (pretty-printed) to `path` through a temporary file that is
// renamed at the end.
segc_status segc_data_json_save(const cJSON *root, const char *path);

#endif
