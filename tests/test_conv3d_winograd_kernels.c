// The Winograd F(2x2x2, 3x3x3) kernels (layers/conv3d_winograd.c) against
// the double-precision reference convolution: forward with and without bias,
// backward-data (the rotated kernel), backward-weights and the bias
// gradient (F(3x3x3, 2x2x2)), accumulation, odd sizes that leave
// partial tiles, channel counts that are not multiples of the panel width,
// batch 2, and the same bits with 1 and 2 threads. The layer-level paths
// (the plan that picks Winograd, finite-difference gradients through the
// tape) are in the op table (test_ops.c) and test_conv3d.c.
//
// Every GEMM kernel this CPU can run (AVX-512, AVX2, portable) is checked.
//
// Bound: f32 Winograd rounds in the transforms as well as in the sum; with
// inputs and weights in [-1, 1] its error was at most 3.6e-7 (8.3e-7 for
// backward-weights) of the output's largest |value| on these shapes (printed
// below), about what a direct f32 sum of 27 x 40 products gives; 2e-6 leaves
// room for other CPUs' rounding while a wrong coefficient anywhere gives errors
// of order 1. The bound for the whole network is 1e-4 of the logits'
// range (test_segresnet_reference checks it with SEGC_CONV_ALGO=winograd too).
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/parallel.h"
#include "layers/conv3d_winograd.h"
#include "util/op_reference.h"
#include "util/test_util.h"

static const double BOUND = 2e-6;

typedef struct {
  int64_t n, cin, cout, d, h, w;
  bool bias;
} wino_case;

static float *random_floats(int64_t count, unsigned seed) {
  float *v = malloc(sizeof(float) * (size_t)count);
  if (!v) abort();
  srand(seed);
  for (int64_t i = 0; i < count; ++i) v[i] = 2.0f * rand() / RAND_MAX - 1.0f;
  return v;
}

// NDHWC float <-> NCDHW double.
static double *to_ncdhw(const float *x, segc_shape s) {
  double *out = malloc(sizeof(double) * (size_t)segc_shape_numel(s));
  if (!out) abort();
  const int64_t sp = s.d * s.h * s.w;
  for (int64_t n = 0; n < s.n; ++n)
    for (int64_t v = 0; v < sp; ++v)
      for (int64_t c = 0; c < s.c; ++c)
        out[(n * s.c + c) * sp + v] = x[(n * sp + v) * s.c + c];
  return out;
}

static double ndhwc_at(const double *y, segc_shape s, int64_t i) {
  // y is NCDHW; i indexes NDHWC storage.
  const int64_t sp = s.d * s.h * s.w;
  const int64_t c = i % s.c, v = i / s.c % sp, n = i / s.c / sp;
  return y[(n * s.c + c) * sp + v];
}

// Largest |got - want| over the largest |want|.
static double relative_error(const float *got, const double *want_ncdhw,
                             segc_shape s, const float *base) {
  double worst = 0.0, range = 0.0;
  for (int64_t i = 0; i < segc_shape_numel(s); ++i) {
    const double want = ndhwc_at(want_ncdhw, s, i) + (base ? base[i] : 0.0);
    worst = fmax(worst, fabs(got[i] - want));
    range = fmax(range, fabs(want));
  }
  return worst / range;
}

// dx = backward-data of dy for a 3x3x3 stride-1 padding-1 convolution, in
// double, NCDHW.
static void reference_backward_data(const wino_case *c, const double *dy,
                                    const double *w, double *dx) {
  const int64_t D = c->d, H = c->h, W = c->w;
  for (int64_t n = 0; n < c->n; ++n)
    for (int64_t ci = 0; ci < c->cin; ++ci)
      for (int64_t z = 0; z < D; ++z)
        for (int64_t y = 0; y < H; ++y)
          for (int64_t x = 0; x < W; ++x) {
            double s = 0.0;
            for (int64_t co = 0; co < c->cout; ++co)
              for (int kd = 0; kd < 3; ++kd)
                for (int kh = 0; kh < 3; ++kh)
                  for (int kw = 0; kw < 3; ++kw) {
                    // y[oz] reads x[oz + kd - 1]: oz = z - kd + 1.
                    const int64_t oz = z - kd + 1, oy = y - kh + 1,
                                  ox = x - kw + 1;
                    if (oz < 0 || oz >= D || oy < 0 || oy >= H || ox < 0 ||
                        ox >= W)
                      continue;
                    s += dy[(((n * c->cout + co) * D + oz) * H + oy) * W + ox] *
                         w[(((co * c->cin + ci) * 3 + kd) * 3 + kh) * 3 + kw];
                  }
            dx[(((n * c->cin + ci) * D + z) * H + y) * W + x] = s;
          }
}

// dw = dL/dw, db = dL/db of y = conv(x) for dL/dy = dy, in double, NCDHW.
static void reference_weight_grad(const wino_case *c, const double *x,
                                  const double *dy, double *dw, double *db) {
  const int64_t D = c->d, H = c->h, W = c->w;
  for (int64_t co = 0; co < c->cout; ++co) {
    db[co] = 0.0;
    for (int64_t n = 0; n < c->n; ++n)
      for (int64_t v = 0; v < D * H * W; ++v)
        db[co] += dy[(n * c->cout + co) * D * H * W + v];
    for (int64_t ci = 0; ci < c->cin; ++ci)
      for (int k = 0; k < 27; ++k) {
        const int kd = k / 9, kh = k / 3 % 3, kw = k % 3;
        double s = 0.0;
        for (int64_t n = 0; n < c->n; ++n)
          for (int64_t z = 0; z < D; ++z)
            for (int64_t y = 0; y < H; ++y)
              for (int64_t xx = 0; xx < W; ++xx) {
                const int64_t iz = z + kd - 1, iy = y + kh - 1,
                              ix = xx + kw - 1;
                if (iz < 0 || iz >= D || iy < 0 || iy >= H || ix < 0 || ix >= W)
                  continue;
                s += dy[(((n * c->cout + co) * D + z) * H + y) * W + xx] *
                     x[(((n * c->cin + ci) * D + iz) * H + iy) * W + ix];
              }
        dw[(co * c->cin + ci) * 27 + k] = s;
      }
  }
}

// Largest |got - base - want| over the largest |want|, plain arrays.
static double plain_error(const float *got, const float *base,
                          const double *want, int64_t n) {
  double worst = 0.0, range = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    worst = fmax(worst, fabs((double)got[i] - base[i] - want[i]));
    range = fmax(range, fabs(want[i]));
  }
  return worst / range;
}

static int run_case(segc_arena *scratch, const wino_case *c) {
  const segc_shape xs = {c->n, c->cin, c->d, c->h, c->w};
  const segc_shape ys = {c->n, c->cout, c->d, c->h, c->w};
  const int64_t nx = segc_shape_numel(xs), ny = segc_shape_numel(ys);
  const int64_t nw = c->cout * c->cin * 27;
  float *x = random_floats(nx, 11), *w = random_floats(nw, 12);
  float *b = random_floats(c->cout, 13), *dy = random_floats(ny, 14);
  float *base = random_floats(ny, 15);
  double *wd = malloc(sizeof(double) * (size_t)nw);
  double *bd = malloc(sizeof(double) * (size_t)c->cout);
  double *ref = malloc(sizeof(double) * (size_t)ny);
  double *dx_ref = malloc(sizeof(double) * (size_t)nx);
  float *u = malloc(sizeof(float) *
                    (size_t)conv3d_winograd_weight_floats(c->cin, c->cout));
  float *ub = malloc(sizeof(float) *
                     (size_t)conv3d_winograd_weight_floats(c->cout, c->cin));
  float *y = malloc(sizeof(float) * (size_t)ny);
  float *y1 = malloc(sizeof(float) * (size_t)ny);
  float *dx = malloc(sizeof(float) * (size_t)nx);
  if (!wd || !bd || !ref || !dx_ref || !u || !ub || !y || !y1 || !dx) abort();
  for (int64_t i = 0; i < nw; ++i) wd[i] = w[i];
  for (int64_t i = 0; i < c->cout; ++i) bd[i] = b[i];
  double *xd = to_ncdhw(x, xs), *dyd = to_ncdhw(dy, ys);
  const conv_case cc = {c->n, c->cin, c->cout, c->d, c->h,
                        c->w, 3,      1,       1,    c->bias};
  reference_conv(&cc, xd, wd, c->bias ? bd : NULL, ref);
  reference_backward_data(c, dyd, wd, dx_ref);

  char name[96];
  snprintf(name, sizeof name, "n%lld %lld->%lld %lldx%lldx%lld%s",
           (long long)c->n, (long long)c->cin, (long long)c->cout,
           (long long)c->d, (long long)c->h, (long long)c->w,
           c->bias ? " bias" : "");
  conv3d_winograd_transform_weights(w, c->cout, c->cin, false, u);
  conv3d_winograd_transform_weights(w, c->cout, c->cin, true, ub);

  segc_set_threads(2);
  CHECK_OK(conv3d_winograd_run(scratch, u, c->cin, c->cout, xs, x,
                               c->bias ? b : NULL, y, false));
  const double forward = relative_error(y, ref, ys, NULL);
  CHECK(forward < BOUND, "%s forward: error %.3g of the range (bound %g)", name,
        forward, BOUND);

  segc_set_threads(1);
  CHECK_OK(conv3d_winograd_run(scratch, u, c->cin, c->cout, xs, x,
                               c->bias ? b : NULL, y1, false));
  CHECK(!memcmp(y, y1, sizeof(float) * (size_t)ny),
        "%s forward: 1 and 2 threads give different bits", name);
  segc_set_threads(2);

  memcpy(y1, base, sizeof(float) * (size_t)ny);
  CHECK_OK(conv3d_winograd_run(scratch, u, c->cin, c->cout, xs, x,
                               c->bias ? b : NULL, y1, true));
  const double accumulated = relative_error(y1, ref, ys, base);
  CHECK(accumulated < BOUND, "%s forward +=: error %.3g (bound %g)", name,
        accumulated, BOUND);

  CHECK_OK(conv3d_winograd_run(scratch, ub, c->cout, c->cin, ys, dy, NULL, dx,
                               false));
  const double backward = relative_error(dx, dx_ref, xs, NULL);
  CHECK(backward < BOUND, "%s backward-data: error %.3g (bound %g)", name,
        backward, BOUND);

  // Backward-weights, added to gradients that hold values already.
  double *dw_ref = malloc(sizeof(double) * (size_t)nw);
  double *db_ref = malloc(sizeof(double) * (size_t)c->cout);
  float *dw = random_floats(nw, 16), *db = random_floats(c->cout, 17);
  float *dw_before = malloc(sizeof(float) * (size_t)nw);
  float *db_before = malloc(sizeof(float) * (size_t)c->cout);
  float *dw1 = malloc(sizeof(float) * (size_t)nw);
  if (!dw_ref || !db_ref || !dw_before || !db_before || !dw1) abort();
  memcpy(dw_before, dw, sizeof(float) * (size_t)nw);
  memcpy(db_before, db, sizeof(float) * (size_t)c->cout);
  reference_weight_grad(c, xd, dyd, dw_ref, db_ref);
  CHECK_OK(conv3d_winograd_weight_grad(scratch, xs, x, c->cout, dy, dw, db));
  const double weights = plain_error(dw, dw_before, dw_ref, nw);
  const double biases = plain_error(db, db_before, db_ref, c->cout);
  CHECK(weights < BOUND, "%s backward-weights: error %.3g (bound %g)", name,
        weights, BOUND);
  CHECK(biases < BOUND, "%s bias gradient: error %.3g (bound %g)", name, biases,
        BOUND);
  segc_set_threads(1);
  memcpy(dw1, dw_before, sizeof(float) * (size_t)nw);
  CHECK_OK(conv3d_winograd_weight_grad(scratch, xs, x, c->cout, dy, dw1, NULL));
  segc_set_threads(2);
  CHECK(!memcmp(dw, dw1, sizeof(float) * (size_t)nw),
        "%s backward-weights: 1 and 2 threads give different bits", name);
  printf(
      "  %-28s forward %.2e  backward-data %.2e  backward-weights %.2e "
      "of the range\n",
      name, forward, backward, weights);
  free(dw_ref), free(db_ref), free(dw), free(db), free(dw_before);
  free(db_before), free(dw1);

  free(x), free(w), free(b), free(dy), free(base), free(wd), free(bd);
  free(ref), free(dx_ref), free(u), free(ub), free(y), free(y1), free(dx);
  free(xd), free(dyd);
  return 0;
}

int main(void) {
  segc_arena scratch;
  CHECK_OK(
      segc_arena_init(&scratch, "scratch", (size_t)1 << 30, SEGC_DEVICE_CPU));
  const wino_case cases[] = {
      {1, 3, 5, 4, 5, 3, true},        // fewer channels than a panel
      {2, 16, 24, 7, 6, 5, true},      // batch 2, odd sizes, partial panel
      {1, 32, 32, 9, 8, 10, false},    // SegResNet's widths, several blocks
      {1, 1, 32, 6, 6, 6, true},       // one input channel (conv_init)
      {1, 40, 17, 5, 3, 1, false},     // a plane of width 1
      {1, 64, 256, 12, 10, 10, true},  // several blocks in every pass
  };
  const char *const isas[] = {"avx512", "avx2", "portable"};
  for (int k = 0; k < 3; ++k) {
    if (!conv3d_winograd_use_isa(isas[k])) {
      printf("winograd GEMM kernel %s: this CPU cannot run it, skipped\n",
             isas[k]);
      continue;
    }
    printf("winograd GEMM kernel %s:\n", conv3d_winograd_isa());
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i)
      if (run_case(&scratch, &cases[i])) return test_finish_failed();
  }
  conv3d_winograd_use_isa(NULL);
  segc_arena_destroy(&scratch);
  return test_finish("conv3d_winograd_kernels");
}
