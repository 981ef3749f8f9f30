// Where seginfer puts each case's outputs.
//
// --output-type nifti (default), dicom-seg or nifti,dicom-seg: the DICOM SEG
// (a DICOM series input only) is <stem>.dcm beside the label (the label
// <stem>.nii.gz left out with dicom-seg alone; then -o may name the .dcm),
// FOLDER/<case>_<postfix>.dcm with several inputs, DIR/segmentation.dcm with
// --split.
//
// One input (-o names the result):
//   multilabel  -o OUT.nii.gz -> OUT.nii.gz, OUT.json (sidecar),
//               OUT_stats.json / OUT_stats.csv (--stats)
//   --split     -o DIR -> DIR/<structure>.nii.gz, DIR/segmentation.json,
//               DIR/statistics.json / .csv
// Several inputs (-o names a folder, created when missing), as the bundle's
// SaveImaged (output_postfix, output_ext, separate_folder from the config):
//   multilabel  FOLDER/<case>/<case>_<postfix><ext> (separate_folder) or
//               FOLDER/<case>_<postfix><ext>, with <case>_<postfix>.json and
//               <case>_stats.json / .csv beside it
//   --split     FOLDER/<case>/ as DIR above
// --preview and --save-preprocessed name a file for one input and a folder
// for several (<case>.png, <case>.nii.gz).
#ifndef SEGC_INFER_CASE_PLAN_H
#define SEGC_INFER_CASE_PLAN_H

#include <stdbool.h>

#include "infer/infer_case.h"

typedef struct {
  bool several;               // more than one input
  bool split;
  bool stats;
  const char *output;         // -o
  const char *preview;        // --preview, or NULL
  const char *preprocessed;   // --save-preprocessed, or NULL
  const char *postfix;        // "trans" ("" for none)
  const char *ext;            // ".nii.gz" or ".nii"
  bool separate_folder;
  bool no_nifti;              // no NIfTI label (dicom-seg alone)
  bool dicom_seg;             // a DICOM SEG
} segc_output_layout;

enum { SEGC_PLAN_PATH_MAX = 4096 };

typedef struct {
  char folder[SEGC_PLAN_PATH_MAX];
  char label[SEGC_PLAN_PATH_MAX];
  char sidecar[SEGC_PLAN_PATH_MAX];
  char stats_json[SEGC_PLAN_PATH_MAX];
  char stats_csv[SEGC_PLAN_PATH_MAX];
  char preview[SEGC_PLAN_PATH_MAX];
  char preprocessed[SEGC_PLAN_PATH_MAX];
  char dicom_seg[SEGC_PLAN_PATH_MAX];
  segc_case_paths paths;      // points into the buffers above
} segc_case_plan;

// Fills the plan for one input. For one input without --split, the output
// must end in .nii.gz or .nii (or .dcm with dicom-seg).
segc_status segc_plan_case(const segc_output_layout *layout, const char *input,
                           segc_case_plan *plan);

// Checks that the case names of several inputs are distinct (their outputs
// would overwrite each other), naming the two inputs.
segc_status segc_plan_check_names(const char *const *inputs, int count);

#endif
