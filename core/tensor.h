// Tensor views: a pointer into memory someone else owns (an arena), with a
// logical shape N C D H W, an element type, a physical layout and a device.
//
// Layouts are always dense. NCDHW is PyTorch's order (reference files,
// checkpoints); NDHWC (channels-last) is what activations use, because
// oneDNN's fast convolutions want it and a GroupNorm group is then a
// contiguous run of channels.
#ifndef SEGC_CORE_TENSOR_H
#define SEGC_CORE_TENSOR_H

#include <stdbool.h>
#include <stdint.h>

#include "core/dtype.h"
#include "core/status.h"

typedef enum { SEGC_LAYOUT_NCDHW = 0, SEGC_LAYOUT_NDHWC } segc_layout;
typedef enum { SEGC_DEVICE_CPU = 0, SEGC_DEVICE_CUDA } segc_device;

typedef struct {
  int64_t n, c, d, h, w;
} segc_shape;

typedef struct {
  void *data;
  segc_shape shape;
  segc_dtype dtype;
  segc_layout layout;
  segc_device device;
} segc_tensor;

static inline segc_shape segc_shape5(int64_t n, int64_t c, int64_t d,
                                     int64_t h, int64_t w) {
  segc_shape s = {n, c, d, h, w};
  return s;
}

static inline int64_t segc_shape_spatial(segc_shape s) {
  return s.d * s.h * s.w;
}
static inline int64_t segc_shape_numel(segc_shape s) {
  return s.n * s.c * s.d * s.h * s.w;
}
bool segc_shape_equal(segc_shape a, segc_shape b);
// Formats as "NxCxDxHxW" into buf (returns buf).
const char *segc_shape_str(segc_shape s, char *buf, int bytes);

static inline int64_t segc_tensor_numel(const segc_tensor *t) {
  return segc_shape_numel(t->shape);
}
static inline size_t segc_tensor_bytes(const segc_tensor *t) {
  return (size_t)segc_tensor_numel(t) * segc_dtype_size(t->dtype);
}

segc_tensor segc_tensor_view(void *data, segc_shape shape, segc_dtype dtype,
                             segc_layout layout, segc_device device);

// Linear element offset of logical index (n, c, d, h, w) in the tensor's
// layout.
static inline int64_t segc_tensor_offset(const segc_tensor *t, int64_t n,
                                         int64_t c, int64_t d, int64_t h,
                                         int64_t w) {
  const segc_shape s = t->shape;
  if (t->layout == SEGC_LAYOUT_NCDHW)
    return (((n * s.c + c) * s.d + d) * s.h + h) * s.w + w;
  return (((n * s.d + d) * s.h + h) * s.w + w) * s.c + c;
}

// The view of sample n (a contiguous slice in both layouts).
segc_tensor segc_tensor_sample(const segc_tensor *t, int64_t n);

// Copies src into dst converting dtype and layout; shapes must match. Both
// on one device the backend table supports (core/backend.h).
segc_status segc_tensor_copy(const segc_tensor *src, segc_tensor *dst);

// Sets every element to zero.
segc_status segc_tensor_zero(segc_tensor *t);

// Checks that a tensor has the given shape; the message names `what`.
segc_status segc_tensor_expect_shape(const segc_tensor *t, segc_shape shape,
                                     const char *what);

#endif
