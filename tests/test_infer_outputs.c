// seginfer's library pieces without a network: structure names and close
// matches, the all-or-nothing output stage (commit into a new folder, an
// empty one and one holding the user's files; abort), the output layout of
// one and several cases, label restriction and per-structure statistics
// against sums made here, and numpy's nan-aware summaries.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "infer/case_plan.h"
#include "infer/eval_table.h"
#include "infer/infer_outputs.h"
#include "infer/output_stage.h"
#include "infer/structures.h"
#include "seginfer_test_support.h"
#include "util/test_util.h"

static char temp[1024];

static int test_structures(void) {
  segc_label_table names;
  CHECK_OK(segc_structures_table(NULL, 105, &names));
  bool selected[105];
  CHECK_OK(segc_structures_select(&names, "liver,spleen,liver", selected));
  int chosen = 0;
  for (int c = 0; c < 105; ++c) chosen += selected[c];
  CHECK(chosen == 2 && selected[5] && selected[1], "liver and spleen chosen");
  CHECK_FAILS(segc_structures_select(&names, "livr", selected), SEGC_ERR_INVALID,
              "close: liver");
  // "kidney" is part of several names: all of them are suggested.
  CHECK_FAILS(segc_structures_select(&names, "spleen,kidney", selected),
              SEGC_ERR_INVALID, "kidney_right, kidney_left");
  CHECK_FAILS(segc_structures_select(&names, "background", selected),
              SEGC_ERR_INVALID, "not a structure");
  CHECK_FAILS(segc_structures_select(&names, "liver,,spleen", selected),
              SEGC_ERR_INVALID, "empty");
  CHECK_FAILS(segc_structures_select(&names, "qqqqqqqqqqqqqqqq", selected),
              SEGC_ERR_INVALID, "none close");
  segc_labels_free(&names);
  CHECK_OK(segc_structures_table(NULL, 4, &names));
  CHECK(names.count == 4 && !strcmp(names.names[0], "background") &&
            !strcmp(names.names[3], "class_3"),
        "generic names");
  segc_labels_free(&names);
  return 0;
}

static bool write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  if (!f) return false;
  const bool ok = fputs(text, f) >= 0;
  return fclose(f) == 0 && ok;
}

static int test_stage(void) {
  char path[2048], final_file[2048], final_folder[2048];
  // New file + new folder, committed.
  segc_output_stage stage;
  segc_output_stage_init(&stage);
  const char *tf, *td;
  snprintf(final_file, sizeof final_file, "%s/a.json", temp);
  snprintf(final_folder, sizeof final_folder, "%s/masks", temp);
  CHECK_OK(segc_output_stage_file(&stage, final_file, &tf));
  CHECK_OK(segc_output_stage_folder(&stage, final_folder, &td));
  CHECK(test_contains(tf, ".segc-tmp.") && test_contains(tf, "a.json"),
        "temporary name '%s' keeps the ending", tf);
  CHECK(write_text(tf, "{}\n"), "write %s", tf);
  snprintf(path, sizeof path, "%s/x.nii.gz", td);
  CHECK(write_text(path, "x"), "write %s", path);
  CHECK(!support_exists(final_file) && !support_exists(final_folder),
        "nothing final before the commit");
  CHECK_OK(segc_output_stage_commit(&stage));
  snprintf(path, sizeof path, "%s/masks/x.nii.gz", temp);
  CHECK(support_exists(final_file) && support_exists(path) &&
            support_count_entries(temp) == 2,
        "committed: a.json and masks/x.nii.gz only");
  // Into a folder holding the user's file: merged, the user's file stays.
  segc_output_stage_init(&stage);
  CHECK_OK(segc_output_stage_folder(&stage, final_folder, &td));
  snprintf(path, sizeof path, "%s/y.nii.gz", td);
  CHECK(write_text(path, "y"), "write y");
  snprintf(path, sizeof path, "%s/x.nii.gz", td);
  CHECK(write_text(path, "x2"), "write x again");
  CHECK_OK(segc_output_stage_commit(&stage));
  CHECK(support_count_entries(final_folder) == 2 && support_count_entries(temp) == 2,
        "merged: x and y in masks, no temporary left");
  // Aborted: nothing appears, nothing is left.
  segc_output_stage_init(&stage);
  snprintf(path, sizeof path, "%s/b.json", temp);
  CHECK_OK(segc_output_stage_file(&stage, path, &tf));
  CHECK(write_text(tf, "{}"), "write b");
  snprintf(path, sizeof path, "%s/other", temp);
  CHECK_OK(segc_output_stage_folder(&stage, path, &td));
  snprintf(path, sizeof path, "%s/z", td);
  CHECK(write_text(path, "z"), "write z");
  segc_output_stage_abort(&stage);
  CHECK(support_count_entries(temp) == 2, "abort leaves only the earlier outputs");
  // A folder that cannot hold files.
  snprintf(path, sizeof path, "%s/a.json/c.json", temp);
  CHECK_FAILS(segc_output_stage_file(&stage, path, &tf), SEGC_ERR_IO,
              "cannot write");
  segc_output_stage_abort(&stage);
  return 0;
}

// --output-type with dicom-seg: the SEG's path beside (or instead of) the
// label's.
static void test_plan_dicom_seg(void) {
  segc_output_layout layout = {.output = "out/ct_seg.nii.gz", .postfix = "trans",
                               .ext = ".nii.gz", .dicom_seg = true};
  segc_case_plan plan;
  CHECK(segc_plan_case(&layout, "in/series", &plan) == SEGC_OK, "%s", segc_error_message());
  CHECK(!strcmp(plan.paths.label, "out/ct_seg.nii.gz") &&
            !strcmp(plan.paths.dicom_seg, "out/ct_seg.dcm") &&
            !strcmp(plan.paths.sidecar, "out/ct_seg.json"),
        "nifti,dicom-seg: %s %s", plan.paths.label, plan.paths.dicom_seg);
  layout.output = "out/seg.dcm";
  CHECK(segc_plan_case(&layout, "in/series", &plan) == SEGC_OK, "%s", segc_error_message());
  CHECK(!strcmp(plan.paths.label, "out/seg.nii.gz") &&
            !strcmp(plan.paths.dicom_seg, "out/seg.dcm"),
        "-o .dcm: %s %s", plan.paths.label, plan.paths.dicom_seg);
  layout.no_nifti = true;
  CHECK(segc_plan_case(&layout, "in/series", &plan) == SEGC_OK, "%s", segc_error_message());
  CHECK(!plan.paths.label && !strcmp(plan.paths.dicom_seg, "out/seg.dcm") &&
            !strcmp(plan.paths.sidecar, "out/seg.json"),
        "dicom-seg alone: %s", plan.paths.dicom_seg);
  layout.output = "out/seg";
  CHECK_FAILS(segc_plan_case(&layout, "in/series", &plan), SEGC_ERR_INVALID,
              "(a DICOM SEG in .dcm)");
  layout.no_nifti = false;
  layout.dicom_seg = false;
  layout.output = "out/seg.dcm";
  CHECK_FAILS(segc_plan_case(&layout, "in/series", &plan), SEGC_ERR_INVALID,
              ".nii.gz or .nii (with");
  layout.dicom_seg = true;
  layout.several = true;
  layout.output = "out";
  CHECK(segc_plan_case(&layout, "in/case7", &plan) == SEGC_OK, "%s", segc_error_message());
  CHECK(!strcmp(plan.paths.label, "out/case7_trans.nii.gz") &&
            !strcmp(plan.paths.dicom_seg, "out/case7_trans.dcm"),
        "several: %s", plan.paths.dicom_seg);
  layout.split = true;
  CHECK(segc_plan_case(&layout, "in/case7", &plan) == SEGC_OK, "%s", segc_error_message());
  CHECK(!strcmp(plan.paths.folder, "out/case7") &&
            !strcmp(plan.paths.dicom_seg, "segmentation.dcm"),
        "split: %s", plan.paths.dicom_seg);
}

static int test_plan(void) {
  segc_output_layout layout = {.output = "out/ct_seg.nii.gz", .stats = true,
                               .postfix = "trans", .ext = ".nii.gz",
                               .separate_folder = true};
  segc_case_plan plan;
  CHECK_OK(segc_plan_case(&layout, "in/ct.nii.gz", &plan));
  CHECK(!plan.paths.folder && !strcmp(plan.paths.label, "out/ct_seg.nii.gz") &&
            !strcmp(plan.paths.sidecar, "out/ct_seg.json") &&
            !strcmp(plan.paths.stats_csv, "out/ct_seg_stats.csv"),
        "one input: %s %s", plan.paths.sidecar, plan.paths.stats_csv);
  layout.output = "out/ct";
  CHECK_FAILS(segc_plan_case(&layout, "in/ct.nii.gz", &plan), SEGC_ERR_INVALID,
              ".nii.gz or .nii");
  layout.several = true;
  layout.output = "out";
  layout.preview = "png";
  CHECK_OK(segc_plan_case(&layout, "in/case7.nii", &plan));
  CHECK(!strcmp(plan.paths.folder, "out/case7") &&
            !strcmp(plan.paths.label, "case7_trans.nii.gz") &&
            !strcmp(plan.paths.preview, "png/case7.png"),
        "bundle layout: %s / %s", plan.paths.folder, plan.paths.label);
  layout.separate_folder = false;
  layout.postfix = "";
  CHECK_OK(segc_plan_case(&layout, "in/case7.nii.gz", &plan));
  CHECK(!plan.paths.folder && !strcmp(plan.paths.label, "out/case7.nii.gz"),
        "flat layout: %s", plan.paths.label);
  layout.split = true;
  CHECK_OK(segc_plan_case(&layout, "in/case7.nii.gz", &plan));
  CHECK(!strcmp(plan.paths.folder, "out/case7") && !plan.paths.label &&
            !strcmp(plan.paths.stats_json, "statistics.json"),
        "split layout");
  const char *inputs[3] = {"a/x.nii.gz", "b/y.nii.gz", "c/x.nii"};
  CHECK_FAILS(segc_plan_check_names(inputs, 3), SEGC_ERR_INVALID, "same case name 'x'");
  test_plan_dicom_seg();
  return 0;
}

static int test_stats_and_keep(void) {
  const int64_t dim[3] = {5, 4, 3};
  segc_volume label, ct;
  CHECK_OK(segc_volume_alloc(&label, SEGC_U8, dim));
  CHECK_OK(segc_volume_alloc(&ct, SEGC_I32, dim));
  // Voxels 2 x 1.5 x 1 mm: 3 mm^3 = 0.003 ml.
  label.affine[0][0] = 2.0;
  label.affine[1][1] = -1.5;
  label.affine[2][2] = 1.0;
  uint8_t *l = label.data;
  int32_t *hu = ct.data;
  double sum[4] = {0}, count[4] = {0};
  for (int64_t i = 0; i < 60; ++i) {
    l[i] = (uint8_t)((i * 7) % 4);
    hu[i] = (int32_t)(i * i) - 1000;
    sum[l[i]] += hu[i];
    count[l[i]]++;
  }
  segc_structure_stats stats;
  CHECK_OK(segc_structure_stats_compute(&label, &ct, 4, &stats));
  CHECK(fabs(stats.voxel_ml - 0.003) < 1e-15, "voxel volume %g", stats.voxel_ml);
  for (int c = 0; c < 4; ++c) {
    double squares = 0.0;
    for (int64_t i = 0; i < 60; ++i)
      if (l[i] == c) squares += (hu[i] - sum[c] / count[c]) * (hu[i] - sum[c] / count[c]);
    // Exact integers below 2^53: only the final division rounds.
    CHECK(stats.voxels[c] == count[c] &&
              fabs(stats.mean_hu[c] - sum[c] / count[c]) < 1e-9 &&
              fabs(stats.std_hu[c] - sqrt(squares / count[c])) < 1e-6,
          "class %d statistics", c);
  }
  segc_structure_stats_free(&stats);
  const bool keep[4] = {false, false, true, false};
  CHECK_OK(segc_label_keep(&label, keep, 4));
  int64_t wrong = 0;
  for (int64_t i = 0; i < 60; ++i) wrong += l[i] != ((i * 7) % 4 == 2 ? 2 : 0);
  CHECK(wrong == 0, "--roi keeps only class 2");
  l[7] = 9;
  CHECK_FAILS(segc_structure_stats_compute(&label, NULL, 4, &stats),
              SEGC_ERR_INVALID, "not below 4");
  segc_volume_free(&label);
  segc_volume_free(&ct);
  return 0;
}

static int test_summaries(void) {
  // numpy's nan-aware statistics of [0.2, nan, 0.9, 0.4, 0.5], by hand:
  // sorted 0.2 0.4 0.5 0.9; mean 0.5; median (0.4 + 0.5) / 2 = 0.45; 90th
  // percentile at position 0.9 * 3 = 2.7: 0.5 + 0.7 * 0.4 = 0.78; std
  // sqrt((0.09 + 0.16 + 0.01 + 0) / 4). Tolerances: a few ulps.
  const double v[5] = {0.2, NAN, 0.9, 0.4, 0.5};
  const segc_column_summary s = segc_summarize(v, 5, 1);
  CHECK(fabs(s.mean - 0.5) < 1e-15 && fabs(s.median - 0.45) < 1e-15 &&
            s.max == 0.9 && s.min == 0.2 && fabs(s.p90 - 0.78) < 1e-15 &&
            fabs(s.std - sqrt(0.26 / 4)) < 1e-15 && s.notnans == 4,
        "summary %g %g %g %g %g %g %d", s.mean, s.median, s.max, s.min, s.p90,
        s.std, s.notnans);
  const double none[2] = {NAN, NAN};
  const segc_column_summary e = segc_summarize(none, 2, 1);
  CHECK(isnan(e.mean) && isnan(e.p90) && e.notnans == 0, "all NaN");
  // MONAI's mean: per case over present classes, then over cases with any.
  const double table[3 * 3] = {NAN, 0.5, NAN, NAN, NAN, NAN, NAN, 1.0, 0.0};
  CHECK(fabs(segc_eval_mean(table, 3, 3) - 0.5) < 1e-15, "(0.5 + 0.5) / 2");
  return 0;
}

int main(void) {
  snprintf(temp, sizeof temp, "%s", test_temp_dir("infer_outputs"));
  if (test_structures()) return test_finish_failed();
  if (test_stage()) return test_finish_failed();
  if (test_plan()) return test_finish_failed();
  if (test_stats_and_keep()) return test_finish_failed();
  if (test_summaries()) return test_finish_failed();
  if (test_failures == 0) {
    char command[2048];
    snprintf(command, sizeof command, "rm -rf %s", temp);
    if (system(command) != 0) fprintf(stderr, "could not remove %s\n", temp);
  }
  return test_finish("infer_outputs");
}
