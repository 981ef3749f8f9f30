// The glue of core/tensor_ops.h: argument checks, the backend table, and the
// kernel table of the tensors' device (tensor_ops_kernels.h).
#include "core/tensor_ops.h"

#include "core/backend.h"
#include "core/tensor_ops_kernels.h"

#ifdef SEGC_HAVE_CUDA
static const segc_tensor_kernels *const kernels_by_device[SEGC_DEVICE_COUNT] =
    SEGC_BACKEND_KERNELS(&segc_tensor_cpu_kernels, &segc_tensor_cuda_kernels);
#else
static const segc_tensor_kernels *const kernels_by_device[SEGC_DEVICE_COUNT] =
    SEGC_BACKEND_KERNELS(&segc_tensor_cpu_kernels, NULL);
#endif

const segc_tensor_kernels *segc_tensor_kernels_on(segc_device device) {
  return (unsigned)device < SEGC_DEVICE_COUNT ? kernels_by_device[device]
                                              : NULL;
}

// t exists, has data when it has elements, and `op` has a kernel for its
// device and dtype; *kernels is then that device's table.
static segc_status check_tensor(const char *op, const segc_tensor *t,
                                const segc_tensor_kernels **kernels) {
  *kernels = NULL;
  if (!t) return SEGC_FAIL(SEGC_ERR_INVALID, "%s: NULL tensor", op);
  SEGC_TRY(segc_backend_require(op, t->device, t->dtype));
  if (!t->data && segc_tensor_numel(t) > 0)
    return SEGC_FAIL(SEGC_ERR_INVALID, "%s: the tensor has no data", op);
  *kernels = kernels_by_device[t->device];
  return SEGC_OK;
}

// Both tensors pass check_tensor and agree in shape, layout and device.
static segc_status check_pair(const char *op, const char *message_name,
                              const segc_tensor *dst, const segc_tensor *src,
                              const segc_tensor_kernels **kernels) {
  *kernels = NULL;
  if (!dst || !src) return SEGC_FAIL(SEGC_ERR_INVALID, "%s: NULL tensor", op);
  SEGC_TRY(segc_tensor_expect_shape(src, dst->shape, message_name));
  const segc_tensor_kernels *unused;
  SEGC_TRY(check_tensor(op, dst, kernels));
  SEGC_TRY(check_tensor(op, src, &unused));
  if (src->layout != dst->layout || src->device != dst->device)
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "%s: the tensors differ in layout or device",
                     message_name);
  return SEGC_OK;
}

segc_status segc_tensor_fill(segc_tensor *t, float value) {
  const segc_tensor_kernels *k;
  SEGC_TRY(check_tensor("tensor fill", t, &k));
  return k->fill(t, value);
}

segc_status segc_tensor_add_scalar(segc_tensor *t, float value) {
  const segc_tensor_kernels *k;
  SEGC_TRY(check_tensor("tensor add", t, &k));
  return k->add_scalar(t, value);
}

segc_status segc_tensor_accumulate(segc_tensor *dst, const segc_tensor *src) {
  const segc_tensor_kernels *k;
  SEGC_TRY(check_pair("tensor add", "tensor accumulate", dst, src, &k));
  return k->accumulate(dst, src);
}

segc_status segc_tensor_scale(segc_tensor *t, float factor) {
  const segc_tensor_kernels *k;
  SEGC_TRY(check_tensor("tensor scale", t, &k));
  return k->scale(t, factor);
}

segc_status segc_tensor_axpy(segc_tensor *y, float alpha,
                             const segc_tensor *x) {
  const segc_tensor_kernels *k;
  SEGC_TRY(check_pair("tensor axpy", "tensor axpy", y, x, &k));
  return k->axpy(y, alpha, x);
}

segc_status segc_tensors_all_finite(const segc_tensor *tensors, int count,
                                    bool *all_finite) {
  if (!all_finite || count < 0 || (count > 0 && !tensors))
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "tensor finite: NULL result or tensors, or count %d",
                     count);
  const segc_tensor_kernels *k;
  for (int i = 0; i < count; ++i)  // every check before any work
    SEGC_TRY(check_tensor("tensor finite", &tensors[i], &k));
  *all_finite = true;
  for (int i = 0; i < count && *all_finite; ++i) {
    k = kernels_by_device[tensors[i].device];
    int64_t first;
    SEGC_TRY(k->first_nonfinite(&tensors[i], &first));
    *all_finite = first == segc_tensor_numel(&tensors[i]);
  }
  return SEGC_OK;
}

segc_status segc_tensor_first_nonfinite(const segc_tensor *t, int64_t *index) {
  const segc_tensor_kernels *k;
  if (!index)
    return SEGC_FAIL(SEGC_ERR_INVALID, "tensor finite: NULL result");
  SEGC_TRY(check_tensor("tensor finite", t, &k));
  return k->first_nonfinite(t, index);
}

segc_status segc_tensor_scale_all_finite(segc_tensor *t, float factor,
                                         bool *all_finite) {
  const segc_tensor_kernels *k;
  if (!all_finite)
    return SEGC_FAIL(SEGC_ERR_INVALID, "tensor scale: NULL result");
  SEGC_TRY(check_tensor("tensor scale", t, &k));
  SEGC_TRY(segc_backend_require("tensor finite", t->device, t->dtype));
  return k->scale_all_finite(t, factor, all_finite);
}

segc_status segc_tensor_sum(const segc_tensor *t, double *sum) {
  const segc_tensor_kernels *k;
  if (!sum) return SEGC_FAIL(SEGC_ERR_INVALID, "tensor sum: NULL result");
  SEGC_TRY(check_tensor("tensor sum", t, &k));
  return k->sum(t, sum);
}

segc_status segc_tensor_to_host(const segc_tensor *t, void *host,
                                size_t host_bytes) {
  const segc_tensor_kernels *k;
  SEGC_TRY(check_tensor("tensor read", t, &k));
  const size_t bytes = segc_tensor_bytes(t);
  if (bytes == 0) return SEGC_OK;
  if (!host || host_bytes < bytes)
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "tensor read: %zu bytes of host memory for a tensor of "
                     "%zu bytes",
                     host ? host_bytes : 0, bytes);
  return k->to_host(t, 0, bytes, host);
}

segc_status segc_tensor_read_f32(const segc_tensor *t, int64_t index,
                                 float *value) {
  const segc_tensor_kernels *k;
  if (!value) return SEGC_FAIL(SEGC_ERR_INVALID, "tensor read: NULL result");
  SEGC_TRY(check_tensor("tensor read", t, &k));
  const int64_t n = segc_tensor_numel(t);
  if (index < 0 || index >= n)
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "tensor read: element %lld of a tensor of %lld",
                     (long long)index, (long long)n);
  const size_t size = segc_dtype_size(t->dtype);
  unsigned char element[8];
  SEGC_TRY(k->to_host(t, (size_t)index * size, size, element));
  *value = segc_load_f32(element, t->dtype, 0);
  return SEGC_OK;
}
