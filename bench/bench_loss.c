// segbench loss: the fused DiceCE forward and backward at the bundle's
// training shape (105 classes, 96^3 patches, batch 4), time per sample.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/graph.h"
#include "bench/bench.h"
#include "bench/bench_harness.h"
#include "core/arena.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "losses/dice_ce.h"

typedef struct {
  int threads, repeat;
  int64_t batch, classes, size;
  segc_dtype dtype;
  segc_layout layout;
} loss_options;

static int parse_options(int argc, char **argv, loss_options *o) {
  *o = (loss_options){0, 5, 4, 105, 96, SEGC_F32, SEGC_LAYOUT_NDHWC};
  for (int i = 1; i < argc; ++i) {
    const char *arg = argv[i];
    const char *value = i + 1 < argc ? argv[i + 1] : NULL;
    if (!value) {
      fprintf(stderr, "segbench loss: error: %s needs a value\n", arg);
      return -1;
    }
    ++i;
    if (!strcmp(arg, "--threads")) o->threads = atoi(value);
    else if (!strcmp(arg, "--repeat")) o->repeat = atoi(value);
    else if (!strcmp(arg, "--batch")) o->batch = atoll(value);
    else if (!strcmp(arg, "--classes")) o->classes = atoll(value);
    else if (!strcmp(arg, "--size")) o->size = atoll(value);
    else if (!strcmp(arg, "--dtype")) {
      const int d = segc_dtype_parse(value);
      if (d != SEGC_F32 && d != SEGC_BF16) {
        fprintf(stderr, "segbench loss: error: --dtype %s (want f32 or bf16)\n",
                value);
        return -1;
      }
      o->dtype = (segc_dtype)d;
    } else if (!strcmp(arg, "--layout")) {
      if (!strcmp(value, "ndhwc")) o->layout = SEGC_LAYOUT_NDHWC;
      else if (!strcmp(value, "ncdhw")) o->layout = SEGC_LAYOUT_NCDHW;
      else {
        fprintf(stderr, "segbench loss: error: --layout %s (want ndhwc or "
                "ncdhw)\n", value);
        return -1;
      }
    } else {
      fprintf(stderr, "segbench loss: error: unknown option %s\n", arg);
      return -1;
    }
  }
  if (o->repeat < 1 || o->batch < 1 || o->classes < 2 || o->classes > 256 ||
      o->size < 1) {
    fprintf(stderr, "segbench loss: error: need --repeat >= 1, --batch >= 1, "
            "2 <= --classes <= 256, --size >= 1\n");
    return -1;
  }
  return 0;
}

static int fail(const char *what) {
  fprintf(stderr, "segbench loss: error: %s: %s\n", what, segc_error_message());
  return 1;
}

int segc_bench_loss(int argc, char **argv) {
  loss_options o;
  if (parse_options(argc, argv, &o) != 0) return 2;
  segc_set_threads(o.threads);
  const segc_shape shape =
      segc_shape5(o.batch, o.classes, o.size, o.size, o.size);
  const int64_t voxels = o.batch * o.size * o.size * o.size;
  const size_t logit_bytes =
      (size_t)segc_shape_numel(shape) * segc_dtype_size(o.dtype);
  segc_arena inputs, activations, scratch;
  if (segc_arena_init(&inputs, "bench inputs", logit_bytes + (size_t)voxels + 4096,
                      SEGC_DEVICE_CPU) != SEGC_OK ||
      segc_arena_init(&activations, "bench activations", logit_bytes + 4096,
                      SEGC_DEVICE_CPU) != SEGC_OK ||
      segc_arena_init(&scratch, "bench scratch", 64u << 20, SEGC_DEVICE_CPU) !=
          SEGC_OK)
    return fail("arenas");
  segc_tensor logits, labels;
  if (segc_arena_tensor(&inputs, shape, o.dtype, o.layout, &logits) != SEGC_OK ||
      segc_arena_tensor(&inputs, segc_shape5(o.batch, 1, o.size, o.size, o.size),
                        SEGC_U8, o.layout, &labels) != SEGC_OK)
    return fail("inputs");
  // Logits uniform in [-4, 4); labels uniform over the classes.
  const uint64_t stream = segc_rng_stream(SEGC_RNG_PHANTOM, 7, 0);
  const int64_t count = segc_shape_numel(shape);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < count; ++i)
    segc_store_f32(logits.data, o.dtype, (size_t)i,
                   8.0f * segc_rng_uniform(11, stream, (uint64_t)i) - 4.0f);
  uint8_t *label_data = labels.data;
  for (int64_t i = 0; i < voxels; ++i)
    label_data[i] = (uint8_t)segc_rng_below(12, stream, (uint64_t)i,
                                            (uint64_t)o.classes);

  segc_backend_context context;
  segc_graph graph;
  if (segc_backend_context_init(&context, SEGC_DEVICE_CPU, &scratch) !=
          SEGC_OK ||
      segc_graph_init(&graph, &context, &activations, 1u << 20) != SEGC_OK)
    return fail("graph");
  graph.training = true;
  double *forward = malloc(sizeof(double) * (size_t)o.repeat);
  double *backward = malloc(sizeof(double) * (size_t)o.repeat);
  if (!forward || !backward) {
    fprintf(stderr, "segbench loss: error: out of memory\n");
    return 1;
  }
  const segc_dice_ce_config config = segc_dice_ce_default();
  float loss_value = 0.0f;
  // One untimed pass first: touches the gradient pages.
  for (int r = -1; r < o.repeat; ++r) {
    segc_graph_reset(&graph);
    segc_value *x, *loss;
    if (segc_graph_wrap(&graph, logits, NULL, true, "logits", &x) != SEGC_OK)
      return fail("wrap");
    const double t0 = segc_now();
    if (segc_dice_ce_forward(&graph, &config, x, &labels, &loss, NULL) !=
        SEGC_OK)
      return fail("forward");
    const double t1 = segc_now();
    if (segc_graph_backward(&graph, loss) != SEGC_OK) return fail("backward");
    const double t2 = segc_now();
    loss_value = *(const float *)loss->data.data;
    if (r >= 0) {
      forward[r] = t1 - t0;
      backward[r] = t2 - t1;
    }
  }
  const double f = bench_median(forward, o.repeat);
  const double b = bench_median(backward, o.repeat);
  printf("DiceCE loss, %lld x %lld classes x %lld^3, %s %s, %d threads, "
         "median of %d (loss %.6f)\n",
         (long long)o.batch, (long long)o.classes, (long long)o.size,
         segc_dtype_name(o.dtype),
         o.layout == SEGC_LAYOUT_NDHWC ? "NDHWC" : "NCDHW", segc_threads(),
         o.repeat, loss_value);
  printf("%-10s %12s %14s %10s\n", "pass", "ms/batch", "ms/sample", "GB/s");
  printf("%-10s %12.1f %14.1f %10.2f\n", "forward", 1e3 * f, 1e3 * f / o.batch,
         (double)logit_bytes / f * 1e-9);
  printf("%-10s %12.1f %14.1f %10.2f\n", "backward", 1e3 * b,
         1e3 * b / o.batch, 2.0 * (double)logit_bytes / b * 1e-9);
  printf("%-10s %12.1f %14.1f\n", "total", 1e3 * (f + b),
         1e3 * (f + b) / o.batch);
  free(forward);
  free(backward);
  segc_graph_destroy(&graph);
  segc_backend_context_destroy(&context);
  segc_arena_destroy(&inputs);
  segc_arena_destroy(&activations);
  segc_arena_destroy(&scratch);
  return 0;
}
