#include "data/file_list.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/atomic_file.h"

static int compare_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool ends_with(const char *name, const char *suffix) {
  const size_t n = strlen(name), s = strlen(suffix);
  return n >= s && strcmp(name + n - s, suffix) == 0;
}

segc_status segc_data_list_dir(const char *dir, segc_list_kind kind,
                               const char *suffix, segc_name_list *out) {
  out->names = NULL;
  out->count = 0;
  DIR *d = opendir(dir);
  if (!d)
    return SEGC_FAIL(SEGC_ERR_IO, "%s: cannot open folder: %s", dir,
                     strerror(errno));
  int64_t capacity = 0;
  segc_status status = SEGC_OK;
  errno = 0;
  for (struct dirent *e; (e = readdir(d)) != NULL; errno = 0) {
    if (e->d_name[0] == '.' || !ends_with(e->d_name, suffix)) continue;
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path) {
      status = SEGC_FAIL(SEGC_ERR_INVALID, "%s/%s: path too long", dir, e->d_name);
      break;
    }
    const bool want = kind == SEGC_LIST_FILES ? segc_data_is_file(path)
                                              : segc_data_is_dir(path);
    if (!want) continue;
    if (out->count == capacity) {
      capacity = capacity ? capacity * 2 : 64;
      char **grown = realloc(out->names, (size_t)capacity * sizeof *grown);
      if (!grown) {
        status = SEGC_FAIL(SEGC_ERR_NOMEM, "%s: too many entries", dir);
        break;
      }
      out->names = grown;
    }
    out->names[out->count] = strdup(e->d_name);
    if (!out->names[out->count]) {
      status = SEGC_FAIL(SEGC_ERR_NOMEM, "%s: out of memory", dir);
      break;
    }
    out->count++;
  }
  if (status == SEGC_OK && errno != 0)
    status = SEGC_FAIL(SEGC_ERR_IO, "%s: cannot read folder: %s", dir,
                       strerror(errno));
  closedir(d);
  if (status != SEGC_OK) {
    segc_name_list_free(out);
    return status;
  }
  if (out->count > 1)
    qsort(out->names, (size_t)out->count, sizeof *out->names, compare_names);
  return SEGC_OK;
}

void segc_name_list_free(segc_name_list *list) {
  for (int64_t i = 0; i < list->count; ++i) free(list->names[i]);
  free(list->names);
  list->names = NULL;
  list->count = 0;
}

bool segc_data_is_file(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

bool segc_data_is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

segc_status segc_data_make_dirs(const char *path) {
  char buffer[4096];
  if (snprintf(buffer, sizeof buffer, "%s", path) >= (int)sizeof buffer)
    return SEGC_FAIL(SEGC_ERR_INVALID, "%s: path too long", path);
  for (char *p = buffer + 1;; ++p) {
    const bool last = *p == '\0';
    if (*p == '/' || last) {
      *p = '\0';
      if (mkdir(buffer, 0777) != 0 && errno != EEXIST)
        return SEGC_FAIL(SEGC_ERR_IO, "%s: cannot create folder: %s", buffer,
                         strerror(errno));
      if (!segc_data_is_dir(buffer))
        return SEGC_FAIL(SEGC_ERR_IO, "%s: exists and is not a folder", buffer);
      if (last) break;
      *p = '/';
    }
  }
  return SEGC_OK;
}

segc_status segc_data_copy_file(const char *from, const char *to) {
  FILE *in = fopen(from, "rb");
  if (!in)
    return SEGC_FAIL(SEGC_ERR_IO, "%s: cannot open: %s", from, strerror(errno));
  segc_atomic_file out;
  segc_status status = segc_atomic_file_open(&out, to);
  char block[1 << 16];
  size_t got;
  while (status == SEGC_OK && (got = fread(block, 1, sizeof block, in)) > 0)
    status = segc_atomic_file_write(&out, block, got);
  if (status == SEGC_OK && ferror(in))
    status = SEGC_FAIL(SEGC_ERR_IO, "copying %s to %s: read failed", from, to);
  fclose(in);  // read only: nothing to lose
  if (status == SEGC_OK) status = segc_atomic_file_commit(&out);
  segc_atomic_file_abort(&out);
  return status;
}
