// segbench train --ranks N: data-parallel training throughput on this
// machine. N processes of T threads (under mpirun, each at batch B) against
// one process of N*T threads at batch N*B, the same global batch: seconds
// per step, crops per second, and what the gradient all-reduce costs (the
// time waiting for it after backward, and how many of its buckets started
// while backward was still running).
//
// Both runs are `segbench train-ranks-worker`, which trains on synthetic
// crops and prints one RESULT line from rank 0.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/bench.h"
#include "bench/bench_harness.h"
#include "core/parallel.h"
#include "dist/comm.h"
#include "layers/segresnet.h"
#include "train/trainer.h"

typedef struct {
  int ranks, threads, batch, size, init_filters, out_channels, repeat;
} ranks_options;

enum { kMaxRepeat = 32 };

static int parse(int argc, char **argv, ranks_options *o) {
  for (int i = 1; i < argc; ++i) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    int *field = !strcmp(a, "--ranks")          ? &o->ranks
                 : !strcmp(a, "--threads")      ? &o->threads
                 : !strcmp(a, "--batch")        ? &o->batch
                 : !strcmp(a, "--size")         ? &o->size
                 : !strcmp(a, "--init-filters") ? &o->init_filters
                 : !strcmp(a, "--out-channels") ? &o->out_channels
                 : !strcmp(a, "--repeat")       ? &o->repeat
                                                : NULL;
    char *end = NULL;
    const long value = v ? strtol(v, &end, 10) : 0;
    if (!field || !v || *end || value < 1 || value > 4096) {
      fprintf(stderr, "segbench train: bad option %s %s (--ranks --threads "
              "--batch --size --init-filters --out-channels --repeat take "
              "positive integers)\n", a, v ? v : "");
      return 2;
    }
    *field = (int)value;
    ++i;
  }
  if (o->repeat > kMaxRepeat) o->repeat = kMaxRepeat;
  return 0;
}

static void fill_crops(float *x, uint8_t *y, int64_t n, int classes, int rank) {
  for (int64_t i = 0; i < n; ++i) {
    x[i] = sinf(0.001f * (float)((i + 7919 * rank) % 100003)) * 0.8f;
    y[i] = (uint8_t)(((i + 31 * rank) / 977) % classes);
  }
}

// Trains repeat + 1 steps (the first warms up) and reports from rank 0.
static segc_status train_worker(const ranks_options *o, segc_comm *comm) {
  segc_segresnet_config config = segc_segresnet_bundle_config();
  config.init_filters = o->init_filters;
  config.out_channels = o->out_channels;
  segc_segresnet net;
  SEGC_TRY(segc_segresnet_create(&net, &config, true, SEGC_DEVICE_CPU));
  segc_status init = segc_segresnet_init_weights(&net, 7);
  if (init != SEGC_OK) {
    segc_segresnet_destroy(&net);
    return init;
  }
  segc_trainer trainer;
  segc_adamw_config adamw = segc_adamw_default();
  adamw.lr = 1e-4;
  const int64_t roi[3] = {o->size, o->size, o->size};
  segc_status s = segc_trainer_init(&trainer, &net, &adamw, SEGC_AMP_OFF,
                                    o->batch, roi, 123);
  const int world = segc_comm_world_size(comm);
  if (s == SEGC_OK && world > 1) s = segc_trainer_distribute(&trainer, comm);
  const int64_t voxels = (int64_t)o->batch * o->size * o->size * o->size;
  float *x = malloc(sizeof(float) * (size_t)voxels);
  uint8_t *y = malloc((size_t)voxels);
  if (s == SEGC_OK && (!x || !y))
    s = SEGC_FAIL(SEGC_ERR_NOMEM, "segbench: no memory for the crops");
  if (s == SEGC_OK)
    fill_crops(x, y, voxels, o->out_channels, segc_comm_rank(comm));
  double step[kMaxRepeat], wait[kMaxRepeat];
  int overlapped = 0;
  for (int r = -1; r < o->repeat && s == SEGC_OK; ++r) {
    segc_step_result res;
    s = segc_trainer_step(&trainer, x, y, o->batch, 1e-4, &res);
    if (r < 0 || s != SEGC_OK) continue;
    step[r] = res.seconds;
    wait[r] = world > 1 ? trainer.buckets.wait_seconds : 0.0;
    overlapped = world > 1 ? trainer.buckets.started_in_backward : 0;
  }
  if (s == SEGC_OK && segc_comm_rank(comm) == 0)
    printf("RESULT ranks=%d threads=%d batch=%d step=%.4f wait=%.4f "
           "overlapped=%d buckets=%d gradient_mb=%.1f\n",
           world, segc_threads(), o->batch, bench_median(step, o->repeat),
           bench_median(wait, o->repeat), overlapped,
           world > 1 ? trainer.buckets.bucket_count : 0,
           4.0 * (double)net.weight_count / 1e6);
  free(x);
  free(y);
  if (trainer.net) segc_trainer_destroy(&trainer);
  segc_segresnet_destroy(&net);
  return s;
}

int segc_bench_train_ranks_worker(int argc, char **argv) {
  ranks_options o = {1, 1, 1, 96, 32, 105, 3};
  if (parse(argc, argv, &o)) return 2;
  segc_set_threads(o.threads);
  segc_comm *comm;
  if (segc_comm_create(&comm) != SEGC_OK) {
    fprintf(stderr, "segbench train-ranks-worker: error: %s\n",
            segc_error_message());
    return 1;
  }
  const segc_status s = train_worker(&o, comm);
  if (s != SEGC_OK) {
    if (segc_comm_world_size(comm) > 1)
      segc_comm_abort(comm, 1, segc_error_message());
    fprintf(stderr, "segbench train-ranks-worker: error: %s\n",
            segc_error_message());
  }
  segc_comm_free(comm);
  return s == SEGC_OK ? 0 : 1;
}

typedef struct {
  int ranks, threads, batch, overlapped, buckets;
  double step, wait, gradient_mb;
} ranks_result;

// Runs a worker command line and reads its RESULT line.
static int run_worker(const char *command, ranks_result *r) {
  FILE *p = popen(command, "r");
  if (!p) {
    perror("segbench: popen");
    return 1;
  }
  char line[1024];
  int found = 0;
  while (fgets(line, sizeof line, p)) {
    if (sscanf(line,
               "RESULT ranks=%d threads=%d batch=%d step=%lf wait=%lf "
               "overlapped=%d buckets=%d gradient_mb=%lf",
               &r->ranks, &r->threads, &r->batch, &r->step, &r->wait,
               &r->overlapped, &r->buckets, &r->gradient_mb) == 8)
      found = 1;
    else
      fputs(line, stdout);
  }
  const int status = pclose(p);
  if (status != 0 || !found) {
    fprintf(stderr, "segbench train: `%s` failed (status %d)\n", command,
            status);
    return 1;
  }
  return 0;
}

int segc_bench_train_ranks(int argc, char **argv) {
  ranks_options o = {2, 0, 1, 96, 32, 105, 3};
  if (parse(argc, argv, &o)) return 2;
  if (o.threads == 0) {
    o.threads = segc_threads() / o.ranks;
    if (o.threads < 1) o.threads = 1;
  }
  if (o.ranks > 1 && !segc_comm_have_mpi()) {
    fprintf(stderr, "segbench train --ranks: this build has no MPI\n");
    return 1;
  }
  printf("segbench train --ranks %d: SegResNet init_filters %d -> %d at "
         "%d^3, f32, median of %d steps after one; %d processes x %d threads "
         "at batch %d each against 1 process x %d threads at batch %d\n",
         o.ranks, o.init_filters, o.out_channels, o.size, o.repeat, o.ranks,
         o.threads, o.batch, o.ranks * o.threads, o.ranks * o.batch);
  fflush(stdout);
  // Both runs start segbench's own program (popen goes through sh).
  char self[900];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) {
    perror("segbench: /proc/self/exe");
    return 1;
  }
  self[n] = '\0';
  char sizes[128], one[1200], many[1400];
  snprintf(sizes, sizeof sizes, "--size %d --init-filters %d --out-channels %d "
           "--repeat %d", o.size, o.init_filters, o.out_channels, o.repeat);
  snprintf(one, sizeof one, "'%s' train-ranks-worker --threads %d --batch %d %s",
           self, o.ranks * o.threads, o.ranks * o.batch, sizes);
  snprintf(many, sizeof many,
           "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "
           "OMP_NUM_THREADS=%d mpirun -np %d --oversubscribe --bind-to none "
           "'%s' train-ranks-worker --threads %d --batch %d %s",
           o.threads, o.ranks, self, o.threads, o.batch, sizes);
  ranks_result single, ranks;
  if (run_worker(one, &single) || run_worker(many, &ranks)) return 1;
  printf("\n%-28s %8s %10s %10s %12s %18s\n", "run", "batch", "step s",
         "crops/s", "all-reduce s", "buckets early/all");
  printf("%-28s %8d %10.3f %10.3f %12s %18s\n", "1 process", single.batch,
         single.step, single.batch / single.step, "-", "-");
  char label[64], buckets[32];
  snprintf(label, sizeof label, "%d processes (mpirun)", ranks.ranks);
  snprintf(buckets, sizeof buckets, "%d/%d", ranks.overlapped, ranks.buckets);
  printf("%-28s %8d %10.3f %10.3f %12.3f %18s\n", label,
         ranks.batch * ranks.ranks, ranks.step,
         ranks.batch * ranks.ranks / ranks.step, ranks.wait, buckets);
  printf("throughput ratio (processes / one process): %.2f; gradient %.1f MB "
         "per step, all-reduce wait %.1f%% of a step\n",
         single.step / ranks.step * (ranks.batch * ranks.ranks) /
             (double)single.batch,
         ranks.gradient_mb, 100.0 * ranks.wait / ranks.step);
  return 0;
}
