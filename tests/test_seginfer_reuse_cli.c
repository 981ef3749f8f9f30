// build/bin/seginfer reuses the logits of constant windows (issue 13): the
// shared example_ct_sm (122x101x30, 3 mm) widened along x to 260 voxels of
// -1024 HU, as a scanner's field of view would leave air outside the body,
// at lowres (3 mm: nothing to resample, so the added air stays exactly
// constant through the preprocessing). Windows: 4 along x (the last two
// only air), 2 along y, 1 along z: 4 constant windows, 3 reused. The label
// is bitwise the label with SEGC_SW_REUSE=0 (every window computed); the
// printed report, --report JSON and the sidecar give the counts; a bad
// SEGC_SW_REUSE is one error line and no output.
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/json_file.h"
#include "data/nifti_io.h"
#include "seginfer_test_support.h"
#include "util/test_util.h"

enum { kWide = 260, kWindows = 8, kReused = 3 };

static char temp[1024], common[4096];

static int run(const char *env, const char *args) {
  char command[16384];
  snprintf(command, sizeof command, "%s %s %s", env, common, args);
  return support_run(temp, command);
}

static int json_int(const cJSON *object, const char *key) {
  const cJSON *item = cJSON_GetObjectItem(object, key);
  return cJSON_IsNumber(item) ? item->valueint : -1;
}

// The report JSON's first case and the sidecar's sliding_window counts.
static int check_counts(const char *stem, const char *what, int reused) {
  char path[4096];
  cJSON *root;
  snprintf(path, sizeof path, "%s.report.json", stem);
  CHECK_OK(segc_data_json_load(path, &root));
  const cJSON *c0 = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "cases"), 0);
  CHECK(json_int(c0, "windows") == kWindows &&
            json_int(c0, "windows_reused") == reused &&
            json_int(c0, "windows_computed") == kWindows - reused,
        "%s: report windows %d, reused %d, computed %d; expected %d, %d, %d",
        what, json_int(c0, "windows"), json_int(c0, "windows_reused"),
        json_int(c0, "windows_computed"), kWindows, reused, kWindows - reused);
  cJSON_Delete(root);
  snprintf(path, sizeof path, "%s.json", stem);
  CHECK_OK(segc_data_json_load(path, &root));
  const cJSON *sw = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "pipeline"),
                                        "sliding_window");
  CHECK(json_int(sw, "windows") == kWindows &&
            json_int(sw, "windows_reused") == reused &&
            json_int(sw, "windows_computed") == kWindows - reused,
        "%s: sidecar windows %d, reused %d, computed %d", what,
        json_int(sw, "windows"), json_int(sw, "windows_reused"),
        json_int(sw, "windows_computed"));
  cJSON_Delete(root);
  char line[128];
  snprintf(line, sizeof line, "windows: %d computed, %d constant reused",
           kWindows - reused, reused);
  CHECK(test_contains(support_out, line), "%s: '%s' printed: %s", what, line,
        support_out);
  return 0;
}

int main(void) {
  const char *shared = test_shared_dir("seginfer_reuse_cli");
  if (!shared) return TEST_SKIP;
  snprintf(temp, sizeof temp, "%s", test_temp_dir("seginfer_reuse_cli"));
  char weights[2048], wide[2048], path[4096], stem[2048];
  snprintf(weights, sizeof weights, "%s/w8.pt", temp);
  CHECK_OK(support_make_weights(weights, 8, 20240517));
  const char *build = getenv("SEGC_BUILD_DIR");
  snprintf(common, sizeof common,
           "%s/bin/seginfer --weights %s --set network_def.init_filters=8 "
           "--lowres --dtype f32",
           build && *build ? build : "build", weights);

  // example_ct_sm with air to x = 260 (the affine's origin unchanged).
  segc_volume ct, widened;
  CHECK_OK(segc_nifti_read(test_path(test_path(shared, "data"),
                                     "example_ct_sm.nii.gz"),
                           &ct, NULL));
  const int64_t dim[3] = {kWide, ct.dim[1], ct.dim[2]};
  CHECK_OK(segc_volume_alloc(&widened, SEGC_F32, dim));
  memcpy(widened.affine, ct.affine, sizeof ct.affine);
  float *x = widened.data;
  for (int64_t i = 0; i < dim[0]; ++i)
    for (int64_t j = 0; j < dim[1]; ++j)
      for (int64_t k = 0; k < dim[2]; ++k)
        x[(i * dim[1] + j) * dim[2] + k] =
            i < ct.dim[0] ? segc_load_f32(ct.data, ct.dtype,
                                          (size_t)segc_volume_offset(&ct, i, j, k))
                          : -1024.0f;
  snprintf(wide, sizeof wide, "%s/wide.nii.gz", temp);
  CHECK_OK(segc_nifti_write(wide, &widened, NULL));
  segc_volume_free(&ct);
  segc_volume_free(&widened);

  segc_volume label[2];
  const char *env[2] = {"SEGC_SW_REUSE=0", ""};
  const char *names[2] = {"reuse off", "reuse on"};
  for (int on = 0; on < 2; ++on) {
    snprintf(stem, sizeof stem, "%s/%s", temp, on ? "on" : "off");
    char args[8192];
    snprintf(args, sizeof args, "-i %s -o %s.nii.gz --report %s.report.json",
             wide, stem, stem);
    CHECK(run(env[on], args) == 0, "%s: %s", names[on], support_err);
    if (check_counts(stem, names[on], on ? kReused : 0)) return 1;
    snprintf(path, sizeof path, "%s.nii.gz", stem);
    CHECK_OK(segc_nifti_read(path, &label[on], NULL));
  }
  const int64_t n = segc_volume_numel(&label[0]);
  int64_t differ = 0;
  for (int64_t i = 0; i < n; ++i)
    differ += ((const uint8_t *)label[0].data)[i] !=
              ((const uint8_t *)label[1].data)[i];
  CHECK(differ == 0, "%lld of %lld labels differ with reuse", (long long)differ,
        (long long)n);
  segc_volume_free(&label[0]);
  segc_volume_free(&label[1]);

  // A bad switch: one error line naming it, nothing written.
  char bad[2048], args[8192];
  snprintf(bad, sizeof bad, "%s/bad", temp);
  CHECK(mkdir(bad, 0755) == 0, "mkdir %s", bad);
  snprintf(args, sizeof args, "-i %s -o %s/x.nii.gz", wide, bad);
  const int rc = run("SEGC_SW_REUSE=yes", args);
  CHECK(rc == 1 && test_contains(support_err, "SEGC_SW_REUSE") &&
            test_contains(support_err, "\"yes\"") &&
            support_count_entries(bad) == 0,
        "bad SEGC_SW_REUSE: exit %d, '%s'", rc, support_err);
  if (test_failures == 0) {
    char command[4096];
    snprintf(command, sizeof command, "rm -rf %s", temp);
    if (system(command) != 0) fprintf(stderr, "could not remove %s\n", temp);
  }
  return test_finish("seginfer_reuse_cli");
}
