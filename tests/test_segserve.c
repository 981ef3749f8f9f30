// segserve end to end (label "server"): a tiny random checkpoint and a
// phantom CT, seginfer's label as the reference, then
// tests/server/segserve_client.py starts segserve on a free loopback port
// and drives it as MONAI Label's client and 3D Slicer do (info, sessions,
// datastore, infer), with bad requests, a bounded load test and SIGTERM.
// Every label the server returned must equal seginfer's voxel for voxel.
// Skips (77) when segserve was not built (no libmicrohttpd) or python3
// with requests is missing.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/nifti_io.h"
#include "seginfer_test_support.h"
#include "util/test_util.h"

static char temp[4096];

static void compare_labels(const char *reference_path, const char *name) {
  char path[8192];
  snprintf(path, sizeof path, "%s/work/%s", temp, name);
  segc_volume reference = {0}, got = {0};
  if (segc_nifti_read(reference_path, &reference, NULL) != SEGC_OK ||
      segc_nifti_read(path, &got, NULL) != SEGC_OK) {
    CHECK(false, "%s: %s", name, segc_error_message());
    segc_volume_free(&reference);
    segc_volume_free(&got);
    return;
  }
  const int64_t n = segc_volume_numel(&reference);
  CHECK(got.dtype == SEGC_U8 && reference.dtype == SEGC_U8 &&
            !memcmp(got.dim, reference.dim, sizeof got.dim) &&
            !memcmp(got.data, reference.data, (size_t)n) &&
            !memcmp(got.affine, reference.affine, sizeof got.affine),
        "%s: the server's label differs from seginfer's", name);
  segc_volume_free(&reference);
  segc_volume_free(&got);
}

int main(void) {
  const char *build_env = getenv("SEGC_BUILD_DIR");
  const char *source_env = getenv("SEGC_SOURCE_DIR");
  const char *build = build_env && *build_env ? build_env : "build";
  const char *source = source_env && *source_env ? source_env : ".";
  char segserve[4200];
  snprintf(segserve, sizeof segserve, "%s/bin/segserve", build);
  if (access(segserve, X_OK) != 0) {
    printf("segserve: skipped: %s was not built (libmicrohttpd-dev missing)\n", segserve);
    return TEST_SKIP;
  }
  if (system("python3 -c 'import requests' >/dev/null 2>&1") != 0) {
    printf("segserve: skipped: python3 with requests is needed for the client\n");
    return TEST_SKIP;
  }
  snprintf(temp, sizeof temp, "%s", test_temp_dir("segserve"));
  char weights[8192], command[32768], ct[8192], reference[8192];
  snprintf(weights, sizeof weights, "%s/w8.pt", temp);
  CHECK_OK(support_make_weights(weights, 8, 20261206));
  snprintf(command, sizeof command,
           "%s/bin/segprep phantom --out %s/ph --cases 1 --val 0 --size 40,36,32 "
           "--spacing 3 --orientation LPS --seed 9", build, temp);
  CHECK(support_run(temp, command) == 0, "phantom: %s", support_err);
  snprintf(ct, sizeof ct, "%s/ph/imagesTr/case_0000.nii.gz", temp);
  snprintf(reference, sizeof reference, "%s/reference.nii.gz", temp);
  // The options segserve gets too: the label must be the same. A 32^3
  // window keeps each inference short.
  const char *options = "--lowres --dtype f32 --threads 2 --set 'sw_roi=[32,32,32]'";
  snprintf(command, sizeof command, "%s/bin/seginfer --weights %s %s --quiet -i %s -o %s",
           build, weights, options, ct, reference);
  CHECK(support_run(temp, command) == 0, "seginfer: %s", support_err);
  if (test_failures) return test_finish_failed();
  snprintf(command, sizeof command,
           "python3 %s/tests/server/segserve_client.py --segserve %s --weights %s "
           "--options \"%s\" --ct %s --work %s/work",
           source, segserve, weights, options, ct, temp);
  const int rc = support_run(temp, command);
  printf("%s", support_out);
  CHECK(rc == 0, "the client reported failures (exit %d):\n%s", rc, support_err);
  const char *outputs[] = {"label_session.nii.gz", "label_upload.nii.gz",
                           "label_datastore.nii.gz", "label_image_only.nii.gz",
                           "label_sigterm.nii.gz"};
  for (size_t i = 0; i < sizeof outputs / sizeof *outputs; ++i)
    compare_labels(reference, outputs[i]);
  if (test_failures == 0) {
    snprintf(command, sizeof command, "rm -rf %s", temp);
    if (system(command) != 0) fprintf(stderr, "could not remove %s\n", temp);
  }
  return test_finish("segserve");
}
