// Elementwise and resampling ops: ReLU, add, dropout, trilinear x2 upsample,
// channel softmax. All take (N, C, D, H, W) tensors in either layout, f32 or
// bf16 (outputs keep the input's dtype and layout unless stated), on the CPU
// (another device fails with SEGC_ERR_UNSUPPORTED). Gradients have the
// input's dtype; all results are the same for any thread count.
#ifndef SEGC_LAYERS_ELEMENTWISE_H
#define SEGC_LAYERS_ELEMENTWISE_H

#include "autograd/graph.h"

// y = max(x, 0). The tape holds y (its backward needs only y > 0).
segc_status segc_relu_forward(segc_graph *graph, segc_value *x,
                              segc_value **y);

// y = a + b (same shape, dtype and layout). The tape holds nothing.
segc_status segc_add_forward(segc_graph *graph, segc_value *a, segc_value *b,
                             segc_value **y);

// nn.Dropout: in training, each element is zeroed with probability p and the
// rest scaled by 1/(1-p); the mask comes from the counter RNG keyed by
// (graph->seed, stream(SEGC_RNG_DROPOUT, graph->step, op index)), so it does
// not depend on threads: element i, its linear index in x's storage order
// (so the same logical tensor in another layout gets another mask), is
// dropped iff segc_rng_uniform(seed, stream, i) < p. The op index is
// graph->op_index, which the op then increments. Backward draws the mask
// again (nothing is stored). Outside training (or p == 0) y is x itself
// with one more reference (release it as usual).
segc_status segc_dropout_forward(segc_graph *graph, segc_value *x, float p,
                                 segc_value **y);

// Trilinear upsampling by 2 on every spatial axis with align_corners=False
// (PyTorch's nn.Upsample(scale_factor=2, mode="trilinear")).
// y: (N, C, 2D, 2H, 2W). The tape holds nothing; backward is a gather (each
// input gradient summed by one thread in a fixed order).
segc_status segc_upsample2x_forward(segc_graph *graph, segc_value *x,
                                    segc_value **y);

// Softmax over channels; y is f32 whatever x's dtype. The tape holds y.
segc_status segc_softmax_forward(segc_graph *graph, segc_value *x,
                                 segc_value **y);

#endif
