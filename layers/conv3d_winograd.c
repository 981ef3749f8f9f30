// Winograd F(2x2x2, 3x3x3) convolution on the CPU: weight transform, the
// input and output transforms of a block of tiles, and the loop over blocks.
// The matrices (correlation form, as CNN convolutions):
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]   input 4 -> 4
//   G   = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]   kernel 3 -> 4
//   A^T = [1 1 1 0; 0 1 -1 -1]                         product 4 -> 2
#include "layers/conv3d_winograd.h"

#include <omp.h>
#include <string.h>

#include "core/parallel.h"
#include "layers/conv3d_winograd_gemm.h"
#include "layers/conv3d_winograd_tiles.h"

// Tile blocks: as many tiles as keep one thread's transformed inputs and
// products near 1 MB (its L2, or the nearest cache), at least one row step.
enum { BLOCK_BYTES = 1 << 20, MAX_BLOCK_TILES = 192 };

bool conv3d_winograd_fits(const segc_conv3d_config *config) {
  return config->kernel == 3 && config->stride == 1 && config->padding == 1;
}

int64_t conv3d_winograd_weight_floats(int64_t in, int64_t out) {
  return SEGC_WINO_ELEMENTS * in * conv3d_winograd_padded(out);
}

// G g G^T of one 3x3x3 kernel g (index (kd * 3 + kh) * 3 + kw) into 64.
static void transform_kernel(const double g[27], double u[64]) {
  static const double G[4][3] = {
      {1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
  double t1[4][3][3], t2[4][4][3];
  for (int a = 0; a < 4; ++a)
    for (int j = 0; j < 3; ++j)
      for (int l = 0; l < 3; ++l) {
        double s = 0;
        for (int i = 0; i < 3; ++i) s += G[a][i] * g[(i * 3 + j) * 3 + l];
        t1[a][j][l] = s;
      }
  for (int a = 0; a < 4; ++a)
    for (int b = 0; b < 4; ++b)
      for (int l = 0; l < 3; ++l) {
        double s = 0;
        for (int j = 0; j < 3; ++j) s += G[b][j] * t1[a][j][l];
        t2[a][b][l] = s;
      }
  for (int a = 0; a < 4; ++a)
    for (int b = 0; b < 4; ++b)
      for (int c = 0; c < 4; ++c) {
        double s = 0;
        for (int l = 0; l < 3; ++l) s += G[c][l] * t2[a][b][l];
        u[(a * 4 + b) * 4 + c] = s;
      }
}

void conv3d_winograd_transform_weights(const float *w, int64_t cout,
                                       int64_t cin, bool backward_data,
                                       float *u) {
  // The convolution served: in -> out channels.
  const int64_t in = backward_data ? cout : cin;
  const int64_t out = backward_data ? cin : cout;
  const int64_t out_p = conv3d_winograd_padded(out),
                panels = out_p / SEGC_WINO_WIDTH;
  memset(u, 0, sizeof(float) * (size_t)conv3d_winograd_weight_floats(in, out));
  for (int64_t o = 0; o < out; ++o)
    for (int64_t i = 0; i < in; ++i) {
      // Backward-data: conv from layer's out (i here) to its in (o here)
      // with the kernel rotated by 180 degrees.
      const float *k =
          backward_data ? w + (i * cin + o) * 27 : w + (o * cin + i) * 27;
      double g[27], t[64];
      for (int q = 0; q < 27; ++q) g[q] = k[backward_data ? 26 - q : q];
      transform_kernel(g, t);
      const int64_t panel = o / SEGC_WINO_WIDTH, lane = o % SEGC_WINO_WIDTH;
      for (int e = 0; e < SEGC_WINO_ELEMENTS; ++e)
        u[((e * panels + panel) * in + i) * SEGC_WINO_WIDTH + lane] =
            (float)t[e];
    }
}

conv3d_winograd_tiling conv3d_winograd_make_tiling(segc_shape s, int64_t in,
                                                   int64_t out) {
  conv3d_winograd_tiling t = {.n = s.n,
                              .d = s.d,
                              .h = s.h,
                              .w = s.w,
                              .in = in,
                              .v_cols = in,
                              .out = out,
                              .out_p = conv3d_winograd_padded(out)};
  t.td = (s.d + 1) / 2;
  t.th = (s.h + 1) / 2;
  t.tw = (s.w + 1) / 2;
  t.tiles = s.n * t.td * t.th * t.tw;
  int64_t block = BLOCK_BYTES / ((int64_t)sizeof(float) * SEGC_WINO_ELEMENTS *
                                 (in + t.out_p));
  block = block / SEGC_WINO_ROW_STEP * SEGC_WINO_ROW_STEP;
  if (block < SEGC_WINO_ROW_STEP) block = SEGC_WINO_ROW_STEP;
  if (block > MAX_BLOCK_TILES) block = MAX_BLOCK_TILES;
  t.block = block;
  return t;
}

// One thread's buffers: transformed inputs [64][block][in] and products
// [64][block][out_p].
typedef struct {
  float *v, *m;
} block_buffers;

static int64_t thread_floats(const conv3d_winograd_tiling *t) {
  return SEGC_WINO_ELEMENTS * t->block * (t->in + t->out_p);
}

// Channels are transformed CHUNK at a time, so a tile's 64 vectors stay in
// registers and L1; `zeros` stands in for inputs outside the volume.
enum { CHUNK = 16 };
static const float zeros[CHUNK];

// Row `row` of every v[e] = B^T d B of the tile's 4x4x4 input block (zero
// outside the volume: the padding), channels [c0, c0 + width). Inlined with
// a constant width for whole chunks.
static inline __attribute__((always_inline)) void input_chunk(
    const conv3d_winograd_tiling *t, const float *x, conv3d_winograd_origin o,
    int64_t c0, int width, float *v, int64_t row) {
  float buf[64][CHUNK];
  const int64_t in = t->in;
  // B^T along w while loading.
  for (int a = 0; a < 4; ++a)
    for (int b = 0; b < 4; ++b) {
      const int64_t z = o.z - 1 + a, y = o.y - 1 + b;
      const bool row_inside = z >= 0 && z < t->d && y >= 0 && y < t->h;
      const float *p[4];
      for (int c = 0; c < 4; ++c) {
        const int64_t xx = o.x - 1 + c;
        p[c] = row_inside && xx >= 0 && xx < t->w
                   ? x + (((o.n * t->d + z) * t->h + y) * t->w + xx) * in + c0
                   : zeros;
      }
      float *q = buf[(a * 4 + b) * 4];
      for (int i = 0; i < width; ++i) {
        const float d0 = p[0][i], d1 = p[1][i], d2 = p[2][i], d3 = p[3][i];
        q[i] = d0 - d2;
        q[CHUNK + i] = d1 + d2;
        q[2 * CHUNK + i] = d2 - d1;
        q[3 * CHUNK + i] = d1 - d3;
      }
    }
  // B^T along h, in place.
  for (int a = 0; a < 4; ++a)
    for (int c = 0; c < 4; ++c) {
      float *q0 = buf[a * 16 + c], *q1 = q0 + 4 * CHUNK, *q2 = q1 + 4 * CHUNK,
            *q3 = q2 + 4 * CHUNK;
      for (int i = 0; i < width; ++i) {
        const float d0 = q0[i], d1 = q1[i], d2 = q2[i], d3 = q3[i];
        q0[i] = d0 - d2;
        q1[i] = d1 + d2;
        q2[i] = d2 - d1;
        q3[i] = d1 - d3;
      }
    }
  // B^T along d, into v.
  const int64_t e_stride = t->block * t->v_cols;
  float *dst = v + row * t->v_cols + c0;
  for (int bc = 0; bc < 16; ++bc) {
    const float *q0 = buf[bc], *q1 = buf[16 + bc], *q2 = buf[32 + bc],
                *q3 = buf[48 + bc];
    float *v0 = dst + bc * e_stride, *v1 = v0 + 16 * e_stride,
          *v2 = v1 + 16 * e_stride, *v3 = v2 + 16 * e_stride;
    for (int i = 0; i < width; ++i) {
      const float d0 = q0[i], d1 = q1[i], d2 = q2[i], d3 = q3[i];
      v0[i] = d0 - d2;
      v1[i] = d1 + d2;
      v2[i] = d2 - d1;
      v3[i] = d1 - d3;
    }
  }
}

SEGC_WINO_VARIANTS
void conv3d_winograd_input_tile(const conv3d_winograd_tiling *t, const float *x,
                                int64_t tile, float *v, int64_t row) {
  const conv3d_winograd_origin o = conv3d_winograd_origin_of(t, tile);
  int64_t c0 = 0;
  for (; c0 + CHUNK <= t->in; c0 += CHUNK)
    input_chunk(t, x, o, c0, CHUNK, v, row);
  if (c0 < t->in) input_chunk(t, x, o, c0, (int)(t->in - c0), v, row);
}

// The tile's 2x2x2 outputs, channels [c0, c0 + width), from row `row` of
// every m[e] (A^T m A), plus bias, into y (or added to it); outputs outside
// the volume are dropped.
static inline __attribute__((always_inline)) void output_chunk(
    const conv3d_winograd_tiling *t, const float *m, int64_t row,
    conv3d_winograd_origin o, int64_t c0, int width, const float *bias,
    bool accumulate, float *y) {
  float buf[32][CHUNK];  // [a][b][2] after the first axis
  const int64_t e_stride = t->block * t->out_p;
  const float *src = m + row * t->out_p + c0;
  // A^T along w while loading.
  for (int ab = 0; ab < 16; ++ab) {
    const float *m0 = src + ab * 4 * e_stride, *m1 = m0 + e_stride,
                *m2 = m1 + e_stride, *m3 = m2 + e_stride;
    float *q = buf[ab * 2];
    for (int i = 0; i < width; ++i) {
      q[i] = m0[i] + m1[i] + m2[i];
      q[CHUNK + i] = m1[i] - m2[i] - m3[i];
    }
  }
  // A^T along h: [a][b][c] -> [a][b < 2][c], in place.
  for (int a = 0; a < 4; ++a)
    for (int c = 0; c < 2; ++c) {
      float *q0 = buf[a * 8 + c], *q1 = q0 + 2 * CHUNK, *q2 = q1 + 2 * CHUNK,
            *q3 = q2 + 2 * CHUNK;
      for (int i = 0; i < width; ++i) {
        const float m0 = q0[i], m1 = q1[i], m2 = q2[i], m3 = q3[i];
        q0[i] = m0 + m1 + m2;
        q1[i] = m1 - m2 - m3;
      }
    }
  // A^T along d, into y.
  float bias_chunk[CHUNK] = {0};
  if (bias)
    for (int i = 0; i < width; ++i) bias_chunk[i] = bias[c0 + i];
  for (int b = 0; b < 2; ++b)
    for (int c = 0; c < 2; ++c) {
      const int64_t yy = o.y + b, xx = o.x + c;
      if (yy >= t->h || xx >= t->w) continue;
      const float *q0 = buf[b * 2 + c], *q1 = q0 + 8 * CHUNK,
                  *q2 = q1 + 8 * CHUNK, *q3 = q2 + 8 * CHUNK;
      for (int a = 0; a < 2; ++a) {
        const int64_t z = o.z + a;
        if (z >= t->d) continue;
        float *dst =
            y + (((o.n * t->d + z) * t->h + yy) * t->w + xx) * t->out + c0;
        for (int i = 0; i < width; ++i) {
          const float value =
              (a == 0 ? q0[i] + q1[i] + q2[i] : q1[i] - q2[i] - q3[i]) +
              bias_chunk[i];
          dst[i] = accumulate ? dst[i] + value : value;
        }
      }
    }
}

SEGC_WINO_VARIANTS
static void output_tile(const conv3d_winograd_tiling *t, const float *m,
                        int64_t row, const float *bias, bool accumulate,
                        float *y, int64_t tile) {
  const conv3d_winograd_origin o = conv3d_winograd_origin_of(t, tile);
  int64_t c0 = 0;
  for (; c0 + CHUNK <= t->out; c0 += CHUNK)
    output_chunk(t, m, row, o, c0, CHUNK, bias, accumulate, y);
  if (c0 < t->out)
    output_chunk(t, m, row, o, c0, (int)(t->out - c0), bias, accumulate, y);
}

// One block of tiles: transform its inputs, 64 x (out_p / 16) panel GEMMs,
// transform the products back.
static void run_block(const conv3d_winograd_tiling *t,
                      conv3d_winograd_panel_fn panel, const float *u,
                      const float *x, const float *bias, float *y,
                      bool accumulate, int64_t block, block_buffers *buffers) {
  const int64_t first = block * t->block;
  const int64_t count =
      first + t->block <= t->tiles ? t->block : t->tiles - first;
  const int64_t rows = (count + SEGC_WINO_ROW_STEP - 1) / SEGC_WINO_ROW_STEP *
                       SEGC_WINO_ROW_STEP;
  for (int64_t r = 0; r < count; ++r)
    conv3d_winograd_input_tile(t, x, first + r, buffers->v, r);
  if (rows > count)  // the padding rows of the last block: finite, unused
    for (int e = 0; e < SEGC_WINO_ELEMENTS; ++e)
      memset(buffers->v + (e * t->block + count) * t->in, 0,
             sizeof(float) * (size_t)((rows - count) * t->in));
  const int64_t panels = t->out_p / SEGC_WINO_WIDTH;
  for (int e = 0; e < SEGC_WINO_ELEMENTS; ++e)
    for (int64_t p = 0; p < panels; ++p)
      panel(buffers->v + e * t->block * t->in, t->in, 1,
            u + (e * panels + p) * t->in * SEGC_WINO_WIDTH, SEGC_WINO_WIDTH,
            t->in, buffers->m + e * t->block * t->out_p + p * SEGC_WINO_WIDTH,
            t->out_p, rows, false);
  for (int64_t r = 0; r < count; ++r)
    output_tile(t, buffers->m, r, bias, accumulate, y, first + r);
}

segc_status conv3d_winograd_run(segc_arena *scratch, const float *u, int64_t in,
                                int64_t out, segc_shape x_shape, const float *x,
                                const float *bias, float *y, bool accumulate) {
  const conv3d_winograd_tiling t =
      conv3d_winograd_make_tiling(x_shape, in, out);
  if (t.tiles == 0) return SEGC_OK;
  const int threads = segc_threads();
  const size_t per_thread = sizeof(float) * (size_t)thread_floats(&t);
  const size_t bytes = per_thread * (size_t)threads;
  void *memory;
  SEGC_TRY(segc_arena_alloc(scratch, bytes, &memory));
  const conv3d_winograd_panel_fn panel = conv3d_winograd_panel();
  const int64_t blocks = (t.tiles + t.block - 1) / t.block;
#pragma omp parallel num_threads(threads)
  {
    float *base =
        (float *)((char *)memory + per_thread * (size_t)omp_get_thread_num());
    block_buffers buffers = {.v = base,
                             .m = base + SEGC_WINO_ELEMENTS * t.block * t.in};
    // Any thread may take any block: each output is written by one block,
    // computed the same way whoever runs it.
#pragma omp for schedule(dynamic, 1)
    for (int64_t b = 0; b < blocks; ++b)
      run_block(&t, panel, u, x, bias, y, accumulate, b, &buffers);
  }
  segc_arena_free(scratch, memory, bytes);
  return SEGC_OK;
}
