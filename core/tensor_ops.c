#include "core/tensor_ops.h"

#include "core/backend.h"

// Elementwise loops below this many elements run on one thread.
enum { PARALLEL_MIN = 1 << 16 };

segc_status segc_tensor_fill(segc_tensor *t, float value) {
  SEGC_TRY(segc_backend_require("tensor fill", t->device, t->dtype));
  const int64_t n = segc_tensor_numel(t);
#pragma omp parallel for schedule(static) if (n > PARALLEL_MIN)
  for (int64_t i = 0; i < n; ++i)
    segc_store_f32(t->data, t->dtype, (size_t)i, value);
  return SEGC_OK;
}

segc_status segc_tensor_add_scalar(segc_tensor *t, float value) {
  SEGC_TRY(segc_backend_require("tensor add", t->device, t->dtype));
  const int64_t n = segc_tensor_numel(t);
#pragma omp parallel for schedule(static) if (n > PARALLEL_MIN)
  for (int64_t i = 0; i < n; ++i)
    segc_store_f32(t->data, t->dtype, (size_t)i,
                   segc_load_f32(t->data, t->dtype, (size_t)i) + value);
  return SEGC_OK;
}

segc_status segc_tensor_accumulate(segc_tensor *dst, const segc_tensor *src) {
  SEGC_TRY(segc_tensor_expect_shape(src, dst->shape, "tensor accumulate"));
  SEGC_TRY(segc_backend_require("tensor add", dst->device, dst->dtype));
  SEGC_TRY(segc_backend_require("tensor add", src->device, src->dtype));
  if (src->layout != dst->layout || src->device != dst->device)
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "tensor accumulate: the tensors differ in layout or "
                     "device");
  const int64_t n = segc_tensor_numel(dst);
  if (dst->dtype == SEGC_F32 && src->dtype == SEGC_F32) {
    float *d = dst->data;
    const float *s = src->data;
#pragma omp parallel for schedule(static) if (n > PARALLEL_MIN)
    for (int64_t i = 0; i < n; ++i) d[i] += s[i];
    return SEGC_OK;
  }
#pragma omp parallel for schedule(static) if (n > PARALLEL_MIN)
  for (int64_t i = 0; i < n; ++i)
    segc_store_f32(dst->data, dst->dtype, (size_t)i,
                   segc_load_f32(dst->data, dst->dtype, (size_t)i) +
                       segc_load_f32(src->data, src->dtype, (size_t)i));
  return SEGC_OK;
}
