#include "core/tensor.h"

#include <stdio.h>
#include <string.h>

#include "core/backend.h"
#include "core/tensor_ops_kernels.h"

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
  return segc_tensor_kernels_on(src->device)->copy(src, dst);
}

segc_status segc_tensor_zero(segc_tensor *t) {
  SEGC_TRY(segc_backend_require("tensor zero", t->device, t->dtype));
  return segc_tensor_kernels_on(t->device)->zero(t);
}
