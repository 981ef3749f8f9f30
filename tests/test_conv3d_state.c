// conv3d state across calls: gradient accumulation (an input used twice,
// a caller-owned gradient, parameter gradients over two passes), results
// bitwise independent of the thread count (1 vs 2 and 3), the caches
// (prepared weights follow param->version; primitives are reused), and
// oneDNN's choice of fast kernels.
#include <omp.h>

#include "conv3d_test_support.h"

// Storage values of a tensor as floats.
static float *storage_floats(const segc_tensor *t) {
  const int64_t n = segc_tensor_numel(t);
  float *out = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
  for (int64_t i = 0; i < n; ++i)
    out[i] = segc_load_f32(t->data, t->dtype, (size_t)i);
  return out;
}

static bool same_bits(const void *a, const void *b, size_t bytes) {
  return memcmp(a, b, bytes) == 0;
}

// One training pass: x -> layers[k] (those in `use`) -> weighted sums ->
// backward. Returns x's gradient as floats; x_grad (if given) is a
// caller-owned gradient buffer of x's dtype that backward adds into.
static segc_status train_pass(fixture **layers, const float **r, int use,
                              void *x, segc_shape xs, segc_dtype dtype,
                              segc_dtype out_dtype, void *x_grad,
                              float **dx, float **y0) {
  graph.training = true;
  segc_value *xv, *ys[2], *loss;
  segc_tensor xt = segc_tensor_view(x, xs, dtype, SEGC_LAYOUT_NDHWC,
                                    SEGC_DEVICE_CPU);
  segc_tensor gt = xt;
  gt.data = x_grad;
  SEGC_TRY(segc_graph_wrap(&graph, xt, x_grad ? &gt : NULL, true, "x", &xv));
  int count = 0;
  const float *rs[2];
  for (int k = 0; k < 2; ++k) {
    if (!(use & (1 << k))) continue;
    SEGC_TRY(segc_conv3d_forward(&graph, &layers[k]->layer, xv, out_dtype,
                                 &ys[count]));
    rs[count++] = r[k];
  }
  if (y0) *y0 = storage_floats(&ys[0]->data);
  SEGC_TRY(op_seed_losses(&graph, count, ys, rs, &loss));
  for (int k = 0; k < count; ++k) segc_value_release(&graph, ys[k]);
  SEGC_TRY(segc_graph_backward(&graph, loss));
  if (dx) *dx = storage_floats(&xv->grad);
  segc_value_release(&graph, loss);
  segc_graph_reset(&graph);
  return SEGC_OK;
}

static float add_in(float a, float b, segc_dtype dtype) {
  const float s = a + b;
  return dtype == SEGC_BF16 ? segc_bf16_to_f32(segc_f32_to_bf16(s)) : s;
}

static int check_accumulation(segc_dtype dtype) {
  const bool bf16 = dtype == SEGC_BF16;
  const conv_case a = {2, 4, 6, 5, 4, 6, 3, 1, 1, true};
  const conv_case b = {2, 4, 3, 5, 4, 6, 1, 1, 0, false};
  const segc_shape xs = in_shape(&a);
  const int64_t nx = segc_shape_numel(xs);
  double *x = random_values(nx, 700, bf16);
  double *wa = random_values(weight_count(&a), 701, bf16);
  double *wb = random_values(weight_count(&b), 702, bf16);
  double *ba = random_values(a.cout, 703, false);
  double *ra = random_values(segc_shape_numel(out_shape(&a)), 704, bf16);
  double *rb = random_values(segc_shape_numel(out_shape(&b)), 705, bf16);
  void *xd = to_ndhwc(xs, x, dtype);
  float *rad = to_ndhwc(out_shape(&a), ra, SEGC_F32);
  float *rbd = to_ndhwc(out_shape(&b), rb, SEGC_F32);
  fixture fa, fb;
  CHECK_OK(fixture_init(&fa, &a, wa, ba));
  CHECK_OK(fixture_init(&fb, &b, wb, NULL));
  fixture *layers[2] = {&fa, &fb};
  const float *r[2] = {rad, rbd};
  float *dx_a, *dx_b, *dx_ab, *dx_owned;
  CHECK_OK(train_pass(layers, r, 1, xd, xs, dtype, dtype, NULL, &dx_a, NULL));
  const size_t wbytes = sizeof(float) * (size_t)weight_count(&a);
  float *grad_once = malloc(wbytes), *bias_once = malloc(sizeof(float) * 6);
  memcpy(grad_once, fa.weight.grad.data, wbytes);
  memcpy(bias_once, fa.bias.grad.data, sizeof(float) * 6);
  // Parameter gradients add up over passes: g + g is exact, so 2g bitwise.
  CHECK_OK(train_pass(layers, r, 1, xd, xs, dtype, dtype, NULL, NULL, NULL));
  int param_mismatch = 0;
  for (int64_t i = 0; i < weight_count(&a); ++i)
    param_mismatch += ((float *)fa.weight.grad.data)[i] != 2.0f * grad_once[i];
  for (int i = 0; i < 6; ++i)
    param_mismatch += ((float *)fa.bias.grad.data)[i] != 2.0f * bias_once[i];
  CHECK(param_mismatch == 0, "%s: %d parameter gradients are not twice the "
        "one-pass value after two passes", segc_dtype_name(dtype),
        param_mismatch);
  // x used twice: its gradient is the sum of both contributions (the second
  // one is computed aside and added, one rounding in x's dtype).
  CHECK_OK(train_pass(layers, r, 2, xd, xs, dtype, dtype, NULL, &dx_b, NULL));
  CHECK_OK(train_pass(layers, r, 3, xd, xs, dtype, dtype, NULL, &dx_ab, NULL));
  int sum_mismatch = 0, nonzero = 0;
  for (int64_t i = 0; i < nx; ++i) {
    sum_mismatch += dx_ab[i] != add_in(dx_a[i], dx_b[i], dtype);
    nonzero += dx_a[i] != 0.0f && dx_b[i] != 0.0f;
  }
  CHECK(sum_mismatch == 0 && nonzero > nx / 2,
        "%s: x used twice: %d of %lld gradients differ from the sum of both "
        "contributions (%d with both nonzero)", segc_dtype_name(dtype),
        sum_mismatch, (long long)nx, nonzero);
  // A caller-owned gradient already holds G: backward adds into it.
  double *g = random_values(nx, 706, bf16);
  void *gd = to_ndhwc(xs, g, dtype);
  CHECK_OK(train_pass(layers, r, 1, xd, xs, dtype, dtype, gd, NULL, NULL));
  segc_tensor owned = segc_tensor_view(gd, xs, dtype, SEGC_LAYOUT_NDHWC,
                                       SEGC_DEVICE_CPU);
  dx_owned = storage_floats(&owned);
  segc_tensor start = segc_tensor_view(to_ndhwc(xs, g, dtype), xs, dtype,
                                       SEGC_LAYOUT_NDHWC, SEGC_DEVICE_CPU);
  float *g_start = storage_floats(&start);
  int owned_mismatch = 0;
  for (int64_t i = 0; i < nx; ++i)
    owned_mismatch += dx_owned[i] != add_in(g_start[i], dx_a[i], dtype);
  CHECK(owned_mismatch == 0, "%s: %d caller-owned gradients are not G + dx",
        segc_dtype_name(dtype), owned_mismatch);
  fixture_destroy(&fa);
  fixture_destroy(&fb);
  free(x), free(wa), free(wb), free(ba), free(ra), free(rb), free(xd);
  free(rad), free(rbd), free(dx_a), free(dx_b), free(dx_ab), free(dx_owned);
  free(grad_once), free(bias_once), free(g), free(gd), free(start.data);
  free(g_start);
  return 0;
}

// Forward and backward with `threads` threads; everything copied out.
typedef struct {
  float *y, *dx, *dw, *db;
} pass_result;

static int run_with_threads(const conv_case *c, segc_dtype dtype,
                            segc_dtype out_dtype, int threads,
                            pass_result *out) {
  const bool bf16 = dtype == SEGC_BF16 || out_dtype == SEGC_BF16;
  segc_set_threads(threads);
  double *x = random_values(segc_shape_numel(in_shape(c)), 800, bf16);
  double *w = random_values(weight_count(c), 801, bf16);
  double *b = random_values(c->cout, 802, false);
  double *r = random_values(segc_shape_numel(out_shape(c)), 803, bf16);
  void *xd = to_ndhwc(in_shape(c), x, dtype);
  float *rd = to_ndhwc(out_shape(c), r, SEGC_F32);
  fixture f;
  CHECK_OK(fixture_init(&f, c, w, b));
  fixture *layers[2] = {&f, NULL};
  const float *rs[2] = {rd, NULL};
  CHECK_OK(train_pass(layers, rs, 1, xd, in_shape(c), dtype, out_dtype, NULL,
                      &out->dx, &out->y));
  out->dw = malloc(sizeof(float) * (size_t)weight_count(c));
  out->db = malloc(sizeof(float) * (size_t)c->cout);
  memcpy(out->dw, f.weight.grad.data, sizeof(float) * (size_t)weight_count(c));
  memcpy(out->db, f.bias.grad.data, sizeof(float) * (size_t)c->cout);
  fixture_destroy(&f);
  free(x), free(w), free(b), free(r), free(xd), free(rd);
  return 0;
}

static void free_result(pass_result *p) {
  free(p->y), free(p->dx), free(p->dw), free(p->db);
}

// Compares 1 thread with 2 and 3 bitwise; `strict` makes it a check (else
// the outcome is printed, to show what oneDNN alone does).
static int compare_threads(const conv_case *c, segc_dtype dtype,
                           segc_dtype out_dtype, bool strict) {
  pass_result one;
  if (run_with_threads(c, dtype, out_dtype, 1, &one)) return 1;
  char what[128];
  snprintf(what, sizeof what, "n%lld %lld->%lld %lldx%lldx%lld k%d s%d %s->%s",
           (long long)c->n, (long long)c->cin, (long long)c->cout,
           (long long)c->d, (long long)c->h, (long long)c->w, c->k, c->s,
           segc_dtype_name(dtype), segc_dtype_name(out_dtype));
  const size_t ny = (size_t)segc_shape_numel(out_shape(c));
  const size_t nx = (size_t)segc_shape_numel(in_shape(c));
  for (int threads = 2; threads <= (strict ? 3 : 2); ++threads) {
    pass_result other;
    if (run_with_threads(c, dtype, out_dtype, threads, &other)) return 1;
    const bool y_same = same_bits(one.y, other.y, ny * sizeof(float));
    const bool dx_same = same_bits(one.dx, other.dx, nx * sizeof(float));
    const bool dw_same = same_bits(one.dw, other.dw,
                                   sizeof(float) * (size_t)weight_count(c));
    const bool db_same =
        same_bits(one.db, other.db, sizeof(float) * (size_t)c->cout);
    if (strict) {
      CHECK(y_same && dx_same && dw_same && db_same,
            "%s: 1 vs %d threads differ: y %s, dx %s, weight grad %s, bias "
            "grad %s", what, threads, y_same ? "same" : "DIFFERS",
            dx_same ? "same" : "DIFFERS", dw_same ? "same" : "DIFFERS",
            db_same ? "same" : "DIFFERS");
    } else {
      printf("  oneDNN backward-weights in one call, %s: 1 vs 2 threads %s\n",
             what, dw_same && db_same ? "identical" : "differ");
    }
    free_result(&other);
  }
  free_result(&one);
  return 0;
}

// Naive weight and bias gradients of loss = sum(r * y), NCDHW in double.
static void reference_weight_grad(const conv_case *c, const double *x,
                                  const double *r, double *dw, double *db) {
  const segc_shape o = out_shape(c);
  const int k = c->k;
  memset(dw, 0, sizeof(double) * (size_t)weight_count(c));
  memset(db, 0, sizeof(double) * (size_t)c->cout);
  for (int64_t n = 0; n < c->n; ++n)
    for (int64_t co = 0; co < c->cout; ++co)
      for (int64_t z = 0; z < o.d; ++z)
        for (int64_t v = 0; v < o.h; ++v)
          for (int64_t u = 0; u < o.w; ++u) {
            const double g =
                r[(((n * c->cout + co) * o.d + z) * o.h + v) * o.w + u];
            db[co] += g;
            for (int64_t ci = 0; ci < c->cin; ++ci)
              for (int kz = 0; kz < k; ++kz)
                for (int ky = 0; ky < k; ++ky)
                  for (int kx = 0; kx < k; ++kx) {
                    const int64_t iz = z * c->s - c->p + kz;
                    const int64_t iy = v * c->s - c->p + ky;
                    const int64_t ix = u * c->s - c->p + kx;
                    if (iz < 0 || iz >= c->d || iy < 0 || iy >= c->h ||
                        ix < 0 || ix >= c->w)
                      continue;
                    dw[(((co * c->cin + ci) * k + kz) * k + ky) * k + kx] +=
                        g * x[(((n * c->cin + ci) * c->d + iz) * c->h + iy) *
                                  c->w + ix];
                  }
          }
}

// 256->256 weights take 7 MB: the partial-gradient budget allows 4 pieces,
// fewer than 5 samples, so each piece holds whole samples (2, 2, 1).
static int check_sample_pieces(void) {
  const conv_case c = {5, 256, 256, 3, 3, 3, 3, 1, 1, true};
  if (compare_threads(&c, SEGC_F32, SEGC_F32, true)) return 1;
  pass_result got;
  if (run_with_threads(&c, SEGC_F32, SEGC_F32, 2, &got)) return 1;
  // The same values run_with_threads draws.
  double *x = random_values(segc_shape_numel(in_shape(&c)), 800, false);
  double *r = random_values(segc_shape_numel(out_shape(&c)), 803, false);
  double *dw = malloc(sizeof(double) * (size_t)weight_count(&c));
  double *db = malloc(sizeof(double) * (size_t)c.cout);
  double *dw_got = malloc(sizeof(double) * (size_t)weight_count(&c));
  double *db_got = malloc(sizeof(double) * (size_t)c.cout);
  reference_weight_grad(&c, x, r, dw, db);
  for (int64_t i = 0; i < weight_count(&c); ++i) dw_got[i] = got.dw[i];
  for (int64_t i = 0; i < c.cout; ++i) db_got[i] = got.db[i];
  const double ew = worst_error(dw_got, dw, weight_count(&c), false);
  const double eb = worst_error(db_got, db, c.cout, false);
  CHECK(ew <= 1.0 && eb <= 1.0,
        "whole-sample pieces: weight grad %.3g, bias grad %.3g of the "
        "tolerance", ew, eb);
  free_result(&got);
  free(x), free(r), free(dw), free(db), free(dw_got), free(db_got);
  return 0;
}

static int check_caches(segc_dtype dtype) {
  const bool bf16 = dtype == SEGC_BF16;
  const conv_case c = {1, 8, 16, 6, 5, 7, 3, 1, 1, true};
  const segc_shape ys = out_shape(&c);
  const int64_t ny = segc_shape_numel(ys);
  double *x = random_values(segc_shape_numel(in_shape(&c)), 900, bf16);
  double *w = random_values(weight_count(&c), 901, bf16);
  double *b = random_values(c.cout, 902, false);
  void *xd = to_ndhwc(in_shape(&c), x, dtype);
  fixture f;
  CHECK_OK(fixture_init(&f, &c, w, b));
  graph.training = false;
  segc_value *xv, *yv;
  float *y[4];
  int cache_size[4];
  for (int pass = 0; pass < 4; ++pass) {
    if (pass == 2) {  // change the master without telling the layer
      float *wv = f.weight.value.data;
      for (int64_t i = 0; i < weight_count(&c); ++i) wv[i] *= 2.0f;
    }
    if (pass == 3) f.weight.version++;  // now tell it
    segc_tensor xt = segc_tensor_view(xd, in_shape(&c), dtype,
                                      SEGC_LAYOUT_NDHWC, SEGC_DEVICE_CPU);
    CHECK_OK(segc_graph_wrap(&graph, xt, NULL, false, "x", &xv));
    CHECK_OK(segc_conv3d_forward(&graph, &f.layer, xv, SEGC_F32, &yv));
    y[pass] = storage_floats(&yv->data);
    cache_size[pass] = segc_dnnl_cache_size(context.dnnl.primitives);
    segc_value_release(&graph, yv);
    segc_graph_reset(&graph);
  }
  const size_t bytes = sizeof(float) * (size_t)ny;
  CHECK(cache_size[1] == cache_size[0] && cache_size[3] == cache_size[0],
        "%s: primitive cache grew on repeated calls (%d, %d, %d)",
        segc_dtype_name(dtype), cache_size[0], cache_size[1], cache_size[3]);
  CHECK(same_bits(y[0], y[1], bytes), "%s: repeated forward differs",
        segc_dtype_name(dtype));
  // Contract: without a version bump the layer keeps its prepared copy.
  CHECK(same_bits(y[0], y[2], bytes),
        "%s: unchanged version must keep the cached weights",
        segc_dtype_name(dtype));
  // After the bump the output follows the doubled weights.
  for (int64_t i = 0; i < weight_count(&c); ++i) w[i] *= 2.0;
  double *ref = malloc(sizeof(double) * (size_t)ny);
  double *got = malloc(sizeof(double) * (size_t)ny);
  reference_conv(&c, x, w, b, ref);
  segc_tensor y3 = segc_tensor_view(y[3], ys, SEGC_F32, SEGC_LAYOUT_NDHWC,
                                    SEGC_DEVICE_CPU);
  from_ndhwc(&y3, got);
  const double e = worst_error(got, ref, ny, false);
  CHECK(e <= 1.0 && !same_bits(y[0], y[3], bytes),
        "%s: after a version bump the output must use the new weights "
        "(error %.3g of the tolerance)", segc_dtype_name(dtype), e);
  fixture_destroy(&f);
  for (int pass = 0; pass < 4; ++pass) free(y[pass]);
  free(x), free(w), free(b), free(xd), free(ref), free(got);
  return 0;
}

// oneDNN must pick its jit/brgconv kernels for the SegResNet kinds of
// convolution (f32, channels-last), not a reference or gemm fallback; the
// first backward-weights piece (front padding) is the one most at risk.
// Without AVX-512 oneDNN 2.x has no direct channels-last kernel for some of
// these passes and uses its jit gemm there: accepted on such CPUs, the
// reference kernel never.
static void check_fast_paths(void) {
  const bool avx512 = (dnnl_get_effective_cpu_isa() & dnnl_cpu_isa_avx512_core) ==
                      dnnl_cpu_isa_avx512_core;
  if (!avx512)
    printf("this CPU has no AVX-512: oneDNN's jit gemm is accepted, its "
           "reference kernels are not\n");
  static const conv_case shapes[] = {
      {1, 1, 32, 16, 16, 16, 3, 1, 1, false},
      {1, 32, 32, 16, 16, 16, 3, 1, 1, false},
      {1, 256, 256, 6, 6, 6, 3, 1, 1, false},
      {1, 32, 64, 16, 16, 16, 3, 2, 1, false},
      {2, 64, 32, 12, 12, 12, 1, 1, 0, false},
      {1, 32, 105, 16, 16, 16, 1, 1, 0, true},
  };
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; ++i) {
    const conv_case *c = &shapes[i];
    const segc_conv3d_config config = {c->cin, c->cout, c->k, c->s, c->p,
                                       c->bias};
    for (int pass = 0; pass < 3; ++pass) {
      if (pass == SEGC_CONV3D_BACKWARD_DATA && c->cin == 1) continue;
      const char *name = NULL;
      const segc_status status = segc_conv3d_impl_name(
          &context, &config, in_shape(c), SEGC_F32, SEGC_F32, (segc_conv3d_pass)pass,
          &name);
      CHECK(status == SEGC_OK && name && !strstr(name, "ref") &&
                (!strstr(name, "gemm") || (!avx512 && strstr(name, "gemm:jit"))),
            "%lld->%lld k%d s%d pass %d: oneDNN implementation '%s'",
            (long long)c->cin, (long long)c->cout, c->k, c->s, pass,
            name ? name : segc_error_message());
    }
  }
}

// Whether a case runs here: f32 cases always, bf16 ones where the CPU has
// bf16 convolutions.
static bool case_runs_here(segc_dtype in, segc_dtype out, bool bf16_available) {
  return bf16_available || (in != SEGC_BF16 && out != SEGC_BF16);
}

int main(void) {
  CHECK_OK(segc_arena_init(&activations, "activations", (size_t)256 << 20,
                           SEGC_DEVICE_CPU));
  CHECK_OK(segc_arena_init(&scratch, "scratch", (size_t)256 << 20,
                           SEGC_DEVICE_CPU));
  CHECK_OK(segc_backend_context_init(&context, SEGC_DEVICE_CPU, &scratch));
  CHECK_OK(segc_graph_init(&graph, &context, &activations, 1 << 20));
  const int default_threads = segc_threads();

  const bool bf16 = test_bf16_available("conv3d_state");
  if (check_accumulation(SEGC_F32) || (bf16 && check_accumulation(SEGC_BF16)))
    return 1;

  // SegResNet-like channel counts at small sizes, where oneDNN's own
  // backward-weights gives different bits with 1 and 2 threads.
  static const struct { conv_case c; segc_dtype in, out; } det[] = {
      {{1, 32, 32, 12, 12, 12, 3, 1, 1, false}, SEGC_BF16, SEGC_BF16},
      {{2, 32, 105, 8, 8, 8, 1, 1, 0, true}, SEGC_F32, SEGC_F32},
      {{2, 32, 105, 8, 8, 8, 1, 1, 0, true}, SEGC_BF16, SEGC_F32},
      {{1, 64, 32, 12, 12, 12, 1, 1, 0, false}, SEGC_F32, SEGC_F32},
      {{1, 32, 64, 12, 12, 12, 3, 2, 1, false}, SEGC_BF16, SEGC_BF16},
      {{1, 1, 32, 12, 12, 12, 3, 1, 1, false}, SEGC_F32, SEGC_F32},
      {{2, 16, 16, 7, 6, 5, 3, 1, 1, true}, SEGC_F32, SEGC_BF16},
  };
  const int det_count = (int)(sizeof det / sizeof det[0]);
  for (int i = 0; i < det_count; ++i)
    if (case_runs_here(det[i].in, det[i].out, bf16) &&
        compare_threads(&det[i].c, det[i].in, det[i].out, true))
      return 1;
  if (check_sample_pieces()) return 1;
  segc_conv3d_set_deterministic(false);
  printf("for comparison, without the fixed split:\n");
  for (int i = 0; i < det_count; ++i)
    if (case_runs_here(det[i].in, det[i].out, bf16) &&
        compare_threads(&det[i].c, det[i].in, det[i].out, false))
      return 1;
  segc_conv3d_set_deterministic(true);
  segc_set_threads(default_threads);

  if (check_caches(SEGC_F32) || (bf16 && check_caches(SEGC_BF16))) return 1;
  check_fast_paths();

  CHECK(scratch.live_bytes == 0, "scratch freed (%zu live)", scratch.live_bytes);
  segc_graph_destroy(&graph);
  segc_backend_context_destroy(&context);
  segc_arena_destroy(&activations);
  segc_arena_destroy(&scratch);
  return test_finish("conv3d_state");
}
