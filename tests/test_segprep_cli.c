// build/bin/segprep end to end: bad arguments give one "segprep: error:"
// line and a non-zero exit, --help works for every command, and a small
// phantom -> resample -> merge run produces what the library says.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "data/datalist.h"
#include "data/labels.h"
#include "data/nifti_io.h"
#include "util/test_util.h"

static char segprep[4096];
static char temp[4096];
static char out_text[1 << 16], err_text[1 << 16];

static void read_all(const char *path, char *buffer, size_t size) {
  buffer[0] = '\0';
  FILE *f = fopen(path, "r");
  if (!f) return;
  const size_t n = fread(buffer, 1, size - 1, f);
  buffer[n] = '\0';
  fclose(f);
}

// Runs segprep with `args`; returns its exit status (-1 if it did not exit).
static int run(const char *args) {
  char command[16384];
  snprintf(command, sizeof command, "%s %s >%s/out.txt 2>%s/err.txt", segprep,
           args, temp, temp);
  const int status = system(command);
  char path[4200];
  snprintf(path, sizeof path, "%s/out.txt", temp);
  read_all(path, out_text, sizeof out_text);
  snprintf(path, sizeof path, "%s/err.txt", temp);
  read_all(path, err_text, sizeof err_text);
  return status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void expect_error(const char *args, const char *needle) {
  const int rc = run(args);
  CHECK(rc > 0, "'%s' exits %d", args, rc);
  CHECK(strncmp(err_text, "segprep: error: ", 16) == 0 &&
            test_contains(err_text, needle),
        "'%s': stderr '%s' lacks '%s'", args, err_text, needle);
}

static int test_bad_arguments(void) {
  char args[8192];
  expect_error("", "no command given");
  expect_error("frobnicate", "unknown command 'frobnicate'");
  expect_error("phantom --cases 2", "--out DIR is required");
  snprintf(args, sizeof args, "phantom --out %s/p --cases abc", temp);
  expect_error(args, "bad value 'abc' for --cases");
  snprintf(args, sizeof args, "phantom --out %s/p --cases 2 --orientation XYZ", temp);
  expect_error(args, "not one of R L A P S I");
  snprintf(args, sizeof args, "phantom --out %s/p --cases 2 --size 10,10", temp);
  expect_error(args, "bad value '10,10' for --size");
  snprintf(args, sizeof args, "phantom --out %s/p --cases 2 --spacing 1,2,3,4", temp);
  expect_error(args, "bad value '1,2,3,4' for --spacing");
  snprintf(args, sizeof args, "phantom --out %s/p --cases 3 --val 3 --size 8,8,8", temp);
  expect_error(args, "none to train");
  snprintf(args, sizeof args, "phantom --out %s/p --cases 2 --bogus", temp);
  expect_error(args, "unexpected argument '--bogus'");
  expect_error("phantom --out", "option --out needs a value");
  expect_error("merge onlyone", "need <masks-dir> <out.nii.gz>");
  expect_error("merge /nonexistent/masks out.nii.gz", "/nonexistent/masks");
  expect_error("merge --dataset /nonexistent/ds out", "/nonexistent/ds");
  expect_error("merge a b --labels /nonexistent/labels.json",
               "/nonexistent/labels.json");
  expect_error("merge a b --fast", "unknown option '--fast'");
  expect_error("resample in.nii.gz out.nii.gz", "give --spacing or --shape");
  expect_error("resample /nonexistent/in.nii.gz out.nii.gz --spacing 2",
               "/nonexistent/in.nii.gz");
  expect_error("resample a b --shape 0,4,4", "bad value '0,4,4' for --shape");
  expect_error("resample a b --shape 4,4,4.5", "bad value");
  // Help: exit 0, usage on stdout.
  const char *help[] = {"--help", "phantom --help", "merge --help",
                        "resample --help"};
  for (int h = 0; h < 4; ++h) {
    const int rc = run(help[h]);
    CHECK(rc == 0 && strncmp(out_text, "usage: segprep", 14) == 0,
          "'%s' exits %d with '%.40s'", help[h], rc, out_text);
  }
  return 0;
}

static int test_pipeline(void) {
  char args[16384], path[8192];
  // A tiny LPS dataset.
  snprintf(args, sizeof args,
           "phantom --out %s/ds --cases 3 --size 24,20,16 --spacing 12 "
           "--orientation LPS --seed 7",
           temp);
  CHECK(run(args) == 0, "phantom run: %s", err_text);
  segc_datalist list;
  snprintf(path, sizeof path, "%s/ds/datalist.json", temp);
  CHECK_OK(segc_datalist_read_json(path, true, &list));
  CHECK(list.count[SEGC_DATALIST_TRAINING] == 2 &&
            list.count[SEGC_DATALIST_VALIDATION] == 1,
        "3 cases: 2 train, 1 validates");
  segc_datalist_free(&list);

  // Resample the CT to a shape: same extent, int16 kept.
  snprintf(args, sizeof args,
           "resample %s/ds/imagesTr/case_0000.nii.gz %s/big.nii.gz --shape 30,25,20",
           temp, temp);
  CHECK(run(args) == 0, "resample run: %s", err_text);
  segc_volume ct, big;
  snprintf(path, sizeof path, "%s/ds/imagesTr/case_0000.nii.gz", temp);
  CHECK_OK(segc_nifti_read(path, &ct, NULL));
  snprintf(path, sizeof path, "%s/big.nii.gz", temp);
  CHECK_OK(segc_nifti_read(path, &big, NULL));
  CHECK(big.dim[0] == 30 && big.dim[1] == 25 && big.dim[2] == 20 &&
            big.dtype == SEGC_I16,
        "resampled dims and dtype");
  // LPS: ct is 24,20,16 (no permutation); the last voxel stays in place.
  for (int r = 0; r < 3; ++r) {
    const double last_in = ct.affine[r][0] * 23 + ct.affine[r][1] * 19 +
                           ct.affine[r][2] * 15 + ct.affine[r][3];
    const double last_out = big.affine[r][0] * 29 + big.affine[r][1] * 24 +
                            big.affine[r][2] * 19 + big.affine[r][3];
    // float32 affines in the files: 1e-3 mm.
    CHECK(fabs(last_in - last_out) < 1e-3 &&
              fabs(ct.affine[r][3] - big.affine[r][3]) < 1e-3,
          "world extent kept on axis %d (%g vs %g)", r, last_in, last_out);
  }
  segc_volume_free(&big);
  segc_volume_free(&ct);

  // A label with --nearest keeps its classes.
  snprintf(args, sizeof args,
           "resample %s/ds/labelsTr/case_0001.nii.gz %s/label6.nii.gz "
           "--spacing 6 --nearest",
           temp, temp);
  CHECK(run(args) == 0, "resample --nearest: %s", err_text);
  segc_volume label, label6;
  snprintf(path, sizeof path, "%s/ds/labelsTr/case_0001.nii.gz", temp);
  CHECK_OK(segc_nifti_read(path, &label, NULL));
  snprintf(path, sizeof path, "%s/label6.nii.gz", temp);
  CHECK_OK(segc_nifti_read(path, &label6, NULL));
  bool present[256] = {false};
  for (int64_t v = 0; v < segc_volume_numel(&label); ++v)
    present[((uint8_t *)label.data)[v]] = true;
  int64_t foreign = 0;
  for (int64_t v = 0; v < segc_volume_numel(&label6); ++v)
    foreign += !present[((uint8_t *)label6.data)[v]];
  CHECK(label6.dtype == SEGC_U8 && foreign == 0 && label6.dim[0] == 47,
        "nearest: %lld new values, dim %lld (23 * 12 / 6 + 1 = 47)",
        (long long)foreign, (long long)label6.dim[0]);
  segc_volume_free(&label6);

  // Split the label into masks and merge them back with the program.
  segc_label_table labels;
  CHECK_OK(segc_labels_bundle(&labels));
  snprintf(path, sizeof path, "%s/masks", temp);
  CHECK(mkdir(path, 0777) == 0, "mkdir masks");
  const int64_t n = segc_volume_numel(&label);
  for (int c = 1; c < labels.count; ++c) {
    if (!present[c]) continue;
    segc_volume mask;
    CHECK_OK(segc_volume_alloc(&mask, SEGC_U8, label.dim));
    memcpy(mask.affine, label.affine, sizeof mask.affine);
    for (int64_t v = 0; v < n; ++v)
      ((uint8_t *)mask.data)[v] = ((uint8_t *)label.data)[v] == c;
    snprintf(path, sizeof path, "%s/masks/%s.nii.gz", temp, labels.names[c]);
    CHECK_OK(segc_nifti_write(path, &mask, NULL));
    segc_volume_free(&mask);
  }
  snprintf(args, sizeof args, "merge %s/masks %s/merged.nii.gz", temp, temp);
  CHECK(run(args) == 0 && test_contains(out_text, "0 overlapping voxels"),
        "merge run: %s %s", out_text, err_text);
  segc_volume merged;
  snprintf(path, sizeof path, "%s/merged.nii.gz", temp);
  CHECK_OK(segc_nifti_read(path, &merged, NULL));
  CHECK(segc_volume_numel(&merged) == n &&
            memcmp(merged.data, label.data, (size_t)n) == 0,
        "merged label equals the phantom's");
  segc_volume_free(&merged);
  segc_volume_free(&label);
  segc_labels_free(&labels);
  return 0;
}

int main(void) {
  const char *build = getenv("SEGC_BUILD_DIR");
  snprintf(segprep, sizeof segprep, "%s/bin/segprep",
           build && *build ? build : "build");
  struct stat st;
  if (stat(segprep, &st) != 0) {
    fprintf(stderr, "FAIL: %s not found (set SEGC_BUILD_DIR)\n", segprep);
    return 1;
  }
  snprintf(temp, sizeof temp, "%s", test_temp_dir("segprep_cli"));
  // A CHECK_OK failure returns 1 from its function without counting it.
  int stopped = 0;
  stopped |= test_bad_arguments();
  stopped |= test_pipeline();
  return test_finish("segprep_cli") | stopped;
}
