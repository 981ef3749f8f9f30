// segserve end to end (label "server"): a tiny random checkpoint and a
// phantom CT, seginfer's label as the reference, then
// tests/server/segserve_client.py starts segserve on a free loopback port
// and drives it as MONAI Label's client and 3D Slicer do (info, sessions,
// datastore, infer), with bad requests, a bounded load test and SIGTERM.
// Every label the server returned must equal seginfer's voxel for voxel.
// MONAI Label's own Python client drives it too, installed from PyPI into a
// venv in the build folder (`pip install --no-deps monailabel` and requests:
// the client needs nothing else); skipped with a message when that cannot
// be installed. With ../shared, the example DICOM series is put in the
// studies folder:
// the server's NIfTI of it must hold segc's reading of the series, and its
// label must equal seginfer's on the folder.
// Skips (77) when segserve was not built (no libmicrohttpd) or python3
// with requests is missing.
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/dicom_internal.h"
#include "data/image_read.h"
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

// The server's download of the series holds the series as segc reads it.
static void compare_series(const char *folder, const char *name) {
  char path[8192];
  snprintf(path, sizeof path, "%s/work/%s", temp, name);
  segc_volume series = {0}, got = {0};
  if (segc_image_read(folder, NULL, &series, NULL) != SEGC_OK ||
      segc_nifti_read(path, &got, NULL) != SEGC_OK) {
    CHECK(false, "%s: %s", name, segc_error_message());
  } else {
    const int64_t n = segc_volume_numel(&series);
    int64_t differ = 0;
    for (int64_t i = 0; i < n && !memcmp(got.dim, series.dim, sizeof got.dim); ++i)
      differ += segc_load_f32(got.data, got.dtype, (size_t)i) !=
                segc_load_f32(series.data, series.dtype, (size_t)i);
    CHECK(!memcmp(got.dim, series.dim, sizeof got.dim) && differ == 0 &&
              !memcmp(got.affine, series.affine, sizeof got.affine),
          "%s: %lld voxels differ from the series (or the grid does)", name,
          (long long)differ);
  }
  segc_volume_free(&series);
  segc_volume_free(&got);
}

// The server's DICOM SEG holds seginfer's: the same class, grid and frames
// bit for bit (the UIDs are new in each).
static void compare_segs(const char *reference_path, const char *name) {
  char path[8192];
  snprintf(path, sizeof path, "%s/work/%s", temp, name);
  segc_dicom_buffer a = {0}, b = {0};
  segc_dicom_attributes x, y;
  bool part10_a = false, part10_b = false;
  const bool read =
      segc_dicom_load(reference_path, &a, &part10_a) == SEGC_OK && part10_a &&
      segc_dicom_parse(&a, reference_path, &x) == SEGC_OK &&
      segc_dicom_load(path, &b, &part10_b) == SEGC_OK && part10_b &&
      segc_dicom_parse(&b, path, &y) == SEGC_OK;
  CHECK(read, "%s: %s", name, segc_error_message());
  if (read)
    CHECK(!strcmp(x.sop_class, y.sop_class) && x.rows == y.rows &&
              x.columns == y.columns && x.frames == y.frames &&
              x.pixel_length == y.pixel_length &&
              !memcmp(a.dataset + x.pixel_offset, b.dataset + y.pixel_offset,
                      x.pixel_length),
          "%s: the server's DICOM SEG (%d frames) differs from seginfer's (%d)",
          name, y.frames, x.frames);
  segc_dicom_buffer_free(&a);
  segc_dicom_buffer_free(&b);
}

static int count_entries(const char *path) {
  DIR *dir = opendir(path);
  if (!dir) return -1;
  int n = 0;
  for (struct dirent *e; (e = readdir(dir)) != NULL;) n += e->d_name[0] != '.';
  closedir(dir);
  return n;
}

// Bad command lines and settings: one "segserve: error:" line naming the
// setting, status 2 (usage) or 1, and no temporary folder left.
static void test_arguments(const char *segserve, const char *weights) {
  char tmp[4200], command[20000], empty_token[4200];
  snprintf(tmp, sizeof tmp, "%s/args_tmp", temp);
  snprintf(empty_token, sizeof empty_token, "%s/empty_token.txt", temp);
  FILE *f = fopen(empty_token, "w");
  CHECK(f && fclose(f) == 0, "empty token file");
  CHECK(mkdir(tmp, 0700) == 0, "%s", tmp);
  // A port in use: this test holds one.
  const int holder = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in address = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t length = sizeof address;
  CHECK(holder >= 0 && bind(holder, (struct sockaddr *)&address, sizeof address) == 0 &&
            listen(holder, 1) == 0 &&
            getsockname(holder, (struct sockaddr *)&address, &length) == 0,
        "a port to hold");
  char busy_port[32];
  snprintf(busy_port, sizeof busy_port, "--port %d", ntohs(address.sin_port));
  const struct {
    const char *args;
    int status;
    const char *needle;
  } cases[] = {
      {"", 2, "--weights is required"},
      {"--weights @W --port 70000", 2, "--port must be an integer from 0 to 65535"},
      {"--weights @W --port 8x", 2, "not '8x'"},
      {"--weights @W --queue 0", 2, "--queue must be"},
      {"--weights @W --max-upload-mb -1", 2, "--max-upload-mb must be"},
      {"--weights @W --bogus 1", 2, "unknown option --bogus"},
      {"--weights @W --host", 2, "--host needs a value"},
      {"--weights @W --host localhost.invalid --port 0", 1, "--host localhost.invalid"},
      {"--weights @W --token-file /nonexistent/token", 1, "--token-file /nonexistent/token"},
      {"--weights @W --token-file @E", 1, "the first line (the token) is empty"},
      {"--weights @W --studies /nonexistent/studies", 1, "--studies /nonexistent/studies"},
      {"--weights /nonexistent/model.pt --port 0", 1, "/nonexistent/model.pt"},
      {"--weights @W @P", 1, "cannot listen"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; ++i) {
    // @W, @E and @P stand for the checkpoint, the empty token file and the
    // held port.
    char args[8192];
    size_t n = 0;
    for (const char *c = cases[i].args; *c && n + 1 < sizeof args; ++c) {
      const char *with = c[0] != '@' ? NULL : c[1] == 'W' ? weights
                         : c[1] == 'E' ? empty_token : c[1] == 'P' ? busy_port : NULL;
      if (with) {
        n += (size_t)snprintf(args + n, sizeof args - n, "%s", with);
        ++c;
      } else {
        args[n++] = *c;
      }
    }
    args[n < sizeof args ? n : sizeof args - 1] = '\0';
    snprintf(command, sizeof command, "TMPDIR=%s %s --lowres --threads 1 %s </dev/null",
             tmp, segserve, args);
    const int rc = support_run(temp, command);
    CHECK(rc == cases[i].status && test_contains(support_err, "segserve: error: ") &&
              test_contains(support_err, cases[i].needle) && count_entries(tmp) == 0,
          "'%s': exit %d (wanted %d), %d entries left, '%s'", args, rc, cases[i].status,
          count_entries(tmp), support_err);
  }
  if (holder >= 0) close(holder);
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
  snprintf(temp, sizeof temp, "%s", test_temp_dir("segserve"));
  char weights[8192], command[32768], ct[8192], reference[8192];
  snprintf(weights, sizeof weights, "%s/w8.pt", temp);
  CHECK_OK(support_make_weights(weights, 8, 20261206));
  test_arguments(segserve, weights);
  if (system("python3 -c 'import requests' >/dev/null 2>&1") != 0) {
    printf("segserve: the client part is skipped: python3 with requests is needed\n");
    return test_failures ? test_finish("segserve") : TEST_SKIP;
  }
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
  // The example DICOM series, when ../shared is there.
  const char *shared = getenv("SEGC_SHARED_DIR");
  char dicom[8192] = "", dicom_reference[8192], seg_reference[8192];
  snprintf(dicom_reference, sizeof dicom_reference, "%s/reference_dicom.nii.gz", temp);
  snprintf(seg_reference, sizeof seg_reference, "%s/reference_seg.dcm", temp);
  if (shared && *shared) {
    snprintf(dicom, sizeof dicom, "%s/data/example_ct_dicom", shared);
    struct stat st;
    if (stat(dicom, &st) != 0 || !S_ISDIR(st.st_mode)) dicom[0] = '\0';
  }
  if (dicom[0]) {
    snprintf(command, sizeof command,
             "%s/bin/seginfer --weights %s %s --quiet -i %s -o %s", build,
             weights, options, dicom, dicom_reference);
    CHECK(support_run(temp, command) == 0, "seginfer on the series: %s", support_err);
    snprintf(command, sizeof command,
             "%s/bin/seginfer --weights %s %s --quiet -i %s --output-type "
             "dicom-seg -o %s", build, weights, options, dicom, seg_reference);
    CHECK(support_run(temp, command) == 0, "seginfer's DICOM SEG: %s", support_err);
  } else {
    printf("segserve: the DICOM series part is skipped: no ../shared/data/example_ct_dicom\n");
  }
  if (test_failures) return test_finish_failed();
  // MONAI Label's client in a venv kept in the build folder between runs.
  char venv_python[4400], monailabel_flag[4500] = "";
  snprintf(venv_python, sizeof venv_python, "%s/tests/monailabel_venv/bin/python", build);
  snprintf(command, sizeof command,
           "( %s -c 'import monailabel.client' || ( python3 -m venv %s/tests/monailabel_venv"
           " && %s -m pip install -q requests && %s -m pip install -q --no-deps "
           "monailabel==0.8.5 && %s -c 'import monailabel.client' ) ) >/dev/null 2>&1",
           venv_python, build, venv_python, venv_python, venv_python);
  if (system(command) == 0)
    snprintf(monailabel_flag, sizeof monailabel_flag, " --monailabel-python %s",
             venv_python);
  else
    printf("segserve: MONAI Label's own client is skipped: it could not be "
           "installed into %s/tests/monailabel_venv (no PyPI?)\n", build);
  snprintf(command, sizeof command,
           "python3 %s/tests/server/segserve_client.py --segserve %s --weights %s "
           "--options \"%s\" --ct %s --work %s/work%s%s%s",
           source, segserve, weights, options, ct, temp, dicom[0] ? " --dicom " : "",
           dicom, monailabel_flag);
  const int rc = support_run(temp, command);
  printf("%s", support_out);
  CHECK(rc == 0, "the client reported failures (exit %d):\n%s", rc, support_err);
  const char *outputs[] = {"label_session.nii.gz", "label_upload.nii.gz",
                           "label_datastore.nii.gz", "label_image_only.nii.gz",
                           "label_sigterm.nii.gz"};
  for (size_t i = 0; i < sizeof outputs / sizeof *outputs; ++i)
    compare_labels(reference, outputs[i]);
  static char server_err[1 << 16];
  snprintf(command, sizeof command, "%s/work/segserve_stderr.txt", temp);
  support_read_all(command, server_err, sizeof server_err);
  CHECK(test_contains(server_err, "segserve: compute dtype: f32 (--dtype f32 "
                                  "or amp false: exact parity)\n"),
        "segserve says its compute dtype: '%s'", server_err);
  if (monailabel_flag[0]) {
    compare_labels(reference, "label_monailabel_session.nii.gz");
    compare_labels(reference, "label_monailabel_datastore.nii.gz");
  }
  if (dicom[0]) {
    compare_labels(dicom_reference, "label_dicom.nii.gz");
    compare_segs(seg_reference, "seg_dicom.dcm");
    compare_series(dicom, "series_download.nii.gz");
  }
  if (test_failures == 0) {
    snprintf(command, sizeof command, "rm -rf %s", temp);
    if (system(command) != 0) fprintf(stderr, "could not remove %s\n", temp);
  }
  return test_finish("segserve");
}
