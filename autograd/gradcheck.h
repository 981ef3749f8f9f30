// Central finite differences in double, to check analytic gradients.
//
// The function under test is a double-precision scalar function of a flat
// vector x (a naive reference of the op followed by a fixed random weighting
// of its outputs). The analytic gradient comes from segc's backward in f32.
#ifndef SEGC_AUTOGRAD_GRADCHECK_H
#define SEGC_AUTOGRAD_GRADCHECK_H

#include <stdint.h>

typedef double (*segc_scalar_fn)(const double *x, void *context);

typedef struct {
  double max_abs_error;   // max |analytic - numeric|
  double max_rel_error;   // max |analytic - numeric| / (|numeric| + scale)
  int64_t worst_index;
  double worst_analytic, worst_numeric;
} segc_gradcheck_report;

// Compares analytic[i] with (f(x + eps e_i) - f(x - eps e_i)) / (2 eps) for
// every i (x is restored). The relative error is scaled by
// max(max_i |numeric_i|, 1e-8) added to |numeric|, so near-zero entries are
// judged against the tensor's scale. Returns 1 when max_rel_error <= rtol.
int segc_gradcheck(segc_scalar_fn fn, void *context, double *x, int64_t n,
                   const float *analytic, double eps, double rtol,
                   segc_gradcheck_report *report);

#endif
