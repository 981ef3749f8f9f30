// Elementwise and resampling ops of the network: residual add and trilinear
// x2 upsample (plain ReLU, dropout and softmax, which only the tests use,
// are in tests/util/reference_ops.h). Both take (N, C, D, H, W) tensors in
// either layout, f32 or bf16 (outputs keep the input's dtype and layout), on
// a device the backend table supports (core/backend.h; otherwise
// SEGC_ERR_UNSUPPORTED). Gradients have the input's dtype; all results are
// the same for any thread count.
#ifndef SEGC_LAYERS_ELEMENTWISE_H
#define SEGC_LAYERS_ELEMENTWISE_H

#include "autograd/graph.h"

// y = a + b (same shape, dtype and layout). The tape holds nothing.
segc_status segc_add_forward(segc_graph *graph, segc_value *a, segc_value *b,
                             segc_value **y);

// Trilinear upsampling by 2 on every spatial axis with align_corners=False
// (PyTorch's nn.Upsample(scale_factor=2, mode="trilinear")).
// y: (N, C, 2D, 2H, 2W). The tape holds nothing; backward is a gather (each
// input gradient summed by one thread in a fixed order).
segc_status segc_upsample2x_forward(segc_graph *graph, segc_value *x,
                                    segc_value **y);

#endif
