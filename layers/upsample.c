// Trilinear x2 upsampling (align_corners=False): checks and the tape entry.
// The arithmetic is kernels chosen by the input's device
// (upsample_kernels.h: upsample_cpu.c, which explains the taps, and
// upsample_cuda.cu).
#include "core/backend.h"
#include "layers/elementwise.h"
#include "layers/op_common.h"
#include "layers/upsample_kernels.h"

#ifdef SEGC_HAVE_CUDA
static const segc_upsample_kernels *const kernels_by_device[SEGC_DEVICE_COUNT] =
    SEGC_BACKEND_KERNELS(&segc_upsample_cpu_kernels,
                         &segc_upsample_cuda_kernels);
#else
static const segc_upsample_kernels *const kernels_by_device[SEGC_DEVICE_COUNT] =
    SEGC_BACKEND_KERNELS(&segc_upsample_cpu_kernels, NULL);
#endif

typedef struct {
  segc_value *x, *y;
} upsample_saved;

static segc_status upsample_backward(segc_graph *graph, void *saved) {
  const upsample_saved *st = saved;
  segc_tensor dx;
  bool accumulate;
  SEGC_TRY(segc_value_grad_target(graph, st->x, &dx, &accumulate));
  return kernels_by_device[dx.device]->backward(graph->backend->scratch, &st->y->grad,
                                                &dx, accumulate);
}

segc_status segc_upsample2x_forward(segc_graph *graph, segc_value *x,
                                    segc_value **y) {
  *y = NULL;
  SEGC_TRY(segc_op_check_graph("upsample2x", graph));
  SEGC_TRY(segc_op_check_input("upsample2x", "x", x));
  SEGC_TRY(segc_op_check_on_graph("upsample2x", "x", graph, x));
  const segc_shape s = x->data.shape;
  const bool record = segc_graph_needs_tape(graph, &x, 1);
  SEGC_TRY(segc_graph_new_value(
      graph, segc_shape5(s.n, s.c, 2 * s.d, 2 * s.h, 2 * s.w), x->data.dtype,
      x->data.layout, record, y));
  segc_status status = kernels_by_device[x->data.device]->forward(
      graph->backend->scratch, &x->data, &(*y)->data);
  if (status == SEGC_OK && record) {
    upsample_saved *st;  // the backward reads no data: nothing is held
    status = segc_graph_alloc_saved(graph, sizeof *st, (void **)&st);
    if (status == SEGC_OK) {
      st->x = x;
      st->y = *y;
      status = segc_graph_record(graph, "upsample2x", upsample_backward, st, y,
                                 1, NULL, 0);
    }
  }
  if (status != SEGC_OK) {
    segc_value_release(graph, *y);
    *y = NULL;
  }
  return status;
}
