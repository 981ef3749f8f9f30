#include "train/metric_log.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

struct segc_metric_log {
  FILE *jsonl, *csv;
  char jsonl_path[4096], csv_path[4096];
  int columns;  // 0 until the CSV header is known
  char names[SEGC_METRIC_MAX_COLUMNS][SEGC_METRIC_MAX_NAME + 1];
};

// Enough for a full row: 64 columns of up to 64-char names or 24-char numbers.
enum { kLineMax = SEGC_METRIC_MAX_COLUMNS * (SEGC_METRIC_MAX_NAME + 32) + 16 };

static bool valid_name(const char *name) {
  const size_t n = name ? strlen(name) : 0;
  if (n == 0 || n > SEGC_METRIC_MAX_NAME) return false;
  for (size_t i = 0; i < n; ++i) {
    const char c = name[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '/' || c == '-'))
      return false;
  }
  return true;
}

// Cuts a partial last line (no final '\n') left by an interrupted write.
static segc_status cut_partial_line(FILE *f, const char *path) {
  if (fseek(f, 0, SEEK_END) != 0)
    return SEGC_FAIL(SEGC_ERR_IO, "metric log %s: seek failed: %s", path,
                     strerror(errno));
  const long size = ftell(f);
  if (size < 0)
    return SEGC_FAIL(SEGC_ERR_IO, "metric log %s: ftell failed: %s", path,
                     strerror(errno));
  long keep = 0;  // bytes up to and including the last '\n'
  char chunk[4096];
  for (long end = size; end > 0 && keep == 0;) {
    const long start = end > (long)sizeof chunk ? end - (long)sizeof chunk : 0;
    const size_t want = (size_t)(end - start);
    if (fseek(f, start, SEEK_SET) != 0 || fread(chunk, 1, want, f) != want)
      return SEGC_FAIL(SEGC_ERR_IO, "metric log %s: read failed", path);
    for (long i = (long)want - 1; i >= 0; --i)
      if (chunk[i] == '\n') {
        keep = start + i + 1;
        break;
      }
    end = start;
  }
  if (keep != size && ftruncate(fileno(f), (off_t)keep) != 0)
    return SEGC_FAIL(SEGC_ERR_IO, "metric log %s: cannot cut a partial last "
                     "line: %s", path, strerror(errno));
  // A positioning call separates reading from the appends that follow.
  if (fseek(f, 0, SEEK_END) != 0)
    return SEGC_FAIL(SEGC_ERR_IO, "metric log %s: seek failed: %s", path,
                     strerror(errno));
  return SEGC_OK;
}

// Reads the CSV header of an existing, non-empty file into log->names.
static segc_status read_header(segc_metric_log *log) {
  FILE *f = log->csv;
  if (fseek(f, 0, SEEK_SET) != 0)
    return SEGC_FAIL(SEGC_ERR_IO, "metric log %s: seek failed", log->csv_path);
  char line[kLineMax];
  if (!fgets(line, sizeof line, f)) {  // empty file: header comes later
    clearerr(f);
    return fseek(f, 0, SEEK_END) == 0 ? SEGC_OK
               : SEGC_FAIL(SEGC_ERR_IO, "metric log %s: seek failed", log->csv_path);
  }
  const size_t n = strlen(line);
  if (n == 0 || line[n - 1] != '\n')
    return SEGC_FAIL(SEGC_ERR_FORMAT, "metric log %s: the header line is too "
                     "long", log->csv_path);
  line[n - 1] = '\0';
  int columns = 0;
  for (char *save = NULL, *name = strtok_r(line, ",", &save); name;
       name = strtok_r(NULL, ",", &save)) {
    if (!valid_name(name) || columns == SEGC_METRIC_MAX_COLUMNS)
      return SEGC_FAIL(SEGC_ERR_FORMAT, "metric log %s: the header is not a "
                       "list of metric names (at '%.64s')", log->csv_path, name);
    snprintf(log->names[columns++], sizeof log->names[0], "%s", name);
  }
  log->columns = columns;
  return fseek(f, 0, SEEK_END) == 0 ? SEGC_OK
             : SEGC_FAIL(SEGC_ERR_IO, "metric log %s: seek failed", log->csv_path);
}

static segc_status open_append(const char *path, const char *dir, FILE **out) {
  *out = fopen(path, "a+");
  if (*out) return cut_partial_line(*out, path);
  if (errno == ENOENT || errno == ENOTDIR)
    return SEGC_FAIL(SEGC_ERR_IO, "metric log: folder %s does not exist", dir);
  return SEGC_FAIL(SEGC_ERR_IO, "metric log: cannot open %s: %s", path,
                   strerror(errno));
}

segc_status segc_metric_log_open(const char *dir, const char *name,
                                 segc_metric_log **out) {
  *out = NULL;
  if (!dir || !*dir || !valid_name(name) || strchr(name, '/'))
    return SEGC_FAIL(SEGC_ERR_INVALID, "metric log: bad folder or log name "
                     "'%s' (names use A-Z a-z 0-9 _ . -)", name ? name : "(null)");
  segc_metric_log *log = calloc(1, sizeof *log);
  if (!log) return SEGC_FAIL(SEGC_ERR_NOMEM, "metric log: out of memory");
  const int a = snprintf(log->jsonl_path, sizeof log->jsonl_path, "%s/%s.jsonl", dir, name);
  const int b = snprintf(log->csv_path, sizeof log->csv_path, "%s/%s.csv", dir, name);
  segc_status status = SEGC_OK;
  if (a < 0 || b < 0 || (size_t)a >= sizeof log->jsonl_path ||
      (size_t)b >= sizeof log->csv_path)
    status = SEGC_FAIL(SEGC_ERR_INVALID, "metric log: folder name too long");
  if (status == SEGC_OK) status = open_append(log->jsonl_path, dir, &log->jsonl);
  if (status == SEGC_OK) status = open_append(log->csv_path, dir, &log->csv);
  if (status == SEGC_OK) status = read_header(log);
  if (status != SEGC_OK) {
    if (log->jsonl) fclose(log->jsonl);  // already failing: first error stands
    if (log->csv) fclose(log->csv);
    free(log);
    return status;
  }
  *out = log;
  return SEGC_OK;
}

// Whole numbers as integers, others in the shortest %g form that reads back
// to the same double.
static void format_number(double v, bool json, char *out, size_t size) {
  if (isnan(v) || isinf(v)) {
    snprintf(out, size, "%s", json ? "null" : isnan(v) ? "nan" : v > 0 ? "inf" : "-inf");
    return;
  }
  if (v == floor(v) && fabs(v) < 1e15) {  // steps, epochs: 300, not 3e+02
    snprintf(out, size, "%.0f", v);
    return;
  }
  for (int digits = 1; digits <= 17; ++digits) {
    snprintf(out, size, "%.*g", digits, v);
    if (strtod(out, NULL) == v) return;
  }
}

static void list_names(const segc_metric_log *log, const segc_metric *m,
                       int count, char *out, size_t size) {
  size_t used = 0;
  out[0] = '\0';
  for (int i = 0; i < count && used < size; ++i)
    used += (size_t)snprintf(out + used, size - used, "%s%s", i ? ", " : "",
                             m ? m[i].name : log->names[i]);
}

// Maps each header column to the record's metric; false if the sets differ.
static bool match_columns(const segc_metric_log *log, const segc_metric *m,
                          int count, int order[]) {
  if (count != log->columns) return false;
  for (int c = 0; c < log->columns; ++c) {
    order[c] = -1;
    for (int i = 0; i < count; ++i)
      if (strcmp(log->names[c], m[i].name) == 0) order[c] = i;
    if (order[c] < 0) return false;
  }
  return true;
}

static segc_status check_record(const segc_metric_log *log,
                                const segc_metric *m, int count) {
  if (!m || count < 1 || count > SEGC_METRIC_MAX_COLUMNS)
    return SEGC_FAIL(SEGC_ERR_INVALID, "metric log %s: a record needs 1..%d "
                     "metrics, got %d", log->csv_path, (int)SEGC_METRIC_MAX_COLUMNS, count);
  for (int i = 0; i < count; ++i) {
    if (!valid_name(m[i].name))
      return SEGC_FAIL(SEGC_ERR_INVALID, "metric log %s: bad metric name '%.80s' "
                       "(1..64 of A-Z a-z 0-9 _ . / -)", log->csv_path,
                       m[i].name ? m[i].name : "(null)");
    for (int j = 0; j < i; ++j)
      if (strcmp(m[i].name, m[j].name) == 0)
        return SEGC_FAIL(SEGC_ERR_INVALID, "metric log %s: metric '%s' given "
                         "twice", log->csv_path, m[i].name);
  }
  return SEGC_OK;
}

static segc_status put_line(FILE *f, const char *path, const char *line) {
  if (fputs(line, f) < 0 || fflush(f) != 0)
    return SEGC_FAIL(SEGC_ERR_IO, "metric log %s: write failed: %s", path,
                     strerror(errno));
  return SEGC_OK;
}

segc_status segc_metric_log_write(segc_metric_log *log,
                                  const segc_metric *metrics, int count) {
  if (!log || !log->csv)
    return SEGC_FAIL(SEGC_ERR_INVALID, "metric log: not open");
  SEGC_TRY(check_record(log, metrics, count));
  const bool new_header = log->columns == 0;
  int order[SEGC_METRIC_MAX_COLUMNS];
  if (new_header) {
    for (int i = 0; i < count; ++i) {
      snprintf(log->names[i], sizeof log->names[0], "%s", metrics[i].name);
      order[i] = i;
    }
    log->columns = count;
  } else if (!match_columns(log, metrics, count, order)) {
    char have[kLineMax], got[kLineMax];
    list_names(log, NULL, log->columns, have, sizeof have);
    list_names(log, metrics, count, got, sizeof got);
    return SEGC_FAIL(SEGC_ERR_INVALID, "metric log %s: record has columns (%.300s) "
                     "but the header has (%.300s)", log->csv_path, got, have);
  }
  char json[kLineMax], row[kLineMax], header[kLineMax];
  char number[40];
  size_t j = 0, r = 0, h = 0;
  j += (size_t)snprintf(json + j, sizeof json - j, "{");
  for (int i = 0; i < count; ++i) {
    format_number(metrics[i].value, true, number, sizeof number);
    j += (size_t)snprintf(json + j, sizeof json - j, "%s\"%s\": %s", i ? ", " : "",
                          metrics[i].name, number);
  }
  snprintf(json + j, sizeof json - j, "}\n");
  for (int c = 0; c < log->columns; ++c) {
    format_number(metrics[order[c]].value, false, number, sizeof number);
    r += (size_t)snprintf(row + r, sizeof row - r, "%s%s", c ? "," : "", number);
    h += (size_t)snprintf(header + h, sizeof header - h, "%s%s", c ? "," : "",
                          log->names[c]);
  }
  snprintf(row + r, sizeof row - r, "\n");
  snprintf(header + h, sizeof header - h, "\n");
  if (new_header) SEGC_TRY(put_line(log->csv, log->csv_path, header));
  SEGC_TRY(put_line(log->csv, log->csv_path, row));
  return put_line(log->jsonl, log->jsonl_path, json);
}

segc_status segc_metric_log_close(segc_metric_log *log) {
  if (!log) return SEGC_OK;
  segc_status status = SEGC_OK;
  if (log->jsonl && fclose(log->jsonl) != 0)
    status = SEGC_FAIL(SEGC_ERR_IO, "metric log %s: close failed: %s",
                       log->jsonl_path, strerror(errno));
  if (log->csv && fclose(log->csv) != 0 && status == SEGC_OK)
    status = SEGC_FAIL(SEGC_ERR_IO, "metric log %s: close failed: %s",
                       log->csv_path, strerror(errno));
  free(log);
  return status;
}

const char *segc_metric_log_csv_path(const segc_metric_log *log) {
  return log ? log->csv_path : "";
}
const char *segc_metric_log_jsonl_path(const segc_metric_log *log) {
  return log ? log->jsonl_path : "";
}
