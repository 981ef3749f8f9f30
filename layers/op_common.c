#include "layers/op_common.h"

#include "core/backend.h"

segc_status segc_op_check_input(const char *op, const char *what,
                                const segc_value *x) {
  if (!x) return SEGC_FAIL(SEGC_ERR_INVALID, "%s: %s is NULL", op, what);
  const segc_tensor *t = &x->data;
  if (!t->data)
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "%s: %s has no data (released before this use?)", op,
                     what);
  if (t->dtype != SEGC_F32 && t->dtype != SEGC_BF16)
    return SEGC_FAIL(SEGC_ERR_UNSUPPORTED,
                     "%s: %s has dtype %s; f32 or bf16 expected", op, what,
                     segc_dtype_name(t->dtype));
  SEGC_TRY(segc_backend_require(op, t->device, t->dtype));
  if (t->layout != SEGC_LAYOUT_NCDHW && t->layout != SEGC_LAYOUT_NDHWC)
    return SEGC_FAIL(SEGC_ERR_INVALID, "%s: %s has an unknown layout (%d)", op,
                     what, (int)t->layout);
  const segc_shape s = t->shape;
  if (s.n <= 0 || s.c <= 0 || s.d <= 0 || s.h <= 0 || s.w <= 0) {
    char buf[96];
    return SEGC_FAIL(SEGC_ERR_INVALID, "%s: %s has an empty shape %s", op, what,
                     segc_shape_str(s, buf, sizeof buf));
  }
  return SEGC_OK;
}

static const char *layout_name(segc_layout layout) {
  return layout == SEGC_LAYOUT_NCDHW ? "NCDHW" : "NDHWC";
}

segc_status segc_op_check_same(const char *op, const segc_value *a,
                               const segc_value *b) {
  char sa[96], sb[96];
  if (!segc_shape_equal(a->data.shape, b->data.shape))
    return SEGC_FAIL(SEGC_ERR_INVALID, "%s: shapes differ: %s vs %s", op,
                     segc_shape_str(a->data.shape, sa, sizeof sa),
                     segc_shape_str(b->data.shape, sb, sizeof sb));
  if (a->data.dtype != b->data.dtype)
    return SEGC_FAIL(SEGC_ERR_INVALID, "%s: dtypes differ: %s vs %s", op,
                     segc_dtype_name(a->data.dtype),
                     segc_dtype_name(b->data.dtype));
  if (a->data.device != b->data.device)
    return SEGC_FAIL(SEGC_ERR_INVALID, "%s: devices differ: %s vs %s", op,
                     segc_device_name(a->data.device),
                     segc_device_name(b->data.device));
  if (a->data.layout != b->data.layout)
    return SEGC_FAIL(SEGC_ERR_INVALID, "%s: layouts differ: %s vs %s", op,
                     layout_name(a->data.layout), layout_name(b->data.layout));
  return SEGC_OK;
}

segc_status segc_op_check_graph(const char *op, const segc_graph *graph) {
  if (!graph || !graph->activations || !graph->backend)
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "%s: the graph has no activation or scratch arena", op);
  SEGC_TRY(segc_backend_require_device(op, graph->activations->device));
  return segc_backend_require_device(op, graph->backend->device);
}

void segc_op_scratch_init(segc_op_scratch *scratch, segc_arena *arena) {
  scratch->arena = arena;
  scratch->count = 0;
}

segc_status segc_op_scratch_take(segc_op_scratch *scratch, size_t bytes,
                                 void **out) {
  if (scratch->count == SEGC_OP_SCRATCH_MAX)
    return SEGC_FAIL(SEGC_ERR_INTERNAL, "op scratch: more than %d buffers",
                     SEGC_OP_SCRATCH_MAX);
  SEGC_TRY(segc_arena_alloc(scratch->arena, bytes, out));
  scratch->ptr[scratch->count] = *out;
  scratch->bytes[scratch->count] = bytes;
  scratch->count++;
  return SEGC_OK;
}

segc_status segc_op_scratch_tensor(segc_op_scratch *scratch, segc_shape shape,
                                   segc_dtype dtype, segc_layout layout,
                                   segc_tensor *out) {
  *out = segc_tensor_view(NULL, shape, dtype, layout, scratch->arena->device);
  return segc_op_scratch_take(scratch, segc_tensor_bytes(out), &out->data);
}

void segc_op_scratch_release(segc_op_scratch *scratch) {
  while (scratch->count > 0) {
    scratch->count--;
    segc_arena_free(scratch->arena, scratch->ptr[scratch->count],
                    scratch->bytes[scratch->count]);
  }
}

segc_status segc_op_check_on_graph(const char *op, const char *what,
                                   const segc_graph *graph,
                                   const segc_value *x) {
  if (x->data.device == graph->backend->device) return SEGC_OK;
  return SEGC_FAIL(SEGC_ERR_INVALID, "%s: %s is on %s, the graph on %s", op,
                   what, segc_device_name(x->data.device),
                   segc_device_name(graph->backend->device));
}
