// segc's DiceCE against MONAI's DiceCELoss itself: tests/data/
// dice_ce_reference.bin holds logits, labels, MONAI's loss, dice, ce and
// PyTorch's gradient (written by tools/make_loss_reference.py; the format is
// documented there). Each case runs in both layouts, f32.
//
// Tolerances: loss, dice and ce 1e-5 relative, gradient 1e-4 of its largest
// entry. MONAI computes everything in f32 (its sums too, ~1e-7 relative
// here); segc sums in double, so the two differ by f32 rounding only.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/graph.h"
#include "core/arena.h"
#include "losses/dice_ce.h"
#include "util/test_util.h"

typedef struct {
  segc_shape shape;
  segc_dice_ce_config config;
  double loss, dice, ce;
  float *logits;    // NCDHW
  uint8_t *labels;  // (N, D, H, W)
  float *grad;      // NCDHW
} reference_case;

static int read_exact(FILE *f, void *out, size_t bytes, const char *what) {
  if (fread(out, 1, bytes, f) != bytes) {
    fprintf(stderr, "FAIL: reference file: cannot read %s (%zu bytes)\n",
            what, bytes);
    return -1;
  }
  return 0;
}

// Reads one case (the file is little-endian, as this machine).
static int read_case(FILE *f, reference_case *c) {
  int32_t header[6];
  double values[7];
  if (read_exact(f, header, sizeof header, "case header") ||
      read_exact(f, values, sizeof values, "case values"))
    return -1;
  c->shape = segc_shape5(header[0], header[1], header[2], header[3], header[4]);
  const int64_t count = segc_shape_numel(c->shape);
  const int64_t voxels = c->shape.n * segc_shape_spatial(c->shape);
  if (count <= 0 || count > (1 << 20)) {
    fprintf(stderr, "FAIL: reference file: implausible shape\n");
    return -1;
  }
  c->config.include_background = header[5] != 0;
  c->config.smooth_nr = values[0];
  c->config.smooth_dr = values[1];
  c->config.lambda_dice = values[2];
  c->config.lambda_ce = values[3];
  c->loss = values[4];
  c->dice = values[5];
  c->ce = values[6];
  c->logits = malloc(sizeof(float) * (size_t)count);
  c->grad = malloc(sizeof(float) * (size_t)count);
  c->labels = malloc((size_t)voxels);
  if (!c->logits || !c->grad || !c->labels) abort();
  return read_exact(f, c->logits, sizeof(float) * (size_t)count, "logits") ||
                 read_exact(f, c->labels, (size_t)voxels, "labels") ||
                 read_exact(f, c->grad, sizeof(float) * (size_t)count, "grad")
             ? -1
             : 0;
}

// Runs segc on the case in `layout`; fills loss, parts and the gradient (in
// NCDHW order, like the file).
static segc_status run_case(const reference_case *c, segc_layout layout,
                            float *loss, segc_dice_ce_parts *parts,
                            float *grad_ncdhw) {
  const size_t bytes = sizeof(float) * (size_t)segc_shape_numel(c->shape);
  segc_arena activations, scratch, inputs;
  SEGC_TRY(segc_arena_init(&activations, "activations", bytes + 4096,
                           SEGC_DEVICE_CPU));
  SEGC_TRY(segc_arena_init(&scratch, "scratch", 1 << 20, SEGC_DEVICE_CPU));
  SEGC_TRY(segc_arena_init(&inputs, "inputs", bytes + 4096, SEGC_DEVICE_CPU));
  segc_graph graph;
  segc_backend_context context;
  SEGC_TRY(segc_backend_context_init(&context, SEGC_DEVICE_CPU, &scratch));
  SEGC_TRY(segc_graph_init(&graph, &context, &activations, 1 << 16));
  graph.training = true;
  const segc_tensor source =
      segc_tensor_view(c->logits, c->shape, SEGC_F32, SEGC_LAYOUT_NCDHW,
                       SEGC_DEVICE_CPU);
  segc_tensor logits;
  SEGC_TRY(segc_arena_tensor(&inputs, c->shape, SEGC_F32, layout, &logits));
  SEGC_TRY(segc_tensor_copy(&source, &logits));
  segc_shape label_shape = c->shape;
  label_shape.c = 1;
  const segc_tensor labels = segc_tensor_view(
      c->labels, label_shape, SEGC_U8, layout, SEGC_DEVICE_CPU);
  segc_value *value, *loss_value;
  SEGC_TRY(segc_graph_wrap(&graph, logits, NULL, true, "logits", &value));
  SEGC_TRY(segc_dice_ce_forward(&graph, &c->config, value, &labels,
                                &loss_value, parts));
  *loss = *(const float *)loss_value->data.data;
  SEGC_TRY(segc_graph_backward(&graph, loss_value));
  segc_tensor out = segc_tensor_view(grad_ncdhw, c->shape, SEGC_F32,
                                     SEGC_LAYOUT_NCDHW, SEGC_DEVICE_CPU);
  SEGC_TRY(segc_tensor_copy(&value->grad, &out));
  segc_graph_destroy(&graph);
  segc_backend_context_destroy(&context);
  segc_arena_destroy(&activations);
  segc_arena_destroy(&scratch);
  segc_arena_destroy(&inputs);
  return SEGC_OK;
}

static double relative(double got, double want) {
  return fabs(got - want) / fmax(fabs(want), 1e-300);
}

int main(void) {
  const char *source_dir = getenv("SEGC_SOURCE_DIR");
  const char *path = test_path(source_dir && *source_dir ? source_dir : ".",
                               "tests/data/dice_ce_reference.bin");
  FILE *f = fopen(path, "rb");
  CHECK(f != NULL, "cannot open %s", path);
  if (!f) return test_finish("dice_ce_monai");
  char magic[8];
  int32_t version_and_count[2];
  if (read_exact(f, magic, sizeof magic, "magic") ||
      read_exact(f, version_and_count, sizeof version_and_count, "header")) {
    fclose(f);
    return 1;
  }
  CHECK(memcmp(magic, "SEGCDCE1", 8) == 0 && version_and_count[0] == 1,
        "%s is not a version-1 DiceCE reference file", path);
  const int cases = version_and_count[1];
  CHECK(cases >= 1 && cases <= 16, "%d cases", cases);
  for (int i = 0; i < cases && i < 16; ++i) {
    reference_case c;
    if (read_case(f, &c)) {
      fclose(f);
      return 1;
    }
    const int64_t count = segc_shape_numel(c.shape);
    float *grad = malloc(sizeof(float) * (size_t)count);
    if (!grad) abort();
    double max_ref = 0.0;
    for (int64_t j = 0; j < count; ++j) max_ref = fmax(max_ref, fabs(c.grad[j]));
    for (int layout = SEGC_LAYOUT_NCDHW; layout <= SEGC_LAYOUT_NDHWC;
         ++layout) {
      float loss;
      segc_dice_ce_parts parts;
      CHECK_OK(run_case(&c, (segc_layout)layout, &loss, &parts, grad));
      const char *name = layout == SEGC_LAYOUT_NCDHW ? "NCDHW" : "NDHWC";
      CHECK(relative(loss, c.loss) <= 1e-5, "case %d %s: loss %.9g, MONAI %.9g",
            i, name, loss, c.loss);
      CHECK(relative(parts.dice, c.dice) <= 1e-5,
            "case %d %s: dice %.9g, MONAI %.9g", i, name, parts.dice, c.dice);
      CHECK(relative(parts.ce, c.ce) <= 1e-5, "case %d %s: ce %.9g, MONAI %.9g",
            i, name, parts.ce, c.ce);
      double max_err = 0.0;
      for (int64_t j = 0; j < count; ++j)
        max_err = fmax(max_err, fabs((double)grad[j] - c.grad[j]));
      CHECK(max_err <= 1e-4 * max_ref,
            "case %d %s: gradient off by %.3g (largest entry %.3g)", i, name,
            max_err, max_ref);
      printf("case %d %s: loss %.8f (MONAI %.8f), gradient error %.2g of its "
             "largest entry\n",
             i, name, loss, c.loss, max_err / max_ref);
    }
    free(grad);
    free(c.logits);
    free(c.grad);
    free(c.labels);
  }
  fclose(f);
  return test_finish("dice_ce_monai");
}
