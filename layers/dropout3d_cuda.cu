// The CUDA kernel of Dropout3d (glue in dropout3d.c), on
// cudaStreamPerThread: the N*C channel scales drawn by
// segc_dropout3d_channel_scale (the CPU's formula and Philox counters, so
// the same mask) into scratch, then out = in * scale[n, c] (+ out) in any
// layout and dtype, with the CPU's rounding.
#include "core/cuda_ops.cuh"

extern "C" {
#include "layers/dropout3d_kernels.h"
}

static const char *const op_name = "dropout3d";

__global__ void channel_scales_kernel(float *scales, int64_t count,
                                      uint64_t seed, uint64_t stream,
                                      float p) {
  SEGC_CUDA_FOR(i, count)
  scales[i] = segc_dropout3d_channel_scale(seed, stream, p, (uint64_t)i);
}

// `plain_f32`: f32 in and out, channels-last, where the CPU computes
// (accumulate ? y : 0) + x * scale (so a -0 product gives +0 there too).
__global__ void apply_scales_kernel(const void *in, segc_dtype in_dtype,
                                    void *out, segc_dtype out_dtype,
                                    bool channels_last, segc_shape s,
                                    const float *scales, bool accumulate,
                                    bool plain_f32) {
  const int64_t spatial = s.d * s.h * s.w;
  const int64_t total = s.n * s.c * spatial;
  SEGC_CUDA_FOR(i, total) {
    const int64_t c = channels_last ? i % s.c : i / spatial % s.c;
    const int64_t n = i / (s.c * spatial);
    const float scale = scales[n * s.c + c];
    if (plain_f32) {
      float *y = (float *)out;
      y[i] = (accumulate ? y[i] : 0.0f) + ((const float *)in)[i] * scale;
      continue;
    }
    float v = segc_cuda_load(in, in_dtype, i) * scale;
    if (accumulate) v += segc_cuda_load(out, out_dtype, i);
    segc_cuda_store(out, out_dtype, i, v);
  }
}

static segc_status dropout3d_cuda_apply(segc_arena *scratch, uint64_t seed,
                                        uint64_t stream, float p,
                                        const segc_tensor *in,
                                        segc_tensor *out, bool accumulate) {
  const segc_shape s = in->shape;
  const int64_t count = s.n * s.c, total = segc_shape_numel(s);
  if (total == 0) return SEGC_OK;
  const size_t bytes = sizeof(float) * (size_t)count;
  void *memory;
  SEGC_TRY(segc_arena_alloc(scratch, bytes, &memory));
  float *scales = (float *)memory;
  const bool channels_last = in->layout == SEGC_LAYOUT_NDHWC;
  const bool plain_f32 = channels_last && in->dtype == SEGC_F32 &&
                         out->dtype == SEGC_F32;
  segc_status status = SEGC_OK;
  // A launch failure still gives the scratch back (the lambda returns its
  // status; the memory is freed below either way).
  status = [&]() -> segc_status {
    SEGC_CUDA_LAUNCH(op_name, channel_scales_kernel, segc_cuda_blocks(count),
                     SEGC_CUDA_THREADS, scales, count, seed, stream, p);
    SEGC_CUDA_LAUNCH(op_name, apply_scales_kernel, segc_cuda_blocks(total),
                     SEGC_CUDA_THREADS, in->data, in->dtype, out->data,
                     out->dtype, channels_last, s, scales, accumulate,
                     plain_f32);
    return SEGC_OK;
  }();
  // Kernels on this stream that come later see the memory only after these
  // (stream order), so it can go back now.
  segc_arena_free(scratch, memory, bytes);
  return status;
}

extern "C" const segc_dropout3d_kernels segc_dropout3d_cuda_kernels = {
    dropout3d_cuda_apply};
