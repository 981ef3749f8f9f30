// Dropout3d (one mask value per sample and channel): checks, the RNG
// stream and the tape entry. The arithmetic is a kernel chosen by the
// input's device (dropout3d_kernels.h: dropout3d_cpu.c, dropout3d_cuda.cu).
#include "layers/dropout3d.h"

#include "core/backend.h"
#include "core/rng.h"
#include "layers/dropout3d_kernels.h"
#include "layers/op_common.h"

#ifdef SEGC_HAVE_CUDA
static const segc_dropout3d_kernels
    *const kernels_by_device[SEGC_DEVICE_COUNT] = SEGC_BACKEND_KERNELS(
        &segc_dropout3d_cpu_kernels, &segc_dropout3d_cuda_kernels);
#else
static const segc_dropout3d_kernels
    *const kernels_by_device[SEGC_DEVICE_COUNT] =
        SEGC_BACKEND_KERNELS(&segc_dropout3d_cpu_kernels, NULL);
#endif

typedef struct {
  segc_value *x, *y;
  float p;
  uint64_t seed, stream;
} dropout3d_saved;

static segc_status dropout3d_backward(segc_graph *graph, void *p) {
  dropout3d_saved *s = p;
  segc_tensor target;
  bool accumulate;
  SEGC_TRY(segc_value_grad_target(graph, s->x, &target, &accumulate));
  if (target.layout != s->y->grad.layout)
    return SEGC_FAIL(SEGC_ERR_INTERNAL, "dropout3d: gradient layouts differ");
  return kernels_by_device[target.device]->apply(
      graph->backend->scratch, s->seed, s->stream, s->p, &s->y->grad, &target,
      accumulate);
}

segc_status segc_dropout3d_forward(segc_graph *graph, segc_value *x, float p,
                                   segc_value **y) {
  if (!(p >= 0.0f && p < 1.0f))
    return SEGC_FAIL(SEGC_ERR_INVALID, "dropout3d: p must be in [0, 1), got %g",
                     (double)p);
  SEGC_TRY(segc_backend_require("dropout3d", x->data.device, x->data.dtype));
  if (!graph->training || p == 0.0f) {
    segc_value_retain(x);
    *y = x;
    return SEGC_OK;
  }
  SEGC_TRY(segc_op_check_on_graph("dropout3d", "x", graph, x));
  const uint64_t stream =
      segc_rng_stream(SEGC_RNG_DROPOUT, graph->step, graph->op_index++);
  SEGC_TRY(segc_graph_new_value(graph, x->data.shape, x->data.dtype,
                                x->data.layout, x->requires_grad, y));
  SEGC_TRY(kernels_by_device[x->data.device]->apply(
      graph->backend->scratch, graph->seed, stream, p, &x->data, &(*y)->data, false));
  if (!segc_graph_needs_tape(graph, &x, 1)) return SEGC_OK;
  dropout3d_saved *saved;
  SEGC_TRY(segc_graph_alloc_saved(graph, sizeof *saved, (void **)&saved));
  saved->x = x;
  saved->y = *y;
  saved->p = p;
  saved->seed = graph->seed;
  saved->stream = stream;
  return segc_graph_record(graph, "dropout3d", dropout3d_backward, saved, y, 1,
                           NULL, 0);
}
