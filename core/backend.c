#include "core/backend.h"

#include <stdio.h>
#include <string.h>

#define DTYPE_BIT(d) (1u << (d))
#define FLOATS (DTYPE_BIT(SEGC_F32) | DTYPE_BIT(SEGC_BF16))
#define ANY_FLOAT (FLOATS | DTYPE_BIT(SEGC_F16))
#define ANY_DTYPE ((1u << SEGC_DTYPE_COUNT) - 1u)

// The CUDA column: what the <op>_cuda.cu kernels handle, in a CUDA build.
#ifdef SEGC_HAVE_CUDA
#define ON_CUDA(dtypes) (dtypes)
#else
#define ON_CUDA(dtypes) 0u
#endif

typedef struct {
  const char *op;
  unsigned dtypes[SEGC_DEVICE_COUNT];  // bit d set: a kernel for dtype d
} backend_row;

// Every op with kernels, and the dtypes each backend handles.
static const backend_row backend_table[] = {
    // cuDNN computes f32, bf16 and f16 (layers/conv3d_cuda.cu).
    {"conv3d",
     {[SEGC_DEVICE_CPU] = FLOATS, [SEGC_DEVICE_CUDA] = ON_CUDA(ANY_FLOAT)}},
    {"groupnorm",
     {[SEGC_DEVICE_CPU] = FLOATS, [SEGC_DEVICE_CUDA] = ON_CUDA(FLOATS)}},
    {"add",
     {[SEGC_DEVICE_CPU] = FLOATS, [SEGC_DEVICE_CUDA] = ON_CUDA(FLOATS)}},
    {"upsample2x",
     {[SEGC_DEVICE_CPU] = FLOATS, [SEGC_DEVICE_CUDA] = ON_CUDA(FLOATS)}},
    // The CPU kernel scales any dtype through f32.
    {"dropout3d",
     {[SEGC_DEVICE_CPU] = ANY_DTYPE, [SEGC_DEVICE_CUDA] = ON_CUDA(ANY_DTYPE)}},
    // Logits f32/bf16, labels u8.
    {"dice_ce",
     {[SEGC_DEVICE_CPU] = FLOATS | DTYPE_BIT(SEGC_U8),
      [SEGC_DEVICE_CUDA] = ON_CUDA(FLOATS | DTYPE_BIT(SEGC_U8))}},
    // Reference ops the tests build (tests/util/reference_ops.c).
    {"relu", {[SEGC_DEVICE_CPU] = FLOATS}},
    {"dropout", {[SEGC_DEVICE_CPU] = FLOATS}},
    {"softmax", {[SEGC_DEVICE_CPU] = FLOATS}},
    // Core primitives.
    {"tensor copy",
     {[SEGC_DEVICE_CPU] = ANY_DTYPE, [SEGC_DEVICE_CUDA] = ON_CUDA(ANY_DTYPE)}},
    {"tensor read",
     {[SEGC_DEVICE_CPU] = ANY_DTYPE, [SEGC_DEVICE_CUDA] = ON_CUDA(ANY_DTYPE)}},
    {"tensor scale",
     {[SEGC_DEVICE_CPU] = ANY_FLOAT, [SEGC_DEVICE_CUDA] = ON_CUDA(ANY_FLOAT)}},
    {"tensor axpy",
     {[SEGC_DEVICE_CPU] = ANY_FLOAT, [SEGC_DEVICE_CUDA] = ON_CUDA(ANY_FLOAT)}},
    {"tensor finite",
     {[SEGC_DEVICE_CPU] = ANY_DTYPE, [SEGC_DEVICE_CUDA] = ON_CUDA(ANY_DTYPE)}},
    {"tensor sum",
     {[SEGC_DEVICE_CPU] = ANY_DTYPE, [SEGC_DEVICE_CUDA] = ON_CUDA(ANY_DTYPE)}},
    {"tensor zero",
     {[SEGC_DEVICE_CPU] = ANY_DTYPE, [SEGC_DEVICE_CUDA] = ON_CUDA(ANY_DTYPE)}},
    {"tensor fill",
     {[SEGC_DEVICE_CPU] = ANY_DTYPE, [SEGC_DEVICE_CUDA] = ON_CUDA(ANY_DTYPE)}},
    {"tensor add",
     {[SEGC_DEVICE_CPU] = ANY_DTYPE, [SEGC_DEVICE_CUDA] = ON_CUDA(ANY_DTYPE)}},
    // Engines, streams and library handles (core/backend_context.h).
    {"backend context",
     {[SEGC_DEVICE_CPU] = ANY_DTYPE, [SEGC_DEVICE_CUDA] = ON_CUDA(ANY_DTYPE)}},
    // The sliding window blends logits of any float dtype into f32 sums
    // (infer/sliding_window_kernels.h).
    {"sliding window",
     {[SEGC_DEVICE_CPU] = FLOATS | DTYPE_BIT(SEGC_F16),
      [SEGC_DEVICE_CUDA] = ON_CUDA(FLOATS | DTYPE_BIT(SEGC_F16))}},
    // AdamW over the flat f32 parameter arena (train/adamw.c).
    {"adamw",
     {[SEGC_DEVICE_CPU] = DTYPE_BIT(SEGC_F32),
      [SEGC_DEVICE_CUDA] = ON_CUDA(DTYPE_BIT(SEGC_F32))}},
};

static const backend_row *find_row(const char *op) {
  for (size_t i = 0; i < sizeof backend_table / sizeof backend_table[0]; ++i)
    if (op && strcmp(backend_table[i].op, op) == 0) return &backend_table[i];
  return NULL;
}

static unsigned device_dtypes(const char *op, segc_device device) {
  const backend_row *row = find_row(op);
  if (!row || (unsigned)device >= SEGC_DEVICE_COUNT) return 0;
  return row->dtypes[device];
}

const char *segc_device_name(segc_device device) {
  switch (device) {
    case SEGC_DEVICE_CPU:
      return "cpu";
    case SEGC_DEVICE_CUDA:
      return "cuda";
  }
  static _Thread_local char buf[32];
  snprintf(buf, sizeof buf, "device %d", (int)device);
  return buf;
}

bool segc_backend_supports(const char *op, segc_device device,
                           segc_dtype dtype) {
  if ((unsigned)dtype >= SEGC_DTYPE_COUNT) return false;
  return (device_dtypes(op, device) & DTYPE_BIT(dtype)) != 0;
}

segc_status segc_backend_require(const char *op, segc_device device,
                                 segc_dtype dtype) {
  if (segc_backend_supports(op, device, dtype)) return SEGC_OK;
  return SEGC_FAIL(SEGC_ERR_UNSUPPORTED,
                   "%s: no %s kernel for %s in this build",
                   op ? op : "(unnamed op)", segc_device_name(device),
                   segc_dtype_name(dtype));
}

segc_status segc_backend_require_device(const char *op, segc_device device) {
  if (device_dtypes(op, device) != 0) return SEGC_OK;
  return SEGC_FAIL(SEGC_ERR_UNSUPPORTED, "%s: no %s kernel in this build",
                   op ? op : "(unnamed op)", segc_device_name(device));
}
