// A trainable parameter: a named view into the flat weight arena and, when
// training, the matching view into the flat gradient arena.
#ifndef SEGC_AUTOGRAD_PARAM_H
#define SEGC_AUTOGRAD_PARAM_H

#include <stdint.h>

#include "autograd/graph.h"
#include "core/tensor.h"

enum { SEGC_PARAM_NAME_BYTES = 64 };

typedef struct {
  char name[SEGC_PARAM_NAME_BYTES];  // MONAI state-dict key
  segc_tensor value;  // f32, NCDHW (PyTorch's order: conv weights are OIDHW)
  segc_tensor grad;   // same shape; data NULL when not training
  // Dimensions of the tensor in PyTorch's state dict: 5 for conv weights
  // (O, I, kD, kH, kW), 1 for biases and norm weights (C,).
  int torch_ndim;
  // Bumped whenever value changes (optimizer step, checkpoint load), so that
  // layers can cache a reordered or converted copy of it.
  uint64_t version;
} segc_param;

// Wraps the parameter for one pass of a graph; requires a gradient when the
// parameter has a gradient buffer.
static inline segc_status segc_param_value(segc_graph *graph, segc_param *p,
                                           segc_value **out) {
  SEGC_TRY(segc_graph_use_param(graph, p->grad.data,
                                p->grad.data ? segc_tensor_bytes(&p->grad)
                                             : 0));
  return segc_graph_wrap(graph, p->value, p->grad.data ? &p->grad : NULL,
                         p->grad.data != NULL, p->name, out);
}

#endif
