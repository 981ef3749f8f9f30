// Shared by the conv3d tests: layout conversions, a layer fixture over double
// weights and the tolerance check (the naive convolution is in
// util/op_reference.c; util/op_harness.h's op_seed_losses seeds y's
// gradient).
// Tolerances (scale = max |reference| of the tensor compared):
// - f32: |got - ref| <= 1e-5 * scale. Each output sums at most a few hundred
//   f32 products; rounding stays near 1e-7 relative, 1e-5 leaves margin and
//   still catches any wrong tap (which costs ~1e-2 of the scale or more).
// - bf16: inputs and weights are drawn as bf16 values, so the reference sees
//   exactly what oneDNN sees; products are exact in f32 and accumulate in
//   f32 (1e-5 * scale as above). A bf16 output adds one rounding to 8
//   significant bits, at most 2^-8 relative (reached in practice): the bound
//   is 2^-8 * |ref| + 1e-5 * scale.
#ifndef SEGC_TESTS_CONV3D_TEST_SUPPORT_H
#define SEGC_TESTS_CONV3D_TEST_SUPPORT_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/gradcheck.h"
#include "core/dnnl_context.h"
#include "core/parallel.h"
#include "layers/conv3d.h"
#include "util/op_harness.h"
#include "util/op_reference.h"
#include "util/test_util.h"

#define F32_TOL 1e-5
#define BF16_OUT_TOL (1.0 / 256.0)

static inline int64_t out_size(const conv_case *c, int64_t size) {
  return (size + 2 * c->p - c->k) / c->s + 1;
}
static inline segc_shape in_shape(const conv_case *c) {
  return segc_shape5(c->n, c->cin, c->d, c->h, c->w);
}
static inline segc_shape out_shape(const conv_case *c) {
  return segc_shape5(c->n, c->cout, out_size(c, c->d), out_size(c, c->h),
                     out_size(c, c->w));
}
static inline int64_t weight_count(const conv_case *c) {
  return c->cout * c->cin * c->k * c->k * c->k;
}

static inline double bf16_round(double v) {
  return segc_bf16_to_f32(segc_f32_to_bf16((float)v));
}

// Random values in [-1, 1), rounded to bf16 when `as_bf16`.
static inline double *random_values(int64_t n, uint64_t stream, bool as_bf16) {
  double *v = malloc(sizeof(double) * (size_t)n);
  test_fill_uniform_f64(v, n, -1.0, 1.0, stream);
  if (as_bf16)
    for (int64_t i = 0; i < n; ++i) v[i] = bf16_round(v[i]);
  return v;
}

// A tensor in NDHWC storage of `dtype` from / to an NCDHW double array.
static inline void *to_ndhwc(segc_shape s, const double *ncdhw, segc_dtype dtype) {
  void *out = malloc((size_t)segc_shape_numel(s) * segc_dtype_size(dtype));
  segc_tensor t = segc_tensor_view(out, s, dtype, SEGC_LAYOUT_NDHWC,
                                   SEGC_DEVICE_CPU);
  segc_tensor logical = segc_tensor_view(NULL, s, dtype, SEGC_LAYOUT_NCDHW,
                                         SEGC_DEVICE_CPU);
  for (int64_t n = 0; n < s.n; ++n)
    for (int64_t c = 0; c < s.c; ++c)
      for (int64_t z = 0; z < s.d; ++z)
        for (int64_t y = 0; y < s.h; ++y)
          for (int64_t x = 0; x < s.w; ++x)
            segc_store_f32(out, dtype,
                           (size_t)segc_tensor_offset(&t, n, c, z, y, x),
                           (float)ncdhw[segc_tensor_offset(&logical, n, c, z, y, x)]);
  return out;
}

static inline void from_ndhwc(const segc_tensor *t, double *ncdhw) {
  segc_tensor logical = *t;
  logical.layout = SEGC_LAYOUT_NCDHW;
  const segc_shape s = t->shape;
  for (int64_t n = 0; n < s.n; ++n)
    for (int64_t c = 0; c < s.c; ++c)
      for (int64_t z = 0; z < s.d; ++z)
        for (int64_t y = 0; y < s.h; ++y)
          for (int64_t x = 0; x < s.w; ++x)
            ncdhw[segc_tensor_offset(&logical, n, c, z, y, x)] = segc_load_f32(
                t->data, t->dtype, (size_t)segc_tensor_offset(t, n, c, z, y, x));
}

// A layer over weights (and bias) given in double, with zeroed gradients.
typedef struct {
  segc_param weight, bias;
  segc_conv3d layer;
} fixture;

static inline segc_status fixture_init(fixture *f, const conv_case *c,
                                const double *w, const double *b) {
  memset(f, 0, sizeof *f);
  const segc_shape ws = segc_shape5(c->cout, c->cin, c->k, c->k, c->k);
  const segc_shape bs = segc_shape5(1, c->cout, 1, 1, 1);
  float *wv = malloc(sizeof(float) * (size_t)weight_count(c));
  float *wg = calloc((size_t)weight_count(c), sizeof(float));
  float *bv = malloc(sizeof(float) * (size_t)c->cout);
  float *bg = calloc((size_t)c->cout, sizeof(float));
  for (int64_t i = 0; i < weight_count(c); ++i) wv[i] = (float)w[i];
  for (int64_t i = 0; i < c->cout; ++i) bv[i] = b ? (float)b[i] : 0.0f;
  strcpy(f->weight.name, "conv.weight");
  strcpy(f->bias.name, "conv.bias");
  f->weight.value = segc_tensor_view(wv, ws, SEGC_F32, SEGC_LAYOUT_NCDHW,
                                     SEGC_DEVICE_CPU);
  f->weight.grad = f->weight.value;
  f->weight.grad.data = wg;
  f->bias.value = segc_tensor_view(bv, bs, SEGC_F32, SEGC_LAYOUT_NCDHW,
                                   SEGC_DEVICE_CPU);
  f->bias.grad = f->bias.value;
  f->bias.grad.data = bg;
  const segc_conv3d_config config = {c->cin, c->cout, c->k, c->s, c->p,
                                     c->bias};
  return segc_conv3d_init(&f->layer, &config, &f->weight,
                          c->bias ? &f->bias : NULL);
}

static inline void fixture_destroy(fixture *f) {
  segc_conv3d_destroy(&f->layer);
  free(f->weight.value.data);
  free(f->weight.grad.data);
  free(f->bias.value.data);
  free(f->bias.grad.data);
}

// Largest |got - ref| relative to the allowed error (<= 1 passes).
static inline double worst_error(const double *got, const double *ref, int64_t n,
                          bool bf16_out) {
  double scale = 1e-30, worst = 0.0;
  for (int64_t i = 0; i < n; ++i) scale = fmax(scale, fabs(ref[i]));
  for (int64_t i = 0; i < n; ++i) {
    const double allowed =
        F32_TOL * scale + (bf16_out ? BF16_OUT_TOL * fabs(ref[i]) : 0.0);
    const double e = fabs(got[i] - ref[i]) / allowed;
    if (!(e <= worst)) worst = e;  // NaN propagates as a failure
  }
  return worst;
}

static segc_arena activations, scratch;
static segc_backend_context context;  // over `scratch`
static segc_graph graph;

// Wraps host data as a graph input (no gradient buffer of its own).
static inline segc_status wrap_input(void *data, segc_shape s, segc_dtype dtype,
                              bool requires_grad, segc_value **out) {
  return segc_graph_wrap(&graph, segc_tensor_view(data, s, dtype,
                                                  SEGC_LAYOUT_NDHWC,
                                                  SEGC_DEVICE_CPU),
                         NULL, requires_grad, "x", out);
}

#endif
