// Per-case, per-class metric values and the reports MONAI's MetricsSaver
// writes for them (monai/handlers/utils.py write_metrics_reports, delimiter
// ",", summary_ops "*"):
//   <metric>_raw.csv      filename,<class>,...,mean   one row per case, values
//                         %.4f, "nan" for classes absent from the case's
//                         label; "mean" is the row's nanmean
//   <metric>_summary.csv  class,mean,median,max,min,90percentile,std,notnans
//                         one row per class and one for the "mean" column,
//                         numpy's nan-aware statistics (std with ddof 0,
//                         percentile with linear interpolation)
//   metrics.csv           <metric>,<value> per metric: MONAI's MEAN
//                         reduction (per case the mean over classes present,
//                         then the mean over cases with any class present)
// Class columns are named by the label table (MonAI's default names them
// class0..classN-1 after dropping background, i.e. shifted by one).
#ifndef SEGC_INFER_EVAL_TABLE_H
#define SEGC_INFER_EVAL_TABLE_H

#include <stdbool.h>
#include <stdio.h>

#include "data/labels.h"
#include "infer/metrics.h"

typedef struct {
  int classes;        // K including background; columns are 1..K-1
  bool with_nsd;
  int cases, capacity;
  char **files;       // per case: the file name reported
  double *dice;       // cases x K ([0] of each row unused)
  double *nsd;        // cases x K, when with_nsd
} segc_eval_table;

void segc_eval_table_init(segc_eval_table *t, int classes, bool with_nsd);
void segc_eval_table_free(segc_eval_table *t);
// Adds one case (m->classes must equal the table's; nsd when with_nsd).
segc_status segc_eval_table_add(segc_eval_table *t, const char *file,
                                const segc_case_metrics *m);

// MONAI's MEAN reduction of a cases x K table (columns 1..K-1): NaN when no
// case has any value.
double segc_eval_mean(const double *values, int cases, int classes);

// numpy's nan-aware column statistics over `count` values (NaNs skipped):
// mean, median, max, min, 90th percentile (linear), std (ddof 0), and the
// number of non-NaN values. All NaN (count 0) when no value is finite.
typedef struct {
  double mean, median, max, min, p90, std;
  int notnans;
} segc_column_summary;
segc_column_summary segc_summarize(const double *values, int count, int stride);

// Writes the raw and summary CSVs of the Dice (nsd false) or the NSD.
segc_status segc_eval_write_metric(const segc_eval_table *t, bool nsd,
                                   const segc_label_table *names,
                                   const char *raw_path,
                                   const char *summary_path);
// metrics.csv: "mean_dice,<v>" and, with NSD, "mean_nsd,<v>".
segc_status segc_eval_write_overall(const segc_eval_table *t,
                                    const char *path);

#endif
