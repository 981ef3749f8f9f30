#include "data/volume.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

segc_status segc_volume_alloc(segc_volume *v, segc_dtype dtype,
                              const int64_t dim[3]) {
  memset(v, 0, sizeof *v);
  for (int a = 0; a < 3; ++a) {
    if (dim[a] <= 0)
      return SEGC_FAIL(SEGC_ERR_INVALID, "volume: dimension %d is %lld", a,
                       (long long)dim[a]);
    v->dim[a] = dim[a];
  }
  const size_t elem = segc_dtype_size(dtype);
  const uint64_t n = (uint64_t)dim[0] * (uint64_t)dim[1] * (uint64_t)dim[2];
  if (elem == 0 || n > (uint64_t)1 << 40)
    return SEGC_FAIL(SEGC_ERR_INVALID, "volume: %llu voxels of %s is too big",
                     (unsigned long long)n, segc_dtype_name(dtype));
  v->data = calloc((size_t)n, elem);
  if (!v->data)
    return SEGC_FAIL(SEGC_ERR_NOMEM, "volume: cannot allocate %lldx%lldx%lld %s",
                     (long long)dim[0], (long long)dim[1], (long long)dim[2],
                     segc_dtype_name(dtype));
  v->dtype = dtype;
  for (int r = 0; r < 4; ++r) v->affine[r][r] = 1.0;
  return SEGC_OK;
}

void segc_volume_free(segc_volume *v) {
  free(v->data);
  memset(v, 0, sizeof *v);
}

segc_status segc_volume_copy(const segc_volume *src, segc_dtype dtype,
                             segc_volume *dst) {
  SEGC_TRY(segc_volume_alloc(dst, dtype, src->dim));
  memcpy(dst->affine, src->affine, sizeof dst->affine);
  segc_convert(src->data, src->dtype, dst->data, dtype,
               (size_t)segc_volume_numel(src));
  return SEGC_OK;
}

void segc_volume_spacing(const segc_volume *v, double spacing[3]) {
  for (int a = 0; a < 3; ++a) {
    double s = 0.0;
    for (int r = 0; r < 3; ++r) s += v->affine[r][a] * v->affine[r][a];
    spacing[a] = sqrt(s);
  }
}
