// One seginfer case from file to files: read the CT, segment it, derive the
// requested outputs (multilabel or one mask per structure, chosen
// structures, statistics, preview, the preprocessed network input) and write
// them all or none (infer/output_stage.h).
#ifndef SEGC_INFER_INFER_CASE_H
#define SEGC_INFER_INFER_CASE_H

#include <stdbool.h>

#include "data/labels.h"
#include "infer/infer_pipeline.h"
#include "infer/infer_report.h"

typedef struct {
  const segc_label_table *names;  // one name per network output
  const bool *selected;     // chosen structures (names->count entries), or NULL
  bool split;               // one mask per structure instead of a multilabel
  bool stats;               // per-structure statistics (JSON and CSV)
  segc_dtype output_dtype;  // SEGC_U8 or SEGC_F32 (the bundle's float32)
  const char *weights;      // recorded in the sidecar
  bool no_nifti;            // --output-type dicom-seg: no NIfTI masks
} segc_case_options;

// Where things go. With `folder` set, every name except preview and
// preprocessed is a file name inside that folder, and the folder is written
// as a whole (split masks land in it too). Without, every path is a file
// path of its own. NULL entries are not written.
typedef struct {
  const char *input;
  const char *folder;
  const char *label;        // the multilabel file (not with split)
  const char *sidecar;
  const char *stats_json;
  const char *stats_csv;
  const char *preview;      // PNG path
  const char *preprocessed; // NIfTI path of the network input
  // The DICOM SEG (data/dicom_seg_write.h), inside `folder` when it is set;
  // the input must then be a DICOM series.
  const char *dicom_seg;
} segc_case_paths;

// Runs one case. Every output target is checked for writability before the
// network runs. row (may be NULL) receives the timings and the peak RSS.
segc_status segc_infer_case(segc_infer_model *model,
                            const segc_infer_settings *settings,
                            const segc_case_options *options,
                            const segc_case_paths *paths,
                            segc_infer_report_row *row);

#endif
