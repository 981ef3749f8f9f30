// The device-aware tensor primitives of core/tensor_ops.h that the trainer,
// the tape and AdamW use: scale, axpy, the finite checks, the fused
// unscale-and-check, sum, and reading a tensor into host memory. Each is
// checked against a double-precision reference in f32, bf16 and f16 where
// it takes them, on sizes above the parallel threshold; the reductions
// (sum, the finite checks) must give the same bits for 1, 2, 3 and 8
// threads; and every refusal is one line naming the primitive (a device
// without kernels, mismatched tensors, a missing result, too small a host
// buffer, an index out of range). (fill, add_scalar and accumulate are in
// test_core.c.)
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/parallel.h"
#include "core/tensor_ops.h"
#include "train/adamw.h"
#include "util/test_util.h"

// Above the kernels' parallel threshold (65536), and not a whole number of
// reduction chunks.
enum { N = 300007 };

static const int thread_counts[] = {1, 2, 3, 8};
enum { THREAD_COUNTS = sizeof thread_counts / sizeof thread_counts[0] };

static segc_tensor flat(void *data, int64_t n, segc_dtype dtype) {
  return segc_tensor_view(data, segc_shape5(1, 1, 1, 1, n), dtype,
                          SEGC_LAYOUT_NCDHW, SEGC_DEVICE_CPU);
}

// A tensor of `dtype` holding x[0..n) converted, in malloc'd memory.
static void *converted(const float *x, int64_t n, segc_dtype dtype) {
  void *out = malloc(segc_dtype_size(dtype) * (size_t)n);
  if (out) segc_convert(x, SEGC_F32, out, dtype, (size_t)n);
  return out;
}

// The relative rounding of a result stored in `dtype` (half a unit in the
// last place), plus the f32 arithmetic before it.
static double dtype_tolerance(segc_dtype dtype) {
  switch (dtype) {
    case SEGC_BF16:
      return 1.0 / 256.0;
    case SEGC_F16:
      return 1.0 / 2048.0;
    default:
      return 2.0 / 16777216.0;
  }
}

// Largest |got[i] - ref[i]| / (size[i] tolerance + tiny); <= 1 passes.
// size[i] is the magnitude of the terms (|ref[i]| when size is NULL): a sum
// that cancels keeps the rounding of its terms.
static double error_ratio(const void *got, segc_dtype dtype, const double *ref,
                          const double *size, int64_t n) {
  double worst = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double g = segc_load_f32(got, dtype, (size_t)i);
    const double magnitude = size ? size[i] : fabs(ref[i]);
    // f16 results below 2^-14 are subnormal: half a step is 2^-25 there.
    const double floor = dtype == SEGC_F16 ? ldexp(1.0, -25) : 1e-30;
    const double allowed = magnitude * dtype_tolerance(dtype) + floor;
    const double ratio = fabs(g - ref[i]) / allowed;
    if (!(ratio <= worst)) worst = ratio;  // NaN counts as the worst
  }
  return worst;
}

static const segc_dtype float_dtypes[] = {SEGC_F32, SEGC_BF16, SEGC_F16};

// t *= s and y += a x against the double reference, in every float dtype;
// x and y are values of the dtype, so the reference sees what the kernel
// sees.
static int test_scale_axpy(void) {
  float *x = malloc(sizeof(float) * N), *y = malloc(sizeof(float) * N);
  double *ref = malloc(sizeof(double) * N), *size = malloc(sizeof(double) * N);
  CHECK(x && y && ref && size, "no memory");
  for (int d = 0; d < 3 && x && y && ref && size; ++d) {
    const segc_dtype dtype = float_dtypes[d];
    test_fill_uniform(x, N, -4.0f, 4.0f, 11);
    test_fill_uniform(y, N, -4.0f, 4.0f, 12);
    void *xd = converted(x, N, dtype), *yd = converted(y, N, dtype);
    CHECK(xd && yd, "no memory");
    if (!xd || !yd) {
      free(xd);
      free(yd);
      break;
    }
    segc_convert(xd, dtype, x, SEGC_F32, N);  // the values the kernel sees
    segc_convert(yd, dtype, y, SEGC_F32, N);
    segc_tensor tx = flat(xd, N, dtype), ty = flat(yd, N, dtype);

    const float factor = -0.3f;
    CHECK_OK(segc_tensor_scale(&tx, factor));
    for (int64_t i = 0; i < N; ++i) ref[i] = (double)x[i] * factor;
    double e = error_ratio(xd, dtype, ref, NULL, N);
    CHECK(e <= 1.0, "scale %s: error %.3g of the tolerance",
          segc_dtype_name(dtype), e);

    const float alpha = 1.7f;
    segc_convert(x, SEGC_F32, xd, dtype, N);  // x again
    CHECK_OK(segc_tensor_axpy(&ty, alpha, &tx));
    for (int64_t i = 0; i < N; ++i) {
      ref[i] = y[i] + (double)alpha * x[i];
      size[i] = fabs((double)y[i]) + fabs((double)alpha * x[i]);
    }
    e = error_ratio(yd, dtype, ref, size, N);
    CHECK(e <= 1.0, "axpy %s: error %.3g of the tolerance",
          segc_dtype_name(dtype), e);
    if (dtype == SEGC_F32) {  // the product rounded to f32, then the add
      int64_t differ = 0;
      for (int64_t i = 0; i < N; ++i) {
        const float product = alpha * x[i];
        differ += ((const float *)yd)[i] != y[i] + product;
      }
      CHECK(differ == 0, "axpy f32: %lld elements differ from y + (a x)",
            (long long)differ);
    }
    free(xd);
    free(yd);
  }
  free(x);
  free(y);
  free(ref);
  free(size);
  return 0;
}

// Where the bad values go, in storage order: two in different chunks (the
// first must win whatever thread gets the later chunk first), the last
// element, and infinities and NaN.
static int test_finite_checks(void) {
  float *x = malloc(sizeof(float) * N);
  CHECK(x != NULL, "no memory");
  if (!x) return 1;
  test_fill_uniform(x, N, -1e30f, 1e30f, 13);
  segc_tensor t = flat(x, N, SEGC_F32);
  bool finite = false;
  int64_t index = -1;
  CHECK_OK(segc_tensor_first_nonfinite(&t, &index));
  CHECK(index == N, "all finite: first non-finite %lld", (long long)index);
  CHECK_OK(segc_tensors_all_finite(&t, 1, &finite));
  CHECK(finite, "all finite reported as not");

  const int64_t late = N - 1, early = 5 * 4096 + 17, middle = N / 2;
  const float bad[] = {INFINITY, -INFINITY, NAN};
  for (int k = 0; k < 3; ++k) {
    x[late] = bad[k];
    CHECK_OK(segc_tensor_first_nonfinite(&t, &index));
    CHECK(index == late, "%g at %lld found at %lld", (double)bad[k],
          (long long)late, (long long)index);
  }
  x[middle] = NAN;
  x[early] = -INFINITY;
  for (int k = 0; k < THREAD_COUNTS; ++k) {
    segc_set_threads(thread_counts[k]);
    CHECK_OK(segc_tensor_first_nonfinite(&t, &index));
    CHECK(index == early, "%d threads: first non-finite %lld, wanted %lld",
          thread_counts[k], (long long)index, (long long)early);
    CHECK_OK(segc_tensors_all_finite(&t, 1, &finite));
    CHECK(!finite, "%d threads: -inf and NaN reported finite",
          thread_counts[k]);
  }
  segc_set_threads(2);

  // Several tensors at once: only the last one holds the infinity.
  float clean[3] = {1.0f, -2.0f, 3.0f}, dirty[2] = {0.5f, INFINITY};
  const segc_tensor several[3] = {flat(clean, 3, SEGC_F32),
                                  flat(clean, 2, SEGC_F32),
                                  flat(dirty, 2, SEGC_F32)};
  CHECK_OK(segc_tensors_all_finite(several, 2, &finite));
  CHECK(finite, "two finite tensors reported not finite");
  CHECK_OK(segc_tensors_all_finite(several, 3, &finite));
  CHECK(!finite, "an infinity in the third tensor went unseen");
  CHECK_OK(segc_tensors_all_finite(several, 0, &finite));
  CHECK(finite, "no tensors: not all finite");

  // bf16 and f16 infinities and NaN; integers are always finite.
  const float half_values[4] = {1.0f, 65504.0f, INFINITY, NAN};
  for (int d = 1; d < 3; ++d) {
    void *h = converted(half_values, 4, float_dtypes[d]);
    CHECK(h != NULL, "no memory");
    if (!h) continue;
    segc_tensor th = flat(h, 4, float_dtypes[d]);
    CHECK_OK(segc_tensor_first_nonfinite(&th, &index));
    CHECK(index == 2, "%s: first non-finite %lld, wanted 2",
          segc_dtype_name(float_dtypes[d]), (long long)index);
    free(h);
  }
  int32_t integers[3] = {0, INT32_MAX, INT32_MIN};
  segc_tensor ti = flat(integers, 3, SEGC_I32);
  CHECK_OK(segc_tensor_first_nonfinite(&ti, &index));
  CHECK(index == 3, "i32: first non-finite %lld", (long long)index);
  free(x);
  return 0;
}

// The fused unscale: the same values as segc_tensor_scale, and whether a
// result overflowed or was not finite to begin with.
static int test_scale_all_finite(void) {
  float *x = malloc(sizeof(float) * N), *copy = malloc(sizeof(float) * N);
  CHECK(x && copy, "no memory");
  if (!x || !copy) {
    free(x);
    free(copy);
    return 1;
  }
  test_fill_uniform(x, N, -1e3f, 1e3f, 14);
  memcpy(copy, x, sizeof(float) * N);
  segc_tensor t = flat(x, N, SEGC_F32), c = flat(copy, N, SEGC_F32);
  bool finite = false;
  const float inverse = 1.0f / 65536.0f;
  CHECK_OK(segc_tensor_scale_all_finite(&t, inverse, &finite));
  CHECK_OK(segc_tensor_scale(&c, inverse));
  CHECK(finite, "finite gradients reported not finite");
  CHECK(memcmp(x, copy, sizeof(float) * N) == 0,
        "unscaled values differ from segc_tensor_scale's");
  x[N - 3] = 3e38f;  // overflows when scaled by 10
  CHECK_OK(segc_tensor_scale_all_finite(&t, 10.0f, &finite));
  CHECK(!finite, "an overflow to infinity went unseen");
  CHECK(isinf(x[N - 3]), "the overflowed element is %g", (double)x[N - 3]);
  x[N - 3] = NAN;
  CHECK_OK(segc_tensor_scale_all_finite(&t, 1.0f, &finite));
  CHECK(!finite, "a NaN went unseen");
  free(x);
  free(copy);
  return 0;
}

// The sum against a double reference (compensated), the same bits as
// segc_sum_f32 for f32, and the same bits for every thread count.
static int test_sum(void) {
  // More than 256 reduction chunks (the kernel's group of partial sums).
  const int64_t n = 256 * 4096 * 2 + 3 * 4096 + 17;
  float *x = malloc(sizeof(float) * (size_t)n);
  CHECK(x != NULL, "no memory");
  if (!x) return 1;
  // Magnitudes from 2^-20 to 2^20, so that the order of the additions
  // changes the rounding (values of one binade would sum exactly in double).
  test_fill_uniform(x, n, -1.0f, 3.0f, 15);
  for (int64_t i = 0; i < n; ++i) x[i] = ldexpf(x[i], (int)(i * 7919 % 41) - 20);
  double ref = 0.0, carry = 0.0, magnitude = 0.0;
  for (int64_t i = 0; i < n; ++i) {  // Kahan: ~1e-16 relative
    const double term = (double)x[i] - carry, next = ref + term;
    carry = (next - ref) - term;
    ref = next;
    magnitude += fabs((double)x[i]);
  }
  segc_tensor t = flat(x, n, SEGC_F32);
  double sums[THREAD_COUNTS];
  for (int k = 0; k < THREAD_COUNTS; ++k) {
    segc_set_threads(thread_counts[k]);
    CHECK_OK(segc_tensor_sum(&t, &sums[k]));
    CHECK(memcmp(&sums[k], &sums[0], sizeof sums[0]) == 0,
          "sum with %d threads %.17g, with 1: %.17g", thread_counts[k],
          sums[k], sums[0]);
  }
  segc_set_threads(2);
  CHECK(fabs(sums[0] - ref) <= 1e-12 * magnitude,
        "sum %.17g, reference %.17g", sums[0], ref);
  const double by_chunks = segc_sum_f32(x, n);
  CHECK(memcmp(&sums[0], &by_chunks, sizeof by_chunks) == 0,
        "sum %.17g, segc_sum_f32 %.17g", sums[0], by_chunks);

  // bf16 and u8 through f32; an empty tensor sums to 0.
  segc_bf16 h[3] = {segc_f32_to_bf16(1.5f), segc_f32_to_bf16(-0.25f),
                    segc_f32_to_bf16(1024.0f)};
  uint8_t bytes[4] = {1, 2, 250, 7};
  double s = 0.0;
  segc_tensor th = flat(h, 3, SEGC_BF16), tb = flat(bytes, 4, SEGC_U8);
  CHECK_OK(segc_tensor_sum(&th, &s));
  CHECK(s == 1025.25, "bf16 sum %.17g", s);
  CHECK_OK(segc_tensor_sum(&tb, &s));
  CHECK(s == 260.0, "u8 sum %.17g", s);
  segc_tensor empty = flat(NULL, 0, SEGC_F32);
  CHECK_OK(segc_tensor_sum(&empty, &s));
  CHECK(s == 0.0, "empty sum %.17g", s);
  free(x);
  return 0;
}

// Reading a tensor, or one element of it, into host memory.
static int test_read(void) {
  float values[5] = {0.5f, -2.0f, 3.25f, 1e-3f, 7.0f};
  segc_bf16 h[2] = {segc_f32_to_bf16(-1.5f), segc_f32_to_bf16(96.0f)};
  segc_tensor t = flat(values, 5, SEGC_F32), th = flat(h, 2, SEGC_BF16);
  float value = 0.0f, host[5] = {0};
  for (int i = 0; i < 5; ++i) {
    CHECK_OK(segc_tensor_read_f32(&t, i, &value));
    CHECK(value == values[i], "element %d read as %g, is %g", i,
          (double)value, (double)values[i]);
  }
  CHECK_OK(segc_tensor_read_f32(&th, 1, &value));
  CHECK(value == 96.0f, "bf16 element 1 read as %g", (double)value);
  CHECK_OK(segc_tensor_to_host(&t, host, sizeof host));
  CHECK(memcmp(host, values, sizeof host) == 0, "the copy differs");
  CHECK_FAILS(segc_tensor_to_host(&t, host, sizeof host - 1), SEGC_ERR_INVALID,
              "tensor read: 19 bytes of host memory for a tensor of 20");
  CHECK_FAILS(segc_tensor_read_f32(&t, 5, &value), SEGC_ERR_INVALID,
              "tensor read: element 5 of a tensor of 5");
  CHECK_FAILS(segc_tensor_read_f32(&t, -1, &value), SEGC_ERR_INVALID,
              "element -1");
  return 0;
}

// The refusals: a device this build has no kernels for (through the backend
// table, naming the primitive, the device and the dtype), mismatched
// tensors, missing results and data.
static int test_refusals(void) {
  float a[4] = {1, 2, 3, 4}, b[4] = {1, 1, 1, 1};
  segc_tensor ta = flat(a, 4, SEGC_F32), tb = flat(b, 4, SEGC_F32);
  segc_tensor on_gpu = ta;
  on_gpu.device = SEGC_DEVICE_CUDA;
  bool finite;
  int64_t index;
  double sum;
  float value;
#ifdef SEGC_HAVE_CUDA
  // A CUDA build has these kernels (core/tensor_ops_cuda.cu): refused are
  // the dtypes they do not handle. (The data is host memory: nothing may
  // reach a kernel.)
  segc_tensor u8_on_gpu = on_gpu;
  u8_on_gpu.dtype = SEGC_U8;
  CHECK_FAILS(segc_tensor_scale(&u8_on_gpu, 2.0f), SEGC_ERR_UNSUPPORTED,
              "tensor scale: no cuda kernel for u8 in this build");
  CHECK_FAILS(segc_tensor_axpy(&u8_on_gpu, 1.0f, &u8_on_gpu),
              SEGC_ERR_UNSUPPORTED,
              "tensor axpy: no cuda kernel for u8 in this build");
  CHECK_FAILS(segc_tensor_axpy(&ta, 1.0f, &on_gpu), SEGC_ERR_INVALID,
              "tensor axpy: the tensors differ in layout or device");
  (void)finite, (void)index, (void)sum, (void)value;
#else
  CHECK_FAILS(segc_tensor_scale(&on_gpu, 2.0f), SEGC_ERR_UNSUPPORTED,
              "tensor scale: no cuda kernel for f32 in this build");
  CHECK_FAILS(segc_tensor_axpy(&ta, 1.0f, &on_gpu), SEGC_ERR_UNSUPPORTED,
              "tensor axpy: no cuda kernel for f32 in this build");
  CHECK_FAILS(segc_tensors_all_finite(&on_gpu, 1, &finite),
              SEGC_ERR_UNSUPPORTED, "tensor finite: no cuda kernel for f32");
  CHECK_FAILS(segc_tensor_first_nonfinite(&on_gpu, &index),
              SEGC_ERR_UNSUPPORTED, "tensor finite: no cuda kernel for f32");
  CHECK_FAILS(segc_tensor_scale_all_finite(&on_gpu, 0.5f, &finite),
              SEGC_ERR_UNSUPPORTED, "tensor scale: no cuda kernel for f32");
  CHECK_FAILS(segc_tensor_sum(&on_gpu, &sum), SEGC_ERR_UNSUPPORTED,
              "tensor sum: no cuda kernel for f32 in this build");
  CHECK_FAILS(segc_tensor_read_f32(&on_gpu, 0, &value), SEGC_ERR_UNSUPPORTED,
              "tensor read: no cuda kernel for f32 in this build");
#endif
  CHECK(a[0] == 1.0f && a[3] == 4.0f, "a refused call changed the data");

  uint8_t bytes[4] = {0};
  segc_tensor tu = flat(bytes, 4, SEGC_U8);
  CHECK_FAILS(segc_tensor_scale(&tu, 2.0f), SEGC_ERR_UNSUPPORTED,
              "tensor scale: no cpu kernel for u8 in this build");

  segc_tensor shorter = flat(b, 3, SEGC_F32);
  CHECK_FAILS(segc_tensor_axpy(&ta, 1.0f, &shorter), SEGC_ERR_INVALID,
              "tensor axpy");
  segc_tensor other_layout = tb;
  other_layout.layout = SEGC_LAYOUT_NDHWC;
  CHECK_FAILS(segc_tensor_axpy(&ta, 1.0f, &other_layout), SEGC_ERR_INVALID,
              "tensor axpy: the tensors differ in layout or device");
  segc_tensor no_data = flat(NULL, 4, SEGC_F32);
  CHECK_FAILS(segc_tensor_scale(&no_data, 2.0f), SEGC_ERR_INVALID,
              "tensor scale: the tensor has no data");
  CHECK_FAILS(segc_tensor_sum(&ta, NULL), SEGC_ERR_INVALID,
              "tensor sum: NULL result");
  CHECK_FAILS(segc_tensors_all_finite(&ta, -1, &finite), SEGC_ERR_INVALID,
              "tensor finite");
  CHECK_FAILS(segc_tensor_first_nonfinite(&ta, NULL), SEGC_ERR_INVALID,
              "tensor finite: NULL result");

  // AdamW asks the same table for the optimizer's device.
  segc_adamw opt;
  const segc_adamw_config config = segc_adamw_default();
#ifndef SEGC_HAVE_CUDA
  CHECK_FAILS(segc_adamw_init_on(&opt, &config, a, b, 4, SEGC_DEVICE_CUDA),
              SEGC_ERR_UNSUPPORTED, "adamw: no cuda kernel for f32");
#else
  (void)opt, (void)config;
#endif
  return 0;
}

int main(void) {
  segc_set_threads(2);
  test_scale_axpy();
  test_finite_checks();
  test_scale_all_finite();
  test_sum();
  test_read();
  test_refusals();
  return test_finish("tensor_ops");
}
