// The tiling and input transform shared by the Winograd forward and
// backward-data (conv3d_winograd.c) and backward-weights
// (conv3d_winograd_weight_grad.c). Private to layers/.
#ifndef SEGC_LAYERS_CONV3D_WINOGRAD_TILES_H
#define SEGC_LAYERS_CONV3D_WINOGRAD_TILES_H

#include <stdint.h>

#include "core/tensor.h"
#include "layers/conv3d_winograd.h"

// A shape cut into 2x2x2 output tiles, and blocks of tiles.
typedef struct {
  int64_t n, d, h, w;
  int64_t in, v_cols;  // input channels; row stride of the transformed input
  int64_t out, out_p;  // output channels; rounded up to the panel width
  int64_t td, th, tw, tiles;  // tiles per axis, in all
  int64_t block;              // tiles per block (a multiple of the row step)
} conv3d_winograd_tiling;

typedef struct {
  int64_t n, z, y, x;  // first output voxel of the tile
} conv3d_winograd_origin;

static inline conv3d_winograd_origin conv3d_winograd_origin_of(
    const conv3d_winograd_tiling *t, int64_t tile) {
  conv3d_winograd_origin o;
  o.x = tile % t->tw * 2;
  tile /= t->tw;
  o.y = tile % t->th * 2;
  tile /= t->th;
  o.z = tile % t->td * 2;
  o.n = tile / t->td;
  return o;
}

// n rounded up to the panel width.
static inline int64_t conv3d_winograd_padded(int64_t n) {
  return (n + SEGC_WINO_WIDTH - 1) / SEGC_WINO_WIDTH * SEGC_WINO_WIDTH;
}

// The forward tiling of x_shape (in -> out channels), v_cols = in.
conv3d_winograd_tiling conv3d_winograd_make_tiling(segc_shape x_shape,
                                                   int64_t in, int64_t out);

// Row `row` of every v[e] (e-th matrix at v + e * block * v_cols, rows of
// v_cols floats) = B^T d B of the tile's 4x4x4 input block, zero outside
// the volume; columns [in, v_cols) are left alone.
void conv3d_winograd_input_tile(const conv3d_winograd_tiling *t, const float *x,
                                int64_t tile, float *v, int64_t row);

#endif
