// Metric logs a person or a script can read while training runs: each
// record (named numbers: step, epoch, time, loss, dice, lr,
// crops_per_second... whatever the caller gives) is appended as one JSON
// object to "<dir>/<name>.jsonl" and as one row to "<dir>/<name>.csv".
//
// The CSV's columns are fixed by its header: written with the first record
// of a new file, read back from an existing one. Every later record must
// have the same set of names (any order; rows follow the header's order);
// a different set is an error and nothing of that record is written. Use one
// log per kind of record (e.g. "train" per step, "val" per validation).
//
// Resume-friendly: opening an existing log appends to it and keeps its
// header; a partial last line (a crash mid-write) is cut off first. Each
// record is flushed before the call returns. Whole values are written as
// integers, others in the shortest form that reads back to the same double;
// NaN and Inf become null in JSON and nan / inf / -inf in the CSV. Names are
// 1..64 characters of A-Z a-z 0-9 _ . / - (nothing to quote or escape).
#ifndef SEGC_TRAIN_METRIC_LOG_H
#define SEGC_TRAIN_METRIC_LOG_H

#include "core/status.h"

enum { SEGC_METRIC_MAX_COLUMNS = 64, SEGC_METRIC_MAX_NAME = 64 };

typedef struct {
  const char *name;
  double value;
} segc_metric;

typedef struct segc_metric_log segc_metric_log;

// Opens (creating when absent) both files; the folder must exist.
segc_status segc_metric_log_open(const char *dir, const char *name,
                                 segc_metric_log **out);
// Appends one record of `count` metrics to both files.
segc_status segc_metric_log_write(segc_metric_log *log,
                                  const segc_metric *metrics, int count);
// Closes both files (checked) and frees log; NULL is fine.
segc_status segc_metric_log_close(segc_metric_log *log);

const char *segc_metric_log_csv_path(const segc_metric_log *log);
const char *segc_metric_log_jsonl_path(const segc_metric_log *log);

#endif
