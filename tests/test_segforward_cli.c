// build/bin/segforward end to end: a small network's logits equal the
// library's forward pass on the same input, and every error exit (missing
// or short input, a shape the network does not take, a checkpoint that does
// not match the options, NaN weights, an output folder that does not exist)
// is one "segforward: error:" line, status 1, no output file, and, under
// the sanitizer build (ASAN_OPTIONS=detect_leaks=1), no leak.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infer/segresnet_predictor.h"
#include "seginfer_test_support.h"
#include "util/test_util.h"

static char temp[1024], segforward[2048];

static int run(const char *args) {
  char command[16384];
  snprintf(command, sizeof command, "%s %s", segforward, args);
  return support_run(temp, command);
}

static segc_status write_floats(const char *path, const float *x, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f) return SEGC_FAIL(SEGC_ERR_IO, "cannot write %s", path);
  const size_t put = fwrite(x, sizeof *x, n, f);
  return fclose(f) == 0 && put == n ? SEGC_OK
                                    : SEGC_FAIL(SEGC_ERR_IO, "write %s", path);
}

// The logits the library computes for `input` (NCDHW, 1x1x16x16x16).
static segc_status reference_logits(const char *weights, const float *input,
                                    float *logits, size_t count) {
  segc_segresnet_config config = segc_segresnet_bundle_config();
  config.init_filters = 8;
  segc_segresnet net;
  SEGC_TRY(segc_segresnet_create(&net, &config, false, SEGC_DEVICE_CPU));
  segc_status status = segc_segresnet_load_checkpoint(&net, weights);
  const segc_shape shape = segc_shape5(1, 1, 16, 16, 16);
  float ndhwc[16 * 16 * 16];
  segc_tensor in_t = segc_tensor_view((float *)input, shape, SEGC_F32,
                                      SEGC_LAYOUT_NCDHW, SEGC_DEVICE_CPU);
  segc_tensor x_t = segc_tensor_view(ndhwc, shape, SEGC_F32, SEGC_LAYOUT_NDHWC,
                                     SEGC_DEVICE_CPU);
  if (status == SEGC_OK) status = segc_tensor_copy(&in_t, &x_t);
  segc_segresnet_predictor predictor = {0};
  if (status == SEGC_OK)
    status = segc_segresnet_predictor_init(&predictor, &net, shape, SEGC_F32);
  segc_tensor out;
  if (status == SEGC_OK) status = segc_segresnet_predict(&predictor, &x_t, &out);
  if (status == SEGC_OK && (size_t)segc_tensor_numel(&out) != count)
    status = SEGC_FAIL(SEGC_ERR_INTERNAL, "logit count");
  segc_tensor out_t = segc_tensor_view(logits, out.shape, SEGC_F32,
                                       SEGC_LAYOUT_NCDHW, SEGC_DEVICE_CPU);
  if (status == SEGC_OK) status = segc_tensor_copy(&out, &out_t);
  if (predictor.graph.tape) segc_segresnet_predictor_destroy(&predictor);
  segc_segresnet_destroy(&net);
  return status;
}

static int test_forward(const char *weights, const char *input) {
  char args[8192], output[2048];
  snprintf(output, sizeof output, "%s/logits.f32", temp);
  snprintf(args, sizeof args,
           "--weights %s --input %s --shape 1,1,16,16,16 --output %s "
           "--threads 2 --init-filters 8",
           weights, input, output);
  const int rc = run(args);
  CHECK(rc == 0, "segforward exit %d: %s", rc, support_err);
  CHECK(test_contains(support_out, "norm_groups 8 from the defaults"),
        "the loader's note: %s", support_out);
  enum { kCount = 105 * 16 * 16 * 16 };
  float *got = malloc(sizeof(float) * kCount);
  float *want = malloc(sizeof(float) * kCount);
  float x[16 * 16 * 16];
  FILE *f = fopen(input, "rb");
  const bool read_in = f && fread(x, sizeof *x, 4096, f) == 4096;
  if (f) fclose(f);
  f = fopen(output, "rb");
  const bool read_out = f && got && fread(got, sizeof *got, kCount, f) == kCount &&
                        fgetc(f) == EOF;
  if (f) fclose(f);
  CHECK(read_in && read_out, "read %s and %s", input, output);
  if (read_in && read_out && want) {
    CHECK_OK(reference_logits(weights, x, want, kCount));
    const double diff = test_max_abs_diff_f32(got, want, kCount);
    CHECK(diff <= 1e-5, "segforward's logits differ from the library's by %g",
          diff);
  }
  free(got);
  free(want);
  return remove(output) == 0 ? 0 : 1;
}

static void expect_error(const char *what, const char *args,
                         const char *output, const char *needle) {
  const int rc = run(args);
  CHECK(rc == 1 && test_contains(support_err, "segforward: error: ") &&
            test_contains(support_err, needle),
        "%s: exit %d, stderr '%s', wanted 1 with '%s'", what, rc, support_err,
        needle);
  CHECK(!test_contains(support_err, "LeakSanitizer") &&
            !test_contains(support_err, "AddressSanitizer"),
        "%s: the error exit leaks or faults:\n%s", what, support_err);
  CHECK(!support_exists(output), "%s: %s was written", what, output);
}

static int test_errors(const char *weights, const char *nan_weights,
                       const char *input, const char *short_input) {
  char output[2048], missing_output[2048], args[16384];
  snprintf(output, sizeof output, "%s/out.f32", temp);
  snprintf(missing_output, sizeof missing_output, "%s/no_such_folder/out.f32",
           temp);
  const char *common = "--shape 1,1,16,16,16 --threads 2";
  snprintf(args, sizeof args, "--weights %s --input %s/absent.f32 %s --output %s",
           weights, temp, common, output);
  expect_error("no such input", args, output, "absent.f32: No such file");
  snprintf(args, sizeof args, "--weights %s --input %s %s --output %s", weights,
           short_input, common, output);
  expect_error("input too short", args, output,
               "has 8192 bytes, the shape needs 16384");
  snprintf(args, sizeof args,
           "--weights %s --input %s --shape 1,2,16,16,16 --output %s", weights,
           input, output);
  expect_error("wrong channel count", args, output,
               "--shape has 2 channels, the network in");
  snprintf(args, sizeof args,
           "--weights %s --input %s %s --output %s --init-filters 16", weights,
           input, common, output);
  expect_error("options do not fit", args, output,
               "has init_filters 8, in_channels 1, out_channels 105; the "
               "options asked for 16");
  snprintf(args, sizeof args, "--weights %s --input %s %s --output %s",
           nan_weights, input, common, output);
  expect_error("NaN weights", args, output,
               "tensor 'convInit.conv.weight' has 1 NaN value");
  snprintf(args, sizeof args,
           "--weights %s --input %s --shape 1,1,4,32,32 --output %s", weights,
           input, output);
  expect_error("size not a multiple of 8", args, output, "spatial sizes must be multiples of 8");
  snprintf(args, sizeof args, "--weights %s/absent.pt --input %s %s --output %s",
           temp, input, common, output);
  expect_error("no such weights", args, output, "cannot open checkpoint");
  snprintf(args, sizeof args, "--weights %s --input %s %s --output %s", weights,
           input, common, missing_output);
  expect_error("no output folder", args, missing_output,
               "no_such_folder/out.f32");
  // A misspelt CPU convolution algorithm (layers/conv3d.h): one line naming
  // the variable, nothing written.
  const char *algo = getenv("SEGC_CONV_ALGO");
  char saved_algo[64];
  snprintf(saved_algo, sizeof saved_algo, "%s", algo ? algo : "");
  setenv("SEGC_CONV_ALGO", "fast", 1);
  snprintf(args, sizeof args, "--weights %s --input %s %s --output %s", weights,
           input, common, output);
  expect_error("misspelt SEGC_CONV_ALGO", args, output,
               "SEGC_CONV_ALGO must be auto, direct or winograd, got \"fast\"");
  if (algo)
    setenv("SEGC_CONV_ALGO", saved_algo, 1);
  else
    unsetenv("SEGC_CONV_ALGO");
  return 0;
}

int main(void) {
  snprintf(temp, sizeof temp, "%s", test_temp_dir("segforward_cli"));
  const char *b = getenv("SEGC_BUILD_DIR");
  snprintf(segforward, sizeof segforward, "%s/bin/segforward",
           b && *b ? b : "build");
  char weights[2048], nan_weights[2048], input[2048], short_input[2048];
  snprintf(weights, sizeof weights, "%s/w.pt", temp);
  snprintf(nan_weights, sizeof nan_weights, "%s/nan.pt", temp);
  snprintf(input, sizeof input, "%s/x.f32", temp);
  snprintf(short_input, sizeof short_input, "%s/short.f32", temp);
  CHECK_OK(support_make_weights(weights, 8, 11));
  {
    segc_segresnet_config config = segc_segresnet_bundle_config();
    config.init_filters = 8;
    segc_segresnet net;
    CHECK_OK(segc_segresnet_create(&net, &config, false, SEGC_DEVICE_CPU));
    CHECK_OK(segc_segresnet_init_weights(&net, 11));
    ((float *)segc_segresnet_find(&net, "convInit.conv.weight")->value.data)[4] = NAN;
    const segc_status s = segc_segresnet_save_checkpoint(&net, nan_weights);
    segc_segresnet_destroy(&net);
    CHECK_OK(s);
  }
  float x[16 * 16 * 16];
  test_fill_uniform(x, 4096, -1.0f, 1.0f, 3);
  CHECK_OK(write_floats(input, x, 4096));
  CHECK_OK(write_floats(short_input, x, 2048));
  if (test_forward(weights, input) ||
      test_errors(weights, nan_weights, input, short_input))
    return test_finish_failed();
  if (test_failures == 0) {
    char command[2048];
    snprintf(command, sizeof command, "rm -rf %s", temp);
    if (system(command) != 0) fprintf(stderr, "could not remove %s\n", temp);
  }
  return test_finish("segforward_cli");
}
