// io/run_folder: the folder lock (a second taker is refused naming the
// holder's pid; a lock file of a dead pid is taken over; released means the
// file is gone) and the removal of temporary files of dead processes (both
// name forms, files and flat folders; live and unparsable names kept).
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "io/run_folder.h"
#include "util/test_util.h"

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  if (!f || fputs(text, f) < 0 || fclose(f) != 0) abort();
}

static pid_t dead_pid(void) {
  const pid_t pid = fork();
  if (pid == 0) _exit(0);
  waitpid(pid, NULL, 0);
  return pid;
}

static void test_names(void) {
  CHECK(segc_temp_file_pid("training_state.segc.tmp.1234") == 1234, "<name>.tmp.<pid>");
  CHECK(segc_temp_file_pid(".segc-tmp.77.a.nii.gz") == 77, ".segc-tmp.<pid>.<name>");
  CHECK(segc_temp_file_pid("a.tmp.b.tmp.9") == 9, "the last .tmp. counts");
  const char *not_temp[] = {"notes.tmp.txt", "x.tmp.", "x.tmp.12a", ".tmp.5",
                            ".segc-tmp.12", ".segc-tmp.12.", ".segc-tmp.x.a",
                            "train.csv", "x.tmp.12345678901"};
  for (size_t i = 0; i < sizeof not_temp / sizeof not_temp[0]; ++i)
    CHECK(segc_temp_file_pid(not_temp[i]) == 0, "'%s' is not a temporary file",
          not_temp[i]);
}

static int test_lock(const char *dir) {
  segc_folder_lock a, b;
  CHECK_OK(segc_folder_lock_take(dir, "segtrain", &a));
  char pid[32];
  snprintf(pid, sizeof pid, "pid %ld", (long)getpid());
  // flock locks belong to the open file, so this process conflicts with
  // itself like a second run would.
  CHECK_FAILS(segc_folder_lock_take(dir, "segtrain", &b), SEGC_ERR_INVALID, pid);
  CHECK(b.fd < 0, "a refused lock holds nothing");
  segc_folder_lock_release(&a);
  CHECK(access(test_path(dir, SEGC_FOLDER_LOCK_NAME), F_OK) != 0,
        "a released lock leaves no file");
  segc_folder_lock_release(&a);  // twice is fine

  char text[32];
  snprintf(text, sizeof text, "%ld\n", (long)dead_pid());
  write_file(test_path(dir, SEGC_FOLDER_LOCK_NAME), text);
  CHECK_OK(segc_folder_lock_take(dir, "segtrain", &a));
  FILE *f = fopen(test_path(dir, SEGC_FOLDER_LOCK_NAME), "r");
  long holder = 0;
  CHECK(f && fscanf(f, "%ld", &holder) == 1 && holder == (long)getpid(),
        "a dead run's lock is taken over and holds this pid (%ld)", holder);
  if (f) fclose(f);
  segc_folder_lock_release(&a);
  CHECK_FAILS(segc_folder_lock_take(test_path(dir, "missing"), "segtrain", &a),
              SEGC_ERR_IO, "missing");
  return 0;
}

static int test_stale(const char *dir) {
  const long dead = (long)dead_pid();
  const pid_t live = fork();
  if (live == 0) {
    pause();
    _exit(0);
  }
  char name[256];
  snprintf(name, sizeof name, "model.pt.tmp.%ld", dead);
  write_file(test_path(dir, name), "12345");
  snprintf(name, sizeof name, ".segc-tmp.%ld.label.nii.gz", dead);
  write_file(test_path(dir, name), "123");
  snprintf(name, sizeof name, ".segc-tmp.%ld.series", dead);
  mkdir(test_path(dir, name), 0777);
  char inside[512];
  snprintf(inside, sizeof inside, "%s/slice.png", name);
  write_file(test_path(dir, inside), "12");
  snprintf(name, sizeof name, "state.segc.tmp.%ld", (long)live);
  write_file(test_path(dir, name), "live");
  snprintf(name, sizeof name, "own.tmp.%ld", (long)getpid());
  write_file(test_path(dir, name), "own");
  write_file(test_path(dir, "notes.tmp.txt"), "kept");

  segc_stale_temp_report report;
  memset(&report, 0, sizeof report);
  CHECK_OK(segc_remove_stale_temp_files(dir, &report));
  CHECK(report.count == 3 && report.bytes == 10,
        "3 entries of 10 bytes removed, not %d of %llu", report.count,
        (unsigned long long)report.bytes);
  CHECK(test_contains(report.names, "model.pt.tmp."), "named: %s", report.names);
  snprintf(name, sizeof name, "model.pt.tmp.%ld", dead);
  CHECK(access(test_path(dir, name), F_OK) != 0, "dead writer's file removed");
  snprintf(name, sizeof name, ".segc-tmp.%ld.series", dead);
  CHECK(access(test_path(dir, name), F_OK) != 0, "dead writer's folder removed");
  snprintf(name, sizeof name, "state.segc.tmp.%ld", (long)live);
  CHECK(access(test_path(dir, name), F_OK) == 0, "a live process's file is kept");
  snprintf(name, sizeof name, "own.tmp.%ld", (long)getpid());
  CHECK(access(test_path(dir, name), F_OK) == 0, "this process's file is kept");
  CHECK(access(test_path(dir, "notes.tmp.txt"), F_OK) == 0, "other files kept");
  kill(live, SIGKILL);
  waitpid(live, NULL, 0);
  CHECK_FAILS(segc_remove_stale_temp_files(test_path(dir, "missing"), &report),
              SEGC_ERR_IO, "missing");
  return 0;
}

int main(void) {
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", test_temp_dir("run_folder"));
  test_names();
  if (test_lock(dir) != 0) return test_finish_failed();
  if (test_stale(dir) != 0) return test_finish_failed();
  return test_finish("run_folder");
}
