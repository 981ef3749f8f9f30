// Checks seginfer makes over every output of a run before any work starts
// (before the checkpoint is read or a folder is made), so that a bad output
// path costs nothing and leaves nothing:
//   - no output would replace an input: the same file reached by the same
//     path, another spelling of it, a symlink or a hard link (same device
//     and inode), for every case's label, sidecar, statistics and --split
//     masks, the --preview and --save-preprocessed files and the --report;
//   - every output's folder exists and can be written, or is a folder the
//     run creates (-o, --preview, --save-preprocessed with several inputs)
//     and that can be created;
//   - a file output is not an existing folder;
//   - no two outputs of the run share a path (--report on the label...).
// Messages name the option and the path as the user gave it.
#ifndef SEGC_INFER_OUTPUT_CHECK_H
#define SEGC_INFER_OUTPUT_CHECK_H

#include <stdbool.h>

#include "data/labels.h"
#include "infer/case_plan.h"

typedef struct {
  const segc_output_layout *layout;
  const char *const *inputs;
  int input_count;
  const char *report;              // --report, or NULL
  const segc_label_table *names;   // the classes (--split writes one mask each)
  const bool *selected;            // chosen classes, or NULL for all
} segc_output_check;

segc_status segc_check_outputs(const segc_output_check *check);

#endif
