// build/bin/segeval end to end. Mode 1 (files): a label against itself is
// 1.0 for every present class and nan for the others; against a copy shifted
// by one voxel it gives the Dice counted here; two hand-made 4x4x4 cases give
// the raw and summary CSVs worked out by hand below; mismatched grids,
// missing predictions and bad values are errors that write nothing. Mode 2
// (network): two LPS phantom cases with a random init_filters-8 network run
// end to end; the saved prediction and mapped-back label give the CSV's Dice
// when counted here, and the label mapped back equals the original inside
// the crops and is background outside.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/nifti_io.h"
#include "seginfer_test_support.h"
#include "util/test_util.h"

static char temp[1024], segeval[2048], build[1024];

static int run(const char *args) {
  char command[32768];
  snprintf(command, sizeof command, "%s %s", segeval, args);
  return support_run(temp, command);
}

// Reads a CSV into rows of fields (static storage, overwritten per call).
enum { kMaxRows = 16, kMaxFields = 128 };
static char csv_text[1 << 17];
static char *csv[kMaxRows][kMaxFields];
static int csv_fields[kMaxRows];

static int read_csv(const char *path) {
  support_read_all(path, csv_text, sizeof csv_text);
  int rows = 0;
  char *line = csv_text;
  while (*line && rows < kMaxRows) {
    char *end = strchr(line, '\n');
    if (end) *end = '\0';
    int f = 0;
    for (char *field = line; field && f < kMaxFields; ++f) {
      csv[rows][f] = field;
      char *comma = strchr(field, ',');
      if (comma) *comma = '\0';
      field = comma ? comma + 1 : NULL;
    }
    csv_fields[rows++] = f;
    if (!end) break;
    line = end + 1;
  }
  return rows;
}

static double field_value(const char *text) {
  return !strcmp(text, "nan") ? NAN : strtod(text, NULL);
}

// |printed - want| within the 4 decimals MetricsSaver prints, or both NaN.
static bool close4(const char *printed, double want) {
  const double v = field_value(printed);
  if (isnan(want)) return isnan(v);
  return fabs(v - want) <= 5.01e-5;
}

// Dice per class counted here: 2|P n G| / (|P| + |G|), NaN when |G| = 0.
static void count_dice(const segc_volume *pred, const segc_volume *label,
                       int classes, double *dice) {
  int64_t p[256] = {0}, g[256] = {0}, both[256] = {0};
  const uint8_t *a = pred->data, *b = label->data;
  for (int64_t i = 0; i < segc_volume_numel(label); ++i) {
    p[a[i]]++;
    g[b[i]]++;
    if (a[i] == b[i]) both[a[i]]++;
  }
  for (int c = 1; c < classes; ++c)
    dice[c] = g[c] == 0 ? NAN : 2.0 * (double)both[c] / (double)(p[c] + g[c]);
}

static int test_example_label(const char *shared) {
  char args[16384], path[4096];
  char label_path[2048];
  snprintf(label_path, sizeof label_path, "%s/data/example_ct_label104.nii.gz", shared);
  snprintf(args, sizeof args, "--pred %s --label %s --output-dir %s/self",
           label_path, label_path, temp);
  CHECK(run(args) == 0, "self: %s", support_err);
  segc_volume label;
  CHECK_OK(segc_nifti_read(label_path, &label, NULL));
  int64_t count[105] = {0};
  for (int64_t i = 0; i < segc_volume_numel(&label); ++i) count[((uint8_t *)label.data)[i]]++;
  const char *metrics[2] = {"mean_dice", "nsd"};
  for (int m = 0; m < 2; ++m) {
    snprintf(path, sizeof path, "%s/self/%s_raw.csv", temp, metrics[m]);
    CHECK(read_csv(path) == 2 && csv_fields[0] == 106 && csv_fields[1] == 106,
          "%s: header + 1 row of filename, 104 classes, mean", path);
    int wrong = 0;
    for (int c = 1; c < 105; ++c)
      wrong += !close4(csv[1][c], count[c] ? 1.0 : NAN);
    CHECK(wrong == 0 && close4(csv[1][105], 1.0) && !strcmp(csv[0][5], "liver"),
          "%s: %d classes not 1 / nan", metrics[m], wrong);
  }
  snprintf(path, sizeof path, "%s/self/metrics.csv", temp);
  CHECK(read_csv(path) == 2 && !strcmp(csv[0][0], "mean_dice") &&
            field_value(csv[0][1]) == 1.0 && field_value(csv[1][1]) == 1.0,
        "metrics.csv");

  // One voxel shift along k (the vacated slice is background).
  segc_volume shifted;
  CHECK_OK(segc_volume_copy(&label, SEGC_U8, &shifted));
  const uint8_t *src = label.data;
  uint8_t *dst = shifted.data;
  for (int64_t i = 0; i < label.dim[0]; ++i)
    for (int64_t j = 0; j < label.dim[1]; ++j)
      for (int64_t k = 0; k < label.dim[2]; ++k)
        dst[segc_volume_offset(&label, i, j, k)] =
            k == 0 ? 0 : src[segc_volume_offset(&label, i, j, k - 1)];
  snprintf(path, sizeof path, "%s/shifted.nii.gz", temp);
  CHECK_OK(segc_nifti_write(path, &shifted, NULL));
  snprintf(args, sizeof args,
           "--pred %s --label %s --output-dir %s/shift --nsd-tolerance 0", path,
           label_path, temp);
  CHECK(run(args) == 0, "shifted: %s", support_err);
  double dice[105];
  count_dice(&shifted, &label, 105, dice);
  double sum = 0.0;
  int present = 0;
  for (int c = 1; c < 105; ++c)
    if (!isnan(dice[c])) {
      sum += dice[c];
      present++;
    }
  snprintf(path, sizeof path, "%s/shift/mean_dice_raw.csv", temp);
  CHECK(read_csv(path) == 2 && csv_fields[1] == 106, "shifted raw CSV");
  int wrong = 0;
  for (int c = 1; c < 105; ++c) wrong += !close4(csv[1][c], dice[c]);
  CHECK(wrong == 0, "shifted: %d classes differ from the Dice counted here", wrong);
  snprintf(path, sizeof path, "%s/shift/metrics.csv", temp);
  CHECK(read_csv(path) == 1 && fabs(field_value(csv[0][1]) - sum / present) < 1e-9,
        "shifted mean Dice %s, counted %.10f", csv[0][1], sum / present);
  snprintf(path, sizeof path, "%s/shift/nsd_raw.csv", temp);
  CHECK(!support_exists(path), "no NSD with --nsd-tolerance 0");
  segc_volume_free(&shifted);
  segc_volume_free(&label);
  return 0;
}

static segc_status write_map(const char *path, const uint8_t *values,
                             const int64_t dim[3], double shift) {
  segc_volume v;
  SEGC_TRY(segc_volume_alloc(&v, SEGC_U8, dim));
  for (int a = 0; a < 3; ++a) v.affine[a][a] = 2.0;
  v.affine[0][3] = shift;
  memcpy(v.data, values, (size_t)segc_volume_numel(&v));
  const segc_status status = segc_nifti_write(path, &v, NULL);
  segc_volume_free(&v);
  return status;
}

static void fill(uint8_t *v, int from, int to, uint8_t value) {
  for (int i = from; i <= to; ++i) v[i] = value;
}

static int test_hand_cases(void) {
  char path[4096], args[16384];
  const int64_t dim[3] = {4, 4, 4};
  uint8_t pa[64] = {0}, la[64] = {0}, pb[64] = {0}, lb[64] = {0};
  // Case a: class 1 overlaps on 4 of 8 + 8 voxels -> 2*4/16 = 0.5; class 2
  // only predicted -> nan; class 3 only in the label -> 0.
  fill(la, 0, 7, 1);
  fill(la, 16, 19, 3);
  fill(pa, 4, 11, 1);
  fill(pa, 30, 31, 2);
  // Case b: class 1 exact -> 1; class 2 overlaps on 2 of 4 + 4 -> 0.5;
  // class 3 absent -> nan.
  fill(lb, 0, 9, 1);
  fill(pb, 0, 9, 1);
  fill(lb, 20, 23, 2);
  fill(pb, 22, 25, 2);
  snprintf(path, sizeof path, "%s/tiny", temp);
  CHECK(mkdir(path, 0755) == 0, "mkdir");
  const char *dirs[4] = {"tiny/pred", "tiny/pred/a", "tiny/label", "tiny/bad"};
  for (int d = 0; d < 4; ++d) {
    snprintf(path, sizeof path, "%s/%s", temp, dirs[d]);
    CHECK(mkdir(path, 0755) == 0, "mkdir %s", path);
  }
  // The bundle's layouts: <case>/<case>_trans.nii.gz and <case>_trans.nii.gz.
  snprintf(path, sizeof path, "%s/tiny/pred/a/a_trans.nii.gz", temp);
  CHECK_OK(write_map(path, pa, dim, 0.0));
  snprintf(path, sizeof path, "%s/tiny/pred/b_trans.nii.gz", temp);
  CHECK_OK(write_map(path, pb, dim, 0.0));
  snprintf(path, sizeof path, "%s/tiny/label/a.nii.gz", temp);
  CHECK_OK(write_map(path, la, dim, 0.0));
  snprintf(path, sizeof path, "%s/tiny/label/b.nii.gz", temp);
  CHECK_OK(write_map(path, lb, dim, 0.0));
  snprintf(args, sizeof args,
           "--pred %s/tiny/pred --label %s/tiny/label --classes 4 "
           "--nsd-tolerance 0 --output-dir %s/tiny/out", temp, temp, temp);
  CHECK(run(args) == 0, "tiny: %s", support_err);
  CHECK(test_contains(support_out, "2 cases, mean Dice 0.5000 over 3 classes present"),
        "summary line: %s", support_out);
  snprintf(path, sizeof path, "%s/tiny/out/mean_dice_raw.csv", temp);
  CHECK(read_csv(path) == 3, "raw: 3 lines");
  CHECK(!strcmp(csv[0][1], "class_1") && !strcmp(csv[0][4], "mean") &&
            test_contains(csv[1][0], "label/a.nii.gz") &&
            !strcmp(csv[1][1], "0.5000") && !strcmp(csv[1][2], "nan") &&
            !strcmp(csv[1][3], "0.0000") && !strcmp(csv[1][4], "0.2500") &&
            !strcmp(csv[2][1], "1.0000") && !strcmp(csv[2][2], "0.5000") &&
            !strcmp(csv[2][3], "nan") && !strcmp(csv[2][4], "0.7500"),
        "raw rows by hand");
  // Summary by hand: class_1 [0.5, 1]: mean 0.75, median 0.75, max 1, min
  // 0.5, 90th percentile 0.5 + 0.9 * 0.5 = 0.95, std 0.25, 2 values;
  // class_2 [0.5]; class_3 [0]; mean [0.25, 0.75]: 0.5, 0.5, 0.75, 0.25,
  // 0.25 + 0.9 * 0.5 = 0.7, 0.25, 2.
  const char *want[5][8] = {
      {"class", "mean", "median", "max", "min", "90percentile", "std", "notnans"},
      {"class_1", "0.7500", "0.7500", "1.0000", "0.5000", "0.9500", "0.2500", "2.0000"},
      {"class_2", "0.5000", "0.5000", "0.5000", "0.5000", "0.5000", "0.0000", "1.0000"},
      {"class_3", "0.0000", "0.0000", "0.0000", "0.0000", "0.0000", "0.0000", "1.0000"},
      {"mean", "0.5000", "0.5000", "0.7500", "0.2500", "0.7000", "0.2500", "2.0000"}};
  snprintf(path, sizeof path, "%s/tiny/out/mean_dice_summary.csv", temp);
  CHECK(read_csv(path) == 5, "summary: 5 lines");
  int wrong = 0;
  for (int r = 0; r < 5; ++r)
    for (int f = 0; f < 8; ++f) wrong += strcmp(csv[r][f], want[r][f]) != 0;
  CHECK(wrong == 0, "summary: %d fields differ from the hand values", wrong);
  snprintf(path, sizeof path, "%s/tiny/out/metrics.csv", temp);
  CHECK(read_csv(path) == 1 && !strcmp(csv[0][1], "0.5"), "mean_dice 0.5");

  // Errors, and nothing written into the output folder.
  char bad[2048];
  snprintf(bad, sizeof bad, "%s/tiny/bad", temp);
  const int64_t taller[3] = {4, 4, 5};
  uint8_t big[80] = {0};
  snprintf(path, sizeof path, "%s/tiny/taller.nii.gz", temp);
  CHECK_OK(write_map(path, big, taller, 0.0));
  snprintf(args, sizeof args, "--pred %s --label %s/tiny/label/a.nii.gz --classes 4 "
           "--output-dir %s", path, temp, bad);
  CHECK(run(args) == 1 && test_contains(support_err, "segeval: error: ") &&
            test_contains(support_err, "4x4x5") && support_count_entries(bad) == 0,
        "grid mismatch: %s", support_err);
  snprintf(path, sizeof path, "%s/tiny/moved.nii.gz", temp);
  CHECK_OK(write_map(path, pa, dim, 5.0));
  snprintf(args, sizeof args, "--pred %s --label %s/tiny/label/a.nii.gz --classes 4 "
           "--output-dir %s", path, temp, bad);
  CHECK(run(args) == 1 && test_contains(support_err, "affine") &&
            support_count_entries(bad) == 0,
        "affine mismatch: %s", support_err);
  snprintf(args, sizeof args, "--pred %s/tiny/pred/a --label %s/tiny/label --classes 4 "
           "--output-dir %s", temp, temp, bad);
  CHECK(run(args) == 1 && test_contains(support_err, "no prediction for label") &&
            test_contains(support_err, "'b'") && support_count_entries(bad) == 0,
        "missing prediction: %s", support_err);
  snprintf(args, sizeof args, "--pred %s/tiny/pred --label %s/tiny/label --classes 3 "
           "--output-dir %s", temp, temp, bad);
  CHECK(run(args) == 1 && test_contains(support_err, "label value 3") &&
            support_count_entries(bad) == 0,
        "value out of range: %s", support_err);
  // An out-of-range class in the prediction is blamed on the prediction
  // file, not on the reference label.
  uint8_t pbad[64];
  memcpy(pbad, pb, sizeof pbad);
  pbad[40] = 9;
  snprintf(path, sizeof path, "%s/tiny/bad_pred.nii.gz", temp);
  CHECK_OK(write_map(path, pbad, dim, 0.0));
  snprintf(args, sizeof args, "--pred %s --label %s/tiny/label/b.nii.gz --classes 4 "
           "--output-dir %s", path, temp, bad);
  CHECK(run(args) == 1 && test_contains(support_err, "bad_pred.nii.gz") &&
            test_contains(support_err, "label value 9") &&
            !test_contains(support_err, "label/b.nii.gz") &&
            support_count_entries(bad) == 0,
        "prediction value out of range names the prediction: %s", support_err);

  // Config files as positional arguments (FILE.json), merged in order with
  // --config: the second file's output_dir wins.
  char config_a[4096], config_b[4096];
  snprintf(config_a, sizeof config_a, "%s/tiny/eval_a.json", temp);
  snprintf(config_b, sizeof config_b, "%s/tiny/eval_b.json", temp);
  FILE *f = fopen(config_a, "w");
  CHECK(f && fprintf(f, "{\"output_dir\": \"%s/tiny/out_a\"}\n", temp) > 0 &&
            fclose(f) == 0, "write %s", config_a);
  f = fopen(config_b, "w");
  CHECK(f && fprintf(f, "{\"output_dir\": \"%s/tiny/out_b\"}\n", temp) > 0 &&
            fclose(f) == 0, "write %s", config_b);
  snprintf(args, sizeof args,
           "%s --pred %s/tiny/pred --label %s/tiny/label %s --classes 4 "
           "--nsd-tolerance 0", config_a, temp, temp, config_b);
  CHECK(run(args) == 0, "positional configs: %s", support_err);
  snprintf(path, sizeof path, "%s/tiny/out_b/mean_dice_raw.csv", temp);
  CHECK(read_csv(path) == 3, "positional configs: CSVs in the second file's "
        "output_dir");
  snprintf(path, sizeof path, "%s/tiny/out_a", temp);
  CHECK(!support_exists(path), "the first file's output_dir is overridden");
  // A positional argument that is not a .json config says so.
  snprintf(args, sizeof args, "--pred %s/tiny/pred --label %s/tiny/label "
           "--classes 4 stray.txt --output-dir %s", temp, temp, bad);
  CHECK(run(args) == 2 && test_contains(support_err, "stray.txt") &&
            test_contains(support_err, ".json") && support_count_entries(bad) == 0,
        "stray positional argument: %s", support_err);
  // A setting this build does not implement is refused before any work.
  snprintf(args, sizeof args, "--pred %s/tiny/pred --label %s/tiny/label "
           "--classes 4 --set device=cuda --output-dir %s", temp, temp, bad);
  CHECK(run(args) == 1 && test_contains(support_err, "device") &&
            test_contains(support_err, "config: device \"cuda\": ") &&
            support_count_entries(bad) == 0,
        "device cuda refused: %s", support_err);
  // A labels file the user names must exist (no silent fall-back to the
  // built-in names).
  snprintf(args, sizeof args, "--pred %s/tiny/pred --label %s/tiny/label "
           "--classes 4 --set labels=%s/tiny/missing_labels.json --output-dir %s",
           temp, temp, temp, bad);
  CHECK(run(args) == 1 && test_contains(support_err, "missing_labels.json") &&
            test_contains(support_err, "No such file") &&
            support_count_entries(bad) == 0,
        "missing labels file: %s", support_err);
  return 0;
}

static int test_network_mode(void) {
  char args[16384], path[4096], weights[2048];
  snprintf(weights, sizeof weights, "%s/w8.pt", temp);
  CHECK_OK(support_make_weights(weights, 8, 77));
  char command[16384];
  snprintf(command, sizeof command,
           "%s/bin/segprep phantom --out %s/ph --cases 3 --val 2 --size 40,36,32 "
           "--spacing 3 --orientation LPS --seed 9", build, temp);
  CHECK(support_run(temp, command) == 0, "phantom: %s", support_err);
  // A 24^3 centre crop cuts into the 40x36x32 phantom, so the mapped-back
  // label loses its outer parts.
  snprintf(args, sizeof args,
           "--weights %s --set network_def.init_filters=8 --set val_roi=[24,24,24] "
           "--lowres --dtype f32 --datalist %s/ph/datalist.json --output-dir "
           "%s/ev --save-pred %s/saved",
           weights, temp, temp, temp);
  CHECK(run(args) == 0, "network mode: %s", support_err);
  CHECK(test_contains(support_err, "segeval: compute dtype: f32 (--dtype f32 "
                                   "or amp false: exact parity)\n"),
        "the compute dtype is said once: %s", support_err);
  snprintf(path, sizeof path, "%s/ev/mean_dice_raw.csv", temp);
  CHECK(read_csv(path) == 3 && csv_fields[1] == 106, "2 cases in the raw CSV");
  const char *cases[2] = {"case_0001", "case_0002"};
  for (int c = 0; c < 2; ++c) {
    segc_volume original, pred, label;
    snprintf(path, sizeof path, "%s/ph/labelsTr/%s.nii.gz", temp, cases[c]);
    CHECK_OK(segc_nifti_read(path, &original, NULL));
    snprintf(path, sizeof path, "%s/saved/%s_pred.nii.gz", temp, cases[c]);
    CHECK_OK(segc_nifti_read(path, &pred, NULL));
    snprintf(path, sizeof path, "%s/saved/%s_label.nii.gz", temp, cases[c]);
    CHECK_OK(segc_nifti_read(path, &label, NULL));
    CHECK(!memcmp(original.dim, label.dim, sizeof label.dim) &&
              !memcmp(original.affine, label.affine, sizeof label.affine) &&
              !memcmp(original.dim, pred.dim, sizeof pred.dim),
          "%s: mapped back onto the label's grid", cases[c]);
    // Inside the crops the label comes back unchanged, outside it is 0 and
    // so is the prediction.
    int64_t kept = 0, cut = 0, not_original = 0, pred_outside = 0;
    const uint8_t *o = original.data, *l = label.data, *p = pred.data;
    for (int64_t i = 0; i < segc_volume_numel(&label); ++i) {
      if (l[i] == o[i]) kept += o[i] != 0;
      else if (l[i] == 0) {
        cut++;
        pred_outside += p[i] != 0;
      } else {
        not_original++;
      }
    }
    CHECK(not_original == 0 && kept > 0 && cut > 0 && pred_outside == 0,
          "%s: %lld kept, %lld cut, %lld changed, %lld predicted outside",
          cases[c], (long long)kept, (long long)cut, (long long)not_original,
          (long long)pred_outside);
    double dice[105];
    count_dice(&pred, &label, 105, dice);
    int wrong = 0;
    for (int k = 1; k < 105; ++k) wrong += !close4(csv[1 + c][k], dice[k]);
    CHECK(test_contains(csv[1 + c][0], cases[c]) && wrong == 0,
          "%s: %d classes differ from the Dice counted here", cases[c], wrong);
    segc_volume_free(&original);
    segc_volume_free(&pred);
    segc_volume_free(&label);
  }
  return 0;
}

int main(void) {
  const char *shared = test_shared_dir("segeval_cli");
  if (!shared) return TEST_SKIP;
  snprintf(temp, sizeof temp, "%s", test_temp_dir("segeval_cli"));
  const char *b = getenv("SEGC_BUILD_DIR");
  snprintf(build, sizeof build, "%s", b && *b ? b : "build");
  snprintf(segeval, sizeof segeval, "%s/bin/segeval", build);
  if (test_example_label(shared)) return test_finish_failed();
  if (test_hand_cases()) return test_finish_failed();
  if (test_network_mode()) return test_finish_failed();
  if (test_failures == 0) {
    char command[2048];
    snprintf(command, sizeof command, "rm -rf %s", temp);
    if (system(command) != 0) fprintf(stderr, "could not remove %s\n", temp);
  }
  return test_finish("segeval_cli");
}
