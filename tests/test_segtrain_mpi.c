// Data-parallel segtrain under mpirun (label mpi), on a phantom:
// - mpirun -np 2 at batch 1 per rank ends, after 3 steps (one epoch), with
//   the parameters of one process at batch 2 over the same crops (both with
//   distributed true, so both shard as DistributedSampler; the one process
//   is world 1): every tensor within 1e-5 of its largest |value| (summation
//   order differs: each rank's backward-weights sums one sample, the single
//   process's two; MPI adds the two sums), the worst tensor named; the
//   per-step losses (rank means against batch means) within 1e-5 relative;
//   the same with AMP bf16 where this CPU has bf16;
// - validation split between the ranks gives the single process's Dice;
// - kill -9 of one rank mid-run: mpirun exits non-zero within the bound
//   (SEGC_COMM_TIMEOUT_S = 10 s here, plus the launcher's own teardown),
//   the last saved state loads, and `mpirun ... --resume` finishes the run;
// - under mpirun with distributed false, every rank refuses with one line.
// Skipped (77) without MPI in the build or mpirun on PATH.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config/config.h"
#include "core/parallel.h"
#include "dist/comm.h"
#include "io/state_file.h"
#include "layers/segresnet.h"
#include "phantom/phantom.h"
#include "util/test_util.h"

extern char **environ;

enum { kTrainCases = 6, kValCases = 2 };

static const char *data_dir, *temp_dir;
static char segtrain_exe[4096], mpirun_exe[4096];

// The run's config file: a small network, 6 training cases. No dropout: its
// masks are drawn per sample of a batch, so W ranks at batch B and one
// process at batch W*B would drop different channels (as in PyTorch's DDP;
// the bundle's network has none).
static void write_config(const char *run_dir, int batch, int epochs,
                         const char *amp, char *path, size_t size) {
  snprintf(path, size, "%s.json", run_dir);
  FILE *f = fopen(path, "w");
  if (!f) {
    perror(path);
    exit(1);
  }
  fprintf(f,
          "{\"highres\": false, \"pixdim\": [6, 6, 6], \"batch_size\": %d,"
          " \"roi\": [32, 32, 32], \"val_roi\": null, \"val_interval\": 1,"
          " \"max_epochs\": %d, \"seed\": 5, \"dataset_dir\": \"%s\","
          " \"val_cases\": %d, \"cache_rate\": 1.0, \"num_workers\": 1,"
          " \"amp\": %s, \"init_LR\": 0.0001, \"save_interval\": 1,"
          " \"ckpt_dir\": \"%s/models\", \"output_dir\": \"%s/eval\","
          " \"sw_roi\": [32, 32, 32], \"distributed\": true, \"threads\": 1,"
          " \"network_def\": {\"init_filters\": 8, \"blocks_down\": [1, 1, 1],"
          " \"blocks_up\": [1, 1], \"dropout_prob\": 0}}",
          batch, epochs, data_dir, kValCases, amp, run_dir, run_dir);
  if (fclose(f) != 0) {
    perror(path);
    exit(1);
  }
}

// Starts `ranks` segtrain processes (0: segtrain alone) with output to log.
static pid_t start(int ranks, const char *config, bool resume,
                   const char *log) {
  char np[16];
  snprintf(np, sizeof np, "%d", ranks);
  char *with_mpi[] = {mpirun_exe, "-np", np, "--oversubscribe",
                      segtrain_exe, (char *)config, "--quiet",
                      resume ? "--resume" : NULL, NULL};
  char *alone[] = {segtrain_exe, (char *)config, "--quiet",
                   resume ? "--resume" : NULL, NULL};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log,
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid;
  char **argv = ranks > 0 ? with_mpi : alone;
  const int rc = posix_spawn(&pid, argv[0], &actions, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  return rc == 0 ? pid : -1;
}

// Waits up to `limit` seconds; the exit code, or -1 (killed at the limit).
static int finish(pid_t pid, double limit, double *seconds) {
  const double t0 = segc_now();
  for (;;) {
    int status;
    const pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) {
      *seconds = segc_now() - t0;
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    if (segc_now() - t0 > limit) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      *seconds = segc_now() - t0;
      return -1;
    }
    nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
  }
}

static void show_log(const char *log) {
  FILE *f = fopen(log, "r");
  if (!f) return;
  char line[1024];
  while (fgets(line, sizeof line, f)) fprintf(stderr, "  | %s", line);
  fclose(f);
}

static int run(int ranks, const char *config, bool resume, const char *what) {
  char log[4200];
  snprintf(log, sizeof log, "%s.%s.log", config, resume ? "resume" : "run");
  double seconds;
  const int code = finish(start(ranks, config, resume, log), 300.0, &seconds);
  CHECK(code == 0, "%s: exit %d after %.1f s", what, code, seconds);
  if (code != 0) show_log(log);
  return code;
}

// The net whose flat weights the states hold, for the tensors' names.
static segc_status load_weights(const char *run_dir, segc_state_file **f,
                                const float **w, int64_t count) {
  char path[4200];
  snprintf(path, sizeof path, "%s/models/training_state.segc", run_dir);
  SEGC_TRY(segc_state_read(path, f));
  return segc_state_get_f32(*f, "weights", count, w);
}

static void compare_weights(const char *config_path, const char *a_dir,
                            const char *b_dir, const char *what) {
  segc_config config;
  segc_config_defaults(&config);
  if (segc_config_load_file(&config, config_path, NULL) != SEGC_OK) {
    CHECK(false, "%s: %s", config_path, segc_error_message());
    return;
  }
  const segc_segresnet_config nc = segc_config_network(&config);
  segc_segresnet net;
  if (segc_segresnet_create(&net, &nc, false, SEGC_DEVICE_CPU) != SEGC_OK) {
    CHECK(false, "network: %s", segc_error_message());
    return;
  }
  segc_state_file *fa = NULL, *fb = NULL;
  const float *wa, *wb;
  if (load_weights(a_dir, &fa, &wa, net.weight_count) != SEGC_OK ||
      load_weights(b_dir, &fb, &wb, net.weight_count) != SEGC_OK) {
    CHECK(false, "%s: states: %s", what, segc_error_message());
  } else {
    double worst = 0.0;
    const char *worst_name = "-";
    for (int p = 0; p < net.param_count; ++p) {
      const segc_param *param = &net.params[p];
      const int64_t at = (const float *)param->value.data - net.weights;
      const int64_t n = segc_tensor_numel(&param->value);
      double scale = 0.0, diff = 0.0;
      for (int64_t i = 0; i < n; ++i) {
        scale = fmax(scale, fabs(wa[at + i]));
        diff = fmax(diff, fabs((double)wa[at + i] - wb[at + i]));
      }
      const double rel = scale > 0 ? diff / scale : diff;
      if (!(rel <= worst)) {
        worst = rel;
        worst_name = param->name;
      }
    }
    printf("%s: worst tensor %s, %.2e of its largest |value|\n", what,
           worst_name, worst);
    CHECK(worst <= 1e-5, "%s: %s differs by %.2e of its largest |value|",
          what, worst_name, worst);
  }
  segc_state_free(fa);
  segc_state_free(fb);
  segc_segresnet_destroy(&net);
}

// Column `name` of a CSV, one value per line (up to max).
static int read_column(const char *path, const char *name, double *out,
                       int max) {
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  char line[4096];
  int col_wanted = -1, count = 0;
  if (fgets(line, sizeof line, f)) {
    int col = 0;
    for (char *t = strtok(line, ",\n"); t; t = strtok(NULL, ",\n"), ++col)
      if (!strcmp(t, name)) col_wanted = col;
  }
  while (col_wanted >= 0 && count < max && fgets(line, sizeof line, f)) {
    int col = 0;
    for (char *t = strtok(line, ",\n"); t; t = strtok(NULL, ",\n"), ++col)
      if (col == col_wanted) out[count++] = strtod(t, NULL);
  }
  fclose(f);
  return count;
}

static void compare_logs(const char *a_dir, const char *b_dir,
                         const char *what) {
  char pa[4200], pb[4200];
  double la[8], lb[8];
  snprintf(pa, sizeof pa, "%s/eval/train.csv", a_dir);
  snprintf(pb, sizeof pb, "%s/eval/train.csv", b_dir);
  const int na = read_column(pa, "loss", la, 8);
  const int nb = read_column(pb, "loss", lb, 8);
  CHECK(na == 3 && nb == 3, "%s: 3 steps logged (%d, %d)", what, na, nb);
  for (int i = 0; i < na && i < nb; ++i)
    CHECK(fabs(la[i] - lb[i]) <= 1e-5 * fabs(la[i]),
          "%s: step %d loss %.9g, one process %.9g", what, i, lb[i], la[i]);
  // Validation: every case once over the ranks; the Dice of nearly equal
  // weights (the argmax of a voxel may flip on a 1e-6 difference: 1e-3).
  snprintf(pa, sizeof pa, "%s/eval/validation.csv", a_dir);
  snprintf(pb, sizeof pb, "%s/eval/validation.csv", b_dir);
  const int va = read_column(pa, "val_mean_dice", la, 8);
  const int vb = read_column(pb, "val_mean_dice", lb, 8);
  CHECK(va == 1 && vb == 1 && fabs(la[0] - lb[0]) <= 1e-3,
        "%s: validation Dice %g (%d rows), one process %g (%d rows)", what,
        lb[0], vb, la[0], va);
}

static void check_equality(const char *amp) {
  char one[2048], two[2048], c1[4200], c2[4200], what[64];
  snprintf(one, sizeof one, "%.2000s/one_%s", temp_dir, amp);
  snprintf(two, sizeof two, "%.2000s/two_%s", temp_dir, amp);
  write_config(one, 2, 1, amp, c1, sizeof c1);
  write_config(two, 1, 1, amp, c2, sizeof c2);
  snprintf(what, sizeof what, "amp %s", amp);
  if (run(0, c1, false, "one process, batch 2") ||
      run(2, c2, false, "mpirun -np 2, batch 1"))
    return;
  compare_weights(c1, one, two, what);
  compare_logs(one, two, what);
}

// The pid of a segtrain child of mpirun.
static pid_t find_rank(pid_t mpirun_pid) {
  DIR *d = opendir("/proc");
  if (!d) return -1;
  pid_t found = -1;
  for (struct dirent *e; (e = readdir(d)) && found < 0;) {
    char path[300], stat_line[512];
    snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
    FILE *f = fopen(path, "r");
    if (!f) continue;
    const bool read = fgets(stat_line, sizeof stat_line, f) != NULL;
    fclose(f);
    int pid, ppid;
    char comm[64], state;
    if (read && sscanf(stat_line, "%d (%63[^)]) %c %d", &pid, comm, &state,
                       &ppid) == 4 &&
        ppid == mpirun_pid && !strcmp(comm, "segtrain"))
      found = pid;
  }
  closedir(d);
  return found;
}

static void check_kill_and_resume(void) {
  char dir[2048], config[4200], log[4300], state[4300];
  snprintf(dir, sizeof dir, "%.2000s/killed", temp_dir);
  write_config(dir, 1, 40, "false", config, sizeof config);
  snprintf(log, sizeof log, "%s.kill.log", config);
  snprintf(state, sizeof state, "%s/models/training_state.segc", dir);
  setenv("SEGC_COMM_TIMEOUT_S", "10", 1);
  const pid_t job = start(2, config, false, log);
  // Wait for a saved state (after epoch 1), then kill a rank mid-epoch.
  const double t0 = segc_now();
  struct stat st;
  while (stat(state, &st) != 0 && segc_now() - t0 < 120.0)
    nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
  nanosleep(&(struct timespec){0, 300 * 1000 * 1000}, NULL);
  const pid_t victim = find_rank(job);
  CHECK(victim > 0, "found a rank of mpirun %d", (int)job);
  if (victim > 0) kill(victim, SIGKILL);
  double seconds;
  const int code = finish(job, 60.0, &seconds);
  printf("kill -9 of rank pid %d: mpirun exit %d after %.1f s\n", (int)victim,
         code, seconds);
  CHECK(code != 0 && code != -1 && seconds < 10.0 + 20.0,
        "the job ends non-zero within the bound (exit %d after %.1f s)", code,
        seconds);
  segc_state_file *f = NULL;
  CHECK(segc_state_read(state, &f) == SEGC_OK, "the last state loads: %s",
        segc_error_message());
  segc_state_free(f);
  // Resume to the end on 2 ranks (fewer epochs so that it ends soon).
  write_config(dir, 1, 3, "false", config, sizeof config);
  if (run(2, config, true, "mpirun -np 2 --resume")) return;
  double epochs[8];
  char csv[4300];
  snprintf(csv, sizeof csv, "%s/eval/validation.csv", dir);
  const int rows = read_column(csv, "epoch", epochs, 8);
  CHECK(rows >= 1 && epochs[rows - 1] == 3.0,
        "the resumed run validated through epoch 3 (%d rows)", rows);
  unsetenv("SEGC_COMM_TIMEOUT_S");
}

static void check_refused_without_distributed(void) {
  char dir[2048], config[4200], log[4300];
  snprintf(dir, sizeof dir, "%.2000s/single", temp_dir);
  write_config(dir, 1, 1, "false", config, sizeof config);
  // The same run with distributed false.
  FILE *f = fopen(config, "r+");
  char text[4096];
  const size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
  if (f) fclose(f);
  text[n] = '\0';
  char *key = strstr(text, "\"distributed\": true");
  if (!key) {
    CHECK(false, "config has distributed");
    return;
  }
  memcpy(key, "\"distributed\":false", strlen("\"distributed\":false"));
  f = fopen(config, "w");
  if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
    CHECK(false, "rewrite %s", config);
    return;
  }
  snprintf(log, sizeof log, "%s.log", config);
  double seconds;
  const int code = finish(start(2, config, false, log), 120.0, &seconds);
  FILE *l = fopen(log, "r");
  char all[16384];
  const size_t got = l ? fread(all, 1, sizeof all - 1, l) : 0;
  if (l) fclose(l);
  all[got] = '\0';
  CHECK(code != 0 && code != -1 &&
            strstr(all, "started as one of 2 processes, but the config has "
                        "distributed false"),
        "distributed false under mpirun -np 2: exit %d, log:\n%s", code, all);
}

int main(void) {
  if (!segc_comm_have_mpi()) {
    printf("segtrain_mpi: skipped: this build has no MPI (SEGC_MPI=OFF)\n");
    return 77;
  }
  if (!test_find_on_path("mpirun", mpirun_exe, sizeof mpirun_exe)) {
    printf("segtrain_mpi: skipped: no mpirun on PATH (openmpi-bin)\n");
    return 77;
  }
  snprintf(segtrain_exe, sizeof segtrain_exe, "%s/bin/segtrain",
           getenv("SEGC_BUILD_DIR") ? getenv("SEGC_BUILD_DIR") : "build");
  setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
  setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
  test_use_mpi_leak_suppressions();
  // Two ranks on two cores: no oversubscribed OpenMP threads.
  setenv("OMP_NUM_THREADS", "1", 1);
  temp_dir = test_temp_dir("segtrain_mpi");
  static char data[2048];
  snprintf(data, sizeof data, "%.2000s/data", temp_dir);
  data_dir = data;
  segc_phantom_options po;
  segc_phantom_default_options(&po);
  po.dim[0] = po.dim[1] = po.dim[2] = 32;
  po.spacing[0] = po.spacing[1] = po.spacing[2] = 6.0;
  CHECK_OK(segc_phantom_write_dataset(data_dir, &po, kTrainCases + kValCases,
                                      kValCases));
  check_equality("false");
  if (test_bf16_available("segtrain_mpi (AMP bf16)")) check_equality("\"bf16\"");
  check_refused_without_distributed();
  check_kill_and_resume();
  return test_finish("segtrain_mpi");
}
