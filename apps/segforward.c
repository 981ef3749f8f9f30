// segforward: runs SegResNet once on a raw float32 tensor and writes the raw
// float32 logits, so anyone can compare with PyTorch on the same files.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/parallel.h"
#include "infer/segresnet_predictor.h"
#include "train/model_io.h"

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
      "                        the network's shape is read from the checkpoint)\n");
}

static int fail(const char *message) {
  fprintf(stderr, "segforward: error: %s\n", message);
  return 1;
}

static int parse_shape(const char *text, int64_t shape[5]) {
  long long v[5];
  char tail;
  if (sscanf(text, "%lld,%lld,%lld,%lld,%lld%c", &v[0], &v[1], &v[2], &v[3],
             &v[4], &tail) != 5)
    return 0;
  for (int i = 0; i < 5; ++i) {
    if (v[i] <= 0 || v[i] > 100000) return 0;
    shape[i] = v[i];
  }
  return 1;
}

static segc_status read_exact(const char *path, void *data, size_t bytes) {
  FILE *f = fopen(path, "rb");
  if (!f) return SEGC_FAIL(SEGC_ERR_IO, "%s: %s", path, strerror(errno));
  size_t got = fread(data, 1, bytes, f);
  int extra = fgetc(f);
  fclose(f);
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
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
  FILE *f = fopen(tmp, "wb");
  if (!f) return SEGC_FAIL(SEGC_ERR_IO, "%s: %s", path, strerror(errno));
  size_t put = fwrite(data, 1, bytes, f);
  int flush_failed = fflush(f) != 0 || fsync(fileno(f)) != 0;
  int close_failed = fclose(f) != 0;
  if (put != bytes || flush_failed || close_failed) {
    int saved = errno;
    remove(tmp);
    return SEGC_FAIL(SEGC_ERR_IO, "%s: write failed: %s", path, strerror(saved));
  }
  if (rename(tmp, path) != 0) {
    int saved = errno;
    remove(tmp);
    return SEGC_FAIL(SEGC_ERR_IO, "%s: rename failed: %s", path,
                     strerror(saved));
  }
  return SEGC_OK;
}

int main(int argc, char **argv) {
  const char *weights = NULL, *input = NULL, *output = NULL, *shape_text = NULL;
  segc_dtype compute = SEGC_F32;
  long long want_filters = 0, want_out = 0, want_in = 0;
  int threads = 0;
  for (int i = 1; i < argc; ++i) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      return 0;
    }
    if (!v) {
      fprintf(stderr, "segforward: error: %s needs a value\n", a);
      return 2;
    }
    ++i;
    if (!strcmp(a, "--weights")) weights = v;
    else if (!strcmp(a, "--input")) input = v;
    else if (!strcmp(a, "--output")) output = v;
    else if (!strcmp(a, "--shape")) shape_text = v;
    else if (!strcmp(a, "--threads")) threads = atoi(v);
    else if (!strcmp(a, "--init-filters")) want_filters = atoll(v);
    else if (!strcmp(a, "--out-channels")) want_out = atoll(v);
    else if (!strcmp(a, "--in-channels")) want_in = atoll(v);
    else if (!strcmp(a, "--dtype")) {
      int d = segc_dtype_parse(v);
      if (d != SEGC_F32 && d != SEGC_BF16) {
        fprintf(stderr, "segforward: error: --dtype must be f32 or bf16\n");
        return 2;
      }
      compute = (segc_dtype)d;
    } else {
      fprintf(stderr, "segforward: error: unknown option %s\n", a);
      usage(stderr);
      return 2;
    }
  }
  if (!weights || !input || !output || !shape_text) {
    usage(stderr);
    return 2;
  }
  int64_t s[5];
  if (!parse_shape(shape_text, s)) return fail("--shape must be N,C,D,H,W with positive sizes");
  segc_set_threads(threads);

  segc_pt_state_dict dict;
  if (segc_pt_read(weights, &dict) != SEGC_OK) return fail(segc_error_message());
  segc_segresnet_config config = segc_segresnet_bundle_config();
  if (segc_segresnet_config_from_state_dict(&dict, &config) != SEGC_OK) {
    segc_fail_context(SEGC_ERR_FORMAT, "%s", weights);
    return fail(segc_error_message());
  }
  char message[512];
  if ((want_filters && want_filters != config.init_filters) ||
      (want_out && want_out != config.out_channels) ||
      (want_in && want_in != config.in_channels)) {
    snprintf(message, sizeof message,
             "%s has init_filters %lld, in_channels %lld, out_channels %lld; "
             "the options asked for %lld, %lld, %lld",
             weights, (long long)config.init_filters,
             (long long)config.in_channels, (long long)config.out_channels,
             want_filters, want_in, want_out);
    return fail(message);
  }
  if (s[1] != config.in_channels) {
    snprintf(message, sizeof message, "--shape has %lld channels, the network takes %lld",
             (long long)s[1], (long long)config.in_channels);
    return fail(message);
  }
  segc_segresnet net;
  if (segc_segresnet_create(&net, &config, false) != SEGC_OK ||
      segc_segresnet_load_state_dict(&net, &dict, weights) != SEGC_OK)
    return fail(segc_error_message());
  segc_pt_free(&dict);

  const segc_shape shape = segc_shape5(s[0], s[1], s[2], s[3], s[4]);
  const size_t in_count = (size_t)segc_shape_numel(shape);
  float *ncdhw = malloc(sizeof(float) * in_count);
  float *ndhwc = malloc(sizeof(float) * in_count);
  if (!ncdhw || !ndhwc) return fail("out of memory for the input");
  if (read_exact(input, ncdhw, sizeof(float) * in_count) != SEGC_OK)
    return fail(segc_error_message());
  segc_tensor in_t = segc_tensor_view(ncdhw, shape, SEGC_F32, SEGC_LAYOUT_NCDHW,
                                      SEGC_DEVICE_CPU);
  segc_tensor x_t = segc_tensor_view(ndhwc, shape, SEGC_F32, SEGC_LAYOUT_NDHWC,
                                     SEGC_DEVICE_CPU);
  if (segc_tensor_copy(&in_t, &x_t) != SEGC_OK) return fail(segc_error_message());

  segc_segresnet_predictor predictor;
  segc_tensor logits;
  double t0 = segc_now();
  if (segc_segresnet_predictor_init(&predictor, &net, shape, compute) != SEGC_OK ||
      segc_segresnet_predict(&predictor, &x_t, &logits) != SEGC_OK)
    return fail(segc_error_message());
  double seconds = segc_now() - t0;
  const size_t out_count = (size_t)segc_tensor_numel(&logits);
  float *out = malloc(sizeof(float) * out_count);
  if (!out) return fail("out of memory for the output");
  segc_tensor out_t = segc_tensor_view(out, logits.shape, SEGC_F32,
                                       SEGC_LAYOUT_NCDHW, SEGC_DEVICE_CPU);
  if (segc_tensor_copy(&logits, &out_t) != SEGC_OK ||
      write_atomic(output, out, sizeof(float) * out_count) != SEGC_OK)
    return fail(segc_error_message());
  printf("segforward: %s -> %s: logits %lldx%lldx%lldx%lldx%lld (%s), %.2f s\n",
         input, output, (long long)logits.shape.n, (long long)logits.shape.c,
         (long long)logits.shape.d, (long long)logits.shape.h,
         (long long)logits.shape.w, segc_dtype_name(compute), seconds);
  segc_segresnet_predictor_destroy(&predictor);
  segc_segresnet_destroy(&net);
  free(ncdhw);
  free(ndhwc);
  free(out);
  return 0;
}
