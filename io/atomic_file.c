#include "io/atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void release(segc_atomic_file *file, int remove_temp) {
  if (file->file) fclose(file->file);  // its result no longer matters
  if (remove_temp && file->temp_path) unlink(file->temp_path);
  free(file->path);
  free(file->temp_path);
  memset(file, 0, sizeof *file);
}

static segc_status fail_errno(segc_atomic_file *file, const char *call) {
  const int saved = errno;
  char path[512];
  snprintf(path, sizeof path, "%s", file->temp_path ? file->temp_path : "?");
  release(file, 1);
  return SEGC_FAIL(SEGC_ERR_IO, "%s: %s failed: %s", path, call,
                   strerror(saved));
}

segc_status segc_atomic_file_open(segc_atomic_file *file, const char *path) {
  memset(file, 0, sizeof *file);
  if (!path || !*path)
    return SEGC_FAIL(SEGC_ERR_INVALID, "output path is empty");
  const size_t length = strlen(path) + 32;
  file->path = strdup(path);
  file->temp_path = malloc(length);
  if (!file->path || !file->temp_path) {
    release(file, 0);
    return SEGC_FAIL(SEGC_ERR_NOMEM, "%s: no memory for the file name", path);
  }
  snprintf(file->temp_path, length, "%s.tmp.%ld", path, (long)getpid());
  const int fd = open(file->temp_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) {
    const int saved = errno;
    release(file, 0);  // nothing was created
    return SEGC_FAIL(SEGC_ERR_IO, "%s: cannot create its temporary file: %s",
                     path, strerror(saved));
  }
  file->file = fdopen(fd, "wb");
  if (!file->file) {
    close(fd);
    return fail_errno(file, "fdopen");
  }
  return SEGC_OK;
}

segc_status segc_atomic_file_write(segc_atomic_file *file, const void *bytes,
                                   size_t count) {
  if (!file->file)
    return SEGC_FAIL(SEGC_ERR_INTERNAL, "write to a closed output file");
  if (count == 0) return SEGC_OK;
  if (fwrite(bytes, 1, count, file->file) != count)
    return fail_errno(file, "fwrite");
  file->offset += count;
  return SEGC_OK;
}

// Makes the rename durable; a folder that cannot be opened (rare) is not an
// error because the data itself is already synced.
static segc_status sync_folder(const char *path) {
  char folder[4096];
  snprintf(folder, sizeof folder, "%s", path);
  char *slash = strrchr(folder, '/');
  if (!slash) snprintf(folder, sizeof folder, ".");
  else if (slash == folder) folder[1] = '\0';
  else *slash = '\0';
  const int fd = open(folder, O_RDONLY | O_DIRECTORY);
  if (fd < 0) return SEGC_OK;
  const int synced = fsync(fd);
  const int saved = errno;
  close(fd);
  if (synced != 0 && saved != EINVAL)
    return SEGC_FAIL(SEGC_ERR_IO, "%s: fsync of folder %s failed: %s", path,
                     folder, strerror(saved));
  return SEGC_OK;
}

segc_status segc_atomic_file_commit(segc_atomic_file *file) {
  if (!file->file)
    return SEGC_FAIL(SEGC_ERR_INTERNAL, "commit of a closed output file");
  if (fflush(file->file) != 0) return fail_errno(file, "fflush");
  if (fsync(fileno(file->file)) != 0) return fail_errno(file, "fsync");
  FILE *handle = file->file;
  file->file = NULL;
  if (fclose(handle) != 0) return fail_errno(file, "fclose");
  if (rename(file->temp_path, file->path) != 0) {
    const int saved = errno;
    char message[600];
    snprintf(message, sizeof message, "%s: rename from %s failed: %s",
             file->path, file->temp_path, strerror(saved));
    release(file, 1);
    return SEGC_FAIL(SEGC_ERR_IO, "%s", message);
  }
  char *path = file->path;
  file->path = NULL;
  release(file, 0);
  const segc_status status = sync_folder(path);
  free(path);
  return status;
}

void segc_atomic_file_abort(segc_atomic_file *file) { release(file, 1); }
