#include "data/affine.h"

#include <float.h>
#include <math.h>
#include <string.h>

void segc_mat4_identity(double m[4][4]) {
  memset(m, 0, sizeof(double) * 16);
  for (int i = 0; i < 4; ++i) m[i][i] = 1.0;
}

void segc_mat4_copy(const double src[4][4], double dst[4][4]) {
  memmove(dst, src, sizeof(double) * 16);
}

void segc_mat4_mul(const double a[4][4], const double b[4][4],
                   double out[4][4]) {
  double r[4][4];
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) {
      double s = 0.0;
      for (int l = 0; l < 4; ++l) s += a[i][l] * b[l][j];
      r[i][j] = s;
    }
  memcpy(out, r, sizeof r);
}

void segc_mat4_shift(const double a[4][4], const double shift[3],
                     double out[4][4]) {
  double t[4][4];
  segc_mat4_identity(t);
  for (int i = 0; i < 3; ++i) t[i][3] = shift[i];
  segc_mat4_mul(a, t, out);
}

bool segc_matn_solve(int n, const double a_in[4][4], const double b_in[4][4],
                     double x[4][4]) {
  double a[4][4], b[4][4];
  memcpy(a, a_in, sizeof a);
  memcpy(b, b_in, sizeof b);
  int pivot[4];
  // LU with partial pivoting (dgetrf2 does the same element operations).
  for (int k = 0; k < n; ++k) {
    int p = k;
    double best = fabs(a[k][k]);
    for (int i = k + 1; i < n; ++i)
      if (fabs(a[i][k]) > best) {
        best = fabs(a[i][k]);
        p = i;
      }
    pivot[k] = p;
    if (a[p][k] == 0.0) return false;
    if (p != k)
      for (int j = 0; j < n; ++j) {
        double t = a[k][j];
        a[k][j] = a[p][j];
        a[p][j] = t;
      }
    if (fabs(a[k][k]) >= DBL_MIN) {
      const double reciprocal = 1.0 / a[k][k];
      for (int i = k + 1; i < n; ++i) a[i][k] = reciprocal * a[i][k];
    } else {
      for (int i = k + 1; i < n; ++i) a[i][k] = a[i][k] / a[k][k];
    }
    for (int j = k + 1; j < n; ++j)
      for (int i = k + 1; i < n; ++i) a[i][j] = a[i][j] + (-a[k][j]) * a[i][k];
  }
  // Row swaps on b, then L (unit) and U solves as dtrsm does them.
  for (int k = 0; k < n; ++k)
    if (pivot[k] != k)
      for (int j = 0; j < n; ++j) {
        double t = b[k][j];
        b[k][j] = b[pivot[k]][j];
        b[pivot[k]][j] = t;
      }
  for (int j = 0; j < n; ++j) {
    for (int k = 0; k < n; ++k)
      if (b[k][j] != 0.0)
        for (int i = k + 1; i < n; ++i) b[i][j] = b[i][j] - b[k][j] * a[i][k];
    for (int k = n - 1; k >= 0; --k)
      if (b[k][j] != 0.0) {
        b[k][j] = b[k][j] / a[k][k];
        for (int i = 0; i < k; ++i) b[i][j] = b[i][j] - b[k][j] * a[i][k];
      }
  }
  memcpy(x, b, sizeof b);
  return true;
}

bool segc_mat3_cholesky_lower(const double m[4][4], double l[4][4]) {
  double a[4][4];
  memcpy(a, m, sizeof a);
  memset(l, 0, sizeof(double) * 16);
  for (int j = 0; j < 3; ++j) {
    if (!(a[j][j] > 0.0)) return false;
    l[j][j] = sqrt(a[j][j]);
    const double reciprocal = 1.0 / l[j][j];
    for (int i = j + 1; i < 3; ++i) l[i][j] = reciprocal * a[i][j];
    for (int c = j + 1; c < 3; ++c)
      for (int i = c; i < 3; ++i) a[i][c] = a[i][c] + (-l[c][j]) * l[i][j];
  }
  return true;
}

bool segc_mat4_allclose(const double a[4][4], const double b[4][4],
                        double rtol, double atol) {
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j)
      if (!(fabs(a[i][j] - b[i][j]) <= atol + rtol * fabs(b[i][j])))
        return false;
  return true;
}

void segc_affine_spacing(const double a[4][4], double spacing[3]) {
  for (int c = 0; c < 3; ++c) {
    double s = a[0][c] * a[0][c];
    s += a[1][c] * a[1][c];
    s += a[2][c] * a[2][c];
    spacing[c] = s == 0.0 ? 1.0 : sqrt(s);
  }
}
