// Reading segtrain's logs for comparisons between runs: the metric logs
// (CSV and JSON lines) without the columns that measure time, and the
// scalars of every TensorBoard event file of a folder without wall times.
// Two runs that computed the same thing give the same texts.
#ifndef SEGC_TESTS_SEGTRAIN_LOGS_SUPPORT_H
#define SEGC_TESTS_SEGTRAIN_LOGS_SUPPORT_H

#include <dirent.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool log_timing_name(const char *name) {
  return !strcmp(name, "seconds") || !strcmp(name, "loader_wait");
}

// One CSV line without the columns flagged in `drop`; appended to out.
static void log_append_csv_line(char *line, const bool *drop, char *out,
                                size_t size) {
  int col = 0;
  bool first = true;
  for (char *save = NULL, *t = strtok_r(line, ",\n", &save); t;
       t = strtok_r(NULL, ",\n", &save), ++col) {
    if (col < 64 && drop[col]) continue;
    const size_t used = strlen(out);
    snprintf(out + used, size - used, "%s%s", first ? "" : ",", t);
    first = false;
  }
  const size_t used = strlen(out);
  snprintf(out + used, size - used, "\n");
}

// One JSON line without its timing fields ("name": number, ...).
static void log_append_json_line(const char *line, char *out, size_t size) {
  char copy[4096];
  snprintf(copy, sizeof copy, "%s", line);
  char *p = copy;
  while (*p) {
    char *field = strchr(p, '"');
    if (!field) break;
    char *name_end = strchr(field + 1, '"');
    if (!name_end) break;
    char name[128];
    snprintf(name, sizeof name, "%.*s", (int)(name_end - field - 1), field + 1);
    char *value_end = name_end + strcspn(name_end, ",}");
    if (log_timing_name(name)) {
      if (*value_end == ',') ++value_end;
      memmove(field, value_end, strlen(value_end) + 1);
      p = field;
    } else {
      p = value_end;
    }
  }
  const size_t used = strlen(out);
  snprintf(out + used, size - used, "%s", copy);
}

// The whole log at `path` (.csv or .jsonl) without timings into out; false
// when it cannot be read.
static bool log_read_without_timings(const char *path, char *out, size_t size) {
  out[0] = '\0';
  FILE *f = fopen(path, "r");
  if (!f) return false;
  const bool csv = strstr(path, ".csv") != NULL;
  bool drop[64] = {false};
  char line[4096];
  for (int row = 0; fgets(line, sizeof line, f); ++row) {
    if (csv && row == 0) {
      char header[4096];
      snprintf(header, sizeof header, "%s", line);
      int col = 0;
      for (char *save = NULL, *t = strtok_r(header, ",\n", &save); t && col < 64;
           t = strtok_r(NULL, ",\n", &save), ++col)
        drop[col] = log_timing_name(t);
    }
    if (csv) log_append_csv_line(line, drop, out, size);
    else log_append_json_line(line, out, size);
  }
  fclose(f);
  return true;
}

// ---- TensorBoard: records of Event { step = 2; summary = 5 { value = 1 {
// tag = 1; simple_value = 2 } } } -------------------------------------------

static bool tb_varint(const uint8_t **p, const uint8_t *end, uint64_t *out) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64 && *p < end; shift += 7) {
    const uint8_t b = *(*p)++;
    v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *out = v;
      return true;
    }
  }
  return false;
}

// Finds field `want` of a message: its varint value or its bytes.
static bool tb_field(const uint8_t *p, const uint8_t *end, int want,
                     uint64_t *number, const uint8_t **bytes, size_t *length) {
  while (p < end) {
    uint64_t key, v = 0, n = 0;
    if (!tb_varint(&p, end, &key)) return false;
    const int wire = (int)(key & 7), field = (int)(key >> 3);
    const uint8_t *start = p;
    if (wire == 0) {
      if (!tb_varint(&p, end, &v)) return false;
    } else if (wire == 1 || wire == 5) {
      n = wire == 1 ? 8 : 4;
      if ((uint64_t)(end - p) < n) return false;
      p += n;
    } else if (wire == 2) {
      if (!tb_varint(&p, end, &n) || (uint64_t)(end - p) < n) return false;
      start = p;
      p += n;
    } else {
      return false;
    }
    if (field == want) {
      if (number) *number = v;
      if (bytes) *bytes = start;
      if (length) *length = (size_t)n;
      return true;
    }
  }
  return false;
}

static int tb_compare_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

// "tag step value" per scalar, over the folder's event files in name order;
// *files receives their number. False when a file is malformed.
static bool tb_read_scalars(const char *dir, char *out, size_t size, int *files) {
  out[0] = '\0';
  *files = 0;
  DIR *d = opendir(dir);
  if (!d) return false;
  char *names[64];
  int count = 0;
  for (struct dirent *e; (e = readdir(d)) && count < 64;)
    if (!strncmp(e->d_name, "events.out.tfevents.", 20))
      names[count++] = strdup(e->d_name);
  closedir(d);
  qsort(names, (size_t)count, sizeof names[0], tb_compare_names);
  bool ok = true;
  static uint8_t record[1 << 16];
  for (int i = 0; i < count; ++i) {
    char path[8192];
    snprintf(path, sizeof path, "%.4000s/%.1000s", dir, names[i]);
    free(names[i]);
    FILE *f = fopen(path, "rb");
    if (!f) {
      ok = false;
      continue;
    }
    uint8_t header[12];
    while (ok && fread(header, 1, 12, f) == 12) {
      uint64_t length = 0;
      for (int b = 7; b >= 0; --b) length = (length << 8) | header[b];
      if (length > sizeof record || fread(record, 1, length + 4, f) != length + 4) {
        ok = false;
        break;
      }
      const uint8_t *end = record + length, *summary, *value, *tag, *number;
      size_t summary_size, value_size, tag_size, number_size;
      uint64_t step = 0;
      if (!tb_field(record, end, 5, NULL, &summary, &summary_size)) continue;
      tb_field(record, end, 2, &step, NULL, NULL);
      if (!tb_field(summary, summary + summary_size, 1, NULL, &value, &value_size) ||
          !tb_field(value, value + value_size, 1, NULL, &tag, &tag_size) ||
          !tb_field(value, value + value_size, 2, NULL, &number, &number_size)) {
        ok = false;
        break;
      }
      float v;
      memcpy(&v, number, sizeof v);
      const size_t used = strlen(out);
      snprintf(out + used, size - used, "%.*s %lld %.9g\n", (int)tag_size,
               (const char *)tag, (long long)step, (double)v);
    }
    fclose(f);
    ++*files;
  }
  return ok;
}

#endif
