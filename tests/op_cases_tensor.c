// The op table's runner for the tensor primitives of core/tensor_ops.h
// (scale, axpy, the fused unscale with its finite check, the first
// non-finite element, sum, reading one element) on a backend's tensors,
// against double references of the values the backend holds; then fill,
// zero, add, accumulate, copy/convert and the sum against the CPU kernels.
#include <math.h>
#include <string.h>

#include "core/tensor_ops.h"
#include "op_cases.h"
#include "util/test_util.h"

static void note_figure(op_report *r, const char *what, double value) {
  if (r->length < (int)sizeof r->text - 64)
    r->length += snprintf(r->text + r->length, sizeof r->text - r->length,
                          " %s %.2g", what, value);
}

// Random values in [lo, hi) as `dtype` holds them (f32 storage order).
static float *values_of(int64_t n, float lo, float hi, uint64_t stream,
                        segc_dtype dtype) {
  float *v = op_f32(n);
  test_fill_uniform(v, n, lo, hi, stream);
  if (dtype == SEGC_BF16)
    for (int64_t i = 0; i < n; ++i)
      v[i] = segc_bf16_to_f32(segc_f32_to_bf16(v[i]));
  return v;
}

// A tensor of the case's backend holding `values` converted to `dtype`.
static segc_status upload(op_env *env, const op_case *c, const float *values,
                          segc_tensor *out) {
  const int64_t n = segc_shape_numel(c->shape);
  void *converted = op_bytes(segc_dtype_size(c->dtype) * (size_t)n);
  segc_convert(values, SEGC_F32, converted, c->dtype, (size_t)n);
  return op_env_tensor(env, converted, c->shape, c->dtype, c->layout, out);
}

static void check_result(const char *label, const char *what, const float *got,
                         const double *ref, int64_t n, bool bf16,
                         op_report *rep) {
  const double e = op_forward_error(got, ref, n, bf16);
  CHECK(e <= 1.0, "%s: %s error %.3g of the tolerance", label, what, e);
  note_figure(rep, what, e);
}

// The tensor's bytes equal those of `cpu` (the same operations done by the
// CPU kernels on host memory).
static segc_status check_same_bytes(const char *label, const char *what,
                                    const segc_tensor *t,
                                    const segc_tensor *cpu) {
  const size_t bytes = segc_tensor_bytes(t);
  void *host = op_bytes(bytes);
  SEGC_TRY(segc_tensor_to_host(t, host, bytes));
  CHECK(bytes == segc_tensor_bytes(cpu) && memcmp(host, cpu->data, bytes) == 0,
        "%s: %s differs from the CPU's bytes", label, what);
  return SEGC_OK;
}

// A host (CPU) tensor holding `values` converted to the case's dtype.
static segc_tensor host_copy(const op_case *c, const float *values) {
  const int64_t n = segc_shape_numel(c->shape);
  void *data = op_bytes(segc_dtype_size(c->dtype) * (size_t)n);
  segc_convert(values, SEGC_F32, data, c->dtype, (size_t)n);
  return segc_tensor_view(data, c->shape, c->dtype, c->layout,
                          SEGC_DEVICE_CPU);
}

// fill, zero, add, accumulate, copy with a dtype and layout change, and the
// sum, each compared with the CPU doing the same on host copies: the
// elementwise results byte for byte, the sum to the bit (same chunks, same
// order).
static segc_status against_cpu(op_env *env, const op_case *c,
                               const char *label, const float *x,
                               const float *y) {
  segc_tensor tx, ty;
  SEGC_TRY(upload(env, c, x, &tx));
  SEGC_TRY(upload(env, c, y, &ty));
  segc_tensor hx = host_copy(c, x), hy = host_copy(c, y);
  double sum, cpu_sum;
  SEGC_TRY(segc_tensor_sum(&tx, &sum));
  SEGC_TRY(segc_tensor_sum(&hx, &cpu_sum));
  CHECK(memcmp(&sum, &cpu_sum, sizeof sum) == 0,
        "%s: sum %.17g, the CPU's %.17g", label, sum, cpu_sum);
  SEGC_TRY(segc_tensor_accumulate(&ty, &tx));
  SEGC_TRY(segc_tensor_accumulate(&hy, &hx));
  SEGC_TRY(check_same_bytes(label, "accumulate", &ty, &hy));
  SEGC_TRY(segc_tensor_add_scalar(&ty, -0.375f));
  SEGC_TRY(segc_tensor_add_scalar(&hy, -0.375f));
  SEGC_TRY(check_same_bytes(label, "add scalar", &ty, &hy));
  // Copy into the other layout and the other float dtype.
  const segc_layout other_layout = c->layout == SEGC_LAYOUT_NDHWC
                                       ? SEGC_LAYOUT_NCDHW
                                       : SEGC_LAYOUT_NDHWC;
  const segc_dtype other_dtype = c->dtype == SEGC_F32 ? SEGC_BF16 : SEGC_F32;
  segc_tensor tc, hc = segc_tensor_view(
                      op_bytes(segc_dtype_size(other_dtype) *
                               (size_t)segc_shape_numel(c->shape)),
                      c->shape, other_dtype, other_layout, SEGC_DEVICE_CPU);
  SEGC_TRY(segc_arena_tensor(&env->inputs, c->shape, other_dtype,
                             other_layout, &tc));
  SEGC_TRY(segc_tensor_copy(&ty, &tc));
  SEGC_TRY(segc_tensor_copy(&hy, &hc));
  SEGC_TRY(check_same_bytes(label, "copy/convert", &tc, &hc));
  SEGC_TRY(segc_tensor_fill(&tc, 1.0f / 3.0f));
  SEGC_TRY(segc_tensor_fill(&hc, 1.0f / 3.0f));
  SEGC_TRY(check_same_bytes(label, "fill", &tc, &hc));
  SEGC_TRY(segc_tensor_zero(&tc));
  SEGC_TRY(segc_tensor_zero(&hc));
  return check_same_bytes(label, "zero", &tc, &hc);
}

segc_status op_run_tensor_math(op_env *env, const op_case *c,
                               const char *label, op_report *rep) {
  const int64_t n = segc_shape_numel(c->shape);
  const bool bf16 = c->dtype == SEGC_BF16;
  const float *x = values_of(n, -3.0f, 3.0f, 21, c->dtype);
  const float *y = values_of(n, -3.0f, 3.0f, 22, c->dtype);
  segc_tensor tx, ty;
  SEGC_TRY(upload(env, c, x, &tx));
  SEGC_TRY(upload(env, c, y, &ty));
  float *got = op_f32(n);
  double *ref = op_f64(n);

  // Sum, in double over fixed chunks: rounding of the additions only.
  double sum, ref_sum = 0.0, magnitude = 0.0;
  SEGC_TRY(segc_tensor_sum(&tx, &sum));
  for (int64_t i = 0; i < n; ++i) {
    ref_sum += x[i];
    magnitude += fabs((double)x[i]);
  }
  const double sum_error = fabs(sum - ref_sum) / (1e-12 * magnitude + 1e-300);
  CHECK(sum_error <= 1.0, "%s: sum %.17g, reference %.17g", label, sum,
        ref_sum);
  note_figure(rep, "sum", sum_error);

  // One element read into host memory.
  float element;
  SEGC_TRY(segc_tensor_read_f32(&tx, n / 2, &element));
  CHECK(element == x[n / 2], "%s: element %lld read as %g, holds %g", label,
        (long long)(n / 2), (double)element, (double)x[n / 2]);

  // y += a x, then x *= s, then x *= 1/s with the finite check.
  const float alpha = -0.75f, factor = 3.5f;
  SEGC_TRY(segc_tensor_axpy(&ty, alpha, &tx));
  SEGC_TRY(op_read_f32(&ty, got));
  for (int64_t i = 0; i < n; ++i) ref[i] = y[i] + (double)alpha * x[i];
  check_result(label, "axpy", got, ref, n, bf16, rep);
  SEGC_TRY(segc_tensor_scale(&tx, factor));
  SEGC_TRY(op_read_f32(&tx, got));
  for (int64_t i = 0; i < n; ++i) ref[i] = (double)x[i] * factor;
  check_result(label, "scale", got, ref, n, bf16, rep);
  // The reference of the unscale starts from the scaled values as stored
  // (bf16 rounds them once already).
  const float inverse = 1.0f / factor;
  for (int64_t i = 0; i < n; ++i) ref[i] = (double)got[i] * inverse;
  bool finite = false;
  SEGC_TRY(segc_tensor_scale_all_finite(&tx, inverse, &finite));
  CHECK(finite, "%s: finite values reported not finite", label);
  SEGC_TRY(op_read_f32(&tx, got));
  check_result(label, "unscale", got, ref, n, bf16, rep);

  // An infinity and a NaN: the first of them is found.
  float *bad = op_f32(n);
  memcpy(bad, x, sizeof(float) * (size_t)n);
  const int64_t first_bad = n / 3;
  bad[first_bad] = INFINITY;
  bad[n - 1] = NAN;
  segc_tensor tb;
  SEGC_TRY(upload(env, c, bad, &tb));
  int64_t index;
  SEGC_TRY(segc_tensor_first_nonfinite(&tb, &index));
  CHECK(index == first_bad, "%s: first non-finite at %lld, wanted %lld",
        label, (long long)index, (long long)first_bad);
  SEGC_TRY(segc_tensors_all_finite(&tb, 1, &finite));
  CHECK(!finite, "%s: an infinity reported finite", label);
  return against_cpu(env, c, label, x, y);
}
