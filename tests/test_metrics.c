// Dice and normalized surface distance with MONAI's rules, against
// hand-computed cases and brute-force references written here; and on the
// shared TotalSegmentator label: itself (Dice 1) and a one-voxel shift.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/nifti_io.h"
#include "infer/metrics.h"
#include "util/test_util.h"

static segc_volume labels_of(const int64_t dim[3], const uint8_t *values) {
  segc_volume v;
  if (segc_volume_alloc(&v, SEGC_U8, dim) != SEGC_OK) abort();
  memcpy(v.data, values, (size_t)(dim[0] * dim[1] * dim[2]));
  return v;
}

static int test_hand_computed(void) {
  // 1x2x4 grid. Class 1: pred {0,1,2}, ref {1,2,3} -> 2*2/(3+3) = 2/3.
  // Class 2: pred {4}, ref {} -> NaN (absent from the reference).
  // Class 3: pred {}, ref {4,5} -> 0.
  const int64_t dim[3] = {1, 2, 4};
  const uint8_t p[8] = {1, 1, 1, 0, 2, 0, 0, 0};
  const uint8_t g[8] = {0, 1, 1, 1, 3, 3, 0, 0};
  segc_volume pv = labels_of(dim, p), gv = labels_of(dim, g);
  segc_case_metrics m;
  CHECK_OK(segc_metrics_compute(&pv, &gv, 4, 0.0, &m));
  CHECK(fabs(m.dice[1] - 2.0 / 3.0) < 1e-12, "dice[1] = %g", m.dice[1]);
  CHECK(isnan(m.dice[2]), "class absent from the reference is NaN");
  CHECK(m.dice[3] == 0.0, "missed class is 0");
  CHECK(fabs(segc_metrics_mean(m.dice, 4) - 1.0 / 3.0) < 1e-12,
        "mean skips NaN: %g", segc_metrics_mean(m.dice, 4));
  segc_metrics_free(&m);
  // Values beyond the class count and mismatched grids are errors.
  CHECK_FAILS(segc_metrics_compute(&pv, &gv, 3, 0.0, &m), SEGC_ERR_INVALID,
              "label value 3");
  // The message says which map holds the value (segeval names its file).
  CHECK_FAILS(segc_metrics_compute(&pv, &gv, 3, 0.0, &m), SEGC_ERR_INVALID,
              "reference");
  CHECK_FAILS(segc_metrics_compute(&gv, &pv, 3, 0.0, &m), SEGC_ERR_INVALID,
              "prediction");
  CHECK_FAILS(segc_metrics_check_classes(&gv, 3, "labels/x.nii.gz"),
              SEGC_ERR_INVALID, "labels/x.nii.gz: label value 3");
  CHECK(segc_metrics_check_classes(&gv, 4, "labels/x.nii.gz") == SEGC_OK,
        "values below the class count: %s", segc_error_message());
  segc_volume other;
  const int64_t dim2[3] = {1, 2, 5};
  CHECK_OK(segc_volume_alloc(&other, SEGC_U8, dim2));
  CHECK_FAILS(segc_metrics_compute(&pv, &other, 4, 0.0, &m), SEGC_ERR_INVALID,
              "different grids");
  segc_volume_free(&other);
  segc_volume_free(&pv);
  segc_volume_free(&gv);
  return 0;
}

static int test_distance_transform(void) {
  const int64_t dim[3] = {7, 9, 6};
  const double spacing[3] = {1.5, 0.8, 2.0};
  const int64_t n = dim[0] * dim[1] * dim[2];
  uint8_t *mask = calloc((size_t)n, 1);
  float *got = malloc(sizeof(float) * (size_t)n);
  float noise[7 * 9 * 6];
  test_fill_uniform(noise, n, 0.0f, 1.0f, 11);
  for (int64_t i = 0; i < n; ++i) mask[i] = noise[i] < 0.05f;
  CHECK_OK(segc_distance_transform(mask, dim, spacing, got));
  double worst = 0.0;
  for (int64_t i = 0; i < dim[0]; ++i)
    for (int64_t j = 0; j < dim[1]; ++j)
      for (int64_t k = 0; k < dim[2]; ++k) {
        double best = INFINITY;
        for (int64_t a = 0; a < dim[0]; ++a)
          for (int64_t b = 0; b < dim[1]; ++b)
            for (int64_t c = 0; c < dim[2]; ++c)
              if (mask[(a * dim[1] + b) * dim[2] + c]) {
                const double dx = (double)(a - i) * spacing[0];
                const double dy = (double)(b - j) * spacing[1];
                const double dz = (double)(c - k) * spacing[2];
                best = fmin(best, sqrt(dx * dx + dy * dy + dz * dz));
              }
        worst = fmax(worst, fabs(best - got[(i * dim[1] + j) * dim[2] + k]));
      }
  CHECK(worst < 1e-5, "distance transform vs brute force: %g", worst);
  memset(mask, 0, (size_t)n);
  CHECK_OK(segc_distance_transform(mask, dim, spacing, got));
  CHECK(isinf(got[0]), "no target: infinite distance");
  free(mask);
  free(got);
  return 0;
}

// Brute-force NSD of class c: edges by definition, distances by search.
static double brute_nsd(const uint8_t *p, const uint8_t *g, const int64_t dim[3],
                        const double sp[3], int c, double tol) {
  const int64_t n = dim[0] * dim[1] * dim[2];
  uint8_t *pe = calloc((size_t)n, 1), *ge = calloc((size_t)n, 1);
  const uint8_t *src[2] = {p, g};
  uint8_t *dst[2] = {pe, ge};
  for (int s = 0; s < 2; ++s)
    for (int64_t i = 0; i < dim[0]; ++i)
      for (int64_t j = 0; j < dim[1]; ++j)
        for (int64_t k = 0; k < dim[2]; ++k) {
          if (src[s][(i * dim[1] + j) * dim[2] + k] != c) continue;
          const int64_t d6[6][3] = {{-1, 0, 0}, {1, 0, 0}, {0, -1, 0},
                                    {0, 1, 0}, {0, 0, -1}, {0, 0, 1}};
          for (int t = 0; t < 6; ++t) {
            const int64_t a = i + d6[t][0], b = j + d6[t][1], e = k + d6[t][2];
            if (a < 0 || b < 0 || e < 0 || a >= dim[0] || b >= dim[1] ||
                e >= dim[2] || src[s][(a * dim[1] + b) * dim[2] + e] != c)
              dst[s][(i * dim[1] + j) * dim[2] + k] = 1;
          }
        }
  int64_t complete = 0, correct = 0;
  for (int s = 0; s < 2; ++s)
    for (int64_t v = 0; v < n; ++v) {
      if (!dst[s][v]) continue;
      complete++;
      const int64_t i = v / (dim[1] * dim[2]), j = (v / dim[2]) % dim[1],
                    k = v % dim[2];
      double best = INFINITY;
      for (int64_t w = 0; w < n; ++w) {
        if (!dst[1 - s][w]) continue;
        const double dx = (double)(w / (dim[1] * dim[2]) - i) * sp[0];
        const double dy = (double)((w / dim[2]) % dim[1] - j) * sp[1];
        const double dz = (double)(w % dim[2] - k) * sp[2];
        best = fmin(best, sqrt(dx * dx + dy * dy + dz * dz));
      }
      correct += best <= tol;
    }
  free(pe);
  free(ge);
  return complete ? (double)correct / (double)complete : NAN;
}

static int test_nsd(void) {
  // Two overlapping blobs of class 1 and a class 2 only in the prediction.
  const int64_t dim[3] = {10, 12, 9};
  const int64_t n = dim[0] * dim[1] * dim[2];
  uint8_t *p = calloc((size_t)n, 1), *g = calloc((size_t)n, 1);
  for (int64_t i = 0; i < dim[0]; ++i)
    for (int64_t j = 0; j < dim[1]; ++j)
      for (int64_t k = 0; k < dim[2]; ++k) {
        const int64_t v = (i * dim[1] + j) * dim[2] + k;
        const double r1 = (i - 4.0) * (i - 4.0) + (j - 5.0) * (j - 5.0) + (k - 4.0) * (k - 4.0);
        const double r2 = (i - 5.0) * (i - 5.0) + (j - 6.5) * (j - 6.5) + (k - 4.0) * (k - 4.0);
        if (r1 < 10.0) p[v] = 1;
        if (r2 < 12.0) g[v] = 1;
        if (i == 0 && j < 3) p[v] = 2;  // touches the border: edges there
      }
  segc_volume pv = labels_of(dim, p), gv = labels_of(dim, g);
  const double sp[3] = {1.2, 0.9, 2.5};
  for (int r = 0; r < 3; ++r) {
    pv.affine[r][r] = sp[r];
    gv.affine[r][r] = sp[r];
  }
  segc_case_metrics m;
  for (double tol = 0.5; tol < 4.0; tol += 1.1) {
    CHECK_OK(segc_metrics_compute(&pv, &gv, 3, tol, &m));
    const double want1 = brute_nsd(p, g, dim, sp, 1, tol);
    CHECK(fabs(m.nsd[1] - want1) < 1e-12, "nsd class 1 at %g mm: %g vs %g",
          tol, m.nsd[1], want1);
    CHECK(m.nsd[2] == 0.0, "class only in the prediction: NSD 0 (got %g)",
          m.nsd[2]);
    CHECK(isnan(m.nsd[0]), "background is not scored");
    segc_metrics_free(&m);
  }
  segc_volume_free(&pv);
  segc_volume_free(&gv);
  free(p);
  free(g);
  return 0;
}

static int test_shared_label(void) {
  const char *shared = test_shared_dir("metrics");
  if (!shared) return TEST_SKIP;
  segc_volume label;
  CHECK_OK(segc_nifti_read(test_path(shared, "data/example_ct_label104.nii.gz"),
                           &label, NULL));
  segc_case_metrics m;
  CHECK_OK(segc_metrics_compute(&label, &label, 105, 3.0, &m));
  int present = 0;
  for (int c = 1; c < 105; ++c) {
    if (isnan(m.dice[c])) continue;
    present++;
    CHECK(m.dice[c] == 1.0 && m.nsd[c] == 1.0, "self-agreement class %d", c);
  }
  CHECK(present == 59, "59 classes present (README), got %d", present);
  segc_metrics_free(&m);

  // Shift by one voxel along k; Dice per class counted directly here.
  segc_volume shifted;
  CHECK_OK(segc_volume_copy(&label, SEGC_U8, &shifted));
  const int64_t n0 = label.dim[0], n1 = label.dim[1], n2 = label.dim[2];
  const uint8_t *src = label.data;
  uint8_t *dst = shifted.data;
  for (int64_t i = 0; i < n0; ++i)
    for (int64_t j = 0; j < n1; ++j)
      for (int64_t k = 0; k < n2; ++k)
        dst[(i * n1 + j) * n2 + k] = k == 0 ? 0 : src[(i * n1 + j) * n2 + k - 1];
  CHECK_OK(segc_metrics_compute(&shifted, &label, 105, 0.0, &m));
  int checked = 0;
  for (int c = 1; c < 105; ++c) {
    int64_t both = 0, a = 0, b = 0;
    for (int64_t v = 0; v < n0 * n1 * n2; ++v) {
      a += dst[v] == c;
      b += src[v] == c;
      both += dst[v] == c && src[v] == c;
    }
    if (b == 0) {
      CHECK(isnan(m.dice[c]), "absent class %d NaN", c);
      continue;
    }
    const double want = 2.0 * (double)both / (double)(a + b);
    CHECK(fabs(m.dice[c] - want) < 1e-12, "shifted dice class %d: %g vs %g", c,
          m.dice[c], want);
    CHECK(m.dice[c] < 1.0, "a shift lowers Dice (class %d)", c);
    checked++;
  }
  printf("one-voxel shift: mean Dice %.4f over %d classes\n",
         segc_metrics_mean(m.dice, 105), checked);
  segc_metrics_free(&m);
  segc_volume_free(&shifted);
  segc_volume_free(&label);
  return 0;
}

int main(void) {
  test_hand_computed();
  test_distance_transform();
  test_nsd();
  test_shared_label();
  return test_finish("metrics");
}
