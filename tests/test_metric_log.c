// Metric logs: records appended to JSON lines (parsed back with cJSON) and
// CSV (parsed back here), reopening appends without a second header, changed
// columns are refused without writing anything, a crash's partial line is
// cut, and missing folders and bad names give clear errors.
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/metric_log.h"
#include "util/test_util.h"

enum { kMaxLines = 32 };

// Reads a whole text file into lines (without '\n'); returns the count, or
// -1. *ends_with_newline tells whether the last byte is '\n'.
static int read_lines(const char *path, char lines[kMaxLines][512],
                      bool *ends_with_newline) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  int n = 0, c, len = 0, last = '\n';
  while ((c = fgetc(f)) != EOF) {
    last = c;
    if (c == '\n') {
      lines[n][len] = '\0';
      if (++n == kMaxLines) break;
      len = 0;
    } else if (len < 511) {
      lines[n][len++] = (char)c;
    }
  }
  if (last != '\n' && n < kMaxLines) lines[n++][len] = '\0';
  fclose(f);
  if (ends_with_newline) *ends_with_newline = last == '\n';
  return n;
}

static double json_number(const cJSON *object, const char *name) {
  const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, name);
  return cJSON_IsNumber(item) ? item->valuedouble : cJSON_IsNull(item) ? NAN : -12345.0;
}

// The k-th comma-separated field of a CSV row, as a double.
static double csv_field(const char *row, int k) {
  for (int i = 0; i < k && row; ++i) {
    row = strchr(row, ',');
    if (row) row++;
  }
  return row ? strtod(row, NULL) : -12345.0;
}

static int test_append_and_resume(const char *dir) {
  segc_metric_log *log;
  CHECK_OK(segc_metric_log_open(dir, "train", &log));
  // Values that need all 17 digits, tiny and huge ones, and an integer step.
  const double loss[3] = {0.1 + 0.2, 1.0 / 3.0, 2.5e-12};
  for (int s = 0; s < 3; ++s) {
    const segc_metric m[5] = {{"step", 100.0 * s}, {"epoch", s / 2},
                              {"loss", loss[s]}, {"lr", 1e-4 * (s + 1)},
                              {"crops_per_second", 123456789.125}};
    CHECK_OK(segc_metric_log_write(log, m, 5));
  }
  CHECK_OK(segc_metric_log_close(log));

  // Reopen: columns in another order, a NaN; the header is not repeated.
  CHECK_OK(segc_metric_log_open(dir, "train", &log));
  const segc_metric later[5] = {{"loss", NAN}, {"crops_per_second", -INFINITY},
                                {"lr", 5e-5}, {"epoch", 2}, {"step", 300}};
  CHECK_OK(segc_metric_log_write(log, later, 5));
  // A different column set is refused and writes nothing.
  const segc_metric fewer[2] = {{"step", 400}, {"loss", 0.5}};
  CHECK_FAILS(segc_metric_log_write(log, fewer, 2), SEGC_ERR_INVALID,
              "record has columns (step, loss) but the header has (step, epoch, loss, lr, "
              "crops_per_second)");
  const segc_metric renamed[5] = {{"step", 400}, {"epoch", 2}, {"loss", 0.5},
                                  {"lr", 1e-5}, {"crops_per_sec", 1}};
  CHECK_FAILS(segc_metric_log_write(log, renamed, 5), SEGC_ERR_INVALID,
              "but the header has");
  char csv_path[4096], jsonl_path[4096];
  snprintf(csv_path, sizeof csv_path, "%s", segc_metric_log_csv_path(log));
  snprintf(jsonl_path, sizeof jsonl_path, "%s", segc_metric_log_jsonl_path(log));
  CHECK_OK(segc_metric_log_close(log));

  static char lines[kMaxLines][512];
  bool newline = false;
  int n = read_lines(csv_path, lines, &newline);
  CHECK(n == 5 && newline, "csv has %d lines (header + 4 rows)", n);
  CHECK(strcmp(lines[0], "step,epoch,loss,lr,crops_per_second") == 0, "header '%s'",
        lines[0]);
  int wrong = 0;
  for (int s = 0; s < 3 && n == 5; ++s)
    wrong += csv_field(lines[1 + s], 0) != 100.0 * s || csv_field(lines[1 + s], 1) != s / 2 ||
             csv_field(lines[1 + s], 2) != loss[s] ||
             csv_field(lines[1 + s], 3) != 1e-4 * (s + 1) ||
             csv_field(lines[1 + s], 4) != 123456789.125;
  CHECK(wrong == 0, "%d csv rows do not read back exactly", wrong);
  CHECK(n == 5 && strcmp(lines[4], "300,2,nan,5e-05,-inf") == 0,
        "resumed row in header order: '%s'", n == 5 ? lines[4] : "");
  CHECK(n == 5 && strcmp(lines[1], "0,0,0.30000000000000004,0.0001,123456789.125") == 0,
        "shortest exact numbers: '%s'", lines[1]);

  n = read_lines(jsonl_path, lines, &newline);
  CHECK(n == 4 && newline, "jsonl has %d lines", n);
  wrong = 0;
  for (int s = 0; s < n; ++s) {
    cJSON *object = cJSON_Parse(lines[s]);
    if (!cJSON_IsObject(object)) {
      wrong++;
    } else if (s < 3) {
      wrong += json_number(object, "step") != 100.0 * s ||
               json_number(object, "loss") != loss[s] ||
               json_number(object, "crops_per_second") != 123456789.125 ||
               cJSON_GetArraySize(object) != 5;
    } else {
      wrong += !isnan(json_number(object, "loss")) || json_number(object, "step") != 300 ||
               !isnan(json_number(object, "crops_per_second"));  // null for -inf
    }
    cJSON_Delete(object);
  }
  CHECK(wrong == 0, "%d json lines do not parse back to the record", wrong);
  return 0;
}

static int test_partial_line_and_header(const char *dir) {
  // A crash left half a row: reopening cuts it, later rows are whole.
  const char *csv = test_path(dir, "val.csv");
  FILE *f = fopen(csv, "w");
  CHECK(f && fputs("step,dice\n10,0.5\n20,0.7", f) >= 0 && fclose(f) == 0, "seed %s", csv);
  segc_metric_log *log;
  CHECK_OK(segc_metric_log_open(dir, "val", &log));
  const segc_metric m[2] = {{"dice", 0.75}, {"step", 30}};
  CHECK_OK(segc_metric_log_write(log, m, 2));
  CHECK_OK(segc_metric_log_close(log));
  static char lines[kMaxLines][512];
  const int n = read_lines(csv, lines, NULL);
  CHECK(n == 3 && strcmp(lines[1], "10,0.5") == 0 && strcmp(lines[2], "30,0.75") == 0,
        "partial row cut, new row appended (%d lines, last '%s')", n,
        n > 0 ? lines[n - 1] : "");

  // An existing header fixes the columns for a fresh writer too.
  f = fopen(test_path(dir, "other.csv"), "w");
  CHECK(f && fputs("epoch,loss\n", f) >= 0 && fclose(f) == 0, "seed other.csv");
  CHECK_OK(segc_metric_log_open(dir, "other", &log));
  const segc_metric wrong_set[2] = {{"step", 1}, {"loss", 1}};
  CHECK_FAILS(segc_metric_log_write(log, wrong_set, 2), SEGC_ERR_INVALID,
              "but the header has (epoch, loss)");
  CHECK_OK(segc_metric_log_close(log));
  // A header that is not metric names.
  f = fopen(test_path(dir, "garbled.csv"), "w");
  CHECK(f && fputs("step,\"lo ss\"\n", f) >= 0 && fclose(f) == 0, "seed garbled.csv");
  CHECK_FAILS(segc_metric_log_open(dir, "garbled", &log), SEGC_ERR_FORMAT,
              "header is not a list of metric names");
  return 0;
}

static int test_errors(const char *dir) {
  segc_metric_log *log = NULL;
  CHECK_FAILS(segc_metric_log_open(test_path(dir, "no/such"), "train", &log), SEGC_ERR_IO,
              "does not exist");
  CHECK(log == NULL, "no log on failure");
  CHECK_FAILS(segc_metric_log_open(dir, "a,b", &log), SEGC_ERR_INVALID, "bad folder or log name");
  CHECK_OK(segc_metric_log_open(dir, "names", &log));
  const segc_metric comma[1] = {{"lo,ss", 1}};
  CHECK_FAILS(segc_metric_log_write(log, comma, 1), SEGC_ERR_INVALID, "bad metric name 'lo,ss'");
  const segc_metric twice[2] = {{"loss", 1}, {"loss", 2}};
  CHECK_FAILS(segc_metric_log_write(log, twice, 2), SEGC_ERR_INVALID, "'loss' given twice");
  CHECK_FAILS(segc_metric_log_write(log, twice, 0), SEGC_ERR_INVALID, "got 0");
  CHECK_OK(segc_metric_log_close(log));
  CHECK_OK(segc_metric_log_close(NULL));
  return 0;
}

int main(void) {
  char dir[4096];  // test_temp_dir reuses its buffer
  snprintf(dir, sizeof dir, "%s", test_temp_dir("metric_log"));
  if (test_append_and_resume(dir) || test_partial_line_and_header(dir) || test_errors(dir))
    return 1;  // a CHECK_OK stopped a part and said why
  return test_finish("metric_log");
}
