// The CPU kernels of trilinear x2 upsampling with align_corners=False,
// forward and backward (glue in upsample.c).
//
// Per axis, output o reads source position (o + 0.5)/2 - 0.5 clamped at 0,
// between neighbours clamped to the border, so with i = o/2:
//   even o: 0.25 * x[max(i-1, 0)] + 0.75 * x[i]
//   odd o:  0.75 * x[i] + 0.25 * x[min(i+1, L-1)]
// (at o = 0 both taps are x[0], the same value PyTorch's weight 1 gives).
// The backward is the transposed map written as a gather: input i collects
// outputs 2i-1, 2i, 2i+1, 2i+2 (weights 0.25, 0.75, 0.75, 0.25, indices
// clamped to [0, 2L-1] exactly as the forward clamps), so each input gradient
// is summed by one thread in a fixed order: no scatter, no races.
//
// Each output row (fixed d, h) mixes 4 input rows (D and H taps) into a
// temporary row, then expands it along W; NDHWC rows are W*C contiguous
// values. NCDHW is handled as N*C one-channel volumes.
//
// Why not oneDNN's linear resampling (which gives the same values: segbench
// groupnorm compares them, within 4e-7 forward and 3e-6 backward in f32,
// identical in bf16): at 64x48^3 -> 96^3 its forward is about as fast as
// this one, but its backward is 7-15x slower, and this code is short.
#include <omp.h>
#include <stdbool.h>

#include "layers/upsample_kernels.h"
#include "layers/op_common.h"

#define ALWAYS_INLINE static inline __attribute__((always_inline))

// Volumes of `channels` interleaved channels (N of C, or N*C of 1).
typedef struct {
  int64_t volumes, channels, d, h, w;  // input extents
} grid;

static grid grid_of(const segc_tensor *x) {
  const segc_shape s = x->shape;
  grid g = {s.n, s.c, s.d, s.h, s.w};
  if (x->layout == SEGC_LAYOUT_NCDHW) {
    g.volumes = s.n * s.c;
    g.channels = 1;
  }
  return g;
}

// The two source taps of output o on an axis of input length len.
ALWAYS_INLINE void forward_taps(int64_t o, int64_t len, int64_t idx[2],
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

// The four outputs that read input i on an axis of input length len.
ALWAYS_INLINE void backward_taps(int64_t i, int64_t len, int64_t idx[4],
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

// Output row (volume v, depth od, height oh): 2W * C values.
ALWAYS_INLINE void forward_row(const void *x, void *y, bool bf16, grid g,
                               int64_t row, float *mixed) {
  const int64_t oh = row % (2 * g.h), od = row / (2 * g.h) % (2 * g.d);
  const int64_t v = row / (4 * g.h * g.d);
  const int64_t row_len = g.w * g.channels;
  int64_t di[2], hi[2];
  float dw[2], hw[2];
  forward_taps(od, g.d, di, dw);
  forward_taps(oh, g.h, hi, hw);
  int64_t base[4];
  float weight[4];
  for (int a = 0; a < 2; ++a)
    for (int b = 0; b < 2; ++b) {
      base[a * 2 + b] = ((v * g.d + di[a]) * g.h + hi[b]) * row_len;
      weight[a * 2 + b] = dw[a] * hw[b];  // exact: 1/16, 3/16 or 9/16
    }
#pragma omp simd
  for (int64_t i = 0; i < row_len; ++i) {
    float acc = 0.0f;
    for (int k = 0; k < 4; ++k)
      acc += weight[k] * segc_op_load(x, base[k] + i, bf16);
    mixed[i] = acc;
  }
  const int64_t out = row * 2 * row_len, c_count = g.channels;
  for (int64_t w = 0; w < g.w; ++w) {
    const float *left = mixed + (w > 0 ? w - 1 : 0) * c_count;
    const float *mid = mixed + w * c_count;
    const float *right = mixed + (w + 1 < g.w ? w + 1 : w) * c_count;
    const int64_t even = out + 2 * w * c_count, odd = even + c_count;
#pragma omp simd
    for (int64_t c = 0; c < c_count; ++c) {
      segc_op_store(y, even + c, 0.25f * left[c] + 0.75f * mid[c], bf16);
      segc_op_store(y, odd + c, 0.75f * mid[c] + 0.25f * right[c], bf16);
    }
  }
}

// Input-gradient row (volume v, depth d, height h): W * C values from the
// 4 x 4 output-gradient rows that read it.
ALWAYS_INLINE void backward_row(const void *dy, void *dx, bool bf16, grid g,
                                int64_t row, bool accumulate, float *mixed) {
  const int64_t h = row % g.h, d = row / g.h % g.d, v = row / (g.h * g.d);
  const int64_t out_len = 2 * g.w * g.channels;
  int64_t di[4], hi[4];
  float dw[4], hw[4];
  backward_taps(d, g.d, di, dw);
  backward_taps(h, g.h, hi, hw);
  int64_t base[16];
  float weight[16];
  for (int a = 0; a < 4; ++a)
    for (int b = 0; b < 4; ++b) {
      base[a * 4 + b] = ((v * 2 * g.d + di[a]) * 2 * g.h + hi[b]) * out_len;
      weight[a * 4 + b] = dw[a] * hw[b];
    }
#pragma omp simd
  for (int64_t i = 0; i < out_len; ++i) {
    float acc = 0.0f;
    for (int k = 0; k < 16; ++k)
      acc += weight[k] * segc_op_load(dy, base[k] + i, bf16);
    mixed[i] = acc;
  }
  const int64_t c_count = g.channels, in_row = row * g.w * c_count;
  for (int64_t w = 0; w < g.w; ++w) {
    int64_t wi[4];
    float ww[4];
    backward_taps(w, g.w, wi, ww);
    const int64_t at = in_row + w * c_count;
#pragma omp simd
    for (int64_t c = 0; c < c_count; ++c) {
      float acc = ww[0] * mixed[wi[0] * c_count + c] +
                  ww[1] * mixed[wi[1] * c_count + c] +
                  ww[2] * mixed[wi[2] * c_count + c] +
                  ww[3] * mixed[wi[3] * c_count + c];
      if (accumulate) acc += segc_op_load(dx, at + c, bf16);
      segc_op_store(dx, at + c, acc, bf16);
    }
  }
}

// Per-dtype row kernels (the dtype and the accumulate flag are constants
// inside each, so the vector loops have no branches).
SEGC_KERNEL_VARIANTS static void forward_row_f32(const void *x, void *y, grid g,
                                                 int64_t row, float *mixed) {
  forward_row(x, y, false, g, row, mixed);
}

SEGC_KERNEL_VARIANTS static void forward_row_bf16(const void *x, void *y,
                                                  grid g, int64_t row,
                                                  float *mixed) {
  forward_row(x, y, true, g, row, mixed);
}

SEGC_KERNEL_VARIANTS static void backward_row_f32(const void *dy, void *dx,
                                                  grid g, int64_t row,
                                                  bool accumulate,
                                                  float *mixed) {
  if (accumulate)
    backward_row(dy, dx, false, g, row, true, mixed);
  else
    backward_row(dy, dx, false, g, row, false, mixed);
}

SEGC_KERNEL_VARIANTS static void backward_row_bf16(const void *dy, void *dx,
                                                   grid g, int64_t row,
                                                   bool accumulate,
                                                   float *mixed) {
  if (accumulate)
    backward_row(dy, dx, true, g, row, true, mixed);
  else
    backward_row(dy, dx, true, g, row, false, mixed);
}

// One temporary row per thread, indexed by the thread number (the rows'
// results do not depend on which thread computes them).
static void forward_all(const void *x, void *y, bool bf16, grid g, float *rows,
                        int64_t row_floats) {
  const int64_t count = g.volumes * 4 * g.d * g.h;
  // Parallel when the output (count rows of 2W * C) is large enough.
  const bool parallel = count * 2 * g.w * g.channels > SEGC_OP_PARALLEL_MIN;
#pragma omp parallel if (parallel)
  {
    float *mixed = rows + omp_get_thread_num() * row_floats;
#pragma omp for schedule(static)
    for (int64_t r = 0; r < count; ++r) {
      if (bf16)
        forward_row_bf16(x, y, g, r, mixed);
      else
        forward_row_f32(x, y, g, r, mixed);
    }
  }
}

static void backward_all(const void *dy, void *dx, bool bf16, grid g,
                         bool accumulate, float *rows, int64_t row_floats) {
  const int64_t count = g.volumes * g.d * g.h;
  // The work is reading the output gradient, 8 values per input value.
  const bool parallel = count * 8 * g.w * g.channels > SEGC_OP_PARALLEL_MIN;
#pragma omp parallel if (parallel)
  {
    float *mixed = rows + omp_get_thread_num() * row_floats;
#pragma omp for schedule(static)
    for (int64_t r = 0; r < count; ++r) {
      if (bf16)
        backward_row_bf16(dy, dx, g, r, accumulate, mixed);
      else
        backward_row_f32(dy, dx, g, r, accumulate, mixed);
    }
  }
}

// Per-thread rows of `floats_per_row` floats in scratch.
static segc_status take_rows(segc_op_scratch *scratch, int64_t floats_per_row,
                             float **rows) {
  const int threads = omp_get_max_threads();
  return segc_op_scratch_take(
      scratch, sizeof(float) * (size_t)(floats_per_row * threads),
      (void **)rows);
}

static segc_status upsample_cpu_forward(segc_arena *arena,
                                        const segc_tensor *x, segc_tensor *y) {
  const grid g = grid_of(x);
  const int64_t row_floats = g.w * g.channels;
  segc_op_scratch scratch;
  segc_op_scratch_init(&scratch, arena);
  float *rows;
  segc_status status = take_rows(&scratch, row_floats, &rows);
  if (status == SEGC_OK)
    forward_all(x->data, y->data, x->dtype == SEGC_BF16, g, rows, row_floats);
  segc_op_scratch_release(&scratch);
  return status;
}

static segc_status upsample_cpu_backward(segc_arena *arena,
                                         const segc_tensor *dy,
                                         segc_tensor *dx, bool accumulate) {
  const grid g = grid_of(dx);
  const int64_t row_floats = 2 * g.w * g.channels;
  segc_op_scratch scratch;
  segc_op_scratch_init(&scratch, arena);
  float *rows;
  segc_status status = take_rows(&scratch, row_floats, &rows);
  if (status == SEGC_OK)
    backward_all(dy->data, dx->data, dx->dtype == SEGC_BF16, g, accumulate,
                 rows, row_floats);
  segc_op_scratch_release(&scratch);
  return status;
}

const segc_upsample_kernels segc_upsample_cpu_kernels = {upsample_cpu_forward,
                                                         upsample_cpu_backward};
