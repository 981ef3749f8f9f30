#include "io/run_folder.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

// ---- lock ------------------------------------------------------------------

void segc_folder_lock_init(segc_folder_lock *lock) {
  lock->fd = -1;
  lock->path[0] = '\0';
}

static bool process_alive(long pid) {
  if (pid <= 0 || pid > INT_MAX) return false;
  return kill((pid_t)pid, 0) == 0 || errno != ESRCH;  // EPERM: alive
}

// The pid written in the lock file; 0 when unreadable.
static long read_holder(int fd) {
  char text[32];
  const ssize_t n = pread(fd, text, sizeof text - 1, 0);
  if (n <= 0) return 0;
  text[n] = '\0';
  char *end;
  const long pid = strtol(text, &end, 10);
  return end != text && pid > 0 ? pid : 0;
}

static segc_status refuse(const char *dir, const char *what, long holder,
                          const char *path) {
  char who[64] = "another process";
  if (holder > 0) snprintf(who, sizeof who, "pid %ld", holder);
  return SEGC_FAIL(SEGC_ERR_INVALID,
                   "%s is in use by another %s run (%s; lock file %s): let it "
                   "finish or stop it, or give this run other folders",
                   dir, what, who, path);
}

static segc_status write_holder(int fd, const char *path) {
  char text[32];
  const int n = snprintf(text, sizeof text, "%ld\n", (long)getpid());
  if (ftruncate(fd, 0) != 0 || pwrite(fd, text, (size_t)n, 0) != n)
    return SEGC_FAIL(SEGC_ERR_IO, "lock file %s: cannot write it: %s", path,
                     strerror(errno));
  return SEGC_OK;
}

segc_status segc_folder_lock_take(const char *dir, const char *what,
                                  segc_folder_lock *lock) {
  segc_folder_lock_init(lock);
  const int n = snprintf(lock->path, sizeof lock->path, "%s/%s", dir,
                         SEGC_FOLDER_LOCK_NAME);
  if (n < 0 || (size_t)n >= sizeof lock->path)
    return SEGC_FAIL(SEGC_ERR_INVALID, "folder name too long: %.200s...", dir);
  // A holder that ends removes the name after we opened it: the lock we got
  // is then on a file nobody else sees, so try again with the new name.
  for (int attempt = 0; attempt < 20; ++attempt) {
    const int fd = open(lock->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
      return SEGC_FAIL(SEGC_ERR_IO, "cannot create the lock file %s: %s",
                       lock->path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int saved = errno;
      const long holder = read_holder(fd);
      if (saved == EWOULDBLOCK || saved == EINTR) {
        close(fd);
        return refuse(dir, what, holder, lock->path);
      }
      // No flock here (some network file systems): go by the pid alone.
      if (holder > 0 && holder != (long)getpid() && process_alive(holder)) {
        close(fd);
        return refuse(dir, what, holder, lock->path);
      }
    }
    struct stat by_fd, by_name;
    if (fstat(fd, &by_fd) != 0) {
      const int saved = errno;
      close(fd);
      return SEGC_FAIL(SEGC_ERR_IO, "lock file %s: fstat failed: %s",
                       lock->path, strerror(saved));
    }
    if (stat(lock->path, &by_name) != 0 || by_fd.st_ino != by_name.st_ino ||
        by_fd.st_dev != by_name.st_dev) {
      close(fd);
      continue;
    }
    const segc_status s = write_holder(fd, lock->path);
    if (s != SEGC_OK) {
      close(fd);
      return s;
    }
    lock->fd = fd;
    return SEGC_OK;
  }
  return SEGC_FAIL(SEGC_ERR_IO, "lock file %s keeps being replaced",
                   lock->path);
}

void segc_folder_lock_release(segc_folder_lock *lock) {
  if (lock->fd < 0) return;
  // Unlinked while still held, so no other run can lock this name's old file
  // and believe it holds the folder.
  unlink(lock->path);  // a lock file left behind is taken over next time
  close(lock->fd);
  lock->fd = -1;
}

bool segc_same_folder(const char *a, const char *b) {
  struct stat sa, sb;
  return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
         sa.st_ino == sb.st_ino;
}

// ---- stale temporary files --------------------------------------------------

// Digits only, as getpid() is printed; 0 when not a pid.
static long parse_pid(const char *digits, size_t length) {
  if (length == 0 || length > 9) return 0;
  long pid = 0;
  for (size_t i = 0; i < length; ++i) {
    if (digits[i] < '0' || digits[i] > '9') return 0;
    pid = pid * 10 + (digits[i] - '0');
  }
  return pid;
}

long segc_temp_file_pid(const char *name) {
  static const char kStage[] = ".segc-tmp.";  // .segc-tmp.<pid>.<name>
  if (strncmp(name, kStage, sizeof kStage - 1) == 0) {
    const char *digits = name + sizeof kStage - 1;
    const char *dot = strchr(digits, '.');
    return dot && dot[1] ? parse_pid(digits, (size_t)(dot - digits)) : 0;
  }
  const char *tmp = strstr(name, ".tmp.");  // <name>.tmp.<pid>
  const char *last = NULL;
  for (; tmp; tmp = strstr(tmp + 1, ".tmp.")) last = tmp;
  if (!last || last == name) return 0;
  const char *digits = last + 5;
  return parse_pid(digits, strlen(digits));
}

// A staged folder holds files only; anything else stays (and so does it).
static segc_status remove_flat_folder(const char *path, uint64_t *bytes) {
  DIR *d = opendir(path);
  if (!d)
    return SEGC_FAIL(SEGC_ERR_IO, "cannot read folder %s: %s", path,
                     strerror(errno));
  segc_status s = SEGC_OK;
  for (struct dirent *e; s == SEGC_OK && (errno = 0, e = readdir(d));) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    char entry[8192];
    snprintf(entry, sizeof entry, "%.4000s/%.1000s", path, e->d_name);
    struct stat st;
    if (lstat(entry, &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if (unlink(entry) != 0)
      s = SEGC_FAIL(SEGC_ERR_IO, "cannot remove %s: %s", entry, strerror(errno));
    else
      *bytes += (uint64_t)st.st_size;
  }
  closedir(d);
  if (s == SEGC_OK && rmdir(path) != 0 && errno != ENOTEMPTY && errno != EEXIST)
    s = SEGC_FAIL(SEGC_ERR_IO, "cannot remove folder %s: %s", path,
                  strerror(errno));
  return s;
}

static void note_removed(segc_stale_temp_report *report, const char *path,
                         uint64_t bytes) {
  report->count++;
  report->bytes += bytes;
  const size_t used = strlen(report->names);
  if (report->count <= 3)
    snprintf(report->names + used, sizeof report->names - used, "%s%.300s",
             used ? ", " : "", path);
}

segc_status segc_remove_stale_temp_files(const char *dir,
                                         segc_stale_temp_report *report) {
  DIR *d = opendir(dir);
  if (!d)
    return SEGC_FAIL(SEGC_ERR_IO, "cannot read folder %s: %s", dir,
                     strerror(errno));
  segc_status s = SEGC_OK;
  struct dirent *e;
  while (s == SEGC_OK && (errno = 0, e = readdir(d)) != NULL) {
    const long pid = segc_temp_file_pid(e->d_name);
    if (pid <= 0 || pid == (long)getpid() || process_alive(pid)) continue;
    char path[8192];
    snprintf(path, sizeof path, "%.4000s/%.1000s", dir, e->d_name);
    struct stat st;
    if (lstat(path, &st) != 0) continue;  // gone meanwhile
    uint64_t bytes = 0;
    if (S_ISDIR(st.st_mode)) {
      s = remove_flat_folder(path, &bytes);
    } else if (S_ISREG(st.st_mode)) {
      if (unlink(path) != 0 && errno != ENOENT)
        s = SEGC_FAIL(SEGC_ERR_IO, "cannot remove %s, a temporary file of a "
                      "process that no longer runs: %s", path, strerror(errno));
      bytes = (uint64_t)st.st_size;
    } else {
      continue;
    }
    if (s == SEGC_OK) note_removed(report, path, bytes);
  }
  if (s == SEGC_OK && errno != 0)
    s = SEGC_FAIL(SEGC_ERR_IO, "cannot read folder %s: %s", dir, strerror(errno));
  closedir(d);
  return s;
}
