#include "core/dtype.h"

#include <string.h>

size_t segc_dtype_size(segc_dtype dtype) {
  switch (dtype) {
    case SEGC_F32: return 4;
    case SEGC_BF16: return 2;
    case SEGC_F16: return 2;
    case SEGC_U8: return 1;
    case SEGC_I16: return 2;
    case SEGC_I32: return 4;
    default: return 0;
  }
}

static const char *const dtype_names[SEGC_DTYPE_COUNT] = {
    "f32", "bf16", "f16", "u8", "i16", "i32"};

const char *segc_dtype_name(segc_dtype dtype) {
  if ((int)dtype < 0 || dtype >= SEGC_DTYPE_COUNT) return "unknown";
  return dtype_names[dtype];
}

int segc_dtype_parse(const char *name) {
  for (int i = 0; i < SEGC_DTYPE_COUNT; ++i)
    if (strcmp(name, dtype_names[i]) == 0) return i;
  return -1;
}

static float saturate_round(float v, float lo, float hi) {
  if (!(v == v)) return 0.0f;  // NaN becomes 0 in integer types
  v = nearbyintf(v);
  return v < lo ? lo : (v > hi ? hi : v);
}

float segc_load_f32(const void *data, segc_dtype dtype, size_t i) {
  switch (dtype) {
    case SEGC_F32: return ((const float *)data)[i];
    case SEGC_BF16: return segc_bf16_to_f32(((const segc_bf16 *)data)[i]);
    case SEGC_F16: return segc_f16_to_f32(((const segc_f16 *)data)[i]);
    case SEGC_U8: return (float)((const uint8_t *)data)[i];
    case SEGC_I16: return (float)((const int16_t *)data)[i];
    case SEGC_I32: return (float)((const int32_t *)data)[i];
    default: return 0.0f;
  }
}

void segc_store_f32(void *data, segc_dtype dtype, size_t i, float value) {
  switch (dtype) {
    case SEGC_F32: ((float *)data)[i] = value; break;
    case SEGC_BF16: ((segc_bf16 *)data)[i] = segc_f32_to_bf16(value); break;
    case SEGC_F16: ((segc_f16 *)data)[i] = segc_f32_to_f16(value); break;
    case SEGC_U8:
      ((uint8_t *)data)[i] = (uint8_t)saturate_round(value, 0.0f, 255.0f);
      break;
    case SEGC_I16:
      ((int16_t *)data)[i] =
          (int16_t)saturate_round(value, -32768.0f, 32767.0f);
      break;
    case SEGC_I32:
      // float cannot hold INT32_MAX exactly; clamp just inside it.
      ((int32_t *)data)[i] =
          (int32_t)saturate_round(value, -2147483648.0f, 2147483520.0f);
      break;
    default: break;
  }
}

void segc_convert(const void *src, segc_dtype src_dtype, void *dst,
                  segc_dtype dst_dtype, size_t n) {
  if (src_dtype == dst_dtype) {
    memmove(dst, src, n * segc_dtype_size(src_dtype));
    return;
  }
  if (src_dtype == SEGC_F32 && dst_dtype == SEGC_BF16) {
    const float *s = src;
    segc_bf16 *d = dst;
#pragma omp parallel for schedule(static) if (n > (1u << 16))
    for (size_t i = 0; i < n; ++i) d[i] = segc_f32_to_bf16(s[i]);
    return;
  }
  if (src_dtype == SEGC_BF16 && dst_dtype == SEGC_F32) {
    const segc_bf16 *s = src;
    float *d = dst;
#pragma omp parallel for schedule(static) if (n > (1u << 16))
    for (size_t i = 0; i < n; ++i) d[i] = segc_bf16_to_f32(s[i]);
    return;
  }
#pragma omp parallel for schedule(static) if (n > (1u << 16))
  for (size_t i = 0; i < n; ++i)
    segc_store_f32(dst, dst_dtype, i, segc_load_f32(src, src_dtype, i));
}
