// Multi-process segeval under mpirun (label mpi), on a phantom with 5
// validation cases:
// - the bundle's evaluation with a network (configs/evaluate.json +
//   configs/multi_cpu_evaluate.json) over 2 and 3 ranks writes the same
//   CSVs as one process, byte for byte, and the same saved predictions;
//   rank 0 reports exactly its own cases (0, 2, 4 of 5 over 2 ranks), so
//   the cases were dealt, not all evaluated everywhere;
// - files mode (predictions against labels) over 2 and 3 ranks: the same
//   CSVs as one process;
// - a bad label on rank 1's case: every rank exits non-zero within the
//   bound, rank 1 names itself and the file, rank 0 says which rank failed,
//   and no CSV (or temporary file) is left in the output folder;
// - under mpirun with distributed false, the job is refused with one line.
// Skipped (77) without MPI in the build or mpirun on PATH.
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/parallel.h"
#include "dist/comm.h"
#include "seginfer_test_support.h"
#include "util/test_util.h"

enum { kCases = 5 };

static char temp[1024], build[1024], source[1024], mpirun_exe[4096];

// Runs segeval with `args`, alone (ranks 0) or under mpirun -np ranks.
static int segeval(int ranks, const char *args) {
  char command[20000];
  if (ranks > 0)
    snprintf(command, sizeof command, "%.4000s -np %d --oversubscribe %.1000s/bin/segeval %.14000s",
             mpirun_exe, ranks, build, args);
  else
    snprintf(command, sizeof command, "%.1000s/bin/segeval %.14000s", build, args);
  return support_run(temp, command);
}

// Whether files a and b hold the same bytes (false when either is missing).
static bool same_bytes(const char *a, const char *b) {
  FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
  bool same = fa && fb;
  while (same) {
    const int ca = fgetc(fa), cb = fgetc(fb);
    same = ca == cb;
    if (ca == EOF || cb == EOF) break;
  }
  if (fa) fclose(fa);
  if (fb) fclose(fb);
  return same;
}

static const char *const kCsvs[] = {"mean_dice_raw.csv", "mean_dice_summary.csv",
                                    "nsd_raw.csv", "nsd_summary.csv",
                                    "metrics.csv"};

// Every CSV of run `dir` equals the single-process run's in `reference`.
static void check_same_csvs(const char *reference, const char *dir,
                            const char *what) {
  for (size_t i = 0; i < sizeof kCsvs / sizeof kCsvs[0]; ++i) {
    char a[4096], b[4096];
    snprintf(a, sizeof a, "%s/%s/%s", temp, reference, kCsvs[i]);
    snprintf(b, sizeof b, "%s/%s/%s", temp, dir, kCsvs[i]);
    CHECK(same_bytes(a, b), "%s: %s differs from the single process's", what,
          kCsvs[i]);
  }
}

// The number of entries in a folder (-1 when it cannot be read).
static int count_entries(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return -1;
  int n = 0;
  for (struct dirent *e; (e = readdir(d));)
    n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
  closedir(d);
  return n;
}

static void network_args(char *args, size_t size, const char *out) {
  snprintf(args, size,
           "%s/configs/evaluate.json %s/configs/multi_cpu_evaluate.json "
           "--weights %s/w8.pt --set network_def.init_filters=8 "
           "--set val_roi=[24,24,24] --lowres --dtype f32 --threads 1 "
           "--datalist %s/ph/datalist.json --output-dir %s/%s "
           "--save-pred %s/%s_pred",
           source, source, temp, temp, temp, out, temp, out);
}

static void check_network_mode(void) {
  char args[16384];
  network_args(args, sizeof args, "net1");
  CHECK(segeval(0, args) == 0, "one process: %s", support_err);
  for (int ranks = 2; ranks <= 3; ++ranks) {
    char out[32], what[64];
    snprintf(out, sizeof out, "net%d", ranks);
    snprintf(what, sizeof what, "network mode, %d ranks", ranks);
    network_args(args, sizeof args, out);
    const double t0 = segc_now();
    const int code = segeval(ranks, args);
    CHECK(code == 0, "%s: exit %d: %s", what, code, support_err);
    printf("%s: %.1f s\n", what, segc_now() - t0);
    check_same_csvs("net1", out, what);
    for (int c = 1; c <= kCases; ++c) {
      char a[4096], b[4096];
      snprintf(a, sizeof a, "%s/net1_pred/case_%04d_pred.nii.gz", temp, c);
      snprintf(b, sizeof b, "%s/%s_pred/case_%04d_pred.nii.gz", temp, out, c);
      CHECK(same_bytes(a, b), "%s: saved prediction of case %d differs", what, c);
    }
    if (ranks == 2) {
      // Rank 0 speaks for its own cases only: 1, 3 and 5 (of 1..5).
      for (int c = 1; c <= kCases; ++c) {
        char line[64];
        snprintf(line, sizeof line, "case %d/%d ", c, kCases);
        const bool said = strstr(support_err, line) != NULL;
        CHECK(said == (c % 2 == 1), "%s: rank 0 %s case %d:\n%s", what,
              said ? "reported" : "did not report", c, support_err);
      }
    }
  }
}

static void files_args(char *args, size_t size, const char *labels,
                       const char *out) {
  snprintf(args, size,
           "--pred %s/net1_pred --label %s --set output_postfix=pred "
           "--set distributed=true --threads 1 --output-dir %s/%s",
           temp, labels, temp, out);
}

// The validation cases' labels (case_0001..0005; case_0000 trains).
static void copy_val_labels(const char *labels) {
  char command[8192];
  snprintf(command, sizeof command,
           "mkdir -p %s && cp %s/ph/labelsTr/case_000[1-5].nii.gz %s/", labels,
           temp, labels);
  CHECK(system(command) == 0, "copying the validation labels");
}

static void check_files_mode(void) {
  char args[16384], labels[2048];
  snprintf(labels, sizeof labels, "%s/val_labels", temp);
  copy_val_labels(labels);
  files_args(args, sizeof args, labels, "files1");
  CHECK(segeval(0, args) == 0, "files mode, one process: %s", support_err);
  CHECK(strstr(support_out, "5 cases"), "files mode: 5 cases: %s", support_out);
  for (int ranks = 2; ranks <= 3; ++ranks) {
    char out[32], what[64];
    snprintf(out, sizeof out, "files%d", ranks);
    snprintf(what, sizeof what, "files mode, %d ranks", ranks);
    files_args(args, sizeof args, labels, out);
    CHECK(segeval(ranks, args) == 0, "%s: %s", what, support_err);
    check_same_csvs("files1", out, what);
  }
}

// Rank 1's case (the second, case_0002) has a label that is not NIfTI.
static void check_failure(void) {
  char command[8192], args[16384], labels[2048], out[2048];
  snprintf(labels, sizeof labels, "%s/bad_labels", temp);
  copy_val_labels(labels);
  snprintf(command, sizeof command,
           "echo 'not a label' | gzip > %s/case_0002.nii.gz", labels);
  CHECK(system(command) == 0, "making the bad labels");
  snprintf(out, sizeof out, "%s/files_bad", temp);
  snprintf(command, sizeof command, "mkdir -p %s", out);
  CHECK(system(command) == 0, "mkdir");
  files_args(args, sizeof args, labels, "files_bad");
  const double t0 = segc_now();
  const int code = segeval(2, args);
  const double seconds = segc_now() - t0;
  printf("bad label on rank 1: exit %d after %.1f s\n", code, seconds);
  CHECK(code != 0 && code != -1, "bad label: exit %d", code);
  CHECK(seconds < 60.0, "bad label: the job took %.1f s to stop", seconds);
  CHECK(strstr(support_err, "rank 1 of 2") && strstr(support_err, "case_0002"),
        "bad label: rank 1 names itself and the file:\n%s", support_err);
  CHECK(strstr(support_err, "rank 1 failed"),
        "bad label: rank 0 says which rank failed:\n%s", support_err);
  CHECK(count_entries(out) == 0, "bad label: %d entries left in %s",
        count_entries(out), out);
}

static void check_refused_without_distributed(void) {
  char args[16384], labels[2048];
  snprintf(labels, sizeof labels, "%s/val_labels", temp);
  snprintf(args, sizeof args,
           "--pred %s/net1_pred --label %s --set output_postfix=pred "
           "--threads 1 --output-dir %s/files_refused",
           temp, labels, temp);
  const int code = segeval(2, args);
  CHECK(code != 0 && code != -1 &&
            strstr(support_err, "started as one of 2 processes, but the config "
                                "has distributed false"),
        "distributed false under mpirun -np 2: exit %d:\n%s", code, support_err);
}

int main(void) {
  if (!segc_comm_have_mpi()) {
    printf("segeval_mpi: skipped: this build has no MPI (SEGC_MPI=OFF)\n");
    return 77;
  }
  if (!test_find_on_path("mpirun", mpirun_exe, sizeof mpirun_exe)) {
    printf("segeval_mpi: skipped: no mpirun on PATH (openmpi-bin)\n");
    return 77;
  }
  const char *b = getenv("SEGC_BUILD_DIR"), *s = getenv("SEGC_SOURCE_DIR");
  snprintf(build, sizeof build, "%s", b && *b ? b : "build");
  snprintf(source, sizeof source, "%s", s && *s ? s : ".");
  setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
  setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
  setenv("OMP_NUM_THREADS", "1", 1);
  test_use_mpi_leak_suppressions();
  snprintf(temp, sizeof temp, "%s", test_temp_dir("segeval_mpi"));
  char path[2048], command[8192];
  snprintf(path, sizeof path, "%s/w8.pt", temp);
  CHECK_OK(support_make_weights(path, 8, 77));
  snprintf(command, sizeof command,
           "%s/bin/segprep phantom --out %s/ph --cases %d --val %d "
           "--size 40,36,32 --spacing 3 --orientation LPS --seed 9",
           build, temp, kCases + 1, kCases);
  CHECK(support_run(temp, command) == 0, "phantom: %s", support_err);
  if (test_failures) return test_finish("segeval_mpi");
  check_network_mode();
  check_files_mode();
  check_failure();
  check_refused_without_distributed();
  if (test_failures == 0) {
    snprintf(command, sizeof command, "rm -rf %s", temp);
    if (system(command) != 0) fprintf(stderr, "could not remove %s\n", temp);
  }
  return test_finish("segeval_mpi");
}
