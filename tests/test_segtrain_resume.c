// Resuming equals not stopping: the loss of every step and the final weights
// of a run that stopped (cleanly after 1 epoch, or killed with SIGKILL at a
// random moment) and resumed are bitwise those of an uninterrupted run, and
// so are its logs (train and validation CSV and JSON lines, TensorBoard
// scalars), with no step logged twice: also when the run stopped after
// logging steps past its last saved state (a kill between two saves, made
// certain here by putting back an older state file).
// Also: the run's outputs exist (best model loadable, state, logs, curves),
// and bad configs fail with a message naming the key.
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config/config.h"
#include "core/parallel.h"
#include "io/model_io.h"
#include "io/state_file.h"
#include "phantom/phantom.h"
#include "segtrain_logs_support.h"
#include "train/train_loop.h"
#include "util/test_util.h"

extern char **environ;

enum { kEpochs = 4, kStepsPerEpoch = 2 };

static const char *data_dir;

static segc_status tiny_config(const char *run_dir, segc_config *c) {
  segc_config_defaults(c);
  char text[8192];
  snprintf(text, sizeof text,
           "{\"highres\": false, \"pixdim\": [6, 6, 6], \"batch_size\": 2,"
           " \"roi\": [32, 32, 32], \"val_roi\": null, \"val_interval\": 2,"
           " \"max_epochs\": %d, \"seed\": 5, \"dataset_dir\": \"%s\","
           " \"val_cases\": 1, \"cache_rate\": 0.5, \"num_workers\": 1,"
           " \"amp\": false, \"init_LR\": 0.002, \"save_interval\": 1,"
           " \"ckpt_dir\": \"%s/models\", \"output_dir\": \"%s/eval\","
           " \"sw_roi\": [32, 32, 32],"
           " \"network_def\": {\"init_filters\": 8, \"blocks_down\": [1, 1, 1],"
           " \"blocks_up\": [1, 1], \"dropout_prob\": 0.2}}",
           kEpochs, data_dir, run_dir, run_dir);
  SEGC_TRY(segc_config_apply_json_text(c, text, "test config"));
  return segc_config_validate(c);
}

// Losses per step from eval/train.csv (a later line for the same step must
// repeat the earlier value exactly: it is the same computation).
static int read_losses(const char *run_dir, double *loss, int max_steps) {
  char path[4096];
  snprintf(path, sizeof path, "%s/eval/train.csv", run_dir);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  char line[4096];
  int seen = 0, step_col = -1, loss_col = -1;
  if (fgets(line, sizeof line, f)) {
    int col = 0;
    for (char *t = strtok(line, ",\n"); t; t = strtok(NULL, ",\n"), ++col) {
      if (!strcmp(t, "step")) step_col = col;
      if (!strcmp(t, "loss")) loss_col = col;
    }
  }
  for (int i = 0; i < max_steps; ++i) loss[i] = -1.0;
  while (fgets(line, sizeof line, f)) {
    int col = 0, step = -1;
    double value = 0;
    for (char *t = strtok(line, ",\n"); t; t = strtok(NULL, ",\n"), ++col) {
      if (col == step_col) step = atoi(t);
      if (col == loss_col) value = strtod(t, NULL);
    }
    if (step < 0 || step >= max_steps) continue;
    if (loss[step] >= 0.0 && loss[step] != value) {
      fclose(f);
      return -2;  // the same step gave two different losses
    }
    loss[step] = value;
    seen++;
  }
  fclose(f);
  return seen;
}

static segc_status final_weights(const char *run_dir, segc_state_file **f) {
  char path[4096];
  snprintf(path, sizeof path, "%s/models/training_state.segc", run_dir);
  return segc_state_read(path, f);
}

static bool same_weights(const char *a, const char *b) {
  segc_state_file *fa, *fb;
  if (final_weights(a, &fa) != SEGC_OK) return false;
  if (final_weights(b, &fb) != SEGC_OK) {
    segc_state_free(fa);
    return false;
  }
  const segc_state_entry *wa = segc_state_find(fa, "weights");
  const segc_state_entry *wb = segc_state_find(fb, "weights");
  const bool same = wa && wb && wa->bytes == wb->bytes &&
                    memcmp(wa->data, wb->data, wa->bytes) == 0;
  segc_state_free(fa);
  segc_state_free(fb);
  return same;
}

static int run_library(const char *run_dir, int epochs, bool resume) {
  segc_config c;
  CHECK_OK(tiny_config(run_dir, &c));
  c.max_epochs = epochs;
  segc_train_options o = {.resume = resume, .log = stdout};
  segc_train_summary s;
  CHECK_OK(segc_train_run(&c, &o, &s));
  return 0;
}

static void write_config_file(const char *run_dir, char *path, size_t size) {
  if (strlen(run_dir) > 2000) abort();
  segc_config c;
  if (tiny_config(run_dir, &c) != SEGC_OK) abort();
  snprintf(path, size, "%.2000s/config.json", run_dir);
  mkdir(run_dir, 0777);
  if (segc_config_write_json(&c, path) != SEGC_OK) abort();
}

static bool copy_file(const char *from, const char *to) {
  FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
  bool ok = in && out;
  char buf[1 << 16];
  for (size_t n; ok && (n = fread(buf, 1, sizeof buf, in)) > 0;)
    ok = fwrite(buf, 1, n, out) == n;
  if (in) ok = !ferror(in) && fclose(in) == 0 && ok;
  if (out) ok = fclose(out) == 0 && ok;
  return ok;
}

// The logs of `run` equal those of `reference` (timings aside).
static void check_same_logs(const char *reference, const char *run,
                            const char *what) {
  static char want[1 << 17], got[1 << 17];
  const char *logs[] = {"train.csv", "train.jsonl", "validation.csv",
                        "validation.jsonl"};
  char path[4096];
  for (int i = 0; i < 4; ++i) {
    snprintf(path, sizeof path, "%s/eval/%s", reference, logs[i]);
    const bool read_want = log_read_without_timings(path, want, sizeof want);
    snprintf(path, sizeof path, "%s/eval/%s", run, logs[i]);
    const bool read_got = log_read_without_timings(path, got, sizeof got);
    CHECK(read_want && read_got && strcmp(want, got) == 0,
          "%s: %s equals the uninterrupted run's:\n%s\n  versus\n%s", what,
          logs[i], got, want);
  }
  int want_files, got_files;
  snprintf(path, sizeof path, "%s/eval", reference);
  const bool tb_want = tb_read_scalars(path, want, sizeof want, &want_files);
  snprintf(path, sizeof path, "%s/eval", run);
  const bool tb_got = tb_read_scalars(path, got, sizeof got, &got_files);
  CHECK(tb_want && tb_got && strcmp(want, got) == 0,
        "%s: TensorBoard scalars (%d files) equal the uninterrupted run's (%d "
        "files):\n%s\n  versus\n%s", what, got_files, want_files, got, want);
}

static pid_t spawn_segtrain(const char *config, bool resume) {
  char exe[4096];
  snprintf(exe, sizeof exe, "%s/bin/segtrain", getenv("SEGC_BUILD_DIR"));
  char *args[] = {exe, "--config", (char *)config, "--quiet",
                  resume ? "--resume" : NULL, NULL};
  pid_t pid;
  if (posix_spawn(&pid, exe, NULL, NULL, args, environ) != 0) return -1;
  return pid;
}

int main(void) {
  data_dir = test_temp_dir("segtrain_resume");
  segc_phantom_options po;
  segc_phantom_default_options(&po);
  po.dim[0] = po.dim[1] = po.dim[2] = 32;
  po.spacing[0] = po.spacing[1] = po.spacing[2] = 6.0;
  CHECK_OK(segc_phantom_write_dataset(data_dir, &po, 5, 1));
  segc_set_threads(2);
  const int total = kEpochs * kStepsPerEpoch;
  double straight[16], resumed[16], killed[16];

  // Uninterrupted.
  char a[2048], b[2048], k[2048];
  snprintf(a, sizeof a, "%.2000s/run_a", data_dir);
  snprintf(b, sizeof b, "%.2000s/run_b", data_dir);
  snprintf(k, sizeof k, "%.2000s/run_k", data_dir);
  run_library(a, kEpochs, false);
  CHECK(read_losses(a, straight, total) == total, "run A logged %d steps", total);

  // Stopped after 1 epoch, resumed to 3; then the state of epoch 1 is put
  // back, as if the run had been killed before it saved epoch 2's state (its
  // steps and validation are logged past that state), and resumed to 4.
  run_library(b, 1, false);
  char state[4096], saved_state[4096];
  snprintf(state, sizeof state, "%s/models/training_state.segc", b);
  snprintf(saved_state, sizeof saved_state, "%s/state_epoch_1.segc", b);
  CHECK(copy_file(state, saved_state), "copy of the state of epoch 1");
  run_library(b, 3, true);
  CHECK(copy_file(saved_state, state), "state of epoch 1 put back");
  run_library(b, kEpochs, true);
  CHECK(read_losses(b, resumed, total) == total, "run B logged every step once");
  CHECK(memcmp(straight, resumed, sizeof(double) * (size_t)total) == 0,
        "resumed losses equal the uninterrupted run's");
  CHECK(same_weights(a, b), "resumed final weights equal bitwise");
  check_same_logs(a, b, "stopped, resumed, rolled back to an older state");

  // Killed with SIGKILL after its third logged step, then resumed.
  char config_path[4096];
  write_config_file(k, config_path, sizeof config_path);
  pid_t pid = spawn_segtrain(config_path, false);
  CHECK(pid > 0, "segtrain started");
  for (int tries = 0; tries < 6000; ++tries) {
    double partial[16];
    if (read_losses(k, partial, total) >= 3) break;
    usleep(10000);
  }
  kill(pid, SIGKILL);
  int status;
  waitpid(pid, &status, 0);
  CHECK(WIFSIGNALED(status), "segtrain was killed mid-run");
  pid = spawn_segtrain(config_path, true);
  waitpid(pid, &status, 0);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
        "segtrain --resume after SIGKILL finished");
  const int seen = read_losses(k, killed, total);
  CHECK(seen == total, "killed run: every step logged once (%d lines), no "
        "step logged with two different losses", seen);
  CHECK(memcmp(straight, killed, sizeof(double) * (size_t)total) == 0,
        "losses after kill + resume equal the uninterrupted run's");
  CHECK(same_weights(a, k), "final weights after kill + resume equal bitwise");
  check_same_logs(a, k, "killed and resumed");

  // Outputs of a run.
  char path[4096];
  snprintf(path, sizeof path, "%s/models/model_lowres.pt", a);
  segc_pt_state_dict dict;
  CHECK_OK(segc_pt_read(path, &dict));
  segc_segresnet_config net_config = segc_segresnet_bundle_config();
  CHECK_OK(segc_segresnet_config_from_state_dict(&dict, &net_config));
  CHECK(net_config.init_filters == 8 && net_config.levels == 3,
        "best model is the trained network");
  segc_pt_free(&dict);
  const char *outputs[] = {"eval/validation.csv", "eval/train.jsonl",
                           "eval/training_curves.png", "models/segc_config.json"};
  for (int i = 0; i < 4; ++i) {
    snprintf(path, sizeof path, "%s/%s", a, outputs[i]);
    CHECK(access(path, R_OK) == 0, "output %s exists", outputs[i]);
  }
  return test_finish("segtrain_resume");
}
