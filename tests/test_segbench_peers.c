// build/bin/segbench peers on a small window (32^3, the bundle's network).
//   test_segbench_peers          without the peers' Python (--python names
//                                none): segc's row is printed with a time, a
//                                line says how to set the peers up, every
//                                peer row says "skipped:", exit 0, and the
//                                work folder is removed; bad options exit 2.
//   test_segbench_peers --venv   (ctest segbench_peers_venv) with the venv of
//                                tools/setup_peers.sh (SEGC_PEERS_PYTHON, else
//                                build/peers_venv/bin/python in the source
//                                tree; skipped, 77, without it): PyTorch's f32
//                                argmax agrees with segc f32's on >= 99.9% of
//                                the voxels, and so does OpenVINO's where it
//                                ran.
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "seginfer_test_support.h"
#include "util/test_util.h"

static char temp[1024], segbench[2048], tools[2048];

static int run(const char *args) {
  char command[16384];
  snprintf(command, sizeof command, "TMPDIR=%s %s peers %s", temp, segbench, args);
  return support_run(temp, command);
}

// The cells of the table row that starts with "| title | precision |":
// cells[0] is the median seconds' cell. Returns the number of cells read.
static int row_cells(const char *out, const char *title, const char *precision,
                     char cells[5][256]) {
  char head[512];
  snprintf(head, sizeof head, "| %s | %s | ", title, precision);
  const char *p = strstr(out, head);
  if (!p) return 0;
  p += strlen(head);
  int n = 0;
  while (n < 5 && *p && *p != '\n') {
    const size_t len = strcspn(p, "|\n");
    snprintf(cells[n], sizeof cells[n], "%.*s", (int)len, p);
    // Trim the spaces around the cell.
    char *c = cells[n];
    while (*c == ' ') memmove(c, c + 1, strlen(c));
    for (size_t l = strlen(c); l > 0 && c[l - 1] == ' '; --l) c[l - 1] = '\0';
    ++n;
    p += len;
    if (*p == '|') ++p;
    if (*p == ' ') ++p;
  }
  return n;
}

// No segbench_peers.* folder is left in `temp`.
static bool workdir_removed(void) {
  DIR *d = opendir(temp);
  if (!d) return false;
  bool clean = true;
  for (struct dirent *e; (e = readdir(d)) != NULL;)
    if (!strncmp(e->d_name, "segbench_peers.", 15)) clean = false;
  closedir(d);
  return clean;
}

static int test_without_python(void) {
  char args[8192];
  snprintf(args, sizeof args,
           "--size 32 --repeat 1 --python %s/no_such_python --tools %s", temp, tools);
  const int rc = run(args);
  CHECK(rc == 0, "segbench peers without Python exit %d\nstdout: %s\nstderr: %s",
        rc, support_out, support_err);
  CHECK(test_contains(support_out, "peers not run: no Python at ") &&
            test_contains(support_out, "tools/setup_peers.sh"),
        "no line saying how to set the peers up:\n%s", support_out);
  char cells[5][256];
  const int n = row_cells(support_out, "segc", "f32", cells);
  CHECK(n == 5 && atof(cells[0]) > 0 && atof(cells[1]) > 0 && atof(cells[2]) > 0,
        "segc's f32 row has no time, GFLOP/s and RSS:\n%s", support_out);
  CHECK(n == 5 && !strcmp(cells[3], "100.000%"),
        "segc f32 agrees with itself on %s, not 100%%", n == 5 ? cells[3] : "?");
  static const char *const kPeers[] = {"PyTorch eager NCDHW",
                                       "PyTorch eager channels_last_3d", "OpenVINO"};
  for (int i = 0; i < 3; ++i)
    for (int d = 0; d < 2; ++d) {
      const char *dtype = d ? "bf16" : "f32";
      CHECK(row_cells(support_out, kPeers[i], dtype, cells) > 0 &&
                !strncmp(cells[0], "skipped: no Python", 18),
            "%s %s is not a skipped row:\n%s", kPeers[i], dtype, support_out);
    }
  CHECK(workdir_removed(), "segbench peers left its work folder in %s", temp);

  snprintf(args, sizeof args, "--size 20 --python %s/no_such_python", temp);
  const int bad = run(args);
  CHECK(bad == 2 && test_contains(support_err, "multiple of 8"),
        "--size 20: exit %d, stderr %s", bad, support_err);
  CHECK(run("--threads") == 2 && test_contains(support_err, "needs a value"),
        "--threads without a value: stderr %s", support_err);
  return 0;
}

static int test_with_venv(const char *python) {
  char args[8192];
  snprintf(args, sizeof args,
           "--size 32 --repeat 1 --dtype f32 --peers torch-eager,openvino "
           "--python %s --tools %s", python, tools);
  const int rc = run(args);
  printf("%s", support_out);
  CHECK(rc == 0, "segbench peers exit %d\nstderr: %s", rc, support_err);
  char cells[5][256];
  const int n = row_cells(support_out, "PyTorch eager NCDHW", "f32", cells);
  CHECK(n == 5, "PyTorch f32 did not run:\n%s", support_out);
  if (n == 5)
    CHECK(atof(cells[3]) >= 99.9, "PyTorch f32 agrees with segc f32 on %s of "
          "the voxels, under 99.9%%", cells[3]);
  if (row_cells(support_out, "OpenVINO", "f32", cells) == 5)
    CHECK(atof(cells[3]) >= 99.9, "OpenVINO f32 agrees with segc f32 on %s of "
          "the voxels, under 99.9%%", cells[3]);
  CHECK(workdir_removed(), "segbench peers left its work folder in %s", temp);
  return 0;
}

int main(int argc, char **argv) {
  const bool venv = argc > 1 && !strcmp(argv[1], "--venv");
  snprintf(temp, sizeof temp, "%s",
           test_temp_dir(venv ? "segbench_peers_venv" : "segbench_peers"));
  const char *b = getenv("SEGC_BUILD_DIR"), *s = getenv("SEGC_SOURCE_DIR");
  snprintf(segbench, sizeof segbench, "%s/bin/segbench", b && *b ? b : "build");
  snprintf(tools, sizeof tools, "%s/tools", s && *s ? s : ".");
  if (venv) {
    char python[2048];
    const char *named = getenv("SEGC_PEERS_PYTHON");
    if (named && *named) snprintf(python, sizeof python, "%s", named);
    else snprintf(python, sizeof python, "%s/build/peers_venv/bin/python", s && *s ? s : ".");
    if (access(python, X_OK) != 0) {
      printf("skipped: no peers venv at %s (tools/setup_peers.sh makes it; "
             "SEGC_PEERS_PYTHON names another)\n", python);
      return TEST_SKIP;
    }
    if (test_with_venv(python)) return test_finish_failed();
  } else if (test_without_python()) {
    return test_finish_failed();
  }
  if (test_failures == 0) {
    char command[2048];
    snprintf(command, sizeof command, "rm -rf %s", temp);
    if (system(command) != 0) fprintf(stderr, "could not remove %s\n", temp);
  }
  return test_finish(venv ? "segbench_peers_venv" : "segbench_peers");
}
