// 4x4 affine arithmetic that rounds the way MONAI's Python stack does.
//
// MONAI computes its affines with numpy/torch matrix products (reference BLAS
// gemm: each product rounded, summed in ascending order of the inner index,
// no fused multiply-add) and numpy.linalg.solve (LAPACK dgesv: LU with
// partial pivoting, multipliers scaled by the reciprocal of the pivot, then
// the two triangular solves). Doing the same operations in the same order
// gives the same bits on axis-aligned affines, which matters because the
// nearest-neighbour choice at exact ties depends on the last bit.
#ifndef SEGC_DATA_AFFINE_H
#define SEGC_DATA_AFFINE_H

#include <stdbool.h>
#include <stdint.h>

void segc_mat4_identity(double m[4][4]);
void segc_mat4_copy(const double src[4][4], double dst[4][4]);
// out = a @ b (out may alias a or b).
void segc_mat4_mul(const double a[4][4], const double b[4][4], double out[4][4]);
// out = a @ T(shift): a translation by `shift` voxels in the input frame.
void segc_mat4_shift(const double a[4][4], const double shift[3],
                     double out[4][4]);
// Solves a @ x = b for n x n (n <= 4) stored in 4x4 arrays, as dgesv does.
// Returns false when a pivot is exactly zero (singular).
bool segc_matn_solve(int n, const double a[4][4], const double b[4][4],
                     double x[4][4]);
// Lower Cholesky factor of a symmetric positive definite 3x3 (false if not).
bool segc_mat3_cholesky_lower(const double m[4][4], double l[4][4]);
// numpy/torch allclose: |a - b| <= atol + rtol * |b| for every element.
bool segc_mat4_allclose(const double a[4][4], const double b[4][4],
                        double rtol, double atol);
// Column lengths of the 3x3 part (0 becomes 1), as MONAI's affine_to_spacing.
void segc_affine_spacing(const double a[4][4], double spacing[3]);

#endif
