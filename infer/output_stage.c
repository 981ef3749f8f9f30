#include "infer/output_stage.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/atomic_file.h"

void segc_output_stage_init(segc_output_stage *stage) {
  memset(stage, 0, sizeof *stage);
}

// "<folder>/.segc-tmp.<pid>.<name>": beside the final entry and ending like
// it, so writers that choose a format by extension (.nii vs .nii.gz) agree.
static segc_status temp_name(const char *final_path, char **out) {
  const char *slash = strrchr(final_path, '/');
  const size_t folder_len = slash ? (size_t)(slash - final_path) + 1 : 0;
  const char *name = slash ? slash + 1 : final_path;
  if (!name[0])
    return SEGC_FAIL(SEGC_ERR_INVALID, "output path '%s' names a folder, not "
                     "a file", final_path);
  const size_t size = strlen(final_path) + 64;
  *out = malloc(size);
  if (!*out) return SEGC_FAIL(SEGC_ERR_NOMEM, "output: out of memory");
  snprintf(*out, size, "%.*s.segc-tmp.%ld.%s", (int)folder_len, final_path,
           (long)getpid(), name);
  return SEGC_OK;
}

static segc_status add_entry(segc_output_stage *stage, const char *final_path,
                             bool is_folder, char **temp) {
  if (stage->count >= SEGC_STAGE_MAX)
    return SEGC_FAIL(SEGC_ERR_INTERNAL, "output: more than %d staged entries",
                     SEGC_STAGE_MAX);
  SEGC_TRY(temp_name(final_path, temp));
  char *final_copy = strdup(final_path);
  if (!final_copy) {
    free(*temp);
    return SEGC_FAIL(SEGC_ERR_NOMEM, "output: out of memory");
  }
  stage->final_path[stage->count] = final_copy;
  stage->temp_path[stage->count] = *temp;
  stage->is_folder[stage->count] = is_folder;
  stage->count++;
  return SEGC_OK;
}

segc_status segc_output_stage_file(segc_output_stage *stage,
                                   const char *final_path,
                                   const char **temp_path) {
  struct stat st;
  if (stat(final_path, &st) == 0 && S_ISDIR(st.st_mode))
    return SEGC_FAIL(SEGC_ERR_INVALID, "%s is a folder; a file is expected",
                     final_path);
  char *temp;
  SEGC_TRY(temp_name(final_path, &temp));
  // Probe: can this folder be written at all?
  const int fd = open(temp, O_WRONLY | O_CREAT | O_EXCL, 0644);
  if (fd < 0) {
    const int saved = errno;
    free(temp);
    return SEGC_FAIL(SEGC_ERR_IO, "cannot write %s: %s", final_path,
                     strerror(saved));
  }
  close(fd);
  unlink(temp);
  free(temp);
  char *kept;
  SEGC_TRY(add_entry(stage, final_path, false, &kept));
  *temp_path = kept;
  return SEGC_OK;
}

segc_status segc_output_stage_folder(segc_output_stage *stage,
                                     const char *final_path,
                                     const char **temp_path) {
  struct stat st;
  if (stat(final_path, &st) == 0 && !S_ISDIR(st.st_mode))
    return SEGC_FAIL(SEGC_ERR_INVALID, "%s exists and is not a folder",
                     final_path);
  char *temp;
  SEGC_TRY(add_entry(stage, final_path, true, &temp));
  if (mkdir(temp, 0755) != 0) {
    const int saved = errno;
    stage->count--;
    free(stage->final_path[stage->count]);
    free(temp);
    return SEGC_FAIL(SEGC_ERR_IO, "cannot write %s: %s", final_path,
                     strerror(saved));
  }
  *temp_path = temp;
  return SEGC_OK;
}

// Removes the plain files of a folder (the staged folders hold nothing else)
// and the folder.
static void remove_flat_folder(const char *path) {
  DIR *dir = opendir(path);
  if (dir) {
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
      if (!strcmp(entry->d_name, ".") || !strcmp(entry->d_name, "..")) continue;
      char child[4096];
      snprintf(child, sizeof child, "%s/%s", path, entry->d_name);
      unlink(child);
    }
    closedir(dir);
  }
  rmdir(path);
}

static bool is_empty_folder(const char *path) {
  DIR *dir = opendir(path);
  if (!dir) return false;
  bool empty = true;
  struct dirent *entry;
  while ((entry = readdir(dir)) != NULL)
    if (strcmp(entry->d_name, ".") && strcmp(entry->d_name, "..")) {
      empty = false;
      break;
    }
  closedir(dir);
  return empty;
}

// Moves the entries of `from` into the existing folder `to`; on failure moves
// nothing more and removes what it moved.
static segc_status merge_folder(const char *from, const char *to) {
  DIR *dir = opendir(from);
  if (!dir)
    return SEGC_FAIL(SEGC_ERR_IO, "cannot read %s: %s", from, strerror(errno));
  char **moved = NULL;
  int count = 0, capacity = 0;
  segc_status status = SEGC_OK;
  struct dirent *entry;
  while (status == SEGC_OK && (entry = readdir(dir)) != NULL) {
    if (!strcmp(entry->d_name, ".") || !strcmp(entry->d_name, "..")) continue;
    char source[4096], target[4096];
    snprintf(source, sizeof source, "%s/%s", from, entry->d_name);
    snprintf(target, sizeof target, "%s/%s", to, entry->d_name);
    if (count == capacity) {
      capacity = capacity ? 2 * capacity : 64;
      char **grown = realloc(moved, sizeof *moved * (size_t)capacity);
      if (!grown) {
        status = SEGC_FAIL(SEGC_ERR_NOMEM, "output: out of memory");
        break;
      }
      moved = grown;
    }
    if (rename(source, target) != 0) {
      status = SEGC_FAIL(SEGC_ERR_IO, "cannot rename into %s: %s", target,
                         strerror(errno));
      break;
    }
    moved[count++] = strdup(target);
  }
  closedir(dir);
  if (status != SEGC_OK)
    for (int i = 0; i < count; ++i)
      if (moved[i]) unlink(moved[i]);
  for (int i = 0; i < count; ++i) free(moved[i]);
  free(moved);
  if (status == SEGC_OK) rmdir(from);
  return status;
}

segc_status segc_output_stage_commit(segc_output_stage *stage) {
  segc_status status = SEGC_OK;
  bool whole[SEGC_STAGE_MAX] = {false};  // folder renamed as a whole
  int done = 0;
  for (; done < stage->count; ++done) {
    const char *temp = stage->temp_path[done];
    const char *final_path = stage->final_path[done];
    if (stage->is_folder[done]) {
      struct stat st;
      if (stat(final_path, &st) == 0 && S_ISDIR(st.st_mode)) {
        if (is_empty_folder(final_path) && rmdir(final_path) == 0) {
          if (rename(temp, final_path) != 0)
            status = SEGC_FAIL(SEGC_ERR_IO, "cannot rename %s to %s: %s", temp,
                               final_path, strerror(errno));
          else
            whole[done] = true;
        } else {
          status = merge_folder(temp, final_path);
        }
      } else if (rename(temp, final_path) != 0) {
        status = SEGC_FAIL(SEGC_ERR_IO, "cannot rename %s to %s: %s", temp,
                           final_path, strerror(errno));
      } else {
        whole[done] = true;
      }
    } else if (rename(temp, final_path) != 0) {
      status = SEGC_FAIL(SEGC_ERR_IO, "cannot rename %s to %s: %s", temp,
                         final_path, strerror(errno));
    }
    if (status != SEGC_OK) break;
  }
  if (status != SEGC_OK) {
    // Take back what was already renamed: files and folders that were
    // renamed whole (a folder merged into an existing one stays, since the
    // user's own files live there too).
    for (int i = 0; i < done; ++i) {
      if (!stage->is_folder[i]) unlink(stage->final_path[i]);
      else if (whole[i]) remove_flat_folder(stage->final_path[i]);
    }
  } else {
    // Nothing is left to remove: forget the temporary names. The staged
    // files were synced by their writers; the renames are made durable here.
    for (int i = 0; i < stage->count; ++i) {
      free(stage->temp_path[i]);
      stage->temp_path[i] = NULL;
      segc_status synced = segc_sync_parent_folder(stage->final_path[i]);
      if (synced == SEGC_OK && stage->is_folder[i] && !whole[i])
        synced = segc_sync_folder(stage->final_path[i]);  // merged into it
      if (status == SEGC_OK) status = synced;
    }
  }
  segc_output_stage_abort(stage);
  return status;
}

void segc_output_stage_abort(segc_output_stage *stage) {
  for (int i = 0; i < stage->count; ++i) {
    if (stage->temp_path[i]) {
      if (stage->is_folder[i]) remove_flat_folder(stage->temp_path[i]);
      else unlink(stage->temp_path[i]);
    }
    free(stage->temp_path[i]);
    free(stage->final_path[i]);
  }
  memset(stage, 0, sizeof *stage);
}
