#include "io/atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void release(segc_atomic_file *file, bool remove_temp) {
  // Closing results no longer matter here: the file is being dropped.
  // temp_path is set only while open: a zeroed struct holds no descriptor.
  if (file->file) fclose(file->file);  // closes fd too
  else if (file->temp_path && file->fd >= 0) close(file->fd);
  if (remove_temp && file->temp_path) unlink(file->temp_path);
  free(file->path);
  free(file->temp_path);
  memset(file, 0, sizeof *file);
  file->fd = -1;
}

static segc_status fail_errno(segc_atomic_file *file, const char *call) {
  const int saved = errno;
  char path[4200];
  snprintf(path, sizeof path, "%s", file->path ? file->path : "?");
  release(file, true);
  return SEGC_FAIL(SEGC_ERR_IO, "%s: %s failed: %s", path, call,
                   strerror(saved));
}

// "<path>.tmp.<pid>" first; another writer of this process may hold it (two
// threads writing one path), and a dead process of the same pid may have
// left it, so the next tries put a counter before ".tmp".
static segc_status create_temp(segc_atomic_file *file, const char *path) {
  static atomic_uint counter;
  const size_t length = strlen(path) + 48;
  file->path = strdup(path);
  file->temp_path = malloc(length);
  if (!file->path || !file->temp_path) {
    release(file, false);
    return SEGC_FAIL(SEGC_ERR_NOMEM, "%s: no memory for the file name", path);
  }
  for (int attempt = 0; attempt < 100; ++attempt) {
    if (attempt == 0)
      snprintf(file->temp_path, length, "%s.tmp.%ld", path, (long)getpid());
    else
      snprintf(file->temp_path, length, "%s.%u.tmp.%ld", path,
               atomic_fetch_add(&counter, 1u), (long)getpid());
    file->fd = open(file->temp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
                    0666);
    if (file->fd >= 0) return SEGC_OK;
    if (errno != EEXIST) {
      const int saved = errno;
      release(file, false);  // nothing was created
      return SEGC_FAIL(SEGC_ERR_IO, "%s: cannot create its temporary file: %s",
                       path, strerror(saved));
    }
  }
  release(file, false);
  return SEGC_FAIL(SEGC_ERR_IO, "%s: cannot find a free temporary name", path);
}

segc_status segc_atomic_file_open_fd(segc_atomic_file *file,
                                     const char *path) {
  memset(file, 0, sizeof *file);
  file->fd = -1;
  if (!path || !*path)
    return SEGC_FAIL(SEGC_ERR_INVALID, "output path is empty");
  return create_temp(file, path);
}

segc_status segc_atomic_file_open(segc_atomic_file *file, const char *path) {
  SEGC_TRY(segc_atomic_file_open_fd(file, path));
  file->file = fdopen(file->fd, "wb");
  if (!file->file) return fail_errno(file, "fdopen");
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

// Makes renames into `folder` durable; `path` is the entry for messages.
static segc_status sync_folder_for(const char *folder, const char *path) {
  const int fd = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return SEGC_OK;
  const int synced = fsync(fd);
  const int saved = errno;
  close(fd);
  if (synced != 0 && saved != EINVAL)
    return SEGC_FAIL(SEGC_ERR_IO, "%s: fsync of folder %s failed: %s", path,
                     folder, strerror(saved));
  return SEGC_OK;
}

segc_status segc_sync_folder(const char *folder) {
  return sync_folder_for(folder, folder);
}

segc_status segc_sync_parent_folder(const char *path) {
  char folder[4096];
  snprintf(folder, sizeof folder, "%s", path);
  char *slash = strrchr(folder, '/');
  if (!slash) snprintf(folder, sizeof folder, ".");
  else if (slash == folder) folder[1] = '\0';
  else *slash = '\0';
  return sync_folder_for(folder, path);
}

segc_status segc_atomic_file_commit(segc_atomic_file *file) {
  if (!file->temp_path || file->fd < 0)
    return SEGC_FAIL(SEGC_ERR_INTERNAL, "commit of a closed output file");
  if (file->file && fflush(file->file) != 0) return fail_errno(file, "fflush");
  if (fsync(file->fd) != 0) return fail_errno(file, "fsync");
  FILE *handle = file->file;
  const int fd = file->fd;
  file->file = NULL;
  file->fd = -1;
  if ((handle ? fclose(handle) : close(fd)) != 0)
    return fail_errno(file, "close");
  if (rename(file->temp_path, file->path) != 0) {
    const int saved = errno;
    char message[8600];
    snprintf(message, sizeof message, "%s: rename from %s failed: %s",
             file->path, file->temp_path, strerror(saved));
    release(file, true);
    return SEGC_FAIL(SEGC_ERR_IO, "%s", message);
  }
  char *path = file->path;
  file->path = NULL;
  release(file, false);
  const segc_status status = segc_sync_parent_folder(path);
  free(path);
  return status;
}

void segc_atomic_file_abort(segc_atomic_file *file) { release(file, true); }
