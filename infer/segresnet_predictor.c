#include "infer/segresnet_predictor.h"

#include <string.h>

#include "core/dnnl_context.h"

segc_status segc_segresnet_predictor_init(segc_segresnet_predictor *p,
                                          segc_segresnet *net,
                                          segc_shape window,
                                          segc_dtype compute) {
  memset(p, 0, sizeof *p);
  SEGC_TRY(segc_segresnet_require_device(net->device));
  // oneDNN's bf16 is a question for the CPU only.
  if (net->device == SEGC_DEVICE_CPU) SEGC_TRY(segc_dnnl_require_compute(compute));
  p->net = net;
  p->compute = compute;
  const size_t activation_bytes =
      segc_segresnet_activation_bound(&net->config, window, compute, false);
  SEGC_TRY(segc_arena_init(&p->activations, "inference activations",
                           activation_bytes, net->device));
  // Convolution scratch (oneDNN scratchpads, weight reorders) is bounded by a
  // few window-sized tensors at the widest level.
  const size_t scratch_bytes = activation_bytes / 2 + (256u << 20);
  segc_status status = segc_arena_init(&p->scratch, "inference scratch",
                                       scratch_bytes, net->device);
  if (status == SEGC_OK)
    status = segc_backend_context_init(&p->backend, p->scratch.device,
                                       &p->scratch);
  if (status == SEGC_OK)
    status = segc_graph_init(&p->graph, &p->backend, &p->activations, 4u << 20);
  if (status != SEGC_OK) segc_segresnet_predictor_destroy(p);
  return status;
}

void segc_segresnet_predictor_destroy(segc_segresnet_predictor *p) {
  if (p->graph.tape) segc_graph_destroy(&p->graph);
  segc_backend_context_destroy(&p->backend);
  if (p->activations.base) segc_arena_destroy(&p->activations);
  if (p->scratch.base) segc_arena_destroy(&p->scratch);
  memset(p, 0, sizeof *p);
}

segc_status segc_segresnet_predict(void *context, const segc_tensor *windows,
                                   segc_tensor *logits) {
  segc_segresnet_predictor *p = context;
  segc_graph *g = &p->graph;
  segc_graph_reset(g);  // frees the previous call's logits
  p->logits = NULL;
  g->training = false;
  segc_value *input;
  SEGC_TRY(segc_graph_wrap(g, *windows, NULL, false, "windows", &input));
  SEGC_TRY(segc_segresnet_forward(p->net, g, input, p->compute, &p->logits));
  *logits = p->logits->data;
  return SEGC_OK;
}
