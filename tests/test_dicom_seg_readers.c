// seginfer --output-type nifti,dicom-seg on the DICOM series in
// ../shared/data/example_ct_dicom with a small random network (init_filters
// 8, lowres), checked by real readers: dciodvfy (Debian's dicom3tools)
// reports no error, and pydicom + highdicom (PyPI, in a venv this test makes
// in the build folder) rebuild a label volume from the SEG that equals
// seginfer's NIfTI label voxel for voxel (tools/check_dicom_seg.py). Also:
// dicom-seg alone writes no NIfTI; a NIfTI input is refused before any work.
// Skipped (77) without ../shared, or when pip cannot install the packages
// (no network); the dciodvfy part is skipped when it is absent.
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "seginfer_test_support.h"
#include "util/test_util.h"

static char temp[1024], build[1024], series[8192];

static int run(const char *format, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *format, ...) {
  char command[16384];
  va_list args;
  va_start(args, format);
  vsnprintf(command, sizeof command, format, args);
  va_end(args);
  return support_run(temp, command);
}

// dciodvfy's verdict: no "Error" line (warnings are printed, not failed).
static void check_dciodvfy(const char *seg) {
  if (system("command -v dciodvfy >/dev/null 2>&1") != 0) {
    printf("dicom_seg_readers: dciodvfy part SKIPPED: not found (apt-get "
           "install dicom3tools; scripts/setup.sh installs it)\n");
    return;
  }
  run("dciodvfy %s", seg);
  int warnings = 0;
  for (const char *p = support_err; (p = strstr(p, "Warning")); ++p) ++warnings;
  printf("dicom_seg_readers: dciodvfy: %d warnings, %s\n", warnings,
         strstr(support_err, "Error") ? "ERRORS" : "no error");
  CHECK(!strstr(support_err, "Error") && !strstr(support_out, "Error"),
        "dciodvfy reports errors:\n%s%s", support_out, support_err);
}

// Makes (once) a venv with pydicom and highdicom; false when pip fails.
static bool make_venv(char *python, size_t size) {
  snprintf(python, size, "%s/tests/dicom_seg_venv/bin/python", build);
  if (access(python, X_OK) == 0 &&
      run("%s -c 'import highdicom, pydicom'", python) == 0)
    return true;
  if (run("python3 -m venv %s/tests/dicom_seg_venv", build) != 0) {
    printf("dicom_seg_readers: SKIPPED: python3 -m venv failed: %s\n",
           support_err);
    return false;
  }
  if (run("%s -m pip install -q --disable-pip-version-check pydicom highdicom",
          python) != 0) {
    printf("dicom_seg_readers: SKIPPED: pip cannot install pydicom and "
           "highdicom (no access to PyPI?): %.400s\n", support_err);
    return false;
  }
  return true;
}

int main(void) {
  const char *shared = test_shared_dir("dicom_seg_readers");
  if (!shared) return TEST_SKIP;
  snprintf(temp, sizeof temp, "%s", test_temp_dir("dicom_seg_readers"));
  const char *b = getenv("SEGC_BUILD_DIR");
  snprintf(build, sizeof build, "%s", b && *b ? b : "build");
  snprintf(series, sizeof series, "%s/data/example_ct_dicom", shared);
  char weights[2048], common[8192];
  snprintf(weights, sizeof weights, "%s/w8.pt", temp);
  CHECK_OK(support_make_weights(weights, 8, 20240517));
  snprintf(common, sizeof common,
           "%s/bin/seginfer --weights %s --set network_def.init_filters=8 "
           "--lowres --dtype f32 --quiet", build, weights);

  CHECK(run("%s -i %s --output-type nifti,dicom-seg -o %s/label.nii.gz",
            common, series, temp) == 0, "seginfer: %s", support_err);
  const char *seg = test_path(temp, "label.dcm");
  CHECK(access(seg, F_OK) == 0 && access(test_path(temp, "label.nii.gz"), F_OK) == 0,
        "label.dcm and label.nii.gz written: %s", support_err);
  // The example is anonymised: no study or series UID.
  CHECK(test_contains(support_err, "has no StudyInstanceUID SeriesInstanceUID"),
        "the note on missing UIDs: '%s'", support_err);
  check_dciodvfy(seg);

  // dicom-seg alone: -o names the .dcm; no NIfTI. A NIfTI input: refused.
  CHECK(run("%s -i %s --output-type dicom-seg -o %s/only.dcm", common, series,
            temp) == 0 && access(test_path(temp, "only.dcm"), F_OK) == 0 &&
            access(test_path(temp, "only.nii.gz"), F_OK) != 0,
        "dicom-seg alone: %s", support_err);
  CHECK(run("%s -i %s/data/example_ct_sm.nii.gz --output-type dicom-seg -o "
            "%s/x.dcm", common, shared, temp) == 1 &&
            test_contains(support_err, "--output-type dicom-seg needs DICOM "
                          "series inputs (folders)") &&
            access(test_path(temp, "x.dcm"), F_OK) != 0,
        "NIfTI input refused: '%s'", support_err);
  CHECK(run("%s -i %s --output-type dicom -o %s/y.dcm", common, series,
            temp) == 2 && test_contains(support_err, "--output-type dicom: "
                                        "expected nifti, dicom-seg"),
        "unknown type: '%s'", support_err);

  char python[2048];
  if (!make_venv(python, sizeof python)) return TEST_SKIP;
  const int rc = run("%s tools/check_dicom_seg.py %s %s/label.nii.gz "
                     "%s/label.json %s", python, seg, temp, temp, series);
  fputs(support_out, stdout);
  CHECK(rc == 0 && test_contains(support_out, " 0 differ"),
        "highdicom's label differs from the NIfTI (rc %d): %s%s", rc,
        support_out, support_err);
  // The random network labels every voxel (43 structures, most not on every
  // slice: 691 frames of 860, so frames are left out); with --roi the other
  // voxels are background.
  CHECK(run("%s -i %s --roi spleen,kidney_left,rib_left_3,brain --output-type "
            "nifti,dicom-seg -o %s/roi.nii.gz", common, series, temp) == 0,
        "seginfer --roi: %s", support_err);
  const int roi_rc = run("%s tools/check_dicom_seg.py %s/roi.dcm %s/roi.nii.gz "
                         "%s/roi.json %s", python, temp, temp, temp, series);
  fputs(support_out, stdout);
  CHECK(roi_rc == 0 && test_contains(support_out, " 0 differ") &&
            test_contains(support_out, " 4 segments"),
        "--roi: highdicom's label differs from the NIfTI (rc %d): %s%s",
        roi_rc, support_out, support_err);
  if (test_failures == 0) run("rm -rf %s", temp);
  return test_finish("dicom_seg_readers");
}
