// segforward: runs SegResNet once on a raw float32 tensor and writes the raw
// float32 logits, so anyone can compare with PyTorch on the same files.
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/parallel.h"
#include "infer/infer_pipeline.h"
#include "io/atomic_file.h"

static void usage(FILE *out) {
  fprintf(out,
      "usage: segforward --weights W.pt --input x.f32 --shape N,C,D,H,W\n"
      "                  --output y.f32 [options]\n"
      "Runs the SegResNet in eval mode on a raw little-endian float32 NCDHW\n"
      "tensor and writes the raw float32 NCDHW logits.\n"
      "  --weights W.pt        PyTorch checkpoint (state dict or {\"model\": ...})\n"
      "  --input FILE          raw f32 input, N*C*D*H*W values\n"
      "  --shape N,C,D,H,W     input shape (D, H, W multiples of 2^(levels-1))\n"
      "  --output FILE         raw f32 logits, N*K*D*H*W values\n"
      "  --dtype f32|bf16      compute dtype (default f32)\n"
      "  --threads N           threads (default: all cores)\n"
      "  --init-filters N --out-channels K --in-channels C\n"
      "                        check the checkpoint against these (by default\n"
      "                        the network's shape is read from the checkpoint,\n"
      "                        norm_groups from segc_config.json beside it)\n");
}

static int fail(const char *message) {
  fprintf(stderr, "segforward: error: %s\n", message);
  return 1;
}

// Inputs past 2^32 values (16 GiB) are refused before any allocation.
static const int64_t kMaxValues = (int64_t)1 << 32;

static int parse_shape(const char *text, int64_t shape[5]) {
  long long v[5];
  char tail;
  if (sscanf(text, "%lld,%lld,%lld,%lld,%lld%c", &v[0], &v[1], &v[2], &v[3],
             &v[4], &tail) != 5)
    return 0;
  int64_t values = 1;
  for (int i = 0; i < 5; ++i) {
    if (v[i] <= 0 || v[i] > 100000) return 0;
    shape[i] = v[i];
    values *= v[i];  // at most 2^32 * 100000 before the check below
    if (values > kMaxValues) return 0;
  }
  return 1;
}

static segc_status read_exact(const char *path, void *data, size_t bytes) {
  FILE *f = fopen(path, "rb");
  if (!f) return SEGC_FAIL(SEGC_ERR_IO, "%s: %s", path, strerror(errno));
  size_t got = fread(data, 1, bytes, f);
  int extra = fgetc(f);
  const bool failed = ferror(f) != 0;
  const int saved = errno;
  fclose(f);  // read only: nothing to lose
  if (failed)
    return SEGC_FAIL(SEGC_ERR_IO, "%s: read failed: %s", path, strerror(saved));
  if (got != bytes)
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "%s: has %zu bytes, the shape needs %zu", path, got, bytes);
  if (extra != EOF)
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "%s: is longer than the shape's %zu bytes", path, bytes);
  return SEGC_OK;
}

static segc_status write_atomic(const char *path, const void *data,
                                size_t bytes) {
  segc_atomic_file file;
  segc_status status = segc_atomic_file_open(&file, path);
  if (status == SEGC_OK) status = segc_atomic_file_write(&file, data, bytes);
  if (status == SEGC_OK) status = segc_atomic_file_commit(&file);
  segc_atomic_file_abort(&file);
  return status;
}

typedef struct {
  const char *weights, *input, *output;
  int64_t shape[5];
  segc_dtype compute;
  long long want_filters, want_out, want_in;
  int threads;
} forward_args;

// Reads the command line; returns 0, or the exit code after a message.
static int parse_args(int argc, char **argv, forward_args *a) {
  const char *shape_text = NULL;
  for (int i = 1; i < argc; ++i) {
    const char *flag = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(flag, "--help") || !strcmp(flag, "-h")) {
      usage(stdout);
      return -1;
    }
    if (!v) {
      fprintf(stderr, "segforward: error: %s needs a value\n", flag);
      return 2;
    }
    ++i;
    if (!strcmp(flag, "--weights")) a->weights = v;
    else if (!strcmp(flag, "--input")) a->input = v;
    else if (!strcmp(flag, "--output")) a->output = v;
    else if (!strcmp(flag, "--shape")) shape_text = v;
    else if (!strcmp(flag, "--threads")) a->threads = atoi(v);
    else if (!strcmp(flag, "--init-filters")) a->want_filters = atoll(v);
    else if (!strcmp(flag, "--out-channels")) a->want_out = atoll(v);
    else if (!strcmp(flag, "--in-channels")) a->want_in = atoll(v);
    else if (!strcmp(flag, "--dtype")) {
      int d = segc_dtype_parse(v);
      if (d != SEGC_F32 && d != SEGC_BF16) {
        fprintf(stderr, "segforward: error: --dtype must be f32 or bf16\n");
        return 2;
      }
      a->compute = (segc_dtype)d;
    } else {
      fprintf(stderr, "segforward: error: unknown option %s\n", flag);
      usage(stderr);
      return 2;
    }
  }
  if (!a->weights || !a->input || !a->output || !shape_text) {
    usage(stderr);
    return 2;
  }
  if (!parse_shape(shape_text, a->shape))
    return fail("--shape must be N,C,D,H,W with sizes in 1..100000 and at "
                "most 2^32 values");
  return 0;
}

// The network the options asked for (--init-filters ...), when they did.
static segc_status check_wanted(const forward_args *a,
                                const segc_segresnet_config *c) {
  if ((a->want_filters && a->want_filters != c->init_filters) ||
      (a->want_out && a->want_out != c->out_channels) ||
      (a->want_in && a->want_in != c->in_channels))
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "%s has init_filters %lld, in_channels %lld, "
                     "out_channels %lld; the options asked for %lld, %lld, "
                     "%lld",
                     a->weights, (long long)c->init_filters,
                     (long long)c->in_channels, (long long)c->out_channels,
                     a->want_filters, a->want_in, a->want_out);
  if (a->shape[1] != c->in_channels)
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "--shape has %lld channels, the network in %s takes %lld",
                     (long long)a->shape[1], a->weights,
                     (long long)c->in_channels);
  return SEGC_OK;
}

// Loads the network as seginfer does (infer_pipeline.h: shapes from the
// checkpoint, norm_groups from its segc_config.json, finite weights), with
// the predictor sized for the whole input.
static segc_status load_model(const forward_args *a, segc_infer_model *model) {
  segc_config config;
  segc_config_defaults(&config);
  segc_infer_settings settings;
  memset(&settings, 0, sizeof settings);
  settings.sw = segc_sw_default(0);  // 0: any output count
  settings.sw.sw_batch_size = (int)a->shape[0];
  for (int k = 0; k < 3; ++k) settings.sw.roi[k] = (int)a->shape[2 + k];
  settings.compute = a->compute;
  SEGC_TRY(segc_config_device(&config, &settings.device));
  settings.notes = stdout;
  settings.warnings = stderr;
  SEGC_TRY(segc_infer_model_load(model, a->weights, &config, &settings));
  const segc_status status = check_wanted(a, &model->net.config);
  if (status != SEGC_OK) segc_infer_model_destroy(model);
  return status;
}

// Input -> logits -> output file; frees what it allocates on every path.
// The file's values and the logits written out are host buffers; the
// network input lives on the model's device.
static segc_status run(const forward_args *a, segc_infer_model *model,
                       double *seconds, segc_shape *out_shape) {
  const segc_shape shape =
      segc_shape5(a->shape[0], a->shape[1], a->shape[2], a->shape[3], a->shape[4]);
  const size_t in_count = (size_t)segc_shape_numel(shape);
  float *ncdhw = malloc(sizeof(float) * in_count);
  float *out = NULL;
  segc_arena input_arena = {0};
  segc_tensor x_t;
  segc_status status = ncdhw ? read_exact(a->input, ncdhw, sizeof(float) * in_count)
                             : SEGC_FAIL(SEGC_ERR_NOMEM, "out of memory for the input");
  if (status == SEGC_OK)
    status = segc_arena_init(&input_arena, "segforward input",
                             sizeof(float) * in_count, model->net.device);
  if (status == SEGC_OK)
    status = segc_arena_tensor(&input_arena, shape, SEGC_F32, SEGC_LAYOUT_NDHWC,
                               &x_t);
  // Host memory: the values read from the file.
  segc_tensor in_t = segc_tensor_view(ncdhw, shape, SEGC_F32, SEGC_LAYOUT_NCDHW,
                                      SEGC_DEVICE_CPU);
  if (status == SEGC_OK) status = segc_tensor_copy(&in_t, &x_t);
  segc_tensor logits;
  const double t0 = segc_now();
  if (status == SEGC_OK)
    status = segc_segresnet_predict(&model->predictor, &x_t, &logits);
  *seconds = segc_now() - t0;
  size_t out_count = 0;
  if (status == SEGC_OK) {
    *out_shape = logits.shape;
    out_count = (size_t)segc_tensor_numel(&logits);
    out = malloc(sizeof(float) * out_count);
    if (!out) status = SEGC_FAIL(SEGC_ERR_NOMEM, "out of memory for the output");
  }
  if (status == SEGC_OK) {
    // Host memory: the values written to the file.
    segc_tensor out_t = segc_tensor_view(out, logits.shape, SEGC_F32,
                                         SEGC_LAYOUT_NCDHW, SEGC_DEVICE_CPU);
    status = segc_tensor_copy(&logits, &out_t);
  }
  if (status == SEGC_OK)
    status = write_atomic(a->output, out, sizeof(float) * out_count);
  if (input_arena.base) segc_arena_destroy(&input_arena);
  free(ncdhw);
  free(out);
  return status;
}

int main(int argc, char **argv) {
  forward_args a = {.compute = SEGC_F32};
  const int rc = parse_args(argc, argv, &a);
  if (rc != 0) return rc < 0 ? 0 : rc;
  segc_set_threads(a.threads);
  segc_infer_model model;
  if (load_model(&a, &model) != SEGC_OK) return fail(segc_error_message());
  double seconds = 0.0;
  segc_shape out_shape = {0};
  const segc_status status = run(&a, &model, &seconds, &out_shape);
  segc_infer_model_destroy(&model);
  if (status != SEGC_OK) return fail(segc_error_message());
  printf("segforward: %s -> %s: logits %lldx%lldx%lldx%lldx%lld (%s), %.2f s\n",
         a.input, a.output, (long long)out_shape.n, (long long)out_shape.c,
         (long long)out_shape.d, (long long)out_shape.h, (long long)out_shape.w,
         segc_dtype_name(a.compute), seconds);
  return 0;
}
