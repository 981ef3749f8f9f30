// 3x3x3 convolutions with stride 1 and padding 1 by Winograd's minimal
// filtering F(2x2x2, 3x3x3) on the CPU, f32 NDHWC.
//
// Each 2x2x2 block of outputs (a tile) is computed from the 4x4x4 block of
// inputs around it: the input block and the 3x3x3 kernel are both carried
// into a 4x4x4 transformed space (B^T d B and G g G^T along each axis), where
// the convolution becomes 64 element-wise products summed over the input
// channels (64 small GEMMs: tiles x in-channels times in-channels x
// out-channels), and the products are carried back (A^T m A). That is 64
// multiply-adds per tile and channel pair instead of 8 x 27 = 216: 3.4x
// fewer. The transforms use only 0, +-1 and +-1/2, so f32 loses little
// (tests/test_conv3d_winograd_kernels.c bounds it against a double reference).
//
// Backward-data of such a convolution is the same kind of convolution, from
// the output channels to the input channels with the kernel rotated by 180
// degrees: the same code serves it with weights transformed accordingly.
// Backward-weights is the transposed problem, F(3x3x3, 2x2x2), with the
// same input transform and the tiles as the GEMMs' inner dimension.
//
// Work is cut into blocks of tiles fixed by the shape alone; every output
// element is computed by one thread in a fixed order, so results do not
// depend on the thread count.
#ifndef SEGC_LAYERS_CONV3D_WINOGRAD_H
#define SEGC_LAYERS_CONV3D_WINOGRAD_H

#include <stdbool.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/status.h"
#include "core/tensor.h"
#include "layers/conv3d.h"

enum {
  SEGC_WINO_ELEMENTS = 64,  // 4 x 4 x 4 transformed elements per tile
  SEGC_WINO_WIDTH = 16      // out-channels per GEMM panel (zero-padded)
};

// Whether the layer is a convolution this file computes: kernel 3, stride 1,
// padding 1.
bool conv3d_winograd_fits(const segc_conv3d_config *config);

// Floats of the transformed weights of a convolution from `in` to `out`
// channels: 64 x in x out rounded up to the panel width.
int64_t conv3d_winograd_weight_floats(int64_t in, int64_t out);

// u = G g G^T for every channel pair, in panels [64][out/16][in][16].
// w: the layer's f32 OIDHW weight (cout, cin, 3, 3, 3). For the forward
// convolution (cin -> cout); with `backward_data`, for its backward-data
// (cout -> cin, kernel rotated). Computed in double.
void conv3d_winograd_transform_weights(const float *w, int64_t cout,
                                       int64_t cin, bool backward_data,
                                       float *u);

// y (=, or += when accumulate) = conv(x) (+ bias when not NULL).
// x: (N, in, D, H, W) f32 NDHWC; y: (N, out, D, H, W) f32 NDHWC; u from
// conv3d_winograd_transform_weights for in -> out. Scratch: per-thread tile
// buffers (about 1 MB per thread) from `scratch`.
segc_status conv3d_winograd_run(segc_arena *scratch, const float *u, int64_t in,
                                int64_t out, segc_shape x_shape, const float *x,
                                const float *bias, float *y, bool accumulate);

// dw += dL/dweight (f32 OIDHW (out, in, 3, 3, 3)) and, when db is not NULL,
// db += dL/dbias (out), of y = conv(x): x (N, in, D, H, W) and dy (N, out,
// D, H, W) f32 NDHWC. By F(3x3x3, 2x2x2) (conv3d_winograd_weight_grad.c);
// scratch: about 8 MB of tile buffers plus 64 x out x in floats.
segc_status conv3d_winograd_weight_grad(segc_arena *scratch, segc_shape x_shape,
                                        const float *x, int64_t out,
                                        const float *dy, float *dw, float *db);

// Which GEMM kernel runs ("avx512", "avx2" or "portable"): the best this
// CPU has, unless a test chose one.
const char *conv3d_winograd_isa(void);
// For tests: run the named kernel from now on (NULL: the best again);
// false when this CPU cannot run it.
bool conv3d_winograd_use_isa(const char *isa);

#endif
