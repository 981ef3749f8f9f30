#include "autograd/gradcheck.h"

#include <math.h>
#include <stdlib.h>

int segc_gradcheck(segc_scalar_fn fn, void *context, double *x, int64_t n,
                   const float *analytic, double eps, double rtol,
                   segc_gradcheck_report *report) {
  double *numeric = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
  if (!numeric) return 0;
  double scale = 1e-8;
  for (int64_t i = 0; i < n; ++i) {
    const double saved = x[i];
    x[i] = saved + eps;
    const double up = fn(x, context);
    x[i] = saved - eps;
    const double down = fn(x, context);
    x[i] = saved;
    numeric[i] = (up - down) / (2.0 * eps);
    if (fabs(numeric[i]) > scale) scale = fabs(numeric[i]);
  }
  segc_gradcheck_report r = {0};
  r.worst_index = -1;
  for (int64_t i = 0; i < n; ++i) {
    const double err = fabs((double)analytic[i] - numeric[i]);
    const double rel = err / (fabs(numeric[i]) + scale);
    if (err > r.max_abs_error) r.max_abs_error = err;
    if (rel > r.max_rel_error || r.worst_index < 0) {
      r.max_rel_error = rel;
      r.worst_index = i;
      r.worst_analytic = analytic[i];
      r.worst_numeric = numeric[i];
    }
  }
  free(numeric);
  if (report) *report = r;
  return r.max_rel_error <= rtol;
}
