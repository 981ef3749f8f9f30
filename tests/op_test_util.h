// Shared by the op tests (test_groupnorm, test_elementwise, test_upsample):
// a graph over test arenas, input values filled from float arrays, and a
// test-only loss op, weighted_sum: loss = sum_i r[i] * y[i] over y's storage
// order, which records itself like any op (its backward stores r * dloss into
// y's gradient), so backward can be driven from any op's output.
#ifndef SEGC_TESTS_OP_TEST_UTIL_H
#define SEGC_TESTS_OP_TEST_UTIL_H

#include <stdlib.h>
#include <string.h>

#include "autograd/graph.h"
#include "util/op_reference.h"
#include "util/test_util.h"

typedef struct {
  segc_arena activations, scratch;
  segc_graph graph;
} op_test_env;

static inline segc_status op_env_init(op_test_env *env, size_t activation_mb,
                                      size_t scratch_mb) {
  SEGC_TRY(segc_arena_init(&env->activations, "test activations",
                           activation_mb << 20, SEGC_DEVICE_CPU));
  SEGC_TRY(segc_arena_init(&env->scratch, "test scratch", scratch_mb << 20,
                           SEGC_DEVICE_CPU));
  return segc_graph_init(&env->graph, &env->activations, &env->scratch,
                         1 << 20);
}

static inline void op_env_destroy(op_test_env *env) {
  segc_graph_destroy(&env->graph);
  segc_arena_destroy(&env->activations);
  segc_arena_destroy(&env->scratch);
}

// An activation holding `values` (storage order of `layout`) converted to
// `dtype`; it requires a gradient when the graph is training.
static inline segc_status op_input(segc_graph *graph, const float *values,
                                   segc_shape shape, segc_dtype dtype,
                                   segc_layout layout, segc_value **out) {
  SEGC_TRY(segc_graph_new_value(graph, shape, dtype, layout, true, out));
  segc_convert(values, SEGC_F32, (*out)->data.data, dtype,
               (size_t)segc_shape_numel(shape));
  return SEGC_OK;
}

// Copies a tensor's values (any dtype) into a float array, storage order.
static inline void op_to_f32(const segc_tensor *t, float *out) {
  segc_convert(t->data, t->dtype, out, SEGC_F32, (size_t)segc_tensor_numel(t));
}

// Rounds floats through bf16 in place (what a bf16 tensor can hold).
static inline void op_round_bf16(float *x, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    x[i] = segc_bf16_to_f32(segc_f32_to_bf16(x[i]));
}

typedef struct {
  segc_value *y, *loss;
  const float *r;
} weighted_sum_saved;

static inline segc_status weighted_sum_backward(segc_graph *graph,
                                                void *saved) {
  weighted_sum_saved *s = saved;
  const float dloss = *(const float *)s->loss->grad.data;
  segc_tensor gy;
  bool accumulate;
  SEGC_TRY(segc_value_grad_target(graph, s->y, &gy, &accumulate));
  for (int64_t i = 0; i < segc_tensor_numel(&gy); ++i) {
    float g = s->r[i] * dloss;
    if (accumulate) g += segc_load_f32(gy.data, gy.dtype, (size_t)i);
    segc_store_f32(gy.data, gy.dtype, (size_t)i, g);
  }
  return SEGC_OK;
}

// loss = sum_i r[i] * y[i] (r has y's element count, y's storage order).
static inline segc_status weighted_sum(segc_graph *graph, segc_value *y,
                                       const float *r, segc_value **loss) {
  SEGC_TRY(segc_graph_new_value(graph, segc_shape5(1, 1, 1, 1, 1), SEGC_F32,
                                SEGC_LAYOUT_NCDHW, y->requires_grad, loss));
  double sum = 0.0;
  for (int64_t i = 0; i < segc_tensor_numel(&y->data); ++i)
    sum += (double)r[i] * segc_load_f32(y->data.data, y->data.dtype, (size_t)i);
  *(float *)(*loss)->data.data = (float)sum;
  if (!segc_graph_needs_tape(graph, &y, 1)) return SEGC_OK;
  weighted_sum_saved *s;
  SEGC_TRY(segc_graph_alloc_saved(graph, sizeof *s, (void **)&s));
  s->y = y;
  s->loss = *loss;
  s->r = r;
  return segc_graph_record(graph, "weighted_sum", weighted_sum_backward, s,
                           loss, 1, NULL, 0);
}

static inline float *op_alloc_f32(int64_t n) {
  float *p = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
  if (!p) {
    fprintf(stderr, "test: out of memory\n");
    exit(1);
  }
  return p;
}

static inline double *op_alloc_f64(int64_t n) {
  double *p = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
  if (!p) {
    fprintf(stderr, "test: out of memory\n");
    exit(1);
  }
  return p;
}

#endif
