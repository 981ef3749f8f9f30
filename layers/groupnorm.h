// GroupNorm (PyTorch's nn.GroupNorm) with an optional fused ReLU.
//
// Statistics are computed in double over fixed-size chunks combined in a
// fixed order, so results do not depend on the thread count; the work is
// split over (sample, group, chunk), not only over groups. In training the
// output is recomputable: the tape keeps x and the per-group mean and
// inverse deviation, and the output is rebuilt when a later backward needs it
// (saves one activation per norm).
#ifndef SEGC_LAYERS_GROUPNORM_H
#define SEGC_LAYERS_GROUPNORM_H

#include <stdbool.h>

#include "autograd/graph.h"
#include "autograd/param.h"

typedef struct {
  int groups;      // channels must divide evenly (8 in SegResNet)
  float eps;       // 1e-5
  bool relu;       // apply ReLU after the affine transform
  segc_param *gamma;  // (1, C, 1, 1, 1) f32 ("weight" in PyTorch)
  segc_param *beta;   // (1, C, 1, 1, 1) f32 ("bias")
} segc_groupnorm;

// y = [relu](gamma * (x - mean_g) / sqrt(var_g + eps) + beta), with mean and
// (population) variance over each group's channels and all voxels of a
// sample. x: (N, C, D, H, W) NDHWC f32 or bf16; y has x's dtype and layout.
// NCDHW is accepted too (through a channels-last copy in graph->backend->scratch:
// slower, same numbers). gamma/beta may be NULL (affine=False); their
// gradients are added to the params' grad buffers when those exist.
// Scratch needed: 16 bytes per (sample, channel, chunk of 16384 elements)
// (~1 MB for 1x32x96^3), plus up to 4 tensor copies for NCDHW.
segc_status segc_groupnorm_forward(segc_graph *graph,
                                   const segc_groupnorm *layer, segc_value *x,
                                   segc_value **y);

// The forward's two passes alone (for segbench), on a channels-last host
// tensor x, f32 or bf16. The statistics pass writes per-chunk sums of x and
// x^2 into `partial`, segc_groupnorm_partial_count(x's shape) doubles; the
// normalize pass writes y = [relu](x * scale[n*C + c] + shift[n*C + c]) in
// x's dtype (y may alias x's data).
int64_t segc_groupnorm_partial_count(segc_shape s);
void segc_groupnorm_statistics_pass(const segc_tensor *x, double *partial);
void segc_groupnorm_normalize_pass(const segc_tensor *x, void *y,
                                   const float *scale, const float *shift,
                                   bool relu);

#endif
