// segbench forward / train-step: the whole SegResNet (the bundle's network by
// default) at a 96^3 window. Each configuration runs in its own process so
// that its peak resident memory is its own.
//   forward:    seconds per forward (f32, bf16), GFLOP/s, the sum of its
//               convolutions timed alone, their ratio, a per-op breakdown.
//   train-step: seconds per step (forward + DiceCE + backward + AdamW) at
//               batch 1 and 2, the convolutions' forward + backward times
//               alone, per-op breakdown, peak memory.
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config/config.h"
#include "core/backend.h"
#include "core/dnnl_context.h"
#include "bench/bench.h"
#include "bench/bench_harness.h"
#include "core/parallel.h"
#include "infer/segresnet_predictor.h"
#include "layers/conv3d.h"
#include "layers/segresnet.h"
#include "train/trainer.h"

extern char **environ;

typedef struct {
  int init_filters, out_channels, size, batch, repeat, threads;
  segc_dtype dtype;
  segc_device device;
  bool train;
  const char *algos;  // the CPU convolution algorithms to time, in order
} net_options;

enum { MAX_ALGOS = 3 };

// Parses "direct,auto,winograd" into settings; false on an unknown name.
static bool parse_algos(const char *list, segc_conv3d_algorithm *out,
                        int *count) {
  char copy[64], *state = NULL;
  snprintf(copy, sizeof copy, "%s", list);
  *count = 0;
  for (char *a = strtok_r(copy, ",", &state); a;
       a = strtok_r(NULL, ",", &state)) {
    if (*count == MAX_ALGOS) return false;
    if (!strcmp(a, "direct")) out[*count] = SEGC_CONV3D_ALGO_DIRECT;
    else if (!strcmp(a, "auto")) out[*count] = SEGC_CONV3D_ALGO_AUTO;
    else if (!strcmp(a, "winograd")) out[*count] = SEGC_CONV3D_ALGO_WINOGRAD;
    else return false;
    ++*count;
  }
  return *count > 0;
}

static const char *algo_name(segc_conv3d_algorithm a) {
  return a == SEGC_CONV3D_ALGO_DIRECT     ? "direct"
         : a == SEGC_CONV3D_ALGO_WINOGRAD ? "winograd"
                                          : "auto";
}

// After the runs of several algorithms: each one's speed-up over direct.
static void print_speedups(const char *what, const segc_conv3d_algorithm *a,
                           const double *seconds, int count) {
  for (int i = 0; i < count; ++i)
    if (a[i] == SEGC_CONV3D_ALGO_DIRECT)
      for (int j = 0; j < count; ++j)
        if (j != i)
          printf("  %s [%s] vs [direct]: %.2fx faster (same run)\n", what,
                 algo_name(a[j]), seconds[i] / seconds[j]);
}

static segc_segresnet_config network_config(const net_options *o) {
  segc_segresnet_config c = segc_segresnet_bundle_config();
  c.init_filters = o->init_filters;
  c.out_channels = o->out_channels;
  return c;
}

static void fill_input(float *x, int64_t n) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i)
    x[i] = sinf(0.001f * (float)(i % 100003)) * 0.8f;
}

// One convolution's forward, and in training its backward passes.
typedef struct {
  segc_conv3d *layer;
  segc_tensor *x, *y, *dx, *dy;
  segc_backend_context *backend;
  bool train, backward_data;
} conv_job;

static segc_status conv_passes(void *context, int run, double *seconds) {
  (void)run, (void)seconds;
  const conv_job *j = context;
  SEGC_TRY(segc_conv3d_apply(j->layer, j->x, j->y, j->backend));
  if (j->backward_data)
    SEGC_TRY(segc_conv3d_backward_data(j->layer, j->dy, j->dx, false,
                                       j->backend));
  if (j->train)
    SEGC_TRY(segc_conv3d_backward_weights(j->layer, j->x, j->dy, j->backend));
  return SEGC_OK;
}

// Times every convolution of one forward alone (forward, and with `train`
// backward-data and backward-weights), median of `repeat`; returns the sum.
static segc_status convolutions_alone(segc_segresnet *net, segc_shape input,
                                      const net_options *o, double *seconds) {
  segc_segresnet_conv_use uses[256];
  const int n = segc_segresnet_conv_uses(net, input, uses, 256);
  segc_arena arena, scratch;
  SEGC_TRY(segc_arena_init(&arena, "conv bench", (size_t)4 << 30, SEGC_DEVICE_CPU));
  SEGC_TRY(segc_arena_init(&scratch, "conv bench scratch", (size_t)2 << 30,
                           SEGC_DEVICE_CPU));
  segc_backend_context backend;
  SEGC_TRY(segc_backend_context_init(&backend, SEGC_DEVICE_CPU, &scratch));
  *seconds = 0.0;
  segc_status s = SEGC_OK;
  for (int i = 0; i < n && s == SEGC_OK; ++i) {
    segc_conv3d *layer = uses[i].layer;
    const segc_shape xs = uses[i].input;
    const bool last = layer == &net->final_conv;
    const segc_dtype out_dtype = last ? SEGC_F32 : o->dtype;
    const segc_shape ys = segc_shape5(
        xs.n, layer->config.out_channels,
        segc_conv3d_output_size(&layer->config, xs.d),
        segc_conv3d_output_size(&layer->config, xs.h),
        segc_conv3d_output_size(&layer->config, xs.w));
    segc_tensor x, y, dy, dx;
    s = segc_arena_tensor(&arena, xs, o->dtype, SEGC_LAYOUT_NDHWC, &x);
    if (s == SEGC_OK) s = segc_arena_tensor(&arena, ys, out_dtype, SEGC_LAYOUT_NDHWC, &y);
    if (s == SEGC_OK) s = segc_arena_tensor(&arena, ys, out_dtype, SEGC_LAYOUT_NDHWC, &dy);
    if (s == SEGC_OK) s = segc_arena_tensor(&arena, xs, o->dtype, SEGC_LAYOUT_NDHWC, &dx);
    if (s != SEGC_OK) break;
    memset(x.data, 0, segc_tensor_bytes(&x));
    memset(dy.data, 0, segc_tensor_bytes(&dy));
    double t[16];
    const int runs = o->repeat < 16 ? o->repeat : 16;
    // The first convolution's input never needs a gradient.
    conv_job job = {layer, &x, &y, &dx, &dy, &backend, o->train,
                    o->train && i > 0};
    s = bench_time((bench_timed_job){conv_passes, &job}, 1, runs, t);
    if (s == SEGC_OK) *seconds += bench_median(t, runs);
    segc_arena_reset(&arena);
  }
  segc_backend_context_destroy(&backend);
  segc_arena_destroy(&arena);
  segc_arena_destroy(&scratch);
  return s;
}

static void print_profile(const segc_profile *p, int runs) {
  segc_profile scaled = *p;
  for (int i = 0; i < scaled.count; ++i)
    for (int k = 0; k < 2; ++k) {
      scaled.entries[i].seconds[k] /= runs;
      scaled.entries[i].calls[k] /= runs;
    }
  printf("  per-op seconds per %s (mean of %d):\n", "run", runs);
  segc_profile_print(&scaled, stdout);
}

// One prediction; timed runs (not the warm-up) add to the per-op profile.
typedef struct {
  segc_segresnet_predictor *predictor;
  const segc_tensor *x;
  segc_profile *profile;
} forward_job;

static segc_status predict_once(void *context, int run, double *seconds) {
  (void)seconds;
  forward_job *j = context;
  segc_tensor logits;
  j->predictor->graph.profile = run >= 0 ? j->profile : NULL;
  return segc_segresnet_predict(j->predictor, j->x, &logits);
}

static int run_forward(const net_options *o) {
  const segc_segresnet_config config = network_config(o);
  segc_segresnet net;
  if (segc_segresnet_create(&net, &config, false, o->device) != SEGC_OK) goto fail;
  if (segc_segresnet_init_weights(&net, 7) != SEGC_OK) goto fail;
  const segc_shape input = segc_shape5(o->batch, 1, o->size, o->size, o->size);
  float *x = malloc(sizeof(float) * (size_t)segc_shape_numel(input));
  if (!x) goto fail;
  fill_input(x, segc_shape_numel(input));
  segc_tensor xt = segc_tensor_view(x, input, SEGC_F32, SEGC_LAYOUT_NDHWC, SEGC_DEVICE_CPU);
  segc_segresnet_predictor p;
  if (segc_segresnet_predictor_init(&p, &net, input, o->dtype) != SEGC_OK) goto fail;
  segc_conv3d_algorithm algos[MAX_ALGOS];
  int algo_count;
  if (!parse_algos(o->algos, algos, &algo_count)) goto fail;
  double medians[MAX_ALGOS];
  for (int a = 0; a < algo_count; ++a) {
    segc_conv3d_set_algorithm(algos[a]);
    segc_profile profile = {0};
    double t[32];
    const int runs = o->repeat < 32 ? o->repeat : 32;
    forward_job job = {&p, &xt, &profile};
    if (bench_time((bench_timed_job){predict_once, &job}, 1, runs, t) !=
        SEGC_OK)
      goto fail;
    const double forward = medians[a] = bench_median(t, runs);
    double convs;
    if (convolutions_alone(&net, input, o, &convs) != SEGC_OK) goto fail;
    const double gflop = segc_segresnet_forward_flops(&net, input) / 1e9;
    printf("forward %s [%s] batch %d %d^3 (init_filters %d): %.3f s median of "
           "%d, %.1f GFLOP, %.1f GFLOP/s; convolutions alone %.3f s; ratio "
           "%.2f; activations peak %.2f GB; peak RSS %.2f GB\n",
           segc_dtype_name(o->dtype), algo_name(algos[a]), o->batch, o->size,
           o->init_filters, forward, runs, gflop, gflop / forward, convs,
           forward / convs, (double)p.activations.peak_bytes / 1e9,
           (double)segc_peak_rss_bytes() / 1e9);
    print_profile(&profile, runs);
    fflush(stdout);
  }
  print_speedups("forward", algos, medians, algo_count);
  segc_segresnet_predictor_destroy(&p);
  segc_segresnet_destroy(&net);
  free(x);
  return 0;
fail:
  fprintf(stderr, "segbench forward: error: %s\n", segc_error_message());
  return 1;
}

// One training step, timed by the trainer itself (its step time).
typedef struct {
  segc_trainer *trainer;
  const float *x;
  const uint8_t *y;
  int batch;
  segc_profile *profile;
} step_job;

static segc_status train_step_once(void *context, int run, double *seconds) {
  step_job *j = context;
  segc_step_result res;
  j->trainer->graph.profile = run >= 0 ? j->profile : NULL;
  SEGC_TRY(segc_trainer_step(j->trainer, j->x, j->y, j->batch, 1e-4, &res));
  *seconds = res.seconds;
  return SEGC_OK;
}

static int run_train_step(const net_options *o) {
  const segc_segresnet_config config = network_config(o);
  segc_segresnet net;
  segc_trainer trainer;
  if (segc_segresnet_create(&net, &config, true, o->device) != SEGC_OK) goto fail;
  if (segc_segresnet_init_weights(&net, 7) != SEGC_OK) goto fail;
  const int64_t roi[3] = {o->size, o->size, o->size};
  segc_adamw_config adamw = segc_adamw_default();
  adamw.lr = 1e-4;
  adamw.weight_decay = 1e-5;
  // bf16: AMP bf16; f16: AMP fp16 with the loss scaler (the bundle's GPU mode).
  const segc_amp_mode amp = o->dtype == SEGC_BF16   ? SEGC_AMP_BF16
                            : o->dtype == SEGC_F16 ? SEGC_AMP_FP16
                                                   : SEGC_AMP_OFF;
  if (segc_trainer_init(&trainer, &net, &adamw, amp, o->batch, roi, 123) != SEGC_OK)
    goto fail;
  const int64_t voxels = (int64_t)o->batch * o->size * o->size * o->size;
  float *x = malloc(sizeof(float) * (size_t)voxels);
  uint8_t *y = malloc((size_t)voxels);
  if (!x || !y) goto fail;
  fill_input(x, voxels);
  for (int64_t i = 0; i < voxels; ++i) y[i] = (uint8_t)((i / 977) % o->out_channels);
  segc_conv3d_algorithm algos[MAX_ALGOS];
  int algo_count;
  if (!parse_algos(o->algos, algos, &algo_count)) goto fail;
  double medians[MAX_ALGOS];
  for (int a = 0; a < algo_count; ++a) {
    segc_conv3d_set_algorithm(algos[a]);
    segc_profile profile = {0};
    double t[32];
    const int runs = o->repeat < 32 ? o->repeat : 32;
    step_job job = {&trainer, x, y, o->batch, &profile};
    if (bench_time((bench_timed_job){train_step_once, &job}, 1, runs, t) !=
        SEGC_OK)
      goto fail;
    const double step = medians[a] = bench_median(t, runs);
    const segc_shape input =
        segc_shape5(o->batch, 1, o->size, o->size, o->size);
    double convs;
    if (convolutions_alone(&net, input, o, &convs) != SEGC_OK) goto fail;
    const double gflop = 3.0 * segc_segresnet_forward_flops(&net, input) / 1e9;
    printf("train-step %s [%s] batch %d %d^3 (init_filters %d): %.3f s median "
           "of %d (%.2f crops/s), ~%.0f GFLOP, %.1f GFLOP/s; convolutions "
           "forward + backward alone %.3f s; ratio %.2f; activations peak "
           "%.2f GB; peak RSS %.2f GB\n",
           segc_dtype_name(o->dtype), algo_name(algos[a]), o->batch, o->size,
           o->init_filters, step, runs, o->batch / step, gflop, gflop / step,
           convs, step / convs,
           (double)segc_trainer_peak_activation_bytes(&trainer) / 1e9,
           (double)segc_peak_rss_bytes() / 1e9);
    print_profile(&profile, runs);
    fflush(stdout);
  }
  print_speedups("train-step", algos, medians, algo_count);
  segc_trainer_destroy(&trainer);
  segc_segresnet_destroy(&net);
  free(x);
  free(y);
  return 0;
fail:
  fprintf(stderr, "segbench train-step: error: %s\n", segc_error_message());
  return 1;
}

// Runs one configuration in a child process (its own peak memory).
static int spawn_one(const char *command, const net_options *o) {
  char filters[16], out[16], size[16], batch[16], repeat[16], threads[16];
  snprintf(filters, sizeof filters, "%d", o->init_filters);
  snprintf(out, sizeof out, "%d", o->out_channels);
  snprintf(size, sizeof size, "%d", o->size);
  snprintf(batch, sizeof batch, "%d", o->batch);
  snprintf(repeat, sizeof repeat, "%d", o->repeat);
  snprintf(threads, sizeof threads, "%d", o->threads);
  char *args[] = {"segbench", (char *)command, "--one",
                  (char *)segc_dtype_name(o->dtype), "--init-filters", filters,
                  "--out-channels", out, "--size", size, "--batch", batch,
                  "--repeat", repeat, "--threads", threads, "--device",
                  (char *)segc_device_name(o->device), "--algo",
                  (char *)o->algos, NULL};
  pid_t pid;
  if (posix_spawn(&pid, "/proc/self/exe", NULL, NULL, args, environ) != 0) {
    perror("segbench: posix_spawn");
    return 1;
  }
  int status;
  if (waitpid(pid, &status, 0) < 0) {
    perror("segbench: waitpid");
    return 1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

static int run(int argc, char **argv, bool train) {
  // Direct first, then the auto plan (Winograd where it is faster), timed
  // in the same process for the ratio.
  net_options o = {32, 105, 96, 1, 3, 0, SEGC_F32, SEGC_DEVICE_CPU, train,
                   "direct,auto"};
  const char *dtypes = "f32,bf16", *batches = train ? "1,2" : "1";
  const char *device = "cpu";
  bool one = false;
  for (int i = 1; i < argc; ++i) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!v) {
      fprintf(stderr, "segbench: %s needs a value\n", a);
      return 2;
    }
    ++i;
    if (!strcmp(a, "--one")) {
      one = true;
      dtypes = v;
    } else if (!strcmp(a, "--dtype")) dtypes = strcmp(v, "both") ? v : "f32,bf16";
    else if (!strcmp(a, "--device")) device = v;
    else if (!strcmp(a, "--init-filters")) o.init_filters = atoi(v);
    else if (!strcmp(a, "--out-channels")) o.out_channels = atoi(v);
    else if (!strcmp(a, "--size")) o.size = atoi(v);
    else if (!strcmp(a, "--batch")) batches = v;
    else if (!strcmp(a, "--repeat")) o.repeat = atoi(v);
    else if (!strcmp(a, "--threads")) o.threads = atoi(v);
    else if (!strcmp(a, "--algo")) o.algos = v;
    else {
      fprintf(stderr, "segbench: unknown option %s\n", a);
      return 2;
    }
  }
  if (o.init_filters < 8 || o.size < 8 || o.repeat < 1 || o.out_channels < 2) {
    fprintf(stderr, "segbench: bad sizes\n");
    return 2;
  }
  segc_conv3d_algorithm algos[MAX_ALGOS];
  int algo_count;
  if (!parse_algos(o.algos, algos, &algo_count)) {
    fprintf(stderr, "segbench: --algo: a list of direct, auto, winograd (at "
                    "most %d)\n", MAX_ALGOS);
    return 2;
  }
  if (bench_parse_device(device, &o.device) != SEGC_OK) {
    fprintf(stderr, "segbench: error: %s\n", segc_error_message());
    return 2;
  }
  segc_set_threads(o.threads);
  if (one) {
    const int dtype = segc_dtype_parse(dtypes);
    if (dtype != SEGC_F32 && dtype != SEGC_BF16 && dtype != SEGC_F16) {
      fprintf(stderr, "segbench: --one: unknown dtype %s\n", dtypes);
      return 2;
    }
    o.dtype = (segc_dtype)dtype;
    o.batch = atoi(batches);
    return train ? run_train_step(&o) : run_forward(&o);
  }
  printf("segbench %s: SegResNet init_filters %d -> %d channels at %d^3 on %s, "
         "%d threads, median of %d (reference: PyTorch 1.13 f32 forward 11.2 s "
         "at 44 GFLOP/s; training step 43.8 s / 99.9 s at batch 1 / 2)\n",
         train ? "train-step" : "forward", o.init_filters, o.out_channels,
         o.size, segc_device_name(o.device), segc_threads(), o.repeat);
  fflush(stdout);
  int rc = 0;
  char batch_list[64], dtype_list[64];
  snprintf(batch_list, sizeof batch_list, "%s", batches);
  char *batch_state = NULL;
  for (char *b = strtok_r(batch_list, ",", &batch_state); b;
       b = strtok_r(NULL, ",", &batch_state)) {
    o.batch = atoi(b);
    snprintf(dtype_list, sizeof dtype_list, "%s", dtypes);
    char *dtype_state = NULL;
    for (char *d = strtok_r(dtype_list, ",", &dtype_state); d;
         d = strtok_r(NULL, ",", &dtype_state)) {
      const int dtype = segc_dtype_parse(d);
      if (dtype != SEGC_F32 && dtype != SEGC_BF16 && dtype != SEGC_F16) {
        fprintf(stderr, "segbench: --dtype: unknown %s (f32, bf16, f16)\n", d);
        return 2;
      }
      // oneDNN on this CPU may have no bf16 convolutions: said, not failed.
      if (o.device == SEGC_DEVICE_CPU && dtype == SEGC_BF16 &&
          segc_dnnl_require_compute(SEGC_BF16) != SEGC_OK) {
        printf("bf16: skipped: %s\n", segc_error_message());
        continue;
      }
      o.dtype = (segc_dtype)dtype;
      rc |= spawn_one(train ? "train-step" : "forward", &o);
    }
  }
  return rc;
}

int segc_bench_forward(int argc, char **argv) { return run(argc, argv, false); }

// segbench train: the bundle's training throughput at batch 4 and 2 (the
// loader's share is measured by segbench loader: it delivers cached crops
// far faster than a step consumes them).
int segc_bench_train(int argc, char **argv) {
  for (int i = 1; i < argc; ++i)
    if (!strcmp(argv[i], "--ranks")) return segc_bench_train_ranks(argc, argv);
  char *args[40];
  int n = 0;
  args[n++] = argv[0];
  args[n++] = "--batch";
  args[n++] = "4,2";
  args[n++] = "--repeat";
  args[n++] = "1";
  for (int i = 1; i < argc && n < 38; ++i) args[n++] = argv[i];
  return run(n, args, true);
}
int segc_bench_train_step(int argc, char **argv) { return run(argc, argv, true); }
