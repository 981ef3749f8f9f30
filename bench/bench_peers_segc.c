// segbench peers, segc's side: the exchange files (the checkpoint and the
// window every run reads) and the worker process that times segc's own
// forward on them, as the peers' script does in Python.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench_harness.h"
#include "bench/bench_peers.h"
#include "core/parallel.h"
#include "infer/segresnet_predictor.h"
#include "io/model_io.h"
#include "layers/segresnet.h"

enum { kWeightSeed = 7 };

// The window segbench forward times, element i = sin(0.001 (i mod 100003)) 0.8.
static void fill_input(float *x, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    x[i] = sinf(0.001f * (float)(i % 100003)) * 0.8f;
}

static segc_status write_file(const char *path, const void *data, size_t bytes) {
  FILE *f = fopen(path, "wb");
  if (!f) return SEGC_FAIL(SEGC_ERR_IO, "cannot write %s", path);
  const size_t put = fwrite(data, 1, bytes, f);
  if (fclose(f) != 0 || put != bytes)
    return SEGC_FAIL(SEGC_ERR_IO, "cannot write %s (disk full?)", path);
  return SEGC_OK;
}

// Reads exactly `bytes` bytes: a shorter or longer file is an error.
static segc_status read_file(const char *path, void *data, size_t bytes) {
  FILE *f = fopen(path, "rb");
  if (!f) return SEGC_FAIL(SEGC_ERR_IO, "cannot open %s", path);
  const size_t got = fread(data, 1, bytes, f);
  const bool more = fgetc(f) != EOF;
  const bool failed = ferror(f) != 0;
  fclose(f);
  if (failed) return SEGC_FAIL(SEGC_ERR_IO, "cannot read %s", path);
  if (got != bytes || more)
    return SEGC_FAIL(SEGC_ERR_IO, "%s does not hold %zu bytes", path, bytes);
  return SEGC_OK;
}

segc_status bench_peers_write_inputs(const char *dir, int init_filters,
                                     int out_channels, int size, double *gflop) {
  segc_segresnet_config config = segc_segresnet_bundle_config();
  config.init_filters = init_filters;
  config.out_channels = out_channels;
  segc_segresnet net;
  SEGC_TRY(segc_segresnet_create(&net, &config, false, SEGC_DEVICE_CPU));
  char path[4200];
  snprintf(path, sizeof path, "%s/weights.pt", dir);
  segc_status status = segc_segresnet_init_weights(&net, kWeightSeed);
  if (status == SEGC_OK) status = segc_segresnet_save_checkpoint(&net, path);
  const segc_shape input = segc_shape5(1, 1, size, size, size);
  *gflop = segc_segresnet_forward_flops(&net, input) / 1e9;
  segc_segresnet_destroy(&net);
  SEGC_TRY(status);
  const int64_t n = segc_shape_numel(input);
  float *x = malloc(sizeof(float) * (size_t)n);
  if (!x) return SEGC_FAIL(SEGC_ERR_NOMEM, "peers: out of memory for the input");
  fill_input(x, n);
  snprintf(path, sizeof path, "%s/input.f32", dir);
  status = write_file(path, x, sizeof(float) * (size_t)n);
  free(x);
  return status;
}

typedef struct {
  segc_segresnet_predictor *predictor;
  const segc_tensor *x;
  segc_tensor logits;
} forward_job;

static segc_status predict_once(void *context, int run, double *seconds) {
  (void)run, (void)seconds;
  forward_job *j = context;
  return segc_segresnet_predict(j->predictor, j->x, &j->logits);
}

// logits: f32 NDHWC, batch 1. The first of equal maxima wins, as torch's.
static void argmax_labels(const segc_tensor *logits, uint8_t *labels) {
  const float *z = logits->data;
  const int64_t voxels = segc_shape_spatial(logits->shape);
  const int64_t classes = logits->shape.c;
#pragma omp parallel for schedule(static)
  for (int64_t v = 0; v < voxels; ++v) {
    const float *row = z + v * classes;
    int64_t best = 0;
    for (int64_t k = 1; k < classes; ++k)
      if (row[k] > row[best]) best = k;
    labels[v] = (uint8_t)best;
  }
}

static segc_status time_forward(const char *dir, segc_dtype dtype, int size,
                                int repeat, double *median) {
  char path[4200];
  snprintf(path, sizeof path, "%s/weights.pt", dir);
  segc_pt_state_dict dict;
  SEGC_TRY(segc_pt_read(path, &dict));
  segc_segresnet_config config = segc_segresnet_bundle_config();
  segc_status status = segc_segresnet_config_from_state_dict(&dict, &config);
  segc_segresnet net;
  bool have_net = false;
  if (status == SEGC_OK && config.out_channels > 256)
    status = SEGC_FAIL(SEGC_ERR_INVALID, "%s: %lld classes do not fit uint8 labels",
                       path, (long long)config.out_channels);
  if (status == SEGC_OK)
    status = segc_segresnet_create(&net, &config, false, SEGC_DEVICE_CPU);
  have_net = status == SEGC_OK;
  if (status == SEGC_OK) status = segc_segresnet_load_state_dict(&net, &dict, path);
  segc_pt_free(&dict);
  const segc_shape input = segc_shape5(1, 1, size, size, size);
  const size_t voxels = (size_t)segc_shape_numel(input);
  float *x = malloc(sizeof(float) * voxels);
  uint8_t *labels = malloc(voxels);
  if (status == SEGC_OK && (!x || !labels))
    status = SEGC_FAIL(SEGC_ERR_NOMEM, "peers: out of memory for the window");
  snprintf(path, sizeof path, "%s/input.f32", dir);
  if (status == SEGC_OK) status = read_file(path, x, sizeof(float) * voxels);
  segc_segresnet_predictor predictor;
  bool have_predictor = false;
  if (status == SEGC_OK) {
    status = segc_segresnet_predictor_init(&predictor, &net, input, dtype);
    have_predictor = status == SEGC_OK;
  }
  if (status == SEGC_OK) {
    // One channel: NDHWC and the peers' NCDHW are the same bytes.
    const segc_tensor xt = segc_tensor_view(x, input, SEGC_F32, SEGC_LAYOUT_NDHWC,
                                            SEGC_DEVICE_CPU);
    forward_job job = {&predictor, &xt, {0}};
    double t[32];
    const int runs = repeat < 32 ? repeat : 32;
    status = bench_time((bench_timed_job){predict_once, &job}, 1, runs, t);
    if (status == SEGC_OK) {
      *median = bench_median(t, runs);
      argmax_labels(&job.logits, labels);
      snprintf(path, sizeof path, "%s/labels_segc_%s.u8", dir, segc_dtype_name(dtype));
      status = write_file(path, labels, voxels);
    }
  }
  if (have_predictor) segc_segresnet_predictor_destroy(&predictor);
  if (have_net) segc_segresnet_destroy(&net);
  free(x);
  free(labels);
  return status;
}

int segc_bench_peers_segc_worker(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "segbench peers-segc-worker: DIR DTYPE SIZE REPEAT THREADS "
                    "(run by segbench peers)\n");
    return 2;
  }
  const int dtype = segc_dtype_parse(argv[2]);
  const int size = atoi(argv[3]), repeat = atoi(argv[4]), threads = atoi(argv[5]);
  if ((dtype != SEGC_F32 && dtype != SEGC_BF16) || size < 8 || repeat < 1 ||
      threads < 0) {
    fprintf(stderr, "segbench peers-segc-worker: bad arguments\n");
    return 2;
  }
  segc_set_threads(threads);
  double median;
  if (time_forward(argv[1], (segc_dtype)dtype, size, repeat, &median) != SEGC_OK) {
    fprintf(stderr, "segbench peers: segc: error: %s\n", segc_error_message());
    return 1;
  }
  printf("seconds %.6f peak_rss %zu segc\n", median, segc_peak_rss_bytes());
  return 0;
}
