// Ops only the tests use: plain ReLU, nn.Dropout and a channel softmax,
// forward and backward on the graph, CPU only (they ask the backend table
// like any op). Same conventions as layers/elementwise.h: (N, C, D, H, W) in
// either layout, f32 or bf16, results independent of the thread count.
#ifndef SEGC_TESTS_REFERENCE_OPS_H
#define SEGC_TESTS_REFERENCE_OPS_H

#include "autograd/graph.h"

// y = max(x, 0). The tape holds y (its backward needs only y > 0).
segc_status segc_relu_forward(segc_graph *graph, segc_value *x,
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

// Softmax over channels; y is f32 whatever x's dtype. The tape holds y.
segc_status segc_softmax_forward(segc_graph *graph, segc_value *x,
                                 segc_value **y);

#endif
