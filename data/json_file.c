#include "data/json_file.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/atomic_file.h"

static segc_status read_text_file(const char *path, char **text, size_t *size) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return SEGC_FAIL(SEGC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  char *buffer = NULL;
  size_t used = 0, capacity = 0;
  for (;;) {
    if (capacity - used < 4097) {
      capacity = capacity ? capacity * 2 : 65536;
      char *grown = capacity < ((size_t)1 << 30) ? realloc(buffer, capacity) : NULL;
      if (!grown) {
        free(buffer);
        fclose(f);
        return SEGC_FAIL(SEGC_ERR_NOMEM, "%s: file too big to read", path);
      }
      buffer = grown;
    }
    const size_t got = fread(buffer + used, 1, capacity - used - 1, f);
    used += got;
    if (got == 0) break;
  }
  const int failed = ferror(f);
  fclose(f);
  if (failed) {
    free(buffer);
    return SEGC_FAIL(SEGC_ERR_IO, "%s: read error", path);
  }
  buffer[used] = '\0';
  *text = buffer;
  *size = used;
  return SEGC_OK;
}

segc_status segc_data_json_load(const char *path, cJSON **root) {
  *root = NULL;
  char *text = NULL;
  size_t size = 0;
  SEGC_TRY(read_text_file(path, &text, &size));
  if (strlen(text) != size) {
    free(text);
    return SEGC_FAIL(SEGC_ERR_FORMAT, "%s: not a JSON text (contains a NUL byte)",
                     path);
  }
  const char *end = NULL;
  *root = cJSON_ParseWithOpts(text, &end, 1);
  if (!*root) {
    int line = 1, column = 1;
    const char *stop = end && end >= text && end <= text + size ? end : text;
    for (const char *c = text; c < stop; ++c) {
      if (*c == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    free(text);
    return SEGC_FAIL(SEGC_ERR_FORMAT, "%s: invalid JSON at line %d, column %d",
                     path, line, column);
  }
  free(text);
  return SEGC_OK;
}

segc_status segc_data_json_save(const cJSON *root, const char *path) {
  char *text = cJSON_Print(root);
  if (!text) return SEGC_FAIL(SEGC_ERR_NOMEM, "%s: cannot format JSON", path);
  // Messages name `path`, the file the caller asked for, not the temporary.
  segc_atomic_file file;
  segc_status status = segc_atomic_file_open(&file, path);
  if (status == SEGC_OK)
    status = segc_atomic_file_write(&file, text, strlen(text));
  if (status == SEGC_OK) status = segc_atomic_file_write(&file, "\n", 1);
  if (status == SEGC_OK) status = segc_atomic_file_commit(&file);
  segc_atomic_file_abort(&file);
  free(text);
  return status;
}
