#include "op_cases.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/gradcheck.h"
#include "core/rng.h"
#include "layers/conv3d.h"
#include "layers/dropout3d.h"
#include "layers/elementwise.h"
#include "util/reference_ops.h"
#include "layers/groupnorm.h"
#include "losses/dice_ce.h"
#include "util/test_util.h"

#define NDHWC SEGC_LAYOUT_NDHWC
#define S5 segc_shape5

static bool is_bf16(segc_dtype dtype) { return dtype == SEGC_BF16; }

static void note(op_report *r, const char *what, double value) {
  if (r->length < (int)sizeof r->text - 64)
    r->length += snprintf(r->text + r->length, sizeof r->text - r->length,
                          " %s %.2g", what, value);
}

// The per-element part of a result's tolerance in `dtype` (0 for f32).
static double element_rtol(segc_dtype dtype) {
  return dtype == SEGC_BF16  ? OP_BF16_RTOL
         : dtype == SEGC_F16 ? OP_F16_RTOL
                             : 0.0;
}

// Rounds values to the ones `dtype` holds (bf16, f16; f32 unchanged).
static void round_to(float *v, int64_t n, segc_dtype dtype) {
  for (int64_t i = 0; i < n; ++i)
    if (dtype == SEGC_BF16)
      v[i] = segc_bf16_to_f32(segc_f32_to_bf16(v[i]));
    else if (dtype == SEGC_F16)
      v[i] = segc_f16_to_f32(segc_f32_to_f16(v[i]));
}

// Checks a forward result: the error as a fraction of the tolerance.
static void check_forward_rtol(const char *label, const float *got,
                               const double *ref, int64_t count,
                               double per_element, op_report *r) {
  const double e = op_forward_error_rtol(got, ref, count, per_element);
  CHECK(e <= 1.0, "%s: forward error %.3g of the tolerance", label, e);
  note(r, "forward", e);
}

static void check_forward(const char *label, const float *got,
                          const double *ref, int64_t count, bool bf16,
                          op_report *r) {
  check_forward_rtol(label, got, ref, count, bf16 ? OP_BF16_RTOL : 0.0, r);
}

static void check_gradient_rtol(const char *label, const char *block,
                                segc_scalar_fn fn, void *context, double *x,
                                int64_t count, const float *analytic,
                                double h, double rtol, op_report *r);

// Checks one gradient block against central differences of `fn`.
static void check_gradient(const char *label, const char *block,
                           segc_scalar_fn fn, void *context, double *x,
                           int64_t count, const float *analytic, double h,
                           bool bf16, op_report *r) {
  check_gradient_rtol(label, block, fn, context, x, count, analytic, h,
                      bf16 ? OP_BF16_RTOL : OP_F32_RTOL, r);
}

static void check_gradient_rtol(const char *label, const char *block,
                                segc_scalar_fn fn, void *context, double *x,
                                int64_t count, const float *analytic,
                                double h, double rtol, op_report *r) {
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

// Logical NCDHW order to the storage order of `layout` (to_storage), or
// back.
static float *reorder(segc_shape s, segc_layout layout, const float *in,
                      bool to_storage) {
  float *out = op_f32(segc_shape_numel(s));
  int64_t i = 0;
  for (int64_t n = 0; n < s.n; ++n)
    for (int64_t c = 0; c < s.c; ++c)
      for (int64_t d = 0; d < s.d; ++d)
        for (int64_t h = 0; h < s.h; ++h)
          for (int64_t w = 0; w < s.w; ++w, ++i) {
            const int64_t at = op_offset(s, layout, n, c, d, h, w);
            if (to_storage)
              out[at] = in[i];
            else
              out[i] = in[at];
          }
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
                              const char *label, op_report *rep) {
  const conv_case *c = &oc->conv;
  const int64_t od = (c->d + 2 * c->p - c->k) / c->s + 1;
  const int64_t oh = (c->h + 2 * c->p - c->k) / c->s + 1;
  const int64_t ow = (c->w + 2 * c->p - c->k) / c->s + 1;
  const segc_shape is = S5(c->n, c->cin, c->d, c->h, c->w);
  const segc_shape os = S5(c->n, c->cout, od, oh, ow);
  const segc_shape ws = S5(c->cout, c->cin, c->k, c->k, c->k);
  const int64_t nx = segc_shape_numel(is), nw = segc_shape_numel(ws);
  const int64_t ny = segc_shape_numel(os), nb = c->cout;
  // bf16/f16: x, w (and r when a gradient is bf16/f16) are values of that
  // dtype, so the reference sees exactly what the backend sees.
  float *x = random_f32(nx, -1.0f, 1.0f, 500, false);
  float *w = random_f32(nw, -1.0f, 1.0f, 501, false);
  const float *b = random_f32(nb, -1.0f, 1.0f, 502, false);
  float *r = random_f32(ny, -1.0f, 1.0f, 503, false);
  round_to(x, nx, oc->dtype);
  round_to(w, nw, oc->dtype);
  round_to(r, ny, oc->out_dtype);
  round_to(r, ny, oc->dtype);
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
  const segc_conv3d_algorithm saved_algo = segc_conv3d_get_algorithm();
  segc_conv3d_set_algorithm(oc->conv_algo);
  segc_graph *g = &env->graph;
  g->training = true;
  segc_value *xv, *yv, *loss;
  const float *x_stored = reorder(is, NDHWC, x, true);
  segc_status s =
      op_value(g, x_stored, is, oc->dtype, NDHWC, true, &xv);
  if (s == SEGC_OK) s = segc_conv3d_forward(g, &layer, xv, oc->out_dtype, &yv);
  float *y = op_f32(ny);
  if (s == SEGC_OK) s = op_read_f32(&yv->data, y);
  double *ref = op_f64(ny);
  if (s == SEGC_OK) {
    reference_conv(c, v, v + nx, c->bias ? v + nx + nw : NULL, ref);
    check_forward_rtol(label, reorder(os, NDHWC, y, false), ref, ny,
                       element_rtol(oc->out_dtype), rep);
    s = op_seed_loss(g, yv, reorder(os, NDHWC, r, true), &loss);
  }
  if (s == SEGC_OK) {
    segc_value_release(g, yv);  // the tape does not need y
    s = segc_graph_backward(g, loss);
  }
  float *dx = op_f32(nx), *dw = op_f32(nw), *db = op_f32(nb);
  if (s == SEGC_OK) s = op_read_f32(&xv->grad, dx);
  if (s == SEGC_OK) s = op_read_f32(&weight.grad, dw);
  if (s == SEGC_OK) s = op_read_f32(&bias.grad, db);
  if (s == SEGC_OK) {
    conv_fd fd = {c, v, op_f64(ny), r, nx, nw, ny};
    // Linear in each block: h = 1e-2 is exact up to double rounding.
    check_gradient_rtol(label, "x", conv_loss, &fd, v, nx,
                        reorder(is, NDHWC, dx, false), 1e-2,
                        oc->dtype == SEGC_F32 ? OP_F32_RTOL
                                              : element_rtol(oc->dtype),
                        rep);
    check_gradient(label, "w", conv_loss, &fd, v + nx, nw, dw, 1e-2, false,
                   rep);
    if (c->bias)
      check_gradient(label, "b", conv_loss, &fd, v + nx + nw, nb, db, 1e-2,
                     false, rep);
  }
  segc_conv3d_destroy(&layer);
  segc_conv3d_set_algorithm(saved_algo);
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
                                 const char *label, op_report *rep) {
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
  SEGC_TRY(op_value(g, x, oc->shape, oc->dtype, oc->layout, true, &xv));
  SEGC_TRY(segc_groupnorm_forward(g, &layer, xv, &yv));
  if (oc->residual) {
    SEGC_TRY(segc_add_forward(g, yv, xv, &sum));
    segc_value_release(g, yv);
    yv = sum;
  }
  float *y = op_f32(n);
  SEGC_TRY(op_read_f32(&yv->data, y));
  double *xd = to_f64(x, n), *gd = to_f64(gamma, c), *bd = to_f64(beta, c);
  double *ref = op_f64(n);
  gn_reference(&gc, xd, gd, bd, ref, NULL, NULL);
  check_forward(label, y, ref, n, bf16, rep);
  SEGC_TRY(op_seed_loss(g, yv, r, &loss));
  segc_value_release(g, yv);
  SEGC_TRY(segc_graph_backward(g, loss));
  float *dx = op_f32(n), *dgamma = op_f32(c), *dbeta = op_f32(c);
  SEGC_TRY(op_read_f32(&xv->grad, dx));
  SEGC_TRY(op_read_f32(&pg.grad, dgamma));
  SEGC_TRY(op_read_f32(&pb.grad, dbeta));
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
                                const char *label, op_report *rep) {
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
  SEGC_TRY(op_value(g, x, oc->shape, oc->dtype, oc->layout, true, &xv));
  SEGC_TRY(segc_relu_forward(g, xv, &relu));
  SEGC_TRY(segc_add_forward(g, relu, xv, &yv));
  segc_value_release(g, relu);
  float *y = op_f32(n);
  SEGC_TRY(op_read_f32(&yv->data, y));
  double *xd = to_f64(x, n), *ref = op_f64(n);
  for (int64_t i = 0; i < n; ++i) ref[i] = (xd[i] > 0.0 ? xd[i] : 0.0) + xd[i];
  check_forward(label, y, ref, n, bf16, rep);
  SEGC_TRY(op_seed_loss(g, yv, r, &loss));
  segc_value_release(g, yv);
  SEGC_TRY(segc_graph_backward(g, loss));
  float *dx = op_f32(n);
  SEGC_TRY(op_read_f32(&xv->grad, dx));
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
                                const char *label, op_report *rep) {
  const int64_t n = segc_shape_numel(oc->shape), big = 8 * n;
  const bool bf16 = is_bf16(oc->dtype);
  const float *x = random_f32(n, -1.0f, 2.0f, 800, bf16);
  const float *r = random_f32(big, -1.0f, 1.0f, 801, bf16);
  segc_graph *g = &env->graph;
  g->training = true;
  segc_value *xv, *yv, *loss;
  SEGC_TRY(op_value(g, x, oc->shape, oc->dtype, oc->layout, true, &xv));
  SEGC_TRY(segc_upsample2x_forward(g, xv, &yv));
  float *y = op_f32(big);
  SEGC_TRY(op_read_f32(&yv->data, y));
  double *xd = to_f64(x, n), *ref = op_f64(big);
  upsample_reference(oc->shape, oc->layout, 1.0, xd, ref);
  check_forward(label, y, ref, big, bf16, rep);
  SEGC_TRY(op_seed_loss(g, yv, r, &loss));
  segc_value_release(g, yv);
  SEGC_TRY(segc_graph_backward(g, loss));
  float *dx = op_f32(n);
  SEGC_TRY(op_read_f32(&xv->grad, dx));
  upsample_fd fd = {oc->shape, oc->layout, r, op_f64(big)};
  // Linear: h = 1e-2 is exact up to double rounding.
  check_gradient(label, "x", upsample_loss, &fd, xd, n, dx, 1e-2, bf16, rep);
  return SEGC_OK;
}

// ---- dropout3d
// ---------------------------------------------------------------------

static segc_status run_dropout3d(op_env *env, const op_case *oc,
                                 const char *label, op_report *rep) {
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
  SEGC_TRY(op_value(g, x, s, oc->dtype, oc->layout, oc->training, &xv));
  SEGC_TRY(segc_dropout3d_forward(g, xv, oc->p, &yv));
  float *y = op_f32(n);
  SEGC_TRY(op_read_f32(&yv->data, y));
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
  SEGC_TRY(op_seed_loss(g, yv, r, &loss));
  segc_value_release(g, yv);
  SEGC_TRY(segc_graph_backward(g, loss));
  float *dx = op_f32(n);
  SEGC_TRY(op_read_f32(&xv->grad, dx));
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
                               const char *label, op_report *rep) {
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
  SEGC_TRY(op_value(g, x, s, oc->dtype, oc->layout, true, &xv));
  SEGC_TRY(segc_dice_ce_forward(g, &p.config, xv, &label_tensor, &loss,
                                &parts));
  float value;
  SEGC_TRY(op_read_f32(&loss->data, &value));
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
  SEGC_TRY(op_read_f32(&xv->grad, dx));
  check_gradient(label, "logits", dice_ce_loss, &p, xd, n, dx, 1e-5, bf16,
                 rep);
  return SEGC_OK;
}

const op_runner op_runners[] = {run_conv3d,   run_groupnorm, run_relu_add,
                                 run_upsample, run_dropout3d, run_dice_ce,
                                 op_run_tensor_math, op_run_adamw,
                                 op_run_sliding_window};
