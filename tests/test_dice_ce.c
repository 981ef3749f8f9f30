// The fused DiceCE loss against the naive double-precision restatement of
// MONAI's DiceCELoss(to_onehot_y=True, softmax=True) in util/op_reference.c
// (explicit one-hot tensor, explicit softmax tensor, the Dice and CE
// formulas), and its gradient against central finite differences of that
// reference.
//
// Tolerances:
// - loss, dice and ce: 1e-6 relative. segc computes the softmax in f32
//   (its exp is within a few ulp, ~3e-7 relative per probability) and sums
//   in double, and the loss value itself is rounded to f32 (6e-8); errors of
//   the individual probabilities average out in the sums. bf16 logits are
//   compared with the reference at the same bf16-rounded logits (the
//   conversion is exact), so the same tolerance holds.
// - f32 gradient: 2e-6 of the largest gradient entry (segc_gradcheck's
//   relative measure). The analytic gradient is computed in f32 from the
//   double sums (a few ulp of the entry scale); the finite differences
//   (eps 1e-5 on logits of size ~3) are accurate to ~1e-9.
// - bf16 gradient: the gradient is stored in bf16 (8 significant bits,
//   rounding error <= 2^-9 relative), so 4e-3.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/gradcheck.h"
#include "autograd/graph.h"
#include "core/arena.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "losses/dice_ce.h"
#include "util/op_reference.h"
#include "util/test_util.h"

typedef dice_ce_problem problem;

static int64_t voxels_of(const problem *p) { return segc_shape_spatial(p->shape); }

typedef struct {
  const problem *p;
  double scale;  // the loss gradient segc's backward received
} reference_context;

static double reference_scalar(const double *x, void *context) {
  const reference_context *r = context;
  return r->scale * dice_ce_reference(r->p, x, NULL, NULL);
}

// A test op: y = a * loss (a scalar), so the loss's gradient is a.
typedef struct {
  segc_value *x, *y;
  float a;
} scale_saved;

static segc_status scale_backward(segc_graph *g, void *context) {
  scale_saved *s = context;
  segc_tensor gx;
  bool accumulate;
  SEGC_TRY(segc_value_grad_target(g, s->x, &gx, &accumulate));
  float *out = gx.data;
  const float contribution = s->a * *(const float *)s->y->grad.data;
  *out = accumulate ? *out + contribution : contribution;
  return SEGC_OK;
}

static segc_status scale_scalar(segc_graph *g, segc_value *x, float a,
                                segc_value **y) {
  SEGC_TRY(segc_graph_new_value(g, x->data.shape, SEGC_F32, x->data.layout,
                                true, y));
  *(float *)(*y)->data.data = a * *(const float *)x->data.data;
  scale_saved *s;
  SEGC_TRY(segc_graph_alloc_saved(g, sizeof *s, (void **)&s));
  s->x = x;
  s->y = *y;
  s->a = a;
  return segc_graph_record(g, "scale", scale_backward, s, y, 1, NULL, 0);
}

// How run_segc drives the loss.
typedef struct {
  segc_dtype dtype;      // of the logits
  const float *prefill;  // a caller-owned f32 gradient holding these values
                         // (backward must add); NULL: a fresh gradient
  float loss_grad;       // != 1: backward goes through y = loss_grad * loss
  bool training;
} run_options;

typedef struct {
  float loss;
  segc_dice_ce_parts parts;
  int tape_entries;  // after the forward
} run_result;

// Forward and (in training) backward of segc's loss on logits x (f32 values
// in memory order, converted to the dtype); the gradient comes back as f32 in
// memory order.
static segc_status run_segc(const problem *p, const float *x,
                            const run_options *o, float *grad_out,
                            run_result *r) {
  const int64_t count = segc_shape_numel(p->shape);
  const size_t bytes = sizeof(float) * (size_t)count;
  segc_arena activations, scratch, inputs;
  SEGC_TRY(segc_arena_init(&activations, "test activations", 2 * bytes + 4096,
                           SEGC_DEVICE_CPU));
  SEGC_TRY(segc_arena_init(&scratch, "test scratch", 4u << 20,
                           SEGC_DEVICE_CPU));
  SEGC_TRY(segc_arena_init(&inputs, "test inputs", 2 * bytes + 4096,
                           SEGC_DEVICE_CPU));
  segc_graph graph;
  segc_backend_context context;
  SEGC_TRY(segc_backend_context_init(&context, SEGC_DEVICE_CPU, &scratch));
  SEGC_TRY(segc_graph_init(&graph, &context, &activations, 1u << 20));
  graph.training = o->training;
  segc_tensor logits, grad;
  SEGC_TRY(segc_arena_tensor(&inputs, p->shape, o->dtype, p->layout, &logits));
  segc_convert(x, SEGC_F32, logits.data, o->dtype, (size_t)count);
  SEGC_TRY(segc_arena_tensor(&inputs, p->shape, SEGC_F32, p->layout, &grad));
  if (o->prefill) memcpy(grad.data, o->prefill, bytes);
  const segc_shape label_shape =
      segc_shape5(p->shape.n, 1, p->shape.d, p->shape.h, p->shape.w);
  const segc_tensor labels =
      segc_tensor_view((void *)p->labels, label_shape, SEGC_U8, p->layout,
                       SEGC_DEVICE_CPU);
  segc_value *value, *loss;
  SEGC_TRY(segc_graph_wrap(&graph, logits, o->prefill ? &grad : NULL, true,
                           "logits", &value));
  SEGC_TRY(segc_dice_ce_forward(&graph, &p->config, value, &labels, &loss,
                                &r->parts));
  r->loss = *(const float *)loss->data.data;
  r->tape_entries = graph.tape_count;
  if (o->training) {
    segc_value *top = loss;
    if (o->loss_grad != 1.0f)
      SEGC_TRY(scale_scalar(&graph, loss, o->loss_grad, &top));
    SEGC_TRY(segc_graph_backward(&graph, top));
    if (!value->grad.data)
      return SEGC_FAIL(SEGC_ERR_INTERNAL, "backward wrote no gradient");
    segc_convert(value->grad.data, value->grad.dtype, grad_out, SEGC_F32,
                 (size_t)count);
  }
  segc_graph_destroy(&graph);
  segc_backend_context_destroy(&context);
  segc_arena_destroy(&activations);
  segc_arena_destroy(&scratch);
  segc_arena_destroy(&inputs);
  return SEGC_OK;
}

// Logits uniform in [-3, 3) (rounded to bf16 when asked, so that reference and
// segc see the same numbers) and labels drawn from `classes` only.
static void make_inputs(const problem *p, segc_dtype dtype, uint64_t stream,
                        const uint8_t *classes, int class_count, float *x,
                        uint8_t *labels) {
  const int64_t count = segc_shape_numel(p->shape);
  test_fill_uniform(x, count, -3.0f, 3.0f, stream);
  if (dtype == SEGC_BF16)
    for (int64_t i = 0; i < count; ++i)
      x[i] = segc_bf16_to_f32(segc_f32_to_bf16(x[i]));
  const int64_t label_count = p->shape.n * voxels_of(p);
  for (int64_t i = 0; i < label_count; ++i)
    labels[i] = classes[segc_rng_below(
        77, segc_rng_stream(SEGC_RNG_TEST, stream, 1), (uint64_t)i,
        (uint64_t)class_count)];
}

static double relative(double got, double want) {
  return fabs(got - want) / fmax(fabs(want), 1e-300);
}

// Forward against the reference, gradient against finite differences.
static int check_case(const char *name, segc_shape shape, segc_layout layout,
                      segc_dtype dtype, const segc_dice_ce_config *config,
                      const uint8_t *classes, int class_count,
                      uint64_t stream) {
  const int64_t count = segc_shape_numel(shape);
  float *x = malloc(sizeof(float) * (size_t)count);
  float *grad = malloc(sizeof(float) * (size_t)count);
  double *xd = malloc(sizeof(double) * (size_t)count);
  uint8_t *labels = malloc((size_t)(shape.n * segc_shape_spatial(shape)));
  if (!x || !grad || !xd || !labels) abort();
  problem p = {shape, layout, labels, *config};
  make_inputs(&p, dtype, stream, classes, class_count, x, labels);
  run_options o = {dtype, NULL, 1.0f, true};
  run_result r;
  CHECK_OK(run_segc(&p, x, &o, grad, &r));
  for (int64_t i = 0; i < count; ++i) xd[i] = x[i];
  double dice, ce;
  const double loss = dice_ce_reference(&p, xd, &dice, &ce);
  const double tolerance = 1e-6;
  CHECK(relative(r.loss, loss) <= tolerance, "%s: loss %.9g, reference %.9g",
        name, r.loss, loss);
  CHECK(relative(r.parts.dice, dice) <= tolerance,
        "%s: dice %.12g, reference %.12g", name, r.parts.dice, dice);
  CHECK(relative(r.parts.ce, ce) <= tolerance, "%s: ce %.12g, reference %.12g",
        name, r.parts.ce, ce);
  reference_context context = {&p, 1.0};
  segc_gradcheck_report report;
  const double rtol = dtype == SEGC_BF16 ? 4e-3 : 2e-6;
  const int ok =
      segc_gradcheck(reference_scalar, &context, xd, count, grad, 1e-5, rtol,
                     &report);
  CHECK(ok, "%s: gradient off by %.3g (relative; allowed %.1g) at %lld: "
        "segc %.9g, finite differences %.9g",
        name, report.max_rel_error, rtol, (long long)report.worst_index,
        report.worst_analytic, report.worst_numeric);
  printf("%s: loss %.8f (rel. err %.2g), gradient rel. err %.2g\n", name,
         r.loss, relative(r.loss, loss), report.max_rel_error);
  free(x);
  free(grad);
  free(xd);
  free(labels);
  return 0;
}

// Several chunks per sample: forward against the reference, and 1 vs 2
// threads bitwise for the loss, the parts and the gradient.
static int check_threads(segc_layout layout, segc_dtype dtype) {
  const segc_shape shape = segc_shape5(2, 7, 17, 19, 21);  // 6783 voxels
  const int64_t count = segc_shape_numel(shape);
  float *x = malloc(sizeof(float) * (size_t)count);
  float *grad1 = malloc(sizeof(float) * (size_t)count);
  float *grad2 = malloc(sizeof(float) * (size_t)count);
  double *xd = malloc(sizeof(double) * (size_t)count);
  uint8_t *labels = malloc((size_t)(shape.n * segc_shape_spatial(shape)));
  if (!x || !grad1 || !grad2 || !xd || !labels) abort();
  const uint8_t classes[] = {0, 1, 2, 3, 5, 6};
  problem p = {shape, layout, labels, segc_dice_ce_default()};
  make_inputs(&p, dtype, 40 + (uint64_t)layout, classes, 6, x, labels);
  const int threads = segc_threads();
  run_options o = {dtype, NULL, 1.0f, true};
  run_result r1, r2;
  segc_set_threads(1);
  CHECK_OK(run_segc(&p, x, &o, grad1, &r1));
  segc_set_threads(2);
  CHECK_OK(run_segc(&p, x, &o, grad2, &r2));
  segc_set_threads(threads);
  CHECK(memcmp(&r1.loss, &r2.loss, sizeof r1.loss) == 0 &&
            memcmp(&r1.parts, &r2.parts, sizeof r1.parts) == 0,
        "loss with 1 thread %.9g (dice %.17g), with 2 threads %.9g "
        "(dice %.17g)", r1.loss, r1.parts.dice, r2.loss, r2.parts.dice);
  CHECK(memcmp(grad1, grad2, sizeof(float) * (size_t)count) == 0,
        "gradient differs between 1 and 2 threads");
  for (int64_t i = 0; i < count; ++i) xd[i] = x[i];
  const double loss = dice_ce_reference(&p, xd, NULL, NULL);
  CHECK(relative(r1.loss, loss) <= 1e-6, "multi-chunk loss %.9g, ref %.9g",
        r1.loss, loss);
  free(x);
  free(grad1);
  free(grad2);
  free(xd);
  free(labels);
  return 0;
}

// A gradient already there is added to; the loss gradient scales everything;
// inference records nothing and gives the same value. Both layouts (their
// gradient stores differ), f32 and bf16 logits (with an f32 gradient).
static int check_accumulate_and_scale(segc_layout layout, segc_dtype dtype) {
  const segc_shape shape = segc_shape5(2, 5, 3, 3, 5);
  const int64_t count = segc_shape_numel(shape);
  float *x = malloc(sizeof(float) * (size_t)count);
  float *fresh = malloc(sizeof(float) * (size_t)count);
  float *prefill = malloc(sizeof(float) * (size_t)count);
  float *added = malloc(sizeof(float) * (size_t)count);
  uint8_t *labels = malloc((size_t)(shape.n * segc_shape_spatial(shape)));
  if (!x || !fresh || !prefill || !added || !labels) abort();
  const uint8_t classes[] = {0, 1, 2, 3, 4};
  problem p = {shape, layout, labels, segc_dice_ce_default()};
  make_inputs(&p, dtype, 50, classes, 5, x, labels);
  test_fill_uniform(prefill, count, -1e-3f, 1e-3f, 51);
  // The fresh gradient in f32 even for bf16 logits: through a prefilled f32
  // buffer of zeros.
  float *zeros = calloc((size_t)count, sizeof(float));
  if (!zeros) abort();
  run_options o = {dtype, zeros, 1.0f, true};
  run_result r;
  CHECK_OK(run_segc(&p, x, &o, fresh, &r));
  CHECK(r.tape_entries == 1, "training records one entry (%d)",
        r.tape_entries);
  o.prefill = prefill;
  o.loss_grad = 3.0f;
  CHECK_OK(run_segc(&p, x, &o, added, &r));
  double max_grad = 0.0, max_err = 0.0;
  for (int64_t i = 0; i < count; ++i) {
    max_grad = fmax(max_grad, fabs(3.0 * fresh[i]));
    max_err = fmax(max_err, fabs(added[i] - (prefill[i] + 3.0 * fresh[i])));
  }
  // f32 rounding of the sum and of the scaled coefficients only.
  CHECK(max_err <= 1e-6 * (max_grad + 1e-3),
        "layout %d dtype %s: prefill + 3 * gradient off by %.3g (max "
        "gradient %.3g)", (int)layout, segc_dtype_name(dtype), max_err,
        max_grad);
  run_result inference;
  run_options off = {dtype, NULL, 1.0f, false};
  CHECK_OK(run_segc(&p, x, &off, NULL, &inference));
  CHECK(inference.tape_entries == 0, "inference records nothing (%d)",
        inference.tape_entries);
  CHECK(inference.loss == r.loss, "inference loss %.9g, training %.9g",
        inference.loss, r.loss);
  free(zeros);
  free(x);
  free(fresh);
  free(prefill);
  free(added);
  free(labels);
  return 0;
}

static int check_errors(void) {
  segc_arena activations, scratch;
  CHECK_OK(segc_arena_init(&activations, "errors", 1 << 20, SEGC_DEVICE_CPU));
  CHECK_OK(segc_arena_init(&scratch, "errors scratch", 1 << 20,
                           SEGC_DEVICE_CPU));
  segc_graph graph;
  segc_backend_context context;
  CHECK_OK(segc_backend_context_init(&context, SEGC_DEVICE_CPU, &scratch));
  CHECK_OK(segc_graph_init(&graph, &context, &activations, 1 << 16));
  graph.training = true;
  float x[2 * 5 * 4] = {0};
  uint8_t labels[2 * 4] = {0, 1, 2, 3, 4, 0, 1, 2};
  int32_t wide_labels[2 * 4] = {0};
  const segc_dice_ce_config config = segc_dice_ce_default();
  segc_tensor logits = segc_tensor_view(x, segc_shape5(2, 5, 1, 2, 2),
                                        SEGC_F32, SEGC_LAYOUT_NDHWC,
                                        SEGC_DEVICE_CPU);
  segc_tensor label_tensor = segc_tensor_view(
      labels, segc_shape5(2, 1, 1, 2, 2), SEGC_U8, SEGC_LAYOUT_NDHWC,
      SEGC_DEVICE_CPU);
  segc_value *value, *loss = NULL;
  CHECK_OK(segc_graph_wrap(&graph, logits, NULL, true, "logits", &value));
  CHECK_OK(segc_dice_ce_forward(&graph, &config, value, &label_tensor, &loss,
                                NULL));
  labels[6] = 5;  // sample 1, voxel 2: K = 5 classes
  CHECK_FAILS(segc_dice_ce_forward(&graph, &config, value, &label_tensor,
                                   &loss, NULL),
              SEGC_ERR_INVALID, "label value 5 (sample 1, voxel 2)");
  labels[6] = 200;
  CHECK_FAILS(segc_dice_ce_forward(&graph, &config, value, &label_tensor,
                                   &loss, NULL),
              SEGC_ERR_INVALID, "K=5 classes");
  labels[6] = 2;
  segc_tensor wrong = label_tensor;
  wrong.shape.w = 3;
  CHECK_FAILS(segc_dice_ce_forward(&graph, &config, value, &wrong, &loss,
                                   NULL),
              SEGC_ERR_INVALID, "labels have shape 2x1x1x2x3");
  wrong = label_tensor;
  wrong.shape.c = 5;
  CHECK_FAILS(segc_dice_ce_forward(&graph, &config, value, &wrong, &loss,
                                   NULL),
              SEGC_ERR_INVALID, "need 2x1x1x2x2");
  segc_tensor int_labels = label_tensor;
  int_labels.data = wide_labels;
  int_labels.dtype = SEGC_I32;
  CHECK_FAILS(segc_dice_ce_forward(&graph, &config, value, &int_labels, &loss,
                                   NULL),
              SEGC_ERR_UNSUPPORTED, "labels must be u8");
  // Labels on another device than the logits never reach a kernel.
  segc_tensor device_labels = label_tensor;
  device_labels.device = SEGC_DEVICE_CUDA;
#ifdef SEGC_HAVE_CUDA
  CHECK_FAILS(segc_dice_ce_forward(&graph, &config, value, &device_labels,
                                   &loss, NULL),
              SEGC_ERR_INVALID,
              "dice_ce: the labels are on cuda, the logits on cpu");
#else
  CHECK_FAILS(segc_dice_ce_forward(&graph, &config, value, &device_labels,
                                   &loss, NULL),
              SEGC_ERR_UNSUPPORTED, "dice_ce: no cuda kernel for u8");
#endif
  // A NaN logit (class 3 of one voxel, not its label) must show in the loss:
  // the loss scaler and the training loop rely on it.
  x[5 + 3] = NAN;
  CHECK_OK(segc_dice_ce_forward(&graph, &config, value, &label_tensor, &loss,
                                NULL));
  CHECK(isnan(*(const float *)loss->data.data), "NaN logit gave loss %g",
        *(const float *)loss->data.data);
  x[5 + 3] = 0.0f;
  segc_tensor one_class = logits;
  one_class.shape.c = 1;
  segc_value *one_value;
  CHECK_OK(segc_graph_wrap(&graph, one_class, NULL, true, "one", &one_value));
  CHECK_FAILS(segc_dice_ce_forward(&graph, &config, one_value, &label_tensor,
                                   &loss, NULL),
              SEGC_ERR_UNSUPPORTED, "at least 2 classes");
  segc_graph_destroy(&graph);
  segc_backend_context_destroy(&context);
  segc_arena_destroy(&activations);
  segc_arena_destroy(&scratch);
  return 0;
}

int main(void) {
  const uint8_t some[] = {0, 1, 3};  // classes 2 and 4 (and 5, 6) absent
  const uint8_t all7[] = {0, 1, 2, 3, 4, 5, 6};
  const uint8_t no_bg[] = {1, 2, 4, 6};  // background and 3, 5 absent
  const segc_shape odd5 = segc_shape5(2, 5, 3, 5, 7);
  const segc_shape odd7 = segc_shape5(2, 7, 5, 3, 3);
  const segc_dice_ce_config monai = segc_dice_ce_default();
  segc_dice_ce_config no_background = monai;
  no_background.include_background = false;
  // Distinct smoothing terms and weights, so that swapping any two shows.
  segc_dice_ce_config weighted = {0.25, 2.0, 0.7, 1.3, false};
  if (check_case("K5 NDHWC f32", odd5, SEGC_LAYOUT_NDHWC, SEGC_F32, &monai,
                 some, 3, 1) ||
      check_case("K5 NCDHW f32", odd5, SEGC_LAYOUT_NCDHW, SEGC_F32, &monai,
                 some, 3, 2) ||
      check_case("K7 NDHWC f32 no background", odd7, SEGC_LAYOUT_NDHWC,
                 SEGC_F32, &no_background, all7, 7, 3) ||
      check_case("K7 NCDHW f32 no background", odd7, SEGC_LAYOUT_NCDHW,
                 SEGC_F32, &no_background, no_bg, 4, 4) ||
      check_case("K7 NDHWC f32 absent", odd7, SEGC_LAYOUT_NDHWC, SEGC_F32,
                 &monai, some, 3, 5) ||
      check_case("K5 NCDHW f32 smooth/lambda", odd5, SEGC_LAYOUT_NCDHW,
                 SEGC_F32, &weighted, some, 3, 8) ||
      check_case("K5 NDHWC bf16", odd5, SEGC_LAYOUT_NDHWC, SEGC_BF16, &monai,
                 some, 3, 6) ||
      check_case("K7 NCDHW bf16 no background", odd7, SEGC_LAYOUT_NCDHW,
                 SEGC_BF16, &no_background, no_bg, 4, 7) ||
      check_threads(SEGC_LAYOUT_NDHWC, SEGC_F32) ||
      check_threads(SEGC_LAYOUT_NCDHW, SEGC_BF16) ||
      check_accumulate_and_scale(SEGC_LAYOUT_NDHWC, SEGC_F32) ||
      check_accumulate_and_scale(SEGC_LAYOUT_NCDHW, SEGC_F32) ||
      check_accumulate_and_scale(SEGC_LAYOUT_NCDHW, SEGC_BF16) ||
      check_errors())
    return 1;  // a call failed and CHECK_OK said which
  return test_finish("dice_ce");
}
