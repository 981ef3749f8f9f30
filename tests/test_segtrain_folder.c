// build/bin/segtrain and the folders of a run (ckpt_dir, output_dir), with a
// tiny network on a tiny phantom (each run well under a second):
//  - --resume before any state was saved starts from scratch and says so,
//    and the logs of the attempt that saved nothing are replaced; a state
//    file that exists but is corrupt is still an error;
//  - temporary files of killed writers (<name>.tmp.<pid>,
//    .segc-tmp.<pid>.<name>) are removed when the next run starts there,
//    those of live processes are kept, and one line says what went;
//  - a fresh run in folders holding an earlier run's logs or state is
//    refused with a message naming --resume and --overwrite; --overwrite
//    starts new logs; the two together are refused;
//  - a second run in a folder a live run holds (its ckpt_dir or its
//    output_dir) is refused naming the holder's pid; the lock of a run
//    killed with SIGKILL is taken over; a run that ends leaves no lock.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "phantom/phantom.h"
#include "segtrain_logs_support.h"
#include "util/test_util.h"

extern char **environ;

static char temp[2048], segtrain[4096];
static char err_text[1 << 16];

// temp/<name>.json: `epochs` epochs into ckpt_dir and output_dir (relative
// to temp).
static void write_config(const char *name, const char *ckpt_dir,
                         const char *output_dir, int epochs) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s.json", temp, name);
  FILE *f = fopen(path, "w");
  if (!f) abort();
  fprintf(f,
          "{\"highres\": false, \"pixdim\": [12, 12, 12], \"batch_size\": 1,"
          " \"roi\": [16, 16, 16], \"val_roi\": null, \"val_interval\": 1,"
          " \"max_epochs\": %d, \"seed\": 5, \"dataset_dir\": \"data\","
          " \"val_cases\": 1, \"cache_rate\": 1, \"num_workers\": 1,"
          " \"amp\": false, \"init_LR\": 0.002, \"save_interval\": 1,"
          " \"ckpt_dir\": \"%s\", \"output_dir\": \"%s\","
          " \"sw_roi\": [16, 16, 16], \"threads\": 1,"
          " \"network_def\": {\"init_filters\": 8, \"blocks_down\": [1, 1],"
          " \"blocks_up\": [1], \"dropout_prob\": 0.2}}\n",
          epochs, ckpt_dir, output_dir);
  if (fclose(f) != 0) abort();
}

static void read_text(const char *path, char *out, size_t size) {
  out[0] = '\0';
  FILE *f = fopen(path, "r");
  if (!f) return;
  const size_t n = fread(out, 1, size - 1, f);
  out[n] = '\0';
  fclose(f);
}

// segtrain with `args` in temp; stderr into err_text; the exit code.
static int run(const char *args) {
  char command[16384];
  snprintf(command, sizeof command, "cd %s && %s %s --quiet >/dev/null 2>err.txt",
           temp, segtrain, args);
  const int status = system(command);
  char path[4200];
  snprintf(path, sizeof path, "%s/err.txt", temp);
  read_text(path, err_text, sizeof err_text);
  return status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static const char *last_line(void) {
  const char *last = err_text;
  for (const char *p = err_text; *p; ++p)
    if (*p == '\n' && p[1]) last = p + 1;
  return last;
}

static bool exists(const char *relative) {
  char path[4200];
  snprintf(path, sizeof path, "%s/%s", temp, relative);
  return access(path, F_OK) == 0;
}

static void touch(const char *relative) {
  char path[4200];
  snprintf(path, sizeof path, "%s/%s", temp, relative);
  FILE *f = fopen(path, "w");
  if (!f || fputs("partial\n", f) < 0 || fclose(f) != 0) abort();
}

// The train.csv of `run` without timings.
static void train_log(const char *run_name, char *out, size_t size) {
  char path[4200];
  snprintf(path, sizeof path, "%s/%s/eval/train.csv", temp, run_name);
  if (!log_read_without_timings(path, out, size)) snprintf(out, size, "(unreadable)");
}

static int count_event_files(const char *run_name) {
  char path[4200], scalars[1 << 14];
  snprintf(path, sizeof path, "%s/%s/eval", temp, run_name);
  int files = 0;
  tb_read_scalars(path, scalars, sizeof scalars, &files);
  return files;
}

// A pid that was a process and has ended (reaped).
static pid_t dead_pid(void) {
  const pid_t pid = fork();
  if (pid == 0) _exit(0);
  waitpid(pid, NULL, 0);
  return pid;
}

static void test_resume_without_state(const char *reference) {
  // An attempt stopped before its first state save: logs, no state.
  CHECK(run("--config fresh.json --max-steps 1") == 0, "first attempt: %s",
        last_line());
  CHECK(!exists("fresh/models/training_state.segc"), "no state saved yet");
  // Its temporary files and those of a live process.
  const pid_t dead = dead_pid();
  const pid_t live = fork();
  if (live == 0) {
    pause();
    _exit(0);
  }
  char dead_state[256], dead_stage[256], live_model[256];
  snprintf(dead_state, sizeof dead_state,
           "fresh/models/training_state.segc.tmp.%ld", (long)dead);
  snprintf(dead_stage, sizeof dead_stage, "fresh/eval/.segc-tmp.%ld.a.nii.gz",
           (long)dead);
  snprintf(live_model, sizeof live_model, "fresh/models/model_lowres.pt.tmp.%ld",
           (long)live);
  touch(dead_state);
  touch(dead_stage);
  touch(live_model);
  touch("fresh/models/notes.tmp.txt");  // no pid: not a temporary file

  const int rc = run("--config fresh.json --resume");
  CHECK(rc == 0, "--resume before any state was saved exits %d: %s", rc,
        last_line());
  CHECK(test_contains(err_text, "starting from scratch"),
        "it says that it starts from scratch:\n%s", err_text);
  CHECK(test_contains(err_text, "segtrain: compute dtype: f32 (--dtype f32 or "
                                "amp false: exact parity)\n"),
        "it says which precision it computes in:\n%s", err_text);
  CHECK(!exists(dead_state) && !exists(dead_stage),
        "temporary files of a dead process are removed");
  CHECK(exists(live_model), "the temporary file of a live process is kept");
  CHECK(exists("fresh/models/notes.tmp.txt"), "other files are kept");
  CHECK(test_contains(err_text, "removed") &&
            test_contains(err_text, "training_state.segc.tmp."),
        "one line says what was removed:\n%s", err_text);
  kill(live, SIGKILL);
  waitpid(live, NULL, 0);
  static char want[1 << 14], got[1 << 14];
  train_log(reference, want, sizeof want);
  train_log("fresh", got, sizeof got);
  CHECK(strcmp(want, got) == 0, "train.csv equals an uninterrupted run's:\n%s"
        "  versus\n%s", got, want);
  CHECK(count_event_files("fresh") == 1, "one TensorBoard event file, not %d",
        count_event_files("fresh"));

  // A corrupt state is an error, not a new start.
  touch("corrupt/models/training_state.segc");
  CHECK(run("--config corrupt.json --resume") != 0 &&
            test_contains(last_line(), "training_state.segc"),
        "a corrupt state file is an error naming it: %s", last_line());
}

static void test_earlier_run(const char *reference) {
  // "fresh" now holds a finished run's logs and state.
  CHECK(run("--config fresh.json") != 0, "a fresh run over an earlier run's "
        "logs is refused");
  CHECK(test_contains(last_line(), "--resume") &&
            test_contains(last_line(), "--overwrite"),
        "the message names --resume and --overwrite: %s", last_line());
  CHECK(run("--config fresh.json --resume --overwrite") != 0,
        "--resume and --overwrite together are refused: %s", last_line());
  CHECK(run("--config fresh.json --overwrite") == 0, "--overwrite runs: %s",
        last_line());
  static char want[1 << 14], got[1 << 14];
  train_log(reference, want, sizeof want);
  train_log("fresh", got, sizeof got);
  CHECK(strcmp(want, got) == 0, "--overwrite starts new logs:\n%s  versus\n%s",
        got, want);
  CHECK(count_event_files("fresh") == 1, "--overwrite: one TensorBoard event "
        "file, not %d", count_event_files("fresh"));
  CHECK(!exists("fresh/models/.segc-lock") && !exists("fresh/eval/.segc-lock"),
        "a finished run leaves no lock file");
}

static void test_lock(void) {
  // A long run, holding busy/models and busy/eval.
  char command[16384];
  snprintf(command, sizeof command,
           "cd %s && exec %s --config busy.json --quiet >/dev/null "
           "2>busy_err.txt", temp, segtrain);
  char *args[] = {"/bin/sh", "-c", command, NULL};
  pid_t pid;
  const int spawned = posix_spawn(&pid, "/bin/sh", NULL, NULL, args, environ);
  CHECK(spawned == 0, "long run started");
  if (spawned != 0) return;
  // Running once it has saved its first state.
  char state_path[4200];
  snprintf(state_path, sizeof state_path, "%s/busy/models/training_state.segc",
           temp);
  bool running = true;
  struct stat st;
  for (int tries = 0; tries < 3000 && running; ++tries) {
    if (stat(state_path, &st) == 0) break;
    running = waitpid(pid, NULL, WNOHANG) == 0;
    usleep(10000);
  }
  CHECK(running, "the long run runs (see busy_err.txt)");
  if (!running) return;
  char holder[64];
  snprintf(holder, sizeof holder, "%ld", (long)pid);
  CHECK(run("--config busy.json --resume --max-steps 1") != 0 &&
            test_contains(last_line(), holder),
        "a second run in the same ckpt_dir is refused naming pid %s: %s",
        holder, last_line());
  CHECK(run("--config shared_eval.json --overwrite --max-steps 1") != 0 &&
            test_contains(last_line(), holder),
        "a run with another ckpt_dir but the same output_dir is refused "
        "naming pid %s: %s", holder, last_line());
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  CHECK(run("--config busy.json --resume --max-steps 1") == 0,
        "the lock of a killed run is taken over: %s", last_line());
}

int main(void) {
  const char *build = getenv("SEGC_BUILD_DIR");
  snprintf(segtrain, sizeof segtrain, "%s/bin/segtrain", build ? build : "build");
  snprintf(temp, sizeof temp, "%s", test_temp_dir("segtrain_folder"));
  segc_phantom_options po;
  segc_phantom_default_options(&po);
  po.dim[0] = po.dim[1] = po.dim[2] = 16;
  po.spacing[0] = po.spacing[1] = po.spacing[2] = 12.0;
  char data[4200];
  snprintf(data, sizeof data, "%s/data", temp);
  CHECK_OK(segc_phantom_write_dataset(data, &po, 3, 1));
  write_config("reference", "reference/models", "reference/eval", 1);
  write_config("fresh", "fresh/models", "fresh/eval", 1);
  write_config("corrupt", "corrupt/models", "corrupt/eval", 1);
  write_config("busy", "busy/models", "busy/eval", 100000);
  // Another ckpt_dir, the same output_dir as busy.
  write_config("shared_eval", "busy/other_models", "busy/eval", 1);
  mkdir(test_path(temp, "fresh"), 0777);
  mkdir(test_path(temp, "corrupt"), 0777);
  mkdir(test_path(temp, "corrupt/models"), 0777);

  CHECK(run("--config reference.json") == 0, "reference run: %s", last_line());
  test_resume_without_state("reference");
  test_earlier_run("reference");
  test_lock();
  return test_finish("segtrain_folder");
}
