#include "infer/case_plan.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "infer/infer_report.h"

static segc_status format(char *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static segc_status format(char *out, const char *fmt, ...) {
  va_list args;
  va_start(args, fmt);
  const int n = vsnprintf(out, SEGC_PLAN_PATH_MAX, fmt, args);
  va_end(args);
  if (n < 0 || n >= SEGC_PLAN_PATH_MAX)
    return SEGC_FAIL(SEGC_ERR_INVALID, "output path too long (%.80s...)", out);
  return SEGC_OK;
}

// Length of `path` without a .nii.gz / .nii (/ .dcm when `dcm`) ending, or
// -1 when it has none.
static int stem_length(const char *path, bool dcm) {
  const size_t n = strlen(path);
  if (dcm && n > 4 && !strcmp(path + n - 4, ".dcm")) return (int)n - 4;
  if (n > 7 && !strcmp(path + n - 7, ".nii.gz")) return (int)n - 7;
  if (n > 4 && !strcmp(path + n - 4, ".nii")) return (int)n - 4;
  return -1;
}

static segc_status plan_single(const segc_output_layout *l, segc_case_plan *p) {
  if (l->split) {
    SEGC_TRY(format(p->folder, "%s", l->output));
    SEGC_TRY(format(p->sidecar, "segmentation.json"));
    if (l->stats) {
      SEGC_TRY(format(p->stats_json, "statistics.json"));
      SEGC_TRY(format(p->stats_csv, "statistics.csv"));
    }
    if (l->dicom_seg) SEGC_TRY(format(p->dicom_seg, "segmentation.dcm"));
  } else {
    const int stem = stem_length(l->output, l->dicom_seg);
    if (stem < 0)
      return SEGC_FAIL(SEGC_ERR_INVALID,
                       "-o %s: a label file must end in .nii.gz or .nii%s "
                       "(with --split, -o names a folder)", l->output,
                       l->dicom_seg ? " (a DICOM SEG in .dcm)" : "");
    const bool named_dcm = l->dicom_seg && stem == (int)strlen(l->output) - 4;
    if (!l->no_nifti && named_dcm)
      SEGC_TRY(format(p->label, "%.*s.nii.gz", stem, l->output));
    else if (!l->no_nifti)
      SEGC_TRY(format(p->label, "%s", l->output));
    if (l->dicom_seg) SEGC_TRY(format(p->dicom_seg, "%.*s.dcm", stem, l->output));
    SEGC_TRY(format(p->sidecar, "%.*s.json", stem, l->output));
    if (l->stats) {
      SEGC_TRY(format(p->stats_json, "%.*s_stats.json", stem, l->output));
      SEGC_TRY(format(p->stats_csv, "%.*s_stats.csv", stem, l->output));
    }
  }
  if (l->preview) SEGC_TRY(format(p->preview, "%s", l->preview));
  if (l->preprocessed) SEGC_TRY(format(p->preprocessed, "%s", l->preprocessed));
  return SEGC_OK;
}

static segc_status plan_several(const segc_output_layout *l, const char *name,
                                segc_case_plan *p) {
  char base[SEGC_PLAN_PATH_MAX];
  if (l->postfix && l->postfix[0])
    SEGC_TRY(format(base, "%s_%s", name, l->postfix));
  else
    SEGC_TRY(format(base, "%s", name));
  const bool in_folder = l->split || l->separate_folder;
  // Inside a case folder names are relative to it; otherwise full paths.
  char prefix[SEGC_PLAN_PATH_MAX] = "";
  if (in_folder) SEGC_TRY(format(p->folder, "%s/%s", l->output, name));
  else SEGC_TRY(format(prefix, "%s/", l->output));
  if (l->split) {
    SEGC_TRY(format(p->sidecar, "segmentation.json"));
    if (l->stats) {
      SEGC_TRY(format(p->stats_json, "statistics.json"));
      SEGC_TRY(format(p->stats_csv, "statistics.csv"));
    }
  } else {
    if (!l->no_nifti)
      SEGC_TRY(format(p->label, "%s%s%s", prefix, base, l->ext));
    SEGC_TRY(format(p->sidecar, "%s%s.json", prefix, base));
    if (l->stats) {
      SEGC_TRY(format(p->stats_json, "%s%s_stats.json", prefix, name));
      SEGC_TRY(format(p->stats_csv, "%s%s_stats.csv", prefix, name));
    }
  }
  if (l->dicom_seg) {
    if (l->split) SEGC_TRY(format(p->dicom_seg, "segmentation.dcm"));
    else SEGC_TRY(format(p->dicom_seg, "%s%s.dcm", prefix, base));
  }
  if (l->preview) SEGC_TRY(format(p->preview, "%s/%s.png", l->preview, name));
  if (l->preprocessed)
    SEGC_TRY(format(p->preprocessed, "%s/%s.nii.gz", l->preprocessed, name));
  return SEGC_OK;
}

static const char *or_null(const char *s) { return s[0] ? s : NULL; }

segc_status segc_plan_case(const segc_output_layout *layout, const char *input,
                           segc_case_plan *plan) {
  memset(plan, 0, sizeof *plan);
  if (!layout->output || !layout->output[0])
    return SEGC_FAIL(SEGC_ERR_INVALID, "no output given (-o)");
  char name[256];
  segc_case_name(input, name, sizeof name);
  if (!name[0])
    return SEGC_FAIL(SEGC_ERR_INVALID, "input '%s' has no file name", input);
  if (layout->several) SEGC_TRY(plan_several(layout, name, plan));
  else SEGC_TRY(plan_single(layout, plan));
  plan->paths.input = input;
  plan->paths.folder = or_null(plan->folder);
  plan->paths.label = or_null(plan->label);
  plan->paths.sidecar = or_null(plan->sidecar);
  plan->paths.stats_json = or_null(plan->stats_json);
  plan->paths.stats_csv = or_null(plan->stats_csv);
  plan->paths.preview = or_null(plan->preview);
  plan->paths.preprocessed = or_null(plan->preprocessed);
  plan->paths.dicom_seg = or_null(plan->dicom_seg);
  return SEGC_OK;
}

segc_status segc_plan_check_names(const char *const *inputs, int count) {
  for (int a = 0; a < count; ++a)
    for (int b = a + 1; b < count; ++b) {
      char na[256], nb[256];
      segc_case_name(inputs[a], na, sizeof na);
      segc_case_name(inputs[b], nb, sizeof nb);
      if (!strcmp(na, nb))
        return SEGC_FAIL(SEGC_ERR_INVALID,
                         "inputs %s and %s have the same case name '%s'; "
                         "their outputs would collide", inputs[a], inputs[b],
                         na);
    }
  return SEGC_OK;
}
