// seginfer's latency and memory report, in the form of the bundle's
// benchmark table (Total, Pre, Inferer, Invert, Post, Write seconds, and
// memory), one row per case, printed as a Markdown table and written as JSON.
#ifndef SEGC_INFER_INFER_REPORT_H
#define SEGC_INFER_INFER_REPORT_H

#include <stddef.h>
#include <stdio.h>

#include "infer/infer_pipeline.h"

typedef struct {
  char name[256];            // case name (input file without folder and .nii.gz)
  char input[4096];
  char output[4096];
  segc_infer_timings timings;
  size_t peak_rss_bytes;     // process peak RSS when the case finished
} segc_infer_report_row;

typedef struct {
  int threads;
  const segc_infer_settings *settings;
  const char *weights;
  const segc_infer_report_row *rows;
  int count;
} segc_infer_report;

void segc_infer_report_print(const segc_infer_report *report, FILE *out);
// {"threads", "compute_dtype", "compute_dtype_reason" (why: auto's
//  decision or what was asked), "pixdim", "sw_batch_size", "weights",
//  "cases": [{"name", "input", "output", "input_shape", "network_grid",
//  "windows", "seconds": {"total", "pre", "inferer", "invert", "post",
//  "write", "predict", "blend", "argmax"}, "windows_per_second",
//  "accumulator_bytes", "peak_rss_bytes"}], "peak_rss_bytes"}
segc_status segc_infer_report_write_json(const segc_infer_report *report,
                                         const char *path);

// The case name of an input path: its file name without .nii.gz / .nii.
void segc_case_name(const char *path, char *name, size_t size);

#endif
