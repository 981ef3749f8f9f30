// --dtype auto (core/dtype_auto.h, config/config_compute.c,
// infer/infer_options.c): the decision from injected probe findings (the
// bf16 cases this AVX2 machine cannot produce), the SEGC_DTYPE_AUTO
// override, the probe on this CPU, the once-per-process cache, amp and
// --dtype mapped to a compute dtype with its reason, the inference
// programs' default, and the reason in seginfer's report.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/dnnl_context.h"
#include "core/dtype_auto.h"
#include "core/parallel.h"
#include "infer/infer_options.h"
#include "infer/infer_report.h"
#include "util/test_util.h"

static segc_dtype_choice decide(bool bf16, const char *impl, double f32,
                                double bf16_seconds) {
  segc_dtype_probe probe = {.bf16_convolutions = bf16,
                            .f32_seconds = f32,
                            .bf16_seconds = bf16_seconds};
  snprintf(probe.bf16_impl, sizeof probe.bf16_impl, "%s", impl);
  segc_dtype_choice choice;
  segc_dtype_auto_decide(&probe, &choice);
  return choice;
}

#define CHECK_CHOICE(choice, want_dtype, want_reason)                       \
  CHECK((choice).dtype == (want_dtype) &&                                   \
            !strcmp((choice).reason, (want_reason)),                        \
        "got %s '%s', want %s '%s'", segc_dtype_name((choice).dtype),       \
        (choice).reason, segc_dtype_name(want_dtype), (want_reason))

static void test_decide(void) {
  CHECK_CHOICE(decide(false, "", 0.0, 0.0), SEGC_F32,
               "auto: f32 (this CPU has no bf16 convolutions)");
  // Timings of a CPU without bf16 cannot make it bf16.
  CHECK_CHOICE(decide(false, "", 1.0, 0.1), SEGC_F32,
               "auto: f32 (this CPU has no bf16 convolutions)");
  CHECK_CHOICE(decide(true, "ref:any", 1.0, 0.1), SEGC_F32,
               "auto: f32 (oneDNN has only its reference bf16 convolution "
               "here: ref:any)");
  // An AMD EPYC with native bf16: about 2x (issue 13).
  CHECK_CHOICE(decide(true, "brg:avx512_core_bf16", 0.019, 0.010), SEGC_BF16,
               "auto: bf16 (bf16 conv 1.90x faster than f32 here, "
               "brg:avx512_core_bf16)");
  // The bar itself is enough; just below it is not.
  CHECK(decide(true, "brg:avx512_core_amx", 1.2, 1.0).dtype == SEGC_BF16,
        "1.2x is bf16");
  CHECK_CHOICE(decide(true, "brg:avx512_core_amx", 1.19, 1.0), SEGC_F32,
               "auto: f32 (bf16 conv only 1.19x faster than f32 here, below "
               "1.2x; brg:avx512_core_amx)");
  // The development Xeon: native bf16 ISA, slower than f32; and emulated
  // bf16 on plain avx512_core.
  CHECK_CHOICE(decide(true, "jit_bf16:avx512_core_bf16", 0.010, 0.0125),
               SEGC_F32,
               "auto: f32 (bf16 conv slower than f32 here, 0.80x its speed; "
               "jit_bf16:avx512_core_bf16)");
  CHECK(decide(true, "jit_bf16:avx512_core", 0.010, 0.03).dtype == SEGC_F32,
        "emulated bf16 is f32");
  // Timings that are missing or not numbers never pick bf16.
  const double bad[][2] = {{0.0, 0.01}, {0.01, 0.0}, {NAN, 0.01},
                           {INFINITY, 0.01}, {0.01, NAN}, {-1.0, -2.0}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i)
    CHECK_CHOICE(decide(true, "brg:avx512_core_amx", bad[i][0], bad[i][1]),
                 SEGC_F32,
                 "auto: f32 (the probe convolutions could not be timed)");
  // A long implementation name is cut, never overflows.
  char impl[200];
  memset(impl, 'x', sizeof impl - 1);
  impl[sizeof impl - 1] = '\0';
  const segc_dtype_choice cut = decide(true, impl, 2.0, 1.0);
  CHECK(cut.dtype == SEGC_BF16 && strlen(cut.reason) < SEGC_DTYPE_REASON_MAX,
        "long impl: '%s'", cut.reason);

  segc_dtype_probe probe = {.bf16_convolutions = false};
  CHECK(!segc_dtype_auto_worth_timing(&probe), "no bf16: nothing to time");
  probe.bf16_convolutions = true;
  snprintf(probe.bf16_impl, sizeof probe.bf16_impl, "ref:any");
  CHECK(!segc_dtype_auto_worth_timing(&probe), "reference bf16: not timed");
  snprintf(probe.bf16_impl, sizeof probe.bf16_impl, "jit_bf16:avx512_core");
  CHECK(segc_dtype_auto_worth_timing(&probe), "emulated bf16 is timed");
}

static int test_probe_and_override(void) {
  segc_dtype_choice choice;
  CHECK_OK(segc_dtype_auto_choose("f32", &choice));
  CHECK_CHOICE(choice, SEGC_F32, "auto: f32 (SEGC_DTYPE_AUTO=f32)");
  CHECK_FAILS(segc_dtype_auto_choose("fp16", &choice), SEGC_ERR_INVALID,
              "SEGC_DTYPE_AUTO=fp16: expected f32 or bf16");
  CHECK_FAILS(segc_dtype_auto_choose("auto", &choice), SEGC_ERR_INVALID,
              "SEGC_DTYPE_AUTO=auto: expected f32 or bf16");

  segc_dtype_probe probe;
  const double start = segc_now();
  CHECK_OK(segc_dtype_auto_probe(&probe));
  const double seconds = segc_now() - start;
  if (!segc_dnnl_has_bf16()) {
    // AVX2: nothing is built or timed, and auto is f32.
    CHECK(!probe.bf16_convolutions && probe.f32_seconds == 0.0 &&
              probe.bf16_seconds == 0.0 && !probe.bf16_impl[0],
          "a CPU without bf16 is not probed");
    CHECK_FAILS(segc_dtype_auto_choose("bf16", &choice), SEGC_ERR_UNSUPPORTED,
                "SEGC_DTYPE_AUTO=bf16: bf16 compute is not available on this CPU");
    CHECK_OK(segc_dtype_auto_choose(NULL, &choice));
    CHECK_CHOICE(choice, SEGC_F32, "auto: f32 (this CPU has no bf16 convolutions)");
    CHECK_OK(segc_dtype_auto_choose("", &choice));
    CHECK_CHOICE(choice, SEGC_F32, "auto: f32 (this CPU has no bf16 convolutions)");
    test_bf16_available("dtype_auto (the timed probe)");
  } else {
    printf("bf16 probe: %s, f32 %.4f s, bf16 %.4f s (%.2f s in all)\n",
           probe.bf16_impl, probe.f32_seconds, probe.bf16_seconds, seconds);
    CHECK(probe.bf16_convolutions && probe.bf16_impl[0], "bf16 impl named");
    if (segc_dtype_auto_worth_timing(&probe))
      CHECK(probe.f32_seconds > 0.0 && probe.bf16_seconds > 0.0,
            "both timed: %g %g", probe.f32_seconds, probe.bf16_seconds);
    CHECK(seconds < 3.0, "the probe takes %.2f s", seconds);
    CHECK_OK(segc_dtype_auto_choose("bf16", &choice));
    CHECK_CHOICE(choice, SEGC_BF16, "auto: bf16 (SEGC_DTYPE_AUTO=bf16)");
    CHECK_OK(segc_dtype_auto_choose(NULL, &choice));
    printf("%s\n", choice.reason);
    CHECK(!strncmp(choice.reason, choice.dtype == SEGC_BF16 ? "auto: bf16 ("
                                                            : "auto: f32 (", 11),
          "reason '%s' names the dtype", choice.reason);
  }
  return 0;
}

// The process's decision is made once: SEGC_DTYPE_AUTO (set by main before
// the first call) is read then and never again.
static int test_cached(void) {
  segc_dtype_choice first, second;
  CHECK_OK(segc_dtype_auto(&first));
  CHECK_CHOICE(first, SEGC_F32, "auto: f32 (SEGC_DTYPE_AUTO=f32)");
  CHECK(setenv("SEGC_DTYPE_AUTO", "nonsense", 1) == 0, "setenv");
  CHECK_OK(segc_dtype_auto(&second));
  CHECK_CHOICE(second, SEGC_F32, "auto: f32 (SEGC_DTYPE_AUTO=f32)");
  return 0;
}

static int test_config_compute(void) {
  segc_config c;
  segc_config_defaults(&c);
  segc_dtype_choice choice;
  c.amp = SEGC_AMP_OFF;
  CHECK_OK(segc_config_choose_compute(&c, SEGC_DEVICE_CPU, &choice));
  CHECK_CHOICE(choice, SEGC_F32, "f32 (--dtype f32 or amp false: exact parity)");
  c.amp = SEGC_AMP_ON;  // auto: the cached decision (forced f32 by main)
  CHECK_OK(segc_config_choose_compute(&c, SEGC_DEVICE_CPU, &choice));
  CHECK_CHOICE(choice, SEGC_F32, "auto: f32 (SEGC_DTYPE_AUTO=f32)");
  CHECK_OK(segc_config_choose_compute(&c, SEGC_DEVICE_CUDA, &choice));
  CHECK_CHOICE(choice, SEGC_F32,
               "auto: f32 (on a GPU auto is f32; --dtype bf16 asks for bf16)");
  c.amp = SEGC_AMP_FP16;
  CHECK_OK(segc_config_choose_compute(&c, SEGC_DEVICE_CPU, &choice));
  CHECK_CHOICE(choice, SEGC_F16, "f16 (amp \"fp16\")");
  c.amp = SEGC_AMP_BF16;
  if (segc_dnnl_has_bf16()) {
    CHECK_OK(segc_config_choose_compute(&c, SEGC_DEVICE_CPU, &choice));
    CHECK_CHOICE(choice, SEGC_BF16, "bf16 (--dtype bf16 or amp \"bf16\")");
  } else {
    CHECK_FAILS(segc_config_choose_compute(&c, SEGC_DEVICE_CPU, &choice),
                SEGC_ERR_UNSUPPORTED, "bf16 compute is not available on this CPU");
  }
  // On a GPU oneDNN's bf16 is not the question.
  CHECK_OK(segc_config_choose_compute(&c, SEGC_DEVICE_CUDA, &choice));
  CHECK_CHOICE(choice, SEGC_BF16, "bf16 (--dtype bf16 or amp \"bf16\")");
  return 0;
}

// The inference programs' default: auto unless amp or --dtype was named.
static int test_options(void) {
  segc_config c;
  segc_config_defaults(&c);
  CHECK(c.amp == SEGC_AMP_OFF && !c.amp_given, "defaults: amp false, not given");
  segc_infer_dtype_default(&c);
  CHECK(c.amp == SEGC_AMP_ON, "no amp named: auto");

  segc_config_defaults(&c);
  CHECK_OK(segc_config_apply_set(&c, "amp=false"));
  segc_infer_dtype_default(&c);
  CHECK(c.amp == SEGC_AMP_OFF && c.amp_given, "amp=false stays f32");
  segc_config_defaults(&c);
  CHECK_OK(segc_config_apply_set(&c, "amp=true"));
  segc_infer_dtype_default(&c);
  CHECK(c.amp == SEGC_AMP_ON, "amp=true is auto");

  segc_config_defaults(&c);
  CHECK(segc_infer_option_parse("--dtype", "f32", &c) == SEGC_OPTION_TAKEN &&
            c.amp == SEGC_AMP_OFF && c.amp_given,
        "--dtype f32");
  segc_infer_dtype_default(&c);
  CHECK(c.amp == SEGC_AMP_OFF, "--dtype f32 is kept");
  CHECK_OK(segc_config_apply_set(&c, "amp=false"));
  CHECK(segc_infer_option_parse("--dtype", "auto", &c) == SEGC_OPTION_TAKEN &&
            c.amp == SEGC_AMP_ON,
        "--dtype auto over amp false");
  segc_clear_error();
  CHECK(segc_infer_option_parse("--dtype", "f16", &c) == SEGC_OPTION_BAD &&
            test_contains(segc_error_message(), "--dtype must be auto, f32 or bf16"),
        "--dtype f16: '%s'", segc_error_message());
  segc_clear_error();
  const segc_option_result bf16 = segc_infer_option_parse("--dtype", "bf16", &c);
  if (segc_dnnl_has_bf16())
    CHECK(bf16 == SEGC_OPTION_TAKEN && c.amp == SEGC_AMP_BF16, "--dtype bf16");
  else
    CHECK(bf16 == SEGC_OPTION_BAD &&
              test_contains(segc_error_message(),
                            "bf16 compute is not available on this CPU"),
          "--dtype bf16 without bf16: '%s'", segc_error_message());
  return 0;
}

// seginfer's latency report prints the reason and writes it in its JSON.
static int test_report(void) {
  segc_infer_settings settings;
  memset(&settings, 0, sizeof settings);
  snprintf(settings.compute_reason, sizeof settings.compute_reason,
           "auto: bf16 (bf16 conv 1.90x faster than f32 here, brg:x)");
  settings.compute = SEGC_BF16;
  const segc_infer_report report = {.threads = 2, .settings = &settings};
  FILE *f = tmpfile();
  CHECK(f != NULL, "tmpfile");
  if (!f) return test_finish_failed();
  segc_infer_report_print(&report, f);
  char text[4096] = "";
  rewind(f);
  const size_t n = fread(text, 1, sizeof text - 1, f);
  text[n] = '\0';
  fclose(f);
  CHECK(test_contains(text, "\nCompute dtype: auto: bf16 (bf16 conv 1.90x "
                            "faster than f32 here, brg:x)\n"),
        "report: '%s'", text);
  const char *path = test_path(test_temp_dir("dtype_auto"), "report.json");
  CHECK_OK(segc_infer_report_write_json(&report, path));
  char json[8192] = "";
  FILE *saved = fopen(path, "rb");
  CHECK(saved != NULL, "open %s", path);
  if (!saved) return test_finish_failed();
  json[fread(json, 1, sizeof json - 1, saved)] = '\0';
  fclose(saved);
  CHECK(test_contains(json, "\"compute_dtype_reason\"") &&
            test_contains(json, "\"auto: bf16 (bf16 conv 1.90x faster than "
                                "f32 here, brg:x)\""),
        "report JSON: '%s'", json);
  return 0;
}

int main(void) {
  // Before anything asks: the process's auto decision is f32 by override.
  if (setenv("SEGC_DTYPE_AUTO", "f32", 1) != 0) return test_finish_failed();
  test_decide();
  if (test_probe_and_override() || test_cached() || test_config_compute() ||
      test_options() || test_report())
    return test_finish_failed();
  return test_finish("dtype_auto");
}
