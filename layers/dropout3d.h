// Channel dropout (PyTorch's nn.Dropout3d), the dropout MONAI's SegResNet
// actually builds for spatial_dims 3: `Dropout[Dropout.DROPOUT, 3]` resolves
// to nn.Dropout3d in monai/networks/layers/factories.py, so whole channels of
// a sample are zeroed, not single voxels.
#ifndef SEGC_LAYERS_DROPOUT3D_H
#define SEGC_LAYERS_DROPOUT3D_H

#include "autograd/graph.h"

// In training, channel c of sample n is zeroed with probability p and the
// kept channels are scaled by 1/(1-p). Channel (n, c) is dropped iff
// segc_rng_uniform(graph->seed, stream, n * C + c) < p with stream =
// segc_rng_stream(SEGC_RNG_DROPOUT, graph->step, op index), so the mask does
// not depend on threads; backward regenerates it. Outside training (or with
// p == 0) y is x itself with one more reference.
// x: (N, C, D, H, W), either layout, f32 or bf16.
segc_status segc_dropout3d_forward(segc_graph *graph, segc_value *x, float p,
                                   segc_value **y);

#endif
