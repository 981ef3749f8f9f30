// segbench infer: seginfer end to end (latency per stage, peak RSS,
// windows/s) at 3 mm and 1.5 mm, f32 and bf16, on example_ct and on its
// 512x512x397 resample, each run a subprocess so that its peak RSS is its
// own; the bf16-vs-f32 label agreement; and, when Debian's python3 imports
// MONAI, MONAI's own pipeline (tools/monai_infer.py) on the same checkpoint
// and input with the time and memory ratios and the voxel agreement.
//
// No trained checkpoint is on the machine: the weights are a bundle-shaped
// SegResNet (1 -> 105, 32 filters, [1,2,2,4], [1,1,1]) with PyTorch's
// default initialisation from a fixed seed, saved once in the cache folder.
// Timings depend on the weights only through the argmax, so they stand for
// the trained model; agreements of random logits are a harder test than a
// trained model's confident ones.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dnnl_context.h"
#include "bench/bench.h"
#include "bench/bench_harness.h"
#include "bench/bench_infer_runs.h"
#include "core/backend.h"
#include "data/file_list.h"

enum { kSeed = 20240601 };

typedef struct {
  const char *tag;
  char path[4096];
} bench_input;

static void usage(FILE *out) {
  fprintf(out,
          "usage: segbench infer [--inputs example,512] [--res lowres,highres]\n"
          "       [--dtypes f32,bf16] [--no-monai] [--threads N (2)]\n"
          "       [--device cpu|cuda|auto (cpu)]\n"
          "       [--cache DIR (build/bench-data)] [--shared DIR (../shared)]\n"
          "       [--tools DIR (tools)]\n");
}

static void print_row(const char *input, const char *res, const char *who,
                      const bench_run *r) {
  if (!r->ok) {
    printf("| %s | %s | %s | %s |\n", input, res, who, r->note);
    return;
  }
  char rate[32] = "-";
  if (r->windows > 0 && r->inferer > 0.0)
    snprintf(rate, sizeof rate, "%.3f", r->windows / r->inferer);
  printf("| %s | %s | %s | %.1f | %.2f | %.1f | %.2f | %.2f | %.2f | %s | %.2f |\n",
         input, res, who, r->total, r->pre, r->inferer, r->invert, r->post,
         r->write, rate, r->peak_rss_bytes / 1e9);
}

static void verdict(const char *what, double value, double target,
                    const char *unit) {
  printf("  %s: %.4g%s (target >= %.4g%s: %s)\n", what, value, unit, target,
         unit, value >= target ? "met" : "NOT met");
}

int segc_bench_infer(int argc, char **argv) {
  const char *inputs = "example,512", *resolutions = "lowres,highres";
  const char *dtypes = "f32,bf16", *cache = "build/bench-data";
  const char *shared = "../shared", *tools = "tools";
  bool monai = true;
  bench_setup setup = {.threads = 2};
  for (int i = 1; i < argc; ++i) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--no-monai")) { monai = false; continue; }
    if (!strcmp(a, "--help")) { usage(stdout); return 0; }
    if (!v) { usage(stderr); return 2; }
    ++i;
    if (!strcmp(a, "--inputs")) inputs = v;
    else if (!strcmp(a, "--res")) resolutions = v;
    else if (!strcmp(a, "--dtypes")) dtypes = v;
    else if (!strcmp(a, "--cache")) cache = v;
    else if (!strcmp(a, "--shared")) shared = v;
    else if (!strcmp(a, "--tools")) tools = v;
    else if (!strcmp(a, "--threads")) setup.threads = atoi(v);
    else if (!strcmp(a, "--device")) {
      segc_device device;
      if (bench_parse_device(v, &device) != SEGC_OK) {
        fprintf(stderr, "segbench infer: error: %s\n", segc_error_message());
        return 2;
      }
      snprintf(setup.device, sizeof setup.device, "%s", segc_device_name(device));
    } else {
      fprintf(stderr, "segbench infer: error: unknown option '%s'\n", a);
      usage(stderr);
      return 2;
    }
  }
  snprintf(setup.cache, sizeof setup.cache, "%s", cache);
  snprintf(setup.tools_dir, sizeof setup.tools_dir, "%s", tools);
  snprintf(setup.weights, sizeof setup.weights, "%s/bundle_random_%d.pt", cache, kSeed);
  char out_dir[4200];
  snprintf(out_dir, sizeof out_dir, "%s/out", cache);
  bench_input list[2] = {{"example_ct", ""}, {"example_ct_512", ""}};
  snprintf(list[0].path, sizeof list[0].path, "%s/data/example_ct.nii.gz", shared);
  snprintf(list[1].path, sizeof list[1].path, "%s/example_ct_512x512x397_0.84mm.nii.gz", cache);
  if (bench_exe_dir(setup.bin_dir, sizeof setup.bin_dir) != SEGC_OK ||
      segc_data_make_dirs(out_dir) != SEGC_OK ||
      bench_ensure_weights(setup.weights, kSeed) != SEGC_OK) {
    fprintf(stderr, "segbench infer: error: %s\n", segc_error_message());
    return 1;
  }
  if (!segc_data_is_file(list[0].path)) {
    fprintf(stderr, "segbench infer: error: %s not found (--shared DIR)\n", list[0].path);
    return 1;
  }
  if (bench_listed(inputs, "512") &&
      bench_ensure_resampled(&setup, list[0].path, list[1].path) != SEGC_OK) {
    fprintf(stderr, "segbench infer: error: %s\n", segc_error_message());
    return 1;
  }
  char script[4200];
  snprintf(script, sizeof script, "%s/monai_infer.py", tools);
  const char *monai_note = NULL;
  if (!monai) monai_note = "MONAI not run (--no-monai)";
  else if (!segc_data_is_file(script)) monai_note = "MONAI not run: no tools/monai_infer.py (--tools DIR)";
  else if (!bench_monai_available()) monai_note = "MONAI not run: /usr/bin/python3 cannot import monai";
  printf("segbench infer: weights %s (bundle-shaped SegResNet, random, seed %d), "
         "%s, %d threads; %s\n", setup.weights, kSeed,
         setup.device[0] ? setup.device : "cpu", setup.threads,
         monai_note ? monai_note : "MONAI 1.4 beside it (tools/monai_infer.py)");
  printf("| Input | Res | Run | Total (s) | Pre | Inferer | Invert | Post | Write "
         "| Windows/s | Peak RSS (GB) |\n|---|---|---|---|---|---|---|---|---|---|---|\n");
  fflush(stdout);

  char summary[8][512];
  int summaries = 0;
  for (int in = 0; in < 2; ++in) {
    if (!bench_listed(inputs, in == 0 ? "example" : "512")) continue;
    for (int res = 0; res < 2; ++res) {
      const bool lowres = res == 0;
      const char *res_name = lowres ? "lowres" : "highres";
      if (!bench_listed(resolutions, res_name)) continue;
      bench_run f32 = {0}, bf16 = {0}, ref = {0};
      if (bench_listed(dtypes, "f32")) {
        bench_run_seginfer(&setup, list[in].path, list[in].tag, lowres, "f32", &f32);
        print_row(list[in].tag, res_name, "segc f32", &f32);
        fflush(stdout);
      }
      if (bench_listed(dtypes, "bf16") && strcmp(setup.device, "cuda") != 0 &&
          segc_dnnl_require_compute(SEGC_BF16) != SEGC_OK) {
        printf("segc bf16: skipped: %s\n", segc_error_message());
      } else if (bench_listed(dtypes, "bf16")) {
        bench_run_seginfer(&setup, list[in].path, list[in].tag, lowres, "bf16", &bf16);
        print_row(list[in].tag, res_name, "segc bf16", &bf16);
        fflush(stdout);
      }
      const bench_run *shape = f32.ok ? &f32 : &bf16;
      if (!monai_note && shape->ok) {
        bench_run_monai(&setup, list[in].path, list[in].tag, lowres,
                        shape->network_grid, shape->input_shape, &ref);
        print_row(list[in].tag, res_name, "MONAI f32", &ref);
        fflush(stdout);
      }
      const double bf16_agreement =
          f32.ok && bf16.ok ? bench_label_agreement(f32.label_path, bf16.label_path) : -1.0;
      const double monai_agreement =
          f32.ok && ref.ok ? bench_label_agreement(f32.label_path, ref.label_path) : -1.0;
      // Targets from the issue, reported (whoever runs this on a quiet
      // machine judges them).
      if (bf16_agreement >= 0.0)
        verdict("bf16 vs f32 label agreement", bf16_agreement, 0.99, "");
      if (monai_agreement >= 0.0) {
        verdict("f32 vs MONAI label agreement", monai_agreement, 0.999, "");
        if (lowres) verdict("MONAI/segc end-to-end time", ref.total / f32.total, 3.0, "x");
      }
      char *s = summary[summaries++];
      int n = snprintf(s, 512, "%s %s:", list[in].tag, res_name);
      if (f32.ok)
        n += snprintf(s + n, 512 - (size_t)n, " segc f32 %.1f s, peak RSS %.2f GB;",
                      f32.total, f32.peak_rss_bytes / 1e9);
      if (bf16_agreement >= 0.0)
        n += snprintf(s + n, 512 - (size_t)n, " bf16-vs-f32 agreement %.5f;",
                      bf16_agreement);
      if (monai_agreement >= 0.0)
        snprintf(s + n, 512 - (size_t)n,
                 " f32-vs-MONAI agreement %.5f; MONAI/segc time %.2fx; "
                 "segc/MONAI peak RSS %.2f",
                 monai_agreement, ref.total / f32.total,
                 f32.peak_rss_bytes / ref.peak_rss_bytes);
      else if (!monai_note && ref.note[0])
        snprintf(s + n, 512 - (size_t)n, " MONAI %s", ref.note);
    }
  }
  printf("Summary:\n");
  for (int i = 0; i < summaries; ++i) printf("  %s\n", summary[i]);
  return 0;
}
