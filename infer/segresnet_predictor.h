// The SegResNet as a sliding-window predictor: owns the inference graph and
// its arenas, sized once for the window shape.
#ifndef SEGC_INFER_SEGRESNET_PREDICTOR_H
#define SEGC_INFER_SEGRESNET_PREDICTOR_H

#include "autograd/graph.h"
#include "core/arena.h"
#include "layers/segresnet.h"

typedef struct {
  segc_segresnet *net;
  segc_dtype compute;        // f32 or bf16
  segc_arena activations;
  segc_arena scratch;
  segc_backend_context backend;  // device, oneDNN state, scratch
  segc_graph graph;
  segc_value *logits;        // output of the last call (freed on the next)
} segc_segresnet_predictor;

// Sizes the arenas for windows of `window` shape (N = sw_batch_size), on
// the network's device: the windows come in there and the logits (f32,
// NDHWC) stay there, for the sliding window to blend where they are.
segc_status segc_segresnet_predictor_init(segc_segresnet_predictor *p,
                                          segc_segresnet *net,
                                          segc_shape window,
                                          segc_dtype compute);
void segc_segresnet_predictor_destroy(segc_segresnet_predictor *p);

// segc_predict_fn: context is a segc_segresnet_predictor.
segc_status segc_segresnet_predict(void *context, const segc_tensor *windows,
                                   segc_tensor *logits);

#endif
