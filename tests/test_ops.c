// The table-driven op harness: one list of op cases (op, shapes, dtypes,
// layouts, options), each run on every backend asked for (--backend cpu, the
// default; --backend cuda; --backend all) against the double-precision
// references of util/op_reference.c, with gradients checked by central
// finite differences (autograd/gradcheck.h). The table is here; the runner
// of each op is in op_cases.c; tolerances and the finite difference steps
// are explained in util/op_harness.h.
//
// A backend that is not present here (no CUDA build, no GPU) is skipped
// with a message; when nothing ran the test exits 77 (skipped). On a
// backend other than the CPU, a case whose op answers SEGC_ERR_UNSUPPORTED
// is reported as not yet supported there (skipped), not as a failure.
//
// The per-op tests (test_conv3d.c, test_groupnorm.c, ...) keep what a table
// does not express: error messages, caching, recompute, thread-count
// determinism.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend.h"
#include "core/dnnl_context.h"
#include "op_cases.h"
#include "util/test_util.h"

static const char *const op_names[] = {"conv3d",    "groupnorm", "relu_add",
                                       "upsample",  "dropout3d", "dice_ce",
                                       "tensor_math", "adamw",
                                       "sliding_window"};

#define NDHWC SEGC_LAYOUT_NDHWC
#define NCDHW SEGC_LAYOUT_NCDHW
#define F32 SEGC_F32
#define BF16 SEGC_BF16
#define F16 SEGC_F16
// A shape as a constant initializer (the table is static).
#define SHAPE(n, c, d, h, w) {n, c, d, h, w}

// n, cin, cout, d, h, w, kernel, stride, padding, bias; dtype -> out dtype.
// The CPU plans each 3x3x3 stride-1 f32 case (auto: Winograd or direct,
// whichever it times faster), whatever SEGC_CONV_ALGO says.
#define CONV(n, ci, co, d, h, w, k, s, p, b, dt, odt)                  \
  {.op = OP_CONV3D, .dtype = dt, .out_dtype = odt, .layout = NDHWC,   \
   .conv = {n, ci, co, d, h, w, k, s, p, b},                          \
   .conv_algo = SEGC_CONV3D_ALGO_AUTO}
// The same with the CPU's algorithm forced (WINOGRAD or DIRECT).
#define CONV_ALGO(n, ci, co, d, h, w, k, s, p, b, dt, odt, algo)        \
  {.op = OP_CONV3D, .dtype = dt, .out_dtype = odt, .layout = NDHWC,   \
   .conv = {n, ci, co, d, h, w, k, s, p, b},                          \
   .conv_algo = SEGC_CONV3D_ALGO_##algo}
#define GN(sh, lay, g, r, res, dt)                                  \
  {.op = OP_GROUPNORM, .dtype = dt, .layout = lay, .shape = sh,    \
   .groups = g, .relu = r, .residual = res}
#define RELU_ADD(sh, lay, dt) \
  {.op = OP_RELU_ADD, .dtype = dt, .layout = lay, .shape = sh}
#define UPSAMPLE(sh, lay, dt) \
  {.op = OP_UPSAMPLE, .dtype = dt, .layout = lay, .shape = sh}
#define DROPOUT3D(sh, lay, dt, prob, train)                          \
  {.op = OP_DROPOUT3D, .dtype = dt, .layout = lay, .shape = sh,     \
   .p = prob, .training = train}
#define DICE_CE(sh, lay, dt, present, bg)                            \
  {.op = OP_DICE_CE, .dtype = dt, .layout = lay, .shape = sh,       \
   .classes_present = present, .include_background = bg}
#define TENSOR_MATH(sh, lay, dt) \
  {.op = OP_TENSOR_MATH, .dtype = dt, .layout = lay, .shape = sh}
#define ADAMW(count) \
  {.op = OP_ADAMW, .dtype = F32, .layout = NCDHW, .shape = {1, 1, 1, 1, count}}
// classes, image d h w, window edge, windows per call, logits dtype.
#define SLIDING_WINDOW(k, d, h, w, edge, batch, dt)                     \
  {.op = OP_SLIDING_WINDOW, .dtype = dt, .layout = NDHWC,              \
   .shape = {1, k, d, h, w}, .roi = edge, .sw_batch = batch}

static const op_case cases[] = {
    // conv3d: kernels 3 and 1, strides 1 and 2, paddings 1 and 0, bias,
    // batch 2, odd sizes, one input channel; bf16 where oneDNN has it; on
    // cuda every case runs through cuDNN (also f16).
    CONV(2, 3, 5, 4, 5, 3, 3, 1, 1, true, F32, F32),
    CONV(1, 2, 3, 5, 4, 6, 3, 2, 1, false, F32, F32),
    CONV(2, 4, 3, 3, 2, 4, 1, 1, 0, true, F32, F32),
    CONV(1, 1, 4, 4, 4, 5, 3, 1, 0, false, F32, F32),
    CONV(1, 3, 2, 6, 5, 6, 3, 2, 0, true, F32, F32),
    CONV(2, 3, 5, 4, 5, 3, 3, 1, 1, true, BF16, BF16),
    CONV(1, 2, 3, 5, 4, 6, 3, 2, 1, false, BF16, F32),
    CONV(1, 3, 2, 6, 5, 6, 3, 2, 0, true, F32, BF16),
    // The CPU's Winograd F(2x2x2, 3x3x3) forced (forward and backward-data;
    // backward-weights stays direct): partial tiles, channels that do not
    // fill a panel, batch 2, a bf16 output through f32; and direct forced.
    CONV_ALGO(2, 3, 5, 4, 5, 3, 3, 1, 1, true, F32, F32, WINOGRAD),
    CONV_ALGO(1, 16, 20, 5, 3, 6, 3, 1, 1, false, F32, F32, WINOGRAD),
    CONV_ALGO(1, 3, 2, 6, 5, 7, 3, 1, 1, true, F32, BF16, WINOGRAD),
    CONV_ALGO(2, 3, 5, 4, 5, 3, 3, 1, 1, true, F32, F32, DIRECT),
    // f16 (cuDNN; skipped on the CPU): native, with a bias (through f32),
    // and into an f32 output.
    CONV(2, 3, 5, 4, 5, 3, 3, 1, 1, false, F16, F16),
    CONV(2, 3, 5, 4, 5, 3, 3, 1, 1, true, F16, F16),
    CONV(1, 2, 3, 5, 4, 6, 3, 2, 1, false, F16, F32),
    // GroupNorm: both layouts, 4 and 2 groups, ReLU, the residual add.
    GN(SHAPE(2, 8, 3, 4, 5), NDHWC, 4, false, false, F32),
    GN(SHAPE(2, 8, 3, 4, 5), NCDHW, 4, true, false, F32),
    GN(SHAPE(2, 8, 3, 4, 5), NDHWC, 2, true, true, F32),
    GN(SHAPE(1, 16, 3, 5, 7), NDHWC, 8, true, false, BF16),
    GN(SHAPE(1, 16, 3, 5, 7), NCDHW, 4, false, false, BF16),
    // relu + add.
    RELU_ADD(SHAPE(2, 3, 3, 4, 5), NDHWC, F32),
    RELU_ADD(SHAPE(2, 5, 3, 4, 3), NCDHW, F32),
    RELU_ADD(SHAPE(2, 3, 3, 4, 5), NDHWC, BF16),
    // upsample x2, including size-1 axes (every neighbour clamped).
    UPSAMPLE(SHAPE(2, 3, 1, 4, 5), NDHWC, F32),
    UPSAMPLE(SHAPE(1, 16, 3, 2, 3), NCDHW, F32),
    UPSAMPLE(SHAPE(1, 2, 2, 1, 1), NDHWC, F32),
    UPSAMPLE(SHAPE(1, 16, 3, 2, 3), NDHWC, BF16),
    // dropout3d: eval is the identity; training drops whole channels. 2048
    // channels: 5 standard deviations of the dropped fraction are 0.05, so
    // a p off by a fifth shows.
    DROPOUT3D(SHAPE(2, 8, 3, 4, 5), NDHWC, F32, 0.2f, false),
    DROPOUT3D(SHAPE(16, 128, 1, 2, 2), NDHWC, F32, 0.3f, true),
    DROPOUT3D(SHAPE(16, 128, 1, 2, 2), NCDHW, F32, 0.3f, true),
    DROPOUT3D(SHAPE(16, 128, 1, 2, 2), NDHWC, BF16, 0.3f, true),
    // DiceCE: classes absent from the labels, without background.
    DICE_CE(SHAPE(2, 5, 3, 5, 7), NDHWC, F32, 3, true),
    DICE_CE(SHAPE(2, 7, 5, 3, 3), NCDHW, F32, 7, false),
    DICE_CE(SHAPE(2, 5, 3, 5, 7), NCDHW, BF16, 3, true),
    // The tensor primitives the trainer, the tape and AdamW use: one size
    // above the kernels' parallel threshold.
    TENSOR_MATH(SHAPE(2, 8, 20, 21, 22), NDHWC, F32),
    TENSOR_MATH(SHAPE(1, 3, 5, 6, 7), NCDHW, F32),
    TENSOR_MATH(SHAPE(1, 16, 9, 10, 11), NDHWC, BF16),
    // AdamW over the flat arena: one size above the CPU's threading cutoff.
    ADAMW(7),
    ADAMW(70001),
    // The sliding window: an image smaller than the window on one axis
    // (padding), batches of windows, bf16 and f16 logits.
    SLIDING_WINDOW(5, 7, 19, 13, 8, 2, F32),
    SLIDING_WINDOW(4, 20, 12, 9, 8, 1, BF16),
    SLIDING_WINDOW(3, 9, 9, 17, 8, 3, SEGC_F16),
};
enum { CASE_COUNT = sizeof cases / sizeof cases[0] };

static bool is_bf16(segc_dtype dtype) { return dtype == SEGC_BF16; }

// ---- the driver
// --------------------------------------------------------------------

static void describe(const op_case *c, const op_backend *b, char *out,
                     size_t size) {
  char shape[96];
  const char *layout = c->layout == NDHWC ? "NDHWC" : "NCDHW";
  if (c->op == OP_CONV3D) {
    const conv_case *k = &c->conv;
    snprintf(out, size, "%s %s n%lld %lld->%lld %lldx%lldx%lld k%d s%d p%d%s "
             "%s->%s%s", b->name, op_names[c->op], (long long)k->n,
             (long long)k->cin, (long long)k->cout, (long long)k->d,
             (long long)k->h, (long long)k->w, k->k, k->s, k->p,
             k->bias ? " +b" : "", segc_dtype_name(c->dtype),
             segc_dtype_name(c->out_dtype),
             c->conv_algo == SEGC_CONV3D_ALGO_WINOGRAD ? " winograd"
             : c->conv_algo == SEGC_CONV3D_ALGO_DIRECT ? " direct"
                                                       : "");
    return;
  }
  int n = snprintf(out, size, "%s %s %s %s %s", b->name, op_names[c->op],
                   segc_shape_str(c->shape, shape, sizeof shape), layout,
                   segc_dtype_name(c->dtype));
  if (c->op == OP_GROUPNORM)
    snprintf(out + n, size - (size_t)n, " groups %d%s%s", c->groups,
             c->relu ? " +relu" : "", c->residual ? " +residual" : "");
  else if (c->op == OP_DROPOUT3D)
    snprintf(out + n, size - (size_t)n, " p %.2f %s", (double)c->p,
             c->training ? "train" : "eval");
  else if (c->op == OP_DICE_CE)
    snprintf(out + n, size - (size_t)n, " %d classes in labels%s",
             c->classes_present, c->include_background ? "" : " no background");
}

// Runs every case on one backend; returns how many ran (not skipped).
static int run_backend(const op_backend *b) {
  const bool conv_bf16 = test_bf16_available("ops: conv3d");
  int ran = 0;
  for (int i = 0; i < CASE_COUNT; ++i) {
    const op_case *c = &cases[i];
    char label[256];
    describe(c, b, label, sizeof label);
    if (c->op == OP_CONV3D && b->device == SEGC_DEVICE_CPU && !conv_bf16 &&
        (is_bf16(c->dtype) || is_bf16(c->out_dtype))) {
      printf("%s: skipped (no oneDNN bf16 convolutions on this CPU)\n", label);
      continue;
    }
    // f16 convolutions exist on CUDA (cuDNN) only.
    if (c->op == OP_CONV3D &&
        (!segc_backend_supports("conv3d", b->device, c->dtype) ||
         !segc_backend_supports("conv3d", b->device, c->out_dtype))) {
      printf("%s: skipped (no %s conv3d kernel for these dtypes)\n", label,
             b->name);
      continue;
    }
    op_env env;
    op_report rep = {"", 0};
    const int failures_before = test_failures;
    segc_clear_error();
    segc_status s = op_env_open(&env, b, 64, 64);
    if (s == SEGC_OK) s = op_runners[c->op](&env, c, label, &rep);
    op_env_close(&env);
    op_free_all();
    if (s == SEGC_ERR_UNSUPPORTED && b->device != SEGC_DEVICE_CPU) {
      printf("%s: skipped, not supported on %s yet: %s\n", label, b->name,
             segc_error_message());
      continue;
    }
    ++ran;
    test_checks++;
    if (s != SEGC_OK) {
      test_failures++;
      fprintf(stderr, "FAIL %s: %s\n", label, segc_error_message());
      continue;
    }
    // Figures: forward error as a fraction of its tolerance, gradients'
    // relative error as a fraction of theirs.
    printf("%s:%s%s\n", label, rep.text,
           test_failures > failures_before ? "  FAILED" : "");
  }
  return ran;
}

int main(int argc, char **argv) {
  const char *wanted = "cpu";
  for (int i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "--backend") && i + 1 < argc) {
      wanted = argv[++i];
    } else {
      fprintf(stderr, "usage: test_ops [--backend cpu|cuda|all]\n");
      return 2;
    }
  }
  if (strcmp(wanted, "all") != 0 && !op_backend_named(wanted)) {
    fprintf(stderr, "test_ops: error: no backend '%s' (cpu, cuda, all)\n",
            wanted);
    return 2;
  }
  int ran = 0;
  for (int k = 0; k < op_backend_count; ++k) {
    const op_backend *b = &op_backends[k];
    if (strcmp(wanted, "all") != 0 && strcmp(wanted, b->name) != 0) continue;
    char why[512];
    if (!b->available(why, sizeof why)) {
      printf("ops: %s backend: SKIPPED: %s\n", b->name, why);
      continue;
    }
    ran += run_backend(b);
  }
  if (ran == 0 && test_failures == 0) {
    printf("ops: nothing ran on '%s': skipped\n", wanted);
    return TEST_SKIP;
  }
  return test_finish("ops");
}
