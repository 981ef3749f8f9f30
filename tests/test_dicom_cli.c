// seginfer and segeval on the DICOM series in ../shared/data/example_ct_dicom
// with a small random network (init_filters 8, lowres): the label seginfer
// writes for the folder equals, voxel for voxel, the label it writes for
// dcm2niix's NIfTI of the same series, on the same grid (affine within 1e-3
// mm); segeval's bundle evaluation gives the same Dice for either input;
// with a second series in the folder, seginfer refuses and lists both, and
// --series picks one. Skipped (77) without ../shared or dcm2niix.
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/nifti_io.h"
#include "dicom_craft.h"
#include "seginfer_test_support.h"
#include "util/test_util.h"

static char temp[1024], build[1024], series[8192], shared_data[4096];

static int run(const char *format, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *format, ...) {
  char command[16384];
  va_list args;
  va_start(args, format);
  vsnprintf(command, sizeof command, format, args);
  va_end(args);
  return support_run(temp, command);
}

// Reads a label file into *v; false (with a failed check) when it cannot.
static bool read_label(const char *name, segc_volume *v) {
  const segc_status status = segc_nifti_read(test_path(temp, name), v, NULL);
  CHECK(status == SEGC_OK, "reading %s: %s", name, segc_error_message());
  return status == SEGC_OK;
}

// Voxels that differ, or -1 for other dims; *affine_diff the largest
// affine difference (mm).
static int64_t compare(const segc_volume *a, const segc_volume *b,
                       double *affine_diff) {
  *affine_diff = 0.0;
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 4; ++c)
      *affine_diff = fmax(*affine_diff, fabs(a->affine[r][c] - b->affine[r][c]));
  if (memcmp(a->dim, b->dim, sizeof a->dim) != 0) return -1;
  int64_t n = 0;
  for (int64_t i = 0; i < segc_volume_numel(a); ++i)
    n += segc_load_f32(a->data, a->dtype, (size_t)i) !=
         segc_load_f32(b->data, b->dtype, (size_t)i);
  return n;
}

// The same CSV but for the first column (the input's path).
static bool same_csv_values(const char *a, const char *b) {
  static char x[1 << 16], y[1 << 16];
  support_read_all(a, x, sizeof x);
  support_read_all(b, y, sizeof y);
  const char *p = x, *q = y;
  while (*p && *q) {
    const char *pv = strchr(p, ','), *qv = strchr(q, ',');
    const char *pe = strchr(p, '\n'), *qe = strchr(q, '\n');
    if (!pv || !qv || !pe || !qe || pe - pv != qe - qv ||
        memcmp(pv, qv, (size_t)(pe - pv)) != 0)
      return false;
    p = pe + 1;
    q = qe + 1;
  }
  return x[0] && !*p && !*q;
}

static int test_seginfer(const char *common) {
  CHECK(run("%s -i %s -o %s/dicom_label.nii.gz", common, series, temp) == 0,
        "seginfer on the DICOM folder: %s", support_err);
  CHECK(run("%s -i %s/nifti/example_ct_dicom.nii -o %s/nifti_label.nii.gz",
            common, temp, temp) == 0,
        "seginfer on dcm2niix's NIfTI: %s", support_err);
  segc_volume from_dicom, from_nifti;
  if (!read_label("dicom_label.nii.gz", &from_dicom)) return 1;
  if (!read_label("nifti_label.nii.gz", &from_nifti)) return 1;
  double affine_diff = 0.0;
  const int64_t differing = compare(&from_dicom, &from_nifti, &affine_diff);
  int64_t labelled = 0;
  for (int64_t i = 0; i < segc_volume_numel(&from_dicom); ++i)
    labelled += ((uint8_t *)from_dicom.data)[i] != 0;
  printf("dicom_cli: seginfer labels: %lld voxels differ (%lld labelled), "
         "affines differ by %g mm\n", (long long)differing, (long long)labelled,
         affine_diff);
  CHECK(differing == 0, "labels differ in %lld voxels", (long long)differing);
  CHECK(affine_diff <= 1e-3, "label affines differ by %g mm", affine_diff);
  CHECK(labelled > 0, "a random network labels something");
  segc_volume_free(&from_nifti);

  // A second series in the folder: refused with both listed; --series ''
  // (the example's UIDs are empty) picks the example.
  char two[2048], path[4200];
  snprintf(two, sizeof two, "%s/two_series", temp);
  CHECK(run("mkdir -p %s && ln -s %s/* %s/", two, series, two) == 0, "links");
  for (int s = 0; s < 1; ++s) {
    uint16_t pixels[16 * 16] = {0};
    craft_slice slice = craft_default_slice(16, 16);
    slice.series_uid = "1.2.3.4.5";
    slice.description = "scout";
    slice.position[2] = s * 5.0;
    slice.pixels = pixels;
    snprintf(path, sizeof path, "%s/scout%d.dcm", two, s);
    CHECK(craft_write(path, &slice), "writing %s", path);
  }
  CHECK(run("%s -i %s -o %s/x.nii.gz", common, two, temp) == 1 &&
            test_contains(support_err, "seginfer: error: ") &&
            test_contains(support_err, "2 DICOM series; choose one with "
                          "--series UID: (empty UID) \"CT Body 3.0\" (20 slices); "
                          "1.2.3.4.5 \"scout\" (1 slice)") &&
            access(test_path(temp, "x.nii.gz"), F_OK) != 0,
        "two series: '%s'", support_err);
  CHECK(run("%s -i %s --series '' -o %s/chosen.nii.gz", common, two, temp) == 0,
        "--series '': %s", support_err);
  segc_volume chosen;
  if (read_label("chosen.nii.gz", &chosen)) {
    CHECK(compare(&chosen, &from_dicom, &affine_diff) == 0 && affine_diff == 0.0,
          "the chosen series' label");
    segc_volume_free(&chosen);
  }
  CHECK(run("%s -i %s --series 1.2.3.4.5 -o %s/scout.nii.gz", common, two, temp) == 1 &&
            test_contains(support_err, "at least 2 voxels"),
        "--series picks the one-slice scout, which is too thin: '%s'", support_err);
  segc_volume_free(&from_dicom);
  return 0;
}

// segeval --weights on a datalist naming the folder, and on one naming
// dcm2niix's NIfTI: the same Dice against the shared label.
static int test_segeval(const char *weights) {
  const char *images[2] = {series, NULL};
  char nifti[4200];
  snprintf(nifti, sizeof nifti, "%s/nifti/example_ct_dicom.nii", temp);
  images[1] = nifti;
  const char *names[2] = {"dicom", "nifti"};
  for (int d = 0; d < 2; ++d) {
    char list[4200], json[16384];
    snprintf(list, sizeof list, "%s/datalist_%s.json", temp, names[d]);
    snprintf(json, sizeof json,
             "{\"training\": [], \"validation\": [{\"image\": \"%s\", "
             "\"label\": \"%s/example_ct_dicom_label104.nii.gz\"}]}",
             images[d], shared_data);
    CHECK(craft_write_bytes(list, json, strlen(json)), "writing %s", list);
    CHECK(run("%s/bin/segeval --weights %s --set network_def.init_filters=8 "
              "--lowres --dtype f32 --datalist %s --output-dir %s/eval_%s "
              "--save-pred %s/saved_%s",
              build, weights, list, temp, names[d], temp, names[d]) == 0,
          "segeval on the %s input: %s", names[d], support_err);
  }
  char a[4200], b[4200];
  snprintf(a, sizeof a, "%s/eval_dicom/mean_dice_raw.csv", temp);
  snprintf(b, sizeof b, "%s/eval_nifti/mean_dice_raw.csv", temp);
  CHECK(same_csv_values(a, b), "segeval's Dice differs between the DICOM "
        "folder and dcm2niix's NIfTI");
  // The predictions and labels as the Dice saw them.
  const char *kinds[2] = {"pred", "label"};
  for (int k = 0; k < 2; ++k) {
    segc_volume x, y;
    char name[256];
    snprintf(name, sizeof name, "saved_dicom/example_ct_dicom_%s.nii.gz", kinds[k]);
    if (!read_label(name, &x)) continue;
    snprintf(name, sizeof name, "saved_nifti/example_ct_dicom_%s.nii.gz", kinds[k]);
    if (read_label(name, &y)) {
      double affine_diff = 0.0;
      const int64_t differing = compare(&x, &y, &affine_diff);
      CHECK(differing == 0 && affine_diff <= 1e-3, "segeval's saved %s: %lld "
            "voxels differ, affines by %g mm", kinds[k], (long long)differing,
            affine_diff);
      segc_volume_free(&y);
    }
    segc_volume_free(&x);
  }
  return 0;
}

int main(void) {
  const char *shared = test_shared_dir("dicom_cli");
  if (!shared) return TEST_SKIP;
  if (system("command -v dcm2niix >/dev/null 2>&1") != 0) {
    printf("dicom_cli: SKIPPED: dcm2niix not found (apt-get install dcm2niix; "
           "scripts/setup.sh installs it)\n");
    return TEST_SKIP;
  }
  snprintf(temp, sizeof temp, "%s", test_temp_dir("dicom_cli"));
  const char *b = getenv("SEGC_BUILD_DIR");
  snprintf(build, sizeof build, "%s", b && *b ? b : "build");
  snprintf(shared_data, sizeof shared_data, "%s/data", shared);
  snprintf(series, sizeof series, "%s/example_ct_dicom", shared_data);
  // dcm2niix's NIfTI, named as the folder so that both inputs have one case
  // name.
  CHECK(run("mkdir %s/nifti && dcm2niix -z n -b n -f example_ct_dicom -o "
            "%s/nifti %s", temp, temp, series) == 0,
        "dcm2niix: %s", support_out);
  char weights[2048];
  snprintf(weights, sizeof weights, "%s/w8.pt", temp);
  CHECK_OK(support_make_weights(weights, 8, 20240517));
  char common[8192];
  snprintf(common, sizeof common,
           "%s/bin/seginfer --weights %s --set network_def.init_filters=8 "
           "--lowres --dtype f32 --quiet", build, weights);
  if (test_seginfer(common)) return test_finish_failed();
  if (test_segeval(weights)) return test_finish_failed();
  if (test_failures == 0) run("rm -rf %s", temp);
  return test_finish("dicom_cli");
}
