// NormalizeIntensity, ScaleIntensity, GaussianSmooth and the crops on small
// synthetic volumes, against naive double-precision references written here.
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "data/crop.h"
#include "data/intensity.h"
#include "util/test_util.h"

static segc_status random_volume(const int64_t dim[3], uint64_t stream,
                                 float zero_fraction, segc_volume *v) {
  SEGC_TRY(segc_volume_alloc(v, SEGC_F32, dim));
  float *x = v->data;
  const int64_t n = segc_volume_numel(v);
  test_fill_uniform(x, n, -300.0f, 900.0f, stream);
  for (int64_t i = 0; i < n; ++i)
    if (segc_rng_uniform(7, segc_rng_stream(SEGC_RNG_TEST, stream, 1), (uint64_t)i) <
        zero_fraction)
      x[i] = 0.0f;
  return SEGC_OK;
}

static int test_normalize(void) {
  const int64_t dim[3] = {17, 23, 29};
  segc_volume v;
  CHECK_OK(random_volume(dim, 1, 0.3f, &v));
  const int64_t n = segc_volume_numel(&v);
  float *before = malloc(sizeof(float) * (size_t)n);
  memcpy(before, v.data, sizeof(float) * (size_t)n);
  double sum = 0.0, squares = 0.0;
  int64_t count = 0;
  for (int64_t i = 0; i < n; ++i)
    if (before[i] != 0.0f) {
      sum += before[i];
      ++count;
    }
  const double mean = sum / (double)count;
  for (int64_t i = 0; i < n; ++i)
    if (before[i] != 0.0f) squares += (before[i] - mean) * (before[i] - mean);
  const double std = sqrt(squares / (double)count);
  segc_normalize_stats stats;
  CHECK_OK(segc_normalize_nonzero(&v, &stats));
  CHECK(stats.count == count, "count %lld vs %lld", (long long)stats.count,
        (long long)count);
  CHECK(fabs(stats.mean - mean) <= 1e-6 * fabs(mean) &&
            fabs(stats.std - std) <= 1e-6 * std,
        "mean %g std %g, expected %g %g", stats.mean, stats.std, mean, std);
  double worst = 0.0;
  int zeros_changed = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (before[i] == 0.0f) {
      zeros_changed += ((float *)v.data)[i] != 0.0f;
      continue;
    }
    worst = fmax(worst, fabs(((float *)v.data)[i] - (before[i] - mean) / std));
  }
  // float32 arithmetic on values of a few units: 1e-6 covers the rounding of
  // the f32 mean and std and of the two operations.
  CHECK(worst < 1e-6 && zeros_changed == 0, "normalize: max error %g, %d zeros changed",
        worst, zeros_changed);
  // std == 0: MONAI divides by 1, so every nonzero voxel becomes v - mean = 0.
  for (int64_t i = 0; i < n; ++i) ((float *)v.data)[i] = before[i] != 0.0f ? 5.0f : 0.0f;
  CHECK_OK(segc_normalize_nonzero(&v, &stats));
  CHECK(stats.std == 1.0f && stats.mean == 5.0f, "std 0 divides by 1");
  bool all_zero = true;
  for (int64_t i = 0; i < n; ++i) all_zero = all_zero && ((float *)v.data)[i] == 0.0f;
  CHECK(all_zero, "constant nonzero part becomes 0");
  memset(v.data, 0, sizeof(float) * (size_t)n);
  CHECK_OK(segc_normalize_nonzero(&v, &stats));
  CHECK(stats.count == 0, "all-zero volume left alone");
  segc_volume ints;
  CHECK_OK(segc_volume_alloc(&ints, SEGC_I16, dim));
  CHECK_FAILS(segc_normalize_nonzero(&ints, NULL), SEGC_ERR_UNSUPPORTED, "float32");
  // 1 vs 2 threads, bitwise (fixed chunks combined in order).
  segc_volume one, two;
  const int64_t big[3] = {40, 50, 61};  // several reduction chunks
  CHECK_OK(random_volume(big, 4, 0.1f, &one));
  CHECK_OK(segc_volume_copy(&one, SEGC_F32, &two));
  omp_set_num_threads(1);
  CHECK_OK(segc_normalize_nonzero(&one, NULL));
  omp_set_num_threads(2);
  CHECK_OK(segc_normalize_nonzero(&two, NULL));
  CHECK(!memcmp(one.data, two.data, sizeof(float) * 40 * 50 * 61), "normalize threads");
  segc_volume_free(&one);
  segc_volume_free(&two);
  segc_volume_free(&ints);
  segc_volume_free(&v);
  free(before);
  return 0;
}

static int test_scale(void) {
  const int64_t dim[3] = {9, 31, 12};
  segc_volume v;
  CHECK_OK(random_volume(dim, 2, 0.0f, &v));
  const int64_t n = segc_volume_numel(&v);
  const float *x = v.data;
  double lo = INFINITY, hi = -INFINITY;
  for (int64_t i = 0; i < n; ++i) {
    lo = fmin(lo, x[i]);
    hi = fmax(hi, x[i]);
  }
  double *expect = malloc(sizeof(double) * (size_t)n);
  for (int64_t i = 0; i < n; ++i) expect[i] = (x[i] - lo) / (hi - lo) * 2.0 - 1.0;
  float range[2];
  CHECK_OK(segc_scale_intensity(&v, -1.0, 1.0, range));
  CHECK(range[0] == (float)lo && range[1] == (float)hi, "range");
  // float32 results in [-1, 1]: 3 operations, a few ulp of 1.
  CHECK(test_max_abs_diff(v.data, expect, n) < 5e-7, "scale error %g",
        test_max_abs_diff(v.data, expect, n));
  // max == min: MONAI returns v * minv.
  for (int64_t i = 0; i < n; ++i) ((float *)v.data)[i] = 3.0f;
  CHECK_OK(segc_scale_intensity(&v, -1.0, 1.0, NULL));
  CHECK(((float *)v.data)[0] == -3.0f && ((float *)v.data)[n - 1] == -3.0f,
        "constant volume times minv");
  free(expect);
  segc_volume_free(&v);
  return 0;
}

static int test_gaussian(void) {
  // Kernel against the erf formula in double.
  float taps[64];
  const int count = segc_gaussian_kernel(0.4, taps, 64);
  CHECK(count == 5, "sigma 0.4 gives 5 taps (tail 2), got %d", count);
  for (int t = 0; t < count; ++t) {
    const double x = t - count / 2, s = 0.4 * sqrt(2.0);
    const double expect = 0.5 * (erf((x + 0.5) / s) - erf((x - 0.5) / s));
    CHECK(fabs(taps[t] - expect) < 1e-6, "tap %d: %g vs %g", t, taps[t], expect);
  }
  CHECK(segc_gaussian_kernel(2.0, taps, 64) == 17, "sigma 2: tail 8");
  CHECK(segc_gaussian_kernel(0.1, taps, 64) == 3, "tiny sigma keeps tail 1");

  const int64_t dim[3] = {11, 9, 14};
  const double sigma[3] = {0.4, 1.1, 0.7};
  segc_volume v;
  CHECK_OK(random_volume(dim, 3, 0.2f, &v));
  const int64_t n = segc_volume_numel(&v);
  float *in = malloc(sizeof(float) * (size_t)n);
  memcpy(in, v.data, sizeof(float) * (size_t)n);
  // Direct 3D convolution with the product kernel, zero outside the volume.
  float kernel[3][64];
  int size[3];
  for (int a = 0; a < 3; ++a) size[a] = segc_gaussian_kernel(sigma[a], kernel[a], 64);
  double *expect = malloc(sizeof(double) * (size_t)n);
  for (int64_t i = 0; i < dim[0]; ++i)
    for (int64_t j = 0; j < dim[1]; ++j)
      for (int64_t k = 0; k < dim[2]; ++k) {
        double s = 0.0;
        for (int a = 0; a < size[0]; ++a)
          for (int b = 0; b < size[1]; ++b)
            for (int c = 0; c < size[2]; ++c) {
              const int64_t p = i + a - size[0] / 2, q = j + b - size[1] / 2,
                            r = k + c - size[2] / 2;
              if (p < 0 || q < 0 || r < 0 || p >= dim[0] || q >= dim[1] || r >= dim[2])
                continue;
              s += (double)kernel[0][a] * kernel[1][b] * kernel[2][c] *
                   in[(p * dim[1] + q) * dim[2] + r];
            }
        expect[(i * dim[1] + j) * dim[2] + k] = s;
      }
  CHECK_OK(segc_gaussian_smooth(&v, sigma));
  // Values up to 900 kept in float32 between the 3 passes: ~1e-4 absolute.
  CHECK(test_max_abs_diff(v.data, expect, n) < 3e-4, "gaussian vs direct: %g",
        test_max_abs_diff(v.data, expect, n));
  // 1 vs 2 threads, bitwise.
  segc_volume w;
  CHECK_OK(segc_volume_copy(&v, SEGC_F32, &w));
  memcpy(v.data, in, sizeof(float) * (size_t)n);
  memcpy(w.data, in, sizeof(float) * (size_t)n);
  omp_set_num_threads(1);
  CHECK_OK(segc_gaussian_smooth(&v, sigma));
  omp_set_num_threads(2);
  CHECK_OK(segc_gaussian_smooth(&w, sigma));
  CHECK(!memcmp(v.data, w.data, sizeof(float) * (size_t)n), "gaussian threads");
  CHECK_FAILS(segc_gaussian_smooth(&v, (double[3]){0.4, 0.0, 1.0}), SEGC_ERR_INVALID,
              "sigma[1]");
  CHECK_FAILS(segc_gaussian_smooth(&v, (double[3]){0.4, 200.0, 1.0}), SEGC_ERR_INVALID,
              "taps");
  free(expect);
  free(in);
  segc_volume_free(&v);
  segc_volume_free(&w);
  return 0;
}

static int test_foreground_crop(void) {
  const int64_t dim[3] = {20, 30, 40};
  segc_volume v;
  CHECK_OK(segc_volume_alloc(&v, SEGC_F32, dim));
  for (int64_t i = 0; i < segc_volume_numel(&v); ++i) ((float *)v.data)[i] = -1.0f;
  // Foreground: i 5..8, j 0..3, k 30..39 (value > 0; 0 and negatives are not).
  for (int64_t i = 5; i <= 8; ++i)
    for (int64_t j = 0; j <= 3; ++j)
      for (int64_t k = 30; k <= 39; ++k)
        ((float *)v.data)[segc_volume_offset(&v, i, j, k)] = (float)(i + j + k);
  ((float *)v.data)[segc_volume_offset(&v, 0, 29, 0)] = 0.0f;
  for (int r = 0; r < 3; ++r) {
    v.affine[r][r] = 1.5;
    v.affine[r][3] = 10.0 * r - 7.0;
  }
  segc_box box;
  // margin 2, k (8, 8, 16), allow_smaller:
  //   i: [3, 11) size 8, already divisible;
  //   j: [0, 6) (clamped) size 6 -> 8, start 0 - 1 = -1, end 7;
  //   k: [28, 40) (clamped) size 12 -> 16, start 28 - 2 = 26, end 42.
  CHECK_OK(segc_foreground_box(&v, (int64_t[3]){2, 2, 2}, (int64_t[3]){8, 8, 16},
                               true, &box));
  const int64_t expect[6] = {3, -1, 26, 11, 7, 42};
  for (int a = 0; a < 3; ++a)
    CHECK(box.start[a] == expect[a] && box.end[a] == expect[a + 3],
          "axis %d: box %lld..%lld, expected %lld..%lld", a, (long long)box.start[a],
          (long long)box.end[a], (long long)expect[a], (long long)expect[a + 3]);
  // Without allow_smaller the margin may leave the image: j [-2, 6) size 8.
  segc_box loose;
  CHECK_OK(segc_foreground_box(&v, (int64_t[3]){2, 2, 2}, (int64_t[3]){1, 1, 1}, false,
                               &loose));
  CHECK(loose.start[1] == -2 && loose.end[1] == 6 && loose.end[2] == 42, "no clamp");

  segc_volume crop, back;
  CHECK_OK(segc_crop_box(&v, &box, &crop));
  CHECK(crop.dim[0] == 8 && crop.dim[1] == 8 && crop.dim[2] == 16, "crop dims");
  int bad = 0;
  for (int64_t i = 0; i < crop.dim[0]; ++i)
    for (int64_t j = 0; j < crop.dim[1]; ++j)
      for (int64_t k = 0; k < crop.dim[2]; ++k) {
        const int64_t p = i + box.start[0], q = j + box.start[1], r = k + box.start[2];
        const bool inside = p >= 0 && q >= 0 && r >= 0 && p < dim[0] && q < dim[1] &&
                            r < dim[2];
        const float want = inside ? ((float *)v.data)[segc_volume_offset(&v, p, q, r)] : 0.0f;
        bad += ((float *)crop.data)[segc_volume_offset(&crop, i, j, k)] != want;
      }
  CHECK(bad == 0, "crop voxels: %d wrong", bad);
  // Voxel 0 of the crop sits at world affine @ start.
  for (int r = 0; r < 3; ++r) {
    const double world = 1.5 * (double)box.start[r] + (10.0 * r - 7.0);
    CHECK(fabs(crop.affine[r][3] - world) < 1e-12, "crop origin axis %d", r);
  }
  CHECK_OK(segc_uncrop_box(&crop, &box, dim, v.affine, &back));
  bad = 0;
  for (int64_t i = 0; i < dim[0]; ++i)
    for (int64_t j = 0; j < dim[1]; ++j)
      for (int64_t k = 0; k < dim[2]; ++k) {
        const bool in_box = i >= box.start[0] && i < box.end[0] && j >= box.start[1] &&
                            j < box.end[1] && k >= box.start[2] && k < box.end[2];
        const float want = in_box ? ((float *)v.data)[segc_volume_offset(&v, i, j, k)] : 0.0f;
        bad += ((float *)back.data)[segc_volume_offset(&back, i, j, k)] != want;
      }
  CHECK(bad == 0, "uncrop voxels: %d wrong", bad);
  for (int64_t i = 0; i < segc_volume_numel(&v); ++i) ((float *)v.data)[i] = 0.0f;
  CHECK_FAILS(segc_foreground_box(&v, (int64_t[3]){0, 0, 0}, (int64_t[3]){1, 1, 1}, true,
                                  &box),
              SEGC_ERR_INVALID, "no voxel > 0");
  CHECK_FAILS(segc_foreground_box(&v, (int64_t[3]){0, -1, 0}, (int64_t[3]){1, 1, 1}, true,
                                  &box),
              SEGC_ERR_INVALID, "margin[1]");
  segc_volume_free(&crop);
  segc_volume_free(&back);
  segc_volume_free(&v);
  return 0;
}

static int test_center_and_random_crops(void) {
  segc_box box;
  // centre 243 // 2 = 121, start 121 - 80 = 41; an axis of 96 < 160 stays whole.
  CHECK_OK(segc_center_crop_box((int64_t[3]){243, 96, 161}, (int64_t[3]){160, 160, 160},
                                &box));
  CHECK(box.start[0] == 41 && box.end[0] == 201, "centre crop axis 0");
  CHECK(box.start[1] == 0 && box.end[1] == 96, "short axis kept whole");
  CHECK(box.start[2] == 0 && box.end[2] == 160, "161: start 80 - 80 = 0");
  // Random crop: starts uniform over 0 .. dim - roi, a pure function of
  // (seed, stream).
  const int64_t dim[3] = {100, 96, 101}, roi[3] = {96, 96, 96};
  int64_t histogram[5] = {0};
  for (uint64_t s = 0; s < 5000; ++s) {
    CHECK_OK(segc_rand_crop_box(dim, roi, 123, segc_rng_stream(SEGC_RNG_CROP, s, 0), &box));
    CHECK(box.start[0] >= 0 && box.start[0] <= 4 && box.end[0] - box.start[0] == 96,
          "axis 0 start %lld", (long long)box.start[0]);
    CHECK(box.start[1] == 0 && box.end[1] == 96, "no choice on axis 1");
    CHECK(box.start[2] >= 0 && box.start[2] <= 5, "axis 2 start");
    histogram[box.start[0]]++;
  }
  // 5000 draws over 5 starts: 1000 each, binomial sd ~28; 5 sd of slack.
  for (int b = 0; b < 5; ++b)
    CHECK(llabs(histogram[b] - 1000) < 140, "start %d drawn %lld times", b,
          (long long)histogram[b]);
  segc_box again;
  CHECK_OK(segc_rand_crop_box(dim, roi, 123, segc_rng_stream(SEGC_RNG_CROP, 7, 0), &box));
  CHECK_OK(segc_rand_crop_box(dim, roi, 123, segc_rng_stream(SEGC_RNG_CROP, 7, 0), &again));
  CHECK(!memcmp(&box, &again, sizeof box), "same stream, same crop");
  // Smaller than roi: the whole axis (RandSpatialCrop never pads).
  CHECK_OK(segc_rand_crop_box((int64_t[3]){50, 96, 96}, roi, 1, 2, &box));
  CHECK(box.start[0] == 0 && box.end[0] == 50, "short axis whole");
  return 0;
}

int main(void) {
  test_normalize();
  test_scale();
  test_gaussian();
  test_foreground_crop();
  test_center_and_random_crops();
  return test_finish("transforms_intensity");
}
