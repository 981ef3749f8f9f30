// Resuming equals not stopping: the loss of every step and the final weights
// of a run that stopped (cleanly after 2 epochs, or killed with SIGKILL at a
// random moment) and resumed are bitwise those of an uninterrupted run.
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

#include "core/parallel.h"
#include "data/phantom.h"
#include "train/config.h"
#include "train/model_io.h"
#include "train/state_file.h"
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

  // Stopped after 2 epochs, resumed to 4.
  run_library(b, 2, false);
  run_library(b, kEpochs, true);
  CHECK(read_losses(b, resumed, total) == total, "run B logged every step once");
  CHECK(memcmp(straight, resumed, sizeof(double) * (size_t)total) == 0,
        "resumed losses equal the uninterrupted run's");
  CHECK(same_weights(a, b), "resumed final weights equal bitwise");

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
  CHECK(seen >= total, "killed run: every step logged (%d lines), no step "
        "logged with two different losses", seen);
  CHECK(memcmp(straight, killed, sizeof(double) * (size_t)total) == 0,
        "losses after kill + resume equal the uninterrupted run's");
  CHECK(same_weights(a, k), "final weights after kill + resume equal bitwise");

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
