// Element types and conversions between them.
#ifndef SEGC_CORE_DTYPE_H
#define SEGC_CORE_DTYPE_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef enum {
  SEGC_F32 = 0,
  SEGC_BF16,
  SEGC_F16,
  SEGC_U8,
  SEGC_I16,
  SEGC_I32,
  SEGC_DTYPE_COUNT
} segc_dtype;

size_t segc_dtype_size(segc_dtype dtype);
const char *segc_dtype_name(segc_dtype dtype);
// Parses "f32", "bf16", "f16", "u8", "i16", "i32"; returns -1 when unknown.
int segc_dtype_parse(const char *name);

typedef uint16_t segc_bf16;  // bfloat16 bits
typedef uint16_t segc_f16;   // IEEE half bits

static inline float segc_bf16_to_f32(segc_bf16 h) {
  uint32_t bits = (uint32_t)h << 16;
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
}

// Round to nearest even, as oneDNN and PyTorch do; NaN stays a quiet NaN.
static inline segc_bf16 segc_f32_to_bf16(float f) {
  uint32_t bits;
  memcpy(&bits, &f, sizeof bits);
  if ((bits & 0x7fffffffu) > 0x7f800000u)
    return (segc_bf16)((bits >> 16) | 0x0040u);
  uint32_t rounding = 0x7fffu + ((bits >> 16) & 1u);
  return (segc_bf16)((bits + rounding) >> 16);
}

static inline float segc_f16_to_f32(segc_f16 h) {
  _Float16 v;
  memcpy(&v, &h, sizeof v);
  return (float)v;
}

static inline segc_f16 segc_f32_to_f16(float f) {
  _Float16 v = (_Float16)f;
  segc_f16 h;
  memcpy(&h, &v, sizeof h);
  return h;
}

// Converts n elements between any two dtypes (integers are rounded to nearest
// and saturated). Both buffers are host memory.
void segc_convert(const void *src, segc_dtype src_dtype, void *dst,
                  segc_dtype dst_dtype, size_t n);

// Reads element i of a host buffer of the given dtype as float.
float segc_load_f32(const void *data, segc_dtype dtype, size_t i);
void segc_store_f32(void *data, segc_dtype dtype, size_t i, float value);

#endif
