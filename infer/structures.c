#include "infer/structures.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/file_list.h"

segc_status segc_structures_table(const char *labels_path, int classes,
                                  segc_label_table *out) {
  memset(out, 0, sizeof *out);
  if (classes < 2 || classes > 256)
    return SEGC_FAIL(SEGC_ERR_INVALID, "%d classes: labels need 2..256",
                     classes);
  if (labels_path && labels_path[0] && segc_data_is_file(labels_path)) {
    SEGC_TRY(segc_labels_load(labels_path, out));
    if (out->count != classes) {
      const int count = out->count;
      segc_labels_free(out);
      return SEGC_FAIL(SEGC_ERR_INVALID,
                       "%s names %d classes, the network has %d outputs",
                       labels_path, count, classes);
    }
    return SEGC_OK;
  }
  if (classes == SEGC_BUNDLE_CLASS_COUNT) return segc_labels_bundle(out);
  out->names = calloc((size_t)classes, sizeof *out->names);
  if (!out->names) return SEGC_FAIL(SEGC_ERR_NOMEM, "labels: out of memory");
  out->count = classes;
  for (int c = 0; c < classes; ++c) {
    char name[32];
    if (c == 0) snprintf(name, sizeof name, "background");
    else snprintf(name, sizeof name, "class_%d", c);
    out->names[c] = strdup(name);
    if (!out->names[c]) {
      segc_labels_free(out);
      return SEGC_FAIL(SEGC_ERR_NOMEM, "labels: out of memory");
    }
  }
  return SEGC_OK;
}

segc_status segc_structures_for_setting(const char *labels, bool is_default,
                                        int classes, segc_label_table *out) {
  memset(out, 0, sizeof *out);
  if (!labels || !labels[0] ||
      (is_default && classes != SEGC_BUNDLE_CLASS_COUNT))
    return segc_structures_table(NULL, classes, out);
  if (!is_default) {
    struct stat st;
    if (stat(labels, &st) != 0)
      return SEGC_FAIL(SEGC_ERR_IO, "labels %s: %s (the labels setting names "
                       "the class names JSON)", labels, strerror(errno));
    if (!S_ISREG(st.st_mode))
      return SEGC_FAIL(SEGC_ERR_INVALID, "labels %s: not a file (the labels "
                       "setting names the class names JSON)", labels);
  }
  return segc_structures_table(labels, classes, out);
}

// Levenshtein distance, case-insensitive, capped at 64 characters.
static int edit_distance(const char *a, const char *b) {
  enum { kMax = 64 };
  const size_t n = strlen(a) < kMax ? strlen(a) : kMax;
  const size_t m = strlen(b) < kMax ? strlen(b) : kMax;
  int row[kMax + 1];
  for (size_t j = 0; j <= m; ++j) row[j] = (int)j;
  for (size_t i = 1; i <= n; ++i) {
    int diagonal = row[0];
    row[0] = (int)i;
    for (size_t j = 1; j <= m; ++j) {
      const int above = row[j];
      const int cost = tolower((unsigned char)a[i - 1]) !=
                       tolower((unsigned char)b[j - 1]);
      int best = diagonal + cost;
      if (above + 1 < best) best = above + 1;
      if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
      row[j] = best;
      diagonal = above;
    }
  }
  return row[m];
}

static bool contains_ignoring_case(const char *haystack, const char *needle) {
  const size_t n = strlen(needle);
  if (n == 0) return false;
  for (const char *h = haystack; *h; ++h) {
    size_t i = 0;
    while (i < n && h[i] &&
           tolower((unsigned char)h[i]) == tolower((unsigned char)needle[i]))
      ++i;
    if (i == n) return true;
  }
  return false;
}

void segc_structures_suggest(const segc_label_table *table, const char *name,
                             int max_matches, char *out, size_t size) {
  if (size) out[0] = '\0';
  // Rank: names containing the query first (rank 0), then by edit distance
  // (1 + distance) when within max(2, length / 3).
  const int len = (int)strlen(name);
  const int limit = len / 3 > 2 ? len / 3 : 2;
  size_t used = 0;
  int listed = 0;
  for (int rank = 0; rank <= limit + 1 && listed < max_matches; ++rank)
    for (int c = 1; c < table->count && listed < max_matches; ++c) {
      const char *candidate = table->names[c];
      const int r = contains_ignoring_case(candidate, name)
                        ? 0
                        : 1 + edit_distance(name, candidate);
      if (r != rank || r > limit + 1) continue;
      const int n = snprintf(out + used, size > used ? size - used : 0, "%s%s",
                             listed ? ", " : "", candidate);
      if (n > 0) used += (size_t)n;
      if (used >= size) used = size ? size - 1 : 0;
      ++listed;
    }
}

segc_status segc_structures_select(const segc_label_table *table,
                                   const char *list, bool *selected) {
  for (int c = 0; c < table->count; ++c) selected[c] = false;
  const char *p = list;
  int chosen = 0;
  while (*p) {
    const char *end = strchr(p, ',');
    const size_t n = end ? (size_t)(end - p) : strlen(p);
    char name[256];
    if (n == 0 || n >= sizeof name)
      return SEGC_FAIL(SEGC_ERR_INVALID,
                       "--roi: empty or overlong structure name in '%s'", list);
    memcpy(name, p, n);
    name[n] = '\0';
    const int index = segc_labels_find(table, name);
    if (index == 0)
      return SEGC_FAIL(SEGC_ERR_INVALID,
                       "--roi: 'background' is not a structure");
    if (index < 0) {
      char close[512];
      segc_structures_suggest(table, name, 5, close, sizeof close);
      if (close[0])
        return SEGC_FAIL(SEGC_ERR_INVALID,
                         "--roi: unknown structure '%s' (close: %s)", name,
                         close);
      return SEGC_FAIL(SEGC_ERR_INVALID,
                       "--roi: unknown structure '%s' (none close; "
                       "--list-structures prints all %d)",
                       name, table->count - 1);
    }
    if (!selected[index]) chosen++;
    selected[index] = true;
    p += n;
    if (*p == ',') ++p;
  }
  if (chosen == 0)
    return SEGC_FAIL(SEGC_ERR_INVALID, "--roi: no structure named");
  return SEGC_OK;
}
