// The table-driven op harness: one list of op cases (op, shapes, dtypes,
// layouts, options), each run on every backend asked for (--backend cpu, the
// default; --backend cuda; --backend all) against the double-precision
// references of util/op_reference.c, with gradients checked by central
// finite differences (autograd/gradcheck.h). Tolerances and the finite
// difference steps are explained in util/op_harness.h.
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

#include "autograd/gradcheck.h"
#include "core/dnnl_context.h"
#include "core/rng.h"
#include "layers/conv3d.h"
#include "layers/dropout3d.h"
#include "layers/elementwise.h"
#include "layers/groupnorm.h"
#include "losses/dice_ce.h"
#include "util/op_harness.h"
#include "util/op_reference.h"
#include "util/test_util.h"

typedef enum {
  OP_CONV3D,     // forward, backward data, backward weights (and bias)
  OP_GROUPNORM,  // GroupNorm [+ReLU] [+ residual add]
  OP_RELU_ADD,   // relu(x) + x
  OP_UPSAMPLE,   // trilinear x2
  OP_DROPOUT3D,  // eval: identity; train: channel mask statistics
  OP_DICE_CE     // MONAI's DiceCE loss
} op_kind;

static const char *const op_names[] = {"conv3d",   "groupnorm", "relu_add",
                                       "upsample", "dropout3d", "dice_ce"};

typedef struct {
  op_kind op;
  segc_dtype dtype;      // of the input (conv3d: input and weights compute)
  segc_dtype out_dtype;  // conv3d's output
  segc_layout layout;
  segc_shape shape;      // input (conv3d: from `conv`)
  conv_case conv;
  int groups;            // groupnorm
  bool relu, residual;   // groupnorm
  float p;               // dropout3d
  bool training;         // dropout3d
  int classes_present;   // dice_ce: labels drawn from the first ones
  bool include_background;
} op_case;

#define NDHWC SEGC_LAYOUT_NDHWC
#define NCDHW SEGC_LAYOUT_NCDHW
#define F32 SEGC_F32
#define BF16 SEGC_BF16
// A shape as a constant initializer (the table is static).
#define SHAPE(n, c, d, h, w) {n, c, d, h, w}
#define S5 segc_shape5

// n, cin, cout, d, h, w, kernel, stride, padding, bias; dtype -> out dtype.
#define CONV(n, ci, co, d, h, w, k, s, p, b, dt, odt)                  \
  {.op = OP_CONV3D, .dtype = dt, .out_dtype = odt, .layout = NDHWC,   \
   .conv = {n, ci, co, d, h, w, k, s, p, b}}
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

static const op_case cases[] = {
    // conv3d: kernels 3 and 1, strides 1 and 2, paddings 1 and 0, bias,
    // batch 2, odd sizes, one input channel; bf16 where oneDNN has it.
    CONV(2, 3, 5, 4, 5, 3, 3, 1, 1, true, F32, F32),
    CONV(1, 2, 3, 5, 4, 6, 3, 2, 1, false, F32, F32),
    CONV(2, 4, 3, 3, 2, 4, 1, 1, 0, true, F32, F32),
    CONV(1, 1, 4, 4, 4, 5, 3, 1, 0, false, F32, F32),
    CONV(1, 3, 2, 6, 5, 6, 3, 2, 0, true, F32, F32),
    CONV(2, 3, 5, 4, 5, 3, 3, 1, 1, true, BF16, BF16),
    CONV(1, 2, 3, 5, 4, 6, 3, 2, 1, false, BF16, F32),
    CONV(1, 3, 2, 6, 5, 6, 3, 2, 0, true, F32, BF16),
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
};
enum { CASE_COUNT = sizeof cases / sizeof cases[0] };

static bool is_bf16(segc_dtype dtype) { return dtype == SEGC_BF16; }

// What one case reports, for its summary line.
typedef struct {
  char text[512];
  int length;
} report;

static void note(report *r, const char *what, double value) {
  if (r->length < (int)sizeof r->text - 64)
    r->length += snprintf(r->text + r->length, sizeof r->text - r->length,
                          " %s %.2g", what, value);
}

// Checks a forward result: the error as a fraction of the tolerance.
static void check_forward(const char *label, const float *got,
                          const double *ref, int64_t count, bool bf16,
                          report *r) {
  const double e = op_forward_error(got, ref, count, bf16);
  CHECK(e <= 1.0, "%s: forward error %.3g of the tolerance", label, e);
  note(r, "forward", e);
}

// Checks one gradient block against central differences of `fn`.
static void check_gradient(const char *label, const char *block,
                           segc_scalar_fn fn, void *context, double *x,
                           int64_t count, const float *analytic, double h,
                           bool bf16, report *r) {
  const double rtol = bf16 ? OP_BF16_RTOL : OP_F32_RTOL;
  segc_gradcheck_report rep;
  const int ok = segc_gradcheck(fn, context, x, count, analytic, h, rtol, &rep);
  CHECK(ok,
        "%s: d/d%s relative error %.3g (allowed %.3g) at %lld: analytic "
        "%.9g, finite differences %.9g",
        label, block, rep.max_rel_error, rtol, (long long)rep.worst_index,
        rep.worst_analytic, rep.worst_numeric);
  char name[32];
  snprintf(name, sizeof name, "d%s", block);
  note(r, name, rep.max_rel_error / rtol);
}

static float *random_f32(int64_t n, float lo, float hi, uint64_t stream,
                         bool round_bf16) {
  float *v = op_f32(n);
  test_fill_uniform(v, n, lo, hi, stream);
  if (round_bf16)
    for (int64_t i = 0; i < n; ++i)
      v[i] = segc_bf16_to_f32(segc_f32_to_bf16(v[i]));
  return v;
}

static double *to_f64(const float *v, int64_t n) {
  double *d = op_f64(n);
  for (int64_t i = 0; i < n; ++i) d[i] = v[i];
  return d;
}

// Logical NCDHW order <-> storage order of `layout`.
static float *ncdhw_to_storage(segc_shape s, segc_layout layout,
                               const double *ncdhw) {
  float *out = op_f32(segc_shape_numel(s));
  int64_t i = 0;
  for (int64_t n = 0; n < s.n; ++n)
    for (int64_t c = 0; c < s.c; ++c)
      for (int64_t d = 0; d < s.d; ++d)
        for (int64_t h = 0; h < s.h; ++h)
          for (int64_t w = 0; w < s.w; ++w)
            out[op_offset(s, layout, n, c, d, h, w)] = (float)ncdhw[i++];
  return out;
}

static float *storage_to_ncdhw(segc_shape s, segc_layout layout,
                               const float *stored) {
  float *out = op_f32(segc_shape_numel(s));
  int64_t i = 0;
  for (int64_t n = 0; n < s.n; ++n)
    for (int64_t c = 0; c < s.c; ++c)
      for (int64_t d = 0; d < s.d; ++d)
        for (int64_t h = 0; h < s.h; ++h)
          for (int64_t w = 0; w < s.w; ++w)
            out[i++] = stored[op_offset(s, layout, n, c, d, h, w)];
  return out;
}

// loss = sum(r * y) over y's storage order, for the finite differences.
static double weighted(const float *r, const double *y, int64_t n) {
  double loss = 0.0;
  for (int64_t i = 0; i < n; ++i) loss += r[i] * y[i];
  return loss;
}

// ---- conv3d
// -----------------------------------------------------------------------

// Finite differences of loss = sum(r * conv(x, w) + b) over v = [x, w, b]
// (NCDHW, OIDHW, bias); gradcheck perturbs one block of v in place.
typedef struct {
  const conv_case *c;
  double *v, *y;
  const float *r;  // NCDHW
  int64_t nx, nw, ny;
} conv_fd;

static double conv_loss(const double *unused, void *context) {
  (void)unused;
  conv_fd *f = context;
  reference_conv(f->c, f->v, f->v + f->nx,
                 f->c->bias ? f->v + f->nx + f->nw : NULL, f->y);
  return weighted(f->r, f->y, f->ny);
}

static segc_status run_conv3d(op_env *env, const op_case *oc,
                              const char *label, report *rep) {
  const conv_case *c = &oc->conv;
  const int64_t od = (c->d + 2 * c->p - c->k) / c->s + 1;
  const int64_t oh = (c->h + 2 * c->p - c->k) / c->s + 1;
  const int64_t ow = (c->w + 2 * c->p - c->k) / c->s + 1;
  const segc_shape is = S5(c->n, c->cin, c->d, c->h, c->w);
  const segc_shape os = S5(c->n, c->cout, od, oh, ow);
  const segc_shape ws = S5(c->cout, c->cin, c->k, c->k, c->k);
  const int64_t nx = segc_shape_numel(is), nw = segc_shape_numel(ws);
  const int64_t ny = segc_shape_numel(os), nb = c->cout;
  // bf16: x, w (and r when a gradient is bf16) are bf16 values, so the
  // reference sees exactly what the backend sees.
  const bool bf16_in = is_bf16(oc->dtype), bf16_out = is_bf16(oc->out_dtype);
  const float *x = random_f32(nx, -1.0f, 1.0f, 500, bf16_in);
  const float *w = random_f32(nw, -1.0f, 1.0f, 501, bf16_in);
  const float *b = random_f32(nb, -1.0f, 1.0f, 502, false);
  const float *r = random_f32(ny, -1.0f, 1.0f, 503, bf16_in || bf16_out);
  double *v = op_f64(nx + nw + nb);
  for (int64_t i = 0; i < nx; ++i) v[i] = x[i];
  for (int64_t i = 0; i < nw; ++i) v[nx + i] = w[i];
  for (int64_t i = 0; i < nb; ++i) v[nx + nw + i] = b[i];

  segc_param weight, bias;
  SEGC_TRY(op_env_param(env, "conv.weight", w, ws, &weight));
  SEGC_TRY(op_env_param(env, "conv.bias", b, S5(1, nb, 1, 1, 1), &bias));
  const segc_conv3d_config config = {c->cin, c->cout, c->k, c->s, c->p,
                                     c->bias};
  segc_conv3d layer;
  SEGC_TRY(segc_conv3d_init(&layer, &config, &weight, c->bias ? &bias : NULL));
  segc_graph *g = &env->graph;
  g->training = true;
  segc_value *xv, *yv, *loss;
  const float *x_stored = ncdhw_to_storage(is, NDHWC, v);
  segc_status s = op_env_value(env, x_stored, is, oc->dtype, NDHWC, true, &xv);
  if (s == SEGC_OK) s = segc_conv3d_forward(g, &layer, xv, oc->out_dtype, &yv);
  float *y = op_f32(ny);
  if (s == SEGC_OK) s = op_read_f32(env, &yv->data, y);
  double *ref = op_f64(ny);
  double *rd = op_f64(ny);
  for (int64_t i = 0; i < ny; ++i) rd[i] = r[i];
  if (s == SEGC_OK) {
    reference_conv(c, v, v + nx, c->bias ? v + nx + nw : NULL, ref);
    check_forward(label, storage_to_ncdhw(os, NDHWC, y), ref, ny, bf16_out,
                  rep);
    s = op_seed_loss(env, yv, ncdhw_to_storage(os, NDHWC, rd), &loss);
  }
  if (s == SEGC_OK) {
    segc_value_release(g, yv);  // the tape does not need y
    s = segc_graph_backward(g, loss);
  }
  float *dx = op_f32(nx), *dw = op_f32(nw), *db = op_f32(nb);
  if (s == SEGC_OK) s = op_read_f32(env, &xv->grad, dx);
  if (s == SEGC_OK) s = op_read_f32(env, &weight.grad, dw);
  if (s == SEGC_OK) s = op_read_f32(env, &bias.grad, db);
  if (s == SEGC_OK) {
    conv_fd fd = {c, v, op_f64(ny), r, nx, nw, ny};
    // Linear in each block: h = 1e-2 is exact up to double rounding.
    check_gradient(label, "x", conv_loss, &fd, v, nx,
                   storage_to_ncdhw(is, NDHWC, dx), 1e-2, bf16_in, rep);
    check_gradient(label, "w", conv_loss, &fd, v + nx, nw, dw, 1e-2, false,
                   rep);
    if (c->bias)
      check_gradient(label, "b", conv_loss, &fd, v + nx + nw, nb, db, 1e-2,
                     false, rep);
  }
  segc_conv3d_destroy(&layer);
  return s;
}

// ---- GroupNorm
// ---------------------------------------------------------------------

typedef struct {
  const gn_case *gc;
  double *x, *gamma, *beta, *y;
  const float *r;
  int which;  // 0 x, 1 gamma, 2 beta: the block gradcheck perturbs
} gn_fd;

static double gn_loss(const double *v, void *context) {
  gn_fd *f = context;
  gn_reference(f->gc, f->which == 0 ? v : f->x, f->which == 1 ? v : f->gamma,
               f->which == 2 ? v : f->beta, f->y, NULL, NULL);
  return weighted(f->r, f->y, segc_shape_numel(f->gc->shape));
}

static segc_status run_groupnorm(op_env *env, const op_case *oc,
                                 const char *label, report *rep) {
  const gn_case gc = {oc->shape, oc->layout, oc->groups, 1e-5, oc->relu,
                      oc->residual};
  const int64_t n = segc_shape_numel(oc->shape), c = oc->shape.c;
  const bool bf16 = is_bf16(oc->dtype);
  float *x = random_f32(n, -1.0f, 2.0f, 600, false);
  const float *gamma = random_f32(c, 0.5f, 1.5f, 601, false);
  const float *beta = random_f32(c, -0.5f, 0.5f, 602, false);
  const float *r = random_f32(n, -1.0f, 1.0f, 603, bf16);
  if (oc->relu) {
    const double closest = gn_move_from_kink(&gc, x, gamma, beta);
    CHECK(closest >= 0.1, "%s: pre-activations 0.1 from the kink (%g)", label,
          closest);
  }
  if (bf16)
    for (int64_t i = 0; i < n; ++i)
      x[i] = segc_bf16_to_f32(segc_f32_to_bf16(x[i]));
  segc_param pg, pb;
  SEGC_TRY(op_env_param(env, "gamma", gamma, S5(1, c, 1, 1, 1), &pg));
  SEGC_TRY(op_env_param(env, "beta", beta, S5(1, c, 1, 1, 1), &pb));
  const segc_groupnorm layer = {oc->groups, 1e-5f, oc->relu, &pg, &pb};
  segc_graph *g = &env->graph;
  g->training = true;
  segc_value *xv, *yv, *sum, *loss;
  SEGC_TRY(op_env_value(env, x, oc->shape, oc->dtype, oc->layout, true, &xv));
  SEGC_TRY(segc_groupnorm_forward(g, &layer, xv, &yv));
  if (oc->residual) {
    SEGC_TRY(segc_add_forward(g, yv, xv, &sum));
    segc_value_release(g, yv);
    yv = sum;
  }
  float *y = op_f32(n);
  SEGC_TRY(op_read_f32(env, &yv->data, y));
  double *xd = to_f64(x, n), *gd = to_f64(gamma, c), *bd = to_f64(beta, c);
  double *ref = op_f64(n);
  gn_reference(&gc, xd, gd, bd, ref, NULL, NULL);
  check_forward(label, y, ref, n, bf16, rep);
  SEGC_TRY(op_seed_loss(env, yv, r, &loss));
  segc_value_release(g, yv);
  SEGC_TRY(segc_graph_backward(g, loss));
  float *dx = op_f32(n), *dgamma = op_f32(c), *dbeta = op_f32(c);
  SEGC_TRY(op_read_f32(env, &xv->grad, dx));
  SEGC_TRY(op_read_f32(env, &pg.grad, dgamma));
  SEGC_TRY(op_read_f32(env, &pb.grad, dbeta));
  gn_fd fd = {&gc, xd, gd, bd, op_f64(n), r, 0};
  // Smooth (away from the ReLU kink): h = 1e-3.
  check_gradient(label, "x", gn_loss, &fd, xd, n, dx, 1e-3, bf16, rep);
  fd.which = 1;
  check_gradient(label, "gamma", gn_loss, &fd, gd, c, dgamma, 1e-3, bf16, rep);
  fd.which = 2;
  check_gradient(label, "beta", gn_loss, &fd, bd, c, dbeta, 1e-3, bf16, rep);
  return SEGC_OK;
}

// ---- relu + add
// --------------------------------------------------------------------

typedef struct {
  const float *r;
  int64_t n;
} relu_add_fd;

static double relu_add_loss(const double *x, void *context) {
  const relu_add_fd *f = context;
  double loss = 0.0;
  for (int64_t i = 0; i < f->n; ++i)
    loss += f->r[i] * ((x[i] > 0.0 ? x[i] : 0.0) + x[i]);
  return loss;
}

static segc_status run_relu_add(op_env *env, const op_case *oc,
                                const char *label, report *rep) {
  const int64_t n = segc_shape_numel(oc->shape);
  const bool bf16 = is_bf16(oc->dtype);
  // |x| >= 0.1, so finite differences never cross the kink.
  float *x = random_f32(n, -1.0f, 1.0f, 700, false);
  for (int64_t i = 0; i < n; ++i) {
    x[i] += x[i] < 0.0f ? -0.1f : 0.1f;
    if (bf16) x[i] = segc_bf16_to_f32(segc_f32_to_bf16(x[i]));
  }
  const float *r = random_f32(n, -1.0f, 1.0f, 701, bf16);
  segc_graph *g = &env->graph;
  g->training = true;
  segc_value *xv, *relu, *yv, *loss;
  SEGC_TRY(op_env_value(env, x, oc->shape, oc->dtype, oc->layout, true, &xv));
  SEGC_TRY(segc_relu_forward(g, xv, &relu));
  SEGC_TRY(segc_add_forward(g, relu, xv, &yv));
  segc_value_release(g, relu);
  float *y = op_f32(n);
  SEGC_TRY(op_read_f32(env, &yv->data, y));
  double *xd = to_f64(x, n), *ref = op_f64(n);
  for (int64_t i = 0; i < n; ++i) ref[i] = (xd[i] > 0.0 ? xd[i] : 0.0) + xd[i];
  check_forward(label, y, ref, n, bf16, rep);
  SEGC_TRY(op_seed_loss(env, yv, r, &loss));
  segc_value_release(g, yv);
  SEGC_TRY(segc_graph_backward(g, loss));
  float *dx = op_f32(n);
  SEGC_TRY(op_read_f32(env, &xv->grad, dx));
  relu_add_fd fd = {r, n};
  // Piecewise linear, no kink within h = 1e-2 of any x.
  check_gradient(label, "x", relu_add_loss, &fd, xd, n, dx, 1e-2, bf16, rep);
  return SEGC_OK;
}

// ---- upsample
// ----------------------------------------------------------------------

typedef struct {
  segc_shape shape;
  segc_layout layout;
  const float *r;
  double *y;
} upsample_fd;

static double upsample_loss(const double *x, void *context) {
  upsample_fd *f = context;
  upsample_reference(f->shape, f->layout, 1.0, x, f->y);
  return weighted(f->r, f->y, 8 * segc_shape_numel(f->shape));
}

static segc_status run_upsample(op_env *env, const op_case *oc,
                                const char *label, report *rep) {
  const int64_t n = segc_shape_numel(oc->shape), big = 8 * n;
  const bool bf16 = is_bf16(oc->dtype);
  const float *x = random_f32(n, -1.0f, 2.0f, 800, bf16);
  const float *r = random_f32(big, -1.0f, 1.0f, 801, bf16);
  segc_graph *g = &env->graph;
  g->training = true;
  segc_value *xv, *yv, *loss;
  SEGC_TRY(op_env_value(env, x, oc->shape, oc->dtype, oc->layout, true, &xv));
  SEGC_TRY(segc_upsample2x_forward(g, xv, &yv));
  float *y = op_f32(big);
  SEGC_TRY(op_read_f32(env, &yv->data, y));
  double *xd = to_f64(x, n), *ref = op_f64(big);
  upsample_reference(oc->shape, oc->layout, 1.0, xd, ref);
  check_forward(label, y, ref, big, bf16, rep);
  SEGC_TRY(op_seed_loss(env, yv, r, &loss));
  segc_value_release(g, yv);
  SEGC_TRY(segc_graph_backward(g, loss));
  float *dx = op_f32(n);
  SEGC_TRY(op_read_f32(env, &xv->grad, dx));
  upsample_fd fd = {oc->shape, oc->layout, r, op_f64(big)};
  // Linear: h = 1e-2 is exact up to double rounding.
  check_gradient(label, "x", upsample_loss, &fd, xd, n, dx, 1e-2, bf16, rep);
  return SEGC_OK;
}

// ---- dropout3d
// ---------------------------------------------------------------------

static segc_status run_dropout3d(op_env *env, const op_case *oc,
                                 const char *label, report *rep) {
  const segc_shape s = oc->shape;
  const int64_t n = segc_shape_numel(s), spatial = segc_shape_spatial(s);
  const bool bf16 = is_bf16(oc->dtype);
  // Never 0, so a 0 in y means dropped.
  const float *x = random_f32(n, 0.5f, 1.5f, 900, bf16);
  const float *r = random_f32(n, -1.0f, 1.0f, 901, bf16);
  segc_graph *g = &env->graph;
  g->training = oc->training;
  g->seed = 77;
  g->step = 5;
  segc_value *xv, *yv, *loss;
  SEGC_TRY(op_env_value(env, x, s, oc->dtype, oc->layout, oc->training, &xv));
  SEGC_TRY(segc_dropout3d_forward(g, xv, oc->p, &yv));
  float *y = op_f32(n);
  SEGC_TRY(op_read_f32(env, &yv->data, y));
  if (!oc->training) {
    CHECK(yv == xv && memcmp(y, x, sizeof(float) * (size_t)n) == 0,
          "%s: eval mode is the identity", label);
    note(rep, "identity", yv == xv);
    segc_value_release(g, yv);
    return SEGC_OK;
  }
  // Every channel is dropped whole or kept and scaled by 1/(1-p): f32
  // rounding (OP_F32_RTOL relative), plus a bf16 rounding of the output.
  const double scale = 1.0 / (1.0 - (double)oc->p);
  const double tolerance = OP_F32_RTOL + (bf16 ? OP_BF16_RTOL : 0.0);
  int64_t dropped = 0, mixed = 0, wrong = 0;
  bool *kept = op_bytes(sizeof(bool) * (size_t)(s.n * s.c));
  for (int64_t b = 0; b < s.n; ++b)
    for (int64_t c = 0; c < s.c; ++c) {
      int64_t zeros = 0;
      for (int64_t v = 0; v < spatial; ++v) {
        const int64_t at = op_offset(s, oc->layout, b, c, v / (s.h * s.w),
                                     (v / s.w) % s.h, v % s.w);
        zeros += y[at] == 0.0f;
        if (y[at] != 0.0f)
          wrong += fabs(y[at] - x[at] * scale) > tolerance * x[at] * scale;
      }
      mixed += zeros != 0 && zeros != spatial;
      dropped += zeros == spatial;
      kept[b * s.c + c] = zeros == 0;
    }
  CHECK(mixed == 0 && wrong == 0,
        "%s: %lld channels partly dropped, %lld kept values not x/(1-p)",
        label, (long long)mixed, (long long)wrong);
  // Binomial(N*C, p): 5 standard deviations.
  const double channels = (double)(s.n * s.c), fraction = dropped / channels;
  const double sd = sqrt(oc->p * (1.0 - oc->p) / channels);
  CHECK(fabs(fraction - oc->p) <= 5.0 * sd,
        "%s: dropped %.3f of the channels, expected %.2f +- %.3f", label,
        fraction, (double)oc->p, 5.0 * sd);
  note(rep, "dropped", fraction);
  note(rep, "sd", (fraction - oc->p) / sd);
  // Backward applies the same mask and scale.
  SEGC_TRY(op_seed_loss(env, yv, r, &loss));
  segc_value_release(g, yv);
  SEGC_TRY(segc_graph_backward(g, loss));
  float *dx = op_f32(n);
  SEGC_TRY(op_read_f32(env, &xv->grad, dx));
  wrong = 0;
  for (int64_t b = 0; b < s.n; ++b)
    for (int64_t c = 0; c < s.c; ++c)
      for (int64_t v = 0; v < spatial; ++v) {
        const int64_t at = op_offset(s, oc->layout, b, c, v / (s.h * s.w),
                                     (v / s.w) % s.h, v % s.w);
        const double want = kept[b * s.c + c] ? r[at] * scale : 0.0;
        wrong += fabs(dx[at] - want) > tolerance * fabs(want);
      }
  CHECK(wrong == 0, "%s: %lld gradients differ from r * mask / (1-p)", label,
        (long long)wrong);
  return SEGC_OK;
}

// ---- DiceCE
// ------------------------------------------------------------------------

static double dice_ce_loss(const double *x, void *context) {
  return dice_ce_reference(context, x, NULL, NULL);
}

static segc_status run_dice_ce(op_env *env, const op_case *oc,
                               const char *label, report *rep) {
  const segc_shape s = oc->shape;
  const int64_t n = segc_shape_numel(s), voxels = s.n * segc_shape_spatial(s);
  const bool bf16 = is_bf16(oc->dtype);
  const float *x = random_f32(n, -3.0f, 3.0f, 1000, bf16);
  uint8_t *labels = op_bytes((size_t)voxels);
  for (int64_t i = 0; i < voxels; ++i)
    labels[i] = (uint8_t)segc_rng_below(
        77, segc_rng_stream(SEGC_RNG_TEST, 1001, 1), (uint64_t)i,
        (uint64_t)oc->classes_present);
  dice_ce_problem p = {s, oc->layout, labels, segc_dice_ce_default()};
  p.config.include_background = oc->include_background;
  segc_tensor label_tensor;
  SEGC_TRY(op_env_tensor(env, labels, S5(s.n, 1, s.d, s.h, s.w), SEGC_U8,
                         oc->layout, &label_tensor));
  segc_graph *g = &env->graph;
  g->training = true;
  segc_value *xv, *loss;
  segc_dice_ce_parts parts;
  SEGC_TRY(op_env_value(env, x, s, oc->dtype, oc->layout, true, &xv));
  SEGC_TRY(segc_dice_ce_forward(g, &p.config, xv, &label_tensor, &loss,
                                &parts));
  float value;
  SEGC_TRY(op_read_f32(env, &loss->data, &value));
  double *xd = to_f64(x, n), dice, ce;
  // The loss is f32 whatever the logits' dtype (bf16 logits are compared at
  // the same bf16 values): the f32 tolerance.
  const double ref = dice_ce_reference(&p, xd, &dice, &ce);
  check_forward(label, &value, &ref, 1, false, rep);
  const float parts_f32[2] = {(float)parts.dice, (float)parts.ce};
  const double parts_ref[2] = {dice, ce};
  CHECK(op_forward_error(parts_f32, parts_ref, 1, false) <= 1.0 &&
            op_forward_error(parts_f32 + 1, parts_ref + 1, 1, false) <= 1.0,
        "%s: dice %.9g (reference %.9g), ce %.9g (reference %.9g)", label,
        parts.dice, dice, parts.ce, ce);
  SEGC_TRY(segc_graph_backward(g, loss));
  float *dx = op_f32(n);
  SEGC_TRY(op_read_f32(env, &xv->grad, dx));
  check_gradient(label, "logits", dice_ce_loss, &p, xd, n, dx, 1e-5, bf16,
                 rep);
  return SEGC_OK;
}

// ---- the driver
// --------------------------------------------------------------------

static void describe(const op_case *c, const op_backend *b, char *out,
                     size_t size) {
  char shape[96];
  const char *layout = c->layout == NDHWC ? "NDHWC" : "NCDHW";
  if (c->op == OP_CONV3D) {
    const conv_case *k = &c->conv;
    snprintf(out, size, "%s %s n%lld %lld->%lld %lldx%lldx%lld k%d s%d p%d%s "
             "%s->%s", b->name, op_names[c->op], (long long)k->n,
             (long long)k->cin, (long long)k->cout, (long long)k->d,
             (long long)k->h, (long long)k->w, k->k, k->s, k->p,
             k->bias ? " +b" : "", segc_dtype_name(c->dtype),
             segc_dtype_name(c->out_dtype));
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

typedef segc_status (*case_runner)(op_env *, const op_case *, const char *,
                                   report *);
static const case_runner runners[] = {run_conv3d,   run_groupnorm,
                                      run_relu_add, run_upsample,
                                      run_dropout3d, run_dice_ce};

// Runs every case on one backend; returns how many ran (not skipped).
static int run_backend(const op_backend *b) {
  const bool conv_bf16 = test_bf16_available("ops: conv3d");
  int ran = 0;
  for (int i = 0; i < CASE_COUNT; ++i) {
    const op_case *c = &cases[i];
    char label[256];
    describe(c, b, label, sizeof label);
    if (c->op == OP_CONV3D && !conv_bf16 &&
        (is_bf16(c->dtype) || is_bf16(c->out_dtype))) {
      printf("%s: skipped (no oneDNN bf16 convolutions on this CPU)\n", label);
      continue;
    }
    op_env env;
    report rep = {"", 0};
    const int failures_before = test_failures;
    segc_clear_error();
    segc_status s = op_env_open(&env, b, 64);
    if (s == SEGC_OK) s = runners[c->op](&env, c, label, &rep);
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
  segc_dnnl_shutdown();
  if (ran == 0 && test_failures == 0) {
    printf("ops: nothing ran on '%s': skipped\n", wanted);
    return TEST_SKIP;
  }
  return test_finish("ops");
}
