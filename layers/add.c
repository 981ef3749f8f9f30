// Residual add, forward and backward: checks and the tape entry. The
// arithmetic is a kernel chosen by the inputs' device (add_kernels.h:
// add_cpu.c, add_cuda.cu), elementwise over the storage order, so any
// layout works.
#include <stdbool.h>

#include "core/backend.h"
#include "layers/add_kernels.h"
#include "layers/elementwise.h"
#include "layers/op_common.h"

#ifdef SEGC_HAVE_CUDA
static const segc_add_kernels *const kernels_by_device[SEGC_DEVICE_COUNT] =
    SEGC_BACKEND_KERNELS(&segc_add_cpu_kernels, &segc_add_cuda_kernels);
#else
static const segc_add_kernels *const kernels_by_device[SEGC_DEVICE_COUNT] =
    SEGC_BACKEND_KERNELS(&segc_add_cpu_kernels, NULL);
#endif

typedef struct {
  segc_value *a, *b, *y;
} add_saved;

// Both inputs receive dy unchanged (stored, or added when a gradient is
// already there; a value added to itself receives it twice).
static segc_status add_backward(segc_graph *graph, void *saved) {
  const add_saved *st = saved;
  if (st->a->requires_grad)
    SEGC_TRY(segc_value_grad_add(graph, st->a, &st->y->grad));
  if (st->b->requires_grad)
    SEGC_TRY(segc_value_grad_add(graph, st->b, &st->y->grad));
  return SEGC_OK;
}

segc_status segc_add_forward(segc_graph *graph, segc_value *a, segc_value *b,
                             segc_value **y) {
  *y = NULL;
  SEGC_TRY(segc_op_check_graph("add", graph));
  SEGC_TRY(segc_op_check_input("add", "a", a));
  SEGC_TRY(segc_op_check_input("add", "b", b));
  SEGC_TRY(segc_op_check_same("add", a, b));
  SEGC_TRY(segc_op_check_on_graph("add", "a", graph, a));
  segc_value *inputs[2] = {a, b};
  const bool record = segc_graph_needs_tape(graph, inputs, 2);
  SEGC_TRY(segc_graph_new_value(graph, a->data.shape, a->data.dtype,
                                a->data.layout, record, y));
  segc_status status =
      kernels_by_device[a->data.device]->add(&a->data, &b->data, &(*y)->data);
  if (status == SEGC_OK && !record) return SEGC_OK;
  add_saved *st;  // the backward reads no data: nothing is held
  if (status == SEGC_OK)
    status = segc_graph_alloc_saved(graph, sizeof *st, (void **)&st);
  if (status == SEGC_OK) {
    st->a = a;
    st->b = b;
    st->y = *y;
    status = segc_graph_record(graph, "add", add_backward, st, y, 1, NULL, 0);
  }
  if (status != SEGC_OK) {
    segc_value_release(graph, *y);
    *y = NULL;
  }
  return status;
}
