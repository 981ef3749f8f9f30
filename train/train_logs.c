#include "train/train_logs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const kMetricLogs[SEGC_TRAIN_METRIC_LOGS] = {
    "train.csv", "train.jsonl", "validation.csv", "validation.jsonl"};

static const char kEventsPrefix[] = "events.out.tfevents.";

const char *segc_train_metric_log_name(int index) {
  return index >= 0 && index < SEGC_TRAIN_METRIC_LOGS ? kMetricLogs[index] : "";
}

static segc_status join(const char *dir, const char *name, char *path,
                        size_t size) {
  const int n = snprintf(path, size, "%s/%s", dir, name);
  if (n < 0 || (size_t)n >= size)
    return SEGC_FAIL(SEGC_ERR_INVALID, "path too long: %.200s/%.80s", dir, name);
  return SEGC_OK;
}

// The size of path; 0 when it does not exist.
static segc_status file_size(const char *path, int64_t *bytes) {
  struct stat st;
  if (stat(path, &st) == 0) {
    *bytes = (int64_t)st.st_size;
    return SEGC_OK;
  }
  if (errno != ENOENT)
    return SEGC_FAIL(SEGC_ERR_IO, "log %s: stat failed: %s", path,
                     strerror(errno));
  *bytes = 0;
  return SEGC_OK;
}

segc_status segc_train_logs_measure(const char *output_dir,
                                    const char *events_path,
                                    segc_train_log_marks *marks) {
  char path[8192];
  for (int i = 0; i < SEGC_TRAIN_METRIC_LOGS; ++i) {
    SEGC_TRY(join(output_dir, kMetricLogs[i], path, sizeof path));
    SEGC_TRY(file_size(path, &marks->metric_bytes[i]));
  }
  marks->events_name[0] = '\0';
  marks->events_bytes = -1;
  if (!events_path || !*events_path) return SEGC_OK;
  const char *slash = strrchr(events_path, '/');
  snprintf(marks->events_name, sizeof marks->events_name, "%s",
           slash ? slash + 1 : events_path);
  return file_size(events_path, &marks->events_bytes);
}

static void append(char *list, size_t size, const char *item) {
  const size_t used = strlen(list);
  snprintf(list + used, size - used, "%s%s", used ? ", " : "", item);
}

// Cuts one log to `bytes`; returns whether it was shorter than that.
static segc_status cut(const char *path, int64_t bytes, bool *shorter) {
  *shorter = false;
  const int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno != ENOENT)
      return SEGC_FAIL(SEGC_ERR_IO, "log %s: cannot open it: %s", path,
                       strerror(errno));
    *shorter = bytes > 0;
    return SEGC_OK;
  }
  struct stat st;
  segc_status s = SEGC_OK;
  if (fstat(fd, &st) != 0)
    s = SEGC_FAIL(SEGC_ERR_IO, "log %s: fstat failed: %s", path, strerror(errno));
  else if ((int64_t)st.st_size < bytes)
    *shorter = true;
  else if ((int64_t)st.st_size > bytes && ftruncate(fd, (off_t)bytes) != 0)
    s = SEGC_FAIL(SEGC_ERR_IO, "log %s: cannot cut it back to %lld bytes: %s",
                  path, (long long)bytes, strerror(errno));
  if (close(fd) != 0 && s == SEGC_OK)
    s = SEGC_FAIL(SEGC_ERR_IO, "log %s: close failed: %s", path, strerror(errno));
  return s;
}

segc_status segc_train_logs_rewind(const char *output_dir,
                                   const segc_train_log_marks *marks,
                                   FILE *log) {
  char path[8192], shorter_logs[1024] = "";
  bool shorter;
  for (int i = 0; i < SEGC_TRAIN_METRIC_LOGS; ++i) {
    if (marks->metric_bytes[i] < 0) continue;
    SEGC_TRY(join(output_dir, kMetricLogs[i], path, sizeof path));
    SEGC_TRY(cut(path, marks->metric_bytes[i], &shorter));
    if (shorter) append(shorter_logs, sizeof shorter_logs, kMetricLogs[i]);
  }
  if (marks->events_name[0] && marks->events_bytes >= 0) {
    SEGC_TRY(join(output_dir, marks->events_name, path, sizeof path));
    SEGC_TRY(cut(path, marks->events_bytes, &shorter));
    if (shorter) append(shorter_logs, sizeof shorter_logs, marks->events_name);
  }
  if (shorter_logs[0] && log)
    fprintf(log, "segtrain: note: %s in %s %s shorter than when the training "
            "state was saved (removed or edited since?): this run's records "
            "are added to what is there\n", shorter_logs, output_dir,
            strchr(shorter_logs, ',') ? "are" : "is");
  return SEGC_OK;
}

// Calls visit(path, name) for each log of output_dir that holds something.
typedef segc_status (*visit_fn)(void *context, const char *path,
                                const char *name);

static segc_status each_log(const char *output_dir, visit_fn visit,
                            void *context) {
  char path[8192];
  for (int i = 0; i < SEGC_TRAIN_METRIC_LOGS; ++i) {
    SEGC_TRY(join(output_dir, kMetricLogs[i], path, sizeof path));
    int64_t bytes = 0;
    SEGC_TRY(file_size(path, &bytes));
    if (bytes > 0) SEGC_TRY(visit(context, path, kMetricLogs[i]));
  }
  DIR *d = opendir(output_dir);
  if (!d) {
    if (errno == ENOENT) return SEGC_OK;
    return SEGC_FAIL(SEGC_ERR_IO, "cannot read folder %s: %s", output_dir,
                     strerror(errno));
  }
  segc_status s = SEGC_OK;
  struct dirent *e;
  while (s == SEGC_OK && (errno = 0, e = readdir(d)) != NULL) {
    if (strncmp(e->d_name, kEventsPrefix, sizeof kEventsPrefix - 1) != 0)
      continue;
    s = join(output_dir, e->d_name, path, sizeof path);
    if (s == SEGC_OK) s = visit(context, path, e->d_name);
  }
  if (s == SEGC_OK && errno != 0)
    s = SEGC_FAIL(SEGC_ERR_IO, "cannot read folder %s: %s", output_dir,
                  strerror(errno));
  closedir(d);
  return s;
}

typedef struct {
  char *list;
  size_t size;
  int events;
  bool remove;
} listing;

static segc_status list_log(void *context, const char *path, const char *name) {
  listing *l = context;
  if (l->remove && unlink(path) != 0 && errno != ENOENT)
    return SEGC_FAIL(SEGC_ERR_IO, "cannot remove the earlier log %s: %s", path,
                     strerror(errno));
  if (strncmp(name, kEventsPrefix, sizeof kEventsPrefix - 1) == 0) l->events++;
  else append(l->list, l->size, name);
  return SEGC_OK;
}

static segc_status list_logs(const char *output_dir, bool remove, char *list,
                             size_t size) {
  list[0] = '\0';
  listing l = {list, size, 0, remove};
  SEGC_TRY(each_log(output_dir, list_log, &l));
  if (l.events > 0) {
    char events[64];
    snprintf(events, sizeof events, "%d TensorBoard event file%s", l.events,
             l.events == 1 ? "" : "s");
    append(list, size, events);
  }
  return SEGC_OK;
}

segc_status segc_train_logs_find(const char *output_dir, char *found,
                                 size_t size) {
  return list_logs(output_dir, false, found, size);
}

segc_status segc_train_logs_remove(const char *output_dir, char *removed,
                                   size_t size) {
  return list_logs(output_dir, true, removed, size);
}
