// build/bin/seginfer end to end with a small random network (init_filters 8,
// 105 outputs, lowres): the label overlays its input exactly for every CT in
// ../shared/data and for re-oriented copies; the labels of re-oriented
// copies are the re-oriented label (lowres on a 3 mm CT: Orientation undoes
// the flips and permutations and Spacing has nothing to resample, so the
// network sees identical input); --split/--roi/--stats/--preview/
// --save-preprocessed/--output-dtype agree with the multilabel file and with
// counts made here; the streamed accumulator and the thread count do not
// change the label; every bad input gives one error line and leaves nothing.
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/json_file.h"
#include "data/labels.h"
#include "data/nifti_io.h"
#include "data/orientation.h"
#include "seginfer_test_support.h"
#include "util/test_util.h"

enum { kClasses = 105 };

static char temp[1024], common[16384], ct_sm[1024], ct_full[1024];

static int run(const char *args) {
  char command[32768];
  snprintf(command, sizeof command, "%s %s", common, args);
  return support_run(temp, command);
}

static bool same_geometry(const segc_volume *a, const segc_volume *b) {
  return memcmp(a->dim, b->dim, sizeof a->dim) == 0 &&
         memcmp(a->affine, b->affine, sizeof a->affine) == 0;
}

static int64_t count_differences(const segc_volume *a, const segc_volume *b) {
  if (memcmp(a->dim, b->dim, sizeof a->dim) != 0) return -1;
  int64_t n = 0;
  for (int64_t i = 0; i < segc_volume_numel(a); ++i)
    n += segc_load_f32(a->data, a->dtype, (size_t)i) !=
         segc_load_f32(b->data, b->dtype, (size_t)i);
  return n;
}

static const support_reorientation kOrientations[] = {
    {"LPS", {0, 1, 2}, {1, 1, 0}},
    {"LAS", {0, 1, 2}, {1, 0, 0}},
    {"PIR", {1, 2, 0}, {1, 1, 0}},
    {"SAL", {2, 1, 0}, {0, 0, 1}},
};
enum { kOrientationCount = 4 };

static int test_orientations(void) {
  char path[8192], args[32768];
  segc_volume sm;
  CHECK_OK(segc_nifti_read(ct_sm, &sm, NULL));
  snprintf(path, sizeof path, "%s/orient", temp);
  CHECK(mkdir(path, 0755) == 0, "mkdir %s", path);
  int n = snprintf(args, sizeof args, "-i %s -i %s", ct_full, ct_sm);
  for (int o = 0; o < kOrientationCount; ++o) {
    segc_volume turned;
    CHECK_OK(support_reorient(&sm, &kOrientations[o], &turned));
    char codes[4];
    CHECK_OK(segc_affine_axcodes(turned.affine, codes));
    CHECK(!strcmp(codes, kOrientations[o].name), "made %s, wanted %s", codes,
          kOrientations[o].name);
    snprintf(path, sizeof path, "%s/orient/%s.nii.gz", temp, kOrientations[o].name);
    CHECK_OK(segc_nifti_write(path, &turned, NULL));
    segc_volume_free(&turned);
    n += snprintf(args + n, sizeof args - (size_t)n, " -i %s", path);
  }
  snprintf(args + n, sizeof args - (size_t)n, " -o %s/orient_out", temp);
  CHECK(run(args) == 0, "seginfer on 6 inputs: %s", support_err);

  // Every output overlays its input: same dims, same affine (as read back).
  const char *inputs[2 + kOrientationCount] = {ct_full, ct_sm};
  const char *cases[2 + kOrientationCount] = {"example_ct", "example_ct_sm"};
  char oriented_paths[kOrientationCount][2048];
  for (int o = 0; o < kOrientationCount; ++o) {
    snprintf(oriented_paths[o], sizeof oriented_paths[o], "%s/orient/%s.nii.gz",
             temp, kOrientations[o].name);
    inputs[2 + o] = oriented_paths[o];
    cases[2 + o] = kOrientations[o].name;
  }
  segc_volume labels[2 + kOrientationCount];
  for (int c = 0; c < 2 + kOrientationCount; ++c) {
    segc_volume input;
    CHECK_OK(segc_nifti_read(inputs[c], &input, NULL));
    snprintf(path, sizeof path, "%s/orient_out/%s/%s_trans.nii.gz", temp,
             cases[c], cases[c]);
    CHECK_OK(segc_nifti_read(path, &labels[c], NULL));
    CHECK(same_geometry(&input, &labels[c]) && labels[c].dtype == SEGC_U8,
          "%s: the label does not overlay its input", cases[c]);
    snprintf(path, sizeof path, "%s/orient_out/%s/%s_trans.json", temp,
             cases[c], cases[c]);
    CHECK(support_exists(path), "sidecar %s", path);
    segc_volume_free(&input);
  }
  // Commutes with flips and permutations exactly (lowres on a 3 mm CT).
  for (int o = 0; o < kOrientationCount; ++o) {
    segc_volume expected;
    CHECK_OK(support_reorient(&labels[1], &kOrientations[o], &expected));
    const int64_t diff = count_differences(&expected, &labels[2 + o]);
    CHECK(diff == 0, "%s: %lld voxels differ from the re-oriented label",
          kOrientations[o].name, (long long)diff);
    segc_volume_free(&expected);
  }
  for (int c = 0; c < 2 + kOrientationCount; ++c) segc_volume_free(&labels[c]);

  // At 1.5 mm too: Spacing resamples the RAS-oriented volume, whose affine is
  // the same for every re-oriented copy up to rounding far below Spacing's
  // 1e-3 tolerance, so the network input and the labels are identical.
  snprintf(args, sizeof args, "--highres -i %s -i %s/orient/PIR.nii.gz -o %s/high",
           ct_sm, temp, temp);
  CHECK(run(args) == 0, "seginfer --highres: %s", support_err);
  segc_volume high, high_pir, expected;
  snprintf(path, sizeof path, "%s/high/example_ct_sm/example_ct_sm_trans.nii.gz", temp);
  CHECK_OK(segc_nifti_read(path, &high, NULL));
  snprintf(path, sizeof path, "%s/high/PIR/PIR_trans.nii.gz", temp);
  CHECK_OK(segc_nifti_read(path, &high_pir, NULL));
  CHECK_OK(support_reorient(&high, &kOrientations[2], &expected));
  CHECK(same_geometry(&high, &sm) && count_differences(&expected, &high_pir) == 0,
        "highres PIR: %lld voxels differ", (long long)count_differences(&expected, &high_pir));
  segc_volume_free(&high);
  segc_volume_free(&high_pir);
  segc_volume_free(&expected);
  segc_volume_free(&sm);
  return 0;
}

// MONAI's window count along one axis (roi 96, overlap 0.25).
static int windows_along(int64_t size) {
  if (size <= 96) return 1;
  const int64_t interval = 72;
  int count = 0;
  for (int64_t start = 0;; start += interval) {
    ++count;
    if (start + 96 >= size) break;
  }
  return count;
}

static int check_stats(const char *stem, const segc_volume *label,
                       const segc_volume *ct) {
  int64_t count[kClasses] = {0};
  double sum[kClasses] = {0}, sum_sq[kClasses] = {0};
  const uint8_t *l = label->data;
  for (int64_t i = 0; i < segc_volume_numel(label); ++i) {
    count[l[i]]++;
    sum[l[i]] += segc_load_f32(ct->data, ct->dtype, (size_t)i);
  }
  for (int64_t i = 0; i < segc_volume_numel(label); ++i) {
    const double d = segc_load_f32(ct->data, ct->dtype, (size_t)i) -
                     sum[l[i]] / (double)count[l[i]];
    sum_sq[l[i]] += d * d;  // two-pass variance, independent of segc's
  }
  char path[8192];
  snprintf(path, sizeof path, "%s_stats.json", stem);
  cJSON *root;
  CHECK_OK(segc_data_json_load(path, &root));
  const cJSON *structures = cJSON_GetObjectItem(root, "structures");
  CHECK(cJSON_GetArraySize(structures) == kClasses - 1, "104 structures listed");
  const double voxel_ml = 27.0 / 1000.0;  // 3 mm isotropic
  int bad = 0;
  for (const cJSON *s = structures ? structures->child : NULL; s; s = s->next) {
    const int c = cJSON_GetObjectItem(s, "index")->valueint;
    const double voxels = cJSON_GetObjectItem(s, "voxels")->valuedouble;
    const double ml = cJSON_GetObjectItem(s, "volume_ml")->valuedouble;
    const cJSON *mean = cJSON_GetObjectItem(s, "mean_hu");
    const cJSON *std = cJSON_GetObjectItem(s, "std_hu");
    if (c < 1 || c >= kClasses || voxels != (double)count[c] ||
        fabs(ml - voxel_ml * (double)count[c]) > 1e-9 * (1.0 + ml)) {
      ++bad;
      continue;
    }
    if (count[c] == 0) {
      bad += !cJSON_IsNull(mean) || !cJSON_IsNull(std);
      continue;
    }
    // One-pass (segc) and two-pass (here) sums in double differ by rounding
    // far below 1e-6 HU for these few thousand voxels of |HU| < 4000.
    const double want_mean = sum[c] / (double)count[c];
    const double want_std = sqrt(sum_sq[c] / (double)count[c]);
    bad += fabs(mean->valuedouble - want_mean) > 1e-6 ||
           fabs(std->valuedouble - want_std) > 1e-6;
  }
  CHECK(bad == 0, "%d structures with wrong statistics", bad);
  cJSON_Delete(root);
  // The CSV lists the same voxel counts.
  snprintf(path, sizeof path, "%s_stats.csv", stem);
  FILE *f = fopen(path, "r");
  CHECK(f != NULL, "open %s", path);
  if (!f) return 0;
  char line[1024];
  int rows = 0, wrong = 0;
  CHECK(fgets(line, sizeof line, f) && !strcmp(line, "index,name,voxels,volume_ml,mean_hu,std_hu\n"),
        "CSV header '%s'", line);
  while (fgets(line, sizeof line, f)) {
    int c;
    char name[256];
    long long voxels;
    if (sscanf(line, "%d,%255[^,],%lld,", &c, name, &voxels) != 3 || c < 1 ||
        c >= kClasses || voxels != count[c])
      ++wrong;
    ++rows;
  }
  fclose(f);
  CHECK(rows == kClasses - 1 && wrong == 0, "CSV: %d rows, %d wrong", rows, wrong);
  return 0;
}

// The three most frequent foreground classes of a label (ties: lower index).
static void top_classes(const segc_volume *label, int top[3]) {
  int64_t count[kClasses] = {0};
  const uint8_t *l = label->data;
  for (int64_t i = 0; i < segc_volume_numel(label); ++i) count[l[i]]++;
  for (int t = 0; t < 3; ++t) {
    int best = -1;
    for (int c = 1; c < kClasses; ++c) {
      bool taken = false;
      for (int u = 0; u < t; ++u) taken = taken || top[u] == c;
      if (!taken && (best < 0 || count[c] > count[best])) best = c;
    }
    top[t] = best;
  }
}

static int test_outputs(void) {
  char args[32768], path[8192], stem[2048];
  snprintf(path, sizeof path, "%s/a", temp);
  CHECK(mkdir(path, 0755) == 0, "mkdir a");
  snprintf(stem, sizeof stem, "%s/a/lab", temp);
  snprintf(args, sizeof args,
           "-i %s -o %s.nii.gz --stats --preview %s/a/p.png --report "
           "%s/a/r.json --save-preprocessed %s/a/pre.nii.gz",
           ct_sm, stem, temp, temp, temp);
  CHECK(run(args) == 0, "run A: %s", support_err);
  CHECK(test_contains(support_out, "| Total (s) | Pre | Inferer | Invert | Post | Write |"),
        "latency report printed: %s", support_out);
  segc_volume label, ct, pre;
  snprintf(path, sizeof path, "%s.nii.gz", stem);
  CHECK_OK(segc_nifti_read(path, &label, NULL));
  CHECK_OK(segc_nifti_read(ct_sm, &ct, NULL));
  if (check_stats(stem, &label, &ct)) return 1;
  snprintf(path, sizeof path, "%s/a/p.png", temp);
  CHECK(support_exists(path), "preview written");
  // The network input: the 3 mm grid of a 3 mm RAS CT, scaled to [-1, 1].
  snprintf(path, sizeof path, "%s/a/pre.nii.gz", temp);
  CHECK_OK(segc_nifti_read(path, &pre, NULL));
  float lo = INFINITY, hi = -INFINITY;
  for (int64_t i = 0; i < segc_volume_numel(&pre); ++i) {
    const float v = ((const float *)pre.data)[i];
    lo = v < lo ? v : lo;
    hi = v > hi ? v : hi;
  }
  CHECK(pre.dtype == SEGC_F32 && same_geometry(&pre, &ct) && lo == -1.0f && hi == 1.0f,
        "preprocessed input: range [%g, %g]", lo, hi);
  // MONAI's network input for example_ct_sm at 3 mm (../shared/data/README.md,
  // printed to 6 decimals): mean -0.354888, std 0.394812, centre voxel
  // (61, 50, 15) -0.354888. Tolerance 1e-5: the printed rounding plus float32
  // sums over 370k voxels.
  double sum = 0.0, sum_sq = 0.0;
  const int64_t count = segc_volume_numel(&pre);
  for (int64_t i = 0; i < count; ++i) sum += ((const float *)pre.data)[i];
  const double mean = sum / (double)count;
  for (int64_t i = 0; i < count; ++i) {
    const double d = ((const float *)pre.data)[i] - mean;
    sum_sq += d * d;
  }
  const double centre = ((const float *)pre.data)[segc_volume_offset(&pre, 61, 50, 15)];
  CHECK(fabs(mean + 0.354888) < 1e-5 && fabs(sqrt(sum_sq / (double)count) - 0.394812) < 1e-5 &&
            fabs(centre + 0.354888) < 1e-5,
        "preprocessed input: mean %.6f std %.6f centre %.6f, MONAI -0.354888 "
        "0.394812 -0.354888", mean, sqrt(sum_sq / (double)count), centre);
  segc_volume_free(&pre);
  // Sidecar: 105 labels; report: MONAI's window count.
  cJSON *root;
  snprintf(path, sizeof path, "%s.json", stem);
  CHECK_OK(segc_data_json_load(path, &root));
  const cJSON *labels = cJSON_GetObjectItem(root, "labels");
  const cJSON *liver = cJSON_GetObjectItem(labels, "5");
  CHECK(cJSON_GetArraySize(labels) == kClasses && cJSON_IsString(liver) &&
            !strcmp(liver->valuestring, "liver"),
        "sidecar labels");
  cJSON_Delete(root);
  snprintf(path, sizeof path, "%s/a/r.json", temp);
  CHECK_OK(segc_data_json_load(path, &root));
  const cJSON *c0 = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "cases"), 0);
  const int windows = windows_along(122) * windows_along(101) * windows_along(30);
  CHECK(c0 && cJSON_GetObjectItem(c0, "windows")->valueint == windows,
        "report: %d windows expected", windows);
  cJSON_Delete(root);

  // --split: one mask per structure; OR'ed (with their indices) they give the
  // multilabel and no voxel is in two masks.
  snprintf(args, sizeof args, "-i %s -o %s/b --split --stats", ct_sm, temp);
  CHECK(run(args) == 0, "run B: %s", support_err);
  snprintf(path, sizeof path, "%s/b", temp);
  CHECK(support_count_entries(path) == kClasses - 1 + 3,
        "104 masks + segmentation.json + statistics.json/.csv, got %d",
        support_count_entries(path));
  // Masks are named as in configs/labels_104.json.
  segc_label_table names;
  const char *source = getenv("SEGC_SOURCE_DIR");
  snprintf(path, sizeof path, "%s/configs/labels_104.json",
           source && *source ? source : ".");
  CHECK_OK(segc_labels_load(path, &names));
  uint8_t *rebuilt = calloc((size_t)segc_volume_numel(&label), 1);
  int64_t overlaps = 0;
  for (int c = 1; c < kClasses; ++c) {
    segc_volume mask;
    snprintf(path, sizeof path, "%s/b/%s.nii.gz", temp, names.names[c]);
    CHECK_OK(segc_nifti_read(path, &mask, NULL));
    CHECK(same_geometry(&mask, &label) && mask.dtype == SEGC_U8, "mask %d grid", c);
    const uint8_t *m = mask.data;
    for (int64_t i = 0; i < segc_volume_numel(&mask); ++i) {
      if (m[i] > 1) overlaps++;
      if (!m[i]) continue;
      overlaps += rebuilt[i] != 0;
      rebuilt[i] = (uint8_t)c;
    }
    segc_volume_free(&mask);
  }
  CHECK(overlaps == 0 &&
            memcmp(rebuilt, label.data, (size_t)segc_volume_numel(&label)) == 0,
        "masks OR'ed differ from the label (%lld overlaps)", (long long)overlaps);
  free(rebuilt);

  // --roi: the multilabel keeps only those classes (here also as float32).
  int top[3];
  top_classes(&label, top);
  char roi[1024];
  snprintf(roi, sizeof roi, "%s,%s,%s", names.names[top[0]], names.names[top[1]],
           names.names[top[2]]);
  snprintf(args, sizeof args, "-i %s -o %s/a/roi.nii.gz --roi %s --output-dtype f32",
           ct_sm, temp, roi);
  CHECK(run(args) == 0, "run C: %s", support_err);
  segc_volume kept;
  snprintf(path, sizeof path, "%s/a/roi.nii.gz", temp);
  CHECK_OK(segc_nifti_read(path, &kept, NULL));
  int64_t wrong = 0;
  const uint8_t *l = label.data;
  for (int64_t i = 0; i < segc_volume_numel(&label); ++i) {
    const int want = (l[i] == top[0] || l[i] == top[1] || l[i] == top[2]) ? l[i] : 0;
    wrong += ((const float *)kept.data)[i] != (float)want;
  }
  CHECK(kept.dtype == SEGC_F32 && same_geometry(&kept, &label) && wrong == 0,
        "--roi %s: %lld voxels wrong", roi, (long long)wrong);
  segc_volume_free(&kept);
  snprintf(path, sizeof path, "%s/a/roi.json", temp);
  CHECK_OK(segc_data_json_load(path, &root));
  CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(root, "labels")) == 4,
        "sidecar lists background and the 3 structures");
  cJSON_Delete(root);
  // --split --roi: only those masks.
  snprintf(args, sizeof args, "-i %s -o %s/d --split --roi %s", ct_sm, temp, roi);
  CHECK(run(args) == 0, "run D: %s", support_err);
  snprintf(path, sizeof path, "%s/d", temp);
  CHECK(support_count_entries(path) == 4, "3 masks + sidecar, got %d",
        support_count_entries(path));
  snprintf(path, sizeof path, "%s/d/%s.nii.gz", temp, names.names[top[1]]);
  CHECK(support_exists(path), "mask %s", path);

  // The accumulator's cell size and the thread count change nothing.
  snprintf(args, sizeof args, "-i %s -o %s/a/cell.nii.gz --sw-cell 100000", ct_sm, temp);
  CHECK(run(args) == 0, "run E: %s", support_err);
  snprintf(args, sizeof args, "-i %s -o %s/a/one.nii.gz --threads 1", ct_sm, temp);
  CHECK(run(args) == 0, "run F: %s", support_err);
  const char *variants[2] = {"cell", "one"};
  for (int v = 0; v < 2; ++v) {
    segc_volume other;
    snprintf(path, sizeof path, "%s/a/%s.nii.gz", temp, variants[v]);
    CHECK_OK(segc_nifti_read(path, &other, NULL));
    CHECK(count_differences(&other, &label) == 0, "%s: label differs", variants[v]);
    segc_volume_free(&other);
  }
  segc_labels_free(&names);
  segc_volume_free(&label);
  segc_volume_free(&ct);
  return 0;
}

// Runs and expects one "seginfer: error:" line containing `needle`, exit 1,
// and an empty output folder.
static void expect_error(const char *args, const char *needle, const char *folder) {
  const int rc = run(args);
  int lines = 0;
  for (const char *p = support_err; *p; ++p) lines += *p == '\n';
  CHECK(rc == 1 && lines == 1 && !strncmp(support_err, "seginfer: error: ", 17) &&
            test_contains(support_err, needle),
        "'%s': exit %d, stderr '%s' (wanted '%s')", args, rc, support_err, needle);
  CHECK(support_count_entries(folder) == 0, "'%s' left %d entries in %s", args,
        support_count_entries(folder), folder);
}

static int test_bad_inputs(void) {
  char args[32768], bad[2048], path[4096];
  snprintf(bad, sizeof bad, "%s/bad", temp);
  CHECK(mkdir(bad, 0755) == 0, "mkdir bad");
  snprintf(args, sizeof args, "-i %s/missing.nii.gz -o %s/x.nii.gz --stats", temp, bad);
  expect_error(args, "missing.nii.gz", bad);
  snprintf(path, sizeof path, "%s/garbage.nii.gz", temp);
  FILE *f = fopen(path, "w");
  CHECK(f && fputs("not a NIfTI file\n", f) >= 0 && fclose(f) == 0, "garbage file");
  snprintf(args, sizeof args, "-i %s -o %s/x.nii.gz", path, bad);
  expect_error(args, "garbage.nii.gz", bad);
  // A 2D image: 16x16 pixels, one slice.
  segc_volume flat;
  const int64_t dim[3] = {16, 16, 1};
  CHECK_OK(segc_volume_alloc(&flat, SEGC_I16, dim));
  for (int a = 0; a < 3; ++a) flat.affine[a][a] = 1.0;
  snprintf(path, sizeof path, "%s/flat.nii.gz", temp);
  CHECK_OK(segc_nifti_write(path, &flat, NULL));
  segc_volume_free(&flat);
  snprintf(args, sizeof args, "-i %s -o %s/x.nii.gz --split", path, bad);
  expect_error(args, "2D", bad);
  // Output where no folder can be made: below a regular file.
  snprintf(args, sizeof args, "-i %s -o %s/garbage.nii.gz/x.nii.gz", ct_sm, temp);
  expect_error(args, "cannot write", bad);
  snprintf(args, sizeof args, "-i %s -o %s/x.nii.gz --roi livr", ct_sm, bad);
  expect_error(args, "close: liver", bad);
  // A checkpoint that does not fit the network the command line names
  // (init_filters 8 vs 32). Without a config or network_def override the
  // checkpoint defines the network (tested by every run above).
  char command[32768];
  const char *build = getenv("SEGC_BUILD_DIR");
  snprintf(command, sizeof command,
           "%s/bin/seginfer --weights %s/w8.pt --lowres --quiet "
           "--set network_def.init_filters=32 -i %s -o %s/x.nii.gz",
           build && *build ? build : "build", temp, ct_sm, bad);
  int rc = support_run(temp, command);
  CHECK(rc == 1 && test_contains(support_err, "init_filters 8") &&
            test_contains(support_err, "init_filters 32") &&
            support_count_entries(bad) == 0,
        "checkpoint mismatch: exit %d, '%s'", rc, support_err);
  snprintf(command, sizeof command,
           "%s/bin/seginfer --weights %s/w8.pt --lowres --quiet -i %s -o %s/plain.nii.gz",
           build && *build ? build : "build", temp, ct_sm, temp);
  rc = support_run(temp, command);
  char plain[2048];
  snprintf(plain, sizeof plain, "%s/plain.nii.gz", temp);
  CHECK(rc == 0 && access(plain, R_OK) == 0,
        "without a config the checkpoint defines the network: exit %d, '%s'", rc,
        support_err);
  snprintf(args, sizeof args, "--weights %s -i %s -o %s/x.nii.gz", path, ct_sm, bad);
  expect_error(args, "flat.nii.gz", bad);
  // A failure after an output is written: under a 600 KB file size limit
  // the preview (~370 KB) is written, the float32 label (~980 KB) is not.
  // Nothing may stay.
  snprintf(command, sizeof command,
           "%s -i %s -o %s/x.nii.gz --stats --output-dtype f32 --preview %s/x.png",
           common, ct_full, bad, bad);
  rc = support_run_file_limit(temp, command, 600 * 1024);
  CHECK(rc == 1 && test_contains(support_err, "seginfer: error: writing the outputs of") &&
            test_contains(support_err, "File too large") &&
            support_count_entries(bad) == 0,
        "late failure: exit %d, '%s', %d entries left", rc, support_err,
        support_count_entries(bad));
  return 0;
}

int main(void) {
  const char *shared = test_shared_dir("seginfer_cli");
  if (!shared) return TEST_SKIP;
  snprintf(temp, sizeof temp, "%s", test_temp_dir("seginfer_cli"));
  snprintf(ct_sm, sizeof ct_sm, "%s/data/example_ct_sm.nii.gz", shared);
  snprintf(ct_full, sizeof ct_full, "%s/data/example_ct.nii.gz", shared);
  char weights[8192];
  snprintf(weights, sizeof weights, "%s/w8.pt", temp);
  CHECK_OK(support_make_weights(weights, 8, 20240517));
  const char *build = getenv("SEGC_BUILD_DIR");
  snprintf(common, sizeof common,
           "%s/bin/seginfer --weights %s --set network_def.init_filters=8 "
           "--lowres --dtype f32 --quiet",
           build && *build ? build : "build", weights);
  if (test_orientations()) return test_finish_failed();
  if (test_outputs()) return test_finish_failed();
  if (test_bad_inputs()) return test_finish_failed();
  if (test_failures == 0) {
    char command[8192];
    snprintf(command, sizeof command, "rm -rf %s", temp);
    if (system(command) != 0) fprintf(stderr, "could not remove %s\n", temp);
  }
  return test_finish("seginfer_cli");
}
