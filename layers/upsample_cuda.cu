// The CUDA kernels of trilinear x2 upsampling (glue in upsample.c; the taps
// are explained in upsample_cpu.c), on cudaStreamPerThread.
//
// One thread per output element (forward) or input element (backward, a
// gather: no scatter, no atomics). Each thread repeats the CPU's float
// operations in the CPU's order: the D/H taps mixed into a row value, then
// the W taps, so the results are the CPU's bits (--fmad=false).
#include "core/cuda_ops.cuh"

extern "C" {
#include "layers/upsample_kernels.h"
}

// Volumes of `channels` interleaved channels (N of C, or N*C of 1).
struct grid {
  int64_t volumes, channels, d, h, w;  // input extents
};

static grid grid_of(const segc_tensor *x) {
  const segc_shape s = x->shape;
  grid g = {s.n, s.c, s.d, s.h, s.w};
  if (x->layout == SEGC_LAYOUT_NCDHW) {
    g.volumes = s.n * s.c;
    g.channels = 1;
  }
  return g;
}

__device__ inline void forward_taps(int64_t o, int64_t len, int64_t idx[2],
                                    float weight[2]) {
  const int64_t i = o / 2;
  if (o % 2 == 0) {
    idx[0] = i > 0 ? i - 1 : 0;
    idx[1] = i;
    weight[0] = 0.25f;
    weight[1] = 0.75f;
  } else {
    idx[0] = i;
    idx[1] = i + 1 < len ? i + 1 : len - 1;
    weight[0] = 0.75f;
    weight[1] = 0.25f;
  }
}

__device__ inline void backward_taps(int64_t i, int64_t len, int64_t idx[4],
                                     float weight[4]) {
  idx[0] = i > 0 ? 2 * i - 1 : 0;
  idx[1] = 2 * i;
  idx[2] = 2 * i + 1;
  idx[3] = i + 1 < len ? 2 * i + 2 : 2 * len - 1;
  weight[0] = 0.25f;
  weight[1] = 0.75f;
  weight[2] = 0.75f;
  weight[3] = 0.25f;
}

__global__ void upsample_forward_kernel(const void *x, void *y, bool bf16,
                                        grid g) {
  const int64_t ch = g.channels, row_len = g.w * ch;
  const int64_t total = g.volumes * 8 * g.d * g.h * g.w * ch;
  SEGC_CUDA_FOR(i, total) {
    const int64_t c = i % ch;
    const int64_t ow = i / ch % (2 * g.w);
    const int64_t row = i / (2 * row_len);  // (v, od, oh)
    const int64_t oh = row % (2 * g.h), od = row / (2 * g.h) % (2 * g.d);
    const int64_t v = row / (4 * g.h * g.d);
    int64_t di[2], hi[2];
    float dw[2], hw[2];
    forward_taps(od, g.d, di, dw);
    forward_taps(oh, g.h, hi, hw);
    int64_t base[4];
    float weight[4];
    for (int a = 0; a < 2; ++a)
      for (int b = 0; b < 2; ++b) {
        base[a * 2 + b] = ((v * g.d + di[a]) * g.h + hi[b]) * row_len + c;
        weight[a * 2 + b] = dw[a] * hw[b];
      }
    // The D/H mix of input column wi (the CPU's `mixed` row).
    const int64_t w = ow / 2;
    const int64_t wi[2] = {ow % 2 == 0 ? (w > 0 ? w - 1 : 0) : w,
                           ow % 2 == 0 ? w : (w + 1 < g.w ? w + 1 : w)};
    float mixed[2];
    for (int t = 0; t < 2; ++t) {
      float acc = 0.0f;
      for (int k = 0; k < 4; ++k)
        acc += weight[k] * segc_cuda_load_act(x, base[k] + wi[t] * ch, bf16);
      mixed[t] = acc;
    }
    const float out = ow % 2 == 0 ? 0.25f * mixed[0] + 0.75f * mixed[1]
                                  : 0.75f * mixed[0] + 0.25f * mixed[1];
    segc_cuda_store_act(y, i, out, bf16);
  }
}

__global__ void upsample_backward_kernel(const void *dy, void *dx, bool bf16,
                                         grid g, bool accumulate) {
  const int64_t ch = g.channels, out_len = 2 * g.w * ch;
  const int64_t total = g.volumes * g.d * g.h * g.w * ch;
  SEGC_CUDA_FOR(i, total) {
    const int64_t c = i % ch;
    const int64_t w = i / ch % g.w;
    const int64_t row = i / (g.w * ch);  // (v, d, h)
    const int64_t h = row % g.h, d = row / g.h % g.d, v = row / (g.h * g.d);
    int64_t di[4], hi[4], wi[4];
    float dw[4], hw[4], ww[4];
    backward_taps(d, g.d, di, dw);
    backward_taps(h, g.h, hi, hw);
    backward_taps(w, g.w, wi, ww);
    int64_t base[16];
    float weight[16];
    for (int a = 0; a < 4; ++a)
      for (int b = 0; b < 4; ++b) {
        base[a * 4 + b] =
            ((v * 2 * g.d + di[a]) * 2 * g.h + hi[b]) * out_len + c;
        weight[a * 4 + b] = dw[a] * hw[b];
      }
    float mixed[4];
    for (int t = 0; t < 4; ++t) {
      float acc = 0.0f;
      for (int k = 0; k < 16; ++k)
        acc += weight[k] * segc_cuda_load_act(dy, base[k] + wi[t] * ch, bf16);
      mixed[t] = acc;
    }
    float acc = ww[0] * mixed[0] + ww[1] * mixed[1] + ww[2] * mixed[2] +
                ww[3] * mixed[3];
    if (accumulate) acc += segc_cuda_load_act(dx, i, bf16);
    segc_cuda_store_act(dx, i, acc, bf16);
  }
}

static segc_status upsample_cuda_forward(segc_arena *scratch,
                                         const segc_tensor *x,
                                         segc_tensor *y) {
  (void)scratch;  // no temporaries: each thread mixes its own taps
  const int64_t n = segc_tensor_numel(y);
  if (n == 0) return SEGC_OK;
  SEGC_CUDA_LAUNCH("upsample2x", upsample_forward_kernel, segc_cuda_blocks(n),
                   SEGC_CUDA_THREADS, x->data, y->data, x->dtype == SEGC_BF16,
                   grid_of(x));
  return SEGC_OK;
}

static segc_status upsample_cuda_backward(segc_arena *scratch,
                                          const segc_tensor *dy,
                                          segc_tensor *dx, bool accumulate) {
  (void)scratch;
  const int64_t n = segc_tensor_numel(dx);
  if (n == 0) return SEGC_OK;
  SEGC_CUDA_LAUNCH("upsample2x backward", upsample_backward_kernel,
                   segc_cuda_blocks(n), SEGC_CUDA_THREADS, dy->data, dx->data,
                   dx->dtype == SEGC_BF16, grid_of(dx), accumulate);
  return SEGC_OK;
}

extern "C" const segc_upsample_kernels segc_upsample_cuda_kernels = {
    upsample_cuda_forward, upsample_cuda_backward};
