#include "infer/metrics.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

void segc_metrics_free(segc_case_metrics *m) {
  free(m->pred_count);
  free(m->ref_count);
  free(m->overlap);
  free(m->dice);
  free(m->nsd);
  memset(m, 0, sizeof *m);
}

double segc_metrics_mean(const double *values, int classes) {
  double sum = 0.0;
  int n = 0;
  for (int c = 1; c < classes; ++c) {
    if (isnan(values[c])) continue;
    sum += values[c];
    n++;
  }
  return n ? sum / n : NAN;
}

// One axis of the squared distance transform (Felzenszwalb & Huttenlocher):
// f holds squared distances along the line; the lower envelope of the
// parabolas (x - q)^2 * step^2 + f(q) gives the new squared distances.
static double parabola_cross(const double *f, double step2, int64_t q,
                             int64_t p) {
  return ((f[q] + step2 * (double)q * (double)q) -
          (f[p] + step2 * (double)p * (double)p)) /
         (2.0 * step2 * (double)(q - p));
}

static void edt_line(const double *f, int64_t n, double step2, double *d,
                     int64_t *v, double *z) {
  int64_t k = -1;
  for (int64_t q = 0; q < n; ++q) {
    if (isinf(f[q])) continue;  // no target here: never a nearest point
    if (k < 0) {
      k = 0;
      v[0] = q;
      z[0] = -INFINITY;
      z[1] = INFINITY;
      continue;
    }
    double s = parabola_cross(f, step2, q, v[k]);
    while (s <= z[k]) {  // z[0] is -inf, so k stays >= 0
      --k;
      s = parabola_cross(f, step2, q, v[k]);
    }
    ++k;
    v[k] = q;
    z[k] = s;
    z[k + 1] = INFINITY;
  }
  if (k < 0) {
    for (int64_t q = 0; q < n; ++q) d[q] = INFINITY;
    return;
  }
  int64_t j = 0;
  for (int64_t q = 0; q < n; ++q) {
    while (z[j + 1] < (double)q) ++j;
    const double diff = (double)(q - v[j]);
    d[q] = step2 * diff * diff + f[v[j]];
  }
}

segc_status segc_distance_transform(const uint8_t *target,
                                    const int64_t dim[3],
                                    const double spacing[3], float *out) {
  const int64_t n0 = dim[0], n1 = dim[1], n2 = dim[2];
  const int64_t total = n0 * n1 * n2;
  double *sq = malloc(sizeof(double) * (size_t)total);
  if (!sq) return SEGC_FAIL(SEGC_ERR_NOMEM, "distance transform: out of memory");
  for (int64_t i = 0; i < total; ++i) sq[i] = target[i] ? 0.0 : INFINITY;
  const int64_t longest = n0 > n1 ? (n0 > n2 ? n0 : n2) : (n1 > n2 ? n1 : n2);
  segc_status status = SEGC_OK;
  // Pass a runs over axis 2, then 1, then 0; lines are independent.
  for (int axis = 2; axis >= 0 && status == SEGC_OK; --axis) {
    const int64_t len = dim[axis];
    const int64_t stride = axis == 2 ? 1 : (axis == 1 ? n2 : n1 * n2);
    const int64_t lines = total / len;
    const double step2 = spacing[axis] * spacing[axis];
#pragma omp parallel
    {
      double *f = malloc(sizeof(double) * (size_t)longest);
      double *d = malloc(sizeof(double) * (size_t)longest);
      int64_t *v = malloc(sizeof(int64_t) * (size_t)longest);
      double *z = malloc(sizeof(double) * (size_t)(longest + 1));
      if (!f || !d || !v || !z) {
#pragma omp critical
        status = SEGC_FAIL(SEGC_ERR_NOMEM, "distance transform: out of memory");
      } else {
#pragma omp for schedule(static)
        for (int64_t line = 0; line < lines; ++line) {
          // The line's first element: index with the axis coordinate zero.
          int64_t base;
          if (axis == 2) base = line * n2;
          else if (axis == 1) base = (line / n2) * n1 * n2 + line % n2;
          else base = line;
          for (int64_t q = 0; q < len; ++q) f[q] = sq[base + q * stride];
          edt_line(f, len, step2, d, v, z);
          for (int64_t q = 0; q < len; ++q) sq[base + q * stride] = d[q];
        }
      }
      free(f);
      free(d);
      free(v);
      free(z);
    }
  }
  if (status == SEGC_OK)
    for (int64_t i = 0; i < total; ++i) out[i] = (float)sqrt(sq[i]);
  free(sq);
  return status;
}

// Edge voxels of class c inside the box: mask minus its 6-neighbour erosion,
// with everything outside the image as background.
static void class_edges(const uint8_t *labels, const int64_t dim[3], int c,
                        const int64_t lo[3], const int64_t box[3],
                        uint8_t *edges) {
  const int64_t n1 = dim[1], n2 = dim[2];
#pragma omp parallel for schedule(static)
  for (int64_t a = 0; a < box[0]; ++a)
    for (int64_t b = 0; b < box[1]; ++b)
      for (int64_t e = 0; e < box[2]; ++e) {
        const int64_t i = lo[0] + a, j = lo[1] + b, k = lo[2] + e;
        uint8_t edge = 0;
        const bool inside = i >= 0 && i < dim[0] && j >= 0 && j < dim[1] &&
                            k >= 0 && k < dim[2];
        if (inside && labels[(i * n1 + j) * n2 + k] == c) {
          const int64_t nb[6][3] = {{i - 1, j, k}, {i + 1, j, k}, {i, j - 1, k},
                                    {i, j + 1, k}, {i, j, k - 1}, {i, j, k + 1}};
          for (int t = 0; t < 6 && !edge; ++t) {
            const int64_t *p = nb[t];
            if (p[0] < 0 || p[0] >= dim[0] || p[1] < 0 || p[1] >= dim[1] ||
                p[2] < 0 || p[2] >= dim[2] ||
                labels[(p[0] * n1 + p[1]) * n2 + p[2]] != c)
              edge = 1;
          }
        }
        edges[(a * box[1] + b) * box[2] + e] = edge;
      }
}

// NSD of class c within the union bounding box of both masks (plus 1 voxel).
static segc_status class_nsd(const segc_volume *pred, const segc_volume *ref,
                             int c, const int64_t lo_in[3],
                             const int64_t hi_in[3], const double spacing[3],
                             double tolerance, double *nsd) {
  int64_t lo[3], box[3];
  for (int a = 0; a < 3; ++a) {
    lo[a] = lo_in[a] - 1;
    box[a] = hi_in[a] - lo_in[a] + 3;
  }
  const int64_t n = box[0] * box[1] * box[2];
  uint8_t *pe = malloc((size_t)n), *re = malloc((size_t)n);
  float *dist_to_ref = malloc(sizeof(float) * (size_t)n);
  float *dist_to_pred = malloc(sizeof(float) * (size_t)n);
  segc_status status = SEGC_OK;
  if (!pe || !re || !dist_to_ref || !dist_to_pred) {
    status = SEGC_FAIL(SEGC_ERR_NOMEM, "surface distance: out of memory");
    goto done;
  }
  class_edges(pred->data, pred->dim, c, lo, box, pe);
  class_edges(ref->data, ref->dim, c, lo, box, re);
  status = segc_distance_transform(re, box, spacing, dist_to_ref);
  if (status == SEGC_OK)
    status = segc_distance_transform(pe, box, spacing, dist_to_pred);
  if (status != SEGC_OK) goto done;
  int64_t complete = 0, correct = 0;
  for (int64_t v = 0; v < n; ++v) {
    if (pe[v]) {
      complete++;
      correct += dist_to_ref[v] <= tolerance;
    }
    if (re[v]) {
      complete++;
      correct += dist_to_pred[v] <= tolerance;
    }
  }
  *nsd = complete ? (double)correct / (double)complete : NAN;
done:
  free(pe);
  free(re);
  free(dist_to_ref);
  free(dist_to_pred);
  return status;
}

static segc_status check_pair(const segc_volume *pred, const segc_volume *ref) {
  if (pred->dtype != SEGC_U8 || ref->dtype != SEGC_U8)
    return SEGC_FAIL(SEGC_ERR_INVALID, "metrics: label maps must be u8");
  for (int a = 0; a < 3; ++a)
    if (pred->dim[a] != ref->dim[a])
      return SEGC_FAIL(SEGC_ERR_INVALID,
                       "prediction %lldx%lldx%lld and reference %lldx%lldx%lld "
                       "are on different grids",
                       (long long)pred->dim[0], (long long)pred->dim[1],
                       (long long)pred->dim[2], (long long)ref->dim[0],
                       (long long)ref->dim[1], (long long)ref->dim[2]);
  for (int r = 0; r < 3; ++r)
    for (int col = 0; col < 4; ++col)
      if (fabs(pred->affine[r][col] - ref->affine[r][col]) > 1e-3)
        return SEGC_FAIL(SEGC_ERR_INVALID,
                         "prediction and reference affines differ (row %d, "
                         "column %d: %g vs %g)",
                         r, col, pred->affine[r][col], ref->affine[r][col]);
  return SEGC_OK;
}

segc_status segc_metrics_check_classes(const segc_volume *labels, int classes,
                                       const char *what) {
  if (labels->dtype != SEGC_U8)
    return SEGC_FAIL(SEGC_ERR_INVALID, "%s: label maps must be u8", what);
  const uint8_t *v = labels->data;
  const int64_t n1 = labels->dim[1], n2 = labels->dim[2];
  for (int64_t i = 0; i < segc_volume_numel(labels); ++i)
    if (v[i] >= classes)
      return SEGC_FAIL(SEGC_ERR_INVALID,
                       "%s: label value %d at voxel (%lld, %lld, %lld) is not "
                       "below the %d classes",
                       what, v[i], (long long)(i / (n1 * n2)),
                       (long long)(i / n2 % n1), (long long)(i % n2), classes);
  return SEGC_OK;
}

segc_status segc_metrics_compute(const segc_volume *pred,
                                 const segc_volume *ref, int classes,
                                 double tolerance_mm,
                                 segc_case_metrics *out) {
  memset(out, 0, sizeof *out);
  SEGC_TRY(check_pair(pred, ref));
  if (classes < 2 || classes > 256)
    return SEGC_FAIL(SEGC_ERR_INVALID, "metrics: %d classes", classes);
  SEGC_TRY(segc_metrics_check_classes(pred, classes, "prediction"));
  SEGC_TRY(segc_metrics_check_classes(ref, classes, "reference"));
  const int K = classes;
  out->classes = K;
  out->pred_count = calloc((size_t)K, sizeof(int64_t));
  out->ref_count = calloc((size_t)K, sizeof(int64_t));
  out->overlap = calloc((size_t)K, sizeof(int64_t));
  out->dice = calloc((size_t)K, sizeof(double));
  int64_t(*lo)[3] = malloc(sizeof(int64_t[3]) * (size_t)K);
  int64_t(*hi)[3] = malloc(sizeof(int64_t[3]) * (size_t)K);
  if (!out->pred_count || !out->ref_count || !out->overlap || !out->dice ||
      !lo || !hi) {
    free(lo);
    free(hi);
    segc_metrics_free(out);
    return SEGC_FAIL(SEGC_ERR_NOMEM, "metrics: out of memory");
  }
  for (int c = 0; c < K; ++c)
    for (int a = 0; a < 3; ++a) {
      lo[c][a] = INT64_MAX;
      hi[c][a] = -1;
    }
  const uint8_t *p = pred->data, *g = ref->data;
  for (int64_t i = 0; i < pred->dim[0]; ++i)
    for (int64_t j = 0; j < pred->dim[1]; ++j)
      for (int64_t k = 0; k < pred->dim[2]; ++k) {
        const int64_t v = (i * pred->dim[1] + j) * pred->dim[2] + k;
        const int pc = p[v], gc = g[v];  // both < K, checked above
        out->pred_count[pc]++;
        out->ref_count[gc]++;
        if (pc == gc) out->overlap[pc]++;
        const int64_t at[3] = {i, j, k};
        for (int side = 0; side < 2; ++side) {
          const int c = side ? gc : pc;
          for (int a = 0; a < 3; ++a) {
            if (at[a] < lo[c][a]) lo[c][a] = at[a];
            if (at[a] > hi[c][a]) hi[c][a] = at[a];
          }
        }
      }
  out->dice[0] = NAN;
  for (int c = 1; c < K; ++c)
    out->dice[c] = out->ref_count[c] == 0
                       ? NAN
                       : 2.0 * (double)out->overlap[c] /
                             (double)(out->pred_count[c] + out->ref_count[c]);
  segc_status status = SEGC_OK;
  if (tolerance_mm > 0.0) {
    out->nsd = malloc(sizeof(double) * (size_t)K);
    if (!out->nsd) status = SEGC_FAIL(SEGC_ERR_NOMEM, "metrics: out of memory");
    double spacing[3];
    segc_volume_spacing(ref, spacing);
    for (int c = 0; c < K && status == SEGC_OK; ++c) {
      out->nsd[c] = NAN;
      if (c == 0 || (out->pred_count[c] == 0 && out->ref_count[c] == 0))
        continue;
      status = class_nsd(pred, ref, c, lo[c], hi[c], spacing, tolerance_mm,
                         &out->nsd[c]);
    }
  }
  free(lo);
  free(hi);
  if (status != SEGC_OK) segc_metrics_free(out);
  return status;
}
