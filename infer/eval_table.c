#include "infer/eval_table.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io/atomic_file.h"

void segc_eval_table_init(segc_eval_table *t, int classes, bool with_nsd) {
  memset(t, 0, sizeof *t);
  t->classes = classes;
  t->with_nsd = with_nsd;
}

void segc_eval_table_free(segc_eval_table *t) {
  for (int i = 0; i < t->cases; ++i) free(t->files[i]);
  free(t->files);
  free(t->dice);
  free(t->nsd);
  memset(t, 0, sizeof *t);
}

segc_status segc_eval_table_add(segc_eval_table *t, const char *file,
                                const segc_case_metrics *m) {
  if (m->classes != t->classes || (t->with_nsd && !m->nsd))
    return SEGC_FAIL(SEGC_ERR_INTERNAL, "eval table: %d classes%s, case has %d",
                     t->classes, t->with_nsd ? " with NSD" : "", m->classes);
  if (t->cases == t->capacity) {
    const int capacity = t->capacity ? 2 * t->capacity : 16;
    const size_t row = sizeof(double) * (size_t)t->classes;
    char **files = realloc(t->files, sizeof *files * (size_t)capacity);
    if (files) t->files = files;
    double *dice = realloc(t->dice, row * (size_t)capacity);
    if (dice) t->dice = dice;
    double *nsd = t->with_nsd ? realloc(t->nsd, row * (size_t)capacity) : NULL;
    if (nsd) t->nsd = nsd;
    if (!files || !dice || (t->with_nsd && !nsd))
      return SEGC_FAIL(SEGC_ERR_NOMEM, "eval table: out of memory");
    t->capacity = capacity;
  }
  t->files[t->cases] = strdup(file);
  if (!t->files[t->cases]) return SEGC_FAIL(SEGC_ERR_NOMEM, "eval table: out of memory");
  const size_t offset = (size_t)t->cases * (size_t)t->classes;
  memcpy(t->dice + offset, m->dice, sizeof(double) * (size_t)t->classes);
  if (t->with_nsd)
    memcpy(t->nsd + offset, m->nsd, sizeof(double) * (size_t)t->classes);
  t->cases++;
  return SEGC_OK;
}

double segc_eval_mean(const double *values, int cases, int classes) {
  double sum = 0.0;
  int counted = 0;
  for (int i = 0; i < cases; ++i) {
    const double m = segc_metrics_mean(values + (size_t)i * (size_t)classes, classes);
    if (isnan(m)) continue;
    sum += m;
    counted++;
  }
  return counted ? sum / counted : NAN;
}

static int compare_double(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

// numpy's percentile, method "linear", on sorted values.
static double percentile(const double *sorted, int n, double q) {
  const double position = q / 100.0 * (double)(n - 1);
  const int lo = (int)floor(position);
  const int hi = lo + 1 < n ? lo + 1 : lo;
  const double fraction = position - (double)lo;
  return sorted[lo] + (sorted[hi] - sorted[lo]) * fraction;
}

segc_column_summary segc_summarize(const double *values, int count, int stride) {
  segc_column_summary s = {NAN, NAN, NAN, NAN, NAN, NAN, 0};
  double *finite = malloc(sizeof(double) * (size_t)(count > 0 ? count : 1));
  if (!finite) return s;
  int n = 0;
  for (int i = 0; i < count; ++i) {
    const double v = values[(size_t)i * (size_t)stride];
    if (!isnan(v)) finite[n++] = v;
  }
  s.notnans = n;
  if (n > 0) {
    qsort(finite, (size_t)n, sizeof *finite, compare_double);
    double sum = 0.0;
    for (int i = 0; i < n; ++i) sum += finite[i];
    s.mean = sum / n;
    double squares = 0.0;
    for (int i = 0; i < n; ++i) squares += (finite[i] - s.mean) * (finite[i] - s.mean);
    s.std = sqrt(squares / n);
    s.min = finite[0];
    s.max = finite[n - 1];
    s.median = percentile(finite, n, 50.0);
    s.p90 = percentile(finite, n, 90.0);
  }
  free(finite);
  return s;
}

// Python's f"{v:.4f}": "nan" for NaN (printf may print "-nan").
static int format_value(char *out, size_t size, double v) {
  if (isnan(v)) return snprintf(out, size, "nan");
  if (isinf(v)) return snprintf(out, size, v > 0 ? "inf" : "-inf");
  return snprintf(out, size, "%.4f", v);
}

typedef struct {
  segc_atomic_file file;
  segc_status status;
} csv_writer;

static void put(csv_writer *w, const char *text) {
  if (w->status == SEGC_OK)
    w->status = segc_atomic_file_write(&w->file, text, strlen(text));
}

static void put_value(csv_writer *w, double v) {
  char text[64];
  text[0] = ',';
  format_value(text + 1, sizeof text - 1, v);
  put(w, text);
}

static segc_status finish(csv_writer *w) {
  if (w->status == SEGC_OK) return segc_atomic_file_commit(&w->file);
  segc_atomic_file_abort(&w->file);
  return w->status;
}

segc_status segc_eval_write_metric(const segc_eval_table *t, bool nsd,
                                   const segc_label_table *names,
                                   const char *raw_path,
                                   const char *summary_path) {
  const int K = t->classes;
  if (names->count < K)
    return SEGC_FAIL(SEGC_ERR_INVALID, "%d class names for %d classes",
                     names->count, K);
  const double *table = nsd ? t->nsd : t->dice;
  if (!table && t->cases > 0)
    return SEGC_FAIL(SEGC_ERR_INVALID, "no NSD values were computed");
  // The "mean" column: each case's nanmean over its classes.
  double *row_mean = malloc(sizeof(double) * (size_t)(t->cases > 0 ? t->cases : 1));
  if (!row_mean) return SEGC_FAIL(SEGC_ERR_NOMEM, "eval: out of memory");
  for (int i = 0; i < t->cases; ++i)
    row_mean[i] = segc_metrics_mean(table + (size_t)i * (size_t)K, K);

  csv_writer w = {.status = segc_atomic_file_open(&w.file, raw_path)};
  if (w.status == SEGC_OK) {
    put(&w, "filename");
    for (int c = 1; c < K; ++c) {
      put(&w, ",");
      put(&w, names->names[c]);
    }
    put(&w, ",mean\n");
    for (int i = 0; i < t->cases; ++i) {
      put(&w, t->files[i]);
      for (int c = 1; c < K; ++c) put_value(&w, table[(size_t)i * (size_t)K + (size_t)c]);
      put_value(&w, row_mean[i]);
      put(&w, "\n");
    }
  }
  segc_status status = finish(&w);
  if (status == SEGC_OK) {
    csv_writer s = {.status = segc_atomic_file_open(&s.file, summary_path)};
    if (s.status == SEGC_OK)
      put(&s, "class,mean,median,max,min,90percentile,std,notnans\n");
    for (int c = 1; c <= K && s.status == SEGC_OK; ++c) {
      const bool mean_row = c == K;
      const segc_column_summary m =
          mean_row ? segc_summarize(row_mean, t->cases, 1)
                   : segc_summarize(table + c, t->cases, K);
      put(&s, mean_row ? "mean" : names->names[c]);
      const double fields[7] = {m.mean, m.median, m.max, m.min, m.p90, m.std,
                                (double)m.notnans};
      for (int f = 0; f < 7; ++f) put_value(&s, fields[f]);
      put(&s, "\n");
    }
    status = finish(&s);
  }
  free(row_mean);
  return status;
}

// MONAI writes the overall values with str(): full precision.
static void put_overall(csv_writer *w, const char *metric, double v) {
  char line[128];
  if (isnan(v)) snprintf(line, sizeof line, "%s,nan\n", metric);
  else snprintf(line, sizeof line, "%s,%.10g\n", metric, v);
  put(w, line);
}

segc_status segc_eval_write_overall(const segc_eval_table *t, const char *path) {
  csv_writer w = {.status = segc_atomic_file_open(&w.file, path)};
  put_overall(&w, "mean_dice", segc_eval_mean(t->dice, t->cases, t->classes));
  if (t->with_nsd)
    put_overall(&w, "mean_nsd", segc_eval_mean(t->nsd, t->cases, t->classes));
  return finish(&w);
}
