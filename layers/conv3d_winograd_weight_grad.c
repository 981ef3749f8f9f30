// Backward-weights of a 3x3x3 stride-1 padding-1 convolution by Winograd
// F(3x3x3, 2x2x2). Along one axis, with the output cut into pairs p = 2t + j:
//   dW[k] = sum_t sum_j dy[2t + j] x[2t + j + k - 1],  k = 0, 1, 2
// so each tile t contributes the correlation of its 4 inputs
// d = x[2t - 1 .. 2t + 2] (the forward's input tile) with its 2 output
// gradients g: 3 values from 4 x 2 products by
//   out = A'^T [(G' g) . (B^T d)],  B^T as the forward's,
//   G'   = [1 0; 1/2 1/2; 1/2 -1/2; 0 1],
//   A'^T = [1 1 1 0; 0 1 -1 0; 0 1 1 -1].
// In 3D the products summed over all tiles are 64 GEMMs with the tiles as
// the inner dimension: P_e[out][in] = sum_t G'dy_e[t][out] B^Tx_e[t][in];
// then dW = A'^T P A' per channel pair, once. 64 multiply-adds per tile and
// channel pair instead of 216.
//
// Deterministic: tiles are taken in blocks in order; within a block the
// transforms are split between threads, and each (element, panel) of P is
// summed by one thread over the block's tiles in order.
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/parallel.h"
#include "layers/conv3d_winograd.h"
#include "layers/conv3d_winograd_gemm.h"
#include "layers/conv3d_winograd_tiles.h"

// Tiles per block: transformed inputs and gradients of a block near 8 MB.
enum { BLOCK_BYTES = 8 << 20, MIN_BLOCK = 16, MAX_BLOCK = 2048, CHUNK = 16 };

typedef struct {
  conv3d_winograd_tiling t;
  int64_t out_rows;  // out rounded up to the row step
  float *v;          // [64][block][in_p]: B^T x B, as the forward's
  float *g;          // [64][block][out_rows]: G' dy G'^T
  float *p;          // [64][out_rows][in_p]: the sums over tiles
} grad_pass;

// Row `row` of every g[e] = G' dy G'^T of the tile's 2x2x2 output
// gradients (zero outside the volume), channels [c0, c0 + width).
static inline __attribute__((always_inline)) void gradient_chunk(
    const grad_pass *pass, const float *dy, conv3d_winograd_origin o,
    int64_t c0, int width, int64_t row) {
  const conv3d_winograd_tiling *t = &pass->t;
  float buf[64][CHUNK];
  static const float zeros[CHUNK];
  // G' along w while loading: [a < 2][b < 2][4].
  for (int a = 0; a < 2; ++a)
    for (int b = 0; b < 2; ++b) {
      const int64_t z = o.z + a, y = o.y + b;
      const float *q[2];
      for (int c = 0; c < 2; ++c) {
        const int64_t x = o.x + c;
        q[c] =
            z < t->d && y < t->h && x < t->w
                ? dy + (((o.n * t->d + z) * t->h + y) * t->w + x) * t->out + c0
                : zeros;
      }
      float *r = buf[(a * 4 + b) * 4];
      for (int i = 0; i < width; ++i) {
        const float g0 = q[0][i], g1 = q[1][i];
        r[i] = g0;
        r[CHUNK + i] = 0.5f * (g0 + g1);
        r[2 * CHUNK + i] = 0.5f * (g0 - g1);
        r[3 * CHUNK + i] = g1;
      }
    }
  // G' along h: [a < 2][b][c].
  for (int a = 0; a < 2; ++a)
    for (int c = 0; c < 4; ++c) {
      float *r0 = buf[a * 16 + c], *r1 = r0 + 4 * CHUNK, *r2 = r1 + 4 * CHUNK,
            *r3 = r2 + 4 * CHUNK;
      for (int i = 0; i < width; ++i) {
        const float g0 = r0[i], g1 = r1[i];
        r2[i] = 0.5f * (g0 - g1);
        r3[i] = g1;
        r1[i] = 0.5f * (g0 + g1);
      }
    }
  // G' along d: [a][b][c], a from the first two.
  for (int bc = 0; bc < 16; ++bc) {
    float *r0 = buf[bc], *r1 = buf[16 + bc], *r2 = buf[32 + bc],
          *r3 = buf[48 + bc];
    for (int i = 0; i < width; ++i) {
      const float g0 = r0[i], g1 = r1[i];
      r2[i] = 0.5f * (g0 - g1);
      r3[i] = g1;
      r1[i] = 0.5f * (g0 + g1);
    }
  }
  for (int e = 0; e < SEGC_WINO_ELEMENTS; ++e)
    memcpy(pass->g + (e * t->block + row) * pass->out_rows + c0, buf[e],
           sizeof(float) * (size_t)width);
}

SEGC_WINO_VARIANTS
static void gradient_tile(const grad_pass *pass, const float *dy, int64_t tile,
                          int64_t row) {
  const conv3d_winograd_origin o = conv3d_winograd_origin_of(&pass->t, tile);
  int64_t c0 = 0;
  for (; c0 + CHUNK <= pass->t.out; c0 += CHUNK)
    gradient_chunk(pass, dy, o, c0, CHUNK, row);
  if (c0 < pass->t.out)
    gradient_chunk(pass, dy, o, c0, (int)(pass->t.out - c0), row);
}

// dW[o][i] += A'^T P_(o, i) A' for every channel pair, in double.
static void finish_weights(const grad_pass *pass, float *dw) {
  static const double A[3][4] = {{1, 1, 1, 0}, {0, 1, -1, 0}, {0, 1, 1, -1}};
  const int64_t in = pass->t.in, out = pass->t.out, in_p = pass->t.v_cols;
#pragma omp parallel for schedule(static)
  for (int64_t o = 0; o < out; ++o)
    for (int64_t i = 0; i < in; ++i) {
      double m[64], t1[3][4][4], t2[3][3][4];
      for (int e = 0; e < 64; ++e)
        m[e] = pass->p[(e * pass->out_rows + o) * in_p + i];
      for (int k = 0; k < 3; ++k)
        for (int b = 0; b < 4; ++b)
          for (int c = 0; c < 4; ++c) {
            double s = 0;
            for (int a = 0; a < 4; ++a) s += A[k][a] * m[(a * 4 + b) * 4 + c];
            t1[k][b][c] = s;
          }
      for (int k = 0; k < 3; ++k)
        for (int l = 0; l < 3; ++l)
          for (int c = 0; c < 4; ++c) {
            double s = 0;
            for (int b = 0; b < 4; ++b) s += A[l][b] * t1[k][b][c];
            t2[k][l][c] = s;
          }
      float *w = dw + (o * in + i) * 27;
      for (int k = 0; k < 3; ++k)
        for (int l = 0; l < 3; ++l)
          for (int q = 0; q < 3; ++q) {
            double s = 0;
            for (int c = 0; c < 4; ++c) s += A[q][c] * t2[k][l][c];
            w[(k * 3 + l) * 3 + q] += (float)s;
          }
    }
}

// db[o] += the sum of dy over the batch and space, in double, in chunks of
// fixed size added in order.
static segc_status add_bias_gradient(segc_arena *scratch, const float *dy,
                                     int64_t voxels, int64_t out, float *db) {
  const int64_t chunks = segc_chunk_count(voxels, SEGC_REDUCE_CHUNK);
  const size_t bytes = sizeof(double) * (size_t)(chunks * out);
  double *partial;
  SEGC_TRY(segc_arena_alloc(scratch, bytes, (void **)&partial));
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < chunks; ++c) {
    double *sum = partial + c * out;
    for (int64_t o = 0; o < out; ++o) sum[o] = 0.0;
    const int64_t end = (c + 1) * SEGC_REDUCE_CHUNK < voxels
                            ? (c + 1) * SEGC_REDUCE_CHUNK
                            : voxels;
    for (int64_t v = c * SEGC_REDUCE_CHUNK; v < end; ++v)
      for (int64_t o = 0; o < out; ++o) sum[o] += dy[v * out + o];
  }
  for (int64_t o = 0; o < out; ++o) {
    double total = 0.0;
    for (int64_t c = 0; c < chunks; ++c) total += partial[c * out + o];
    db[o] += (float)total;
  }
  segc_arena_free(scratch, partial, bytes);
  return SEGC_OK;
}

segc_status conv3d_winograd_weight_grad(segc_arena *scratch, segc_shape x_shape,
                                        const float *x, int64_t out,
                                        const float *dy, float *dw, float *db) {
  grad_pass pass = {.t = conv3d_winograd_make_tiling(x_shape, x_shape.c, out)};
  conv3d_winograd_tiling *t = &pass.t;
  const int64_t in = x_shape.c, in_p = conv3d_winograd_padded(in);
  t->v_cols = in_p;
  pass.out_rows =
      (out + SEGC_WINO_ROW_STEP - 1) / SEGC_WINO_ROW_STEP * SEGC_WINO_ROW_STEP;
  int64_t block = BLOCK_BYTES / ((int64_t)sizeof(float) * SEGC_WINO_ELEMENTS *
                                 (in_p + pass.out_rows));
  block = block < MIN_BLOCK ? MIN_BLOCK : block > MAX_BLOCK ? MAX_BLOCK : block;
  t->block = block;
  const size_t v_bytes = sizeof(float) * (size_t)(64 * block * in_p);
  const size_t g_bytes = sizeof(float) * (size_t)(64 * pass.out_rows * block);
  const size_t p_bytes = sizeof(float) * (size_t)(64 * pass.out_rows * in_p);
  const size_t bytes = v_bytes + g_bytes + p_bytes;
  void *memory;
  SEGC_TRY(segc_arena_calloc(scratch, bytes, &memory));  // padding stays 0
  pass.v = memory;
  pass.g = (float *)((char *)memory + v_bytes);
  pass.p = (float *)((char *)memory + v_bytes + g_bytes);
  const conv3d_winograd_panel_fn panel = conv3d_winograd_panel();
  const int64_t panels = in_p / SEGC_WINO_WIDTH;
  const int threads = segc_threads();
  for (int64_t first = 0; first < t->tiles; first += block) {
    const int64_t count = first + block <= t->tiles ? block : t->tiles - first;
#pragma omp parallel num_threads(threads)
    {
#pragma omp for schedule(static)
      for (int64_t r = 0; r < count; ++r) {
        conv3d_winograd_input_tile(t, x, first + r, pass.v, r);
        gradient_tile(&pass, dy, first + r, r);
      }
#pragma omp for schedule(dynamic, 1)
      for (int64_t item = 0; item < SEGC_WINO_ELEMENTS * panels; ++item) {
        const int64_t e = item / panels, p = item % panels;
        panel(pass.g + e * block * pass.out_rows, 1, pass.out_rows,
              pass.v + e * block * in_p + p * SEGC_WINO_WIDTH, in_p, count,
              pass.p + e * pass.out_rows * in_p + p * SEGC_WINO_WIDTH, in_p,
              pass.out_rows, true);
      }
    }
  }
  finish_weights(&pass, dw);
  segc_status status = SEGC_OK;
  if (db)
    status =
        add_bias_gradient(scratch, dy, segc_shape_numel(x_shape) / in, out, db);
  segc_arena_free(scratch, memory, bytes);
  return status;
}
