// Folder listings and small file-system helpers for the data tools.
#ifndef SEGC_DATA_FILE_LIST_H
#define SEGC_DATA_FILE_LIST_H

#include <stdbool.h>
#include <stdint.h>

#include "core/status.h"

typedef enum { SEGC_LIST_FILES, SEGC_LIST_FOLDERS } segc_list_kind;

typedef struct {
  char **names;  // entry names (not paths), sorted by strcmp like Python's
                 // sorted(glob(...)); names starting with '.' are left out
                 // as glob's '*' does
  int64_t count;
} segc_name_list;

// Entries of `dir` of the given kind whose names end with `suffix` ("" for
// all).
segc_status segc_data_list_dir(const char *dir, segc_list_kind kind,
                               const char *suffix, segc_name_list *out);
void segc_name_list_free(segc_name_list *list);

bool segc_data_is_file(const char *path);
bool segc_data_is_dir(const char *path);
// mkdir -p.
segc_status segc_data_make_dirs(const char *path);
// Byte copy through a temporary file renamed at the end.
segc_status segc_data_copy_file(const char *from, const char *to);

#endif
