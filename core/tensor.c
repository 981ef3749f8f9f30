#include "core/tensor.h"

#include <stdio.h>
#include <string.h>

#include "core/backend.h"

bool segc_shape_equal(segc_shape a, segc_shape b) {
  return a.n == b.n && a.c == b.c && a.d == b.d && a.h == b.h && a.w == b.w;
}

const char *segc_shape_str(segc_shape s, char *buf, int bytes) {
  snprintf(buf, (size_t)bytes, "%lldx%lldx%lldx%lldx%lld", (long long)s.n,
           (long long)s.c, (long long)s.d, (long long)s.h, (long long)s.w);
  return buf;
}

segc_tensor segc_tensor_view(void *data, segc_shape shape, segc_dtype dtype,
                             segc_layout layout, segc_device device) {
  segc_tensor t = {data, shape, dtype, layout, device};
  return t;
}

segc_tensor segc_tensor_sample(const segc_tensor *t, int64_t n) {
  segc_tensor s = *t;
  s.shape.n = 1;
  s.data = (char *)t->data + (size_t)n * segc_tensor_bytes(&s);
  return s;
}

segc_status segc_tensor_expect_shape(const segc_tensor *t, segc_shape shape,
                                     const char *what) {
  if (segc_shape_equal(t->shape, shape)) return SEGC_OK;
  char got[96], want[96];
  return SEGC_FAIL(SEGC_ERR_INVALID, "%s: shape %s, expected %s", what,
                   segc_shape_str(t->shape, got, sizeof got),
                   segc_shape_str(shape, want, sizeof want));
}

segc_status segc_tensor_copy(const segc_tensor *src, segc_tensor *dst) {
  SEGC_TRY(segc_tensor_expect_shape(dst, src->shape, "tensor copy"));
  SEGC_TRY(segc_backend_require("tensor copy", src->device, src->dtype));
  SEGC_TRY(segc_backend_require("tensor copy", dst->device, dst->dtype));
  if (src->device != dst->device)
    return SEGC_FAIL(SEGC_ERR_UNSUPPORTED,
                     "tensor copy: from %s to %s is not in this build",
                     segc_device_name(src->device),
                     segc_device_name(dst->device));
  const size_t n = (size_t)segc_tensor_numel(src);
  if (src->layout == dst->layout) {
    segc_convert(src->data, src->dtype, dst->data, dst->dtype, n);
    return SEGC_OK;
  }
  // Layout change: walk the destination in order, gather from the source.
  const segc_shape s = src->shape;
  const int64_t spatial = segc_shape_spatial(s);
#pragma omp parallel for collapse(2) schedule(static) if (n > (1u << 16))
  for (int64_t b = 0; b < s.n; ++b) {
    for (int64_t p = 0; p < spatial; ++p) {
      for (int64_t c = 0; c < s.c; ++c) {
        int64_t ncdhw = (b * s.c + c) * spatial + p;
        int64_t ndhwc = (b * spatial + p) * s.c + c;
        int64_t from = src->layout == SEGC_LAYOUT_NCDHW ? ncdhw : ndhwc;
        int64_t to = dst->layout == SEGC_LAYOUT_NCDHW ? ncdhw : ndhwc;
        segc_store_f32(dst->data, dst->dtype, (size_t)to,
                       segc_load_f32(src->data, src->dtype, (size_t)from));
      }
    }
  }
  return SEGC_OK;
}

segc_status segc_tensor_zero(segc_tensor *t) {
  SEGC_TRY(segc_backend_require("tensor zero", t->device, t->dtype));
  memset(t->data, 0, segc_tensor_bytes(t));
  return SEGC_OK;
}
