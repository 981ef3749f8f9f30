// segbench conv: the SegResNet convolution shapes at a 96^3 window, forward,
// backward-data and backward-weights, f32 and bf16: median times, GFLOP/s and
// the oneDNN implementation of each pass (direct forced); for the f32 3x3x3
// stride-1 shapes also Winograd forced and the auto plan (conv3d.h).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "bench/bench_harness.h"
#include "core/arena.h"
#include "core/dnnl_context.h"
#include "core/parallel.h"
#include "layers/conv3d.h"

typedef struct {
  int cin, cout, size, kernel, stride;
  bool bias;
  int count;  // convolutions of this shape in one SegResNet forward
} conv_shape;

// Counts (bundle: init_filters 32, blocks_down [1,2,2,4], blocks_up [1,1,1]):
// 32@96: down_layers[0] ResBlock + up_layers[2] ResBlock = 4 convs; 64@48:
// 2 + 1 ResBlocks = 6; 128@24: 2 + 1 = 6; 256@12: 4 ResBlocks = 8.
static const conv_shape shapes[] = {
    {1, 32, 96, 3, 1, false, 1},     {32, 32, 96, 3, 1, false, 4},
    {64, 64, 48, 3, 1, false, 6},    {128, 128, 24, 3, 1, false, 6},
    {256, 256, 12, 3, 1, false, 8},  {32, 64, 96, 3, 2, false, 1},
    {64, 128, 48, 3, 2, false, 1},   {128, 256, 24, 3, 2, false, 1},
    {256, 128, 12, 1, 1, false, 1},  {128, 64, 24, 1, 1, false, 1},
    {64, 32, 48, 1, 1, false, 1},    {32, 105, 96, 1, 1, true, 1},
};
enum { SHAPE_COUNT = sizeof shapes / sizeof shapes[0] };

// Reference figures from the development machine (PERFORMANCE.md):
// oneDNN alone, 32->32 at 96^3, batch 1, 2 threads.
static const double reference_f32 = 397.0, reference_bf16 = 577.0;

enum { PASS_FORWARD, PASS_DATA, PASS_WEIGHTS, PASS_WEIGHTS_ONE_CALL, PASSES };

typedef struct {
  double seconds[PASSES];  // medians, oneDNN's direct convolution
  const char *impl[3];
  bool winograd_fits;      // f32 3x3x3 stride 1: Winograd measured too
  double winograd[3];      // forward, backward-data, -weights by Winograd
  bool planned[3];         // what the auto plan chose (true: Winograd)
  char plan[3][160];       // the plan's line
} shape_result;

// Deterministic filler in [-0.5, 0.5) (cheap: the tensors are large).
static void fill(void *data, segc_dtype dtype, int64_t n, uint32_t salt) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t h = ((uint32_t)i ^ salt) * 2654435761u;
    segc_store_f32(data, dtype, (size_t)i,
                   (float)((h >> 8) & 0xffff) / 65536.0f - 0.5f);
  }
}

typedef struct {
  segc_conv3d *layer;
  segc_tensor *x, *y, *dx, *dy;
  segc_backend_context *backend;
  int pass;
} pass_args;

static segc_status run_pass(void *context, int run, double *seconds) {
  (void)run, (void)seconds;
  const pass_args *a = context;
  switch (a->pass) {
    case PASS_FORWARD:
      return segc_conv3d_apply(a->layer, a->x, a->y, a->backend);
    case PASS_DATA:
      return segc_conv3d_backward_data(a->layer, a->dy, a->dx, false,
                                       a->backend);
    case PASS_WEIGHTS:
      return segc_conv3d_backward_weights(a->layer, a->x, a->dy, a->backend);
    default: {
      segc_conv3d_set_deterministic(false);
      segc_status s =
          segc_conv3d_backward_weights(a->layer, a->x, a->dy, a->backend);
      segc_conv3d_set_deterministic(true);
      return s;
    }
  }
}

// One warm-up (primitives, weight copies), then the median of `repeat`.
static segc_status measure(int pass, pass_args *a, int repeat,
                           double *median) {
  double times[64];
  a->pass = pass;
  SEGC_TRY(bench_time((bench_timed_job){run_pass, a}, 1, repeat, times));
  *median = bench_median(times, repeat);
  return SEGC_OK;
}

static segc_status bench_shape(const conv_shape *s, segc_dtype dtype,
                               int batch, int repeat, segc_arena *data,
                               segc_backend_context *backend,
                               shape_result *out) {
  const segc_conv3d_config config = {s->cin, s->cout, s->kernel, s->stride,
                                     s->kernel / 2, s->bias};
  const int64_t o = segc_conv3d_output_size(&config, s->size);
  const segc_shape xs = segc_shape5(batch, s->cin, s->size, s->size, s->size);
  const segc_shape ys = segc_shape5(batch, s->cout, o, o, o);
  const int64_t k = s->kernel;
  segc_param weight, bias;
  memset(&weight, 0, sizeof weight);
  memset(&bias, 0, sizeof bias);
  strcpy(weight.name, "weight");
  strcpy(bias.name, "bias");
  segc_tensor x, y, dx, dy;
  SEGC_TRY(segc_arena_tensor(data, segc_shape5(s->cout, s->cin, k, k, k),
                             SEGC_F32, SEGC_LAYOUT_NCDHW, &weight.value));
  SEGC_TRY(segc_arena_tensor(data, weight.value.shape, SEGC_F32,
                             SEGC_LAYOUT_NCDHW, &weight.grad));
  SEGC_TRY(segc_arena_tensor(data, segc_shape5(1, s->cout, 1, 1, 1), SEGC_F32,
                             SEGC_LAYOUT_NCDHW, &bias.value));
  SEGC_TRY(segc_arena_tensor(data, bias.value.shape, SEGC_F32,
                             SEGC_LAYOUT_NCDHW, &bias.grad));
  SEGC_TRY(segc_arena_tensor(data, xs, dtype, SEGC_LAYOUT_NDHWC, &x));
  SEGC_TRY(segc_arena_tensor(data, xs, dtype, SEGC_LAYOUT_NDHWC, &dx));
  SEGC_TRY(segc_arena_tensor(data, ys, dtype, SEGC_LAYOUT_NDHWC, &y));
  SEGC_TRY(segc_arena_tensor(data, ys, dtype, SEGC_LAYOUT_NDHWC, &dy));
  fill(weight.value.data, SEGC_F32, segc_tensor_numel(&weight.value), 1);
  fill(bias.value.data, SEGC_F32, s->cout, 2);
  fill(x.data, dtype, segc_tensor_numel(&x), 3);
  fill(dy.data, dtype, segc_tensor_numel(&dy), 4);
  SEGC_TRY(segc_tensor_zero(&weight.grad));
  SEGC_TRY(segc_tensor_zero(&bias.grad));
  segc_conv3d layer;
  SEGC_TRY(segc_conv3d_init(&layer, &config, &weight, s->bias ? &bias : NULL));
  pass_args args = {&layer, &x, &y, &dx, &dy, backend, PASS_FORWARD};
  segc_status status = SEGC_OK;
  const segc_conv3d_algorithm saved = segc_conv3d_get_algorithm();
  segc_conv3d_set_algorithm(SEGC_CONV3D_ALGO_DIRECT);
  for (int pass = 0; pass < PASSES && status == SEGC_OK; ++pass)
    status = measure(pass, &args, repeat, &out->seconds[pass]);
  out->winograd_fits = dtype == SEGC_F32 && s->kernel == 3 && s->stride == 1;
  if (out->winograd_fits) {
    segc_conv3d_set_algorithm(SEGC_CONV3D_ALGO_WINOGRAD);
    for (int pass = 0; pass < 3 && status == SEGC_OK; ++pass)
      status = measure(pass, &args, repeat, &out->winograd[pass]);
    // The auto plan of each pass, as a network's first call makes it.
    segc_conv3d_set_algorithm(SEGC_CONV3D_ALGO_AUTO);
    for (int pass = 0; pass < 3 && status == SEGC_OK; ++pass) {
      args.pass = pass;
      status = run_pass(&args, 0, NULL);
      out->plan[pass][0] = 0;
      segc_conv3d_plan_describe(&config, xs, (segc_conv3d_pass)pass,
                                out->plan[pass], sizeof out->plan[pass]);
      out->planned[pass] = !strncmp(out->plan[pass], "winograd", 8);
    }
  }
  segc_conv3d_set_algorithm(saved);
  segc_conv3d_set_algorithm(SEGC_CONV3D_ALGO_DIRECT);
  for (int pass = 0; pass < 3 && status == SEGC_OK; ++pass)
    status = segc_conv3d_impl_name(backend, &config, xs, dtype, dtype,
                                   (segc_conv3d_pass)pass, &out->impl[pass]);
  segc_conv3d_set_algorithm(saved);
  segc_conv3d_destroy(&layer);
  segc_arena_reset(data);
  return status;
}

static void usage(void) {
  fprintf(stderr,
          "usage: segbench conv [--threads N] [--repeat R] "
          "[--dtype f32|bf16|both] [--batch N]\n");
}

int segc_bench_conv(int argc, char **argv) {
  int threads = 0, repeat = 5, batch = 1;
  bool run_dtype[2] = {true, true};
  for (int i = 1; i < argc; ++i) {
    const char *value = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(argv[i], "--threads") && value) {
      threads = atoi(value);
    } else if (!strcmp(argv[i], "--repeat") && value) {
      repeat = atoi(value);
    } else if (!strcmp(argv[i], "--batch") && value) {
      batch = atoi(value);
    } else if (!strcmp(argv[i], "--dtype") && value) {
      run_dtype[0] = !strcmp(value, "f32") || !strcmp(value, "both");
      run_dtype[1] = !strcmp(value, "bf16") || !strcmp(value, "both");
      if (!run_dtype[0] && !run_dtype[1]) {
        fprintf(stderr, "segbench conv: error: --dtype %s (f32, bf16, both)\n",
                value);
        return 2;
      }
    } else {
      fprintf(stderr, "segbench conv: error: unknown or incomplete option '%s'\n",
              argv[i]);
      usage();
      return 2;
    }
    ++i;
  }
  if (threads < 0 || repeat < 1 || repeat > 64 || batch < 1 || batch > 64) {
    fprintf(stderr, "segbench conv: error: need --threads >= 0, --repeat "
                    "1..64, --batch 1..64\n");
    return 2;
  }
  segc_set_threads(threads);
  // Virtual reservations: pages are touched only as far as a shape needs.
  segc_arena data, scratch;
  segc_backend_context backend;
  const size_t gib = (size_t)1 << 30;
  if (segc_arena_init(&data, "bench tensors", (size_t)batch * 2 * gib,
                      SEGC_DEVICE_CPU) != SEGC_OK ||
      segc_arena_init(&scratch, "bench scratch", (size_t)batch * gib,
                      SEGC_DEVICE_CPU) != SEGC_OK ||
      segc_backend_context_init(&backend, SEGC_DEVICE_CPU, &scratch) !=
          SEGC_OK) {
    fprintf(stderr, "segbench conv: error: %s\n", segc_error_message());
    return 1;
  }
  printf("segbench conv: %d threads, batch %d, median of %d runs after a "
         "warm-up; GFLOP/s = 2*MACs/time. 'one call' is oneDNN's own "
         "backward-weights (thread-count dependent), for the cost of the "
         "deterministic split.\n\n", segc_threads(), batch, repeat);
  printf("%-22s %-5s %9s %7s %9s %7s %9s %7s %9s  %s\n", "conv", "dtype",
         "fwd ms", "GF/s", "bwd-d ms", "GF/s", "bwd-w ms", "GF/s",
         "1 call ms", "oneDNN fwd | bwd-data | bwd-weights");
  shape_result results[2][SHAPE_COUNT];
  int exit_code = 0;
  for (int t = 0; t < 2 && !exit_code; ++t) {
    if (!run_dtype[t]) continue;
    const segc_dtype dtype = t ? SEGC_BF16 : SEGC_F32;
    if (segc_dnnl_require_compute(dtype) != SEGC_OK) {
      printf("bf16: skipped: %s\n", segc_error_message());
      run_dtype[t] = false;
      continue;
    }
    for (int i = 0; i < SHAPE_COUNT; ++i) {
      const conv_shape *s = &shapes[i];
      shape_result *r = &results[t][i];
      if (bench_shape(s, dtype, batch, repeat, &data, &backend, r) != SEGC_OK) {
        fprintf(stderr, "segbench conv: error: %s\n", segc_error_message());
        exit_code = 1;
        break;
      }
      const segc_conv3d_config config = {s->cin, s->cout, s->kernel, s->stride,
                                         s->kernel / 2, s->bias};
      const double gflop =
          1e-9 * segc_conv3d_flops(&config, segc_shape5(batch, s->cin, s->size,
                                                        s->size, s->size));
      char name[48];
      snprintf(name, sizeof name, "%d->%d k%d s%d @%d^3%s", s->cin, s->cout,
               s->kernel, s->stride, s->size, s->bias ? " +b" : "");
      printf("%-22s %-5s %9.2f %7.1f %9.2f %7.1f %9.2f %7.1f %9.2f  %s | %s | "
             "%s\n", name, segc_dtype_name(dtype),
             1e3 * r->seconds[PASS_FORWARD], gflop / r->seconds[PASS_FORWARD],
             1e3 * r->seconds[PASS_DATA], gflop / r->seconds[PASS_DATA],
             1e3 * r->seconds[PASS_WEIGHTS], gflop / r->seconds[PASS_WEIGHTS],
             1e3 * r->seconds[PASS_WEIGHTS_ONE_CALL], r->impl[0], r->impl[1],
             r->impl[2]);
      if (r->winograd_fits)
        for (int pass = 0; pass < 3; ++pass)
          printf("  %-16s winograd %9.2f ms %7.1f GF/s-equivalent, %.2fx "
                 "direct; plan: %s\n",
                 pass == 0   ? "forward"
                 : pass == 1 ? "backward-data"
                             : "backward-weights",
                 1e3 * r->winograd[pass], gflop / r->winograd[pass],
                 r->seconds[pass] / r->winograd[pass],
                 r->plan[pass][0] ? r->plan[pass] : "(none made)");
      for (int pass = 0; pass < 3; ++pass)
        if (strstr(r->impl[pass], "ref") || strstr(r->impl[pass], "gemm"))
          printf("  warning: %s uses oneDNN's slow path '%s'\n",
                 pass == 0 ? "forward" : pass == 1 ? "backward-data"
                                                   : "backward-weights",
                 r->impl[pass]);
      fflush(stdout);
    }
  }
  if (!exit_code) {
    printf("\n");
    for (int t = 0; t < 2; ++t) {
      if (!run_dtype[t]) continue;
      const shape_result *r = results[t];
      const segc_conv3d_config c32 = {32, 32, 3, 1, 1, false};
      const double g32 = 1e-9 * segc_conv3d_flops(
                                    &c32, segc_shape5(batch, 32, 96, 96, 96));
      const double rate = g32 / r[1].seconds[PASS_FORWARD];
      const double reference = t ? reference_bf16 : reference_f32;
      printf("32->32 @96^3 %s forward: %.1f GFLOP/s = %.0f%% of the reference "
             "%.0f GFLOP/s (target >= 85%%)\n", t ? "bf16" : "f32", rate,
             100.0 * rate / reference, reference);
      double total = 0.0, gflop = 0.0, det = 0.0, one_call = 0.0;
      double planned = 0.0;  // forward with the auto plan's choices
      for (int i = 0; i < SHAPE_COUNT; ++i) {
        const conv_shape *s = &shapes[i];
        const segc_conv3d_config config = {s->cin, s->cout, s->kernel,
                                           s->stride, s->kernel / 2, s->bias};
        total += s->count * r[i].seconds[PASS_FORWARD];
        planned += s->count * (r[i].winograd_fits && r[i].planned[0]
                                   ? r[i].winograd[0]
                                   : r[i].seconds[PASS_FORWARD]);
        det += s->count * r[i].seconds[PASS_WEIGHTS];
        one_call += s->count * r[i].seconds[PASS_WEIGHTS_ONE_CALL];
        gflop += 1e-9 * s->count *
                 segc_conv3d_flops(&config, segc_shape5(batch, s->cin, s->size,
                                                        s->size, s->size));
      }
      printf("SegResNet forward, 32 convolutions, %.1f GFLOP, %s: %.3f s "
             "(%.1f GFLOP/s; sum of the medians times the counts)\n", gflop,
             t ? "bf16" : "f32", total, gflop / total);
      if (!t)
        printf("  with the auto plan (Winograd where chosen): %.3f s, %.2fx "
               "the direct sum\n", planned, total / planned);
      printf("  backward-weights over the same 32: deterministic %.3f s, one "
             "oneDNN call %.3f s (%+.1f%%)\n", det, one_call,
             100.0 * (det / one_call - 1.0));
    }
  }
  segc_backend_context_destroy(&backend);
  segc_arena_destroy(&data);
  segc_arena_destroy(&scratch);
  return exit_code;
}
